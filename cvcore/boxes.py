"""Box IoU kernels shared by the evaluators and trackers.

Boxes are ``float64[N, 4]`` arrays. ``xywh`` is COCO's (left, top, width, height) in pixels.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def iou_xywh_one(dx, dy, dw, dh, gx, gy, gw, gh, crowd):
    """IoU of one detection and one ground-truth box (xywh scalars), for use inside kernels.

    Same operations in the same order as pycocotools' bbIou (maskApi.c), so every IoU is
    bit-identical and threshold comparisons (IoU >= 0.5 exactly) agree.
    """
    w = min(dw + dx, gw + gx) - max(dx, gx)
    if w <= 0:
        return 0.0
    h = min(dh + dy, gh + gy) - max(dy, gy)
    if h <= 0:
        return 0.0
    i = w * h
    u = dw * dh if crowd else dw * dh + gw * gh - i
    return i / u


@numba.njit(cache=True, nogil=True, inline="always")
def iou_block(dets, d0, d1, gts, g0, g1, crowd):
    """IoU [d1 - d0, g1 - g0] of detection rows d0:d1 with ground-truth rows g0:g1 (xywh;
    ``crowd`` flags per ground-truth row), for use inside kernels that work group by group."""
    out = np.empty((d1 - d0, g1 - g0))
    for d in range(d1 - d0):
        for g in range(g1 - g0):
            out[d, g] = iou_xywh_one(dets[d0 + d, 0], dets[d0 + d, 1], dets[d0 + d, 2],
                                     dets[d0 + d, 3], gts[g0 + g, 0], gts[g0 + g, 1],
                                     gts[g0 + g, 2], gts[g0 + g, 3], crowd[g0 + g])
    return out


@numba.njit(cache=True, nogil=True)
def iou_blocks(det_start, gt_start, offsets, det_boxes, gt_boxes, gt_crowd, out):
    """IoU of each group's detections with its ground truth, as row-major blocks.

    Group i is rows ``det_start[i]:det_start[i + 1]`` of ``det_boxes`` and
    ``gt_start[i]:gt_start[i + 1]`` of ``gt_boxes`` (float64[N, 4] xywh); its block (nd x ng,
    pycocotools' bbIou, crowd rows of ``gt_crowd`` as intersection over the detection's area)
    is written to ``out[offsets[i]:offsets[i + 1]]``."""
    for grp in range(det_start.shape[0] - 1):
        d0, d1 = det_start[grp], det_start[grp + 1]
        g0, g1 = gt_start[grp], gt_start[grp + 1]
        if d1 > d0 and g1 > g0:
            block = iou_block(det_boxes, d0, d1, gt_boxes, g0, g1, gt_crowd)
            out[offsets[grp]:offsets[grp + 1]] = block.ravel()


@numba.njit(cache=True, nogil=True)
def _iou_xywh_kernel(dets, gts, crowd):
    return iou_block(dets, 0, dets.shape[0], gts, 0, gts.shape[0], crowd)


def iou_xywh(dets: np.ndarray, gts: np.ndarray, crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU of every detection with every ground-truth box, as pycocotools' ``maskUtils.iou``.

    dets: float64[M, 4] xywh; gts: float64[N, 4] xywh; crowd: bool[N] (optional). For a crowd
    ground truth the "IoU" is intersection over the detection's area. Returns float64[M, N].
    """
    dets = np.ascontiguousarray(dets, dtype=np.float64).reshape(-1, 4)
    gts = np.ascontiguousarray(gts, dtype=np.float64).reshape(-1, 4)
    crowd = (np.zeros(len(gts), np.bool_) if crowd is None
             else np.ascontiguousarray(crowd, dtype=np.bool_).reshape(-1))
    if len(crowd) != len(gts):
        raise ValueError(f"crowd has {len(crowd)} flags for {len(gts)} boxes")
    return _iou_xywh_kernel(dets, gts, crowd)


@numba.njit(cache=True, nogil=True)
def _iou_tlbr_kernel(a, b, pixel, out):
    for i in range(a.shape[0]):
        area_a = (a[i, 2] - a[i, 0] + pixel) * (a[i, 3] - a[i, 1] + pixel)
        for j in range(b.shape[0]):
            out[i, j] = 0.0
            iw = min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]) + pixel
            if iw <= 0:
                continue
            ih = min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]) + pixel
            if ih <= 0:
                continue
            union = area_a + (b[j, 2] - b[j, 0] + pixel) * (b[j, 3] - b[j, 1] + pixel) - iw * ih
            out[i, j] = iw * ih / union


def iou_tlbr(a: np.ndarray, b: np.ndarray, pixel: float = 1.0) -> np.ndarray:
    """IoU [len(a), len(b)] of (x1, y1, x2, y2) boxes.

    ``pixel=1`` counts the end pixel (width = x2 - x1 + 1) like ``cython_bbox.bbox_overlaps``,
    which the official ByteTrack uses for association; ``pixel=0`` is the continuous IoU.
    """
    a = np.ascontiguousarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.ascontiguousarray(b, dtype=np.float64).reshape(-1, 4)
    out = np.empty((len(a), len(b)), np.float64)
    _iou_tlbr_kernel(a, b, float(pixel), out)
    return out

