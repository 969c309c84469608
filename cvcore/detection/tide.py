"""TIDE error breakdown (Bolya et al., ECCV 2020) with tidecv 1.0.1's numbers, box and mask mode.

``tide(gt, dets) -> TideResult`` gives AP@50 and, for each error type, the AP@50 gained by fixing
only that type (dAP), exactly as ``tidecv.TIDE().evaluate(gt, preds, mode=TIDE.BOX)`` and
``get_main_errors()`` / ``get_special_errors()`` do. ``tide(gt, dets, gt_masks=, det_masks=)`` is
``mode=TIDE.MASK``: the same rules on mask IoU (pycocotools' ``iou`` on RLEs, crowd regions'
masks as intersection over the detection's mask area), ground-truth masks built as tidecv's COCO
loader builds them (polygons merged, RLE as is: :func:`cvcore.detection.rle.from_segmentations`).
``tide_by_scale`` adds the same breakdown per object scale, which tidecv 1.0.1 does not implement.

One parallel kernel does all of it (``_tide_kernel``), for several breakdowns of the same data at
once (:func:`tide_runs`; ``tide_by_scale`` runs its four together): it ranks the detections,
matches and classifies each image's errors for every breakdown, then computes every class's
AP@50 in every fixed run from the positions of its true positives. Box IoUs are computed in the
kernel, image by image; mask IoUs come in per-image blocks (:func:`iou_blocks`, detections x
ground truth and detections x crowd regions) computed once, whatever the number of breakdowns.

tidecv's rules, reproduced (they differ from pycocotools' in several places):

- all classes of an image are matched together: detections sorted by score (stable), at most 100
  per image across classes; each takes the same-class ground truth of highest IoU still free
  (``argmax``: the lowest index on ties, where pycocotools takes the later one) if that IoU >= 0.5;
- crowd annotations are ignore regions: an unmatched detection of the region's class whose
  intersection-over-detection-area is strictly above 0.5 (pycocotools: >=) is ignored;
- each unmatched or ignored detection gets the first error that applies: Loc (best same-class IoU
  in [0.1, 0.5], inclusive), Cls (IoU >= 0.5 with another class), Dupe (IoU >= 0.5 with a
  same-class ground truth already matched), Bkg (IoU <= 0.1 with everything), else Both;
  in an image without ground truth every such detection is Bkg; ground truth left unmatched and
  not claimed by a Loc/Cls error is Miss;
- fixing Cls/Loc turns the highest-scoring error on each free ground truth into a true positive
  (Cls: in the ground truth's class) and drops the others; fixing Dupe/Bkg/Both drops those false
  positives; fixing Miss removes those ground truths from the positives; FalsePos scores true
  positives 1 and false positives 0; FalseNeg removes every unmatched ground truth;
- AP@50 per class: precision ``tp / (tp + fp)`` (no epsilon) made monotone, read at recall
  ``i / 100`` for i = 0..100 (pycocotools uses ``np.linspace``, a float step off for ten of them,
  so tidecv's AP50 differs slightly from COCO's), averaged, times 100; a class with detections but
  no ground truth counts with AP 0; mAP is the mean over classes with any ground truth or
  detection; main dAPs are clipped at 0, special ones are not. Data-point order on tied scores
  follows tidecv's (a fixed run lists error detections before the true positives).

Per scale (our extension): small (w·h <= 32²), medium (32² < w·h <= 96²) and large (w·h > 96²),
using TIDE's own area qualifiers on box areas (in mask mode too: they read the box). Ground
truth and predictions are both filtered by their box area into the scale and TIDE runs on what
is left; crowd regions stay in every scale.
This is the reference report's hand filtering made a rule: running tidecv on the filtered files
gives the same numbers (tested).

CLI: ``python -m cvcore.tide GT.json RESULTS.json [--json OUT] [--by-scale] [--iou-type segm]``;
with ``segm`` the results are read by pycocotools' ``loadRes`` rule (cvcore.detection.coco: a
detection without a ``segmentation`` is its box as a polygon, where tidecv would fail).
Scores may be any finite number (only their order counts). Bad input (see cvcore.detection.coco; an
``--json`` path that is a folder) is one ``error:`` line and exit code 2 before any work; Ctrl-C
prints ``interrupted`` (exit 130).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numba
import numpy as np

from ..boxes import iou_block
from ..errors import run_cli
from ..runs import check_output_path
from .coco import CocoDets, CocoGT, cli_parser, load_gt_and_results, one_box_case
from .rle import Rles, from_boxes, mask_iou_blocks

MAIN_ERRORS = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")
SPECIAL_ERRORS = ("FalsePos", "FalseNeg")
CLS, LOC, BOTH, DUPE, BKG = range(5)  # det_error codes; MAIN_ERRORS order
TP, FP, IGNORED = 1, 0, 2             # det_state codes
MAX_DETS = 100
SCALES = {"small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2), "large": (96.0 ** 2, np.inf)}


@dataclass
class TideResult:
    """AP@50 and the dAPs, all in AP points (0-100) like tidecv; ``counts`` per error type."""

    ap50: float
    main: dict[str, float]
    special: dict[str, float]
    counts: dict[str, int]
    n_gt: int
    n_dets: int
    per_class_ap50: dict[int, float] = field(default_factory=dict)
    mode: str = "bbox"  # tidecv's TIDE.BOX ("bbox") or TIDE.MASK ("mask")

    def to_dict(self) -> dict:
        return {"mode": self.mode, "ap50": self.ap50, "main": self.main,
                "special": self.special, "counts": self.counts, "n_gt": self.n_gt,
                "n_dets": self.n_dets}


def _block_offsets(det_start: np.ndarray, gt_start: np.ndarray) -> np.ndarray:
    """Offsets int64[I + 1] of each image's row-major [nd, ng] IoU block in a flat array."""
    sizes = np.diff(det_start) * np.diff(gt_start)
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


# The runs whose AP@50 each TIDE breakdown needs (axis 1 of the kernel's ``ap`` output): the
# original, one fixed run per main error type (1 + code), Miss, FalsePos and FalseNeg.
N_RUNS = 9
RUN_MISS, RUN_FALSE_POS, RUN_FALSE_NEG = 6, 7, 8
MOVED_IN, NO_FIX = 5, -2  # a fixed Cls error in its new class; a run fixing no error kind


@numba.njit(cache=True, nogil=True, inline="always")
def _class_ap(tp_at, n_true, n, n_gt, best):
    """tidecv's AP of one class (its ``_ap50``: precision n_tp / (i + 1) made monotone from the
    right, read at recall i / 100 by ``searchsorted``) from the positions ``tp_at[:n_true]`` of
    the true positives among its ``n`` data points in rank order. Precision only rises at a true
    positive, so the monotone precision at a true positive is the best of those from it on
    (``best``: scratch of n_true values), and recall first reaches b / 100 at a true positive."""
    if n_gt == 0:
        return 0.0
    for t in range(n_true - 1, -1, -1):
        best[t] = (t + 1) / (tp_at[t] + 1)
        if t + 1 < n_true and best[t + 1] > best[t]:
            best[t] = best[t + 1]
    total = 0.0
    t = 0  # true positives needed to reach recall b / 100
    for b in range(101):
        while t <= n_true and t / n_gt < b / 100:
            t += 1
        if t > n_true:
            break
        if t == 0:  # recall 0 is reached at the first data point
            if n > 0:
                total += best[0] if n_true > 0 else 0.0
        else:
            total += best[t - 1]
    return total / 101 * 100


@numba.njit(cache=True, nogil=True, parallel=True)
def _tide_kernel(det_start, det_cls, det_score, det_in, gt_start, gt_cls, gt_in, crowd_start,
                 crowd_cls, crowd_in, masks, det_boxes, gt_boxes, crowd_boxes, iou_flat,
                 iou_offsets, crowd_flat, crowd_offsets, n_gt, pos_thresh, bg_thresh, det_state,
                 det_error, det_error_gt, gt_used, gt_usable, gt_best_det, gt_best_score, ap,
                 n_points):
    """All of R TIDE breakdowns at once: matching and error kinds per image (in parallel), then
    the AP@50 of every class in every fixed run (in parallel over classes).

    Detections (D rows) are grouped by image (``det_start`` int64[I + 1], tidecv's image
    order; the kernel ranks them by score in an image, stably); ground truth (G rows) and crowd
    regions (C rows) are grouped by image in file order. ``det_in`` bool[R, D], ``gt_in``
    bool[R, G], ``crowd_in`` bool[R, C]: what each breakdown sees (it takes its first
    MAX_DETS detections of an image). Box mode (``masks`` False) computes each image's IoUs
    from the xywh ``det_boxes``, ``gt_boxes``, ``crowd_boxes`` (pycocotools' bbIou); mask mode
    reads them from ``iou_flat``, each image's [nd, ng] detection x ground-truth mask IoU block
    (row-major, at ``iou_offsets``), and ``crowd_flat``, its [nd, nc] intersection over the
    detection's area with the crowd regions. Either way one set serves every breakdown.
    Writes det_state, det_error, det_error_gt [R, D] (-1 for detections a breakdown does not
    take), gt_used, gt_usable, gt_best_det [R, G], n_gt int64[R, 3, K] (each breakdown's ground
    truth per class, without its misses, and only its matched ones) and ap, n_points
    [R, N_RUNS, K] (AP@50 of each class in each run, and its number of data points)."""
    n_img, n_runs = det_start.shape[0] - 1, det_in.shape[0]
    n_det, n_cls = det_cls.shape[0], n_gt.shape[2]
    no_crowd = np.zeros(gt_cls.shape[0], np.bool_)
    all_crowd = np.ones(crowd_cls.shape[0], np.bool_)
    # tidecv's detection order: images in order, by score in an image (stable); ``perm`` lists
    # the rows in that order, ``position`` is each row's place in it.
    perm = np.empty(n_det, np.int64)
    position = np.empty(n_det, np.int64)
    for img in numba.prange(n_img):
        d0, d1 = det_start[img], det_start[img + 1]
        perm[d0:d1] = d0 + np.argsort(-det_score[d0:d1], kind="mergesort")
        for i in range(d0, d1):
            position[perm[i]] = i
        g0, g1 = gt_start[img], gt_start[img + 1]
        c0, c1 = crowd_start[img], crowd_start[img + 1]
        ng, nc = g1 - g0, c1 - c0
        if masks:
            iou = iou_flat[iou_offsets[img]:iou_offsets[img + 1]].reshape(d1 - d0, ng)
            crowd_iou = crowd_flat[crowd_offsets[img]:crowd_offsets[img + 1]].reshape(d1 - d0, nc)
        else:
            iou = iou_block(det_boxes, d0, d1, gt_boxes, g0, g1, no_crowd)
            crowd_iou = iou_block(det_boxes, d0, d1, crowd_boxes, c0, c1, all_crowd)
        for r in range(n_runs):
            taken = 0
            for i in range(d0, d1):  # greedy, all classes together, argmax -> lowest index on ties
                d = perm[i]
                if not det_in[r, d] or taken == MAX_DETS:
                    continue
                taken += 1
                best, m = 0.0, -1
                for g in range(ng):
                    if not gt_in[r, g0 + g] or gt_used[r, g0 + g] or gt_cls[g0 + g] != det_cls[d]:
                        continue
                    v = iou[d - d0, g]
                    if m == -1 or v > best:
                        best, m = v, g
                if m >= 0 and best >= pos_thresh:
                    det_state[r, d] = TP
                    gt_used[r, g0 + m] = True
                else:
                    det_state[r, d] = FP
            for c in range(nc):
                if not crowd_in[r, c0 + c]:
                    continue
                for d in range(d0, d1):
                    if (det_state[r, d] == FP and crowd_cls[c0 + c] == det_cls[d]
                            and crowd_iou[d - d0, c] > pos_thresh):
                        det_state[r, d] = IGNORED
            ng_in = 0
            for g in range(g0, g1):
                if gt_in[r, g]:
                    ng_in += 1
            for i in range(d0, d1):  # by score: the first error on a ground truth wins ties
                d = perm[i]
                if det_state[r, d] < 0 or det_state[r, d] == TP:
                    continue
                if ng_in == 0:
                    det_error[r, d] = BKG
                    continue
                # argmax over same-class, other-class, matched same-class and all ground truth.
                same, other, dupe, anything = -1, -1, -1, -1
                v_same, v_other, v_dupe, v_any = 0.0, 0.0, 0.0, 0.0
                for g in range(ng):
                    if not gt_in[r, g0 + g]:
                        continue
                    v = iou[d - d0, g]
                    if gt_cls[g0 + g] == det_cls[d]:
                        if same == -1 or v > v_same:
                            same, v_same = g, v
                        if gt_used[r, g0 + g] and (dupe == -1 or v > v_dupe):
                            dupe, v_dupe = g, v
                    elif other == -1 or v > v_other:
                        other, v_other = g, v
                    if anything == -1 or v > v_any:
                        anything, v_any = g, v
                if same >= 0 and bg_thresh <= v_same <= pos_thresh:
                    error, target = LOC, same
                elif other >= 0 and v_other >= pos_thresh:
                    error, target = CLS, other
                elif dupe >= 0 and v_dupe >= pos_thresh:
                    error, target = DUPE, -1
                elif v_any <= bg_thresh:
                    error, target = BKG, -1
                else:
                    error, target = BOTH, -1
                det_error[r, d] = error
                if target >= 0:
                    g = g0 + target
                    det_error_gt[r, d] = g
                    if not gt_used[r, g]:
                        gt_usable[r, g] = True
                        if gt_best_score[r, g] < det_score[d]:
                            gt_best_score[r, g] = det_score[d]
                            gt_best_det[r, g] = d

    for r in range(n_runs):  # ground truth per class; its Miss-fixed and FalseNeg-fixed counts
        for g in range(gt_cls.shape[0]):
            if gt_in[r, g]:
                n_gt[r, 0, gt_cls[g]] += 1
                n_gt[r, 1, gt_cls[g]] += gt_used[r, g] or gt_usable[r, g]
                n_gt[r, 2, gt_cls[g]] += gt_used[r, g]

    # Data points of a class, in every run, are its detections by score (descending); on tied
    # scores the original run keeps detection order and a fixed run lists the errors first
    # (tidecv appends its true positives last). ``by_class``: the detections grouped by class,
    # by score in a class (stable, from detection order); fixed Cls errors join their ground
    # truth's class at their place by score.
    cls_start = np.zeros(n_cls + 1, np.int64)
    for d in range(n_det):
        cls_start[det_cls[d] + 1] += 1
    for k in range(n_cls):
        cls_start[k + 1] += cls_start[k]
    by_class = np.empty(n_det, np.int64)
    fill = cls_start[:-1].copy()
    for i in range(n_det):
        d = perm[i]
        by_class[fill[det_cls[d]]] = d
        fill[det_cls[d]] += 1
    # Winning Cls errors of each breakdown, grouped by their ground truth's class (sorted by
    # score below, with each class's own detections).
    moved_start = np.zeros((n_runs, n_cls + 1), np.int64)
    moved = np.empty((n_runs, n_det), np.int64)
    for r in range(n_runs):
        count = np.zeros(n_cls + 1, np.int64)
        target = np.full(n_det, -1, np.int64)
        for d in range(n_det):
            if det_state[r, d] >= 0 and det_error[r, d] == CLS:
                g = det_error_gt[r, d]
                if not gt_used[r, g] and gt_best_det[r, g] == d:
                    target[d] = gt_cls[g]
                    count[gt_cls[g] + 1] += 1
        for k in range(n_cls):
            count[k + 1] += count[k]
        moved_start[r] = count
        for i in range(n_det):
            d = perm[i]
            if target[d] >= 0:
                moved[r, count[target[d]]] = d
                count[target[d]] += 1

    for k in numba.prange(n_cls):
        b0, b1 = cls_start[k], cls_start[k + 1]
        rows = by_class[b0:b1].copy()
        by_class[b0:b1] = rows[np.argsort(-det_score[rows], kind="mergesort")]
        for r in range(n_runs):
            _class_runs(r, k, by_class, b0, b1, moved, moved_start, det_score, position,
                        det_state, det_error, det_error_gt, gt_used, gt_best_det, n_gt, ap,
                        n_points)


@numba.njit(cache=True, nogil=True, inline="always")
def _class_runs(r, k, by_class, b0, b1, moved, moved_start, det_score, position, det_state,
                det_error, det_error_gt, gt_used, gt_best_det, n_gt, ap, n_points):
    """AP@50 of class ``k`` in every fixed run of breakdown ``r`` (see _tide_kernel)."""
    rows = moved[r, moved_start[r, k]:moved_start[r, k + 1]].copy()
    moved[r, moved_start[r, k]:moved_start[r, k + 1]] = rows[
        np.argsort(-det_score[rows], kind="mergesort")]
    m0, m1 = moved_start[r, k], moved_start[r, k + 1]
    n = b1 - b0 + m1 - m0
    # The class's candidates by score, its own detections merged with the Cls errors moving
    # in (those count in the fixed-Cls run only): score, data point in the original run (-1
    # none, 0 false positive, 1 true positive), error kind, data point when that is fixed.
    score = np.empty(n)
    base = np.empty(n, np.int8)
    code = np.empty(n, np.int8)
    fixed = np.empty(n, np.int8)
    i, j = b0, m0
    n = 0  # detections this breakdown does not take are left out
    tied = False
    while i < b1 or j < m1:
        if j == m1 or (i < b1 and (
                det_score[by_class[i]] > det_score[moved[r, j]]
                or (det_score[by_class[i]] == det_score[moved[r, j]]
                    and position[by_class[i]] < position[moved[r, j]]))):
            d = by_class[i]
            i += 1
            st = det_state[r, d]
            if st < 0:
                continue
            base[n] = 1 if st == TP else (0 if st == FP else -1)
            code[n] = det_error[r, d]
            fixed[n] = -1  # a fixed error is dropped, unless it wins its ground truth
            if code[n] == LOC:  # (a winning Cls error moves to its ground truth's class)
                g = det_error_gt[r, d]
                if not gt_used[r, g] and gt_best_det[r, g] == d:
                    fixed[n] = 1
        else:
            d = moved[r, j]
            j += 1
            base[n], code[n], fixed[n] = -1, MOVED_IN, 1
        score[n] = det_score[d]
        tied = tied or (n > 0 and score[n] == score[n - 1])
        n += 1
    tp_at = np.empty(n, np.int64)  # positions of the true positives among the points
    best = np.empty(n)
    for run in range(N_RUNS):
        n_flags = 0
        n_true = 0
        if run == 0 or run == RUN_FALSE_POS:
            for q in range(n):
                if base[q] >= 0:
                    if base[q] == 1:
                        tp_at[n_true] = n_flags
                        n_true += 1
                    n_flags += 1
            if run == RUN_FALSE_POS:  # true positives scored 1 come first
                tp_at[:n_true] = np.arange(n_true)
        else:
            fixes = run - 1 if run <= 5 else NO_FIX
            moves = MOVED_IN if run == 1 + CLS else NO_FIX
            q = 0
            while q < n:  # each group of tied scores: errors first, then true positives
                end = q + 1
                while tied and end < n and score[end] == score[q]:
                    end += 1
                group = end > q + 1
                for true_last in range(2 if group else 1):
                    for i in range(q, end):
                        if group and (base[i] == 1) != (true_last == 1):
                            continue
                        f = fixed[i] if code[i] == fixes or code[i] == moves else base[i]
                        if f == 1:
                            tp_at[n_true] = n_flags
                            n_true += 1
                        if f >= 0:
                            n_flags += 1
                q = end
        gts = n_gt[r, 1, k] if run == RUN_MISS else (
            n_gt[r, 2, k] if run == RUN_FALSE_NEG else n_gt[r, 0, k])
        ap[r, run, k] = _class_ap(tp_at, n_true, n_flags, gts, best)
        n_points[r, run, k] = n_flags


def _mean_ap(ap: np.ndarray, n_points: np.ndarray, n_gt: np.ndarray) -> float:
    """tidecv's mAP: the mean over classes with data points or ground truth (0 without any),
    summed in class order."""
    present = (n_points > 0) | (n_gt != 0)
    return float(sum(ap[present].tolist()) / present.sum()) if present.any() else 0.0


def iou_blocks(det_start: np.ndarray, dets: Rles, d_idx: np.ndarray, gt_start: np.ndarray,
               gts: Rles, g_idx: np.ndarray, crowd: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-image mask IoU blocks ``(flat float64[sum nd*ng], offsets int64[I + 1])``.

    ``det_start`` / ``gt_start`` (int64[I + 1]) delimit each image's entries of the index arrays
    ``d_idx`` / ``g_idx`` (rows of the masks ``dets`` / ``gts``; pycocotools' rleIou, masks of an
    image share its size). Image i's block is ``flat[offsets[i]:offsets[i + 1]].reshape(nd,
    ng)``; ``crowd`` makes every ground-truth row a crowd region (intersection over the
    detection's area)."""
    offsets = _block_offsets(det_start, gt_start)
    out = np.zeros(offsets[-1])
    mask_iou_blocks(det_start, gt_start, offsets, dets, d_idx, gts, g_idx,
                    np.full(len(g_idx), crowd), out)
    return out, offsets


def tide_runs(gt: CocoGT, dets: CocoDets, gt_keeps: list[np.ndarray],
              det_keeps: list[np.ndarray], pos_thresh: float = 0.5, bg_thresh: float = 0.1,
              gt_masks: Rles | None = None, det_masks: Rles | None = None) -> list[TideResult]:
    """TIDE on several subsets of the same ground truth and detections at once: breakdown r sees
    the annotations ``gt_keeps[r]`` (bool over ``gt``'s annotations, crowd regions included)
    and the detections ``det_keeps[r]`` (bool over ``dets``); each is exactly :func:`tide` on
    its subset. The IoU blocks are computed once, for the detections any breakdown takes."""
    if (gt_masks is None) != (det_masks is None):
        raise ValueError("mask mode needs both gt_masks and det_masks")
    n_runs = len(gt_keeps)
    gt_keeps = np.array(gt_keeps, np.bool_).reshape(n_runs, len(gt.ann_ids))
    det_keeps = np.array(det_keeps, np.bool_).reshape(n_runs, len(dets.ids))
    image_ids = gt.image_ids  # tidecv walks the images in the file's order
    n_img = len(image_ids)
    order_of_image = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order_of_image]

    def image_pos(ids):
        return order_of_image[np.searchsorted(sorted_ids, ids)]

    def grouped(rows):  # rows in image order (stable), and each image's offsets
        pos = image_pos(gt.ann_image_ids[rows])
        order = np.argsort(pos, kind="stable")
        return rows[order], np.searchsorted(pos[order], np.arange(n_img + 1)).astype(np.int64)

    any_gt = gt_keeps.any(axis=0)
    g, g_start = grouped(np.flatnonzero(any_gt & ~gt.iscrowd))
    c, c_start = grouped(np.flatnonzero(any_gt & gt.iscrowd))
    # Detections some breakdown sees, by image (stable: the kernel ranks them by score).
    d = np.flatnonzero(det_keeps.any(axis=0))
    d_img = image_pos(dets.image_ids[d])
    order = np.argsort(d_img, kind="stable")  # fast when the file lists images together
    d = d[order]
    d_start = np.searchsorted(d_img[order], np.arange(n_img + 1)).astype(np.int64)
    det_in = np.ascontiguousarray(det_keeps[:, d])

    cat_ids = np.sort(gt.cat_ids)
    n_cls = len(cat_ids)
    gt_cls = np.searchsorted(cat_ids, gt.ann_cat_ids[g])
    det_cls = np.searchsorted(cat_ids, dets.cat_ids[d])
    score = dets.scores[d]
    gt_in = np.ascontiguousarray(gt_keeps[:, g])
    n_det, n_gt_rows = len(d), len(g)
    det_state = np.full((n_runs, n_det), -1, np.int8)
    det_error = np.full((n_runs, n_det), -1, np.int8)
    det_error_gt = np.full((n_runs, n_det), -1, np.int64)
    gt_used = np.zeros((n_runs, n_gt_rows), np.bool_)
    gt_usable = np.zeros((n_runs, n_gt_rows), np.bool_)
    gt_best_det = np.full((n_runs, n_gt_rows), -1, np.int64)
    n_gt = np.zeros((n_runs, 3, n_cls), np.int64)
    if gt_masks is None:  # the kernel computes box IoUs image by image
        no_blocks = np.zeros(0), np.zeros(n_img + 1, np.int64)
        shapes = (dets.boxes[d], gt.boxes[g], gt.boxes[c], *no_blocks, *no_blocks)
    else:  # mask IoUs (run lengths) image by image, then the kernel reads them
        shapes = (np.zeros((0, 4)), np.zeros((0, 4)), np.zeros((0, 4)),
                  *iou_blocks(d_start, det_masks, d, g_start, gt_masks, g, crowd=False),
                  *iou_blocks(d_start, det_masks, d, c_start, gt_masks, c, crowd=True))
    ap = np.zeros((n_runs, N_RUNS, n_cls))
    n_points = np.zeros((n_runs, N_RUNS, n_cls), np.int64)
    _tide_kernel(d_start, det_cls, score, det_in, g_start, gt_cls, gt_in, c_start,
                 np.searchsorted(cat_ids, gt.ann_cat_ids[c]),
                 np.ascontiguousarray(gt_keeps[:, c]),
                 gt_masks is not None, *shapes, n_gt, pos_thresh, bg_thresh,
                 det_state, det_error, det_error_gt, gt_used, gt_usable, gt_best_det,
                 np.full((n_runs, n_gt_rows), -1.0), ap, n_points)
    results = []
    for r in range(n_runs):
        maps = [_mean_ap(ap[r, run], n_points[r, run],
                         n_gt[r, 1 if run == RUN_MISS else 2 if run == RUN_FALSE_NEG else 0])
                for run in range(N_RUNS)]
        ap50 = maps[0]
        main = {name: max(maps[1 + code] - ap50, 0.0)
                for code, name in enumerate(MAIN_ERRORS[:5])}
        main["Miss"] = max(maps[RUN_MISS] - ap50, 0.0)
        special = {"FalsePos": maps[RUN_FALSE_POS] - ap50, "FalseNeg": maps[RUN_FALSE_NEG] - ap50}
        errors = det_error[r]
        counts = dict(zip(MAIN_ERRORS[:5], np.bincount(errors[errors >= 0], minlength=5).tolist(),
                          strict=True))
        counts["Miss"] = int((gt_in[r] & ~gt_used[r] & ~gt_usable[r]).sum())
        results.append(TideResult(
            ap50=ap50, main=main, special=special, counts=counts, n_gt=int(gt_in[r].sum()),
            n_dets=int(det_keeps[r].sum()),
            per_class_ap50={int(cat_ids[k]): float(ap[r, 0, k])
                            for k in np.flatnonzero(n_gt[r, 0] > 0).tolist()},
            mode="bbox" if gt_masks is None else "mask"))
    return results


def tide(gt: CocoGT, dets: CocoDets, gt_keep: np.ndarray | None = None,
         det_keep: np.ndarray | None = None, pos_thresh: float = 0.5,
         bg_thresh: float = 0.1, gt_masks: Rles | None = None,
         det_masks: Rles | None = None) -> TideResult:
    """TIDE on all of ``gt`` and ``dets`` (or the subsets selected by the boolean masks).

    Box mode (``TIDE.BOX``) by default; with ``gt_masks`` (Rles, one per annotation of ``gt``,
    crowd regions included) and ``det_masks`` (one per detection) it is tidecv's mask mode
    (``TIDE.MASK``): every IoU, crowd regions' included, is the masks' (pycocotools' rleIou)."""
    gt_keep = np.ones(len(gt.ann_ids), bool) if gt_keep is None else gt_keep
    det_keep = np.ones(len(dets.ids), bool) if det_keep is None else det_keep
    return tide_runs(gt, dets, [gt_keep], [det_keep], pos_thresh, bg_thresh, gt_masks,
                     det_masks)[0]




def scale_masks(boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of boxes (xywh) in each scale by box area, TIDE's qualifier boundaries."""
    area = boxes[:, 2] * boxes[:, 3]
    return {name: (area > lo if lo > 0 else area >= lo) & (area <= hi)
            for name, (lo, hi) in SCALES.items()}


def tide_by_scale(gt: CocoGT, dets: CocoDets, gt_masks: Rles | None = None,
                  det_masks: Rles | None = None) -> dict[str, TideResult]:
    """``{"all", "small", "medium", "large"}`` -> TideResult; see the module docstring (the
    scales are by box area in mask mode too, as tidecv's qualifiers). The four breakdowns run
    together (:func:`tide_runs`: one set of IoU blocks, one kernel call)."""
    gt_scale, det_scale = scale_masks(gt.boxes), scale_masks(dets.boxes)
    gt_keeps = [np.ones(len(gt.ann_ids), bool)] + [gt_scale[s] | gt.iscrowd for s in SCALES]
    det_keeps = [np.ones(len(dets.ids), bool)] + [det_scale[s] for s in SCALES]
    results = tide_runs(gt, dets, gt_keeps, det_keeps, gt_masks=gt_masks, det_masks=det_masks)
    return dict(zip(["all", *SCALES], results, strict=True))


def _table(rows: list[list[str]], title: str) -> str:
    """tidecv's ``print_table`` layout."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    divider = "--" + "---".join("-" * w for w in widths) + "-"
    lines = [title.rjust((len(divider) - len(title)) // 2 + len(title)), divider.replace("-", "=")]
    for i, row in enumerate(rows):
        lines.append("  " + "   ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + "  ")
        if i == 0:
            lines.append(divider)
    lines.append(divider.replace("-", "="))
    return "\n".join(lines)


def format_result(result: TideResult, name: str = "results") -> str:
    """The tables ``tidecv.TIDE.summarize()`` prints."""
    return "\n".join([
        f"-- {name} --", "", f"{result.mode} AP @ 50: {result.ap50:.2f}", "",
        _table([["Type", *MAIN_ERRORS], [" dAP", *(f"{result.main[e]:6.2f}" for e in MAIN_ERRORS)]],
               "Main Errors"), "",
        _table([["Type", *SPECIAL_ERRORS],
                [" dAP", *(f"{result.special[e]:6.2f}" for e in SPECIAL_ERRORS)]],
               "Special Error"), ""])


def warm_up(masks: bool = False) -> None:
    """Load Numba and this module's cached kernels ahead of use (a one-box TIDE run, and with
    ``masks`` the same box as a mask); the CLI does it while its input files are parsed (see
    coco.load_gt_and_results)."""
    gt, dets = one_box_case()
    tide(gt, dets)
    if masks:
        tide(gt, dets, gt_masks=from_boxes(gt.boxes, 10, 10),
             det_masks=from_boxes(dets.boxes, 10, 10))


def mask_args(gt: CocoGT, dets: CocoDets) -> dict:
    """``tide`` / ``tide_by_scale`` keyword arguments for what ``gt`` was loaded for: the masks
    (mask mode) when it was loaded for 'segm', none (box mode) otherwise."""
    return ({"gt_masks": gt.segms, "det_masks": dets.segms} if gt.iou_type == "segm" else {})


def parse_args(argv=None, prog: str = "python -m cvcore.tide") -> argparse.Namespace:
    parser = cli_parser(prog, "TIDE error breakdown, tidecv's numbers.",
                        "write ap50, main and special dAPs here")
    parser.add_argument("--by-scale", action="store_true", help="also per object scale")
    parser.add_argument("--iou-type", choices=("bbox", "segm"), default="bbox",
                        help="compare boxes (tidecv's TIDE.BOX) or masks (TIDE.MASK)")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from ..atomic import write_json

    check_output_path(args.json)
    segm = args.iou_type == "segm"
    gt, dets = load_gt_and_results(args.gt, args.results, meanwhile=lambda: warm_up(segm),
                                   iou_type=args.iou_type)
    masks = mask_args(gt, dets)
    results = (tide_by_scale(gt, dets, **masks) if args.by_scale
               else {"all": tide(gt, dets, **masks)})
    name = Path(args.results).stem
    for scale, result in results.items():
        print(format_result(result, name if scale == "all" else f"{name} ({scale})"))
    if args.json:
        data = results["all"].to_dict()
        if args.by_scale:
            data["by_scale"] = {k: v.to_dict() for k, v in results.items() if k != "all"}
        write_json(args.json, data)


def cli(argv=None, prog: str = "python -m cvcore.tide") -> None:
    """The command line: ``python -m cvcore.tide`` and ``cvcore tide``."""
    # As the process's own command line (argv None) it ends without the interpreter's teardown
    # (errors.run_cli); called with arguments (tests, other code) it returns normally.
    run_cli(lambda: main(parse_args(argv, prog)), fast_exit=argv is None)


if __name__ == "__main__":
    cli()
