"""cvcore.detection.report.evaluate_detections is exactly COCO AP, TIDE per scale and ECE per
scale computed one by one (the shared matching and breakdowns change no number)."""

import numpy as np
import pytest

from cvcore.detection.coco import load_gt, load_results
from cvcore.detection.cocoeval import evaluate
from cvcore.detection.ece import detection_ece
from cvcore.detection.report import SCALES, evaluate_detections
from cvcore.detection.tide import mask_args, scale_masks, tide
from tests.detection.cocofixtures import random_case, random_mask_case


def assert_same_report(gt, results, iou_type, min_score):
    g = load_gt(gt, iou_type)
    dets = load_results(results, g, iou_type)
    report = evaluate_detections(g, dets, min_score)
    coco = evaluate(g, dets)
    assert np.array_equal(report.coco.stats, coco.stats)
    assert np.array_equal(report.coco.precision, coco.precision)
    assert np.array_equal(report.coco.recall, coco.recall)
    masks = mask_args(g, dets)
    gt_scale, det_scale = scale_masks(g.boxes), {"all": None, **scale_masks(dets.boxes)}
    for scale in SCALES:  # the breakdowns run together give what each gives alone
        alone = (tide(g, dets, **masks) if scale == "all" else
                 tide(g, dets, gt_keep=gt_scale[scale] | g.iscrowd, det_keep=det_scale[scale],
                      **masks))
        assert report.tide[scale] == alone, scale
        ece = detection_ece(g, dets, min_score=min_score, det_mask=det_scale[scale])
        ours = report.ece[scale]
        assert ours.n == ece.n and np.array_equal(ours.counts, ece.counts)
        assert ours.ece == ece.ece or (np.isnan(ours.ece) and np.isnan(ece.ece))
    return report


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_report_equals_the_parts_on_random_cases(iou_type):
    rng = np.random.default_rng(31 if iou_type == "bbox" else 32)
    make = random_case if iou_type == "bbox" else random_mask_case
    compared = 0
    for case in range(25):
        gt, results = make(rng, many_dets=case % 6 == 0)
        if not results:
            continue
        for r in results:  # ECE needs probabilities
            r["score"] = min(max(r["score"], 0.0), 1.0)
        report = assert_same_report(gt, results, iou_type, 0.3 if case % 2 else 0.0)
        compared += 1
    assert compared >= 20
    assert 0 <= report.ece["all"].ece <= 1


def test_counts_per_scale():
    gt, results = random_case(np.random.default_rng(5))
    g = load_gt(gt)
    dets = load_results(results, g)
    counts = evaluate_detections(g, dets).counts
    assert counts["all"]["predictions"] == len(results)
    assert sum(counts[s]["gt"] for s in SCALES[1:]) <= counts["all"]["gt"]
    assert counts["all"]["gt"] == sum(1 for a in gt["annotations"] if not a.get("iscrowd"))
