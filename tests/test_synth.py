"""The synthetic sets load with the readers a user would use and have the promised layout."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cvcore.synth.camvid import PALETTE, make_camvid
from cvcore.synth.classify import CLASSES, make_classify
from cvcore.synth.coco import make_coco
from cvcore.synth.keypoints import make_coco_keypoints
from cvcore.synth.mot import make_mot
from tests.conftest import REPO


def test_classify_layout(tmp_path):
    out = make_classify(tmp_path / "wild", seed=1, per_class=6, size=64)
    folders = sorted(p.name for p in out.iterdir())
    assert folders == sorted(CLASSES)
    for name in CLASSES:
        files = sorted((out / name).glob("*.jpg"))
        assert len(files) == 6
        image = Image.open(files[0])
        assert image.mode == "RGB" and image.size == (64, 64)
        assert np.asarray(image).std() > 10  # not a flat image


def test_classify_classes_differ(tmp_path):
    """Mean colour alone separates black from brown bears (they share the body plan)."""
    out = make_classify(tmp_path, seed=0, per_class=20, size=48)
    mean = {c: np.mean([np.asarray(Image.open(p), float).mean() for p in (out / c).iterdir()])
            for c in ("black_bear", "brown_bear")}
    assert mean["brown_bear"] > mean["black_bear"] + 3


def test_camvid_layout(tmp_path):
    out = make_camvid(tmp_path, seed=2, size=(96, 72), counts=(3, 2, 2))
    with open(out / "class_dict.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "r", "g", "b"] and len(rows) == 33
    palette = {tuple(int(v) for v in r[1:]) for r in rows[1:]}
    assert len(palette) == 32 and ("Road", "128", "64", "128") in {tuple(r) for r in rows}
    present = set()
    for split, count in (("train", 3), ("val", 2), ("test", 2)):
        images = sorted((out / split).glob("*.png"))
        assert len(images) == count
        for image_path in images:
            label_path = out / f"{split}_labels" / f"{image_path.stem}_L.png"
            label = np.asarray(Image.open(label_path).convert("RGB"))
            assert label.shape == (72, 96, 3)
            assert Image.open(image_path).size == (96, 72)
            colours = {tuple(c) for c in label.reshape(-1, 3)}
            assert colours <= palette
            present |= colours
    assert len(present) >= 6


def test_camvid_palette_matches_real_class_dict(shared_data):
    """Our 32 colours are the real Kaggle class_dict's (which has irregular spaces)."""
    with open(shared_data / "camvid_segnet" / "class_dict_32class.csv", newline="") as f:
        rows = [[v.strip() for v in r] for r in csv.reader(f)][1:]
    real = {r[0]: tuple(int(v) for v in r[1:]) for r in rows}
    from cvcore.synth.camvid import CAMVID_CLASSES
    assert dict(CAMVID_CLASSES) == real
    assert len(PALETTE) == 32


def test_coco_loads_in_pycocotools(tmp_path):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = make_coco(tmp_path, seed=3, num_images=30)
    gt_path = out / "annotations" / "instances_val2017.json"
    data = json.loads(gt_path.read_text())
    assert len(data["categories"]) == 80 and max(c["id"] for c in data["categories"]) == 90
    assert len(data["images"]) == 30
    for image in data["images"]:
        assert Image.open(out / "images" / "val2017" / image["file_name"]).size == (
            image["width"], image["height"])
    boxes = np.array([a["bbox"] for a in data["annotations"]])
    assert (boxes[:, 2:] > 0).all()
    areas = np.array([a["area"] for a in data["annotations"]])
    assert (areas < 32 ** 2).any() and (areas > 96 ** 2).any()
    polygons = [a["segmentation"] for a in data["annotations"] if not a["iscrowd"]]
    assert all(len(p) == 1 and len(p[0]) >= 6 for p in polygons)
    stats = {}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        for name, iou_type in (("predictions.json", "bbox"), ("predictions_segm.json", "segm")):
            dt = gt.loadRes(str(out / name))
            ev = COCOeval(gt, dt, iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            stats[iou_type] = ev.stats
    assert len(dt.anns) > 2 * len(gt.anns)
    # area is the mask's pixel count, crowd regions are uncompressed RLE
    for ann in data["annotations"]:
        assert ann["area"] == mask_utils.area(gt.annToRLE(ann))
        assert isinstance(ann["segmentation"], dict) == bool(ann["iscrowd"])
    for iou_type in ("bbox", "segm"):
        assert 0.05 < stats[iou_type][0] < 0.95
        assert 0.05 < stats[iou_type][1] < 0.95
    # masks inscribed in the boxes: mask AP a little below box AP
    assert 0.8 * stats["bbox"][0] < stats["segm"][0] < stats["bbox"][0]
    boxes_only = json.loads((out / "predictions.json").read_text())
    with_masks = json.loads((out / "predictions_segm.json").read_text())
    assert [{k: v for k, v in r.items() if k != "segmentation"} for r in with_masks] == boxes_only
    image_size = {i["id"]: [i["height"], i["width"]] for i in data["images"]}
    assert all(r["segmentation"]["size"] == image_size[r["image_id"]] for r in with_masks)


def test_coco_is_deterministic_and_scales(tmp_path):
    a = make_coco(tmp_path / "a", seed=5, num_images=200, write_images=False)
    b = make_coco(tmp_path / "b", seed=5, num_images=200, write_images=False)
    for rel in ("annotations/instances_val2017.json", "predictions.json",
                "predictions_segm.json"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    data = json.loads((a / "annotations/instances_val2017.json").read_text())
    dets = json.loads((a / "predictions.json").read_text())
    # val2017-like density: ~7.3 objects and ~26 detections per image.
    assert 5 < len(data["annotations"]) / 200 < 10
    assert 18 < len(dets) / 200 < 35
    assert sum(a["iscrowd"] for a in data["annotations"]) >= 1


def test_mot_layout(tmp_path):
    out = make_mot(tmp_path, seed=4, frames=20, size=(320, 180))
    seqs = sorted((out / "MOT17" / "train").iterdir())
    assert [s.name for s in seqs] == ["MOT17-02-SDP", "MOT17-04-SDP"]
    for seq in seqs:
        info = (seq / "seqinfo.ini").read_text()
        assert "seqLength=20" in info and "imWidth=320" in info and "frameRate=30" in info
        assert len(list((seq / "img1").glob("*.jpg"))) == 20
        assert Image.open(seq / "img1" / "000001.jpg").size == (320, 180)
        gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")
        det = np.loadtxt(seq / "det" / "det.txt", delimiter=",")
        assert gt.shape[1] == 9 and det.shape[1] == 10
        assert {1, 2, 7, 8, 12} <= set(gt[:, 7].astype(int))
        assert (gt[gt[:, 7] != 1, 6] == 0).all() and (gt[:, 6] == 0).sum() > (gt[:, 7] != 1).sum()
        assert gt[:, 0].min() >= 1 and gt[:, 0].max() <= 20
        assert ((gt[:, 8] >= 0) & (gt[:, 8] <= 1)).all() and (gt[:, 8] < 0.7).any()
        assert (det[:, 1] == -1).all() and ((det[:, 6] > 0) & (det[:, 6] <= 1)).all()
        assert (det[:, 6] < 0.5).any()  # low-score detections exist
        pedestrians = gt[gt[:, 7] == 1]
        assert len(np.unique(pedestrians[:, 1])) >= 8


def test_cli_writes_and_reports(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "cvcore.synth", "coco", str(tmp_path), "--num-images", "3",
         "--seed", "7"], capture_output=True, text=True, cwd=REPO, env=env, check=True)
    assert "synthetic coco data (seed 7)" in result.stdout
    data = json.loads((tmp_path / "annotations" / "instances_val2017.json").read_text())
    assert len(data["images"]) == 3


@pytest.mark.parametrize("kind", ["classify", "camvid", "coco", "coco-keypoints", "mot"])
def test_cli_rejects_bad_kind_cleanly(kind, tmp_path):
    result = subprocess.run([sys.executable, "-m", "cvcore.synth", kind + "x", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.parametrize("case", ["out-is-file", "parent-is-file", "zero-images", "tiny-images",
                                  "zero-frames", "zero-per-class", "negative-pan"])
def test_cli_bad_arguments_one_line_and_nothing_written(case, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("x")
    kind, out, extra, named = {
        "out-is-file": ("coco", blocker, [], blocker),
        "parent-is-file": ("mot", blocker / "sub", [], blocker),
        "zero-images": ("coco", tmp_path / "o", ["--num-images", "0"], "--num-images"),
        "tiny-images": ("classify", tmp_path / "o", ["--img-size", "8"], "--img-size"),
        "zero-frames": ("mot", tmp_path / "o", ["--frames", "0"], "--frames"),
        "zero-per-class": ("classify", tmp_path / "o", ["--per-class", "0"], "--per-class"),
        "negative-pan": ("mot", tmp_path / "o", ["--pan", "-1"], "--pan"),
    }[case]
    result = subprocess.run([sys.executable, "-m", "cvcore.synth", kind, str(out), *extra],
                            capture_output=True, text=True, cwd=REPO)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert str(named) in lines[0] and "Traceback" not in result.stderr + result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert blocker.read_text() == "x"


def test_coco_keypoints_is_evaluable_and_deterministic(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = make_coco_keypoints(tmp_path / "a", seed=2, num_images=200)
    again = make_coco_keypoints(tmp_path / "b", seed=2, num_images=200)
    gt_path = out / "annotations" / "person_keypoints_val2017.json"
    res_path = out / "keypoint_predictions.json"
    assert gt_path.read_bytes() == (again / gt_path.relative_to(out)).read_bytes()
    data = json.loads(gt_path.read_text())
    num_keypoints = np.array([a["num_keypoints"] for a in data["annotations"]])
    assert len(data["annotations"]) > 200 and (num_keypoints == 0).any()
    assert all(len(a["keypoints"]) == 51 for a in data["annotations"])
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(str(res_path)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # Informative, not trivial: AP well inside (0, 1), AP50 above AP75.
    assert 0.2 < ev.stats[0] < 0.6 and ev.stats[1] > ev.stats[2]
