"""Client code written for pycocotools, run unchanged on the real pycocotools and, after
``cvcore.init_as_pycocotools()``, on the drop-in: a torchvision-references-style evaluator and
torchmetrics' MeanAveragePrecision (backend "pycocotools"). Registration never leaks: the
in-process runs restore the real modules, the import checks run in a fresh interpreter."""

import copy
import subprocess
import sys

import numpy as np
import pytest

import cvcore.pycocotools.cocoeval
from tests.detection.cocofixtures import random_case, random_segm_case
from tests.pycocotools.dropinfixtures import (
    REAL,
    BatchEvaluator,
    assert_same_eval,
    coco_from_dict,
    dropin_active,
)

# The real pycocotools.mask (the oracle) warns under NumPy 2 on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def _batched_run(gt: dict, results: list, n_ranks: int, batch: int, iou_type: str = "bbox"):
    """The evaluator over the images in batches, split over ``n_ranks`` evaluators merged at
    the end as torchvision merges processes; returns the final COCOeval."""
    from pycocotools.coco import COCO

    coco_gt = coco_from_dict({"COCO": COCO}, gt)
    ranks = [BatchEvaluator(coco_gt, iou_type) for _ in range(n_ranks)]
    img_ids = [img["id"] for img in gt["images"]]
    for n, start in enumerate(range(0, len(img_ids), batch)):
        ids = img_ids[start:start + batch]
        # loadRes edits the result dicts in place (a segm result gets an ndarray bbox)
        ranks[n % n_ranks].update([copy.deepcopy(r) for r in results if r["image_id"] in ids],
                                  ids)
    ranks[0].merge(ranks[1:])
    return ranks[0].summarize()


def test_pycocotools_is_real_outside_the_context():
    import pycocotools.cocoeval

    assert pycocotools.cocoeval.COCOeval is REAL["COCOeval"]
    with dropin_active():
        import pycocotools.cocoeval

        assert pycocotools.cocoeval.COCOeval is cvcore.pycocotools.cocoeval.COCOeval
    import pycocotools.cocoeval

    assert pycocotools.cocoeval.COCOeval is REAL["COCOeval"]


@pytest.mark.parametrize(("iou_type", "seed"), [("bbox", 0), ("bbox", 1), ("bbox", 2),
                                                ("segm", 3)])
def test_torchvision_style_evaluator(iou_type, seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for case in range(6):
        if iou_type == "segm":
            gt, results = random_segm_case(rng, max_images=8)
        else:
            gt, results = random_case(rng, max_images=10, many_dets=case % 3 == 0)
        n_ranks, batch = 1 + case % 3, 1 + case % 4
        want = _batched_run(gt, results, n_ranks, batch, iou_type)
        with dropin_active():
            got = _batched_run(gt, results, n_ranks, batch, iou_type)
        assert type(got) is cvcore.pycocotools.cocoeval.COCOeval
        assert type(want) is REAL["COCOeval"]
        assert_same_eval(got, want, atol=1e-12)
        checked += int((want.eval["precision"] > -1).sum())
    assert checked > 0


def _torchmetrics_inputs(seed: int, with_masks: bool):
    """preds and targets for MeanAveragePrecision from a random COCO case (xyxy boxes; for
    masks, a box-shaped mask with a random hole on a 96 x 80 canvas)."""
    import torch

    rng = np.random.default_rng(seed)
    gt, results = random_case(rng, max_images=5, max_cats=3)
    height, width = 80, 96

    def boxes(items):
        b = np.array([x["bbox"] for x in items], np.float64).reshape(-1, 4) / 6
        b[:, 2:] = np.maximum(b[:, 2:], 1.0)
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)

    def masks(b):
        m = np.zeros((len(b), height, width), bool)
        for n, (x0, y0, x1, y1) in enumerate(np.round(b).astype(int)):
            m[n, y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)] = True
            m[n, y0 + int(rng.integers(0, 3))::3, x0 + int(rng.integers(0, 3))::4] = False
        return torch.from_numpy(m)

    preds, targets = [], []
    for img in gt["images"]:
        mine = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        dets = [r for r in results if r["image_id"] == img["id"]]
        tb, db = boxes(mine), boxes(dets)
        target = {"boxes": torch.tensor(tb, dtype=torch.float32),
                  "labels": torch.tensor([a["category_id"] for a in mine], dtype=torch.long),
                  "iscrowd": torch.tensor([a["iscrowd"] for a in mine], dtype=torch.long)}
        pred = {"boxes": torch.tensor(db, dtype=torch.float32),
                "scores": torch.tensor([r["score"] for r in dets], dtype=torch.float32),
                "labels": torch.tensor([r["category_id"] for r in dets], dtype=torch.long)}
        if with_masks:
            target["masks"], pred["masks"] = masks(tb), masks(db)
        targets.append(target)
        preds.append(pred)
    return preds, targets


def _torchmetrics_map(iou_type: str, preds, targets, **kwargs) -> dict:
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(iou_type=iou_type, backend="pycocotools", class_metrics=True,
                                  extended_summary=True, **kwargs)
    metric.warn_on_many_detections = False
    metric.update(preds, targets)
    return metric.compute()


def _assert_same_results(got: dict, want: dict) -> None:
    import torch

    assert set(got) == set(want)
    for key, value in want.items():
        if isinstance(value, dict):  # "ious": {(img, cat): tensor or []}
            assert set(got[key]) == set(value), key
            for pair, iou in value.items():
                if isinstance(iou, torch.Tensor):
                    torch.testing.assert_close(got[key][pair], iou, rtol=0, atol=0)
                else:
                    assert got[key][pair] == iou, (key, pair)
        else:
            torch.testing.assert_close(got[key], value, rtol=0, atol=1e-12, msg=key)


@pytest.mark.parametrize(("iou_type", "seed", "kwargs"), [
    ("bbox", 0, {}), ("bbox", 1, {"average": "micro"}),
    ("bbox", 2, {"iou_thresholds": [0.5, 0.8], "max_detection_thresholds": [1, 3, 50]}),
    ("segm", 3, {}), ("segm", 4, {"average": "micro"}), (("bbox", "segm"), 5, {})])
def test_torchmetrics_mean_average_precision(iou_type, seed, kwargs, monkeypatch):
    from torchmetrics.detection.helpers import _load_coco_backend_tools

    preds, targets = _torchmetrics_inputs(seed, "segm" in iou_type)
    want = _torchmetrics_map(iou_type, preds, targets, **kwargs)
    assert _load_coco_backend_tools("pycocotools")[1] is REAL["COCOeval"]

    def not_called(*args, **kwargs):
        raise AssertionError("the real pycocotools ran")

    with dropin_active(), monkeypatch.context() as patch:
        tools = _load_coco_backend_tools("pycocotools")
        assert tools[1] is cvcore.pycocotools.cocoeval.COCOeval
        assert tools[2].__name__ == "cvcore.pycocotools.mask"
        patch.setattr(REAL["COCOeval"], "evaluate", not_called)
        got = _torchmetrics_map(iou_type, preds, targets, **kwargs)
    _assert_same_results(got, want)
    prefix = "segm_" if isinstance(iou_type, tuple) else ""  # both types: keys per type
    assert float(want[f"{prefix}map_50"]) > 0  # "map" reads maxDets 100 (#558): -1 without it
    assert len(want[f"{prefix}ious"]) > 0


def test_init_as_pycocotools_in_a_fresh_interpreter():
    """``import cvcore`` stays cheap (no Numba); registration is complete and idempotent."""
    code = "\n".join([
        "import sys, cvcore",
        "assert 'numba' not in sys.modules and 'pycocotools' not in sys.modules",
        "cvcore.init_as_pycocotools()",
        "first = {k: v for k, v in sys.modules.items() if k.startswith('pycocotools')}",
        "cvcore.init_as_pycocotools()",
        "assert first == {k: v for k, v in sys.modules.items() if k.startswith('pycocotools')}",
        "import pycocotools.coco, pycocotools.cocoeval, pycocotools.mask",
        "from pycocotools import mask as mask_utils",
        "from pycocotools.cocoeval import COCOeval, Params",
        "assert COCOeval.__module__ == 'cvcore.pycocotools.cocoeval'",
        "assert pycocotools.coco.COCO.__module__ == 'cvcore.pycocotools.coco'",
        "assert mask_utils is pycocotools.mask",
        "assert mask_utils.__name__ == 'cvcore.pycocotools.mask'",
        "print(sorted(first))",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == str(sorted(["pycocotools", "pycocotools.coco",
                                      "pycocotools.cocoeval", "pycocotools.mask"]))
