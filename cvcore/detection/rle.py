"""COCO run-length masks: N binary masks as one flat array of runs, and the mask API on them.

A mask of height ``h`` and width ``w`` is read in column-major order (down the first column,
then the next) and stored as alternating run lengths, the first counting zeros (possibly 0), as
pycocotools does. :class:`Rles` keeps N such masks in four arrays so every operation is one Numba
kernel over all masks instead of a Python loop.

Every algorithm follows pycocotools 2.0.11's ``common/maskApi.c`` step for step (rleEncode,
rleDecode, rleMerge, rleArea, rleIou, bbIou, rleToBbox, rleFrBbox, rleFrPoly, rleToString,
rleFrString), including its rounding and its integer wrap-around, so strings are byte-identical and
IoUs bit-identical. Where the C code reads out of bounds or loops forever on inconsistent input
(runs that do not sum to ``h * w``), these functions raise ``ValueError`` instead.

API (all vectorised over the N masks): ``encode``/``decode`` (uint8[H, W, N], Fortran order),
``to_strings``/``from_strings`` (COCO compressed ``counts``), ``from_counts`` (uncompressed),
``area``, ``to_bbox``, ``iou`` and the njit kernel ``rle_iou_block`` for other Numba code,
``box_iou``, ``merge`` (per group), ``from_polygons``, ``from_boxes``, ``concat``, ``take``, and
``from_segmentations``, which applies pycocotools' ``COCO.annToRLE`` rule to
``annotation["segmentation"]`` values (polygon lists, uncompressed and compressed RLE dicts) and
checks them on the way.

Speed (1000 masks of 480 x 640, 2 cores): encode ~50-80 ms (pycocotools ~230-440 ms), decode
~50-120 ms (pycocotools ~1.3 s), mask IoU 500 x 500 ~70 ms (pycocotools ~180-360 ms), 1000
20-point polygons ~30 ms (pycocotools ~45 ms): encode skips 8 equal bytes at a time, the IoU walks
only the foreground runs inside the overlap, polygon points are bucketed by column before
sorting; the numbers are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

_U32 = 0xFFFFFFFF  # C ``uint`` arithmetic wraps modulo 2**32
_CHARS_PER_RUN = 7  # a run difference fits 33 signed bits: at most 7 five-bit characters
# from_strings error codes (per mask) and their messages
_STRING_ERRORS = {
    1: "invalid character in compressed RLE counts (allowed: '0'..'o')",
    2: "compressed RLE counts end in the middle of a number",
    3: "RLE counts run past h*w",
    4: "RLE counts sum to less than h*w",
}


@dataclass(frozen=True)
class Rles:
    """N masks in COCO's column-major run-length form.

    ``heights``, ``widths``: int64[N]; ``starts``: int64[N + 1] offsets into ``runs``;
    ``runs``: uint32[total], the runs of mask i are ``runs[starts[i]:starts[i + 1]]`` and the
    first of them counts zeros.
    """

    heights: np.ndarray
    widths: np.ndarray
    starts: np.ndarray
    runs: np.ndarray

    def __len__(self) -> int:
        return len(self.heights)


def _make(heights, widths, starts, runs) -> Rles:
    return Rles(np.asarray(heights, np.int64), np.asarray(widths, np.int64),
                np.asarray(starts, np.int64), np.asarray(runs, np.uint32))


def _sizes(n: int, heights, widths) -> tuple[np.ndarray, np.ndarray]:
    """Heights and widths as int64[n] (a scalar is repeated)."""
    return (np.broadcast_to(np.asarray(heights, np.int64), (n,)).copy(),
            np.broadcast_to(np.asarray(widths, np.int64), (n,)).copy())


# ----------------------------------------------------------------------------------------------
# encode / decode
# ----------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _encode_kernel(flat, words, area, n):
    """rleEncode: a new run starts wherever the byte value changes (any uint8 value, as C).

    ``words`` is ``flat`` viewed as uint64 (or empty): inside a run, 8 equal bytes are skipped
    at once, which is most of a real mask.
    """
    starts = np.zeros(n + 1, np.int64)
    runs = np.empty(max(64, 2 * n), np.uint32)
    k = 0
    use_words = words.shape[0] > 0
    for i in range(n):
        if k + area + 1 > runs.shape[0]:  # room for the worst case of this mask
            grown = np.empty(max(k + area + 1, 2 * runs.shape[0]), np.uint32)
            grown[:k] = runs[:k]
            runs = grown
        p = np.uint8(0)
        same8 = np.uint64(0)
        c = 0
        j = i * area
        end = j + area
        while j < end:
            if use_words and j % 8 == 0 and j + 8 <= end and words[j // 8] == same8:
                c += 8
                j += 8
                continue
            if flat[j] != p:
                runs[k] = c
                k += 1
                c = 0
                p = flat[j]
                same8 = np.uint64(p) * np.uint64(0x0101010101010101)
            c += 1
            j += 1
        runs[k] = c
        k += 1
        starts[i + 1] = k
    return starts, runs[:k].copy()


def encode(masks: np.ndarray) -> Rles:
    """Masks uint8[H, W, N] (any memory order; bool is read as 0/1) -> Rles, as rleEncode.

    Like pycocotools, every change of byte value starts a new run, so masks should hold 0/1.
    """
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be H x W x N, got shape {masks.shape}")
    if masks.dtype != np.uint8 and masks.dtype != np.bool_:
        masks = masks.astype(np.uint8)
    h, w, n = masks.shape
    flat = np.asfortranarray(masks).reshape(-1, order="F").view(np.uint8)
    aligned = flat.size % 8 == 0 and flat.ctypes.data % 8 == 0
    words = flat.view(np.uint64) if aligned else np.zeros(0, np.uint64)
    starts, runs = _encode_kernel(flat, words, h * w, n)
    return _make(np.full(n, h), np.full(n, w), starts, runs)


@numba.njit(cache=True, nogil=True)
def decode_stream(starts, runs, out):
    """rleDecode: write the masks' runs one after the other into the flat uint8 ``out`` (each
    mask starts with zeros); the runs must sum to ``out.size``."""
    pos = 0
    for i in range(starts.shape[0] - 1):
        v = np.uint8(0)
        for j in range(starts[i], starts[i + 1]):
            c = np.int64(runs[j])
            out[pos:pos + c] = v
            pos += c
            v = np.uint8(1) - v


def decode(rles: Rles) -> np.ndarray:
    """Rles (all the same size, runs summing to h*w) -> uint8[H, W, N] in Fortran order."""
    n = len(rles)
    if n == 0:
        return np.zeros((0, 0, 0), np.uint8, order="F")
    h, w = int(rles.heights[0]), int(rles.widths[0])
    if np.any(rles.heights != h) or np.any(rles.widths != w):
        raise ValueError("cannot decode masks of different sizes into one array")
    _check_sums(rles)
    out = np.empty(h * w * n, np.uint8)
    decode_stream(rles.starts, rles.runs, out)
    return out.reshape((h, w, n), order="F")


def _check_sums(rles: Rles) -> None:
    """Raise ValueError unless the runs of every mask sum to its h*w."""
    csum = np.zeros(len(rles.runs) + 1, np.int64)
    np.cumsum(rles.runs, out=csum[1:])
    sums = csum[rles.starts[1:]] - csum[rles.starts[:-1]]
    bad = np.flatnonzero(sums != rles.heights * rles.widths)
    if bad.size:
        i = bad[0]
        raise ValueError(f"RLE {i}: counts sum to {sums[i]}, not h*w = "
                         f"{rles.heights[i]}*{rles.widths[i]}")


# ----------------------------------------------------------------------------------------------
# compressed strings
# ----------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _to_strings_kernel(starts, runs):
    """rleToString: each run (minus the run two before it, from the fourth run on) as signed
    5-bit groups, low first, 0x20 = more follow, offset by 48 into '0'..'o'."""
    n = starts.shape[0] - 1
    buf = np.empty(runs.shape[0] * _CHARS_PER_RUN, np.uint8)
    offs = np.zeros(n + 1, np.int64)
    p = 0
    for i in range(n):
        for j in range(starts[i], starts[i + 1]):
            x = np.int64(runs[j])
            if j - starts[i] > 2:
                x -= np.int64(runs[j - 2])
            more = True
            while more:
                c = x & 0x1F
                x >>= 5  # arithmetic shift, as C's ``long >>`` on the reference platforms
                more = (x != -1) if (c & 0x10) else (x != 0)
                if more:
                    c |= 0x20
                buf[p] = c + 48
                p += 1
        offs[i + 1] = p
    return buf, offs


def to_strings(rles: Rles) -> list[bytes]:
    """Rles -> COCO compressed ``counts`` strings, byte-identical to pycocotools' rleToString."""
    buf, offs = _to_strings_kernel(rles.starts, rles.runs)
    data = buf[:offs[-1]].tobytes()
    return [data[offs[i]:offs[i + 1]] for i in range(len(offs) - 1)]


@numba.njit(cache=True, nogil=True)
def _from_strings_kernel(buf, offs, areas, check):
    """rleFrString on a concatenation of strings; per-string error code (see _STRING_ERRORS)."""
    n = offs.shape[0] - 1
    starts = np.zeros(n + 1, np.int64)
    err = np.zeros(n, np.int64)
    for i in range(n):  # count numbers (characters without the continuation bit)
        k = 0
        for p in range(offs[i], offs[i + 1]):
            b = buf[p]
            if b < 48 or b > 111:
                err[i] = 1
            elif (b - 48) & 0x20 == 0:
                k += 1
        if err[i] == 0 and offs[i + 1] > offs[i] and (buf[offs[i + 1] - 1] - 48) & 0x20:
            err[i] = 2
        starts[i + 1] = starts[i] + (0 if err[i] else k)
    runs = np.empty(starts[n], np.uint32)
    for i in range(n):
        if err[i]:
            continue
        m = starts[i]
        p = offs[i]
        total = 0
        while p < offs[i + 1]:
            x = np.int64(0)
            k = 0
            more = True
            while more:
                c = np.int64(buf[p]) - 48
                x |= (c & 0x1F) << (5 * k)
                more = (c & 0x20) != 0
                p += 1
                k += 1
                if not more and (c & 0x10):
                    x |= np.int64(-1) << (5 * k)
            if m - starts[i] > 2:
                x += np.int64(runs[m - 2])
            r = x & 0xFFFFFFFF  # C stores ``(uint) x``
            runs[m] = r
            m += 1
            total += r
            if check and total > areas[i]:
                err[i] = 3
                break
        if check and err[i] == 0 and total != areas[i]:
            err[i] = 4
    return starts, runs, err


def from_strings(strings: list, heights, widths, *, check: bool = True) -> Rles:
    """COCO compressed counts (bytes or str, as in ``{"counts": ...}``) -> Rles, as rleFrString.

    ValueError("RLE i: ...") for a character outside '0'..'o', a truncated number and, with
    ``check`` (the default), runs that go past ``h * w`` or stop short of it.
    """
    n = len(strings)
    heights, widths = _sizes(n, heights, widths)
    encoded = [s.encode() if isinstance(s, str) else bytes(s) for s in strings]
    offs = np.zeros(n + 1, np.int64)
    np.cumsum([len(s) for s in encoded], out=offs[1:])
    buf = np.frombuffer(b"".join(encoded), np.uint8)
    starts, runs, err = _from_strings_kernel(buf, offs, heights * widths, check)
    bad = np.flatnonzero(err)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"RLE {i}: {_STRING_ERRORS[int(err[i])]} "
                         f"(size [{heights[i]}, {widths[i]}])")
    return _make(heights, widths, starts, runs)


def from_counts(counts: list, heights, widths, *, check: bool = True) -> Rles:
    """Uncompressed RLE counts (lists of non-negative integers) -> Rles.

    Values are converted as pycocotools' frUncompressedRLE does (``np.array(c, np.uint32)``,
    so floats are truncated); ValueError for non-numeric or negative values and, with ``check``,
    for counts that do not sum to ``h * w``.
    """
    n = len(counts)
    heights, widths = _sizes(n, heights, widths)
    arrays = []
    for i, c in enumerate(counts):
        try:
            a = np.asarray(c)
            if a.ndim != 1 or a.dtype.kind not in "iuf" or (
                    a.size and not (np.all(a >= 0) and np.all(a <= _U32))):
                raise ValueError
            arrays.append(a.astype(np.uint32))
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"RLE {i}: uncompressed counts must be a list of non-negative "
                             f"integers") from None
    starts = np.zeros(n + 1, np.int64)
    np.cumsum([len(a) for a in arrays], out=starts[1:])
    runs = np.concatenate(arrays) if arrays else np.zeros(0, np.uint32)
    rles = _make(heights, widths, starts, runs)
    if check:
        _check_sums(rles)
    return rles


# ----------------------------------------------------------------------------------------------
# area, bounding boxes, IoU
# ----------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _area_kernel(starts, runs):
    n = starts.shape[0] - 1
    out = np.zeros(n, np.int64)
    for i in range(n):
        for j in range(starts[i] + 1, starts[i + 1], 2):
            out[i] += runs[j]
    return out


def area(rles: Rles) -> np.ndarray:
    """int64[N] foreground pixel counts (rleArea)."""
    return _area_kernel(rles.starts, rles.runs)


@numba.njit(cache=True, nogil=True)
def _bbox_kernel(heights, widths, starts, runs):
    """rleToBbox of pycocotools 2.0.11 (per foreground run, in C ``uint`` arithmetic)."""
    n = heights.shape[0]
    out = np.zeros((n, 4), np.float64)
    for i in range(n):
        h = heights[i] & _U32
        w = widths[i] & _U32
        m = (starts[i + 1] - starts[i]) // 2 * 2  # a trailing background run is ignored
        if m == 0:
            continue
        xs, ys, xe, ye, cc = w, h, 0, 0, 0
        for j in range(m):
            r = np.int64(runs[starts[i] + j])
            start = cc
            cc = (cc + r) & _U32
            if j % 2 == 0 or r == 0:
                continue
            y_start = start % h
            x_start = (start - y_start) // h
            last = (cc - 1) & _U32
            y_end = last % h
            x_end = (last - y_end) // h
            xs = min(xs, x_start)
            xe = max(xe, x_end)
            if x_start < x_end:  # the run wraps into the next column: full height
                ys = 0
                ye = (h - 1) & _U32
            else:
                ys = min(ys, y_start)
                ye = max(ye, y_end)
        out[i, 0] = xs
        out[i, 1] = ys
        out[i, 2] = (xe - xs + 1) & _U32
        out[i, 3] = (ye - ys + 1) & _U32
    return out


def to_bbox(rles: Rles) -> np.ndarray:
    """float64[N, 4] boxes [x, y, w, h] around each mask (pycocotools toBbox; empty -> zeros)."""
    return _bbox_kernel(rles.heights, rles.widths, rles.starts, rles.runs)


@numba.njit(cache=True, nogil=True, inline="always")
def _fmin(a, b):
    # C fmin: a NaN argument loses
    return b if (a != a or b < a) else a


@numba.njit(cache=True, nogil=True, inline="always")
def _fmax(a, b):
    return b if (a != a or b > a) else a


@numba.njit(cache=True, nogil=True, inline="always")
def _box_iou_one(d, g, crowd):
    """bbIou for one pair of [x, y, w, h] rows (crowd: intersection over the dt box area)."""
    iw = _fmin(d[2] + d[0], g[2] + g[0]) - _fmax(d[0], g[0])
    if iw <= 0:
        return 0.0
    ih = _fmin(d[3] + d[1], g[3] + g[1]) - _fmax(d[1], g[1])
    if ih <= 0:
        return 0.0
    inter = iw * ih
    da = d[2] * d[3]
    u = da if crowd else da + g[2] * g[3] - inter
    return inter / u


@numba.njit(cache=True, nogil=True)
def box_iou(dt, gt, gt_crowd):
    """float64[D, G] IoU of [x, y, w, h] boxes exactly as pycocotools' bbIou."""
    out = np.zeros((dt.shape[0], gt.shape[0]), np.float64)
    for g in range(gt.shape[0]):
        for d in range(dt.shape[0]):
            out[d, g] = _box_iou_one(dt[d], gt[g], gt_crowd[g])
    return out


@numba.njit(cache=True, nogil=True)
def _run_ends(starts, runs, i0, i1):
    """Position after each run of masks i0..i1-1 (per mask, from 0), indexed from starts[i0]."""
    base = starts[i0]
    ends = np.empty(starts[i1] - base, np.int64)
    for i in range(i0, i1):
        c = 0
        for j in range(starts[i], starts[i + 1]):
            c += np.int64(runs[j])
            ends[j - base] = c
    return ends


@numba.njit(cache=True, nogil=True)
def _intersection(pa, ia, ea, pb, ib, eb):
    """Pixels set in both of two masks given their run ends ``pa[ia:ea]``, ``pb[ib:eb]``.

    Same count as rleIou's sweep over all runs, but only the foreground runs (odd offsets) that
    lie between the later first and the earlier last foreground pixel are visited.
    """
    na, nb = ea - ia, eb - ib
    if na < 2 or nb < 2:
        return 0
    lo = max(pa[ia], pb[ib])  # end of the leading background run = first foreground pixel
    hi = min(pa[ia + na // 2 * 2 - 1], pb[ib + nb // 2 * 2 - 1])  # end of the last fg run
    if hi <= lo:
        return 0
    a = ia + np.searchsorted(pa[ia:ea], lo, side="right")  # first run ending after lo
    a += (a - ia + 1) % 2  # on to a foreground run
    b = ib + np.searchsorted(pb[ib:eb], lo, side="right")
    b += (b - ib + 1) % 2
    inter = 0
    while a < ea and b < eb:
        sa, la, sb, lb = pa[a - 1], pa[a], pb[b - 1], pb[b]
        if sa >= hi or sb >= hi:
            break
        if min(la, lb) > max(sa, sb):
            inter += min(la, lb) - max(sa, sb)
        if la <= lb:
            a += 2
        else:
            b += 2
    return inter


@numba.njit(cache=True, nogil=True)
def rle_iou_block(dt_starts, dt_runs, d0, d1, gt_starts, gt_runs, g0, g1, gt_crowd,
                  dt_area, gt_area, dt_box, gt_box):
    """float64[d1 - d0, g1 - g0] mask IoU of dt masks d0..d1-1 against gt masks g0..g1-1.

    Array arguments are whole-collection arrays indexed with the global indices (``gt_crowd``
    bool, areas int64, boxes float64[:, 4] from ``to_bbox``). As rleIou: pairs whose boxes do not
    overlap are 0 without a sweep; crowd gt -> intersection / dt area. Masks must have the same
    size (``iou`` handles pycocotools' -1 for different sizes).
    """
    out = np.zeros((d1 - d0, g1 - g0), np.float64)
    dt_ends = _run_ends(dt_starts, dt_runs, d0, d1)
    gt_ends = _run_ends(gt_starts, gt_runs, g0, g1)
    for g in range(g0, g1):
        crowd = gt_crowd[g]
        for d in range(d0, d1):
            if _box_iou_one(dt_box[d], gt_box[g], crowd) <= 0:
                continue
            inter = _intersection(dt_ends, dt_starts[d] - dt_starts[d0],
                                  dt_starts[d + 1] - dt_starts[d0], gt_ends,
                                  gt_starts[g] - gt_starts[g0], gt_starts[g + 1] - gt_starts[g0])
            if inter == 0:
                continue
            u = dt_area[d] if crowd else dt_area[d] + gt_area[g] - inter
            out[d - d0, g - g0] = inter / u
    return out


@numba.njit(cache=True, nogil=True)
def rle_iou_blocks(det_start, gt_start, offsets, dt_starts, dt_runs, gt_starts, gt_runs,
                   gt_crowd, dt_area, gt_area, dt_box, gt_box, out):
    """:func:`cvcore.boxes.iou_blocks` for masks: each group's :func:`rle_iou_block` (groups
    delimited by ``det_start`` / ``gt_start``), written row-major to
    ``out[offsets[i]:offsets[i + 1]]``."""
    for grp in range(det_start.shape[0] - 1):
        d0, d1 = det_start[grp], det_start[grp + 1]
        g0, g1 = gt_start[grp], gt_start[grp + 1]
        if d1 > d0 and g1 > g0:
            block = rle_iou_block(dt_starts, dt_runs, d0, d1, gt_starts, gt_runs, g0, g1,
                                  gt_crowd, dt_area, gt_area, dt_box, gt_box)
            out[offsets[grp]:offsets[grp + 1]] = block.ravel()


def iou(dt: Rles, gt: Rles, iscrowd) -> np.ndarray:
    """float64[D, G] mask IoU (pycocotools iou on RLEs): crowd gt -> intersection / dt area;
    -1 where the boxes overlap but the two masks have different sizes."""
    crowd = np.asarray(iscrowd, bool).reshape(-1)
    if crowd.shape[0] != len(gt):
        raise ValueError(f"iscrowd has {crowd.shape[0]} values for {len(gt)} gt masks")
    dt_box, gt_box = to_bbox(dt), to_bbox(gt)
    out = rle_iou_block(dt.starts, dt.runs, 0, len(dt), gt.starts, gt.runs, 0, len(gt), crowd,
                        area(dt), area(gt), dt_box, gt_box)
    other = (dt.heights[:, None] != gt.heights[None, :]) | (dt.widths[:, None] != gt.widths[None])
    if other.any():
        out[other & (box_iou(dt_box, gt_box, crowd) > 0)] = -1.0
    return out


# ----------------------------------------------------------------------------------------------
# merge
# ----------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _merge_kernel(heights, widths, starts, runs, group_starts, intersect):
    """rleMerge per group: fold the masks in with the C sweep (same runs, zero runs included)."""
    n_groups = group_starts.shape[0] - 1
    out_h = np.zeros(n_groups, np.int64)
    out_w = np.zeros(n_groups, np.int64)
    out_starts = np.zeros(n_groups + 1, np.int64)
    out_runs = np.empty(runs.shape[0] + n_groups, np.uint32)
    err = -1
    for gi in range(n_groups):
        first, last = group_starts[gi], group_starts[gi + 1]
        o = out_starts[gi]
        if last == first:  # rleMerge of nothing: 0 x 0, no runs
            out_starts[gi + 1] = o
            continue
        h, w = heights[first], widths[first]
        cap = starts[last] - starts[first] + 1
        acc = np.empty(cap, np.int64)
        tmp = np.empty(cap, np.int64)
        m = starts[first + 1] - starts[first]
        for j in range(m):
            acc[j] = runs[starts[first] + j]
        for i in range(first + 1, last):
            if heights[i] != h or widths[i] != w:
                h = w = m = 0
                break
            ib, eb = starts[i], starts[i + 1]
            ca = acc[0] if m > 0 else 0
            cb = np.int64(runs[ib]) if ib < eb else 0
            a, b = 1, ib + 1
            v = va = vb = False
            mm = 0
            cc = 0
            ct = 1
            while ct > 0:
                c = min(ca, cb)
                if c == 0 and ((ca == 0 and a >= m and cb > 0) or (cb == 0 and b >= eb and ca > 0)):
                    err = gi  # one mask ends before the other: C would spin forever
                    break
                cc += c
                ct = 0
                ca -= c
                if ca == 0 and a < m:
                    ca = acc[a]
                    a += 1
                    va = not va
                ct += ca
                cb -= c
                if cb == 0 and b < eb:
                    cb = np.int64(runs[b])
                    b += 1
                    vb = not vb
                ct += cb
                vp = v
                v = (va and vb) if intersect else (va or vb)
                if v != vp or ct == 0:
                    tmp[mm] = cc
                    mm += 1
                    cc = 0
            if err >= 0:
                break
            acc, tmp = tmp, acc
            m = mm
        if err >= 0:
            break
        out_h[gi] = h
        out_w[gi] = w
        for j in range(m):
            out_runs[o + j] = acc[j] & 0xFFFFFFFF
        out_starts[gi + 1] = o + m
    return out_h, out_w, out_starts, out_runs[:out_starts[n_groups]], err


def merge(rles: Rles, group_starts=None, intersect: bool = False) -> Rles:
    """One mask per group: union (or intersection) of ``rles[group_starts[g]:group_starts[g+1]]``.

    As rleMerge: an empty group gives a 0 x 0 mask with no runs, a single mask is copied, and a
    group whose masks differ in size gives 0 x 0. ``group_starts`` defaults to one group of all.
    """
    if group_starts is None:
        group_starts = [0, len(rles)]
    group_starts = np.asarray(group_starts, np.int64)
    out_h, out_w, starts, runs, err = _merge_kernel(rles.heights, rles.widths, rles.starts,
                                                    rles.runs, group_starts, bool(intersect))
    if err >= 0:
        raise ValueError(f"merge group {err}: masks whose RLE counts sum to different totals")
    return _make(out_h, out_w, starts, runs)


# ----------------------------------------------------------------------------------------------
# polygons and boxes
# ----------------------------------------------------------------------------------------------

@numba.njit(cache=True, nogil=True)
def _sort_column_points(a, h, w):
    """Sorted copy of ``a`` = x * h + y (0 <= a <= h * w): bucket by column, then an insertion
    sort that only has to order the few entries of each column (np.sort for odd sizes)."""
    n = a.shape[0]
    if h <= 0 or w <= 0 or h * w >= 2 ** 32 or w > 64 * n:
        return np.sort(a)
    ends = np.zeros(w + 2, np.int64)
    for j in range(n):
        ends[a[j] // h + 1] += 1
    for x in range(w + 1):
        ends[x + 1] += ends[x]
    out = np.empty(n, np.int64)
    for j in range(n):
        x = a[j] // h
        out[ends[x]] = a[j]
        ends[x] += 1
    for j in range(1, n):
        t = out[j]
        i = j - 1
        while i >= 0 and out[i] > t:
            out[i + 1] = out[i]
            i -= 1
        out[i + 1] = t
    return out


@numba.njit(cache=True, nogil=True)
def _poly_runs(xy, h, w):
    """rleFrPoly: upsample the closed polygon by 5, walk it in unit steps, keep the points where
    it crosses a pixel-centre column, and turn those column entries into runs."""
    scale = 5.0
    k = xy.shape[0] // 2
    x = np.empty(k + 1, np.int64)
    y = np.empty(k + 1, np.int64)
    for j in range(k):
        x[j] = np.int64(scale * xy[2 * j] + 0.5)  # C (int) cast: truncation towards zero
        y[j] = np.int64(scale * xy[2 * j + 1] + 0.5)
    if k > 0:
        x[k] = x[0]
        y[k] = y[0]
    m = 0
    for j in range(k):
        m += max(abs(x[j] - x[j + 1]), abs(y[j] - y[j + 1])) + 1
    u = np.empty(m, np.int64)
    v = np.empty(m, np.int64)
    m = 0
    for j in range(k):
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx = abs(xe - xs)
        dy = abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe = xe, xs
            ys, ye = ye, ys
        if dx >= dy:
            # dx == 0 (a repeated vertex) gives one point whose v C computes from 0/0; that
            # point shares its u with both neighbours, so v is never read
            s = (ye - ys) / dx if dx > 0 else 0.0
            for d in range(dx + 1):
                t = dx - d if flip else d
                u[m] = t + xs
                v[m] = np.int64(ys + s * t + 0.5)
                m += 1
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v[m] = t + ys
                u[m] = np.int64(xs + s * t + 0.5)
                m += 1
    # C compares with ``w - 1`` in unsigned arithmetic: for w == 0 that is 2**64 - 1
    x_limit = np.float64(w - 1) if w > 0 else 1.8446744073709552e19
    a = np.empty(m + 1, np.int64)
    na = 0
    for j in range(1, m):
        if u[j] == u[j - 1]:
            continue
        xd = np.float64(u[j] if u[j] < u[j - 1] else u[j] - 1)
        xd = (xd + 0.5) / scale - 0.5
        if np.floor(xd) != xd or xd < 0 or xd > x_limit:
            continue
        yd = np.float64(v[j] if v[j] < v[j - 1] else v[j - 1])
        yd = (yd + 0.5) / scale - 0.5
        if yd < 0:
            yd = 0.0
        elif yd > h:
            yd = np.float64(h)
        yd = np.ceil(yd)
        a[na] = (np.int64(xd) * h + np.int64(yd)) & 0xFFFFFFFF
        na += 1
    a[na] = (h * w) & 0xFFFFFFFF
    na += 1
    a = _sort_column_points(a[:na], h, w)
    p = 0
    for j in range(na):
        t = a[j]
        a[j] -= p
        p = t
    b = np.empty(na, np.int64)
    b[0] = a[0]
    nb = 1
    j = 1
    while j < na:  # a zero-length run joins the runs either side of it
        if a[j] > 0:
            b[nb] = a[j]
            nb += 1
            j += 1
        else:
            j += 1
            if j < na:
                b[nb - 1] += a[j]
                j += 1
    return b[:nb]


@numba.njit(cache=True, nogil=True)
def _polys_kernel(coords, poly_starts, heights, widths):
    n = poly_starts.shape[0] - 1
    starts = np.zeros(n + 1, np.int64)
    runs = np.empty(max(16, 4 * n), np.uint32)
    for i in range(n):
        r = _poly_runs(coords[poly_starts[i]:poly_starts[i + 1]], heights[i], widths[i])
        need = starts[i] + r.shape[0]
        if need > runs.shape[0]:
            grown = np.empty(max(need, 2 * runs.shape[0]), np.uint32)
            grown[:starts[i]] = runs[:starts[i]]
            runs = grown
        for j in range(r.shape[0]):
            runs[starts[i] + j] = r[j] & 0xFFFFFFFF
        starts[i + 1] = need
    return starts, runs[:starts[n]]


def from_polygons(coords, poly_starts, h, w) -> Rles:
    """One mask per polygon, exactly as pycocotools' rleFrPoly.

    ``coords``: float64[total] x0, y0, x1, y1, ... of all polygons; polygon p is
    ``coords[poly_starts[p]:poly_starts[p + 1]]`` (an odd trailing value is ignored, as C).
    ``h``, ``w``: image size, scalars or int64[P]. Coordinates are pixel units, 0-indexed.
    """
    coords = np.ascontiguousarray(coords, np.float64)
    poly_starts = np.asarray(poly_starts, np.int64)
    heights, widths = _sizes(len(poly_starts) - 1, h, w)
    starts, runs = _polys_kernel(coords, poly_starts, heights, widths)
    return _make(heights, widths, starts, runs)


def from_boxes(boxes, h, w) -> Rles:
    """float64[N, 4] [x, y, w, h] boxes -> masks (rleFrBbox: the box as a 4-point polygon)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    xe, ye = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    coords = np.stack([b[:, 0], b[:, 1], b[:, 0], ye, xe, ye, xe, b[:, 1]], axis=1).reshape(-1)
    return from_polygons(coords, np.arange(0, 8 * len(b) + 1, 8), h, w)


# ----------------------------------------------------------------------------------------------
# collections and COCO segmentations
# ----------------------------------------------------------------------------------------------

def concat(parts: list[Rles]) -> Rles:
    """The masks of several Rles one after the other."""
    runs = [p.runs for p in parts]
    lengths = np.concatenate([np.diff(p.starts) for p in parts] or [np.zeros(0, np.int64)])
    starts = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    return _make(np.concatenate([p.heights for p in parts] or [np.zeros(0, np.int64)]),
                 np.concatenate([p.widths for p in parts] or [np.zeros(0, np.int64)]),
                 starts, np.concatenate(runs) if runs else np.zeros(0, np.uint32))


def take(rles: Rles, index) -> Rles:
    """The masks ``rles[index]`` (int64 index array, any order, repeats allowed)."""
    index = np.asarray(index, np.int64)
    lengths = rles.starts[index + 1] - rles.starts[index]
    starts = np.zeros(len(index) + 1, np.int64)
    np.cumsum(lengths, out=starts[1:])
    # position of every output run in the input: its mask's input start + offset in the mask
    gather = np.repeat(rles.starts[index] - starts[:-1], lengths) + np.arange(starts[-1])
    return _make(rles.heights[index], rles.widths[index], starts, rles.runs[gather])


def _polygon_coords(part, j: int) -> np.ndarray:
    try:
        xy = np.asarray(part, np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"polygon {j} has non-numeric coordinates") from None
    if xy.ndim != 1:
        raise ValueError(f"polygon {j} must be a flat list [x0, y0, x1, y1, ...]")
    if len(xy) % 2:
        raise ValueError(f"polygon {j} has an odd number of coordinates ({len(xy)})")
    if len(xy) < 6:
        raise ValueError(f"polygon {j} has fewer than 3 points ({len(xy)} coordinates)")
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"polygon {j} has non-finite coordinates")
    return xy


def _rle_size(segm: dict, h: int, w: int) -> tuple[int, int]:
    size = segm.get("size")
    if size is None:
        raise ValueError("RLE segmentation has no 'size'")
    try:
        sh, sw = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"RLE 'size' must be [height, width], got {size!r}") from None
    if sh < 0 or sw < 0:
        raise ValueError(f"RLE 'size' must be non-negative, got {size!r}")
    if h >= 0 and (sh, sw) != (h, w):
        raise ValueError(f"RLE size [{sh}, {sw}] does not match the image size [{h}, {w}]")
    return sh, sw


def from_segmentations(segms: list, heights, widths) -> Rles:
    """COCO ``annotation["segmentation"]`` values -> one mask each (pycocotools COCO.annToRLE).

    A list of polygons -> their rleFrPoly masks merged (union); ``{"size", "counts": [ints]}``
    -> uncompressed RLE; ``{"size", "counts": str | bytes}`` -> compressed RLE. ``heights``,
    ``widths``: int64[N] (or scalars) image sizes; an RLE's ``size`` must equal it (a negative
    image size means unknown: the RLE's own size is used, polygons are then an error).
    ValueError names the problem (the caller adds file and annotation index).
    """
    n = len(segms)
    heights, widths = _sizes(n, heights, widths)
    poly_idx, poly_coords, poly_lens, poly_groups = [], [], [], [0]
    cnt_idx, cnt_vals, cnt_h, cnt_w = [], [], [], []
    str_idx, str_vals, str_h, str_w = [], [], [], []
    for i, segm in enumerate(segms):
        h, w = int(heights[i]), int(widths[i])
        try:
            if isinstance(segm, list):
                if not segm:
                    raise ValueError("segmentation is an empty polygon list")
                if h <= 0 or w <= 0:
                    raise ValueError(f"polygon segmentation needs a known, non-empty image size "
                                     f"(got {h} x {w})")
                for j, part in enumerate(segm):
                    xy = _polygon_coords(part, j)
                    poly_coords.append(xy)
                    poly_lens.append(len(xy))
                poly_idx.append(i)
                poly_groups.append(poly_groups[-1] + len(segm))
            elif isinstance(segm, dict):
                sh, sw = _rle_size(segm, h, w)
                counts = segm.get("counts")
                if isinstance(counts, list):
                    cnt_idx.append(i)
                    cnt_vals.append(counts)
                    cnt_h.append(sh)
                    cnt_w.append(sw)
                elif isinstance(counts, str | bytes):
                    str_idx.append(i)
                    str_vals.append(counts)
                    str_h.append(sh)
                    str_w.append(sw)
                else:
                    raise ValueError("RLE segmentation needs 'counts' as a list or a string")
            else:
                raise ValueError(f"segmentation must be a polygon list or an RLE dict, "
                                 f"got {type(segm).__name__}")
        except ValueError as e:
            raise ValueError(f"segmentation {i}: {e}") from None
    parts, order = [], []
    if poly_idx:
        starts = np.zeros(len(poly_lens) + 1, np.int64)
        np.cumsum(poly_lens, out=starts[1:])
        group_of = np.repeat(np.arange(len(poly_idx)), np.diff(poly_groups))
        polys = from_polygons(np.concatenate(poly_coords), starts,
                              heights[poly_idx][group_of], widths[poly_idx][group_of])
        parts.append(merge(polys, poly_groups))
        order += poly_idx
    for idx, make in ((cnt_idx, lambda: from_counts(cnt_vals, cnt_h, cnt_w)),
                      (str_idx, lambda: from_strings(str_vals, str_h, str_w))):
        if idx:
            try:
                parts.append(make())
            except ValueError as e:  # "RLE k: ..." -> the annotation's own index
                k, _, rest = str(e).partition(": ")
                raise ValueError(f"segmentation {idx[int(k.split()[1])]}: {rest}") from None
            order += idx
    if not parts:
        return _make(np.zeros(0), np.zeros(0), np.zeros(1), np.zeros(0))
    return take(concat(parts), np.argsort(np.asarray(order), kind="stable"))
