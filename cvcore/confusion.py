"""Confusion matrices and the per-class scores read from them (classification and segmentation).

``confusion_matrix(target, pred, num_classes, ignore_index=None) -> int64[K, K]`` counts rows =
truth, columns = prediction, as ``sklearn.metrics.confusion_matrix(target, pred,
labels=range(K))``; a parallel Numba kernel, so 40 Mpx of segmentation labels take a few tens of
milliseconds. Pass ``out=`` to accumulate over batches. ``per_class_scores(cm)`` gives
precision, recall, F1 (= Dice), IoU and support per class, nan where undefined (0 / 0), which is
what the reference report printed and what scikit-learn's ``zero_division=np.nan`` gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

CHUNK = 1 << 20


@numba.njit(cache=True, nogil=True, parallel=True)
def _confusion_kernel(target, pred, num_classes, ignore, out):
    n = target.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    partial = np.zeros((n_chunks, num_classes, num_classes), np.int64)
    bad = np.zeros(n_chunks, np.int64)
    for c in numba.prange(n_chunks):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            t = np.int64(target[i])
            if t == ignore:
                continue
            p = np.int64(pred[i])
            if t < 0 or t >= num_classes or p < 0 or p >= num_classes:
                bad[c] += 1
                continue
            partial[c, t, p] += 1
    for c in range(n_chunks):
        out += partial[c]
    return bad.sum()


def confusion_matrix(target, pred, num_classes: int, ignore_index: int | None = None,
                     out: np.ndarray | None = None) -> np.ndarray:
    """Count (truth, prediction) pairs of two same-shape integer arrays (any shape).

    Truth equal to ``ignore_index`` is skipped; any other value outside [0, K) is an error.
    With ``out`` (int64[K, K]) the counts are added to it and it is returned.
    """
    target = np.ascontiguousarray(target).ravel()
    pred = np.ascontiguousarray(pred).ravel()
    if target.shape != pred.shape:
        raise ValueError(f"target has {target.size} values, prediction {pred.size}")
    if out is None:
        out = np.zeros((num_classes, num_classes), np.int64)
    ignore = -(2 ** 62) if ignore_index is None else int(ignore_index)
    bad = _confusion_kernel(target, pred, num_classes, ignore, out)
    if bad:
        raise ValueError(f"{bad} labels outside [0, {num_classes}) (and not the ignore index)")
    return out


@dataclass
class ClassScores:
    """Per-class scores (float64[K], nan where undefined) and support (int64[K], truth count)."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    iou: np.ndarray
    support: np.ndarray


def per_class_scores(cm: np.ndarray) -> ClassScores:
    """Precision, recall, F1 (= Dice) and IoU per class from a confusion matrix."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / predicted
        recall = tp / actual
        f1 = 2 * tp / (predicted + actual)
        iou = tp / (predicted + actual - tp)
    return ClassScores(precision, recall, f1, iou, actual.astype(np.int64))


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")
