"""StreamingCocoEval: batches in any split give exactly the batch evaluation (and pycocotools'
numbers); tensors are accepted; bad input is one InputError; two torchrun ranks (gloo) give
the single-process result."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cvcore.detection import rle
from cvcore.detection.coco import load_gt, load_results
from cvcore.detection.cocoeval import evaluate
from cvcore.detection.streaming import StreamingCocoEval
from cvcore.errors import InputError
from tests.conftest import REPO
from tests.detection.cocofixtures import (
    pycocotools_eval,
    random_case,
    random_keypoints_case,
    random_segm_case,
)

ARRAYS = ("stats", "precision", "recall", "scores")


def assert_identical(got, want):
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def assert_pycocotools(got, gt, results, iou_type):
    ref = pycocotools_eval(gt, results, iou_type=iou_type)
    np.testing.assert_allclose(got.stats, ref.stats, rtol=0, atol=1e-12)
    for name in ("precision", "recall", "scores"):
        np.testing.assert_allclose(getattr(got, name), ref.eval[name], rtol=0, atol=1e-12,
                                   err_msg=name)


def random_bounds(rng, n):
    """A random split of 0..n into 1-5 consecutive batches (empty ones included)."""
    cuts = np.sort(rng.integers(0, n + 1, int(rng.integers(0, 5))))
    edges = np.concatenate([[0], cuts, [n]])
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def maybe_tensor(rng, a):
    if isinstance(a, np.ndarray) and rng.random() < 0.5:
        return torch.from_numpy(np.ascontiguousarray(a))
    return a


def mask_batch(rng, masks, a, b):
    """Masks a..b as Rles, or as dense bool / uint8 [N, H, W] when they share one size."""
    part = rle.take(masks, np.arange(a, b))
    if b > a and len(set(zip(part.heights, part.widths, strict=True))) == 1 and rng.random() < .7:
        dense = rle.decode(part).transpose(2, 0, 1)
        return maybe_tensor(rng, dense.astype(bool) if rng.random() < 0.5 else dense)
    return part


def stream(gt, dets, iou_type, bounds, rng, **kwargs):
    ev = StreamingCocoEval(gt, iou_type, **kwargs)
    for a, b in bounds:
        if iou_type == "bbox":
            values = dets.boxes[a:b]
            if kwargs.get("box_format") == "xyxy":
                values = np.concatenate([values[:, :2], values[:, :2] + values[:, 2:]], axis=1)
        elif iou_type == "segm":
            values = mask_batch(rng, dets.segms, a, b)
        else:
            k = dets.keypoint_starts[1] - dets.keypoint_starts[0] if len(dets.ids) else 0
            values = dets.keypoints[a * k:b * k].reshape(b - a, k, 3)
            if rng.random() < 0.5:
                values = values.reshape(b - a, 3 * k)
        ev.update(maybe_tensor(rng, dets.image_ids[a:b]), maybe_tensor(rng, values),
                  maybe_tensor(rng, dets.scores[a:b]), maybe_tensor(rng, dets.cat_ids[a:b]))
    return ev


@pytest.mark.parametrize("box_format", ["xywh", "xyxy"])
def test_bbox_batches_equal_batch_evaluate_and_pycocotools(box_format):
    """30 random cases, random splits, NumPy and torch inputs: every array bit-identical to
    evaluate() on the whole list and within 1e-12 of pycocotools. xyxy corners are converted
    back to xywh as x2 - x1, so the reference takes those boxes."""
    rng = np.random.default_rng(11 if box_format == "xywh" else 12)
    compared = 0
    for i in range(30):
        gt, results = random_case(rng, many_dets=i % 3 == 0)
        if not results:
            continue
        if box_format == "xyxy":
            for det in results:
                x, y, w, h = det["bbox"]
                x2, y2 = x + w, y + h
                det["bbox"] = [x, y, x2 - x, y2 - y]
        g = load_gt(gt)
        dets = load_results(results, g)
        ev = stream(g, dets, "bbox", random_bounds(rng, len(results)), rng,
                    box_format=box_format)
        got = ev.compute()
        assert_identical(got, evaluate(g, dets))
        assert_pycocotools(got, gt, results, "bbox")
        compared += 1
    assert compared >= 20


def test_segm_batches_dense_or_rle_equal_batch_evaluate():
    """Masks sent dense (bool, uint8, tensors) or as Rles in random splits: the detections'
    areas and boxes are the masks' (loadRes' segmentation rule) and every array is bit-identical
    to evaluate() on the results file, and within 1e-12 of pycocotools."""
    rng = np.random.default_rng(21)
    compared = 0
    for _ in range(25):
        gt, results = random_segm_case(rng)
        results = [{k: v for k, v in d.items() if k != "bbox"} for d in results
                   if "segmentation" in d]
        if not results:
            continue
        g = load_gt(gt, "segm")
        dets = load_results(results, g)
        ev = stream(g, dets, "segm", random_bounds(rng, len(results)), rng)
        streamed = ev.detections()
        np.testing.assert_array_equal(streamed.areas, dets.areas)
        np.testing.assert_array_equal(streamed.boxes, dets.boxes)
        got = ev.compute()
        assert_identical(got, evaluate(g, dets))
        if compared < 8:
            assert_pycocotools(got, gt, results, "segm")
        compared += 1
    assert compared >= 15


def test_keypoints_batches_equal_batch_evaluate():
    """[N, K, 3] and [N, 3K] keypoints in random splits: box and area span the keypoints
    (loadRes' keypoint rule) and every array is bit-identical to evaluate()."""
    rng = np.random.default_rng(31)
    compared = 0
    for i in range(25):
        gt, results = random_keypoints_case(rng, many_dets=i % 4 == 0)
        results = [{k: v for k, v in d.items() if k != "bbox"} for d in results]
        if not results:
            continue
        g = load_gt(gt, "keypoints")
        dets = load_results(results, g)
        ev = stream(g, dets, "keypoints", random_bounds(rng, len(results)), rng)
        streamed = ev.detections()
        np.testing.assert_array_equal(streamed.areas, dets.areas)
        np.testing.assert_array_equal(streamed.boxes, dets.boxes)
        assert_identical(ev.compute(), evaluate(g, dets))
        compared += 1
    assert compared >= 15


def test_state_merge_reset_and_sync_without_process_group():
    """Two evaluators' states merged in order equal one evaluator fed everything; sync()
    without torch.distributed changes nothing; reset() empties; the ground truth may be a dict."""
    rng = np.random.default_rng(41)
    gt, results = random_case(rng, many_dets=True)
    while len(results) < 10:
        gt, results = random_case(rng, many_dets=True)
    g = load_gt(gt)
    dets = load_results(results, g)
    half = len(results) // 2
    first = stream(g, dets, "bbox", [(0, half)], rng)
    second = stream(g, dets, "bbox", [(half, len(results))], rng)
    first.merge([second.state()])
    first.sync()
    assert len(first) == len(results)
    assert_identical(first.compute(), evaluate(g, dets))
    state = first.state()
    assert state["boxes"].shape == (len(results), 4) and state["image_ids"].dtype == np.int64
    first.reset()
    assert len(first) == 0
    assert_identical(first.compute(), evaluate(g, load_results([], g)))
    from_dict = StreamingCocoEval(gt)
    from_dict.merge([state])
    assert_identical(from_dict.compute(), evaluate(g, dets))


def small_gt(iou_type):
    kp = [1, 1, 2] * 17
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16,
           "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]], "keypoints": kp, "num_keypoints": 17}
    return load_gt({"images": [{"id": 1, "height": 8, "width": 8}, {"id": 2, "height": 8,
                                                                    "width": 8}],
                    "categories": [{"id": 1, "keypoints": [str(i) for i in range(17)]}],
                    "annotations": [ann]}, iou_type)


BOXES = np.array([[0, 0, 4, 4], [1, 1, 2, 2]], np.float64)
IDS, SCORES, LABELS = np.array([1, 2]), np.array([0.9, 0.5]), np.array([1, 1])
BAD = [  # iou_type, image_ids, values, scores, labels, box_format, expected message
    ("bbox", IDS, BOXES[:, :3], SCORES, LABELS, "xywh", "boxes has shape [2, 3], needs [N, 4]"),
    ("bbox", IDS, BOXES, [0.9, np.nan], LABELS, "xywh", "scores #1 is not finite"),
    ("bbox", IDS, BOXES, SCORES, [1], "xywh", "labels has shape [1], needs [2]"),
    ("bbox", IDS, BOXES, SCORES, [1, 7], "xywh", "labels #1 refers to unknown category id 7"),
    ("bbox", [1, 3], BOXES, SCORES, LABELS, "xywh", "image_ids #1 refers to unknown image id 3"),
    ("bbox", [1.5, 2], BOXES, SCORES, LABELS, "xywh", "image_ids #0 is not an integer id"),
    ("bbox", IDS, [[0, 0, -1, 4], [0, 0, 1, 1]], SCORES, LABELS, "xywh",
     "boxes #0 has a negative size"),
    ("bbox", IDS, [[0, 0, 4, 4], [5, 5, 4, 6]], SCORES, LABELS, "xyxy",
     "boxes #1 has a negative size"),
    ("bbox", IDS, [[0, 0, 4, np.inf], [0, 0, 1, 1]], SCORES, LABELS, "xywh",
     "boxes #0 is not finite"),
    ("bbox", IDS, [["a"] * 4] * 2, SCORES, LABELS, "xywh", "boxes must be numeric"),
    ("segm", IDS, np.zeros((2, 4, 4), bool), SCORES, LABELS, "xywh",
     "masks #0 is 4 x 4 (h x w) but its image is 8 x 8"),
    ("segm", IDS, np.full((2, 8, 8), 2, np.uint8), SCORES, LABELS, "xywh", "0 and 1"),
    ("segm", IDS, np.zeros((2, 8, 8)), SCORES, LABELS, "xywh", "must be bool or uint8"),
    ("segm", IDS, np.zeros((3, 8, 8), bool), SCORES, LABELS, "xywh",
     "masks has shape [3, 8, 8], needs [N, H, W] with N = 2"),
    ("keypoints", IDS, np.ones((2, 5, 3)), SCORES, LABELS, "xywh",
     "keypoints #0 has 15 keypoint numbers, category 1 needs 51"),
    ("keypoints", IDS, np.full((2, 17, 3), np.nan), SCORES, LABELS, "xywh",
     "keypoints #0 is not finite"),
]


@pytest.mark.parametrize(("iou_type", "image_ids", "values", "scores", "labels", "box_format",
                          "message"), BAD)
def test_bad_input_is_one_input_error_naming_the_argument(iou_type, image_ids, values, scores,
                                                          labels, box_format, message):
    ev = StreamingCocoEval(small_gt(iou_type), iou_type, box_format=box_format)
    with pytest.raises(InputError) as err:
        ev.update(image_ids, values, scores, labels)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert len(ev) == 0  # nothing half-added


def test_ground_truth_must_be_loaded_for_the_type():
    with pytest.raises(ValueError, match="load_gt"):
        StreamingCocoEval(small_gt("bbox"), "segm")
    assert len(StreamingCocoEval(small_gt("segm"), "bbox")) == 0  # boxes need no masks


def write_case(folder, name, iou_type, gt, results, ranks):
    """A case for streaming_worker.py, and its single-process result."""
    g = load_gt(gt, iou_type)
    dets = load_results(results, g)
    ev = stream(g, dets, iou_type, [(0, len(results))], np.random.default_rng(0))
    (folder / f"{name}.json").write_text(json.dumps({"iou_type": iou_type, "gt": gt,
                                                     "ranks": ranks}))
    np.savez(folder / f"{name}.npz", **ev.state())
    return ev.state(), evaluate(g, dets)


def test_torchrun_two_ranks_gather_in_rank_order(tmp_path):
    """torchrun, 2 CPU processes over gloo: bbox with shards of 3 batches + 1 batch, segm with
    rank 1 holding no detections, keypoints with rank 0 holding none. Rank 0's synced state is
    every detection in rank order and its result is bit-identical to the single-process one."""
    rng = np.random.default_rng(51)
    gt, results = random_case(rng, many_dets=True)
    while len(results) < 20:
        gt, results = random_case(rng, many_dets=True)
    n = len(results)
    cases = {"bbox": write_case(tmp_path, "bbox", "bbox", gt, results,
                                [[[0, 3], [3, 3], [3, n // 2]], [[n // 2, n]]])}
    gt, results = random_segm_case(rng)
    while len(results) < 6 or not all("segmentation" in d for d in results):
        gt, results = random_segm_case(rng)
    results = [{k: v for k, v in d.items() if k != "bbox"} for d in results]
    n = len(results)
    cases["segm"] = write_case(tmp_path, "segm", "segm", gt, results,
                               [[[0, 2], [2, n]], []])
    gt, results = random_keypoints_case(rng)
    while len(results) < 4:
        gt, results = random_keypoints_case(rng)
    results = [{k: v for k, v in d.items() if k != "bbox"} for d in results]
    cases["keypoints"] = write_case(tmp_path, "keypoints", "keypoints", gt, results,
                                    [[[0, 0]], [[0, len(results)]]])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    worker = Path(__file__).with_name("streaming_worker.py")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                           "2", "--standalone", str(worker), str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, (state, want) in cases.items():
        out = np.load(tmp_path / f"{name}.out.npz")
        for key, value in state.items():
            np.testing.assert_array_equal(out[f"state_{key}"], value, err_msg=f"{name} {key}")
        for key in ARRAYS:
            np.testing.assert_array_equal(out[key], getattr(want, key), err_msg=f"{name} {key}")
    assert int(np.load(tmp_path / "segm.out.npz")["own"]) == len(cases["segm"][0]["scores"])
    assert int(np.load(tmp_path / "keypoints.out.npz")["own"]) == 0
