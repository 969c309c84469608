"""COCO detection files as NumPy arrays, checked the way a user needs them checked.

``load_gt(path_or_dict) -> CocoGT`` reads an ``instances_*.json`` ground truth;
``load_results(path_or_list, gt) -> CocoDets`` reads detections in COCO's results format (a JSON
list of ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``), as pycocotools'
``COCO.loadRes`` does for boxes: detection ``area`` is ``w * h`` and ids are ``1..M`` in file
order. Everything downstream (AP, TIDE, ECE) works on these arrays.

Bad input raises :class:`~cvcore.errors.InputError` naming the file and the problem: malformed
JSON, missing keys, non-numeric or NaN/inf values, negative box sizes, duplicate ids, annotations
or detections that refer to unknown image or category ids. pycocotools asserts on unknown result
image ids and silently skips unknown category ids; we reject both.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError


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
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"malformed JSON ({err})", path) from None


def _column(records: list, key: str, what: str, source: str, dtype=np.float64,
            shape: tuple = ()) -> np.ndarray:
    """``[r[key] for r in records]`` as an array, with a one-line error for a missing key or a
    non-numeric value (naming the first offending record)."""
    try:
        values = [r[key] for r in records]
    except (KeyError, TypeError):
        index = next(i for i, r in enumerate(records) if not isinstance(r, dict) or key not in r)
        raise InputError(f"{what} #{index} has no {key!r}", source) from None
    try:
        array = np.array(values)
    except ValueError:  # ragged, e.g. a bbox with 3 numbers
        array = np.array(values, dtype=object)
    ok = array.dtype.kind in "biuf" and (np.dtype(dtype).kind == "f" or array.dtype.kind != "f"
                                          or bool((array == np.floor(array)).all()))
    if ok and array.shape[1:] == shape:
        return array.astype(dtype)
    want = np.dtype(dtype).kind
    for i, v in enumerate(values):
        a = np.array(v, dtype=object).ravel()
        good = (np.shape(v) == shape
                and all(isinstance(x, (int, float)) and (want == "f" or float(x).is_integer())
                        for x in a))
        if not good:
            raise InputError(f"{what} #{i} has a bad {key!r}: {v!r}", source)
    raise InputError(f"{what}s have bad {key!r} values", source)


def _boxes(records: list, what: str, source: str) -> np.ndarray:
    """The records' ``bbox`` fields as float64[N, 4], all finite with non-negative sizes."""
    boxes = _column(records, "bbox", what, source, shape=(4,)) if records else np.zeros((0, 4))
    bad = ~np.isfinite(boxes).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} #{i} has a non-finite bbox {boxes[i].tolist()}", source)
    bad = (boxes[:, 2:] < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} #{i} has a negative box size {boxes[i].tolist()}", source)
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
    iscrowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    return CocoGT(
        image_ids=image_ids,
        widths=np.array([im.get("width", 0) for im in images], np.int64),
        heights=np.array([im.get("height", 0) for im in images], np.int64),
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
    :func:`load_gt` and :func:`load_results`.
    """
    if (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        if meanwhile is not None:
            meanwhile()
        ground_truth = load_gt(gt)
        return ground_truth, load_results(results, ground_truth)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        gt_future = pool.submit(load_gt, gt)
        results_future = pool.submit(_read_results, results)
        if meanwhile is not None:
            meanwhile()
        ground_truth = gt_future.result()
        dets = results_future.result()
    return ground_truth, _against_gt(dets, ground_truth)


def name_of(path: str | os.PathLike) -> str:
    """Short display name of a file for tables and titles."""
    return Path(path).name
