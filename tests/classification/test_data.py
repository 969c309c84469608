"""cvcore.classification.data: image decoding (16-bit PNGs), saved splits checked against the
data."""

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from cvcore.classification.data import (
    FolderDataset,
    Split,
    build_transforms,
    find_classes,
    readable,
    stratified_split,
)
from cvcore.errors import InputError
from cvcore.training.images import IMAGENET_MEAN, IMAGENET_STD


def test_16_bit_pngs_keep_their_top_8_bits(tmp_path):
    """PIL's convert("RGB") clips 16-bit greyscale (mode I;16) at 255: a white image. We keep
    value >> 8; 16-bit RGB PNGs (written by OpenCV, BGR order) arrive as their high bytes."""
    grey = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1040)  # 0 .. 65520
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    with Image.open(tmp_path / "grey16.png") as image:
        assert image.mode == "I;16"  # a real 16-bit PNG
        clipped = np.asarray(image.convert("RGB"))
    assert (clipped == 255).mean() > 0.95  # what PIL alone makes of it
    colour = np.stack([grey, 65535 - grey, grey // 2], axis=-1)  # R, G, B
    cv2.imwrite(str(tmp_path / "rgb16.png"), colour[..., ::-1].copy())
    assert cv2.imread(str(tmp_path / "rgb16.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    samples = [(str(tmp_path / "grey16.png"), 0), (str(tmp_path / "rgb16.png"), 1)]
    assert all(readable(tmp_path / name) for name in ("grey16.png", "rgb16.png"))
    expected = [np.repeat((grey >> 8)[..., None], 3, axis=-1), colour >> 8]
    for (image, _), want in zip(FolderDataset(samples), expected, strict=True):
        assert image.mode == "RGB" and (np.asarray(image) == want).all()
    # the tensor the model sees: ToTensor (/255) and ImageNet normalisation of those bytes
    x, label = FolderDataset(samples, build_transforms(8, False, False))[0]
    want = torch.from_numpy((expected[0] / 255 - np.array(IMAGENET_MEAN)) / np.array(
        IMAGENET_STD)).permute(2, 0, 1).float()
    assert label == 0 and x.shape == (3, 8, 8)
    torch.testing.assert_close(x, want, atol=1e-6, rtol=0)


def test_float_images_are_listed_as_unreadable(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 8), (i * 90, 0, 0)).save(tmp_path / name / f"{i}.png")
    Image.fromarray(np.ones((8, 8), np.float32)).save(tmp_path / "a" / "float.tif")
    split = stratified_split(tmp_path, 0.5)
    assert split.unreadable == [str(tmp_path / "a" / "float.tif")]
    assert len(split.train) == len(split.val) == 2


def two_classes(root, per_class=2):
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (8, 8), (i * 60, 10, 10)).save(root / name / f"{i}.png")
    return root


def test_saved_split_is_checked(tmp_path):
    data = two_classes(tmp_path / "data")
    split = stratified_split(data, 0.5)
    path = tmp_path / "split.json"
    split.save(path)
    loaded = Split.load(path)
    assert loaded == split
    loaded.check_against(data, path)
    for text, message in [("{", "not valid JSON"), ("[]", "not a split file"),
                          (json.dumps({"classes": ["cat"], "train": [["x.png", 3]], "val": []}),
                           "train: expected .image path, class index. pairs")]:
        path.write_text(text)
        with pytest.raises(InputError, match=message):
            Split.load(path)
    other = two_classes(tmp_path / "other")
    (other / "cat").rename(other / "cow")
    with pytest.raises(InputError, match="made for another dataset"):
        stratified_split(other, 0.5).check_against(data, path)
    moved = Split(split.classes, [(split.train[0][0], 1)], split.val, [])  # a cat called dog
    with pytest.raises(InputError, match="not an image of class 'dog'"):
        moved.check_against(data, path)
    (data / "cat" / "0.png").unlink()
    with pytest.raises(InputError, match="0.png, which is not an image"):
        split.check_against(data, path)


def test_data_that_is_a_file(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="must be a folder of class folders, not a file"):
        find_classes(tmp_path / "x.jpg")
    with pytest.raises(InputError, match="dataset folder not found"):
        find_classes(tmp_path / "missing")
