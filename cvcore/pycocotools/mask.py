"""Drop-in for ``pycocotools.mask`` (2.0.11) on cvcore's Numba RLE kernels (cvcore.detection.rle).

Same names, arguments, return types and byte-identical ``counts`` strings:

- ``encode(masks)``: uint8 (or bool) Fortran-order H x W x N -> list of ``{"size": [h, w],
  "counts": bytes}``; an H x W array -> one dict.
- ``decode(rles)``: list -> uint8 H x W x N (Fortran order); one dict -> H x W.
- ``area(rles)``: uint32[N] (one dict -> ``np.uint32``); ``toBbox(rles)``: float64[N, 4]
  [x, y, w, h] (one dict -> float64[4]).
- ``merge(rles, intersect=0)``: one dict, the union (or intersection) of a list.
- ``iou(dt, gt, iscrowd)``: float64[D, G] for two RLE lists or two box sets (N x 4 float arrays
  or lists of 4-lists); ``[]`` when either side is empty; crowd gt -> intersection / dt area.
- ``frPyObjects(obj, h, w)``: polygons (list of flat coordinate lists), boxes (float64 N x 4
  ndarray), uncompressed RLE dicts (or a list of them) -> compressed RLE dict(s).

Input is accepted and rejected by the rules of pycocotools' ``_mask.pyx`` with the same exception
types (its dispatch quirks included: a list of boxes must be a float64 ndarray for
``frPyObjects``, a first polygon of exactly 4 numbers is taken for a box). Where the C code would
read out of bounds, return uninitialised memory or loop forever (corrupt strings, counts that do
not add up), a ``ValueError`` is raised instead.
"""

from __future__ import annotations

import numpy as np

from ..detection import rle as _rle

__all__ = ["area", "decode", "encode", "frPyObjects", "iou", "merge", "toBbox"]


def _as_siz(value) -> int:
    """A size as C's ``siz`` (unsigned long) conversion takes it."""
    value = int(value)
    if value < 0:
        raise OverflowError("can't convert negative value to unsigned long")
    return value


def _dicts(rles: _rle.Rles) -> list[dict]:
    return [{"size": [int(h), int(w)], "counts": s}
            for h, w, s in zip(rles.heights, rles.widths, _rle.to_strings(rles), strict=True)]


def _parse(objs) -> _rle.Rles:
    """Compressed RLE dicts -> Rles (pycocotools' _frString; counts are not summed here)."""
    strings, heights, widths = [], [], []
    for obj in objs:
        counts = obj["counts"]
        if isinstance(counts, str):
            counts = counts.encode()
        elif not isinstance(counts, bytes):
            raise TypeError(f"Expected bytes, got {type(counts).__name__}")
        strings.append(counts)
        heights.append(_as_siz(obj["size"][0]))
        widths.append(_as_siz(obj["size"][1]))
    return _rle.from_strings(strings, np.array(heights, np.int64), np.array(widths, np.int64),
                             check=False)


def _encode(masks: np.ndarray) -> list[dict]:
    if masks.dtype != np.uint8 and masks.dtype != np.bool_:
        raise ValueError(f"Buffer dtype mismatch, expected 'uint8_t' but got '{masks.dtype}'")
    if not masks.flags.f_contiguous:
        raise ValueError("ndarray is not Fortran contiguous")
    return _dicts(_rle.encode(masks))


def encode(bimask: np.ndarray):
    """uint8 Fortran-order masks H x W x N -> list of RLE dicts; H x W -> one dict."""
    if len(bimask.shape) == 3:
        return _encode(bimask)
    if len(bimask.shape) == 2:
        h, w = bimask.shape
        return _encode(bimask.reshape((h, w, 1), order="F"))[0]
    return None  # pycocotools falls through for other ranks


def _decode(objs: list) -> np.ndarray:
    rles = _parse(objs)
    n = len(rles)
    if n == 0:
        return np.zeros((0, 0, 0), np.uint8, order="F")
    h, w = int(rles.heights[0]), int(rles.widths[0])
    # rleDecode writes all masks one after the other into h*w*n bytes (sizes of the first)
    if int(rles.runs.sum(dtype=np.int64)) != h * w * n:
        raise ValueError("Invalid RLE mask representation")
    out = np.empty(h * w * n, np.uint8)
    _rle.decode_stream(rles.starts, rles.runs, out)
    return out.reshape((h, w, n), order="F")


def decode(rleObjs):
    """List of RLE dicts -> uint8 H x W x N (Fortran order); one dict -> H x W."""
    if type(rleObjs) is list:
        return _decode(rleObjs)
    return _decode([rleObjs])[:, :, 0]


def _area(objs) -> np.ndarray:
    return (_rle.area(_parse(objs)) & 0xFFFFFFFF).astype(np.uint32)  # C sums in ``uint``


def area(rleObjs):
    """uint32[N] pixel counts of a list of RLE dicts; one dict -> np.uint32."""
    if type(rleObjs) is list:
        return _area(rleObjs)
    return _area([rleObjs])[0]


def toBbox(rleObjs):  # noqa: N802 (pycocotools' name)
    """float64[N, 4] boxes [x, y, w, h] of a list of RLE dicts; one dict -> float64[4]."""
    if type(rleObjs) is list:
        return _rle.to_bbox(_parse(rleObjs))
    return _rle.to_bbox(_parse([rleObjs]))[0]


def merge(rleObjs, intersect=0) -> dict:
    """Union (or with ``intersect`` the intersection) of a list of RLE dicts, as one dict."""
    return _dicts(_rle.merge(_parse(rleObjs), intersect=bool(intersect)))[0]


def _iou_operand(objs):
    """pycocotools iou's _preproc: [] stays, boxes -> float64[N, 4], RLE dicts -> Rles."""
    if len(objs) == 0:
        return objs
    if type(objs) is np.ndarray:
        if len(objs.shape) == 1:
            objs = objs.reshape((objs[0], 1))  # (sic) as pycocotools
        if len(objs.shape) != 2 or objs.shape[1] != 4:
            raise Exception("numpy ndarray input is only for *bounding boxes* and should have "
                            "Nx4 dimension")
        return objs.astype(np.float64)
    if type(objs) is list:
        if all(len(o) == 4 and type(o) in (list, np.ndarray) for o in objs):
            boxes = np.array(objs, dtype=np.float64)
            return boxes.reshape((1, boxes.shape[0])) if boxes.ndim == 1 else boxes
        if all(type(o) is dict for o in objs):
            return _parse(objs)
        raise Exception("list input can be bounding box (Nx4) or RLEs ([RLE])")
    raise Exception("unrecognized type.  The following type: RLEs (rle), np.ndarray (box), and "
                    "list (box) are supported.")


def iou(dt, gt, pyiscrowd):
    """IoU float64[D, G] of dt against gt (both RLE dict lists or both box sets), as pycocotools.

    ``pyiscrowd``: G flags; crowd gt -> intersection over the dt area. ``[]`` if D or G is 0.
    Masks of different sizes whose boxes overlap give -1.
    """
    iscrowd = np.array(pyiscrowd, dtype=np.uint8)
    dt, gt = _iou_operand(dt), _iou_operand(gt)
    n_dt, n_gt = len(dt), len(gt)
    assert len(pyiscrowd) == n_gt, "iou(iscrowd=) must have the same length as gt"
    if n_dt == 0 or n_gt == 0:
        return []
    if type(dt) is not type(gt):
        raise Exception("The dt and gt should have the same data type, either RLEs, list or "
                        "np.ndarray")
    if iscrowd.ndim != 1:
        raise ValueError(f"Buffer has wrong number of dimensions (expected 1, got {iscrowd.ndim})")
    crowd = iscrowd != 0
    if type(dt) is np.ndarray:
        return _rle.box_iou(dt, gt, crowd)
    return _rle.iou(dt, gt, crowd)


def _fr_bbox(bb, h, w) -> list[dict]:
    if type(bb) is not np.ndarray:
        raise TypeError(f"Argument 'bb' has incorrect type (expected numpy.ndarray, got "
                        f"{type(bb).__name__})")
    if bb.dtype != np.float64:
        raise ValueError(f"Buffer dtype mismatch, expected 'double_t' but got '{bb.dtype}'")
    if bb.ndim != 2:
        raise ValueError(f"Buffer has wrong number of dimensions (expected 2, got {bb.ndim})")
    n = bb.shape[0]
    flat = np.ascontiguousarray(bb).reshape(-1)
    if flat.size < 4 * n:  # rleFrBbox reads 4 values per row from the flat buffer
        raise ValueError(f"boxes must have 4 columns, got shape {bb.shape}")
    return _dicts(_rle.from_boxes(flat[:4 * n].reshape(n, 4), _as_siz(h), _as_siz(w)))


def _fr_poly(polys, h, w) -> list[dict]:
    coords = []
    for p in polys:
        xy = np.array(p, dtype=np.float64, order="F")
        if xy.ndim != 1:
            raise ValueError(f"Buffer has wrong number of dimensions (expected 1, got {xy.ndim})")
        coords.append(xy[:len(p) // 2 * 2])  # rleFrPoly reads int(len(p) / 2) points
    starts = np.zeros(len(coords) + 1, np.int64)
    np.cumsum([len(c) for c in coords], out=starts[1:])
    flat = np.concatenate(coords) if coords else np.zeros(0)
    return _dicts(_rle.from_polygons(flat, starts, _as_siz(h), _as_siz(w)))


def _fr_uncompressed(objs) -> list[dict]:
    counts, heights, widths = [], [], []
    for obj in objs:
        counts.append(np.array(obj["counts"], dtype=np.uint32))
        heights.append(_as_siz(obj["size"][0]))
        widths.append(_as_siz(obj["size"][1]))
    return _dicts(_rle.from_counts(counts, heights, widths, check=False))


def frPyObjects(pyobj, h, w):  # noqa: N802 (pycocotools' name)
    """Polygons / boxes / uncompressed RLE -> compressed RLE dicts, dispatched as pycocotools.

    A float64 ndarray N x 4 -> boxes; a list whose first item has 4 values -> boxes (must then be
    an ndarray, as in pycocotools); first item longer -> polygons; list of RLE dicts ->
    uncompressed RLE (each with its own ``size``; ``h``, ``w`` unused); a single polygon list or
    RLE dict -> one dict.
    """
    if type(pyobj) is np.ndarray:
        return _fr_bbox(pyobj, h, w)
    if type(pyobj) is list:
        first = pyobj[0]
        if len(first) == 4:
            return _fr_bbox(pyobj, h, w)
        if len(first) > 4:
            return _fr_poly(pyobj, h, w)
        if type(first) is dict and "counts" in first and "size" in first:
            return _fr_uncompressed(pyobj)
        if len(pyobj) == 4:
            return _fr_bbox([pyobj], h, w)[0]
        if len(pyobj) > 4:
            return _fr_poly([pyobj], h, w)[0]
    elif type(pyobj) is dict and "counts" in pyobj and "size" in pyobj:
        return _fr_uncompressed([pyobj])[0]
    raise Exception("input type is not supported.")
