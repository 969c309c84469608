"""cvcore.detection.yolo.load_model: ultralytics checkpoints load and predict without trust; a
checkpoint
or model config that would run code is refused before anything runs, by both scripts."""

import copy
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from cvcore.detection import yolo
from cvcore.errors import InputError
from tests.conftest import REPO

REFUSAL = ("refusing to unpickle posix.system (the file could run code); "
           "pass --trust-weights if you trust it")


class RunsCode:
    """Unpickling this runs ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A YOLOv8n built offline from its yaml, saved the two ways ultralytics saves .pt files
    (``YOLO.save`` and the trainer's checkpoint dict, EMA in half precision, NumPy metrics,
    its config namespace), one synthetic image, and a checkpoint that runs code."""
    from ultralytics import YOLO, __version__
    from ultralytics.cfg import get_cfg
    from ultralytics.utils import DEFAULT_CFG

    from cvcore.synth.coco import make_coco

    tmp = tmp_path_factory.mktemp("yolo")
    model = YOLO("yolov8n.yaml")
    model.save(str(tmp / "model_save.pt"))
    net = model.model
    net.args = get_cfg(DEFAULT_CFG)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    torch.save({"epoch": 3, "best_fitness": np.float64(0.25), "model": None,
                "ema": copy.deepcopy(net).half(), "updates": 12,
                "optimizer": optimizer.state_dict(), "train_args": vars(net.args),
                "train_metrics": {"fitness": np.float64(0.25)}, "date": "2026-01-01",
                "version": __version__}, tmp / "trainer.pt")
    coco = make_coco(tmp / "coco", seed=7, num_images=1)
    torch.save({"model": RunsCode(tmp / "MARKER")}, tmp / "evil.pt")
    return tmp, coco / "images" / "val2017" / "000000000001.jpg"


@pytest.mark.parametrize("name", ["model_save.pt", "trainer.pt"])
def test_benign_checkpoints_load_and_predict_without_trust(files, name):
    tmp, image = files
    safe = yolo.load_model(str(tmp / name))
    full = yolo.load_model(str(tmp / name), trust=True)
    full_state = full.model.state_dict()
    assert all(torch.equal(v, full_state[k]) for k, v in safe.model.state_dict().items())
    boxes = [m.predict(str(image), imgsz=64, conf=0.0, verbose=False)[0].boxes.data
             for m in (safe, full)]
    assert len(boxes[0]) > 0 and torch.equal(boxes[0], boxes[1])


def test_code_running_checkpoint_is_refused_before_unpickling(files):
    tmp, _ = files
    with pytest.raises(InputError) as err:
        yolo.load_model(str(tmp / "evil.pt"))
    assert str(err.value) == f"{tmp / 'evil.pt'}: {REFUSAL}"
    assert not (tmp / "MARKER").exists()


def test_weights_only_unpickler_refuses_it_even_without_the_scan(files, monkeypatch):
    tmp, _ = files
    monkeypatch.setattr(yolo, "refuse_unsafe_globals", lambda path: None)
    with pytest.raises(InputError, match="refusing to unpickle posix.system"):
        yolo.load_model(str(tmp / "evil.pt"))
    assert not (tmp / "MARKER").exists()


def test_trust_is_ultralytics_full_unpickling(tmp_path):
    torch.save({"model": RunsCode(tmp_path / "MARKER")}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="cannot load the model"):
        yolo.load_model(str(tmp_path / "evil.pt"), trust=True)
    assert (tmp_path / "MARKER").exists()  # what --trust-weights means: the file's code ran


def test_model_yaml_needs_no_trust_and_is_never_evaluated(tmp_path):
    from ultralytics.utils import ROOT

    assert yolo.load_model("yolov8n.yaml").model.yaml["nc"] == 80
    config = (ROOT / "cfg" / "models" / "v8" / "yolov8.yaml").read_text()
    path = tmp_path / "evil.yaml"
    path.write_text(config + f"\nactivation: __import__('os').system('touch {tmp_path}/MARKER')\n")
    with pytest.raises(InputError, match="blocked during restricted model load"):
        yolo.load_model(str(path))
    assert not (tmp_path / "MARKER").exists()


def test_other_formats_need_trust(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(InputError, match="pass --trust-weights if you trust it"):
        yolo.load_model(str(tmp_path / "model.onnx"))


@pytest.mark.parametrize("name, allowed", [
    ("torch.nn.modules.conv.Conv2d", True),
    ("ultralytics.nn.modules.head.Detect", True),
    ("ultralytics.nn.tasks.DetectionModel", True),
    ("ultralytics.utils.IterableSimpleNamespace", True),
    ("ultralytics.utils.loss.v8DetectionLoss", True),
    ("posix.system", False),
    ("builtins.eval", False),
    ("torch.nn.modules.module.register_module_forward_hook", False),  # a function
    ("ultralytics.nn.tasks.torch_safe_load", False),
    ("ultralytics.utils.loss.torch", False),  # a module imported there
    ("ultralytics.nn.no_such_module.Thing", False),
])
def test_allowlist(name, allowed):
    assert yolo.allowed_global(name) is allowed


@pytest.mark.parametrize("script", ["detect_eval.py", "track.py"])
def test_scripts_refuse_code_running_weights(files, tmp_path, script):
    tmp, image = files
    torch.save({"model": RunsCode(tmp_path / "MARKER")}, tmp_path / "evil.pt")
    if script == "detect_eval.py":
        coco = image.parents[2]
        inputs = ["--gt", coco / "annotations" / "instances_val2017.json",
                  "--images", image.parent]
    else:
        from cvcore.synth.mot import make_mot

        mot = make_mot(tmp_path / "mot", seed=1, seqs=("MOT17-02-SDP",), frames=2, size=(64, 48))
        inputs = ["--mot-root", mot / "MOT17"]
    out = subprocess.run([sys.executable, script, *map(str, inputs), "--weights",
                          str(tmp_path / "evil.pt"), "--out", str(tmp_path / "out")],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr == f"error: {tmp_path / 'evil.pt'}: {REFUSAL}\n"
    assert not (tmp_path / "MARKER").exists()
    usage = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True,
                           text=True).stdout
    assert "--trust-weights" in usage


def test_coco_records_of_a_segmentation_model(files):
    """yolov8n-seg (offline, random weights): each record's RLE decodes to ultralytics' own mask
    at the original image size, pixel for pixel; a detection model's records have no masks."""
    from pycocotools import mask as mask_utils
    from ultralytics import YOLO

    tmp, image = files
    YOLO("yolov8n-seg.yaml").save(str(tmp / "seg.pt"))
    model = yolo.load_model(str(tmp / "seg.pt"))
    assert yolo.is_segmentation_model(model)
    assert not yolo.is_segmentation_model(yolo.load_model(str(tmp / "model_save.pt")))
    result = model.predict(str(image), imgsz=64, conf=0.0, max_det=20, verbose=False,
                           **yolo.SEGMENT_PREDICT_ARGS)[0]
    class_map = np.arange(1, 81) * 2
    records = yolo.coco_records(result, 7, class_map, masks=True)
    pixels = result.masks.data.cpu().numpy()
    assert len(records) == len(pixels) > 0 and pixels.shape[1:] == result.orig_shape
    for record, mask, cls in zip(records, pixels, result.boxes.cls.tolist(), strict=True):
        assert record["image_id"] == 7 and record["category_id"] == 2 * (int(cls) + 1)
        assert record["segmentation"]["size"] == list(result.orig_shape)
        assert np.array_equal(mask_utils.decode(record["segmentation"]), mask)
    assert "segmentation" not in yolo.coco_records(result, 7, class_map)[0]
