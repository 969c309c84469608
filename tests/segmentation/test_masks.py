"""Colour masks: class_dict parsing (real irregular file), Numba lookup vs a plain reference,
the lookup kernel in forked DataLoader workers."""

import os
import subprocess
import sys

import numpy as np
import pytest

from cvcore.errors import InputError
from cvcore.segmentation.masks import UNKNOWN, class_to_rgb, read_class_dict, rgb_to_class


def plain_rgb_to_class(mask, palette):
    lookup = {tuple(int(v) for v in c): k for k, c in enumerate(palette)}
    out = np.full(mask.shape[:2], UNKNOWN, np.uint8)
    for y in range(mask.shape[0]):
        for x in range(mask.shape[1]):
            out[y, x] = lookup.get(tuple(int(v) for v in mask[y, x]), UNKNOWN)
    return out


def test_lookup_equals_plain_reference_with_unknown_colours():
    rng = np.random.default_rng(0)
    for _ in range(20):
        palette = np.unique(rng.integers(0, 256, (40, 3)), axis=0)[:32].astype(np.uint8)
        h, w = rng.integers(1, 60, 2)
        mask = palette[rng.integers(0, len(palette), (h, w))]
        unknown = rng.random((h, w)) < 0.05
        mask[unknown] = rng.integers(0, 256, (unknown.sum(), 3))
        got, n_unknown = rgb_to_class(mask, palette)
        ref = plain_rgb_to_class(mask, palette)
        assert (got == ref).all()
        assert n_unknown == int((ref == UNKNOWN).sum())


def test_class_to_rgb_round_trip():
    palette = np.array([[0, 0, 0], [128, 64, 128], [10, 20, 30]], np.uint8)
    index = np.array([[0, 1], [2, UNKNOWN]], np.uint8)
    rgb = class_to_rgb(index, palette, unknown_colour=(255, 0, 255))
    assert rgb[1, 1].tolist() == [255, 0, 255]
    back, n_unknown = rgb_to_class(rgb, palette)
    assert back[:1].tolist() == [[0, 1]] and back[1, 0] == 2 and n_unknown == 1


def test_real_kaggle_class_dict_with_irregular_spaces(shared_data):
    path = shared_data / "camvid_segnet" / "class_dict_32class.csv"
    assert ", " in path.read_text()  # the real file has "0,128, 192"-style rows
    names, palette = read_class_dict(path)
    assert len(names) == 32 and names[2] == "Bicyclist"
    assert palette[2].tolist() == [0, 128, 192] and palette[names.index("Road")].tolist() == [
        128, 64, 128]


def test_tab_separated(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("name\tr\tg\tb\nSky\t128\t128\t128\nRoad\t128\t64\t128\n")
    names, palette = read_class_dict(path)
    assert names == ["Sky", "Road"] and palette.tolist() == [[128, 128, 128], [128, 64, 128]]


@pytest.mark.parametrize("text, message", [
    ("label,r,g,b\nSky,1,2,3\n", "header must be name,r,g,b"),
    ("name,r,g,b\nSky,1,2,3\nRoad,1,2,3\n", "line 3: colour (1, 2, 3) already used by 'Sky'"),
    ("name,r,g,b\nSky,1,2\n", "line 2: expected 4 fields"),
    ("name,r,g,b\nSky,1,2,x\n", "line 2: colour values must be integers"),
    ("name,r,g,b\nSky,1,2,300\n", "in 0..255"),
    ("name,r,g,b\nSky,1,2,3\nSky,4,5,6\n", "duplicate class name 'Sky'"),
    ("name,r,g,b\n", "has a header but no classes"),
    ("", "is empty"),
    ("name,r,g,b\n,1,2,3\n", "line 2: empty class name"),
    ("name,r,g,b\nSky,1.5,2,3\n", "line 2: colour values must be integers"),
    ("name,r,g,b\nSky,-1,2,3\n", "in 0..255"),
    ("name,r,g,b\nSky\xff,1,2,3\n", "not UTF-8 text"),
])
def test_bad_class_dict(tmp_path, text, message):
    path = tmp_path / "class_dict.csv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError) as err:
        read_class_dict(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


FORK_SCRIPT = """
import numpy as np
import torch
from cvcore.segmentation.masks import rgb_to_class

palette = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
mask = np.zeros((64, 64, 3), np.uint8)
mask[:10] = 255

class Labels(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return int(rgb_to_class(mask, palette)[0].sum())

rgb_to_class(mask, palette)  # the parallel kernel runs in the parent first
print(sum(torch.utils.data.DataLoader(Labels(), batch_size=2, num_workers=2)).tolist())
"""


def test_kernel_in_forked_dataloader_workers():
    """Issue #11: the lookup kernel in the parent, then in forked DataLoader workers. Under Numba's
    GNU OpenMP layer (NUMBA_THREADING_LAYER=omp, Numba's pick on Linux before cvcore chose
    forksafe) this script dies with "fork() called from a process already using GNU OpenMP"."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["[1280,", "1280]"]  # 2 batches x 2 images x 640 class-1 pixels
