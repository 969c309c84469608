"""Expected calibration error (ECE) and reliability-diagram data: the generic binning, and ECE
of a classifier.

ECE = sum_b n_b / N * |acc_b - conf_b| over 10 equal-width confidence bins, with acc_b the
fraction of correct predictions in bin b and conf_b their mean confidence.

Bin edges are the doubles nearest k/10 (``np.arange(11) / 10``) and bins are [k/10, (k+1)/10),
the last one closed: a score of exactly 0.3 lands in [0.3, 0.4). This matters because ultralytics
rounds scores to 5 decimals, so scores exactly on an edge occur. ``np.linspace(0, 1, 11)`` edges
are 0.30000000000000004, 0.6000000000000001 and 0.7000000000000001 there, which would put scores
of exactly 0.3, 0.6 and 0.7 in the bin below; ``floor(10 * c)`` agrees with our bins on every
5-decimal score (tested). Confidences must lie in [0, 1]; for detections that is
:func:`check_probabilities`, which detect_eval.py applies before any work.

Detection ECE (COCO matching decides correctness) lives in :mod:`cvcore.detection.ece`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
