"""COCO detection files as NumPy arrays, checked the way a user needs them checked.

``load_gt(path_or_dict) -> CocoGT`` reads an ``instances_*.json`` ground truth;
``load_results(path_or_list, gt) -> CocoDets`` reads detections in COCO's results format (a JSON
list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``), as pycocotools'
``COCO.loadRes`` does for boxes: detection ``area`` is ``w * h`` and ids are ``1..M`` in file
order. Everything downstream (AP, TIDE, ECE) works on these arrays.

Bad input raises :class:`~cvcore.errors.InputError` naming the file and the problem: malformed
JSON, records that are not objects, missing keys, non-numeric or NaN/inf values, ids that are not
whole numbers or do not fit int64, numbers beyond float64 (JSON allows ``10**400``), a bbox that
is not 4 numbers or whose corner or area overflows float64, negative box or image sizes,
duplicate ids, annotations or detections that refer to unknown image or category ids.
pycocotools asserts on unknown result image ids and silently skips unknown category ids; we
reject both.

Scores: any finite number. COCO AP and TIDE only rank them (pycocotools and tidecv accept any
score); ECE needs probabilities, which :func:`cvcore.calibration.check_probabilities` checks.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, one_line


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


@dataclass(frozen=True)
class CocoDets:
    """Detections (M of them) in file order; ``ids`` are 1..M and ``areas`` are ``w * h``."""

    ids: np.ndarray            # int64[M]
    image_ids: np.ndarray      # int64[M]
    cat_ids: np.ndarray        # int64[M]
    boxes: np.ndarray          # float64[M, 4]
    scores: np.ndarray         # float64[M]
    areas: np.ndarray          # float64[M]
    source: str = "<list>"


def _read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, a number of > 4300 digits
        raise InputError(f"malformed JSON ({one_line(err)})", path) from None
    except RecursionError:
        raise InputError("malformed JSON (nested too deeply)", path) from None


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
    bad = ~np.isfinite(boxes).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} #{i} has a non-finite bbox {boxes[i].tolist()}", source)
    bad = (boxes[:, 2:] < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} #{i} has a negative box size {boxes[i].tolist()}", source)
    # Corners and area are computed from these: they must stay finite too (1e200 x 1e200 is not).
    with np.errstate(over="ignore"):
        bad = ~(np.isfinite(boxes[:, :2] + boxes[:, 2:]).all(axis=1)
                & np.isfinite(boxes[:, 2] * boxes[:, 3]))
    if bad.any():
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


def load_gt(gt: str | os.PathLike | dict) -> CocoGT:
    """Read a COCO ground-truth file (or an already-parsed dict)."""
    source = "<dict>" if isinstance(gt, dict) else str(gt)
    data = gt if isinstance(gt, dict) else _read_json(gt)
    if not isinstance(data, dict):
        raise InputError("ground truth must be a JSON object with 'images' and 'categories'",
                         source)
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise InputError(f"missing or invalid {key!r} list", source)
    images, categories = data["images"], data["categories"]
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise InputError("'annotations' must be a list", source)
    image_ids = _column(images, "id", "image", source, np.int64)
    cat_ids = _column(categories, "id", "category", source, np.int64)
    _check_unique(image_ids, "image", source)
    _check_unique(cat_ids, "category", source)
    boxes = _boxes(anns, "annotation", source)
    areas = _column(anns, "area", "annotation", source)
    if not np.isfinite(areas).all() or (areas < 0).any():
        i = int(np.flatnonzero(~(np.isfinite(areas) & (areas >= 0)))[0])
        raise InputError(f"annotation #{i} has a bad area {areas[i]}", source)
    ann_ids = _column(anns, "id", "annotation", source, np.int64)
    _check_unique(ann_ids, "annotation", source)
    ann_image_ids = _column(anns, "image_id", "annotation", source, np.int64)
    ann_cat_ids = _column(anns, "category_id", "annotation", source, np.int64)
    _check_known(ann_image_ids, image_ids, "annotation", "image", source)
    _check_known(ann_cat_ids, cat_ids, "annotation", "category", source)
    # Truthy iscrowd marks a crowd region, as pycocotools tests it.
    iscrowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    widths, heights = (_column(images, key, "image", source, np.int64, default=0)
                       for key in ("width", "height"))
    negative = (widths < 0) | (heights < 0)
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        raise InputError(f"image #{i} has a negative size {widths[i]} x {heights[i]}", source)
    return CocoGT(
        image_ids=image_ids, widths=widths, heights=heights,
        file_names=[str(im.get("file_name", "")) for im in images],
        cat_ids=cat_ids, cat_names=[str(c.get("name", c["id"])) for c in categories],
        ann_ids=ann_ids, ann_image_ids=ann_image_ids, ann_cat_ids=ann_cat_ids,
        boxes=boxes, areas=areas, iscrowd=iscrowd, source=source)


def load_results(results: str | os.PathLike | list, gt: CocoGT) -> CocoDets:
    """Read COCO bbox results (a JSON list, a path to one, or a parsed list) against ``gt``.

    An empty list is valid: every metric is then undefined or zero, as pycocotools would say
    had it not crashed on it (cocoapi issue #450).
    """
    return _against_gt(_read_results(results), gt)


def _read_results(results: str | os.PathLike | list) -> CocoDets:
    """The results as arrays, checked on their own (not yet against a ground truth)."""
    source = "<list>" if isinstance(results, list) else str(results)
    data = results if isinstance(results, list) else _read_json(results)
    if not isinstance(data, list):
        raise InputError("results must be a JSON list of detections", source)
    boxes = _boxes(data, "detection", source)
    scores = _column(data, "score", "detection", source)
    if not np.isfinite(scores).all():
        i = int(np.flatnonzero(~np.isfinite(scores))[0])
        raise InputError(f"detection #{i} has a non-finite score {scores[i]}", source)
    return CocoDets(ids=np.arange(1, len(data) + 1, dtype=np.int64),
                    image_ids=_column(data, "image_id", "detection", source, np.int64),
                    cat_ids=_column(data, "category_id", "detection", source, np.int64),
                    boxes=boxes, scores=scores, areas=boxes[:, 2] * boxes[:, 3], source=source)


def _against_gt(dets: CocoDets, gt: CocoGT) -> CocoDets:
    _check_known(dets.image_ids, gt.image_ids, "detection", "image", dets.source)
    _check_known(dets.cat_ids, gt.cat_ids, "detection", "category", dets.source)
    return dets


def load_gt_and_results(gt: str | os.PathLike, results: str | os.PathLike,
                        meanwhile: Callable[[], object] | None = None
                        ) -> tuple[CocoGT, CocoDets]:
    """Both files, parsed in two worker processes while this one runs ``meanwhile`` (e.g.
    loading the Numba kernels).

    Parsing JSON is single-threaded and, with the kernels' start-up, most of what an evaluation
    of a big set costs; on a machine with two or more cores the three overlap. The workers are
    forked, so call this before starting threads. Errors are the same InputErrors as from
    :func:`load_gt` and :func:`load_results`. Ctrl-C interrupts this process only: the workers
    are forked with SIGINT blocked (no traceback of theirs) and killed on the way out.
    """
    meanwhile = defer_interrupt(meanwhile) if meanwhile is not None else None
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        ground_truth = load_gt(gt)
        return ground_truth, load_results(results, ground_truth)
    # Blocked signals stay blocked across fork: a Ctrl-C arriving while the workers start is
    # delivered here when the mask is restored, never in a worker.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        pool = multiprocessing.get_context("fork").Pool(2)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    with pool:  # terminate()s the workers on every exit, Ctrl-C included
        gt_job = pool.apply_async(load_gt, (gt,))
        results_job = pool.apply_async(_read_results, (results,))
        if meanwhile is not None:
            meanwhile()
        ground_truth = gt_job.get()
        dets = results_job.get()
    return ground_truth, _against_gt(dets, ground_truth)


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
