"""detect_eval.py's whole evaluation as one function: COCO AP, TIDE and ECE, overall and per
object scale, on loaded inputs (no files, no figures).

``evaluate_detections(gt, dets, ece_min_score) -> DetectionReport`` gives exactly what
:func:`cvcore.detection.cocoeval.evaluate`, :func:`cvcore.detection.tide.tide_by_scale` and
:func:`cvcore.detection.ece.detection_ece` (per scale, ``det_mask`` by box area) give, with less
work: one COCO matching serves COCO AP and ECE (ECE's correctness is COCO's match at IoU 0.5,
area range [0, 1e10] and 100 detections, which the default evaluation makes anyway), and TIDE's
four breakdowns share one set of IoU blocks and one kernel call. The IoU is the one ``gt`` was
loaded for: boxes ('bbox') or masks ('segm', TIDE's mask mode).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .coco import CocoDets, CocoGT
from .cocoeval import CocoEvalResult, accumulate, count_positives, match, resolve_params
from .ece import ECEResult, check_probabilities, correctness_from_matches, ece_by_scale
from .tide import TideResult, mask_args, scale_masks, tide_by_scale

SCALES = ("all", "small", "medium", "large")


@dataclass
class DetectionReport:
    """COCO AP (pycocotools' numbers), TIDE (tidecv's) and ECE, the last two per scale
    (``SCALES``), with the ground truth (crowd regions excluded) and predictions per scale."""

    coco: CocoEvalResult
    tide: dict[str, TideResult]
    ece: dict[str, ECEResult]
    counts: dict[str, dict[str, int]]


def scale_counts(gt: CocoGT, dets: CocoDets) -> dict[str, dict[str, int]]:
    """Ground-truth objects (crowd regions excluded) and predictions per scale by box area."""
    gt_scale, det_scale = scale_masks(gt.boxes), scale_masks(dets.boxes)
    counts = {"all": {"gt": int((~gt.iscrowd).sum()), "predictions": len(dets.ids)}}
    for scale in SCALES[1:]:
        counts[scale] = {"gt": int((gt_scale[scale] & ~gt.iscrowd).sum()),
                         "predictions": int(det_scale[scale].sum())}
    return counts


def evaluate_detections(gt: CocoGT, dets: CocoDets, ece_min_score: float = 0.0
                        ) -> DetectionReport:
    """COCO AP, TIDE and ECE (detections scored below ``ece_min_score`` left out of ECE) of
    ``dets`` on ``gt``; scores must be probabilities (:func:`check_probabilities`)."""
    check_probabilities(dets)
    p = resolve_params(None, gt)
    m = match(gt, dets, p)
    coco = accumulate(m.det_cat, m.det_img, m.rank, dets.scores[m.det_index], m.matched,
                      m.ignored, count_positives(m, p), p)
    rows, correct = correctness_from_matches(m, p)
    ece = ece_by_scale(dets, rows, np.asarray(correct), ece_min_score)
    return DetectionReport(coco=coco, tide=tide_by_scale(gt, dets, **mask_args(gt, dets)),
                           ece=ece, counts=scale_counts(gt, dets))
