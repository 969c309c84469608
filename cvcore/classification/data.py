"""Folder-per-class image data (the Russian Wildlife layout): classes, split, dataset, transforms.

``find_classes(root)`` accepts ``root/<class>/*.jpg`` and roots whose class folders sit lower in
single-folder chains (the Kaggle archive unpacks as ``Cropped_final/Cropped_final/<class>/``).
Folder names may use spaces or underscores. The report's ten classes map to 0..9 in the report's
order; any other folder set maps alphabetically. ``stratified_split`` keeps each class's share in
both parts and is written to the run directory so a run can be reproduced. Images that PIL cannot
open are listed once and left out.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..atomic import write_json
from ..errors import InputError
from ..training.images import IMAGENET_MEAN, IMAGENET_STD, to_rgb

REPORT_CLASSES = ("amur_leopard", "amur_tiger", "birds", "black_bear", "brown_bear", "dog",
                  "roe_deer", "sika_deer", "wild_boar", "people")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def canonical_name(folder: str) -> str:
    return folder.strip().lower().replace(" ", "_")


def _skipped(path: Path) -> bool:
    # Hidden entries, and the __MACOSX/ and ._name resource-fork debris of archives made on macOS.
    return path.name.startswith((".", "__MACOSX"))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not _skipped(p) and p.is_file())


def find_classes(root: str | os.PathLike) -> tuple[Path, list[str], list[Path]]:
    """(class root, class names in label order, their folders); paths absolute, so a split
    saved in the run directory still works from another working directory."""
    root = Path(os.path.abspath(root))
    if not root.exists():
        raise InputError("dataset folder not found", root)
    if not root.is_dir():
        raise InputError("--data must be a folder of class folders, not a file", root)
    for _ in range(3):  # descend through single-folder wrappers
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not _skipped(p))
        if len(subdirs) == 1 and not _images_in(subdirs[0]):
            root = subdirs[0]
            continue
        break
    folders = [p for p in subdirs if _images_in(p)]
    if len(folders) < 2:
        raise InputError("expected one folder of images per class (at least two classes)", root)
    by_name = {canonical_name(p.name): p for p in folders}
    if len(by_name) != len(folders):
        raise InputError("two class folders differ only by spaces/underscores or case", root)
    names = list(REPORT_CLASSES) if set(by_name) == set(REPORT_CLASSES) else sorted(by_name)
    return root, names, [by_name[n] for n in names]


def readable(path: Path) -> bool:
    """Whether PIL can decode ``path``: a truncated or corrupt file fails here, not mid-epoch.
    JPEGs are decoded at 1/8 scale (``draft``), which still reads every compressed byte. Any
    failure counts as unreadable: once ultralytics is imported, its patched ``Image.open``
    raises other exceptions (for example ModuleNotFoundError for its optional HEIF plugin) on
    files PIL cannot identify."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (1, 1))
            to_rgb(image)
        return True
    except Exception:
        return False


@dataclass
class Split:
    """Class names (label order), (path, label) pairs per part, and the files left out."""

    classes: list[str]
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    unreadable: list[str]

    def save(self, path: str | os.PathLike) -> None:
        write_json(path, {"classes": self.classes, "train": self.train, "val": self.val,
                          "unreadable": self.unreadable})

    @classmethod
    def load(cls, path: str | os.PathLike) -> Split:
        """A saved split, checked for its structure (one-line errors naming ``path``)."""
        try:
            data = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"not valid JSON ({err})", path) from None
        if not (isinstance(data, dict) and {"classes", "train", "val"} <= set(data)
                and isinstance(data["classes"], list)
                and all(isinstance(c, str) for c in data["classes"])):
            raise InputError("not a split file (expected classes, train and val lists)", path)
        parts = []
        for part in ("train", "val"):
            samples = data[part]
            if not isinstance(samples, list) or not all(
                    isinstance(s, list) and len(s) == 2 and isinstance(s[0], str)
                    and type(s[1]) is int and 0 <= s[1] < len(data["classes"])
                    for s in samples):
                raise InputError(f"{part}: expected [image path, class index] pairs with "
                                 f"indices below {len(data['classes'])}", path)
            parts.append([tuple(s) for s in samples])
        return cls(data["classes"], *parts, list(data.get("unreadable", [])))

    def check_against(self, root: str | os.PathLike, path: str | os.PathLike) -> None:
        """Refuse a split (loaded from ``path``) that does not describe the dataset at ``root``:
        other class names, or an image that is missing or not in its class's folder."""
        _, names, folders = find_classes(root)
        if self.classes != names:
            raise InputError(f"made for another dataset: classes {self.classes} differ from "
                             f"{root}'s {names}", path)
        for file, label in self.train + self.val:
            if Path(file).parent != folders[label] or not Path(file).is_file():
                raise InputError(f"lists {file}, which is not an image of class "
                                 f"{names[label]!r} in {root}", path)


def stratified_split(root: str | os.PathLike, val_frac: float = 0.2, seed: int = 0) -> Split:
    """Per class: shuffle (seeded) and hold out ``n * val_frac`` images, rounded half up (at
    least one when the class has two or more). Images PIL cannot decode go to
    ``Split.unreadable`` instead."""
    if not 0 < val_frac < 1:
        raise InputError(f"--val-frac must be in (0, 1), got {val_frac}")
    _, names, folders = find_classes(root)
    rng = np.random.default_rng(seed)
    train, val, unreadable = [], [], []
    for label, folder in enumerate(folders):
        files = []
        for path in _images_in(folder):
            (files if readable(path) else unreadable).append(str(path))
        order = rng.permutation(len(files))
        n_val = max(1, int(len(files) * val_frac + 0.5)) if len(files) > 1 else 0
        val += [(files[i], label) for i in sorted(order[:n_val])]
        train += [(files[i], label) for i in sorted(order[n_val:])]
    return Split(names, train, val, unreadable)


class FolderDataset:
    """``(image tensor, label)`` pairs; PIL loads RGB, ``transform`` converts."""

    def __init__(self, samples: list[tuple[str, int]], transform=None):
        self.samples = samples
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        try:
            with Image.open(path) as file:
                image = to_rgb(file)
        except Exception as err:  # any failure, as in readable()
            raise InputError(f"cannot read image ({type(err).__name__}: {err})", path) from None
        return (self.transform(image) if self.transform else image), label


def build_transforms(img_size: int, train: bool, augment: bool):
    """Eval: Resize + ToTensor + ImageNet Normalize; train adds a flip; ``augment`` the report's
    RandomResizedCrop(0.8-1), flip, RandomRotation(15), ColorJitter(0.2, 0.2, 0.2)."""
    from torchvision import transforms as T

    tail = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if not train:
        return T.Compose([T.Resize((img_size, img_size)), *tail])
    if augment:
        return T.Compose([T.RandomResizedCrop(img_size, scale=(0.8, 1.0)),
                          T.RandomHorizontalFlip(), T.RandomRotation(15),
                          T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2), *tail])
    return T.Compose([T.Resize((img_size, img_size)), T.RandomHorizontalFlip(), *tail])
