"""Expected calibration error (ECE) and reliability-diagram data, for detectors and classifiers.

ECE = sum_b n_b / N * |acc_b - conf_b| over 10 equal-width confidence bins, with acc_b the
fraction of correct predictions in bin b and conf_b their mean confidence.

Bin edges are the doubles nearest k/10 (``np.arange(11) / 10``) and bins are [k/10, (k+1)/10),
the last one closed: a score of exactly 0.3 lands in [0.3, 0.4). This matters because ultralytics
rounds scores to 5 decimals, so scores exactly on an edge occur. ``np.linspace(0, 1, 11)`` edges
are 0.30000000000000004, 0.6000000000000001 and 0.7000000000000001 there, which would put scores
of exactly 0.3, 0.6 and 0.7 in the bin below; ``floor(10 * c)`` agrees with our bins on every
5-decimal score (tested). Confidences must lie in [0, 1]; for detections that is
:func:`check_probabilities`, which detect_eval.py applies before any work.

Detection ECE (``detection_ece``): a detection is correct when COCO's greedy matching at IoU 0.5
(per image and category, by score, pycocotools' exact rules via :func:`cvcore.cocoeval.match`)
pairs it with a ground truth of its class. Choices, stated: detections matched to a crowd region
are left out (COCO ignores them, so they are neither right nor wrong); only the 100
highest-scoring detections per image and category count (COCO's maxDets); no score floor by
default (``min_score`` sets one: low-score detections dominate the count otherwise, which is why
ECE numbers for detectors are only comparable at the same floor). Per scale, a detection belongs
to the scale of its own box area (TIDE's boundaries, :func:`cvcore.tide.scale_masks`); its
correctness is the one decided by the full-image matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .coco import CocoDets, CocoGT
from .errors import InputError

BIN_EDGES = np.arange(11) / 10


@dataclass
class ECEResult:
    """ECE in [0, 1] and the reliability-diagram data per bin (accuracy and confidence are nan
    for empty bins)."""

    ece: float
    n: int
    bin_edges: np.ndarray   # float64[B + 1]
    counts: np.ndarray      # int64[B]
    accuracy: np.ndarray    # float64[B]
    confidence: np.ndarray  # float64[B]

    def to_dict(self) -> dict:
        return {"ece": self.ece, "n": self.n, "bin_edges": self.bin_edges.tolist(),
                "counts": self.counts.tolist(), "accuracy": self.accuracy.tolist(),
                "confidence": self.confidence.tolist()}


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               n_bins: int = 10) -> ECEResult:
    """ECE of predictions with ``confidence`` float[N] in [0, 1] and ``correct`` bool[N]."""
    confidence = np.asarray(confidence, np.float64).ravel()
    correct = np.asarray(correct, bool).ravel()
    if len(confidence) != len(correct):
        raise ValueError(f"{len(confidence)} confidences but {len(correct)} correctness flags")
    bad = ~((confidence >= 0) & (confidence <= 1))
    if bad.any():
        raise InputError(f"confidence {confidence[bad][0]} outside [0, 1] (ECE needs "
                         f"probabilities)")
    edges = np.arange(n_bins + 1) / n_bins
    bins = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(bins, weights=correct, minlength=n_bins) / counts
        mean_conf = np.bincount(bins, weights=confidence, minlength=n_bins) / counts
    filled = counts > 0
    n = len(confidence)
    ece = float(np.sum(counts[filled] / n * np.abs(accuracy[filled] - mean_conf[filled])))
    return ECEResult(ece=ece if n else float("nan"), n=n, bin_edges=edges, counts=counts,
                     accuracy=accuracy, confidence=mean_conf)


def classification_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> ECEResult:
    """ECE of a classifier from its softmax ``probs`` float[N, C] and true ``labels`` int[N]:
    confidence is the top probability, correct when the top class is the label."""
    probs = np.asarray(probs, np.float64)
    return expected_calibration_error(probs.max(axis=1), probs.argmax(axis=1) == labels, n_bins)


def check_probabilities(dets: CocoDets) -> None:
    """The rule for detection scores, stated once: COCO AP and TIDE take any finite score (they
    only rank them, as pycocotools and tidecv do; :mod:`cvcore.coco` rejects NaN and inf), but
    ECE reads scores as probabilities, so they must lie in [0, 1]. Raises :class:`InputError`
    naming the results file and the first detection (0-based, file order) outside."""
    outside = ~((dets.scores >= 0) & (dets.scores <= 1))
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError(f"detection #{i} has score {dets.scores[i]:g} outside [0, 1] (ECE needs "
                         "probabilities)", dets.source)


def detection_correctness(gt: CocoGT, dets: CocoDets, iou: float = 0.5,
                          max_dets: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(detection rows that count, their correctness) under the rules in the module docstring."""
    from .cocoeval import Params, match, resolve_params

    p = resolve_params(Params(iou_thrs=np.array([iou]), max_dets=[max_dets],
                              area_rng=[[0, 1e10]], area_lbl=["all"]), gt)
    m = match(gt, dets, p)
    counted = ~m.ignored[0, 0]
    return m.det_index[counted], m.matched[0, 0][counted]


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
