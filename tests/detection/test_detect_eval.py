"""detect_eval.py end to end: --dets on synthetic and real COCO, the ultralytics path, errors."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import detect_eval
from cvcore.detection.cocoeval import STAT_NAMES
from tests.conftest import REPO
from tests.detection.cocofixtures import pycocotools_eval, tidecv_eval


@pytest.fixture(scope="module")
def synthetic_coco(tmp_path_factory):
    from cvcore.synth.coco import make_coco

    return make_coco(tmp_path_factory.mktemp("coco"), seed=2, num_images=12)


def run_main(*argv):
    return detect_eval.main(detect_eval.parse_args([str(a) for a in argv]))


def assert_png(path):
    image = Image.open(path)
    image.verify()
    assert Image.open(path).size[0] > 200


def test_dets_outputs_and_numbers(synthetic_coco, tmp_path):
    gt_path = synthetic_coco / "annotations" / "instances_val2017.json"
    res_path = synthetic_coco / "predictions.json"
    run_dir = run_main("--gt", gt_path, "--dets", res_path, "--out", tmp_path / "run")
    for name in ("args.yaml", "metrics.json", "report.md"):
        assert (run_dir / name).stat().st_size > 0
    for name in ("tide.png", "reliability.png", "pr_curves.png"):
        assert_png(run_dir / name)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    gt, results = json.loads(gt_path.read_text()), json.loads(res_path.read_text())
    ref = pycocotools_eval(gt, results)
    np.testing.assert_allclose(list(metrics["coco"].values()), ref.stats, rtol=0, atol=1e-12)
    assert tuple(metrics["coco"]) == STAT_NAMES  # the names cocoeval --json writes
    ap, main, special = tidecv_eval(gt, results)
    assert metrics["tide"]["all"]["ap50"] == pytest.approx(ap, abs=1e-9)
    assert metrics["tide"]["all"]["main"] == pytest.approx(main, abs=1e-9)
    assert set(metrics["ece"]) == {"all", "small", "medium", "large"}
    assert 0 < metrics["ece"]["all"]["ece"] < 1
    counts = metrics["counts"]
    assert sum(counts[s]["gt"] for s in ("small", "medium", "large")) == counts["all"]["gt"]
    assert "## TIDE" in (run_dir / "report.md").read_text()


def test_real_coco_tide_matches_tidecv(shared_data, tmp_path):
    folder = shared_data / "coco_val2014_100"
    gt_path = folder / "instances_val2014_100.json"
    res_path = folder / "instances_val2014_fakebbox100_results.json"
    run_dir = run_main("--gt", gt_path, "--dets", res_path, "--out", tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ap, main, special = tidecv_eval(json.loads(gt_path.read_text()),
                                    json.loads(res_path.read_text()))
    assert metrics["tide"]["all"]["ap50"] == pytest.approx(ap, abs=0.01)
    assert metrics["tide"]["all"]["main"] == pytest.approx(main, abs=0.01)
    assert metrics["tide"]["all"]["special"] == pytest.approx(special, abs=0.01)
    assert metrics["coco"]["AP"] == pytest.approx(0.5045806987249628, abs=1e-12)


def test_empty_scale_is_reported_not_crashed(synthetic_coco, tmp_path):
    results = json.loads((synthetic_coco / "predictions.json").read_text())
    large_only = [r for r in results if r["bbox"][2] * r["bbox"][3] > 96 ** 2]
    (tmp_path / "large.json").write_text(json.dumps(large_only))
    run_dir = run_main("--gt", synthetic_coco / "annotations" / "instances_val2017.json",
                       "--dets", tmp_path / "large.json", "--out", tmp_path / "run")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["counts"]["small"]["predictions"] == 0
    assert metrics["tide"]["small"]["ap50"] == 0.0 and metrics["ece"]["small"]["n"] == 0


def test_ultralytics_path_with_random_yolo(tmp_path):
    """A YOLOv8n built from its yaml (random weights, offline) predicts on synthetic images."""
    from ultralytics import YOLO

    from cvcore.synth.coco import make_coco

    data = make_coco(tmp_path / "coco", seed=3, num_images=3)
    weights = tmp_path / "yolov8n_random.pt"
    YOLO("yolov8n.yaml").save(str(weights))
    run_dir = run_main("--gt", data / "annotations" / "instances_val2017.json",
                       "--weights", weights, "--images", data / "images" / "val2017",
                       "--imgsz", 160, "--out", tmp_path / "run")
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert isinstance(predictions, list)
    assert all(r["category_id"] in range(1, 91) for r in predictions)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["counts"]["all"]["predictions"] == len(predictions)


def cli(*argv):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "detect_eval.py", *map(str, argv)], cwd=REPO,
                          env=env, capture_output=True, text=True)


@pytest.mark.parametrize("case", ["unknown_category", "missing_weights", "missing_dataset"])
def test_bad_input_one_line_exit_2(synthetic_coco, tmp_path, case):
    gt_path = synthetic_coco / "annotations" / "instances_val2017.json"
    if case == "unknown_category":
        bad = [{"image_id": 1, "category_id": 12, "bbox": [0, 0, 5, 5], "score": 0.3}]
        (tmp_path / "r.json").write_text(json.dumps(bad))
        out = cli("--gt", gt_path, "--dets", tmp_path / "r.json", "--out", tmp_path / "o")
        expected = "unknown category id 12"
    elif case == "missing_weights":
        out = cli("--gt", gt_path, "--weights", tmp_path / "nope.pt",
                  "--images", synthetic_coco / "images" / "val2017", "--out", tmp_path / "o")
        expected = "nope.pt"
    else:
        (tmp_path / "coco.yaml").write_text("path: ../datasets/coco\nval: val2017.txt\n")
        out = cli("--data", tmp_path / "coco.yaml", "--weights", "yolov8n.pt",
                  "--out", tmp_path / "o")
        expected = "instances_val2017.json"
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith("error: ") and expected in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_failed_start_leaves_no_run_dir_and_ece_names_the_file(synthetic_coco, tmp_path):
    """Without --out the run dir would be runs/detect/exp under the working directory: a score
    above 1 (ECE needs probabilities) is refused before it exists, naming the results file."""
    from cvcore.detection.coco import load_gt, load_results
    from cvcore.detection.ece import detection_ece
    from cvcore.errors import InputError

    gt_path = synthetic_coco / "annotations" / "instances_val2017.json"
    results = json.loads((synthetic_coco / "predictions.json").read_text())
    results[5]["score"] = 1.25
    (tmp_path / "r.json").write_text(json.dumps(results))
    out = subprocess.run([sys.executable, str(REPO / "detect_eval.py"), "--gt", str(gt_path),
                          "--dets", str(tmp_path / "r.json")], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 2 and not (tmp_path / "runs").exists()
    message = (f"{tmp_path / 'r.json'}: detection #5 has score 1.25 outside [0, 1] "
               "(ECE needs probabilities)")
    assert out.stderr == f"error: {message}\n"
    gt = load_gt(gt_path)
    with pytest.raises(InputError) as err:
        detection_ece(gt, load_results(tmp_path / "r.json", gt))
    assert str(err.value) == message


# --- --iou-type segm ------------------------------------------------------------------------

def test_segm_outputs_and_numbers(synthetic_coco, tmp_path):
    """Masks: COCO segm stats are pycocotools' (1e-12), TIDE is tidecv's TIDE.MASK (1e-9)."""
    gt_path = synthetic_coco / "annotations" / "instances_val2017.json"
    res_path = synthetic_coco / "predictions_segm.json"
    run_dir = run_main("--iou-type", "segm", "--gt", gt_path, "--dets", res_path,
                       "--out", tmp_path / "run")
    for name in ("tide.png", "reliability.png", "pr_curves.png"):
        assert_png(run_dir / name)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["iou_type"] == "segm" and metrics["tide"]["all"]["mode"] == "mask"
    gt, results = json.loads(gt_path.read_text()), json.loads(res_path.read_text())
    ref = pycocotools_eval(gt, results, iou_type="segm")
    np.testing.assert_allclose(list(metrics["coco"].values()), ref.stats, rtol=0, atol=1e-12)
    box_ref = pycocotools_eval(gt, results).stats
    assert ref.stats[0] < box_ref[0]  # masks are harder than their boxes here
    ap, main, special = tidecv_eval(gt, results, mask=True)
    assert metrics["tide"]["all"]["ap50"] == pytest.approx(ap, abs=1e-9)
    assert metrics["tide"]["all"]["main"] == pytest.approx(main, abs=1e-9)
    assert metrics["tide"]["all"]["special"] == pytest.approx(special, abs=1e-9)
    # ECE at mask IoU 0.5: the correct detections are those pycocotools' segm matching takes
    records = [(d, bool(e["dtMatches"][0, j])) for e in ref.evalImgs
               if e is not None and e["aRng"] == [0, 1e10]
               for j, d in enumerate(e["dtIds"]) if not e["dtIgnore"][0, j]]
    from cvcore.calibration import expected_calibration_error

    scores = np.array([results[d - 1]["score"] for d, _ in records])
    expected = expected_calibration_error(scores, np.array([c for _, c in records]), 10)
    assert metrics["ece"]["all"]["ece"] == pytest.approx(expected.ece, abs=1e-12)
    assert metrics["ece"]["all"]["n"] == len(records)
    report = (run_dir / "report.md").read_text()
    assert report.startswith("# Instance segmentation evaluation") and "mask IoU 0.5" in report


def test_segm_real_coco_equals_pycocotools_and_tidecv(shared_data, tmp_path):
    """Real COCO masks (polygons, crowd RLE) and real segm results (compressed RLE, no bbox)."""
    folder = shared_data / "coco_val2014_100"
    gt_path = folder / "instances_val2014_100.json"
    res_path = folder / "instances_val2014_fakesegm100_results.json"
    run_dir = run_main("--iou-type", "segm", "--gt", gt_path, "--dets", res_path,
                       "--out", tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    expected = json.loads((folder / "expected_stats.json").read_text())["segm"]
    np.testing.assert_allclose(list(metrics["coco"].values()), expected, rtol=0, atol=1e-12)
    ap, main, special = tidecv_eval(json.loads(gt_path.read_text()),
                                    json.loads(res_path.read_text()), mask=True)
    assert metrics["tide"]["all"]["ap50"] == pytest.approx(ap, abs=1e-9)
    assert metrics["tide"]["all"]["main"] == pytest.approx(main, abs=1e-9)
    assert metrics["tide"]["all"]["special"] == pytest.approx(special, abs=1e-9)


def test_segm_ultralytics_path_with_random_yolov8n_seg(tmp_path):
    """A YOLOv8n-seg built from its yaml (random weights, offline): RLE masks at the original
    image size that pycocotools reads, and our segm stats on them equal its own."""
    import torch
    from pycocotools import mask as mask_utils
    from ultralytics import YOLO

    from cvcore.synth.coco import make_coco

    data = make_coco(tmp_path / "coco", seed=3, num_images=2)
    weights = tmp_path / "yolov8n_seg_random.pt"
    torch.manual_seed(0)  # its random weights: the same predictions every run
    YOLO("yolov8n-seg.yaml").save(str(weights))
    gt_path = data / "annotations" / "instances_val2017.json"
    run_dir = run_main("--iou-type", "segm", "--gt", gt_path, "--weights", weights,
                       "--images", data / "images" / "val2017", "--imgsz", 96, "--conf", 0,
                       "--max-det", 40, "--out", tmp_path / "run")
    predictions = json.loads((run_dir / "predictions.json").read_text())
    gt = json.loads(gt_path.read_text())
    size = {i["id"]: [i["height"], i["width"]] for i in gt["images"]}
    assert len(predictions) > 10
    for r in predictions:
        segm = r["segmentation"]
        assert segm["size"] == size[r["image_id"]] and isinstance(segm["counts"], str)
        assert mask_utils.area(segm) > 0  # ultralytics drops empty masks
        x, y, w, h = mask_utils.toBbox(segm)  # the mask lies in its (ultralytics-cropped) box
        bx, by, bw, bh = r["bbox"]
        assert bx - 1 <= x and by - 1 <= y and x + w <= bx + bw + 1 and y + h <= by + bh + 1
    known = [r for r in predictions if r["category_id"] in {c["id"] for c in gt["categories"]}]
    ref = pycocotools_eval(gt, known, iou_type="segm")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    np.testing.assert_allclose(list(metrics["coco"].values()), ref.stats, rtol=0, atol=1e-12)


def test_segm_bad_input_one_line_exit_2(synthetic_coco, tmp_path):
    results = json.loads((synthetic_coco / "predictions_segm.json").read_text())
    del results[3]["segmentation"]
    (tmp_path / "r.json").write_text(json.dumps(results))
    out = cli("--iou-type", "segm", "--gt",
              synthetic_coco / "annotations" / "instances_val2017.json",
              "--dets", tmp_path / "r.json", "--out", tmp_path / "o")
    assert out.returncode == 2 and out.stderr == (
        f"error: {tmp_path / 'r.json'}: detection #3 has no 'segmentation' (segm evaluation "
        "compares masks)\n")
    assert not (tmp_path / "o").exists()


def test_segm_refuses_a_detection_model_before_the_run_dir(synthetic_coco, tmp_path):
    from cvcore.errors import InputError

    with pytest.raises(InputError) as err:
        run_main("--iou-type", "segm", "--gt", synthetic_coco / "annotations" /
                 "instances_val2017.json", "--weights", "yolov8n.yaml",
                 "--images", synthetic_coco / "images" / "val2017", "--out", tmp_path / "o")
    assert str(err.value) == ("yolov8n.yaml: a detect model has no masks: --iou-type segm needs "
                              "a segmentation model (e.g. yolov8n-seg.pt)")
    assert not (tmp_path / "o").exists()
