"""Shared helpers of the drop-in tests: the real pycocotools and the drop-in side by side, a
context that makes ``import pycocotools`` give the drop-in and puts the real modules back, and
comparisons of pycocotools' outputs (dicts, arrays, printed lines)."""

from __future__ import annotations

import contextlib
import copy
import io
import re
import sys

import numpy as np

# The real pycocotools, imported before any test registers the drop-in under its names.
import pycocotools
import pycocotools.coco
import pycocotools.cocoeval
import pycocotools.mask

import cvcore
from cvcore.pycocotools import coco as ours_coco
from cvcore.pycocotools import cocoeval as ours_cocoeval
from tests.detection.cocofixtures import _pool_keypoint_groups

REAL = {"COCO": pycocotools.coco.COCO, "COCOeval": pycocotools.cocoeval.COCOeval,
        "Params": pycocotools.cocoeval.Params}
OURS = {"COCO": ours_coco.COCO, "COCOeval": ours_cocoeval.COCOeval,
        "Params": ours_cocoeval.Params}
BOTH = {"real": REAL, "ours": OURS}


def _pycocotools_entries() -> dict:
    return {k: v for k, v in sys.modules.items()
            if k == "pycocotools" or k.startswith("pycocotools.")}


@contextlib.contextmanager
def dropin_active():
    """``cvcore.init_as_pycocotools()`` for the duration, then the real modules back (nothing
    leaks into other tests)."""
    saved = _pycocotools_entries()
    try:
        cvcore.init_as_pycocotools()
        yield
    finally:
        for name in _pycocotools_entries():
            del sys.modules[name]
        sys.modules.update(saved)


def quiet(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` and what it printed, timings blanked: (result, text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = fn(*args, **kwargs)
    return result, re.sub(r"t=\d+\.\d+s", "t=?s", out.getvalue())


def coco_from_dict(api: dict, gt: dict):
    coco, _ = quiet(api["COCO"])
    coco.dataset = copy.deepcopy(gt)
    quiet(coco.createIndex)
    return coco


def run_eval(api: dict, gt: dict, results, iou_type: str = "bbox", params: dict | None = None,
             read_details: bool = False):
    """COCOeval(gt, loadRes(results)) with ``params`` set, evaluate/accumulate/summarize;
    returns (COCOeval, evalImgs or None, ious or None, printed text)."""
    coco_gt = coco_from_dict(api, gt)
    coco_dt, _ = quiet(coco_gt.loadRes, copy.deepcopy(results))
    ev = api["COCOeval"](coco_gt, coco_dt, iou_type)
    for key, value in (params or {}).items():
        setattr(ev.params, key, value)
    if api is REAL and iou_type == "keypoints" and not ev.params.useCats:
        _pool_keypoint_groups(ev)  # pycocotools' computeOks bug, fixed in cvcore's engine
    _, text = quiet(ev.evaluate)
    eval_imgs = ev.evalImgs if read_details else None
    ious = ev.ious if read_details else None
    _, more = quiet(ev.accumulate)
    _, last = quiet(ev.summarize)
    return ev, eval_imgs, ious, text + more + last


def assert_same_value(got, want, where: str = "") -> None:
    """Equal, type for type: NumPy arrays by dtype, shape and values; containers item by
    item; numbers and strings by value."""
    if isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), (where, got)
        assert got.dtype == want.dtype and got.shape == want.shape, (where, got, want)
        np.testing.assert_array_equal(got, want, err_msg=where)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (where, got, want)
        for key in want:
            assert_same_value(got[key], want[key], f"{where}[{key!r}]")
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want), (where, got, want)
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same_value(g, w, f"{where}[{n}]")
    else:
        assert got == want, (where, got, want)


def assert_same_eval(got, want, atol: float = 0.0) -> None:
    """Same ``eval`` arrays and ``stats`` (to ``atol``) and the same counts."""
    for name in ("precision", "recall", "scores"):
        np.testing.assert_allclose(got.eval[name], want.eval[name], rtol=0, atol=atol,
                                   err_msg=name)
    np.testing.assert_allclose(got.stats, want.stats, rtol=0, atol=atol)
    assert got.eval["counts"] == want.eval["counts"]


class BatchEvaluator:
    """A detection evaluator in the style of torchvision's references (``CocoEvaluator``),
    written against pycocotools' public names only and importing pycocotools when used, so the
    same code runs on whichever modules ``import pycocotools`` gives.

    ``update(results, img_ids)`` evaluates one batch (its images only) and keeps evalImgs as a
    (categories, areas, images) array; ``merge(parts)`` joins evaluators as processes would
    (concatenate along images, drop repeated images), sets every image id and ``_paramsEval``;
    ``summarize()`` accumulates and prints."""

    def __init__(self, coco_gt, iou_type: str = "bbox"):
        from pycocotools.cocoeval import COCOeval

        self.coco_gt = copy.deepcopy(coco_gt)
        self.coco_eval = COCOeval(self.coco_gt, iouType=iou_type)
        self.img_ids: list = []
        self.parts: list[np.ndarray] = []

    def update(self, results: list[dict], img_ids: list) -> None:
        from pycocotools.coco import COCO

        self.img_ids.extend(img_ids)
        with contextlib.redirect_stdout(io.StringIO()):
            coco_dt = COCO.loadRes(self.coco_gt, results) if results else COCO()
            self.coco_eval.cocoDt = coco_dt
            self.coco_eval.params.imgIds = list(img_ids)
            self.coco_eval.evaluate()
        p = self.coco_eval.params
        self.parts.append(np.asarray(self.coco_eval.evalImgs).reshape(
            -1, len(p.areaRng), len(p.imgIds)))

    def merge(self, others: list[BatchEvaluator] = ()) -> None:
        img_ids = np.array([i for e in (self, *others) for i in e.img_ids])
        eval_imgs = np.concatenate([part for e in (self, *others) for part in e.parts], 2)
        unique_ids, first = np.unique(img_ids, return_index=True)
        eval_imgs = eval_imgs[..., first]
        self.coco_eval.evalImgs = list(eval_imgs.flatten())
        self.coco_eval.params.imgIds = list(unique_ids)
        self.coco_eval._paramsEval = copy.deepcopy(self.coco_eval.params)

    def summarize(self):
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco_eval.accumulate()
            self.coco_eval.summarize()
        return self.coco_eval
