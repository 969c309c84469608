"""COCO AP for boxes, masks and keypoints with pycocotools' numbers, on a few Numba kernels.

``evaluate(gt, dets, params) -> CocoEvalResult`` reproduces ``COCOeval(gt, dt, iou_type)``
followed by ``evaluate(); accumulate(); summarize()`` for ``params.iou_type`` 'bbox', 'segm' or
'keypoints': the summary stats (12; 10 for keypoints), ``precision[T,R,K,A,M]``,
``recall[T,K,A,M]`` and ``scores[T,R,K,A,M]`` agree with pycocotools to the last bit on the same
inputs (tested on random cases and on real data). The steps are public for the pycocotools
drop-in: :func:`match` (per-detection matches, incl. the matched ground-truth row) and
:func:`accumulate` (precision/recall from plain per-detection arrays).

Only the similarity differs between the types; each image x category group gets one block:

- bbox: box IoU (pycocotools' bbIou);
- segm: mask IoU on run-length masks (:mod:`.rle`, pycocotools' rleIou: boxes first, masks never
  decoded to pixels); ground truth masks come from ``annToRLE`` with the image's size;
- keypoints: OKS as ``computeOks``: ``exp(-(dx² + dy²) / (2 sigma)² / (area + eps) / 2)``
  averaged over the ground truth's visible keypoints; a person with none visible is compared by
  each detected keypoint's distance outside its box grown by the box's width / height on every
  side, averaged over all keypoints. ``exp`` is NumPy's and the mean is summed in NumPy's
  pairwise order, so every OKS is pycocotools' bit for bit.

The rules reproduced, with pycocotools' traps kept on purpose:

- detections of one image and category are sorted by score with a stable sort (file order breaks
  ties) and capped at ``max(max_dets)``; with ``use_cats=0`` the per-image lists are the
  per-category lists concatenated in ``cat_ids`` order before that sort;
- ground truth is ignored when ``iscrowd`` (keypoints: or ``num_keypoints == 0``) or when its
  ``area`` field is outside the range; ranges are inclusive at both ends; non-ignored ground
  truth is tried first (stable order); a crowd region (only it) may be matched any number of
  times;
- greedy matching in score order at each IoU threshold (capped at ``1 - 1e-10``): a detection takes
  the unmatched (crowd: any) ground truth of highest IoU >= threshold, the *later* one on ties,
  and never trades a non-ignored match for an ignored one; crowd IoU is intersection over the
  detection's area (boxes and masks); unmatched detections outside the area range are ignored
  (detection areas follow loadRes, see :mod:`.coco`: ``w * h`` when the results carry boxes);
- per category, area range and max-dets: detections of all images concatenated in image order and
  stably sorted by score; precision ``tp / (tp + fp + eps)`` with ``eps = np.spacing(1)``, made
  monotone from the right, read at the recall thresholds with ``searchsorted(side="left")``;
  thresholds beyond the reached recall get precision 0; -1 marks undefined entries;
- ``iou_thrs`` and ``rec_thrs`` come from ``np.linspace`` exactly as pycocotools builds them, so
  the 0.9 threshold is 0.8999999999999999 and ten recall thresholds sit one float step above i/100;
- the first summary stat (AP@[.5:.95]) always reads ``max_dets == 100`` (cocoapi issue #558): with
  custom ``max_dets`` without 100 it is -1, as in pycocotools; every keypoints stat reads
  ``max_dets == 20`` the same way.

Where pycocotools is wrong we do the right thing and say so: an empty results list gives the -1/0
stats pycocotools would logically give instead of its crash (#450); a ground-truth annotation with
id 0 is matched like any other, whereas pycocotools counts a detection matched to it as a false
positive because it stores matches as ids and tests them for truth (#664). With fewer than three
``max_dets`` pycocotools' ``summarize`` crashes; we read the last one where it would index past the
end. Keypoints with ``use_cats=0``: pycocotools' ``computeOks`` looks each image's objects up under
category -1 and finds none, so it matches no detection (a perfect result scores AP 0); we pool the
categories as its ``computeIoU`` does for boxes and masks (the tests fix the oracle the same way).

CLI: ``python -m cvcore.cocoeval GT.json RESULTS.json [--iou-type {bbox,segm,keypoints}]
[--json OUT]`` prints the lines of ``summarize()`` for that type; ``--json`` writes
``{"iou_type", "stats": [...], "stat_names": [...], "per_category": [...]}``. Scores may be any
finite number (only their order counts). Bad input (see cvcore.detection.coco; an ``--json`` path
that is a folder) is one ``error:`` line and exit code 2 before any work; Ctrl-C prints
``interrupted`` (exit 130).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numba
import numpy as np

from ..boxes import iou_blocks, iou_xywh_one
from ..errors import InputError, run_cli
from ..runs import check_output_path
from .coco import IOU_TYPES, CocoDets, CocoGT, cli_parser, load_gt_and_results, one_box_case

AREA_LABELS = ("all", "small", "medium", "large")
EPS = float(np.spacing(1))  # pycocotools' guard in tp / (tp + fp + eps)


def default_iou_thrs() -> np.ndarray:
    """pycocotools' IoU thresholds, built the same way (hence 0.8999999999999999)."""
    return np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)


def default_rec_thrs() -> np.ndarray:
    return np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)


def default_kpt_oks_sigmas() -> np.ndarray:
    """COCO's per-keypoint OKS sigmas for its 17 person keypoints (nose, eyes, ears, shoulders,
    elbows, wrists, hips, knees, ankles), as pycocotools divides them by 10."""
    return np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                     .87, .87, .89, .89]) / 10.0


@dataclass
class Params:
    """pycocotools' ``Params`` (``iouThrs`` -> ``iou_thrs`` and so on) for one ``iou_type``.

    ``img_ids`` / ``cat_ids`` default to all of the ground truth's (sorted); ``area_rng`` are
    inclusive [min, max] areas in pixels², labelled by ``area_lbl``. ``max_dets``, ``area_rng``
    and ``area_lbl`` left None take pycocotools' defaults for the type: bbox and segm [1, 10, 100]
    and all/small/medium/large; keypoints [20] and all/medium/large.
    ``kpt_oks_sigmas`` float64[k] (keypoints only): one sigma per keypoint.
    """

    iou_thrs: np.ndarray = field(default_factory=default_iou_thrs)
    rec_thrs: np.ndarray = field(default_factory=default_rec_thrs)
    max_dets: list[int] | None = None
    area_rng: list[list[float]] | None = None
    area_lbl: list[str] | None = None
    use_cats: bool = True
    cat_ids: list[int] | None = None
    img_ids: list[int] | None = None
    iou_type: str = "bbox"
    kpt_oks_sigmas: np.ndarray = field(default_factory=default_kpt_oks_sigmas)

    def __post_init__(self):
        if self.iou_type not in IOU_TYPES:
            raise ValueError(f"iou_type must be one of {IOU_TYPES}, not {self.iou_type!r}")
        keypoints = self.iou_type == "keypoints"
        if self.max_dets is None:
            self.max_dets = [20] if keypoints else [1, 10, 100]
        if self.area_rng is None:
            self.area_rng = ([[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
                             if keypoints else [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2],
                                                [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]])
        if self.area_lbl is None:
            self.area_lbl = ["all", "medium", "large"] if keypoints else list(AREA_LABELS)


@dataclass
class CocoEvalResult:
    """Everything ``COCOeval.accumulate`` + ``summarize`` produce (pycocotools' shapes).

    precision, scores: float64[T, R, K, A, M]; recall: float64[T, K, A, M]; stats: float64[12]
    (keypoints: [10]), named by :func:`stat_names`.
    ``cat_ids`` labels the K axis ([-1] when ``use_cats`` is off).
    """

    params: Params
    cat_ids: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    stats: np.ndarray

    def per_category_ap(self, cat_names: dict[int, str] | None = None) -> list[dict]:
        """AP@[.5:.95], AP50 and AP75 per category (all areas, the largest max_dets)."""
        rows = []
        t50 = np.flatnonzero(self.params.iou_thrs == 0.5)
        t75 = np.flatnonzero(self.params.iou_thrs == 0.75)
        for k, cat_id in enumerate(self.cat_ids):
            p = self.precision[:, :, k, 0, -1]
            rows.append({"category_id": int(cat_id),
                         "name": (cat_names or {}).get(int(cat_id), str(cat_id)),
                         "ap": _mean_defined(p), "ap50": _mean_defined(p[t50]),
                         "ap75": _mean_defined(p[t75])})
        return rows

    def pr_curve(self, iou: float = 0.5) -> np.ndarray:
        """Precision at the recall thresholds, float64[K, R], all areas, largest max_dets."""
        t = np.flatnonzero(self.params.iou_thrs == iou)
        if len(t) == 0:
            raise ValueError(f"IoU {iou} is not one of the thresholds")
        return self.precision[t[0], :, :, 0, -1].T

    def summary_lines(self) -> list[str]:
        return summary_lines(self)


def _mean_defined(values: np.ndarray) -> float:
    defined = values[values > -1]
    return float(np.mean(defined)) if len(defined) else -1.0


# ---------------------------------------------------------------------------------------------
# Similarity blocks: for every image x category group with detections and ground truth, the
# detection x ground-truth IoU (boxes, masks) or OKS (keypoints), stored one group after another,
# row-major: the value of pair (d, g) of group ``grp`` is ious[iou_start[grp] + d * ng + g].

@numba.njit(cache=True, nogil=True)
def _oks_exponents(det_start, gt_start, det_kp, det_kp_start, gt_kp, gt_kp_start, gt_boxes,
                   gt_areas, variances, n_visible, term_start):
    """pycocotools' computeOks up to its ``np.exp``: for every pair in the blocks' order, the
    exponents e = (dx² + dy²) / var / (area + eps) / 2 it averages exp(-e) over.

    Keypoints are (x, y, visibility) rows; det_kp_start / gt_kp_start: int64[rows + 1] offsets
    of each detection's / ground truth's rows; variances: (2 sigma)², k of them; n_visible:
    int64[ground truth] keypoints with visibility > 0. With visible keypoints, dx, dy are the
    offsets of those keypoints; with none, they are the distances of every detected keypoint
    outside the ground-truth box extended by its width / height on each side. term_start:
    int64[pairs + 1] offsets of each pair's exponents (filled here). Returns float64[terms].
    """
    k = variances.shape[0]
    n_pair = 0
    n_term = 0
    for grp in range(det_start.shape[0] - 1):
        nd = det_start[grp + 1] - det_start[grp]
        for g in range(gt_start[grp], gt_start[grp + 1]):
            n_term += nd * (n_visible[g] if n_visible[g] > 0 else k)
            n_pair += nd
    terms = np.empty(n_term)
    t = 0
    pair = 0
    for grp in range(det_start.shape[0] - 1):
        g0, g1 = gt_start[grp], gt_start[grp + 1]
        for d in range(det_start[grp], det_start[grp + 1]):
            dk = det_kp_start[d]
            for g in range(g0, g1):
                term_start[pair] = t
                pair += 1
                gk = gt_kp_start[g]
                scale = gt_areas[g] + EPS
                if n_visible[g] > 0:
                    for j in range(k):
                        if gt_kp[gk + j, 2] > 0:
                            dx = det_kp[dk + j, 0] - gt_kp[gk + j, 0]
                            dy = det_kp[dk + j, 1] - gt_kp[gk + j, 1]
                            terms[t] = (dx * dx + dy * dy) / variances[j] / scale / 2
                            t += 1
                else:
                    x0 = gt_boxes[g, 0] - gt_boxes[g, 2]
                    x1 = gt_boxes[g, 0] + gt_boxes[g, 2] * 2
                    y0 = gt_boxes[g, 1] - gt_boxes[g, 3]
                    y1 = gt_boxes[g, 1] + gt_boxes[g, 3] * 2
                    for j in range(k):
                        xd, yd = det_kp[dk + j, 0], det_kp[dk + j, 1]
                        dx = max(0.0, x0 - xd) + max(0.0, xd - x1)
                        dy = max(0.0, y0 - yd) + max(0.0, yd - y1)
                        terms[t] = (dx * dx + dy * dy) / variances[j] / scale / 2
                        t += 1
    term_start[pair] = t
    return terms


@numba.njit(cache=True, nogil=True)
def _numpy_sum(a, lo, hi):
    """``np.sum(a[lo:hi])`` to the last bit: NumPy's pairwise summation (8 accumulators per
    block of up to 128, blocks split in halves that are multiples of 8)."""
    n = hi - lo
    if n < 8:
        res = 0.0
        for i in range(lo, hi):
            res += a[i]
        return res
    if n > 128:
        half = n // 2
        half -= half % 8
        return _numpy_sum(a, lo, lo + half) + _numpy_sum(a, lo + half, hi)
    r = a[lo:lo + 8].copy()
    body = n - n % 8
    for i in range(8, body, 8):
        for j in range(8):
            r[j] += a[lo + i + j]
    res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(lo + body, hi):
        res += a[i]
    return res


@numba.njit(cache=True, nogil=True)
def _oks_means(term_start, values, ious):
    """OKS of each pair: the mean of its exp(-e) values, summed as ``np.sum`` sums."""
    for pair in range(term_start.shape[0] - 1):
        lo, hi = term_start[pair], term_start[pair + 1]
        ious[pair] = _numpy_sum(values, lo, hi) / (hi - lo)


# ---------------------------------------------------------------------------------------------
# Grouping in one kernel: stable counting sorts by image and category and one radix sort by
# score put the detections in matching order (image x category groups, by score) and in
# accumulation order (category, then score) without a NumPy sort. Everything is linear.

@numba.njit(cache=True, nogil=True)
def _first_at_least(a, value):
    """Index of the first entry of ascending ``a`` that is >= ``value`` (NumPy's searchsorted,
    side="left"). The kernels use this and plain loops rather than NumPy's searchsorted, min
    and max: those load Numba's array-math module (~20 ms) with the kernels in every process."""
    lo, hi = 0, a.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def _lookup(ids, wanted_sorted, wanted_order):
    """Position of each id in the wanted ids (``wanted_sorted`` = them sorted stably,
    ``wanted_order`` their positions), -1 when absent; a repeated wanted id gives its first
    position. A table when the ids span little, else a binary search."""
    out = np.full(ids.shape[0], -1, np.int64)
    n = wanted_sorted.shape[0]
    if n == 0:
        return out
    lo, hi = wanted_sorted[0], wanted_sorted[n - 1]
    if 0 <= hi - lo <= 8 * (ids.shape[0] + n):  # (a negative span overflowed: far apart)
        table = np.full(hi - lo + 1, -1, np.int64)
        for j in range(n - 1, -1, -1):
            table[wanted_sorted[j] - lo] = wanted_order[j]
        for i in range(ids.shape[0]):
            if lo <= ids[i] <= hi:
                out[i] = table[ids[i] - lo]
    else:
        for i in range(ids.shape[0]):
            pos = _first_at_least(wanted_sorted, ids[i])
            if pos < n and wanted_sorted[pos] == ids[i]:
                out[i] = wanted_order[pos]
    return out


@numba.njit(cache=True, nogil=True)
def _radix(seq, keys):
    """``seq`` stably sorted by ``keys`` (int64 >= 0, one per entry of seq, not per row): an
    LSD radix sort on 8-bit digits (256 buckets: the scatter stays in cache at any size).
    Returns the sorted seq and keys."""
    n = seq.shape[0]
    top = 0
    for j in range(n):
        top = max(top, keys[j])
    seq, keys = seq.copy(), keys.copy()
    seq_tmp, keys_tmp = np.empty_like(seq), np.empty_like(keys)
    count = np.empty(257, np.int64)
    shift = 0
    while shift < 63 and (top >> shift) > 0:
        count[:] = 0
        for j in range(n):
            count[((keys[j] >> shift) & 255) + 1] += 1
        most = 0
        for k in range(257):
            most = max(most, count[k])
        if most < n:  # else one digit value: nothing would move
            for k in range(256):
                count[k + 1] += count[k]
            for j in range(n):
                digit = (keys[j] >> shift) & 255
                seq_tmp[count[digit]] = seq[j]
                keys_tmp[count[digit]] = keys[j]
                count[digit] += 1
            seq, seq_tmp = seq_tmp, seq
            keys, keys_tmp = keys_tmp, keys
        shift += 8
    return seq, keys


@numba.njit(cache=True, nogil=True)
def _score_ranks(rows, score_bits):
    """Dense rank of each row's score among ``rows``, 0 for the highest, equal scores equal
    (as a stable sort of ``-score`` groups them: NaN last, -0.0 equal to 0.0), per row.
    score_bits: the scores' bits as int64."""
    n = rows.shape[0]
    key_of = np.zeros(score_bits.shape[0], np.int64)
    part = np.empty(n, np.int64)
    for j in range(n):
        b = score_bits[rows[j]]
        if (b & 0x7FFFFFFFFFFFFFFF) > 0x7FF0000000000000:  # NaN
            key = 0x7FFFFFFFFFFFFFFF
        elif (b & 0x7FFFFFFFFFFFFFFF) == 0:  # -0.0 is 0.0
            key = -1
        else:  # order-preserving map of the float to int64, then reversed
            key = ~(b ^ ((b >> 63) & 0x7FFFFFFFFFFFFFFF))
        key_of[rows[j]] = key
        part[j] = (key ^ -0x8000000000000000) & 0x3FFFFFFFFFFFFFFF  # low 62 bits, unsigned
    seq, _ = _radix(rows, part)
    for j in range(n):  # then the top 2 bits of the unsigned key
        part[j] = ((key_of[seq[j]] ^ -0x8000000000000000) >> 62) & 3
    seq, _ = _radix(seq, part)
    rank = np.zeros(score_bits.shape[0], np.int64)
    r, prev = -1, 0
    for j in range(n):
        key = key_of[seq[j]]
        if j == 0 or key != prev:
            r += 1
        prev = key
        rank[seq[j]] = r
    return rank


@numba.njit(cache=True, nogil=True)
def _sorted_by(seq, hi, lo):
    """``seq`` stably sorted by ``(hi[row], lo[row])`` (both >= 0): two stable radix sorts,
    the low part first."""
    keys = np.empty(seq.shape[0], np.int64)
    for j in range(seq.shape[0]):
        keys[j] = lo[seq[j]]
    seq, _ = _radix(seq, keys)
    for j in range(seq.shape[0]):
        keys[j] = hi[seq[j]]
    seq, _ = _radix(seq, keys)
    return seq


@numba.njit(cache=True, nogil=True)
def _evaluated(img, cat):
    """Rows whose image and category are both evaluated (positions >= 0), in row order."""
    keep = np.empty(img.shape[0], np.int64)
    n = 0
    for i in range(img.shape[0]):
        if img[i] >= 0 and cat[i] >= 0:
            keep[n] = i
            n += 1
    return keep[:n]


@numba.njit(cache=True, nogil=True)
def _group_kernel(det_img_ids, det_cat_ids, score_bits, gt_img_ids, gt_cat_ids, img_sorted,
                  img_order, cat_sorted, cat_order, use_cats, max_det):
    """pycocotools' per image x category lists as offsets, and the accumulation order.

    Images and categories are numbered by position in the evaluated ids (given sorted, with
    their positions); a group is (category, image), or the image alone without categories.
    Detections of a group are by descending score, ties in file order (without categories:
    category position, then file order), capped at ``max_det``; ground truth is in file order
    (without categories: by category position first). Groups are those with detections or
    ground truth, by (category, image). Returns, per kept detection in group order: CocoDets
    row, rank in its group, image and category positions, and its position in accumulation
    order (category, descending score, image, rank: pycocotools' per-category concatenation of
    per-image lists, stably sorted by score) as the group-order position of each; per group:
    detection and ground-truth offsets; per ground truth in group order: CocoGT row and
    category position; in accumulation order: CocoDets row, rank and the offsets of each
    category (one when without categories).
    """
    n_img, n_cat = img_sorted.shape[0], cat_sorted.shape[0]
    det_img = _lookup(det_img_ids, img_sorted, img_order)
    det_cat = _lookup(det_cat_ids, cat_sorted, cat_order)
    gt_img = _lookup(gt_img_ids, img_sorted, img_order)
    gt_cat = _lookup(gt_cat_ids, cat_sorted, cat_order)
    # Group key (category, image) -- without categories: image, then category position --
    # and, within it, descending score; ties in row (file) order: stable radix sorts.
    rows = _evaluated(det_img, det_cat)
    srank = _score_ranks(rows, score_bits)
    n_rank = rows.shape[0] + 1
    key = np.zeros(det_img.shape[0], np.int64)
    sub = np.zeros(det_img.shape[0], np.int64)
    for d in rows:
        key[d] = det_cat[d] * n_img + det_img[d] if use_cats else det_img[d]
        sub[d] = srank[d] if use_cats else srank[d] * n_cat + det_cat[d]
    grouped = _sorted_by(rows, key, sub)
    d_key = np.empty(grouped.shape[0] + 1, np.int64)  # group keys in group order, -1 after
    for j in range(grouped.shape[0]):
        d_key[j] = key[grouped[j]]
    d_key[grouped.shape[0]] = -1
    # Accumulation order: category, descending score, image (then, as above, row).
    for d in rows:
        key[d] = det_cat[d] * n_rank + srank[d] if use_cats else srank[d]
        sub[d] = det_img[d] if use_cats else det_img[d] * n_cat + det_cat[d]
    by_score = _sorted_by(rows, key, sub)
    g_rows = _evaluated(gt_img, gt_cat)
    g_key = np.zeros(gt_img.shape[0], np.int64)
    g_sub = np.zeros(gt_img.shape[0], np.int64)
    for g in g_rows:
        g_key[g] = gt_cat[g] if use_cats else gt_img[g]
        g_sub[g] = gt_img[g] if use_cats else gt_cat[g]
    g_idx = _sorted_by(g_rows, g_key, g_sub)
    gt_key = np.empty(g_idx.shape[0] + 1, np.int64)
    for j in range(g_idx.shape[0]):
        g = g_idx[j]
        gt_key[j] = gt_cat[g] * n_img + gt_img[g] if use_cats else gt_img[g]
    gt_key[g_idx.shape[0]] = -1
    n_keys = n_cat if use_cats else 1
    # Ranks; kept detections in group order; group offsets over the union of both sides.
    n_all, n_gt = grouped.shape[0], g_idx.shape[0]
    rank_of = np.full(det_img.shape[0], -1, np.int64)
    pos_of = np.empty(det_img.shape[0], np.int64)
    d_idx = np.empty(n_all, np.int64)
    rank = np.empty(n_all, np.int64)
    det_start = np.empty(n_all + n_gt + 1, np.int64)
    gt_start = np.empty(n_all + n_gt + 1, np.int64)
    n_kept, n_grp, j, g = 0, 0, 0, 0
    while j < n_all or g < n_gt:
        dk, gk = d_key[j], gt_key[g]
        cur = dk if gk < 0 or (0 <= dk < gk) else gk
        det_start[n_grp], gt_start[n_grp] = n_kept, g
        n_grp += 1
        r = 0
        while j < n_all and dk == cur:
            d = grouped[j]
            if r < max_det:
                rank_of[d], pos_of[d] = r, n_kept
                d_idx[n_kept], rank[n_kept] = d, r
                n_kept += 1
            r += 1
            j += 1
            dk = d_key[j]
        while g < n_gt and gk == cur:
            g += 1
            gk = gt_key[g]
    det_start[n_grp], gt_start[n_grp] = n_kept, g
    # Accumulation order: the kept detections of that order.
    acc_idx = np.empty(n_kept, np.int64)
    n = 0
    for d in by_score:
        if rank_of[d] >= 0:
            acc_idx[n] = d
            n += 1
    acc_cat = det_cat if use_cats else np.zeros(det_img.shape[0], np.int64)
    cat_start = np.zeros(n_keys + 1, np.int64)
    acc_col = np.empty(n_kept, np.int64)
    acc_rank = np.empty(n_kept, np.int64)
    for i in range(n_kept):
        d = acc_idx[i]
        cat_start[acc_cat[d] + 1] += 1
        acc_col[i] = pos_of[d]
        acc_rank[i] = rank_of[d]
    for k in range(n_keys):
        cat_start[k + 1] += cat_start[k]
    d_img = np.empty(n_kept, np.int64)
    d_cat = np.empty(n_kept, np.int64)
    for i in range(n_kept):
        d_img[i], d_cat[i] = det_img[d_idx[i]], acc_cat[d_idx[i]]
    g_cat = np.zeros(n_gt, np.int64)
    if use_cats:
        for i in range(n_gt):
            g_cat[i] = gt_cat[g_idx[i]]
    return (d_idx[:n_kept], rank[:n_kept], d_img, d_cat, acc_col, det_start[:n_grp + 1],
            gt_start[:n_grp + 1], g_idx, g_cat, acc_idx, acc_rank, cat_start)


@dataclass
class _Groups:
    """The output of :func:`_group_kernel` (see there), named."""

    d_idx: np.ndarray
    rank: np.ndarray
    det_img: np.ndarray
    det_cat: np.ndarray
    acc_col: np.ndarray
    det_start: np.ndarray
    gt_start: np.ndarray
    g_idx: np.ndarray
    gt_cat: np.ndarray
    acc_idx: np.ndarray
    acc_rank: np.ndarray
    cat_start: np.ndarray


def _group(gt: CocoGT, dets: CocoDets, p: Params) -> _Groups:
    def sorted_ids(ids):
        ids = np.asarray(ids, np.int64)
        order = np.argsort(ids, kind="stable")
        return ids[order], order

    scores = np.ascontiguousarray(dets.scores, np.float64)
    return _Groups(*_group_kernel(
        np.asarray(dets.image_ids, np.int64), np.asarray(dets.cat_ids, np.int64),
        scores.view(np.int64), np.asarray(gt.ann_image_ids, np.int64),
        np.asarray(gt.ann_cat_ids, np.int64), *sorted_ids(p.img_ids), *sorted_ids(p.cat_ids),
        bool(p.use_cats), int(p.max_dets[-1])))


# ---------------------------------------------------------------------------------------------
# Matching: one image x category group at a time, every area range and IoU threshold.

@numba.njit(cache=True, nogil=True)
def _match_groups(first, last, det_start, gt_start, iou_start, ious, boxes, det_boxes, gt_boxes,
                  d_idx, g_idx, crowd, gt_ignore, det_area, area_rng, iou_thrs, status, match_gt):
    """:func:`_match_kernel` on groups first..last-1."""
    n_area, n_thr = gt_ignore.shape[0], iou_thrs.shape[0]
    rows = match_gt.shape[2] > 0
    thr = np.empty(n_thr)
    lowest = 1.0
    for t in range(n_thr):  # pycocotools caps the threshold below 1: min([t, 1 - 1e-10])
        thr[t] = 1 - 1e-10 if 1 - 1e-10 < iou_thrs[t] else iou_thrs[t]
        if t == 0 or thr[t] < lowest or thr[t] != thr[t]:  # NumPy's min: NaN wins
            lowest = thr[t]
    # Work buffers, grown as needed.
    buf, cand, ordered = np.empty(1024), np.empty(1024, np.int64), np.empty(1024, np.int64)
    n_ok, cand_start = np.empty(128, np.int64), np.empty(129, np.int64)
    outside = np.empty((n_area, 128), np.uint8)
    matched = np.empty((n_area, n_thr, 128), np.int64)  # the group's matches (-1: none)
    taken = np.empty(128, np.bool_)
    for grp in range(first, last):
        d0, d1 = det_start[grp], det_start[grp + 1]
        g0, g1 = gt_start[grp], gt_start[grp + 1]
        nd, ng = d1 - d0, g1 - g0
        if nd == 0:
            continue
        if outside.shape[1] < nd:
            outside = np.empty((n_area, 2 * nd), np.uint8)
            matched = np.empty((n_area, n_thr, 2 * nd), np.int64)
            n_ok = np.empty(2 * nd, np.int64)
            cand_start = np.empty(2 * nd + 1, np.int64)
        # Unmatched detections outside the area range are ignored.
        for d in range(nd):
            area = det_area[d_idx[d0 + d]]
            for a in range(n_area):
                outside[a, d] = 2 if area < area_rng[a, 0] or area > area_rng[a, 1] else 0
        if ng == 0:
            for a in range(n_area):
                for t in range(n_thr):
                    for d in range(nd):
                        status[a, t, d0 + d] = outside[a, d]
            continue
        if boxes:
            if buf.shape[0] < nd * ng:
                buf = np.empty(2 * nd * ng)
            block = buf[:nd * ng]
            for d in range(nd):
                r = d_idx[d0 + d]
                for g in range(ng):
                    s = g_idx[g0 + g]
                    block[d * ng + g] = iou_xywh_one(
                        det_boxes[r, 0], det_boxes[r, 1], det_boxes[r, 2], det_boxes[r, 3],
                        gt_boxes[s, 0], gt_boxes[s, 1], gt_boxes[s, 2], gt_boxes[s, 3],
                        crowd[g0 + g])
        else:
            block = ious[iou_start[grp]:iou_start[grp + 1]]
        # Each detection's candidates: the ground truth it could match at the lowest
        # threshold, in file order (a pair below it never matches; NaN stays in as before).
        if cand.shape[0] < nd * ng:
            cand = np.empty(2 * nd * ng, np.int64)
            ordered = np.empty(2 * nd * ng, np.int64)
        if taken.shape[0] < ng:
            taken = np.empty(2 * ng, np.bool_)
        n = 0
        for d in range(nd):
            cand_start[d] = n
            for g in range(ng):
                if not block[d * ng + g] < lowest:
                    cand[n] = g
                    n += 1
        cand_start[nd] = n
        for a in range(n_area):
            # An area range that ignores the same of this group's ground truth as an earlier
            # one makes the same matches (the area ranges of COCO mostly do: a group's objects
            # are often all of one size); only the unmatched detections' flags differ. (The
            # first such range was matched here, so its row of ``matched`` is filled.)
            same = -1
            for b in range(a):
                same = b
                for g in range(g0, g1):
                    if gt_ignore[a, g] != gt_ignore[b, g]:
                        same = -1
                        break
                if same >= 0:
                    break
            if same >= 0:
                for t in range(n_thr):
                    for d in range(nd):
                        m = matched[same, t, d]
                        if m < 0:
                            status[a, t, d0 + d] = outside[a, d]
                            continue
                        status[a, t, d0 + d] = 3 if gt_ignore[a, g0 + m] else 1
                        if rows:
                            match_gt[a, t, d0 + d] = g_idx[g0 + m]
                continue
            # Non-ignored ground truth first, each part in file order (a stable sort); a
            # detection never trades a non-ignored match for an ignored one.
            for d in range(nd):
                j = cand_start[d]
                for i in range(cand_start[d], cand_start[d + 1]):
                    if not gt_ignore[a, g0 + cand[i]]:
                        ordered[j] = cand[i]
                        j += 1
                n_ok[d] = j - cand_start[d]
                for i in range(cand_start[d], cand_start[d + 1]):
                    if gt_ignore[a, g0 + cand[i]]:
                        ordered[j] = cand[i]
                        j += 1
            for t in range(n_thr):
                for g in range(ng):
                    taken[g] = False
                for d in range(nd):
                    best = thr[t]
                    m = -1
                    for j in range(cand_start[d], cand_start[d + 1]):
                        if j - cand_start[d] == n_ok[d] and m > -1:
                            break
                        g = ordered[j]
                        if taken[g] and not crowd[g0 + g]:
                            continue
                        if block[d * ng + g] < best:
                            continue
                        best = block[d * ng + g]
                        m = g
                    matched[a, t, d] = m
                    if m == -1:
                        status[a, t, d0 + d] = outside[a, d]
                        continue
                    taken[m] = True
                    status[a, t, d0 + d] = 3 if gt_ignore[a, g0 + m] else 1
                    if rows:
                        match_gt[a, t, d0 + d] = g_idx[g0 + m]


@numba.njit(cache=True, nogil=True, parallel=True)
def _match_kernel(det_start, gt_start, iou_start, ious, boxes, det_boxes, gt_boxes, d_idx, g_idx,
                  crowd, gt_ignore, det_area, area_rng, iou_thrs, status, match_gt, n_chunk):
    """Greedy COCO matching, group by group, in ``n_chunk`` chunks run in parallel.

    Groups: detections ``det_start[i]:det_start[i + 1]`` (CocoDets rows ``d_idx``, by score)
    and ground truth ``gt_start[i]:gt_start[i + 1]`` (CocoGT rows ``g_idx``); crowd: bool[N]
    may be matched any number of times; gt_ignore: bool[A, N]. Similarities: with ``boxes``,
    box IoU computed here from ``det_boxes`` / ``gt_boxes`` (all rows, xywh); else the blocks
    ``ious[iou_start[i]:iou_start[i + 1]]`` (row-major, detections x ground truth). det_area:
    float64[all rows], area_rng: float64[A, 2]. Detection j's results go to column j of
    status uint8[A, T, D] (bit 0: matched; bit 1: ignored, i.e. matched to ignored ground
    truth, or unmatched and outside the area range) and, when it has columns, of match_gt
    int64[A, T, D] (the matched CocoGT row; left alone when unmatched).
    """
    # Chunks of about equal numbers of detections, a few per thread, each with its buffers.
    n_grp = det_start.shape[0] - 1
    n_chunk = max(1, min(n_grp, n_chunk))
    bounds = np.empty(n_chunk + 1, np.int64)
    for c in range(n_chunk + 1):
        bounds[c] = _first_at_least(det_start, c * (det_start[n_grp] / n_chunk))
    bounds[0], bounds[n_chunk] = 0, n_grp
    for c in numba.prange(n_chunk):
        _match_groups(bounds[c], bounds[c + 1], det_start, gt_start, iou_start, ious, boxes,
                      det_boxes, gt_boxes, d_idx, g_idx, crowd, gt_ignore, det_area, area_rng,
                      iou_thrs, status, match_gt)


# ---------------------------------------------------------------------------------------------
# Accumulation: precision/recall per category, area range, max-dets and IoU threshold.

@numba.njit(cache=True, nogil=True, parallel=True)
def _accumulate_kernel(cat_start, col, det_rank, det_score, status, n_positive, max_dets,
                       rec_thrs, precision, recall, scores):
    """cat_start: int64[K + 1] offsets of each category's detections in accumulation order
    (score, then image, then rank), with their rank, score and column ``col`` in status
    uint8[A, T, D] (bit 0 matched, bit 1 ignored); n_positive: int64[K, A]. Fills precision,
    recall and scores (uninitialised on entry): -1 where undefined (no positives), else 0 where
    recall is never reached. Each category's slices are written by the thread that computes
    them (no serial pass over the ~1M entries first)."""
    n_area, n_thr = status.shape[0], status.shape[1]
    n_rec = rec_thrs.shape[0]
    for k in numba.prange(cat_start.shape[0] - 1):
        for a in range(n_area):
            fill = 0.0 if n_positive[k, a] > 0 else -1.0
            precision[:, :, k, a, :] = fill
            scores[:, :, k, a, :] = fill
            recall[:, k, a, :] = -1.0
        c0, c1 = cat_start[k], cat_start[k + 1]
        rows = np.empty(c1 - c0, np.int64)
        cols = np.empty(c1 - c0, np.int64)
        # Candidates for the precision read at a recall threshold: the first detection and
        # every true positive (recall rises only there; elsewhere precision only falls or
        # stays, so the maximum over the rest is taken among them too).
        cand_pr = np.empty(c1 - c0 + 1)
        cand_j = np.empty(c1 - c0 + 1, np.int64)
        nd = -1
        for m in range(max_dets.shape[0]):
            last = nd
            nd = 0
            for d in range(c0, c1):
                if det_rank[d] < max_dets[m]:
                    rows[nd] = d
                    nd += 1
            if m and nd == last:  # the same detections count as at the previous max_dets
                for a in range(n_area):
                    if n_positive[k, a] > 0:
                        recall[:, k, a, m] = recall[:, k, a, m - 1]
                        precision[:, :, k, a, m] = precision[:, :, k, a, m - 1]
                        scores[:, :, k, a, m] = scores[:, :, k, a, m - 1]
                continue
            for j in range(nd):
                cols[j] = col[rows[j]]
            for a in range(n_area):
                npig = n_positive[k, a]
                if npig == 0:
                    continue
                for t in range(n_thr):
                    if nd == 0:
                        recall[t, k, a, m] = 0.0
                        continue
                    st = status[a, t]
                    s = st[cols[0]]
                    tp0 = 1.0 if s == 1 else 0.0  # true positives up to candidate i: i + tp0
                    fp = 1.0 if s == 0 else 0.0
                    cand_pr[0], cand_j[0] = fp, 0
                    nc = 1
                    for j in range(1, nd):  # branch-free: outcomes are unpredictable
                        s = st[cols[j]]
                        is_tp = s == 1
                        fp += s == 0
                        cand_pr[nc], cand_j[nc] = fp, j
                        nc += is_tp
                    for i in range(nc):  # cand_pr held the false positives so far
                        cand_pr[i] = (i + tp0) / (cand_pr[i] + (i + tp0) + EPS)
                    recall[t, k, a, m] = (nc - 1 + tp0) / npig
                    for i in range(nc - 1, 0, -1):  # precision made monotone from the right
                        if cand_pr[i] > cand_pr[i - 1]:
                            cand_pr[i - 1] = cand_pr[i]
                    # Each recall threshold reads the first point reaching it (NumPy's
                    # searchsorted, side="left"); walk forward while thresholds rise.
                    i = 0
                    for r in range(n_rec):
                        if r and rec_thrs[r] < rec_thrs[r - 1]:
                            i = 0
                        while i < nc and (i + tp0) / npig < rec_thrs[r]:
                            i += 1
                        if i >= nc:  # pycocotools stops here; the rest stay 0
                            break
                        precision[t, r, k, a, m] = cand_pr[i]
                        scores[t, r, k, a, m] = det_score[rows[cand_j[i]]]


def resolve_params(params: Params | None, gt: CocoGT) -> Params:
    """pycocotools' ``evaluate()`` preamble: unique sorted ids, sorted max_dets. Without
    ``params``: the defaults for the type ``gt`` was loaded for."""
    p = params or Params(iou_type=gt.iou_type)
    iou_thrs = np.asarray(p.iou_thrs, np.float64).ravel()
    rec_thrs = np.asarray(p.rec_thrs, np.float64).ravel()
    area_rng = np.asarray(p.area_rng, np.float64).reshape(-1, 2)
    if len(p.area_lbl) != len(area_rng):
        raise InputError(f"{len(area_rng)} area ranges but {len(p.area_lbl)} labels")
    if not len(p.max_dets) or min(p.max_dets) < 0:
        raise InputError(f"bad max_dets {p.max_dets}")
    img_ids = np.unique(gt.image_ids if p.img_ids is None else np.asarray(p.img_ids, np.int64))
    cat_ids = np.sort(gt.cat_ids) if p.cat_ids is None else np.asarray(p.cat_ids, np.int64)
    if p.use_cats:
        cat_ids = np.unique(cat_ids)
    return Params(iou_thrs=iou_thrs, rec_thrs=rec_thrs, max_dets=sorted(int(m) for m in p.max_dets),
                  area_rng=area_rng.tolist(), area_lbl=list(p.area_lbl), use_cats=bool(p.use_cats),
                  cat_ids=cat_ids.tolist(), img_ids=img_ids.tolist(), iou_type=p.iou_type,
                  kpt_oks_sigmas=np.asarray(p.kpt_oks_sigmas, np.float64).ravel())


@dataclass
class Matches:
    """Per-detection matching results for the kept detections (those within max(max_dets)).

    det_index: int64[D] rows of the CocoDets, grouped by (category, image), by score in a group;
    rank: int64[D] position within its image x category group; det_img, det_cat: int64[D]
    positions in ``p.img_ids`` / ``p.cat_ids`` (0 without categories); gt_index: int64[N] rows
    of the CocoGT evaluated, grouped the same way, with gt_cat and gt_ignore: bool[A, N];
    matched, ignored: bool[A, T, D]; match_gt: int64[A, T, D] the CocoGT row each detection
    matched (crowd and ignored ground truth included), -1 when unmatched; None when
    :func:`match` was asked not to make it.
    """

    det_index: np.ndarray
    rank: np.ndarray
    det_img: np.ndarray
    det_cat: np.ndarray
    gt_index: np.ndarray
    gt_cat: np.ndarray
    gt_ignore: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    match_gt: np.ndarray | None


def _gt_ignore(gt: CocoGT, p: Params, g_idx: np.ndarray) -> np.ndarray:
    """bool[A, N]: grouped ground truth ignored per area range (crowd, outside the range;
    keypoints: no labelled keypoint)."""
    area_rng = np.array(p.area_rng, np.float64)
    gt_area = gt.areas[g_idx]
    ignore = gt.iscrowd[g_idx]
    if p.iou_type == "keypoints":  # people without a single labelled keypoint are ignored
        ignore = ignore | (gt.num_keypoints[g_idx] == 0)
    return ignore[None] | (gt_area[None] < area_rng[:, :1]) | (gt_area[None] > area_rng[:, 1:])


def _ranges(starts: np.ndarray, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions in the ``chosen`` (bool) ranges ``starts[i]:starts[i + 1]``, concatenated,
    and their new offsets."""
    counts = np.diff(starts)[chosen]
    new_starts = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=new_starts[1:])
    return (np.repeat(starts[:-1][chosen] - new_starts[:-1], counts)
            + np.arange(new_starts[-1])), new_starts


def _match_status(gt: CocoGT, dets: CocoDets, p: Params, grp: _Groups, gt_ignore: np.ndarray,
                  gt_rows: bool) -> tuple[np.ndarray, np.ndarray]:
    """status uint8[A, T, D] (bit 0 matched, bit 1 ignored; kept detections in group order)
    and match_gt int64[A, T, D] (int64[A, T, 0] unless ``gt_rows``)."""
    n_area, n_thr, n_det = len(p.area_rng), len(p.iou_thrs), len(grp.d_idx)
    status = np.empty((n_area, n_thr, n_det), np.uint8)
    match_gt = np.full((n_area, n_thr, n_det if gt_rows else 0), -1, np.int64)
    crowd = gt.iscrowd[grp.g_idx]
    boxes = p.iou_type == "bbox"
    if boxes:  # IoU computed inside the matching kernel, group by group
        iou_start, ious = np.zeros(1, np.int64), np.zeros(0)
    else:
        n_det, n_gt = np.diff(grp.det_start), np.diff(grp.gt_start)
        iou_start = np.zeros(len(grp.det_start), np.int64)
        np.cumsum(n_det * n_gt, out=iou_start[1:])
        # Only groups with both sides have blocks: the masks or keypoints of the others are
        # never gathered (the blocks come out the same, in the same places).
        both = (n_det > 0) & (n_gt > 0)
        d_rows, d_start = _ranges(grp.det_start, both)
        g_rows, g_start = _ranges(grp.gt_start, both)
        ious = similarities(gt, dets, p, grp.g_idx[g_rows], grp.d_idx[d_rows], g_start, d_start,
                            iou_start[np.append(np.flatnonzero(both), len(both))], crowd[g_rows])
    _match_kernel(grp.det_start, grp.gt_start, iou_start, ious, boxes,
                  np.ascontiguousarray(dets.boxes, np.float64),
                  np.ascontiguousarray(gt.boxes, np.float64), grp.d_idx, grp.g_idx, crowd,
                  gt_ignore, np.ascontiguousarray(dets.areas, np.float64),
                  np.array(p.area_rng, np.float64), np.asarray(p.iou_thrs, np.float64),
                  status, match_gt, 8 * numba.get_num_threads())
    return status, match_gt


def match(gt: CocoGT, dets: CocoDets, p: Params, gt_rows: bool = True) -> Matches:
    """COCO's per image x category greedy matching at every area range and IoU threshold, on
    box IoU, mask IoU or keypoint OKS by ``p.iou_type``. ``p`` must come from
    :func:`resolve_params`. ``gt_rows=False`` leaves ``match_gt`` None (it is 8 bytes per
    detection, area range and threshold)."""
    grp = _group(gt, dets, p)
    gt_ignore = _gt_ignore(gt, p, grp.g_idx)
    status, match_gt = _match_status(gt, dets, p, grp, gt_ignore, gt_rows)
    return Matches(det_index=grp.d_idx, rank=grp.rank, det_img=grp.det_img, det_cat=grp.det_cat,
                   gt_index=grp.g_idx, gt_cat=grp.gt_cat, gt_ignore=gt_ignore,
                   matched=(status & 1).view(np.bool_), ignored=(status >> 1).view(np.bool_),
                   match_gt=match_gt if gt_rows else None)


def similarities(gt: CocoGT, dets: CocoDets, p: Params, g_idx: np.ndarray, d_idx: np.ndarray,
                  gt_start: np.ndarray, det_start: np.ndarray, iou_start: np.ndarray,
                  crowd: np.ndarray) -> np.ndarray:
    """The similarity blocks (float64[iou_start[-1]]) of the grouped ground truth (CocoGT rows
    ``g_idx``) and kept detections (CocoDets rows ``d_idx``) for ``p.iou_type``."""
    ious = np.zeros(iou_start[-1])
    if p.iou_type == "bbox":
        iou_blocks(det_start, gt_start, iou_start, dets.boxes[d_idx], gt.boxes[g_idx], crowd,
                   ious)
    elif p.iou_type == "segm":
        from . import rle  # (imported for masks only: 12-18 ms a bbox evaluation never needs)

        gt_masks = _needs(gt.segms, gt, "segm")
        det_masks = _needs(dets.segms, dets, "segm")
        rle.mask_iou_blocks(det_start, gt_start, iou_start, det_masks, d_idx, gt_masks, g_idx,
                            crowd, ious)
    else:
        gt_kp, gt_kp_start = _keypoint_rows(gt, g_idx, p, gt_start, det_start)
        det_kp, det_kp_start = _keypoint_rows(dets, d_idx, p, det_start, gt_start)
        visible = np.concatenate([[0], np.cumsum(gt_kp[:, 2] > 0)]).astype(np.int64)
        n_visible = visible[gt_kp_start[1:]] - visible[gt_kp_start[:-1]]
        sigmas = np.asarray(p.kpt_oks_sigmas, np.float64).ravel()
        term_start = np.zeros(len(ious) + 1, np.int64)
        terms = _oks_exponents(det_start, gt_start, det_kp, det_kp_start, gt_kp, gt_kp_start,
                               gt.boxes[g_idx], gt.areas[g_idx], (sigmas * 2) ** 2,
                               n_visible, term_start)
        # NumPy's exp, not the C library's (Numba's): they differ in the last bit of 1 value in
        # 20, and pycocotools' OKS is made with NumPy's.
        _oks_means(term_start, np.exp(-terms), ious)
    return ious


def _needs(value, source: CocoGT | CocoDets, iou_type: str):
    """``value`` (masks or keypoints), or a clear error when it was not loaded."""
    if value is None:
        raise InputError(f"loaded without what a {iou_type} evaluation compares: load it with "
                         f"iou_type={iou_type!r}", source.source)
    return value


def _keypoint_rows(data: CocoGT | CocoDets, rows: np.ndarray, p: Params,
                   own_start: np.ndarray, other_start: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The keypoint rows (float64[P, 3]) of ``data``'s ``rows`` in that order and their
    offsets int64[len(rows) + 1]; every row that meets a counterpart in its group must have one
    keypoint per sigma (pycocotools would fail to broadcast)."""
    keypoints = _needs(data.keypoints, data, "keypoints")
    starts = data.keypoint_starts
    count = starts[rows + 1] - starts[rows]
    compared = np.repeat(np.diff(other_start) > 0, np.diff(own_start))
    k = len(np.asarray(p.kpt_oks_sigmas).ravel())
    bad = compared & (count != k)
    if bad.any():
        i = int(rows[np.flatnonzero(bad)[0]])
        what = "annotation" if isinstance(data, CocoGT) else "detection"
        raise InputError(f"{what} #{i} has {count[bad][0]} keypoints but kpt_oks_sigmas has {k}",
                         data.source)
    new_starts = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(count, out=new_starts[1:])
    gather = np.repeat(starts[rows] - new_starts[:-1], count) + np.arange(new_starts[-1])
    return np.ascontiguousarray(keypoints[gather]), new_starts


def _n_positive(gt_cat: np.ndarray, gt_ignore: np.ndarray, n_cat: int) -> np.ndarray:
    """int64[K, A]: non-ignored ground truth per category position and area range."""
    return np.stack([np.bincount(gt_cat[~ignore], minlength=n_cat) for ignore in gt_ignore],
                    axis=1).astype(np.int64).reshape(n_cat, -1)


def count_positives(m: Matches, p: Params) -> np.ndarray:
    """int64[K, A]: non-ignored ground truth per category and area range (pycocotools' npig)."""
    return _n_positive(m.gt_cat, m.gt_ignore, len(p.cat_ids) if p.use_cats else 1)


def _accumulated(cat_start: np.ndarray, col: np.ndarray, rank: np.ndarray, score: np.ndarray,
                 status: np.ndarray, n_positive: np.ndarray, p: Params) -> CocoEvalResult:
    """accumulate() on detections already in accumulation order (see :func:`_accumulate_kernel`)."""
    cat_ids = np.array(p.cat_ids, np.int64)
    n_area, n_thr = len(p.area_rng), len(p.iou_thrs)
    n_cat = len(cat_start) - 1
    n_positive = np.asarray(n_positive, np.int64).reshape(n_cat, n_area)
    shape = (n_thr, len(p.rec_thrs), n_cat, n_area, len(p.max_dets))
    precision, scores = np.empty(shape), np.empty(shape)  # filled by the kernel
    recall = np.empty((n_thr, n_cat, n_area, len(p.max_dets)))
    _accumulate_kernel(cat_start, col, rank, np.ascontiguousarray(score, np.float64), status,
                       n_positive, np.array(p.max_dets, np.int64),
                       np.asarray(p.rec_thrs, np.float64), precision, recall, scores)
    result = CocoEvalResult(params=p, cat_ids=cat_ids if p.use_cats else np.array([-1]),
                            precision=precision, recall=recall, scores=scores, stats=np.zeros(0))
    result.stats = _summary_stats(result)
    return result


def accumulate(det_cat: np.ndarray, det_img: np.ndarray, rank: np.ndarray, score: np.ndarray,
               matched: np.ndarray, ignored: np.ndarray, n_positive: np.ndarray,
               p: Params) -> CocoEvalResult:
    """``COCOeval.accumulate()`` + ``summarize()`` on plain arrays.

    Per kept detection (D of them, any order): det_cat int64[D] position in ``p.cat_ids`` (0
    without categories), det_img int64[D] position in ``p.img_ids``, rank int64[D] position in
    its image x category group by score, score float64[D]; matched, ignored: bool[A, T, D]
    (a matched detection counts as a true positive unless ignored); n_positive int64[K, A]
    non-ignored ground truth. ``p`` must come from :func:`resolve_params`. Detections of a
    category are ranked by score, stably, in image order then rank, as pycocotools concatenates
    its per-image lists; detections with ``rank >= max_dets[m]`` do not count at ``m``.
    """
    n_cat = len(p.cat_ids) if p.use_cats else 1
    det_cat, det_img, rank = (np.asarray(a, np.int64) for a in (det_cat, det_img, rank))
    score = np.asarray(score, np.float64)
    acc = np.lexsort((rank, det_img, -score, det_cat))
    status = np.asarray(matched, np.bool_).view(np.uint8) | (
        np.asarray(ignored, np.bool_).view(np.uint8) << 1)
    cat_start = np.searchsorted(det_cat[acc], np.arange(n_cat + 1)).astype(np.int64)
    return _accumulated(cat_start, acc, rank[acc], score[acc], status, n_positive, p)


def evaluate(gt: CocoGT, dets: CocoDets, params: Params | None = None) -> CocoEvalResult:
    """COCO evaluation of ``params.iou_type`` (default: the type ``gt`` was loaded for); see
    the module docstring for the exact rules. Matching writes straight into accumulation order
    (no per-detection arrays in group order, no matched ground-truth rows)."""
    p = resolve_params(params, gt)
    grp = _group(gt, dets, p)
    gt_ignore = _gt_ignore(gt, p, grp.g_idx)
    status, _ = _match_status(gt, dets, p, grp, gt_ignore, False)
    return _accumulated(grp.cat_start, grp.acc_col, grp.acc_rank, dets.scores[grp.acc_idx], status,
                        _n_positive(grp.gt_cat, gt_ignore, len(grp.cat_start) - 1), p)


# ---------------------------------------------------------------------------------------------
# Summary, exactly as COCOeval.summarize() computes and prints it.

_SUMMARY = [  # (name, is AP, IoU threshold, area label, index into max_dets or a literal)
    ("AP", True, None, "all", "100"), ("AP50", True, .5, "all", 2),
    ("AP75", True, .75, "all", 2), ("APs", True, None, "small", 2),
    ("APm", True, None, "medium", 2), ("APl", True, None, "large", 2),
    ("AR1", False, None, "all", 0), ("AR10", False, None, "all", 1),
    ("AR100", False, None, "all", 2), ("ARs", False, None, "small", 2),
    ("ARm", False, None, "medium", 2), ("ARl", False, None, "large", 2)]
_SUMMARY_KEYPOINTS = [  # summarize()'s _summarizeKps: every line reads maxDets=20 literally
    ("AP", True, None, "all", "20"), ("AP50", True, .5, "all", "20"),
    ("AP75", True, .75, "all", "20"), ("APm", True, None, "medium", "20"),
    ("APl", True, None, "large", "20"), ("AR", False, None, "all", "20"),
    ("AR50", False, .5, "all", "20"), ("AR75", False, .75, "all", "20"),
    ("ARm", False, None, "medium", "20"), ("ARl", False, None, "large", "20")]
# The names of the 12 bbox / segm stats (CocoEvalResult.stats), in order.
STAT_NAMES = tuple(name for name, *_ in _SUMMARY)
# The names of the 10 keypoints stats.
KEYPOINT_STAT_NAMES = tuple(name for name, *_ in _SUMMARY_KEYPOINTS)


def _summary_table(p: Params) -> list:
    return _SUMMARY_KEYPOINTS if p.iou_type == "keypoints" else _SUMMARY


def stat_names(iou_type: str = "bbox") -> tuple[str, ...]:
    """The names of the summary stats of an ``iou_type`` evaluation, in order."""
    return KEYPOINT_STAT_NAMES if iou_type == "keypoints" else STAT_NAMES


def _summary_max_dets(p: Params, which) -> int:
    if isinstance(which, str):  # pycocotools passes a literal here (for "100": cocoapi #558)
        return int(which)
    return p.max_dets[min(which, len(p.max_dets) - 1)]


def _summary_stats(r: CocoEvalResult) -> np.ndarray:
    p = r.params
    table = _summary_table(p)
    stats = np.zeros(len(table))
    for i, (_, is_ap, iou, area, which) in enumerate(table):
        aind = [j for j, lbl in enumerate(p.area_lbl) if lbl == area]
        mind = [j for j, m in enumerate(p.max_dets) if m == _summary_max_dets(p, which)]
        s = r.precision if is_ap else r.recall
        if iou is not None:
            s = s[np.where(iou == p.iou_thrs)[0]]
        s = s[:, :, :, aind, mind] if is_ap else s[:, :, aind, mind]
        stats[i] = -1 if len(s[s > -1]) == 0 else np.mean(s[s > -1])
    return stats


def summary_lines(r: CocoEvalResult) -> list[str]:
    """The lines ``COCOeval.summarize()`` prints (12; 10 for keypoints)."""
    p = r.params
    lines = []
    for stat, (_, is_ap, iou, area, which) in zip(r.stats, _summary_table(p), strict=True):
        title, kind = ("Average Precision", "(AP)") if is_ap else ("Average Recall", "(AR)")
        iou_str = (f"{p.iou_thrs[0]:0.2f}:{p.iou_thrs[-1]:0.2f}" if iou is None
                   else f"{iou:0.2f}")
        lines.append(f" {title:<18} {kind} @[ IoU={iou_str:<9} | area={area:>6s} | "
                     f"maxDets={_summary_max_dets(p, which):>3d} ] = {stat:0.3f}")
    return lines


# ---------------------------------------------------------------------------------------------

def _tiny_case(iou_type: str) -> tuple[CocoGT, CocoDets]:
    """One image, one object, one detection on it, for ``iou_type``: the smallest input that
    runs every kernel of that evaluation."""
    if iou_type == "bbox":
        return one_box_case()
    from .coco import load_gt, load_results

    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 4, 4], "area": 16,
           "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]], "keypoints": [1, 1, 2] * 17,
           "num_keypoints": 17}
    gt = load_gt({"images": [{"id": 1, "height": 8, "width": 8}],
                  "categories": [{"id": 1, "keypoints": [str(i) for i in range(17)]}],
                  "annotations": [ann]}, iou_type)
    # Results' masks come as compressed RLE (the polygon above, as pycocotools encodes it).
    value = ({"size": [8, 8], "counts": "04400000P1"} if iou_type == "segm"
             else ann["keypoints"])
    key = "segmentation" if iou_type == "segm" else "keypoints"
    return gt, load_results([{"image_id": 1, "category_id": 1, "score": 0.9, key: value}], gt)


def warm_up(iou_type: str = "bbox") -> None:
    """Load Numba and this module's cached kernels ahead of use (a one-object evaluation); the
    CLI does it while its input files are parsed (see coco.load_gt_and_results)."""
    gt, dets = _tiny_case(iou_type)
    evaluate(gt, dets, Params(iou_type=iou_type))


def parse_args(argv=None, prog: str = "python -m cvcore.cocoeval") -> argparse.Namespace:
    parser = cli_parser(prog, "COCO AP (boxes, masks or keypoints), pycocotools' numbers.",
                        "write stats and per-category AP here")
    parser.add_argument("--iou-type", choices=IOU_TYPES, default="bbox",
                        help="what is compared: boxes, masks (segmentation) or keypoints (OKS)")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> None:
    from ..atomic import write_json

    check_output_path(args.json)
    iou_type = args.iou_type
    gt, dets = load_gt_and_results(args.gt, args.results, meanwhile=lambda: warm_up(iou_type),
                                   iou_type=iou_type)
    result = evaluate(gt, dets, Params(iou_type=iou_type))
    print("\n".join(summary_lines(result)))
    if args.json:
        names = dict(zip(gt.cat_ids.tolist(), gt.cat_names, strict=True))
        write_json(args.json, {
            "iou_type": iou_type,
            "stats": result.stats.tolist(),
            "stat_names": list(stat_names(iou_type)),
            "per_category": result.per_category_ap(names)})


def cli(argv=None, prog: str = "python -m cvcore.cocoeval") -> None:
    """The command line: ``python -m cvcore.cocoeval`` and ``cvcore cocoeval``."""
    # As the process's own command line (argv None) it ends without the interpreter's teardown
    # (errors.run_cli); called with arguments (tests, other code) it returns normally.
    run_cli(lambda: main(parse_args(argv, prog)), fast_exit=argv is None)


if __name__ == "__main__":
    cli()
