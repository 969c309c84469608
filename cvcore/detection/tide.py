"""TIDE error breakdown (Bolya et al., ECCV 2020) with tidecv 1.0.1's numbers, box and mask mode.

``tide(gt, dets) -> TideResult`` gives AP@50 and, for each error type, the AP@50 gained by fixing
only that type (dAP), exactly as ``tidecv.TIDE().evaluate(gt, preds, mode=TIDE.BOX)`` and
``get_main_errors()`` / ``get_special_errors()`` do. ``tide(gt, dets, gt_masks=, det_masks=)`` is
``mode=TIDE.MASK``: the same rules on mask IoU (pycocotools' ``iou`` on RLEs, crowd regions'
masks as intersection over the detection's mask area), ground-truth masks built as tidecv's COCO
loader builds them (polygons merged, RLE as is: :func:`cvcore.detection.rle.from_segmentations`).
``tide_by_scale`` adds the same breakdown per object scale, which tidecv 1.0.1 does not implement.

Both modes share one matching kernel: IoUs come in per-image blocks (:func:`iou_blocks`,
detections x ground truth, and detections x crowd regions) computed by type beforehand.

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

from ..boxes import iou_blocks as box_iou_blocks
from ..errors import run_cli
from ..runs import check_output_path
from .coco import CocoDets, CocoGT, cli_parser, load_gt_and_results, one_box_case
from .rle import Rles, area, from_boxes, rle_iou_blocks, take, to_bbox

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


@numba.njit(cache=True, nogil=True)
def _tide_image_kernel(det_start, det_cls, det_score, gt_start, gt_cls, iou_flat, iou_offsets,
                       crowd_start, crowd_cls, crowd_flat, crowd_offsets, pos_thresh, bg_thresh,
                       det_state, det_error, det_error_gt, gt_used, gt_usable, gt_best_det):
    """Match and classify the errors of each image (detections already sorted and capped).

    ``iou_flat`` holds each image's [nd, ng] detection x ground-truth IoU block (row-major, at
    ``iou_offsets``), ``crowd_flat`` its [nd, nc] intersection-over-detection-area block with
    the crowd regions: the kernel is the same for boxes and masks."""
    gt_best_score = np.full(gt_cls.shape[0], -1.0)
    for img in range(det_start.shape[0] - 1):
        d0, d1 = det_start[img], det_start[img + 1]
        g0, g1 = gt_start[img], gt_start[img + 1]
        nd, ng = d1 - d0, g1 - g0
        if nd == 0:
            continue
        iou = iou_flat[iou_offsets[img]:iou_offsets[img + 1]].reshape(nd, ng)
        for d in range(nd):  # greedy, all classes together, argmax -> lowest index on ties
            best, m = 0.0, -1
            for g in range(ng):
                if gt_used[g0 + g] or gt_cls[g0 + g] != det_cls[d0 + d]:
                    continue
                if m == -1 or iou[d, g] > best:
                    best, m = iou[d, g], g
            if m >= 0 and best >= pos_thresh:
                det_state[d0 + d] = TP
                gt_used[g0 + m] = True
            else:
                det_state[d0 + d] = FP
        c0, c1 = crowd_start[img], crowd_start[img + 1]
        crowd_iou = crowd_flat[crowd_offsets[img]:crowd_offsets[img + 1]].reshape(nd, c1 - c0)
        for c in range(c1 - c0):
            for d in range(nd):
                if det_state[d0 + d] == TP or crowd_cls[c0 + c] != det_cls[d0 + d]:
                    continue
                if crowd_iou[d, c] > pos_thresh:
                    det_state[d0 + d] = IGNORED
        for d in range(nd):
            if det_state[d0 + d] == TP:
                continue
            if ng == 0:
                det_error[d0 + d] = BKG
                continue
            # argmax over same-class, other-class, matched same-class and all ground truth.
            same, other, dupe, anything = -1, -1, -1, -1
            for g in range(ng):
                v = iou[d, g]
                if gt_cls[g0 + g] == det_cls[d0 + d]:
                    if same == -1 or v > iou[d, same]:
                        same = g
                    if gt_used[g0 + g] and (dupe == -1 or v > iou[d, dupe]):
                        dupe = g
                elif other == -1 or v > iou[d, other]:
                    other = g
                if anything == -1 or v > iou[d, anything]:
                    anything = g
            if same >= 0 and bg_thresh <= iou[d, same] <= pos_thresh:
                error, target = LOC, same
            elif other >= 0 and iou[d, other] >= pos_thresh:
                error, target = CLS, other
            elif dupe >= 0 and iou[d, dupe] >= pos_thresh:
                error, target = DUPE, -1
            elif iou[d, anything] <= bg_thresh:
                error, target = BKG, -1
            else:
                error, target = BOTH, -1
            det_error[d0 + d] = error
            if target >= 0:
                g = g0 + target
                det_error_gt[d0 + d] = g
                if not gt_used[g]:
                    gt_usable[g] = True
                    if gt_best_score[g] < det_score[d0 + d]:
                        gt_best_score[g] = det_score[d0 + d]
                        gt_best_det[g] = d0 + d


@numba.njit(cache=True, nogil=True)
def _ap50_kernel(cls_start, is_tp, n_gt, ap):
    """tidecv's per-class AP (points sorted by class, then score descending)."""
    for k in range(cls_start.shape[0] - 1):
        p0, p1 = cls_start[k], cls_start[k + 1]
        if n_gt[k] == 0:
            ap[k] = 0.0
            continue
        n = p1 - p0
        precision = np.empty(n)
        recall = np.empty(n)
        n_true = 0
        for i in range(n):
            n_true += is_tp[p0 + i]
            precision[i] = n_true / (i + 1)
            recall[i] = n_true / n_gt[k]
        for i in range(n - 1, 0, -1):
            if precision[i] > precision[i - 1]:
                precision[i - 1] = precision[i]
        total = 0.0
        for b in range(101):
            i = np.searchsorted(recall, b / 100)
            if i < n:
                total += precision[i]
        ap[k] = total / 101 * 100


def _map50(cls, score, is_tp, order, n_gt, sort=None):
    """Mean AP@50 over classes with data points or ground truth; also the per-class APs.
    ``sort`` (optional) is the points' order by (class, score descending, ``order``)."""
    n_cls = len(n_gt)
    if sort is None:
        sort = np.lexsort((order, -score, cls))
    starts = np.searchsorted(cls[sort], np.arange(n_cls + 1)).astype(np.int64)
    ap = np.zeros(n_cls)
    _ap50_kernel(starts, is_tp[sort].astype(np.int64), n_gt.astype(np.int64), ap)
    present = (np.diff(starts) > 0) | (n_gt != 0)
    return (float(sum(ap[present].tolist()) / present.sum()) if present.any() else 0.0), ap


def _prepare(gt: CocoGT, dets: CocoDets, gt_keep: np.ndarray, det_keep: np.ndarray):
    """Per-image arrays in tidecv's order: ground truth and crowd regions in file order,
    detections by score (stable) capped at 100 per image."""
    image_ids = gt.image_ids  # tidecv walks the images in the file's order
    order_of_image = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order_of_image]

    def image_pos(ids):
        return order_of_image[np.searchsorted(sorted_ids, ids)]

    cat_ids = np.sort(gt.cat_ids)
    g = np.flatnonzero(gt_keep & ~gt.iscrowd)
    g = g[np.argsort(image_pos(gt.ann_image_ids[g]), kind="stable")]
    c = np.flatnonzero(gt_keep & gt.iscrowd)
    c = c[np.argsort(image_pos(gt.ann_image_ids[c]), kind="stable")]
    d = np.flatnonzero(det_keep)
    d_img = image_pos(dets.image_ids[d])
    d = d[np.lexsort((-dets.scores[d], d_img))]
    d_img = image_pos(dets.image_ids[d])
    n_img = len(image_ids)
    start = np.searchsorted(d_img, np.arange(n_img + 1))
    rank = np.arange(len(d)) - np.repeat(start[:-1], np.diff(start))
    d = d[rank < MAX_DETS]

    def starts(idx, img_ids):
        return np.searchsorted(image_pos(img_ids[idx]), np.arange(n_img + 1)).astype(np.int64)

    return (cat_ids, g, starts(g, gt.ann_image_ids), c, starts(c, gt.ann_image_ids), d,
            starts(d, dets.image_ids))


def iou_blocks(det_start: np.ndarray, dets: np.ndarray | Rles, gt_start: np.ndarray,
               gts: np.ndarray | Rles, crowd: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-image IoU blocks ``(flat float64[sum nd*ng], offsets int64[I + 1])``.

    ``det_start`` / ``gt_start`` (int64[I + 1]) delimit each image's rows of ``dets`` / ``gts``,
    which are both xywh boxes (float64[N, 4]; pycocotools' bbIou) or both masks (Rles;
    pycocotools' rleIou, masks of an image must share its size). Image i's block is
    ``flat[offsets[i]:offsets[i + 1]].reshape(nd, ng)``; ``crowd`` makes every ground-truth
    row a crowd region (intersection over the detection's area)."""
    offsets = _block_offsets(det_start, gt_start)
    out = np.zeros(offsets[-1])
    flags = np.full(len(gts), crowd)
    if isinstance(dets, Rles):
        rle_iou_blocks(det_start, gt_start, offsets, dets.starts, dets.runs, gts.starts, gts.runs,
                       flags, area(dets), area(gts), to_bbox(dets), to_bbox(gts), out)
    else:
        box_iou_blocks(det_start, gt_start, offsets, np.ascontiguousarray(dets, np.float64),
                       np.ascontiguousarray(gts, np.float64), flags, out)
    return out, offsets


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
    if (gt_masks is None) != (det_masks is None):
        raise ValueError("mask mode needs both gt_masks and det_masks")
    cat_ids, g, g_start, c, c_start, d, d_start = _prepare(gt, dets, gt_keep, det_keep)
    if gt_masks is None:
        det_shapes, gt_shapes, crowd_shapes = dets.boxes[d], gt.boxes[g], gt.boxes[c]
    else:
        det_shapes, gt_shapes, crowd_shapes = (take(det_masks, d), take(gt_masks, g),
                                               take(gt_masks, c))
    gt_cls = np.searchsorted(cat_ids, gt.ann_cat_ids[g])
    det_cls = np.searchsorted(cat_ids, dets.cat_ids[d])
    score = dets.scores[d]
    n = len(d)
    det_state = np.full(n, FP, np.int8)
    det_error = np.full(n, -1, np.int8)
    det_error_gt = np.full(n, -1, np.int64)
    gt_used = np.zeros(len(g), np.bool_)
    gt_usable = np.zeros(len(g), np.bool_)
    gt_best_det = np.full(len(g), -1, np.int64)
    _tide_image_kernel(d_start, det_cls, score, g_start, gt_cls,
                       *iou_blocks(d_start, det_shapes, g_start, gt_shapes, crowd=False),
                       c_start, np.searchsorted(cat_ids, gt.ann_cat_ids[c]),
                       *iou_blocks(d_start, det_shapes, c_start, crowd_shapes, crowd=True),
                       pos_thresh, bg_thresh,
                       det_state, det_error, det_error_gt, gt_used, gt_usable, gt_best_det)

    n_cls = len(cat_ids)
    n_gt = np.bincount(gt_cls, minlength=n_cls)
    position = np.arange(n)
    is_tp = det_state == TP
    counted = det_state != IGNORED
    ap50, per_class = _map50(det_cls[counted], score[counted], is_tp[counted],
                             position[counted], n_gt)
    # A fixed run lists the error data points first (in detection order), then the true
    # positives: on tied scores that order decides, so keep it.
    fixed_order = np.where(is_tp, n + position, position)

    # One sort serves every fixed run that only drops points or turns them into true positives
    # (the order key does not change); fixing Cls (classes move) and FalsePos (scores change)
    # sort their own points.
    fixed_sort = np.lexsort((fixed_order, -score, det_cls))

    def fixed_map(fix_type=None, scores=None, gt_count=n_gt):
        keep = counted.copy()
        cls = det_cls.copy()
        tp = is_tp.copy()
        if fix_type is not None:
            hit = det_error == fix_type
            keep[hit] = False
            if fix_type in (CLS, LOC):
                target = det_error_gt[hit]
                wins = target >= 0
                wins[wins] = ~gt_used[target[wins]] & (gt_best_det[target[wins]]
                                                       == np.flatnonzero(hit)[wins])
                idx = np.flatnonzero(hit)[wins]
                keep[idx] = True
                tp[idx] = True
                if fix_type == CLS:
                    cls[idx] = gt_cls[target[wins]]
        if fix_type == CLS or scores is not None:
            s = score if scores is None else scores
            return _map50(cls[keep], s[keep], tp[keep], fixed_order[keep], gt_count)[0]
        chosen = fixed_sort[keep[fixed_sort]]
        return _map50(cls, score, tp, fixed_order, gt_count, sort=chosen)[0]

    missed = ~gt_used & ~gt_usable
    main = {}
    for code, name in enumerate(MAIN_ERRORS[:5]):
        main[name] = max(fixed_map(code) - ap50, 0.0)
    main["Miss"] = max(fixed_map(gt_count=n_gt - np.bincount(gt_cls[missed], minlength=n_cls))
                       - ap50, 0.0)
    special = {
        "FalsePos": fixed_map(scores=is_tp.astype(np.float64)) - ap50,
        "FalseNeg": fixed_map(gt_count=np.bincount(gt_cls[gt_used], minlength=n_cls)) - ap50}
    counts = {name: int((det_error == code).sum()) for code, name in enumerate(MAIN_ERRORS[:5])}
    counts["Miss"] = int(missed.sum())
    return TideResult(ap50=ap50, main=main, special=special, counts=counts, n_gt=len(g),
                      n_dets=int(det_keep.sum()),
                      per_class_ap50={int(cat_ids[k]): float(per_class[k])
                                      for k in range(n_cls) if n_gt[k] > 0},
                      mode="bbox" if gt_masks is None else "mask")


def scale_masks(boxes: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of boxes (xywh) in each scale by box area, TIDE's qualifier boundaries."""
    area = boxes[:, 2] * boxes[:, 3]
    return {name: (area > lo if lo > 0 else area >= lo) & (area <= hi)
            for name, (lo, hi) in SCALES.items()}


def tide_by_scale(gt: CocoGT, dets: CocoDets, gt_masks: Rles | None = None,
                  det_masks: Rles | None = None) -> dict[str, TideResult]:
    """``{"all", "small", "medium", "large"}`` -> TideResult; see the module docstring (the
    scales are by box area in mask mode too, as tidecv's qualifiers)."""
    masks = {"gt_masks": gt_masks, "det_masks": det_masks}
    out = {"all": tide(gt, dets, **masks)}
    gt_scale, det_scale = scale_masks(gt.boxes), scale_masks(dets.boxes)
    for name in SCALES:
        out[name] = tide(gt, dets, gt_keep=gt_scale[name] | gt.iscrowd, det_keep=det_scale[name],
                         **masks)
    return out


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
    run_cli(lambda: main(parse_args(argv, prog)))


if __name__ == "__main__":
    cli()
