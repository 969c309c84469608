"""``COCOeval`` and ``Params``: pycocotools' evaluation API (``pycocotools.cocoeval`` 2.0.11) on
cvcore's engine (:mod:`cvcore.detection.cocoeval`), with pycocotools' numbers.

``evaluate()`` turns the annotations selected by ``params`` (dicts of two :class:`~.coco.COCO`
objects) into the engine's arrays -- boxes for 'bbox', masks by pycocotools' ``annToRLE`` rule
for 'segm', keypoints with ``num_keypoints`` for 'keypoints' (OKS) -- and runs its matching
kernel; ``accumulate()`` runs its precision/recall kernel; ``summarize()`` prints pycocotools'
lines and sets ``stats``. Everything pycocotools exposes is there with its shapes and types:
``params``, ``evalImgs`` (the per-(category, area range, image) dicts, or None where an image has
neither ground truth nor detections of the category), ``eval`` (``params``, ``counts``, ``date``,
``precision`` [T, R, K, A, M], ``recall`` [T, K, A, M], ``scores`` [T, R, K, A, M]), ``stats``,
``ious`` (keyed ``(imgId, catId)``), ``_paramsEval``, ``computeIoU``, ``evaluateImg``.

``evalImgs`` and ``ious`` are built only when read (a property): the plain evaluate ->
accumulate -> summarize path never makes the millions of small dicts and matrices pycocotools
makes. They may be assigned: ``accumulate()`` then reads the assigned ``evalImgs`` with the
assigned ``_paramsEval``, which is how torchvision's detection references merge the results of
several processes (``evalImgs = list(np.concatenate(per_rank, 2).flatten())``; ``params.imgIds``
and ``_paramsEval`` set to all images; ``accumulate()``). Without an assignment ``accumulate()``
uses the engine's arrays of the last ``evaluate()``, so edits made in place to the dicts of a
read ``evalImgs`` are not seen (assign the list back to make them count). The arrays in the dicts
are views of one array per area range; each dict's are its own region.

Matching rules: see :mod:`cvcore.detection.cocoeval`. Two places where the engine and
pycocotools part, and what this module does:

- a ground-truth annotation with id 0 (cocoapi #664): pycocotools stores matches as ids and
  tests them for truth, so a detection matched to it counts as a false positive (and is ignored
  when outside the area range). ``accumulate()`` after ``evaluate()`` uses the engine's match
  flags and counts it as a true positive; ``evalImgs`` dicts hold pycocotools' values (0 in
  ``dtMatches``, pycocotools' ``dtIgnore``), and ``accumulate()`` from *assigned* ``evalImgs``
  takes ``matched = dtMatches != 0`` as pycocotools does, because such dicts cannot tell "matched
  to id 0" from "unmatched";
- keypoints with ``useCats = 0``: pycocotools' computeOks looks each image's objects up under
  category -1 and finds none, so it matches nothing (a perfect result scores AP 0); the engine
  pools the categories as computeIoU does for boxes and masks, and so do ``evalImgs``, ``ious``
  and ``computeOks`` here;
- masks of different sizes on one image (malformed results): pycocotools gives such pairs IoU -1,
  the drop-in raises ValueError;
- no detections at all: see :mod:`.coco` (``loadRes([])``).

pycocotools' own traps are kept because its numbers are the reference: the first summary
number reads maxDets 100 whatever ``maxDets`` is (cocoapi #558), ``summarize()`` fails with fewer
than 3 maxDets for boxes and masks, detections of one image are capped at ``maxDets[-1]`` after a
stable score sort.

Differences that do not change numbers: ``evaluate()`` does not write pycocotools' scratch
fields (``ignore``, ``_ignore``, RLE ``segmentation``) into the annotation dicts and leaves
``_gts``/``_dts`` empty. ``accumulate(p)`` keeps pycocotools' quirks: it sets ``p.catIds = [-1]``
when ``useCats`` is off, and it indexes ``evalImgs`` with positions in ``p`` against the layout of
``_paramsEval``.
"""

from __future__ import annotations

import copy
import datetime
import gc
import itertools
import time
from collections import defaultdict

import numpy as np

from ..detection import cocoeval as engine
from ..detection import rle
from ..detection.coco import CocoDets, CocoGT


class Params:
    """pycocotools' evaluation parameters (``Params(iouType='segm')``; 'bbox', 'segm' or
    'keypoints'): imgIds, catIds ([] until COCOeval fills them from the ground truth), iouThrs
    [T], recThrs [R], maxDets [M], areaRng [A][2] (inclusive pixel² ranges) with areaRngLbl,
    useCats, iouType, useSegm (deprecated; when set, evaluate() derives iouType from it) and
    kpt_oks_sigmas for keypoints."""

    def setDetParams(self) -> None:
        self.imgIds = []
        self.catIds = []
        self.iouThrs = engine.default_iou_thrs()  # pycocotools' np.linspace expressions
        self.recThrs = engine.default_rec_thrs()
        self.maxDets = [1, 10, 100]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2],
                        [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ["all", "small", "medium", "large"]
        self.useCats = 1

    def setKpParams(self) -> None:
        self.imgIds = []
        self.catIds = []
        self.iouThrs = engine.default_iou_thrs()
        self.recThrs = engine.default_rec_thrs()
        self.maxDets = [20]
        self.areaRng = [[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
        self.areaRngLbl = ["all", "medium", "large"]
        self.useCats = 1
        self.kpt_oks_sigmas = engine.default_kpt_oks_sigmas()  # COCO's 17 person keypoints

    def __init__(self, iouType="segm"):
        if iouType in ("segm", "bbox"):
            self.setDetParams()
        elif iouType == "keypoints":
            self.setKpParams()
        else:
            raise Exception("iouType not supported")
        self.iouType = iouType
        self.useSegm = None


# ---------------------------------------------------------------------------------------------
# One evaluate(): the selected annotations as engine arrays and the engine's matches.

def _select(coco, img_ids, cat_ids) -> list[dict]:
    """The annotations of ``img_ids`` (image order, then file order) of ``cat_ids`` (None: any),
    looked up by id as pycocotools' ``loadAnns(getAnnIds(...))`` does."""
    by_image, by_id = coco.imgToAnns, coco.anns
    wanted = None if cat_ids is None else set(cat_ids)
    return [by_id[ann["id"]] for img in img_ids for ann in by_image.get(img, ())
            if wanted is None or ann["category_id"] in wanted]


def _column(anns: list[dict], key: str, dtype=np.float64, width: int | None = None) -> np.ndarray:
    values = np.array([ann[key] for ann in anns], dtype=dtype)
    return values.reshape(len(anns), width) if width else values.reshape(len(anns))


def _masks(coco, anns: list[dict]) -> rle.Rles:
    """The annotations' masks by pycocotools' annToRLE: polygons and uncompressed RLE on their
    image's height x width (read for every annotation, as pycocotools reads it), compressed RLE
    at its own size."""
    heights, widths = [], []
    for ann in anns:
        img = coco.imgs[ann["image_id"]]
        own = isinstance(ann["segmentation"], dict) and not isinstance(
            ann["segmentation"]["counts"], list)
        heights.append(-1 if own else img["height"])
        widths.append(-1 if own else img["width"])
    return rle.from_segmentations([ann["segmentation"] for ann in anns],
                                  np.array(heights, np.int64), np.array(widths, np.int64))


def _check_mask_sizes(gt: CocoGT, dets: CocoDets) -> None:
    """Every mask of an image must have one size. pycocotools gives a pair of differently
    sized masks IoU -1 (never a match) when their boxes overlap; such masks come only from
    malformed results, so they are refused here instead (ValueError)."""
    img = np.concatenate([gt.ann_image_ids, dets.image_ids])
    size = np.concatenate([gt.segms.heights * 2 ** 31 + gt.segms.widths,
                           dets.segms.heights * 2 ** 31 + dets.segms.widths])
    low = np.full(len(gt.image_ids), np.iinfo(np.int64).max)
    high = np.full(len(gt.image_ids), -1)
    np.minimum.at(low, img, size)
    np.maximum.at(high, img, size)
    bad = (high >= 0) & (low != high)
    if bad.any():
        raise ValueError(f"masks of different sizes on one image (image #{np.flatnonzero(bad)[0]}"
                         " of params.imgIds); pycocotools would give them IoU -1")


def _keypoints(anns: list[dict], ground_truth: bool) -> dict:
    """The annotations' keypoints as the engine's fields: (x, y, visibility) rows float64[P, 3],
    each annotation's row offsets, and for ground truth its num_keypoints."""
    lengths = [len(ann["keypoints"]) for ann in anns]
    if any(n % 3 for n in lengths):
        raise ValueError("keypoints must be x, y, visibility triples")
    starts = np.zeros(len(anns) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    rows = np.array([x for ann in anns for x in ann["keypoints"]], np.float64).reshape(-1, 3)
    fields = {"keypoints": rows, "keypoint_starts": starts // 3}
    if ground_truth:
        fields["num_keypoints"] = np.array([ann["num_keypoints"] for ann in anns], np.int64)
    return fields


def _objects(values: list) -> np.ndarray:
    """A 1-D object array of the values themselves (ids keep their Python type)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class _Run:
    """The ground truth and detections one ``evaluate()`` selected, as arrays, and the engine's
    matching of them at every area range and IoU threshold (``p`` is ``_paramsEval``).

    Images and categories are numbered by position in ``p.imgIds`` / ``p.catIds``; a group is an
    (image, category) pair, or an image when ``useCats`` is off (K = 1 then)."""

    def __init__(self, coco_gt, coco_dt, p: Params):
        self.p = p
        self.n_img = len(p.imgIds)
        self.use_cats = bool(p.useCats)
        self.n_cat = len(p.catIds) if self.use_cats else 1
        self.img_pos = img_pos = {img: i for i, img in enumerate(p.imgIds)}
        self.cat_pos = cat_pos = {cat: k for k, cat in enumerate(p.catIds)}
        cat_filter = p.catIds if self.use_cats else None
        gts = _select(coco_gt, p.imgIds, cat_filter)
        dts = _select(coco_dt, p.imgIds, cat_filter)
        self.kind = p.iouType

        def positions(anns):
            img = np.array([img_pos[a["image_id"]] for a in anns], np.int64)
            cat = np.array([cat_pos.get(a["category_id"], -1) for a in anns], np.int64)
            return img, cat

        gt_img, gt_cat = positions(gts)
        dt_img, dt_cat = positions(dts)
        self.gt_ids = [a["id"] for a in gts]
        self.dt_ids = [a["id"] for a in dts]
        iscrowd = np.array([int(a["iscrowd"]) for a in gts], np.int64) != 0
        kind = self.kind
        # What pycocotools reads for the iou type: boxes (and, for keypoints, the ground
        # truth's boxes), masks by annToRLE, or keypoints with num_keypoints.
        self.gt = CocoGT(
            image_ids=np.arange(self.n_img), widths=np.zeros(self.n_img, np.int64),
            heights=np.zeros(self.n_img, np.int64), file_names=[],
            cat_ids=np.arange(len(p.catIds)), cat_names=[], ann_ids=np.arange(len(gts)),
            ann_image_ids=gt_img, ann_cat_ids=gt_cat,
            boxes=_column(gts, "bbox", width=4) if kind != "segm" else np.zeros((len(gts), 4)),
            areas=_column(gts, "area"), iscrowd=iscrowd, iou_type=kind,
            segms=_masks(coco_gt, gts) if kind == "segm" else None,
            **(_keypoints(gts, True) if kind == "keypoints" else {}))
        self.dets = CocoDets(
            ids=np.arange(len(dts)), image_ids=dt_img, cat_ids=dt_cat,
            boxes=_column(dts, "bbox", width=4) if kind == "bbox" else np.zeros((len(dts), 4)),
            scores=_column(dts, "score"), areas=_column(dts, "area"), iou_type=kind,
            segms=_masks(coco_dt, dts) if kind == "segm" else None,
            **(_keypoints(dts, False) if kind == "keypoints" else {}))
        if kind == "segm":
            _check_mask_sizes(self.gt, self.dets)
        self.engine_params = engine.resolve_params(engine.Params(
            iou_thrs=np.asarray(p.iouThrs, np.float64), rec_thrs=np.asarray(p.recThrs, np.float64),
            max_dets=list(p.maxDets), area_rng=[list(r) for r in p.areaRng],
            area_lbl=[str(a) for a in range(len(p.areaRng))], use_cats=self.use_cats,
            cat_ids=list(range(len(p.catIds))), img_ids=list(range(self.n_img)), iou_type=kind,
            kpt_oks_sigmas=getattr(p, "kpt_oks_sigmas", engine.default_kpt_oks_sigmas())), self.gt)
        self.m = engine.match(self.gt, self.dets, self.engine_params)

        # Offsets of each group's kept detections and ground truth in the engine's grouped order,
        # and whether pycocotools would make a dict for it (any ground truth or detection).
        n_groups = self.n_cat * self.n_img
        m = self.m
        self.gt_img = gt_img[m.gt_index]
        self.det_start = np.searchsorted(m.det_cat * self.n_img + m.det_img,
                                         np.arange(n_groups + 1))
        self.gt_start = np.searchsorted(m.gt_cat * self.n_img + self.gt_img,
                                        np.arange(n_groups + 1))
        known = (dt_cat >= 0) if self.use_cats else np.isin(dt_cat, np.arange(len(p.catIds)))
        dt_group = (dt_cat * self.n_img + dt_img) if self.use_cats else dt_img
        self.present = (np.diff(self.gt_start) > 0) | (
            np.bincount(dt_group[known], minlength=n_groups) > 0)
        # Grouped position of each ground-truth row, to turn match_gt rows into list positions.
        self.gt_pos = np.empty(len(gts), np.int64)
        self.gt_pos[m.gt_index] = np.arange(len(m.gt_index))
        self._similarity = None
        self.kept_dt_ids = _objects(self.dt_ids)[m.det_index]
        self.kept_scores = self.dets.scores[m.det_index]

    @property
    def n_entries(self) -> int:
        return self.n_cat * len(self.p.areaRng) * self.n_img

    def table(self) -> _Table:
        """The matches as pycocotools' evalImgs entries (category, area, image order), without
        building a dict: every kept detection appears once per area range."""
        m = self.m
        n_area, n_thr, n_det = m.matched.shape
        area = np.arange(n_area)[:, None]
        entry = ((m.det_cat[None] * n_area + area) * self.n_img + m.det_img[None]).ravel()
        order = np.argsort(entry, kind="stable")  # keeps each group's score order
        gt_entry = (m.gt_cat[None] * n_area + area) * self.n_img + self.gt_img[None]
        return _Table(
            start=np.searchsorted(entry[order], np.arange(self.n_entries + 1)),
            rank=np.tile(m.rank, n_area)[order],
            score=np.tile(self.dets.scores[m.det_index], n_area)[order],
            matched=m.matched.transpose(1, 0, 2).reshape(n_thr, -1)[:, order],
            ignored=m.ignored.transpose(1, 0, 2).reshape(n_thr, -1)[:, order],
            n_positive=np.bincount(gt_entry[~m.gt_ignore], minlength=self.n_entries))

    def _area_details(self, a: int) -> tuple:
        """evalImgs arrays of area range ``a`` for every group at once (per-entry slices of them
        are the dicts' values): ground truth in each group ignored-last (stable, as pycocotools
        sorts it) with ids and ignore flags, dtMatches / dtIgnore [T, D] over the kept
        detections and gtMatches [T, N] over that ground-truth order."""
        m = self.m
        n_gt = len(m.gt_index)
        ignore = m.gt_ignore[a]
        group = m.gt_cat * self.n_img + self.gt_img
        order = np.lexsort((ignore, group))  # by group, then non-ignored first, stable
        gt_ids = _objects(self.gt_ids)[m.gt_index[order]]
        placed = np.empty(n_gt, np.int64)  # grouped position -> ignored-last position
        placed[order] = np.arange(n_gt)
        match_row = m.match_gt[a]
        hit = match_row >= 0
        dt_matches = np.zeros(match_row.shape)
        dt_matches[hit] = np.asarray(self.gt_ids, np.float64)[match_row[hit]]
        gt_matches = np.zeros((match_row.shape[0], n_gt))
        t_hit, d_hit = np.nonzero(hit)  # by threshold, then score order
        cell = t_hit * n_gt + placed[self.gt_pos[match_row[hit]]]
        # A crowd region matched by several detections keeps the last (lowest-scored) one.
        last = len(cell) - 1 - np.unique(cell[::-1], return_index=True)[1]
        gt_matches.flat[cell[last]] = np.asarray(self.dt_ids, np.float64)[
            m.det_index[d_hit[last]]]
        low, high = self.p.areaRng[a][0], self.p.areaRng[a][1]
        det_area = self.dets.areas[m.det_index]
        outside = (det_area < low) | (det_area > high)
        # pycocotools tests matches as ids: "unmatched" is dtMatches == 0 (cocoapi #664).
        dt_ignore = m.ignored[a] | ((dt_matches == 0) & outside[None])
        return gt_ids, ignore[order].astype(np.int64), dt_matches, gt_matches, dt_ignore

    def _entry(self, k: int, a: int, i: int, details: tuple,
               det_lists: tuple | None = None) -> dict | None:
        """One evalImgs dict from ``_area_details(a)``; ``det_lists``: the group's dtIds and
        dtScores lists when the caller already has them (they are copied)."""
        g = k * self.n_img + i
        if not self.present[g]:
            return None
        p = self.p
        d0, d1 = int(self.det_start[g]), int(self.det_start[g + 1])
        g0, g1 = int(self.gt_start[g]), int(self.gt_start[g + 1])
        gt_ids, gt_ignore, dt_matches, gt_matches, dt_ignore = details
        if det_lists is None:
            det_lists = (self.kept_dt_ids[d0:d1].tolist(), self.kept_scores[d0:d1].tolist())
        return {
            "image_id": p.imgIds[i],
            "category_id": p.catIds[k] if self.use_cats else -1,
            "aRng": p.areaRng[a],
            "maxDet": p.maxDets[-1],
            "dtIds": det_lists[0][:],
            "gtIds": gt_ids[g0:g1].tolist(),
            "dtMatches": dt_matches[:, d0:d1],
            "gtMatches": gt_matches[:, g0:g1],
            "dtScores": det_lists[1][:],
            # pycocotools builds this from a Python list: float64 when empty.
            "gtIgnore": gt_ignore[g0:g1] if g1 > g0 else np.array([]),
            "dtIgnore": dt_ignore[:, d0:d1],
        }

    def entry(self, k: int, a: int, i: int) -> dict | None:
        """pycocotools' evaluateImg dict for category position k (0 without categories), area
        range a and image position i, or None."""
        return self._entry(k, a, i, self._area_details(a))

    def eval_imgs(self) -> list:
        """pycocotools' evalImgs: entries in (category, area range, image) order."""
        n_area = len(self.p.areaRng)
        out = [None] * self.n_entries
        groups = np.flatnonzero(self.present).tolist()
        starts = self.det_start.tolist()
        det_lists = {g: (self.kept_dt_ids[starts[g]:starts[g + 1]].tolist(),
                         self.kept_scores[starts[g]:starts[g + 1]].tolist()) for g in groups}
        # Hundreds of thousands of new dicts and lists would set off the cyclic garbage
        # collector again and again, each pass scanning everything built so far.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for a in range(n_area):
                details = self._area_details(a)
                for g in groups:
                    k, i = divmod(g, self.n_img)
                    out[(k * n_area + a) * self.n_img + i] = self._entry(k, a, i, details,
                                                                         det_lists[g])
        finally:
            if collecting:
                gc.enable()
        return out

    def _blocks(self) -> tuple[np.ndarray, np.ndarray]:
        """The engine's similarity blocks of every group (IoU or OKS, detections by score x
        ground truth in grouped order, row-major) and their offsets, computed once."""
        if self._similarity is None:
            m = self.m
            iou_start = np.zeros(len(self.det_start), np.int64)
            np.cumsum(np.diff(self.det_start) * np.diff(self.gt_start), out=iou_start[1:])
            values = engine.similarities(
                self.gt, self.dets, self.engine_params, m.gt_index, m.det_index, self.gt_start,
                self.det_start, iou_start, self.gt.iscrowd[m.gt_index])
            self._similarity = iou_start, values
        return self._similarity

    def iou(self, img_id, cat_id):
        """pycocotools' computeIoU / computeOks result for one image and category (-1 without
        categories: all categories pooled, for keypoints too, see the module docstring): []
        when there are no detections or no ground truth, else float64[D, G] (detections by
        score, capped at maxDets[-1]; ground truth in file order)."""
        i = self.img_pos.get(img_id)
        k = self.cat_pos.get(cat_id) if self.use_cats else 0
        if i is None or k is None:
            return []
        g = k * self.n_img + i
        d0, d1 = self.det_start[g], self.det_start[g + 1]
        g0, g1 = self.gt_start[g], self.gt_start[g + 1]
        if d0 == d1 or g0 == g1:
            return []
        iou_start, values = self._blocks()
        block = values[iou_start[g]:iou_start[g + 1]].reshape(d1 - d0, g1 - g0)
        # maskUtils.iou answers in Fortran order, computeOks in C order.
        return block.copy() if self.kind == "keypoints" else np.asfortranarray(block)

    def ious(self) -> dict:
        cats = self.p.catIds if self.use_cats else [-1]
        return {(img, cat): self.iou(img, cat) for img in self.p.imgIds for cat in cats}


class _Table:
    """evalImgs entries as flat arrays: entry e's kept detections are rows start[e]:start[e+1]
    (score order) with rank (position in the entry), score, matched and ignored (bool[T, rows]);
    n_positive[e] counts its non-ignored ground truth."""

    def __init__(self, start, rank, score, matched, ignored, n_positive):
        self.start, self.rank, self.score = start, rank, score
        self.matched, self.ignored, self.n_positive = matched, ignored, n_positive

    @classmethod
    def from_dicts(cls, eval_imgs, n_thr: int) -> _Table:
        """From pycocotools-style dicts (None for an empty entry). ``matched`` is
        ``dtMatches != 0``, pycocotools' own test (see the module docstring). The loop only
        collects references; the arithmetic is done once on the concatenations."""
        n_dets, n_gts, scores, matches, ignores, gt_ignores = [], [], [], [], [], []
        for e in eval_imgs:
            if e is None:
                n_dets.append(0)
                n_gts.append(0)
                continue
            n_dets.append(len(e["dtScores"]))
            n_gts.append(len(e["gtIgnore"]))
            scores.append(e["dtScores"])
            matches.append(e["dtMatches"])  # T x D, as pycocotools makes them
            ignores.append(e["dtIgnore"])
            gt_ignores.append(e["gtIgnore"])
        n_dets, n_gts = np.array(n_dets, np.int64), np.array(n_gts, np.int64)
        start = np.zeros(len(n_dets) + 1, np.int64)
        np.cumsum(n_dets, out=start[1:])
        gt_entry = np.repeat(np.arange(len(n_gts)), n_gts)
        positive = (np.concatenate([np.asarray(g).ravel() for g in gt_ignores]) == 0
                    if gt_ignores else np.zeros(0, bool))
        empty = np.zeros((n_thr, 0), bool)
        return cls(
            start=start, rank=np.arange(start[-1]) - np.repeat(start[:-1], n_dets),
            score=np.fromiter(itertools.chain.from_iterable(scores), np.float64, start[-1]),
            matched=np.concatenate(matches, axis=1) != 0 if matches else empty,
            ignored=np.concatenate(ignores, axis=1).astype(bool) if ignores else empty,
            n_positive=np.bincount(gt_entry[positive], minlength=len(n_gts)).astype(np.int64))


def _accumulate(table: _Table, p: Params, pe: Params):
    """pycocotools' accumulate(): precision, recall and scores for ``p`` from the entries laid
    out by ``pe`` (its ``_paramsEval``), including its index arithmetic (positions in ``p``
    used as offsets into ``pe``'s layout)."""
    n_thr, n_rec = len(p.iouThrs), len(p.recThrs)
    n_cat = len(p.catIds) if p.useCats else 1
    n_area, n_max = len(p.areaRng), len(p.maxDets)
    precision = -np.ones((n_thr, n_rec, n_cat, n_area, n_max))
    recall = -np.ones((n_thr, n_cat, n_area, n_max))
    scores = -np.ones((n_thr, n_rec, n_cat, n_area, n_max))

    eval_cats = set(pe.catIds if pe.useCats else [-1])
    eval_areas = set(map(tuple, pe.areaRng))
    eval_max, eval_imgs = set(pe.maxDets), set(pe.imgIds)
    k_list = [n for n, k in enumerate(p.catIds) if k in eval_cats]
    m_list = [m for m in p.maxDets if m in eval_max]
    a_list = [n for n, a in enumerate(p.areaRng) if tuple(a) in eval_areas]
    i_list = [n for n, i in enumerate(p.imgIds) if i in eval_imgs]
    n_i0, n_a0 = len(pe.imgIds), len(pe.areaRng)
    if not (k_list and a_list and m_list and i_list):
        return precision, recall, scores
    # entries[g, j]: the evalImgs index of output group g = (k, a) and the j-th listed image.
    entries = (np.array(k_list)[:, None, None] * n_a0 * n_i0
               + np.array(a_list)[None, :, None] * n_i0
               + np.array(i_list)[None, None, :]).reshape(len(k_list) * len(a_list), -1)
    if entries.max() >= len(table.start) - 1:
        raise IndexError("list index out of range")
    # Each group's detections: its entries' rows concatenated in listed-image order.
    first = table.start[entries.ravel()]
    counts = table.start[entries.ravel() + 1] - first
    offsets = np.cumsum(counts) - counts
    rows = np.repeat(first - offsets, counts) + np.arange(counts.sum())
    n_groups, n_listed = entries.shape
    group = np.repeat(np.arange(entries.size) // n_listed, counts)
    listed = np.repeat(np.arange(entries.size) % n_listed, counts)
    n_thr_eval = table.matched.shape[0]
    if n_thr_eval > n_thr:
        raise IndexError(f"index {n_thr} is out of bounds for axis 0 with size {n_thr}")
    groups_params = engine.Params(
        iou_thrs=np.asarray(p.iouThrs, np.float64)[:n_thr_eval],
        rec_thrs=np.asarray(p.recThrs, np.float64), max_dets=list(m_list),
        area_rng=[[0.0, 0.0]], area_lbl=["all"], use_cats=True,
        cat_ids=list(range(n_groups)), img_ids=list(range(n_listed)))
    result = engine.accumulate(
        group, listed, table.rank[rows], table.score[rows], table.matched[None][:, :, rows],
        table.ignored[None][:, :, rows],
        table.n_positive[entries].sum(axis=1).reshape(n_groups, 1), groups_params)
    shape = (len(k_list), len(a_list), len(m_list))
    precision[:n_thr_eval, :, :shape[0], :shape[1], :shape[2]] = result.precision.reshape(
        n_thr_eval, n_rec, *shape)
    scores[:n_thr_eval, :, :shape[0], :shape[1], :shape[2]] = result.scores.reshape(
        n_thr_eval, n_rec, *shape)
    recall[:n_thr_eval, :shape[0], :shape[1], :shape[2]] = result.recall.reshape(
        n_thr_eval, *shape)
    return precision, recall, scores


# ---------------------------------------------------------------------------------------------

class COCOeval:
    """pycocotools' ``COCOeval(cocoGt=None, cocoDt=None, iouType='segm')``: set ``params``,
    then ``evaluate()``, ``accumulate()``, ``summarize()``; see the module docstring."""

    def __init__(self, cocoGt=None, cocoDt=None, iouType="segm"):
        if not iouType:
            print("iouType not specified. use default iouType segm")
        self.cocoGt = cocoGt
        self.cocoDt = cocoDt
        self._run: _Run | None = None
        self._evalImgs = defaultdict(list)  # pycocotools' value before evaluate()
        self._evalImgs_assigned = True      # accumulate() reads _evalImgs, not the run
        self.eval = {}
        self._gts = defaultdict(list)
        self._dts = defaultdict(list)
        self.params = Params(iouType=iouType)
        self._paramsEval = {}
        self.stats = []
        self._ious = {}
        if cocoGt is not None:
            self.params.imgIds = sorted(cocoGt.getImgIds())
            self.params.catIds = sorted(cocoGt.getCatIds())

    # evalImgs and ious: built from the last run when first read; assignable.
    @property
    def evalImgs(self):
        if self._evalImgs is None:
            self._evalImgs = self._run.eval_imgs()
        return self._evalImgs

    @evalImgs.setter
    def evalImgs(self, value):
        self._evalImgs = value
        self._evalImgs_assigned = True

    @property
    def ious(self):
        if self._ious is None:
            self._ious = self._run.ious()
        return self._ious

    @ious.setter
    def ious(self, value):
        self._ious = value

    def evaluate(self) -> None:
        """Match detections to ground truth on every image, category and area range of
        ``params`` (pycocotools' evaluate(): ids made unique and sorted, maxDets sorted)."""
        start = time.time()
        print("Running per image evaluation...")
        p = self.params
        if p.useSegm is not None:
            p.iouType = "segm" if p.useSegm == 1 else "bbox"
            print(f"useSegm (deprecated) is not None. Running {p.iouType} evaluation")
        print(f"Evaluate annotation type *{p.iouType}*")
        p.imgIds = list(np.unique(p.imgIds))
        if p.useCats:
            p.catIds = list(np.unique(p.catIds))
        p.maxDets = sorted(p.maxDets)
        self.params = p
        self._paramsEval = copy.deepcopy(self.params)
        self._run = _Run(self.cocoGt, self.cocoDt, self._paramsEval)
        self._evalImgs, self._evalImgs_assigned = None, False
        self._ious = None
        self.eval = {}
        print(f"DONE (t={time.time() - start:0.2f}s).")

    def _single(self, imgId, catId, aRng=None, maxDet=None, iouType=None) -> _Run | None:
        """A run on one image and category, as pycocotools' computeIoU/evaluateImg see it: the
        annotations evaluate() selected, read with the live ``params`` (so after accumulate()
        without categories, catIds is [-1] and nothing is found). None when nothing is."""
        pe, p = self._paramsEval, copy.deepcopy(self.params)
        if imgId not in set(pe.imgIds) or (p.useCats and catId not in set(pe.catIds)):
            return None
        p.imgIds = [imgId]
        p.iouType = iouType or p.iouType
        if aRng is not None:
            p.areaRng, p.maxDets = [list(aRng)], [maxDet]
        if p.useCats:
            p.catIds = [catId]
        return _Run(self.cocoGt, self.cocoDt, p)

    def computeIoU(self, imgId, catId):
        """IoU of one image and category's detections (by score, at most maxDets[-1]) with its
        ground truth, float64[D, G], or [] (as pycocotools) when either is empty."""
        if self.params.iouType not in ("segm", "bbox"):
            raise Exception("unknown iouType for iou computation")
        run = self._single(imgId, catId)
        return [] if run is None else run.iou(imgId, catId)

    def computeOks(self, imgId, catId):
        """Object keypoint similarity of one image and category's detections (by score, at most
        maxDets[-1]) with its ground truth, float64[D, G], or [] when either is empty."""
        run = self._single(imgId, catId, iouType="keypoints")
        return [] if run is None else run.iou(imgId, catId)

    def evaluateImg(self, imgId, catId, aRng, maxDet) -> dict | None:
        """pycocotools' per-image dict for one image, category (-1 without categories), area
        range and detection cap; None when the image has no ground truth or detection of it."""
        run = self._single(imgId, catId, aRng, maxDet)
        result = None if run is None else run.entry(0, 0, 0)
        if result is not None:
            result["aRng"] = aRng
        return result

    def _no_eval_imgs(self) -> bool:
        if self._evalImgs_assigned:
            return not self._evalImgs
        return self._run.n_entries == 0

    def accumulate(self, p=None) -> None:
        """Precision/recall over images for every category, area range, max-dets and IoU
        threshold, into ``eval`` (``p``: parameters to accumulate for; default ``params``)."""
        print("Accumulating evaluation results...")
        start = time.time()
        if self._no_eval_imgs():
            print("Please run evaluate() first")
        if p is None:
            p = self.params
        p.catIds = p.catIds if p.useCats == 1 else [-1]
        pe = self._paramsEval
        n_thr = len(pe.iouThrs)
        table = (_Table.from_dicts(self._evalImgs, n_thr) if self._evalImgs_assigned
                 else self._run.table())
        precision, recall, scores = _accumulate(table, p, pe)
        self.eval = {
            "params": p,
            "counts": [len(p.iouThrs), len(p.recThrs), len(p.catIds) if p.useCats else 1,
                       len(p.areaRng), len(p.maxDets)],
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
            "precision": precision,
            "recall": recall,
            "scores": scores,
        }
        print(f"DONE (t={time.time() - start:0.2f}s).")

    def _summarize(self, ap: bool, iouThr=None, areaRng="all", maxDets=100) -> float:
        """One summary number, printed in pycocotools' format: the mean of the defined (> -1)
        precision (ap) or recall entries at the IoU threshold (all when None), area label and
        max-dets value; -1 when none is defined."""
        p = self.params
        iou = (f"{p.iouThrs[0]:0.2f}:{p.iouThrs[-1]:0.2f}" if iouThr is None
               else f"{iouThr:0.2f}")
        areas = [n for n, label in enumerate(p.areaRngLbl) if label == areaRng]
        caps = [n for n, m in enumerate(p.maxDets) if m == maxDets]
        s = self.eval["precision" if ap else "recall"]
        if iouThr is not None:
            s = s[np.where(iouThr == p.iouThrs)[0]]
        # Two index lists broadcast together, exactly as pycocotools indexes.
        s = s[:, :, :, areas, caps] if ap else s[:, :, areas, caps]
        value = -1 if len(s[s > -1]) == 0 else np.mean(s[s > -1])
        title, kind = ("Average Precision", "(AP)") if ap else ("Average Recall", "(AR)")
        print(f" {title:<18} {kind} @[ IoU={iou:<9} | area={areaRng:>6s} | "
              f"maxDets={maxDets:>3d} ] = {value:0.3f}")
        return value

    def summarize(self) -> None:
        """Print pycocotools' 12 summary lines (10 for keypoints) and set ``stats``."""
        if not self.eval:
            raise Exception("Please run accumulate() first")
        kind = self.params.iouType
        if kind in ("segm", "bbox"):
            m = self.params.maxDets
            rows = [(True, None, "all", 100), (True, .5, "all", m[2]), (True, .75, "all", m[2]),
                    (True, None, "small", m[2]), (True, None, "medium", m[2]),
                    (True, None, "large", m[2]), (False, None, "all", m[0]),
                    (False, None, "all", m[1]), (False, None, "all", m[2]),
                    (False, None, "small", m[2]), (False, None, "medium", m[2]),
                    (False, None, "large", m[2])]
        elif kind == "keypoints":
            rows = [(ap, thr, area, 20) for ap in (True, False)
                    for thr, area in ((None, "all"), (.5, "all"), (.75, "all"),
                                      (None, "medium"), (None, "large"))]
        else:
            raise Exception("iouType not supported")
        self.stats = np.array([self._summarize(*row) for row in rows], dtype=np.float64)
