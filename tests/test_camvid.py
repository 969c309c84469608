"""CamVid readers: both layouts, pairing by name, decoded-mask cache, real shared data."""

import numpy as np
import pytest
from PIL import Image

from cvcore.camvid import IGNORE_INDEX, CamVidDataset, detect_layout
from cvcore.errors import InputError
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
    assert len(list((cache / "masks").glob("*.npy"))) >= 1
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
    Image.fromarray(label).save(path)
    assert (CamVidDataset(detect_layout(root), "test", (32, 24)).label(0)[0, :5]
            == IGNORE_INDEX).all()
    with pytest.raises(InputError, match="5 pixels have colours not in class_dict.csv"):
        CamVidDataset(detect_layout(root), "test", (32, 24), unknown="error").label(0)


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
