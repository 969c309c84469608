"""Bad input to train_segment.py: one line ``error: <file>: <problem>``, exit code 2, no
traceback, no run directory. Each case mutates a copy of a small synthetic CamVid (Kaggle
layout) and returns the extra arguments and the name the error line must contain. The other
malformed class_dict.csv rows, JPEG and unscaled 16-bit labels are unit cases in
tests/test_masks.py and tests/test_camvid.py (same readers, same path to the CLI)."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from cvcore.synth.camvid import make_camvid
from tests.conftest import REPO


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_camvid(tmp_path_factory.mktemp("camvid"), seed=3, size=(40, 32), counts=(2, 1, 1))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return [], path.name


def not_an_image(path):
    path.write_text("this is not an image\n")
    return [], path.name


def label_of_another_size(root):
    path = root / "train_labels" / "synth_train_0001_L.png"
    Image.open(path).resize((20, 16), Image.NEAREST).save(path)
    return [], path.name


def unknown_colour_in_test_label(root):
    """Only the test split is bad: it must fail before training, not after it."""
    path = root / "test_labels" / "synth_test_0000_L.png"
    label = np.array(Image.open(path))
    label[0, 0] = (1, 2, 3)
    Image.fromarray(label).save(path)
    return ["--unknown", "error"], path.name


def class_dict(text):
    def mutate(root):
        (root / "class_dict.csv").write_text(text)
        return [], "class_dict.csv"
    return mutate


def class_dict_is_a_folder(root):
    (root / "classes").mkdir()
    return ["--class-dict", str(root / "classes")], str(root / "classes")


def missing_split_folder(root):
    shutil.rmtree(root / "val")
    return [], str(root / "val")


def image_without_label(root):
    (root / "train_labels" / "synth_train_0001_L.png").unlink()
    return [], "synth_train_0001_L.png"


def text_file_among_images(root):
    (root / "test" / "notes.txt").write_text("a note\n")
    return [], "notes.txt"


def args(*extra, name):
    return lambda root: (list(extra), name)


def checkpoint_of_another_model(root):
    path = root.parent / "deeplab.pt"
    torch.save({"model": {}, "epoch": 1, "model_name": "deeplabv3"}, path)
    return ["--test-only", "--weights", str(path)], "deeplab.pt"


CASES = [
    pytest.param(lambda r: truncate(r / "train" / "synth_train_0000.png"), id="truncated-image"),
    pytest.param(lambda r: not_an_image(r / "val" / "synth_val_0000.png"), id="image-not-png"),
    pytest.param(lambda r: truncate(r / "test_labels" / "synth_test_0000_L.png"),
                 id="truncated-label"),
    pytest.param(label_of_another_size, id="label-size-differs"),
    pytest.param(unknown_colour_in_test_label, id="unknown-colour-test-label"),
    pytest.param(class_dict(""), id="class-dict-empty"),
    pytest.param(class_dict("name,r,g,b\nSky,1,2,3\nRoad,1,2,3\n"), id="class-dict-dup-colour"),
    pytest.param(class_dict_is_a_folder, id="class-dict-folder"),
    pytest.param(missing_split_folder, id="missing-split"),
    pytest.param(image_without_label, id="image-without-label"),
    pytest.param(text_file_among_images, id="non-image-file"),
    pytest.param(args("--img-size", "33", "17", name="--img-size"), id="segnet-too-small"),
    pytest.param(args("--model", "deeplabv3", "--img-size", "0", "0", name="--img-size"),
                 id="deeplab-size-zero"),
    pytest.param(args("--test-only", "--weights", "nowhere.pt", name="nowhere.pt"),
                 id="weights-missing"),
    pytest.param(checkpoint_of_another_model, id="weights-other-model"),
]


@pytest.mark.parametrize("mutate", CASES)
def test_bad_input(pristine, tmp_path, mutate):
    root = tmp_path / "camvid"
    shutil.copytree(pristine, root)
    extra, name = mutate(root)
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "train_segment.py", "--data", str(root), "--img-size", "40", "32",
         "--epochs", "1", "--device", "cpu", "--out", str(out), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CVCORE_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], done.stderr
    assert not out.exists()
