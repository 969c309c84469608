"""COCO detection files as NumPy arrays, checked the way a user needs them checked.

``load_gt(path_or_dict, iou_type) -> CocoGT`` reads an ``instances_*.json`` (or
``person_keypoints_*.json``) ground truth; ``load_results(path_or_list, gt, iou_type) -> CocoDets``
reads detections in COCO's results format (a JSON list of ``{"image_id", "category_id", "score"}``
with a ``bbox``, ``segmentation`` or ``keypoints``). Everything downstream (AP, TIDE, ECE) works
on these arrays. ``iou_type`` ('bbox', 'segm' or 'keypoints') says what the evaluation compares:
masks (:class:`~cvcore.detection.rle.Rles`) are read only for 'segm' and keypoints only for
'keypoints', so a bbox evaluation costs what it always did.

Results follow pycocotools' ``COCO.loadRes`` to the letter, its trap included: the rule for all
detections is chosen from the *first* one. If it has a non-empty ``bbox``, every detection needs one
and ``area`` is ``w * h`` (in segm evaluation too); otherwise, if it has a ``segmentation``,
``area`` is the mask's area and a missing ``bbox`` is the mask's bounding box; otherwise, if it has
``keypoints``, ``bbox`` and ``area`` span all keypoints (visible or not). Ids are ``1..M`` in file
order. Segmentations are polygons, uncompressed or compressed RLE (pycocotools' ``annToRLE`` with
the image's size; its segmentation rule reads compressed RLE only and crashes on the others, which
we accept). In segm evaluation every detection needs a ``segmentation``: pycocotools silently
evaluates one without as its box, which in a mask evaluation is an error in the file, so we refuse
it. Keypoints are ``3 * len(category["keypoints"])`` numbers (x, y, visibility).

Bad input raises :class:`~cvcore.errors.InputError` naming the file and the problem: malformed
JSON, records that are not objects, missing keys, non-numeric or NaN/inf values, ids that are not
whole numbers or do not fit int64, numbers beyond float64 (JSON allows ``10**400``), a bbox that
is not 4 numbers or whose corner or area overflows float64, negative box or image sizes,
duplicate ids, annotations or detections that refer to unknown image or category ids; for segm
a missing segmentation, a malformed polygon or RLE (``annotation #i: <problem>``), or an RLE whose
size differs from its image's (pycocotools would give it IoU -1 with everything); for
keypoints a missing ``keypoints`` or ``num_keypoints``, or a length that does not match the
category's keypoint names. pycocotools asserts on unknown result image ids and silently skips
unknown category ids; we reject both.

Scores: any finite number. COCO AP and TIDE only rank them (pycocotools and tidecv accept any
score); ECE needs probabilities, which :func:`cvcore.calibration.check_probabilities` checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..errors import InputError, one_line

if TYPE_CHECKING:
    from .rle import Rles

IOU_TYPES = ("bbox", "segm", "keypoints")


@dataclass(frozen=True)
class CocoGT:
    """Ground truth. Per-image arrays have length I, per-category K, per-annotation N.

    Boxes are float64 xywh in pixels; ``area`` is the annotation's ``area`` field (mask area in
    real COCO), which is what COCO's area ranges use; ``iscrowd`` marks crowd regions.
    """

    image_ids: np.ndarray      # int64[I]
    widths: np.ndarray         # int64[I]
    heights: np.ndarray        # int64[I]
    file_names: list[str]      # [I]
    cat_ids: np.ndarray        # int64[K]
    cat_names: list[str]       # [K]
    ann_ids: np.ndarray        # int64[N]
    ann_image_ids: np.ndarray  # int64[N]
    ann_cat_ids: np.ndarray    # int64[N]
    boxes: np.ndarray          # float64[N, 4]
    areas: np.ndarray          # float64[N]
    iscrowd: np.ndarray        # bool[N]
    source: str = "<dict>"
    iou_type: str = "bbox"
    # segm only: the annotations' masks (pycocotools' annToRLE), N of them.
    segms: Rles | None = None
    # keypoints only: keypoints[keypoint_starts[n]:keypoint_starts[n + 1]] are annotation n's
    # (x, y, visibility) rows, float64[P, 3]; num_keypoints int64[N] is the file's field;
    # cat_keypoints int64[K] the number of keypoint names of each category (-1: no list).
    keypoints: np.ndarray | None = None
    keypoint_starts: np.ndarray | None = None
    num_keypoints: np.ndarray | None = None
    cat_keypoints: np.ndarray | None = None


@dataclass(frozen=True)
class CocoDets:
    """Detections (M of them) in file order; ``ids`` are 1..M; ``boxes`` and ``areas`` follow
    loadRes' rule (see the module docstring); ``segms`` (segm) and ``keypoints`` with
    ``keypoint_starts`` (keypoints) as in :class:`CocoGT`."""

    ids: np.ndarray            # int64[M]
    image_ids: np.ndarray      # int64[M]
    cat_ids: np.ndarray        # int64[M]
    boxes: np.ndarray          # float64[M, 4]
    scores: np.ndarray         # float64[M]
    areas: np.ndarray          # float64[M]
    source: str = "<list>"
    iou_type: str = "bbox"
    segms: Rles | None = None
    keypoints: np.ndarray | None = None
    keypoint_starts: np.ndarray | None = None


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError("file not found", path) from None


def _parse_json(data: bytes, path: str | os.PathLike) -> Any:
    """The strict path: ``json.loads`` with its one-line errors."""
    try:
        return json.loads(data)
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, a number of > 4300 digits
        raise InputError(f"malformed JSON ({one_line(err)})", path) from None
    except RecursionError:
        raise InputError("malformed JSON (nested too deeply)", path) from None


class _NotSure(Exception):
    """The fast scan cannot vouch for a value: take the strict ``json.loads`` path."""


_INT64_BOUND = 2.0 ** 63  # int64 holds [-2**63, 2**63)


def _number_problem(x: Any, integer: bool) -> str | None:
    """Why the JSON value ``x`` is not a valid int64 (``integer``) or float64, or None."""
    if not isinstance(x, (int, float)):  # bool is an int, as in pycocotools
        return "not a number"
    if integer and isinstance(x, float) and not x.is_integer():
        return "not an integer"
    if integer and not -_INT64_BOUND <= x < _INT64_BOUND:
        return "outside the int64 range"
    if not integer and isinstance(x, int) and abs(x) > sys.float_info.max:
        return "too large for float64"
    return None


def _value_problem(v: Any, shape: tuple, integer: bool) -> str | None:
    """Why ``v`` is not a number (``shape == ()``) or a list of ``shape[0]`` numbers, or None."""
    if shape == ():
        return _number_problem(v, integer)
    if not isinstance(v, list) or len(v) != shape[0]:
        return f"needs a list of {shape[0]} numbers"
    return next(filter(None, (_number_problem(x, integer) for x in v)), None)


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_REQUIRED = object()


def _column(records: list, key: str, what: str, source: str, dtype=np.float64,
            shape: tuple = (), default: Any = _REQUIRED) -> np.ndarray:
    """``[r[key] for r in records]`` as an array of ``dtype`` (int64 or float64) and per-record
    ``shape``, with a one-line error naming the first offending record: not an object, missing
    key (unless a ``default`` is given), wrong type or length, a fraction where an id belongs, a
    number beyond int64 (ids) or float64 (coordinates, scores; JSON allows ``10**400``).

    The common case is one ``np.array`` call and a few vectorised checks; the per-record loop
    runs only to find and name a bad value.
    """
    try:
        values = ([r[key] for r in records] if default is _REQUIRED
                  else [r.get(key, default) for r in records])
    except (KeyError, TypeError, AttributeError):
        index, record = next((i, r) for i, r in enumerate(records)
                             if not isinstance(r, dict) or (default is _REQUIRED and key not in r))
        problem = f"has no {key!r}" if isinstance(record, dict) else "is not a JSON object"
        raise InputError(f"{what} #{index} {problem}", source) from None
    try:
        array = np.array(values)
    except ValueError:  # ragged, e.g. a bbox with 3 numbers
        array = np.array(values, dtype=object)
    integer = np.dtype(dtype).kind == "i"
    kind = array.dtype.kind
    if integer:  # uint64 means values >= 2**63; floats must be whole and in range
        ok = kind in "bi" or (kind == "f" and bool(
            ((array == np.floor(array)) & (np.abs(array) < _INT64_BOUND)).all()))
    else:
        ok = kind in "biuf"
    if ok and array.shape[1:] == shape:
        return array.astype(dtype)
    for i, v in enumerate(values):
        problem = _value_problem(v, shape, integer)
        if problem:
            raise InputError(f"{what} #{i} has a bad {key!r}: {_show(v)} ({problem})", source)
    # All valid after all: Python ints beyond 64 bits that float64 still holds (10**30).
    return np.array(values, dtype=dtype).reshape(len(values), *shape)


def _boxes(records: list, what: str, source: str) -> np.ndarray:
    """The records' ``bbox`` fields as float64[N, 4]: finite, non-negative sizes, and finite
    corners and areas."""
    boxes = _column(records, "bbox", what, source, shape=(4,)) if records else np.zeros((0, 4))
    return check_boxes(boxes, what, source)


def check_boxes(boxes: np.ndarray, what: str, source: str) -> np.ndarray:
    """float64[N, 4] xywh boxes as they are, or an InputError naming the first that is not
    finite, has a negative size, or whose corner or area overflows float64. Each rule is
    tested on the whole array first (a fraction of the per-row reductions' time); only a failing
    one is located row by row."""
    if not np.isfinite(boxes).all():
        i = int(np.flatnonzero(~np.isfinite(boxes).all(axis=1))[0])
        raise InputError(f"{what} #{i} has a non-finite bbox {boxes[i].tolist()}", source)
    x, y, w, h = boxes.T  # (single columns: NumPy's fast strided loops)
    if (w < 0).any() or (h < 0).any():
        i = int(np.flatnonzero((w < 0) | (h < 0))[0])
        raise InputError(f"{what} #{i} has a negative box size {boxes[i].tolist()}", source)
    # Corners and area are computed from these: they must stay finite too (1e200 x 1e200 is not).
    with np.errstate(over="ignore"):
        right, bottom, areas = x + w, y + h, w * h
        if not (np.isfinite(right).all() and np.isfinite(bottom).all()
                and np.isfinite(areas).all()):
            bad = ~(np.isfinite(right) & np.isfinite(bottom) & np.isfinite(areas))
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{what} #{i} has a box too large for float64 {boxes[i].tolist()}",
                             source)
    return boxes


def _check_known(ids: np.ndarray, known: np.ndarray, what: str, kind: str, source: str) -> None:
    unknown = ~np.isin(ids, known)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(f"{what} #{i} refers to unknown {kind} id {int(ids[i])} "
                         f"({int(unknown.sum())} such)", source)


def _check_unique(ids: np.ndarray, what: str, source: str) -> None:
    values, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise InputError(f"duplicate {what} id {int(values[counts > 1][0])}", source)


def _check_iou_type(iou_type: str) -> None:
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, not {iou_type!r}")


def _index_of(ids: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Position of each id in ``known`` (unique; every id is known, as checked before)."""
    order = np.argsort(known, kind="stable")
    return order[np.searchsorted(known, ids, sorter=order)] if len(ids) else np.zeros(0, np.int64)


def _field(records: list, key: str, what: str, source: str) -> list:
    """``[r[key] for r in records]`` as they are (records are objects, checked before)."""
    try:
        return [r[key] for r in records]
    except KeyError:
        i = next(i for i, r in enumerate(records) if key not in r)
        raise InputError(f"{what} #{i} has no {key!r}", source) from None


def _segmentations(results: list, source: str) -> list:
    """Every result's ``segmentation``, as it is (segm evaluation refuses a result without)."""
    try:
        return _field(results, "segmentation", "detection", source)
    except InputError as err:
        raise InputError(f"{err.problem} (segm evaluation compares masks)", source) from None


def _masks(segms: list, heights: np.ndarray, widths: np.ndarray, what: str,
           source: str) -> Rles:
    """The segmentations as masks by pycocotools' annToRLE rule (polygons and uncompressed RLE
    take the image's ``heights`` / ``widths``; -1 means unknown: RLEs keep their own size,
    polygons are an error). A malformed one, or an RLE whose size differs from its image's
    (pycocotools would give it IoU -1 with everything), is ``<what> #i: <problem>``."""
    from . import rle

    failures = (ValueError, TypeError, KeyError, IndexError, AttributeError)
    try:
        return rle.from_segmentations(segms, heights, widths)
    except failures as err:
        for i in range(len(segms)):  # the slow way, only to name the bad one
            try:
                rle.from_segmentations(segms[i:i + 1], heights[i:i + 1], widths[i:i + 1])
            except failures as one:
                problem = (re.sub(r"^segmentation \d+: ", "", one_line(one))
                           if isinstance(one, ValueError)
                           else f"malformed segmentation {_show(segms[i])} ({one_line(one)})")
                raise InputError(f"{what} #{i}: {problem}", source) from None
        raise InputError(f"{what}s: {one_line(err)}", source) from None


def _keypoints(records: list, what: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The records' ``keypoints`` lists as (float64[P, 3] rows x, y, visibility, int64[N + 1]
    offsets of each record's rows), finite numbers in threes."""
    values = _field(records, "keypoints", what, source)
    lengths = np.array([len(v) if isinstance(v, list) else -1 for v in values], np.int64)
    bad = (lengths < 0) | (lengths % 3 != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} #{i} has a bad 'keypoints': {_show(values[i])} (needs a list "
                         "of x, y, visibility triples)", source)
    starts = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    flat = [x for v in values for x in v]
    array = np.array(flat)
    if array.dtype.kind not in "biuf":  # a string, a list or a number beyond float64 somewhere
        j = next(j for j, x in enumerate(flat) if _number_problem(x, False))
        i = int(np.searchsorted(starts, j, side="right") - 1)
        raise InputError(f"{what} #{i} has a bad 'keypoints' value {_show(flat[j])} "
                         f"({_number_problem(flat[j], False)})", source)
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        j = int(np.flatnonzero(~np.isfinite(array))[0])
        i = int(np.searchsorted(starts, j, side="right") - 1)
        raise InputError(f"{what} #{i} has a non-finite keypoint value {array[j]}", source)
    return array.reshape(-1, 3), starts // 3


def _check_keypoint_counts(starts: np.ndarray, cat_ids: np.ndarray, gt: CocoGT, what: str,
                           source: str) -> None:
    """Each record has as many keypoints as its category names (COCO's format; pycocotools
    would fail on a broadcast or compare the wrong keypoints)."""
    expected = gt.cat_keypoints[_index_of(cat_ids, gt.cat_ids)]
    count = np.diff(starts)
    bad = count != expected
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        if expected[i] < 0:
            raise InputError(f"{what} #{i} has keypoints but its category {cat_ids[i]} has no "
                             "'keypoints' list of names", source)
        raise InputError(f"{what} #{i} has {3 * count[i]} keypoint numbers, category "
                         f"{cat_ids[i]} needs {3 * expected[i]} (x, y, visibility for each of "
                         f"its {expected[i]} keypoints)", source)


def load_gt(gt: str | os.PathLike | dict, iou_type: str = "bbox") -> CocoGT:
    """Read a COCO ground-truth file (or an already-parsed dict) for a ``iou_type`` evaluation:
    'segm' adds the masks (images need ``height`` and ``width``), 'keypoints' the keypoints,
    ``num_keypoints`` and each category's number of keypoint names.

    A file is scanned straight into arrays (:mod:`cvcore.detection.cocojson`); whatever the
    scanner is not sure of goes through ``json.loads`` and the checks below, so errors are the
    same either way."""
    _check_iou_type(iou_type)
    if isinstance(gt, dict):
        return _checked_gt(_JsonGT(gt, "<dict>", iou_type), "<dict>", iou_type)
    return _gt_from_bytes(_read_bytes(gt), str(gt), iou_type)


def _gt_from_bytes(data: bytes, source: str, iou_type: str) -> CocoGT:
    return _gt_from_columns(_gt_columns(data, source, iou_type), source, iou_type)


def _gt_columns(data: bytes, source: str, iou_type: str) -> _JsonGT | _ScanGT:
    """The file's columns, scanned or else parsed by ``json.loads``: the part of loading that
    runs no parallel kernel (safe in a helper thread, see :func:`load_gt_and_results`)."""
    from . import cocojson

    scan = cocojson.scan_gt(np.frombuffer(data, np.uint8), iou_type)
    if scan is not None:
        return _ScanGT(scan)
    return _JsonGT(_parse_json(data, source), source, iou_type)


def _gt_from_columns(columns: _JsonGT | _ScanGT, source: str, iou_type: str) -> CocoGT:
    """The checked ground truth (masks built here, by parallel kernels); when the scanned masks
    are not sure, the file is read again the strict way for its one-line error."""
    try:
        return _checked_gt(columns, source, iou_type)
    except _NotSure:
        data = _read_bytes(source)
    return _checked_gt(_JsonGT(_parse_json(data, source), source, iou_type), source, iou_type)


class _JsonGT:
    """The ground truth's columns from parsed JSON, each checked (one-line errors) when asked."""

    def __init__(self, data: Any, source: str, iou_type: str):
        if not isinstance(data, dict):
            raise InputError("ground truth must be a JSON object with 'images' and "
                             "'categories'", source)
        for key in ("images", "categories"):
            if not isinstance(data.get(key), list):
                raise InputError(f"missing or invalid {key!r} list", source)
        self.images, self.categories = data["images"], data["categories"]
        self.anns = data.get("annotations", [])
        if not isinstance(self.anns, list):
            raise InputError("'annotations' must be a list", source)
        self.source, self.iou_type = source, iou_type

    def image_ids(self):
        return _column(self.images, "id", "image", self.source, np.int64)

    def cat_ids(self):
        return _column(self.categories, "id", "category", self.source, np.int64)

    def boxes(self):
        return _boxes(self.anns, "annotation", self.source)

    def ann(self, key, dtype=np.float64):
        return _column(self.anns, key, "annotation", self.source, dtype)

    def iscrowd(self):  # truthy iscrowd marks a crowd region, as pycocotools tests it
        return np.array([bool(a.get("iscrowd", 0)) for a in self.anns], dtype=bool)

    def image_sizes(self):
        size_default = _REQUIRED if self.iou_type == "segm" else 0  # masks need the size
        return tuple(_column(self.images, key, "image", self.source, np.int64,
                             default=size_default) for key in ("width", "height"))

    def names(self):
        return ([str(im.get("file_name", "")) for im in self.images],
                [str(c.get("name", c["id"])) for c in self.categories])

    def masks(self, heights, widths):
        return _masks(_field(self.anns, "segmentation", "annotation", self.source), heights,
                      widths, "annotation", self.source)

    def cat_keypoints(self):
        return np.array([len(c["keypoints"]) if isinstance(c.get("keypoints"), list)
                         else -1 for c in self.categories], np.int64)

    def keypoints(self):
        return _keypoints(self.anns, "annotation", self.source)


class _ScanGT:
    """The same columns from a :class:`cocojson.Scan` (already typed and complete)."""

    def __init__(self, scan):
        self.scan = scan

    def image_ids(self):
        return self.scan.images["ids"]

    def cat_ids(self):
        return self.scan.categories["ids"]

    def boxes(self):
        return self.scan.boxes

    def ann(self, key, dtype=np.float64):
        s = self.scan
        return {"area": s.values, "id": s.ids, "image_id": s.image_ids, "category_id": s.cat_ids,
                "num_keypoints": s.num_keypoints}[key]

    def iscrowd(self):
        return self.scan.iscrowd

    def image_sizes(self):
        return self.scan.images["widths"], self.scan.images["heights"]

    def names(self):
        return self.scan.images["file_names"], self.scan.categories["names"]

    def masks(self, heights, widths):
        try:
            return self.scan.segms.masks(heights, widths)
        except ValueError:  # the strict path names the annotation and the problem
            raise _NotSure from None

    def cat_keypoints(self):
        return self.scan.categories["keypoints"]

    def keypoints(self):
        return self.scan.keypoints.reshape(-1, 3), self.scan.keypoint_starts // 3


def _checked_gt(columns: _JsonGT | _ScanGT, source: str, iou_type: str) -> CocoGT:
    """The ground truth from its columns, checked in one fixed order (the first problem found
    is the one reported, whichever path read the file)."""
    image_ids = columns.image_ids()
    cat_ids = columns.cat_ids()
    _check_unique(image_ids, "image", source)
    _check_unique(cat_ids, "category", source)
    boxes = check_boxes(columns.boxes(), "annotation", source)
    areas = columns.ann("area")
    if not np.isfinite(areas).all() or (areas < 0).any():
        i = int(np.flatnonzero(~(np.isfinite(areas) & (areas >= 0)))[0])
        raise InputError(f"annotation #{i} has a bad area {areas[i]}", source)
    ann_ids = columns.ann("id", np.int64)
    _check_unique(ann_ids, "annotation", source)
    ann_image_ids = columns.ann("image_id", np.int64)
    ann_cat_ids = columns.ann("category_id", np.int64)
    _check_known(ann_image_ids, image_ids, "annotation", "image", source)
    _check_known(ann_cat_ids, cat_ids, "annotation", "category", source)
    iscrowd = columns.iscrowd()
    widths, heights = columns.image_sizes()
    negative = (widths < 0) | (heights < 0)
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise InputError(f"image #{i} has a negative size {widths[i]} x {heights[i]}", source)
    file_names, cat_names = columns.names()
    ground_truth = CocoGT(
        image_ids=image_ids, widths=widths, heights=heights, file_names=file_names,
        cat_ids=cat_ids, cat_names=cat_names,
        ann_ids=ann_ids, ann_image_ids=ann_image_ids, ann_cat_ids=ann_cat_ids,
        boxes=boxes, areas=areas, iscrowd=iscrowd, source=source, iou_type=iou_type)
    if iou_type == "segm":
        img = _index_of(ann_image_ids, image_ids)
        return replace(ground_truth, segms=columns.masks(heights[img], widths[img]))
    if iou_type == "keypoints":
        cat_keypoints = columns.cat_keypoints()
        keypoints, starts = columns.keypoints()
        ground_truth = replace(
            ground_truth, keypoints=keypoints, keypoint_starts=starts,
            num_keypoints=columns.ann("num_keypoints", np.int64), cat_keypoints=cat_keypoints)
        _check_keypoint_counts(starts, ann_cat_ids, ground_truth, "annotation", source)
    return ground_truth


def load_results(results: str | os.PathLike | list, gt: CocoGT,
                 iou_type: str | None = None) -> CocoDets:
    """Read COCO results (a JSON list, a path to one, or a parsed list) against ``gt``, for an
    ``iou_type`` evaluation (default: the one ``gt`` was loaded for).

    An empty list is valid: every metric is then undefined or zero, as pycocotools would say
    had it not crashed on it (cocoapi issue #450).
    """
    return _against_gt(_read_results(results, iou_type or gt.iou_type), gt)


# Placeholder for a detection without a box where boxes are optional (keeps indices in errors).
_NO_BOX = {"bbox": [0.0, 0.0, 0.0, 0.0]}


class _Parsed(NamedTuple):
    """What the results file says before it meets the ground truth: the detections, their raw
    segmentations when masks are needed (they need the images' sizes: a list of JSON values, or
    a :class:`cocojson.Segms` when scanned), and under loadRes' segmentation rule which
    detections came with their own box."""

    dets: CocoDets
    segms: Any
    has_box: np.ndarray | None


def _results_rule(data: list, source: str) -> str:
    """pycocotools' loadRes picks one rule for all detections from the first one."""
    if not data:
        return "bbox"
    first = data[0]
    if not isinstance(first, dict):
        raise InputError("detection #0 is not a JSON object", source)
    if "bbox" in first and first["bbox"] != []:
        return "bbox"
    for rule, key in (("segm", "segmentation"), ("keypoints", "keypoints")):
        if key in first:
            return rule
    raise InputError("detection #0 has no 'bbox', 'segmentation' or 'keypoints' (the first "
                     "detection decides which one all detections use, as in pycocotools)",
                     source)


def _read_results(results: str | os.PathLike | list, iou_type: str = "bbox") -> _Parsed:
    """The results as arrays, checked on their own (not yet against a ground truth)."""
    _check_iou_type(iou_type)
    if isinstance(results, list):
        return _checked_results(_JsonResults(results, "<list>"), "<list>", iou_type)
    return _results_from_bytes(_read_bytes(results), str(results), iou_type)


def _results_from_bytes(data: bytes | None, source: str, iou_type: str,
                        strict: bool = False) -> _Parsed:
    """Scanned (unless ``strict``), else parsed by ``json.loads``; ``data`` None: read
    ``source`` again (the strict path after a scan's masks were not sure)."""
    from . import cocojson

    data = _read_bytes(source) if data is None else data
    scanned = None if strict else cocojson.scan_results(np.frombuffer(data, np.uint8), iou_type)
    if scanned is not None:
        del data  # the file's bytes: not needed by the arrays, free them before the checks
        return _checked_results(_ScanResults(*scanned), source, iou_type)
    return _checked_results(_JsonResults(_parse_json(data, source), source), source, iou_type)


class _JsonResults:
    """The results' columns from a parsed JSON list, each checked when asked."""

    def __init__(self, data: Any, source: str):
        if not isinstance(data, list):
            raise InputError("results must be a JSON list of detections", source)
        self.data, self.source = data, source
        self.rule = _results_rule(data, source)

    def __len__(self) -> int:
        return len(self.data)

    def column(self, key, dtype=np.float64):
        return _column(self.data, key, "detection", self.source, dtype)

    def keypoints(self):
        return _keypoints(self.data, "detection", self.source)

    def boxes(self):
        return _boxes(self.data, "detection", self.source)

    def segms(self):
        return _segmentations(self.data, self.source)

    def given_boxes(self):
        """loadRes' segm rule: (which detections have a bbox, the boxes, zeros for the rest)."""
        has_box = np.array(["bbox" in d for d in self.data], bool)
        return has_box, _boxes([d if given else _NO_BOX
                                for d, given in zip(self.data, has_box, strict=True)],
                               "detection", self.source)


class _ScanResults:
    """The same columns from a :class:`cocojson.Scan` and its rule."""

    def __init__(self, scan, rule: str):
        self.scan, self.rule = scan, rule

    def __len__(self) -> int:
        return len(self.scan.image_ids)

    def column(self, key, dtype=np.float64):
        s = self.scan
        return {"score": s.values, "image_id": s.image_ids, "category_id": s.cat_ids}[key]

    def keypoints(self):
        return self.scan.keypoints.reshape(-1, 3), self.scan.keypoint_starts // 3

    def boxes(self):
        return check_boxes(self.scan.boxes, "detection", self.source)

    def segms(self):
        return self.scan.segms

    def given_boxes(self):
        from .cocojson import KEYS

        has_box = (self.scan.seen & (1 << KEYS.index("bbox"))) != 0
        return has_box, check_boxes(self.scan.boxes, "detection", self.source)


def _checked_results(columns: _JsonResults | _ScanResults, source: str,
                     iou_type: str) -> _Parsed:
    """The detections from their columns, checked in one fixed order."""
    columns.source = source
    rule = columns.rule
    scores = columns.column("score")
    if not np.isfinite(scores).all():
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise InputError(f"detection #{i} has a non-finite score {scores[i]}", source)
    image_ids = columns.column("image_id", np.int64)
    cat_ids = columns.column("category_id", np.int64)
    keypoints = starts = segms = has_box = None
    if iou_type == "keypoints" or rule == "keypoints":
        keypoints, starts = columns.keypoints()
    if rule == "bbox":
        boxes = columns.boxes()
        areas = boxes[:, 2] * boxes[:, 3]
        if iou_type == "segm":  # masks as they are; their areas stay w * h (loadRes' rule)
            segms = columns.segms()
    elif rule == "segm":  # area of the mask, bbox of the mask unless one is given
        segms = columns.segms()
        has_box, boxes = columns.given_boxes()
        areas = np.zeros(len(columns))  # from the masks, once the images' sizes are known
    else:  # bbox and area span all keypoints
        empty = np.flatnonzero(np.diff(starts) == 0)
        if len(empty):
            raise InputError(f"detection #{empty[0]} has no keypoints", source)
        boxes, areas = keypoint_extents(keypoints, starts)
    dets = CocoDets(ids=np.arange(1, len(columns) + 1, dtype=np.int64), image_ids=image_ids,
                    cat_ids=cat_ids, boxes=boxes, scores=scores, areas=areas, source=source,
                    iou_type=iou_type, keypoints=keypoints if iou_type == "keypoints" else None,
                    keypoint_starts=starts if iou_type == "keypoints" else None)
    return _Parsed(dets, segms, has_box)


def keypoint_extents(keypoints: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """loadRes' keypoint rule: each detection's box (float64[M, 4] xywh) spans all its keypoints,
    visible or not, and its area (float64[M]) is that box's width times height. keypoints:
    float64[P, 3] (x, y, v); starts: int64[M + 1] offsets, no detection empty."""
    if len(starts) < 2:
        return np.zeros((0, 4)), np.zeros(0)
    lo = np.minimum.reduceat(keypoints[:, :2], starts[:-1], axis=0)
    hi = np.maximum.reduceat(keypoints[:, :2], starts[:-1], axis=0)
    return np.concatenate([lo, hi - lo], axis=1), (hi[:, 0] - lo[:, 0]) * (hi[:, 1] - lo[:, 1])


def _against_gt(parsed: _Parsed, gt: CocoGT) -> CocoDets:
    dets = parsed.dets
    _check_known(dets.image_ids, gt.image_ids, "detection", "image", dets.source)
    _check_known(dets.cat_ids, gt.cat_ids, "detection", "category", dets.source)
    if dets.iou_type != "bbox" and gt.iou_type != dets.iou_type:
        raise ValueError(f"the ground truth was loaded for {gt.iou_type!r}, not for "
                         f"{dets.iou_type!r}: load_gt(..., iou_type={dets.iou_type!r})")
    if dets.iou_type == "keypoints":
        _check_keypoint_counts(dets.keypoint_starts, dets.cat_ids, gt, "detection", dets.source)
    if parsed.segms is None:
        return dets
    from . import rle

    if dets.iou_type == "segm":
        img = _index_of(dets.image_ids, gt.image_ids)
        heights, widths = gt.heights[img], gt.widths[img]
    else:  # only the area and box of these masks count: pycocotools reads them as they are
        heights = widths = np.full(len(parsed.segms), -1, np.int64)
    if isinstance(parsed.segms, list):
        masks = _masks(parsed.segms, heights, widths, "detection", dets.source)
    else:  # scanned: on any doubt, the strict path names the detection and the problem
        try:
            masks = parsed.segms.masks(heights, widths)
        except ValueError:
            return _against_gt(_results_from_bytes(None, dets.source, dets.iou_type, True), gt)
    if parsed.has_box is not None:
        mask_areas, mask_boxes = rle.area_and_bbox(masks)
        dets = replace(dets, areas=mask_areas.astype(np.float64),
                       boxes=np.where(parsed.has_box[:, None], dets.boxes, mask_boxes))
    return replace(dets, segms=masks) if dets.iou_type == "segm" else dets


def load_gt_and_results(gt: str | os.PathLike, results: str | os.PathLike,
                        meanwhile: Callable[[], object] | None = None,
                        iou_type: str = "bbox") -> tuple[CocoGT, CocoDets]:
    """Both files, scanned in two threads while this one runs ``meanwhile`` (e.g. loading the
    Numba kernels).

    The scanner (:mod:`cvcore.detection.cocojson`) is a ``nogil`` kernel, so on a machine with
    two or more cores the two files are read truly in parallel, in this process (no copies of
    the inputs in workers). Errors are the same InputErrors as from :func:`load_gt` and
    :func:`load_results` (the ground truth's first). Ctrl-C interrupts the wait; the scans are
    daemon threads and end with the process.
    """
    meanwhile = defer_interrupt(meanwhile) if meanwhile is not None else None
    outcome: dict[str, tuple[bool, Any]] = {}

    def run(name: str, work: Callable[[], object]) -> None:
        try:
            outcome[name] = (True, work())
        except BaseException as err:  # re-raised in the caller's thread
            outcome[name] = (False, err)

    # Only this thread launches parallel kernels (Numba's workqueue layer must not launch them
    # from two threads at once): the helpers run only the scanner, and the ground truth's masks
    # are built here, once its scan is done, while the results may still be being scanned.
    _check_iou_type(iou_type)
    if meanwhile is not None:  # the scanner's kernel first: Numba loads one kernel at a time
        from . import cocojson

        cocojson.warm_up()
    threads = [threading.Thread(target=run, args=(name, work), daemon=True)
               for name, work in (("gt", lambda: _gt_columns(_read_bytes(gt), str(gt), iou_type)),
                                  ("results", lambda: _read_results(results, iou_type)))]
    # The helpers' NumPy steps release and retake the GIL, which ``meanwhile`` holds while it
    # runs Python: at the default 5 ms switch interval each retake may wait that long.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, 0.0005))
    try:
        for thread in threads:
            thread.start()
        if meanwhile is not None:
            meanwhile()
        _wait(threads[0])
        ok, columns = outcome["gt"]
        try:
            if not ok:
                raise columns
            ground_truth = _gt_from_columns(columns, str(gt), iou_type)  # its errors come first
        finally:
            _wait(threads[1])
    finally:
        sys.setswitchinterval(switch_interval)
    ok, parsed = outcome["results"]
    if not ok:
        raise parsed
    return ground_truth, _against_gt(parsed, ground_truth)


def _wait(thread: threading.Thread) -> None:
    while thread.is_alive():  # a timeout keeps Ctrl-C deliverable while waiting
        thread.join(0.1)


def defer_interrupt(work: Callable[[], object]) -> Callable[[], object]:
    """``work`` with Ctrl-C held back until it returns, then raised as KeyboardInterrupt.

    Numba loading its kernels (the CLIs' ``meanwhile``, detect_eval's warm-up) runs Python
    callbacks from C, where a KeyboardInterrupt is printed as "Exception ignored" and swallowed:
    the program would go on. Off the main thread (no signal handlers there) ``work`` runs as it
    is.
    """
    def held() -> object:
        if threading.current_thread() is not threading.main_thread():
            return work()
        pressed = []
        previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
        try:
            result = work()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler if previous is None
                          else previous)
        if pressed:
            raise KeyboardInterrupt
        return result

    return held


def one_box_case() -> tuple[CocoGT, CocoDets]:
    """One image, one object, one detection on it: the smallest input that runs every kernel
    of an evaluation (used to load them ahead of use)."""
    ann = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100}
    gt = load_gt({"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": [ann]})
    det = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}
    return gt, load_results([det], gt)


def name_of(path: str | os.PathLike) -> str:
    """Short display name of a file for tables and titles."""
    return Path(path).name


def cli_parser(prog: str, description: str, json_help: str) -> argparse.ArgumentParser:
    """The arguments every COCO evaluation command takes: the ground truth and results files
    and ``--json OUT`` (``json_help`` says what is written); a command adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("gt", help="COCO ground truth (instances_*.json)")
    parser.add_argument("results", help="COCO results JSON (list of detections)")
    parser.add_argument("--json", metavar="OUT", help=json_help)
    return parser
