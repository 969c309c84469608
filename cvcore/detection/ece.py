"""Detection calibration: ECE of a detector's scores, correctness from COCO's matching.

A detection is correct when COCO's greedy matching at IoU 0.5 (per image and category, by
score, pycocotools' exact rules via :func:`cvcore.detection.cocoeval.match`) pairs it with a
ground truth of its class. The IoU is the one the ground truth was loaded for
(``load_gt(..., iou_type)``): box IoU, or mask IoU for 'segm' (instance segmentation).
Choices, stated: detections matched to a crowd region are left out (COCO ignores them, so
they are neither right nor wrong); only the 100 highest-scoring detections per image and
category count (COCO's maxDets); no score floor by default (``min_score`` sets one: low-score
detections dominate the count otherwise, which is why ECE numbers for detectors are only
comparable at the same floor). Per scale, a detection belongs to
the scale of its own box area (TIDE's boundaries, :func:`cvcore.detection.tide.scale_masks`);
its correctness is the one decided by the full-image matching. The binning (10 bins, edges the
doubles nearest k/10) is :func:`cvcore.calibration.expected_calibration_error`.
"""

from __future__ import annotations

import numpy as np

from ..calibration import ECEResult, expected_calibration_error
from ..errors import InputError
from .coco import CocoDets, CocoGT
from .cocoeval import Matches, Params, match, resolve_params
from .tide import scale_masks

__all__ = ["ECEResult", "check_probabilities", "correctness_from_matches", "detection_correctness",
           "detection_ece", "ece_by_scale"]


def check_probabilities(dets: CocoDets) -> None:
    """The rule for detection scores, stated once: COCO AP and TIDE take any finite score
    (they only rank them, as pycocotools and tidecv do; :mod:`cvcore.detection.coco` rejects NaN
    and inf), but ECE reads scores as probabilities, so they must lie in [0, 1]. Raises
    :class:`InputError` naming the results file and the first detection (0-based, file order)
    outside."""
    outside = ~((dets.scores >= 0) & (dets.scores <= 1))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(f"detection #{i} has score {dets.scores[i]:g} outside [0, 1] (ECE needs "
                         "probabilities)", dets.source)


def detection_correctness(gt: CocoGT, dets: CocoDets, iou: float = 0.5,
                          max_dets: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(detection rows that count, their correctness) under the rules in the module docstring."""
    p = resolve_params(Params(iou_thrs=np.array([iou]), max_dets=[max_dets],
                              area_rng=[[0, 1e10]], area_lbl=["all"], iou_type=gt.iou_type), gt)
    return correctness_from_matches(match(gt, dets, p), p, iou, max_dets)


def correctness_from_matches(m: Matches, p: Params, iou: float = 0.5,
                             max_dets: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """:func:`detection_correctness` read from a COCO matching already made (``m``, under
    ``p``), e.g. the default evaluation's: ``p`` must have the IoU threshold ``iou``, the area
    range [0, 1e10] and a largest max_dets of at least ``max_dets`` (a detection's match only
    depends on those scored above it, so a longer list does not change it)."""
    t = np.flatnonzero(np.asarray(p.iou_thrs) == iou)
    a = [i for i, rng in enumerate(p.area_rng) if list(rng) == [0, 1e10]]
    if not len(t) or not a or p.max_dets[-1] < max_dets:
        raise ValueError(f"the matching has no IoU {iou}, area range [0, 1e10] or {max_dets} "
                         "detections per image and category")
    counted = ~m.ignored[a[0], t[0]] & (m.rank < max_dets)
    return m.det_index[counted], m.matched[a[0], t[0]][counted]


def detection_ece(gt: CocoGT, dets: CocoDets, iou: float = 0.5, n_bins: int = 10,
                  min_score: float = 0.0, det_mask: np.ndarray | None = None) -> ECEResult:
    """Detection ECE; ``det_mask`` (bool over all detections) restricts it, e.g. to a scale.
    Scores must be in [0, 1] (:func:`check_probabilities`)."""
    check_probabilities(dets)
    rows, correct = detection_correctness(gt, dets, iou)
    keep = dets.scores[rows] >= min_score
    if det_mask is not None:
        keep &= det_mask[rows]
    return expected_calibration_error(dets.scores[rows][keep], correct[keep], n_bins)


def ece_by_scale(dets: CocoDets, rows: np.ndarray, correct: np.ndarray, min_score: float = 0.0,
                 n_bins: int = 10) -> dict[str, ECEResult]:
    """``{"all", "small", "medium", "large"}`` -> the ECE of :func:`detection_ece` with each
    scale's ``det_mask`` (box area), from one correctness (``rows, correct`` as
    :func:`detection_correctness` gives them)."""
    score = dets.scores[rows]
    keep = score >= min_score
    masks = {"all": keep} | {name: keep & mask[rows]
                             for name, mask in scale_masks(dets.boxes).items()}
    return {name: expected_calibration_error(score[mask], correct[mask], n_bins)
            for name, mask in masks.items()}
