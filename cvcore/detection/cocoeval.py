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

from ..boxes import iou_blocks
from ..errors import InputError, run_cli
from ..runs import check_output_path
from . import rle
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
# Matching: one image x category group at a time, every area range and IoU threshold.

@numba.njit(cache=True, nogil=True)
def _match_kernel(group_det_start, group_gt_start, iou_start, ious, gt_crowd, gt_ignore,
                  gt_rows, iou_thrs, matched, det_ignored_by_gt, match_gt):
    """Greedy COCO matching on precomputed similarity blocks (see above).

    group_*_start: int64[G + 1] offsets of each group's detections (sorted by score) and ground
    truth (file order); gt_crowd: bool[N] may be matched any number of times; gt_ignore:
    bool[A, N]; gt_rows: int64[N] their CocoGT rows. Writes matched[A, T, D],
    det_ignored_by_gt[A, T, D] (matched to an ignored ground truth) and match_gt[A, T, D] (the
    matched ground truth's CocoGT row, left alone when unmatched).
    """
    n_area, n_thr = gt_ignore.shape[0], iou_thrs.shape[0]
    for grp in range(group_det_start.shape[0] - 1):
        d0, d1 = group_det_start[grp], group_det_start[grp + 1]
        g0, g1 = group_gt_start[grp], group_gt_start[grp + 1]
        nd, ng = d1 - d0, g1 - g0
        if nd == 0 or ng == 0:
            continue
        block = ious[iou_start[grp]:iou_start[grp + 1]]
        order = np.empty(ng, np.int64)
        taken = np.empty(ng, np.bool_)
        for a in range(n_area):
            # Non-ignored ground truth first, each part in file order (a stable sort).
            n = 0
            for ignored in (False, True):
                for g in range(ng):
                    if gt_ignore[a, g0 + g] == ignored:
                        order[n] = g
                        n += 1
            for t in range(n_thr):
                taken[:] = False
                for d in range(nd):
                    best = min(iou_thrs[t], 1 - 1e-10)
                    m = -1
                    for j in range(ng):
                        g = order[j]
                        if taken[g] and not gt_crowd[g0 + g]:
                            continue
                        if m > -1 and not gt_ignore[a, g0 + m] and gt_ignore[a, g0 + g]:
                            break
                        if block[d * ng + g] < best:
                            continue
                        best = block[d * ng + g]
                        m = g
                    if m == -1:
                        continue
                    taken[m] = True
                    matched[a, t, d0 + d] = True
                    det_ignored_by_gt[a, t, d0 + d] = gt_ignore[a, g0 + m]
                    match_gt[a, t, d0 + d] = gt_rows[g0 + m]


# ---------------------------------------------------------------------------------------------
# Accumulation: precision/recall per category, area range, max-dets and IoU threshold.

@numba.njit(cache=True, nogil=True)
def _accumulate_kernel(cat_start, det_rank, det_score, matched, ignored, n_positive, max_dets,
                       rec_thrs, precision, recall, scores):
    """cat_start: int64[K + 1] offsets of each category's detections in accumulation order
    (score, then image, then rank); matched, ignored: bool[A, T, D]; n_positive: int64[K, A]."""
    n_area, n_thr = matched.shape[0], matched.shape[1]
    n_rec = rec_thrs.shape[0]
    for k in range(cat_start.shape[0] - 1):
        c0, c1 = cat_start[k], cat_start[k + 1]
        tp_sum = np.empty(c1 - c0)
        fp_sum = np.empty(c1 - c0)
        kept_score = np.empty(c1 - c0)
        for a in range(n_area):
            npig = n_positive[k, a]
            if npig == 0:
                continue
            for m in range(max_dets.shape[0]):
                for t in range(n_thr):
                    nd = 0
                    tp = 0.0
                    fp = 0.0
                    for d in range(c0, c1):
                        if det_rank[d] >= max_dets[m]:
                            continue
                        if not ignored[a, t, d]:
                            if matched[a, t, d]:
                                tp += 1.0
                            else:
                                fp += 1.0
                        tp_sum[nd] = tp
                        fp_sum[nd] = fp
                        kept_score[nd] = det_score[d]
                        nd += 1
                    rc = tp_sum[:nd] / npig
                    pr = tp_sum[:nd] / (fp_sum[:nd] + tp_sum[:nd] + EPS)
                    recall[t, k, a, m] = rc[nd - 1] if nd else 0.0
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    for r in range(n_rec):
                        i = np.searchsorted(rc, rec_thrs[r])
                        if i >= nd:  # pycocotools stops here; the rest stay 0
                            break
                        precision[t, r, k, a, m] = pr[i]
                        scores[t, r, k, a, m] = kept_score[i]


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


def _positions(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each id in ``wanted`` (any order, unique), -1 when absent."""
    if len(wanted) == 0:
        return np.full(len(ids), -1, np.int64)
    order = np.argsort(wanted, kind="stable")
    pos = np.searchsorted(wanted, ids, sorter=order).clip(0, len(wanted) - 1)
    found = wanted[order[pos]] == ids
    return np.where(found, order[pos], -1)


def _starts(keys: np.ndarray, n_groups: int) -> np.ndarray:
    """Offsets [n_groups + 1] of each key's run in an array of sorted keys 0..n_groups-1."""
    return np.searchsorted(keys, np.arange(n_groups + 1)).astype(np.int64)


@dataclass
class Matches:
    """Per-detection matching results for the kept detections (those within max(max_dets)).

    det_index: int64[D] rows of the CocoDets, grouped by (category, image), by score in a group;
    rank: int64[D] position within its image x category group; det_img, det_cat: int64[D]
    positions in ``p.img_ids`` / ``p.cat_ids`` (0 without categories); gt_index: int64[N] rows
    of the CocoGT evaluated, grouped the same way, with gt_cat and gt_ignore: bool[A, N];
    matched, ignored: bool[A, T, D]; match_gt: int64[A, T, D] the CocoGT row each detection
    matched (crowd and ignored ground truth included), -1 when unmatched.
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
    match_gt: np.ndarray


def match(gt: CocoGT, dets: CocoDets, p: Params) -> Matches:
    """COCO's per image x category greedy matching at every area range and IoU threshold, on
    box IoU, mask IoU or keypoint OKS by ``p.iou_type``. ``p`` must come from
    :func:`resolve_params`."""
    img_ids, cat_ids = np.array(p.img_ids, np.int64), np.array(p.cat_ids, np.int64)
    area_rng = np.array(p.area_rng, np.float64)
    n_img, n_area, n_thr = len(img_ids), len(area_rng), len(p.iou_thrs)
    n_cat = len(cat_ids) if p.use_cats else 1

    # Ground truth and detections of the evaluated images and categories, grouped by
    # (category, image) -- or by image alone without categories -- in pycocotools' order.
    def grouped(image_ids, category_ids):
        img = _positions(image_ids, img_ids)
        cat = _positions(category_ids, cat_ids)
        keep = (img >= 0) & (cat >= 0)
        group = (cat * n_img + img) if p.use_cats else img
        return np.flatnonzero(keep), img, cat, group

    g_idx, g_img, g_cat, g_group = grouped(gt.ann_image_ids, gt.ann_cat_ids)
    g_idx = g_idx[np.lexsort((g_cat[g_idx], g_group[g_idx]))]
    d_idx, d_img, d_cat, d_group = grouped(dets.image_ids, dets.cat_ids)
    d_idx = d_idx[np.lexsort((d_cat[d_idx], -dets.scores[d_idx], d_group[d_idx]))]
    n_groups = n_cat * n_img
    det_start = _starts(d_group[d_idx], n_groups)
    rank = np.arange(len(d_idx)) - np.repeat(det_start[:-1], np.diff(det_start))
    d_idx, rank = d_idx[rank < p.max_dets[-1]], rank[rank < p.max_dets[-1]]
    det_start = _starts(d_group[d_idx], n_groups)
    gt_start = _starts(g_group[g_idx], n_groups)

    gt_area = gt.areas[g_idx]
    crowd = gt.iscrowd[g_idx]
    ignore = crowd.copy()
    if p.iou_type == "keypoints":  # people without a single labelled keypoint are ignored
        ignore |= gt.num_keypoints[g_idx] == 0
    gt_ignore = ignore[None] | (gt_area[None] < area_rng[:, :1]) | (gt_area[None] > area_rng[:, 1:])
    matched = np.zeros((n_area, n_thr, len(d_idx)), np.bool_)
    ignored = np.zeros_like(matched)
    match_gt = np.full(matched.shape, -1, np.int64)
    iou_start = np.zeros(n_groups + 1, np.int64)
    np.cumsum(np.diff(det_start) * np.diff(gt_start), out=iou_start[1:])
    ious = similarities(gt, dets, p, g_idx, d_idx, gt_start, det_start, iou_start, crowd)
    _match_kernel(det_start, gt_start, iou_start, ious, crowd, gt_ignore, g_idx,
                  np.asarray(p.iou_thrs, np.float64), matched, ignored, match_gt)
    det_area = dets.areas[d_idx]
    out_of_range = (det_area[None] < area_rng[:, :1]) | (det_area[None] > area_rng[:, 1:])
    ignored |= ~matched & out_of_range[:, None, :]
    return Matches(det_index=d_idx, rank=rank, det_img=d_img[d_idx],
                   det_cat=d_cat[d_idx] if p.use_cats else np.zeros(len(d_idx), np.int64),
                   gt_index=g_idx,
                   gt_cat=g_cat[g_idx] if p.use_cats else np.zeros(len(g_idx), np.int64),
                   gt_ignore=gt_ignore, matched=matched, ignored=ignored,
                   match_gt=match_gt)


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
        gt_masks = _needs(gt.segms, gt, "segm")
        det_masks = _needs(dets.segms, dets, "segm")
        gt_masks, det_masks = rle.take(gt_masks, g_idx), rle.take(det_masks, d_idx)
        rle.rle_iou_blocks(det_start, gt_start, iou_start, det_masks.starts, det_masks.runs,
                           gt_masks.starts, gt_masks.runs, crowd, rle.area(det_masks),
                           rle.area(gt_masks), rle.to_bbox(det_masks), rle.to_bbox(gt_masks),
                           ious)
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


def count_positives(m: Matches, p: Params) -> np.ndarray:
    """int64[K, A]: non-ignored ground truth per category and area range (pycocotools' npig)."""
    n_cat = len(p.cat_ids) if p.use_cats else 1
    return np.stack([np.bincount(m.gt_cat[~m.gt_ignore[a]], minlength=n_cat)
                     for a in range(len(p.area_rng))], axis=1).astype(np.int64).reshape(n_cat, -1)


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
    cat_ids = np.array(p.cat_ids, np.int64)
    n_area, n_thr = len(p.area_rng), len(p.iou_thrs)
    n_cat = len(cat_ids) if p.use_cats else 1
    det_cat, det_img, rank = (np.asarray(a, np.int64) for a in (det_cat, det_img, rank))
    score = np.asarray(score, np.float64)
    n_positive = np.asarray(n_positive, np.int64).reshape(n_cat, n_area)
    acc = np.lexsort((rank, det_img, -score, det_cat))
    shape = (n_thr, len(p.rec_thrs), n_cat, n_area, len(p.max_dets))
    precision, scores = -np.ones(shape), -np.ones(shape)
    recall = -np.ones((n_thr, n_cat, n_area, len(p.max_dets)))
    precision[:, :, n_positive > 0] = 0.0  # undefined stays -1; unreached recall is 0
    scores[:, :, n_positive > 0] = 0.0
    _accumulate_kernel(_starts(det_cat[acc], n_cat), rank[acc], score[acc],
                       np.ascontiguousarray(np.asarray(matched, np.bool_)[:, :, acc]),
                       np.ascontiguousarray(np.asarray(ignored, np.bool_)[:, :, acc]),
                       n_positive, np.array(p.max_dets, np.int64),
                       np.asarray(p.rec_thrs, np.float64), precision, recall, scores)
    result = CocoEvalResult(params=p, cat_ids=cat_ids if p.use_cats else np.array([-1]),
                            precision=precision, recall=recall, scores=scores, stats=np.zeros(0))
    result.stats = _summary_stats(result)
    return result


def evaluate(gt: CocoGT, dets: CocoDets, params: Params | None = None) -> CocoEvalResult:
    """COCO evaluation of ``params.iou_type`` (default: the type ``gt`` was loaded for); see
    the module docstring for the exact rules."""
    p = resolve_params(params, gt)
    m = match(gt, dets, p)
    return accumulate(m.det_cat, m.det_img, m.rank, dets.scores[m.det_index], m.matched,
                      m.ignored, count_positives(m, p), p)


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
    key = "segmentation" if iou_type == "segm" else "keypoints"
    return gt, load_results([{"image_id": 1, "category_id": 1, "score": 0.9, key: ann[key]}], gt)


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
    run_cli(lambda: main(parse_args(argv, prog)))


if __name__ == "__main__":
    cli()
