"""Detection ECE: correctness from COCO's matching (against pycocotools' per-image records),
score floor and masks (against the plain ECE loop)."""

import numpy as np
import pytest

from cvcore.detection.coco import load_gt, load_results
from cvcore.detection.ece import detection_correctness, detection_ece
from tests.detection.cocofixtures import pycocotools_eval, random_case
from tests.test_calibration import plain_ece


def test_detection_correctness_is_cocos_match_at_iou_05():
    rng = np.random.default_rng(4)
    for _ in range(20):
        gt, results = random_case(rng)
        if not results:
            continue
        g = load_gt(gt)
        dets = load_results(results, g)
        rows, correct = detection_correctness(g, dets)
        ev = pycocotools_eval(gt, results)
        # pycocotools' per-image records at area 'all': dtMatches at IoU 0.5, dtIgnore.
        ref = {}
        for e in ev.evalImgs:
            if e is None or e["aRng"] != [0, 1e10]:
                continue
            for j, det_id in enumerate(e["dtIds"]):
                if not e["dtIgnore"][0, j]:
                    ref[det_id] = bool(e["dtMatches"][0, j])
        assert dict(zip((dets.ids[rows]).tolist(), correct.tolist(), strict=True)) == ref


def test_detection_ece_with_floor_and_mask():
    gt, results = random_case(np.random.default_rng(8))
    g = load_gt(gt)
    dets = load_results(results, g)
    rows, correct = detection_correctness(g, dets)
    full = detection_ece(g, dets)
    assert full.n == len(rows)
    assert full.ece == pytest.approx(plain_ece(dets.scores[rows].tolist(), correct.tolist()))
    floor = detection_ece(g, dets, min_score=0.5)
    assert floor.n == int((dets.scores[rows] >= 0.5).sum())
    none = detection_ece(g, dets, det_mask=np.zeros(len(dets.ids), bool))
    assert none.n == 0 and np.isnan(none.ece)
