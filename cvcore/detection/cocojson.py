"""A byte scanner for COCO files: ground truth (instances / person_keypoints) and results, straight
into NumPy arrays, without a Python object per annotation.

``scan_gt(buf, iou_type)`` and ``scan_results(buf, iou_type)`` take the file's bytes
(``np.frombuffer(data, np.uint8)``) and return a :class:`Scan` of plain arrays, exactly what
:mod:`cvcore.detection.coco` builds from ``json.loads`` -- or None, meaning "not sure". The scanner
is only ever certain: anything it does not handle (malformed JSON anywhere, ``NaN`` / ``Infinity``,
an escape in a key, a duplicate key in a record, a value of an unexpected type, a missing required
key, a BOM, a bool where a number belongs, an integer beyond 18 digits, invalid UTF-8, ...) gives
None and the caller takes the strict ``json.loads`` path, which produces its usual one-line errors.
Checks on whole arrays (unique and known ids, finite values, sizes) stay with the caller.

Numbers are converted exactly as Python does (``json`` + ``float()`` / ``int()``): integers of up
to 18 digits exactly (``float(int)`` for float fields, as NumPy converts a list of ints); decimals
through Clinger's exact fast path (mantissa <= 2**53 and a power of ten <= 1e22: one correctly
rounded multiply or divide); every other decimal token is handed back by position and converted
by Python's ``float()``, never approximated.

One Numba kernel (``nogil``, so two files scan in parallel from two threads) walks the document
with an explicit stack; which key of which record goes where is given by small tables, so ground
truth and results, bbox, segm and keypoints all use the same compiled code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

# Known keys; their index is the key code (a bit in a record's "seen" mask).
KEYS = ("images", "categories", "annotations", "id", "width", "height", "file_name", "name",
        "keypoints", "image_id", "category_id", "bbox", "area", "iscrowd", "segmentation",
        "num_keypoints", "score", "size", "counts")
_CODE = {k: i for i, k in enumerate(KEYS)}


def _key_table() -> np.ndarray:
    """int64[K, 3]: each key's length and its bytes packed little-endian into two words."""
    table = np.zeros((len(KEYS), 3), np.int64)
    for i, key in enumerate(KEYS):
        raw = key.encode().ljust(16, b"\0")
        table[i] = (len(key), np.frombuffer(raw[:8], np.int64)[0],
                    np.frombuffer(raw[8:], np.int64)[0])
    return table


_KEY_TABLE = _key_table()

# Record kinds (rows of the int table I).
IMAGE, CATEGORY, RECORD = 0, 1, 2
# Columns of I (int64[R, NI]); bbox results need only the first NI_RESULTS, a bbox ground truth
# the first NI_BOX (the rest are for keypoints and segmentations): a 1.3M-detection file's table
# is then 52 MB, not 104. Images keep width / height where records have image_id / category_id,
# categories their number of keypoint names where records have iscrowd.
C_KIND, C_SEEN, C_IMG, C_CAT, C_BOX, C_ID, C_CROWD, C_S0, C_S1, C_SFLAG, C_NKP, C_KP0, C_KP1, \
    C_SEG, C_SA, C_SB, C_SH, C_SW = range(18)
C_W, C_H, C_NAMES = C_IMG, C_CAT, C_CROWD
NI_RESULTS, NI_BOX, NI = 5, 10, 18
NF = 5  # columns of F: bbox x, y, w, h, then area (ground truth) or score (results)
# Actions of a (record kind, key) pair.
A_SKIP, A_INT, A_FLOAT, A_BOX, A_STR, A_CROWD, A_COUNT, A_SEGM, A_KPS = range(9)
# Segmentation types (column C_SEG).
SEG_NONE, SEG_POLYS, SEG_COUNTS, SEG_STRING = range(4)
# Counters (st).
S_ROWS, S_NUMS, S_POLYS, S_SLOW, S_SBUF, S_HIGH, S_FULL = range(7)

_MAX_DEPTH = 500  # json.loads stops near 1000 (RecursionError); beyond this, not sure
_POW10 = np.array([10.0 ** i for i in range(23)])  # exact doubles
_TWO53 = 2 ** 53


# The scanner's helpers take up to 14 arrays each and run once per value: compiled without Numba's
# reference counting (they only read and write arrays the kernel allocated, never allocate or
# keep one) they skip two atomic updates per array argument per call, 40% of the scan time.
_helper = numba.njit(cache=True, nogil=True, _nrt=False)


@_helper
def _ws(buf, p, n):
    while p < n:
        b = buf[p]
        if b != 32 and b != 10 and b != 13 and b != 9:
            break
        p += 1
    return p


@_helper
def _is_hex(b):
    return (48 <= b <= 57) or (65 <= b <= 70) or (97 <= b <= 102)


@_helper
def _string(buf, p, n):
    """A JSON string at ``p`` (its opening quote): (position after it or -1, flags) with flag 1
    for an escape and 2 for a byte >= 0x80 (UTF-8 is checked by the caller)."""
    q = p + 1
    flags = 0
    while q < n:
        b = buf[q]
        if b == 34:
            return q + 1, flags
        if b == 92:
            flags |= 1
            if q + 1 >= n:
                return -1, flags
            c = buf[q + 1]
            if c == 117:  # \uXXXX
                if q + 5 >= n:
                    return -1, flags
                for k in range(q + 2, q + 6):
                    if not _is_hex(buf[k]):
                        return -1, flags
                q += 6
                continue
            if not (c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110
                    or c == 114 or c == 116):
                return -1, flags
            q += 2
            continue
        if b < 32:
            return -1, flags
        if b >= 128:
            flags |= 2
        q += 1
    return -1, flags


@_helper
def _number(buf, p, n):
    """A JSON number at ``p``: (end or -1, kind, int value, float value) with kind 1 an integer
    of <= 18 digits (exact), 2 a longer integer, 3 a decimal converted exactly by the fast path,
    4 a decimal to convert with Python's float()."""
    q = p
    neg = False
    if q < n and buf[q] == 45:
        neg = True
        q += 1
    if q >= n or not (48 <= buf[q] <= 57):
        return -1, 0, 0, 0.0
    m = np.int64(0)
    nd = 0  # significant digits (from the first non-zero one)
    if buf[q] == 48:
        q += 1
    else:
        while q < n and 48 <= buf[q] <= 57:
            if nd < 19:
                m = m * 10 + (buf[q] - 48)
            nd += 1
            q += 1
    integer = True
    frac = 0
    if q < n and buf[q] == 46:
        integer = False
        q += 1
        if q >= n or not (48 <= buf[q] <= 57):
            return -1, 0, 0, 0.0
        while q < n and 48 <= buf[q] <= 57:
            d = buf[q] - 48
            if nd > 0 or d != 0:
                if nd < 19:
                    m = m * 10 + d
                nd += 1
            frac += 1
            q += 1
    exp = 0
    big_exp = False
    if q < n and (buf[q] == 101 or buf[q] == 69):
        integer = False
        q += 1
        eneg = False
        if q < n and (buf[q] == 43 or buf[q] == 45):
            eneg = buf[q] == 45
            q += 1
        if q >= n or not (48 <= buf[q] <= 57):
            return -1, 0, 0, 0.0
        while q < n and 48 <= buf[q] <= 57:
            if exp < 100000:
                exp = exp * 10 + (buf[q] - 48)
            else:
                big_exp = True
            q += 1
        if eneg:
            exp = -exp
    if integer:
        if nd > 18:
            return q, 2, 0, 0.0
        return q, 1, -m if neg else m, 0.0
    e10 = exp - frac
    if nd > 18 or big_exp or m > _TWO53 or e10 > 22 or e10 < -22:
        return q, 4, 0, 0.0
    v = np.float64(m)
    if e10 >= 0:
        v = v * _POW10[e10]
    else:
        v = v / _POW10[-e10]
    return q, 3, 0, -v if neg else v


@_helper
def _literal(buf, p, n):
    """true / false / null at ``p``: (end or -1, 1 / 0 / 0)."""
    if p + 4 <= n and buf[p] == 116 and buf[p + 1] == 114 and buf[p + 2] == 117 \
            and buf[p + 3] == 101:
        return p + 4, 1
    if p + 5 <= n and buf[p] == 102 and buf[p + 1] == 97 and buf[p + 2] == 108 \
            and buf[p + 3] == 115 and buf[p + 4] == 101:
        return p + 5, 0
    if p + 4 <= n and buf[p] == 110 and buf[p + 1] == 117 and buf[p + 2] == 108 \
            and buf[p + 3] == 108:
        return p + 4, 0
    return -1, 0


@_helper
def _key_at(buf, p, n, st):
    """An object key at ``p`` (after whitespace) and its ':': (position after ':' or -1, code:
    index into KEYS, -1 unknown, -2 escaped so unsure)."""
    if p >= n or buf[p] != 34:
        return -1, -1
    # Plain ASCII keys (all of COCO's) are read and packed here in one pass; anything else
    # goes through the full string rules and can only be unknown or unsure.
    q = p + 1
    lo = np.int64(0)
    hi = np.int64(0)
    plain = False
    while q < n:
        b = buf[q]
        if b == 34:
            plain = True
            break
        if b == 92 or b < 32 or b >= 128:
            break
        k = q - p - 1
        if k < 8:
            lo |= np.int64(b) << (8 * k)
        elif k < 16:
            hi |= np.int64(b) << (8 * (k - 8))
        q += 1
    code = -1
    if plain:
        e = q + 1
        length = q - p - 1
        if length <= 16:
            for c in range(_KEY_TABLE.shape[0]):
                if _KEY_TABLE[c, 1] == lo and _KEY_TABLE[c, 0] == length \
                        and _KEY_TABLE[c, 2] == hi:
                    code = c
                    break
    else:
        e, flags = _string(buf, p, n)
        if e < 0:
            return -1, -1
        st[S_HIGH] |= flags & 2
        if flags & 1:
            code = -2
    e = _ws(buf, e, n)
    if e >= n or buf[e] != 58:
        return -1, -1
    return _ws(buf, e + 1, n), code


@_helper
def _skip(buf, p, n, stk, st):
    """Validate any JSON value at ``p`` (after whitespace); the position after it or -1."""
    depth = 0
    while True:
        if p >= n:
            return -1
        b = buf[p]
        if b == 123 or b == 91:
            q = _ws(buf, p + 1, n)
            if q < n and buf[q] == (125 if b == 123 else 93):
                p = q + 1
            else:
                if depth >= _MAX_DEPTH:
                    return -1
                stk[depth] = b
                depth += 1
                p = q
                if b == 123:
                    p, _ = _key_at(buf, p, n, st)
                    if p < 0:
                        return -1
                continue
        elif b == 34:
            p, flags = _string(buf, p, n)
            if p < 0:
                return -1
            st[S_HIGH] |= flags & 2
        elif b == 45 or 48 <= b <= 57:
            p, _, _, _ = _number(buf, p, n)
            if p < 0:
                return -1
        else:
            p, _ = _literal(buf, p, n)
            if p < 0:
                return -1
        while True:  # a value ended: close containers or go on to the next element
            if depth == 0:
                return p
            p = _ws(buf, p, n)
            if p >= n:
                return -1
            c = buf[p]
            top = stk[depth - 1]
            if c == 44:
                p = _ws(buf, p + 1, n)
                if top == 123:
                    p, _ = _key_at(buf, p, n, st)
                    if p < 0:
                        return -1
                break
            if (c == 125 and top == 123) or (c == 93 and top == 91):
                depth -= 1
                p += 1
                continue
            return -1


@_helper
def _float_into(buf, p, n, out, idx, which, slow, st):
    """A number at ``p`` into ``out[idx]`` (``which`` names ``out`` in the slow list: 0 = F,
    1 = nums); (end or -1). Integers of > 18 digits: -1 (not sure)."""
    e, kind, iv, fv = _number(buf, p, n)
    if e < 0 or kind == 2:
        return -1
    if kind == 1:
        out[idx] = np.float64(iv)
    elif kind == 3:
        out[idx] = fv
    else:
        k = st[S_SLOW]
        if k >= slow.shape[0]:  # the kernel's guess of its size fell short: scan again
            st[S_FULL] = 1
            return -1
        slow[k, 0] = p
        slow[k, 1] = e
        slow[k, 2] = 2 * idx + which
        st[S_SLOW] = k + 1
        out[idx] = 0.0
    return e


@_helper
def _number_list(buf, p, n, nums, counts, slow, st):
    """``[n0, n1, ...]`` at ``p`` appended to ``nums``; with ``counts`` only integers in
    [0, 2**32) (uncompressed RLE counts). (end or -1)."""
    if p >= n or buf[p] != 91:
        return -1
    p = _ws(buf, p + 1, n)
    if p < n and buf[p] == 93:
        return p + 1
    while True:
        k = st[S_NUMS]
        if counts:
            e, kind, iv, _ = _number(buf, p, n)
            if e < 0 or kind != 1 or iv < 0 or iv > 0xFFFFFFFF:
                return -1
            nums[k] = np.float64(iv)
        else:
            e = _float_into(buf, p, n, nums, k, 1, slow, st)
            if e < 0:
                return -1
        st[S_NUMS] = k + 1
        p = _ws(buf, e, n)
        if p >= n:
            return -1
        if buf[p] == 93:
            return p + 1
        if buf[p] != 44:
            return -1
        p = _ws(buf, p + 1, n)


@_helper
def _rle_string(buf, p, n, sbuf, st):
    """A compressed RLE counts string at ``p`` copied (unescaped) to ``sbuf``: (end or -1,
    start in sbuf). Only ``\\\\``, ``\\/`` and ``\\"`` escapes and ASCII: anything else cannot be
    valid counts and is left to the strict path."""
    s0 = st[S_SBUF]
    k = s0
    q = p + 1
    while q < n:
        b = buf[q]
        if b == 34:
            st[S_SBUF] = k
            return q + 1, s0
        if b == 92:
            if q + 1 >= n:
                return -1, s0
            b = buf[q + 1]
            if b != 92 and b != 47 and b != 34:
                return -1, s0
            q += 1
        elif b < 32 or b >= 128:
            return -1, s0
        sbuf[k] = b
        k += 1
        q += 1
    return -1, s0


@_helper
def _segmentation(buf, p, n, row, I, nums, polys, sbuf, slow, st, stk):
    """A segmentation at ``p``: polygons (list of >= 6, even-length number lists) or an RLE dict
    ``{"size": [h, w], "counts": [ints] | "string"}``. (end or -1)."""
    if p >= n:
        return -1
    if buf[p] == 91:
        I[row, C_SEG] = SEG_POLYS
        I[row, C_SA] = st[S_POLYS]
        p = _ws(buf, p + 1, n)
        if p < n and buf[p] == 93:
            return -1  # an empty polygon list is an error: the strict path names it
        while True:
            start = st[S_NUMS]
            p = _number_list(buf, p, n, nums, False, slow, st)
            if p < 0:
                return -1
            count = st[S_NUMS] - start
            if count % 2 or count < 6:
                return -1
            j = st[S_POLYS]
            polys[j, 0] = start
            polys[j, 1] = st[S_NUMS]
            st[S_POLYS] = j + 1
            p = _ws(buf, p, n)
            if p >= n:
                return -1
            if buf[p] == 93:
                I[row, C_SB] = st[S_POLYS]
                return p + 1
            if buf[p] != 44:
                return -1
            p = _ws(buf, p + 1, n)
    if buf[p] != 123:
        return -1
    seen = 0
    p = _ws(buf, p + 1, n)
    if p < n and buf[p] == 125:
        return -1
    while True:
        p, code = _key_at(buf, p, n, st)
        if p < 0 or code == -2:
            return -1
        if code >= 0:
            if seen & (1 << code):
                return -1
            seen |= 1 << code
        if code == 17:  # size: [h, w], non-negative integers
            if p >= n or buf[p] != 91:
                return -1
            for k in range(2):
                p = _ws(buf, p + 1, n)
                p, kind, iv, _ = _number(buf, p, n)
                if p < 0 or kind != 1 or iv < 0:
                    return -1
                I[row, C_SH + k] = iv
                p = _ws(buf, p, n)
                if p >= n or buf[p] != (44 if k == 0 else 93):
                    return -1
            p += 1
        elif code == 18 and p < n and buf[p] == 34:
            p, s0 = _rle_string(buf, p, n, sbuf, st)
            if p < 0:
                return -1
            I[row, C_SEG] = SEG_STRING
            I[row, C_SA] = s0
            I[row, C_SB] = st[S_SBUF]
        elif code == 18:
            I[row, C_SEG] = SEG_COUNTS
            I[row, C_SA] = st[S_NUMS]
            p = _number_list(buf, p, n, nums, True, slow, st)
            if p < 0:
                return -1
            I[row, C_SB] = st[S_NUMS]
        else:
            p = _skip(buf, p, n, stk, st)
            if p < 0:
                return -1
        p = _ws(buf, p, n)
        if p >= n:
            return -1
        if buf[p] == 125:
            break
        if buf[p] != 44:
            return -1
        p = _ws(buf, p + 1, n)
    if seen & ((1 << 17) | (1 << 18)) != (1 << 17) | (1 << 18):
        return -1
    return p + 1


@_helper
def _record(buf, p, n, kind, act, col, I, F, nums, polys, sbuf, slow, st, stk):
    """One object of ``kind`` at ``p`` into row st[S_ROWS]; (end or -1)."""
    row = st[S_ROWS]
    st[S_ROWS] = row + 1
    I[row, C_KIND] = kind
    seen = 0
    p = _ws(buf, p + 1, n)
    if p < n and buf[p] == 125:
        return p + 1
    while True:
        p, code = _key_at(buf, p, n, st)
        if p < 0 or code == -2 or p >= n:
            return -1
        a = A_SKIP
        if code >= 0:
            if seen & (1 << code):
                return -1
            seen |= 1 << code
            a = act[kind, code]
        c = col[kind, code] if code >= 0 else 0
        b = buf[p]
        if a == A_SKIP:
            p = _skip(buf, p, n, stk, st)
        elif a == A_INT:
            p, k, iv, _ = _number(buf, p, n)
            if k != 1:
                return -1
            I[row, c] = iv
        elif a == A_FLOAT:
            p = _float_into(buf, p, n, F, row * NF + c, 0, slow, st)
        elif a == A_BOX:  # exactly 4 numbers, or [] (flag 2, results only decide)
            if b != 91:
                return -1
            q = _ws(buf, p + 1, n)
            if q < n and buf[q] == 93:
                I[row, C_BOX] = 2
                p = q + 1
            else:
                p = q
                for k in range(4):
                    p = _float_into(buf, p, n, F, row * NF + k, 0, slow, st)
                    if p < 0:
                        return -1
                    p = _ws(buf, p, n)
                    if p >= n or buf[p] != (44 if k < 3 else 93):
                        return -1
                    p = _ws(buf, p + 1, n) if k < 3 else p + 1
                I[row, C_BOX] = 1
        elif a == A_STR:
            if b != 34:
                return -1
            e, flags = _string(buf, p, n)
            if e < 0:
                return -1
            st[S_HIGH] |= flags & 2
            I[row, C_S0] = p + 1
            I[row, C_S1] = e - 1
            I[row, C_SFLAG] = flags
            p = e
        elif a == A_CROWD:  # truthy, as pycocotools tests it
            if b == 45 or 48 <= b <= 57:
                p, k, iv, _ = _number(buf, p, n)
                if k != 1:
                    return -1
                I[row, C_CROWD] = iv != 0
            else:
                p, v = _literal(buf, p, n)
                I[row, C_CROWD] = v
        elif a == A_COUNT:  # a list's length (a category's keypoint names)
            if b != 91:
                return -1
            count = 0
            p = _ws(buf, p + 1, n)
            if p < n and buf[p] == 93:
                p += 1
            else:
                while True:
                    p = _skip(buf, p, n, stk, st)
                    if p < 0:
                        return -1
                    count += 1
                    p = _ws(buf, p, n)
                    if p >= n:
                        return -1
                    if buf[p] == 93:
                        p += 1
                        break
                    if buf[p] != 44:
                        return -1
                    p = _ws(buf, p + 1, n)
            I[row, C_NAMES] = count
        elif a == A_SEGM:
            p = _segmentation(buf, p, n, row, I, nums, polys, sbuf, slow, st, stk)
        else:  # A_KPS
            I[row, C_KP0] = st[S_NUMS]
            p = _number_list(buf, p, n, nums, False, slow, st)
            I[row, C_KP1] = st[S_NUMS]
        if p < 0:
            return -1
        p = _ws(buf, p, n)
        if p >= n:
            return -1
        if buf[p] == 125:
            I[row, C_SEEN] = seen
            return p + 1
        if buf[p] != 44:
            return -1
        p = _ws(buf, p + 1, n)


@_helper
def _records(buf, p, n, kind, act, col, I, F, nums, polys, sbuf, slow, st, stk):
    """``[{...}, ...]`` of ``kind`` records at ``p``; (end or -1)."""
    if p >= n or buf[p] != 91:
        return -1
    p = _ws(buf, p + 1, n)
    if p < n and buf[p] == 93:
        return p + 1
    while True:
        if p >= n or buf[p] != 123:
            return -1
        p = _record(buf, p, n, kind, act, col, I, F, nums, polys, sbuf, slow, st, stk)
        if p < 0:
            return -1
        p = _ws(buf, p, n)
        if p >= n:
            return -1
        if buf[p] == 93:
            return p + 1
        if buf[p] != 44:
            return -1
        p = _ws(buf, p + 1, n)


@_helper
def _long_mantissas(buf):
    """How many runs of digits and dots are >= 16 bytes long (mantissas that may not take the
    exact fast path)."""
    count = 0
    run = 0
    for i in range(buf.shape[0]):
        b = buf[i]
        if 48 <= b <= 57 or b == 46:
            run += 1
            continue
        count += run >= 16
        run = 0
    return count + (run >= 16)


@numba.njit(cache=True, nogil=True)
def _scan_kernel(buf, results, act, col, lists, exact_slow):
    """The whole document. ``results``: a top-level list of RECORD objects, else a ground-truth
    object. ``lists``: collect number lists and segmentations (segm / keypoints); ``exact_slow``:
    size the list of slow numbers exactly (see below). Returns (ok, top-level keys seen, I, F,
    nums, polys, sbuf, slow, st)."""
    n = buf.shape[0]
    # Upper bounds: records <= '{', array elements <= '[' + ','; slow numbers <= exponents (an
    # 'e' / 'E' after a digit) + mantissas of >= 16 digits and dots. These counting loops have
    # no branches (LLVM vectorises them); the long mantissas are only guessed (one in 16
    # elements) unless ``exact_slow``, the branchy pass that counts them, which a scan runs only
    # after the guess fell short (st[S_FULL]).
    n_obj = 0
    n_elem = 1
    for i in range(n):
        b = buf[i]
        n_obj += b == 123
        n_elem += (b == 91) | (b == 44)
    n_slow = 1
    for i in range(1, n):
        b = buf[i] | 32
        a = buf[i - 1]
        n_slow += (b == 101) & (a >= 48) & (a <= 57)
    n_slow += _long_mantissas(buf) if exact_slow else n_elem // 16 + 16
    I = np.zeros((n_obj, NI if lists else NI_RESULTS if results else NI_BOX), np.int64)
    F = np.zeros(n_obj * NF, np.float64)
    nums = np.empty(n_elem if lists else 0, np.float64)
    polys = np.empty((n_elem if lists else 0, 2), np.int64)
    sbuf = np.empty(n if lists else 0, np.uint8)
    slow = np.empty((n_slow, 3), np.int64)
    st = np.zeros(8, np.int64)
    stk = np.zeros(_MAX_DEPTH + 1, np.uint8)
    top_seen = 0
    p = _ws(buf, 0, n)
    ok = False
    if results:
        p = _records(buf, p, n, RECORD, act, col, I, F, nums, polys, sbuf, slow, st, stk)
    elif p < n and buf[p] == 123:
        p = _ws(buf, p + 1, n)
        if p < n and buf[p] == 125:
            p += 1
        else:
            while True:
                p, code = _key_at(buf, p, n, st)
                if p < 0 or code == -2:
                    p = -1
                    break
                if 0 <= code <= 2:
                    if top_seen & (1 << code):
                        p = -1
                        break
                    top_seen |= 1 << code
                    p = _records(buf, p, n, code, act, col, I, F, nums, polys, sbuf, slow, st,
                                 stk)
                else:
                    p = _skip(buf, p, n, stk, st)
                if p < 0:
                    break
                p = _ws(buf, p, n)
                if p >= n:
                    p = -1
                    break
                if buf[p] == 125:
                    p += 1
                    break
                if buf[p] != 44:
                    p = -1
                    break
                p = _ws(buf, p + 1, n)
    else:
        p = -1
    if p >= 0:
        ok = _ws(buf, p, n) == n
    return ok, top_seen, I, F, nums, polys, sbuf, slow, st


# ----------------------------------------------------------------------------------------------
# Python side: tables in, plain arrays out
# ----------------------------------------------------------------------------------------------

def _tables(results: bool, iou_type: str) -> tuple[np.ndarray, np.ndarray]:
    """act[kind, key], col[kind, key]: what to do with each known key of each record kind."""
    act = np.zeros((3, len(KEYS)), np.int64)
    col = np.zeros((3, len(KEYS)), np.int64)

    def put(kind, key, action, column=0):
        act[kind, _CODE[key]] = action
        col[kind, _CODE[key]] = column

    if results:
        put(RECORD, "score", A_FLOAT, 4)
    else:
        for key, column in (("id", C_ID), ("width", C_W), ("height", C_H)):
            put(IMAGE, key, A_INT, column)
        put(IMAGE, "file_name", A_STR)
        put(CATEGORY, "id", A_INT, C_ID)
        put(CATEGORY, "name", A_STR)
        put(CATEGORY, "keypoints", A_COUNT)
        put(RECORD, "id", A_INT, C_ID)
        put(RECORD, "area", A_FLOAT, 4)
        put(RECORD, "iscrowd", A_CROWD)
        if iou_type == "keypoints":
            put(RECORD, "num_keypoints", A_INT, C_NKP)
    put(RECORD, "image_id", A_INT, C_IMG)
    put(RECORD, "category_id", A_INT, C_CAT)
    put(RECORD, "bbox", A_BOX)
    if iou_type == "segm":
        put(RECORD, "segmentation", A_SEGM)
    if iou_type == "keypoints":
        put(RECORD, "keypoints", A_KPS)
    return act, col


def _bits(*keys: str) -> int:
    return sum(1 << _CODE[k] for k in keys)


@dataclass(frozen=True)
class Segms:
    """N segmentations as scanned: ``kind`` int64[N] (1 polygons, 2 uncompressed RLE counts,
    3 compressed RLE string); polygons: annotation i has ``poly_counts[i]`` polygons, polygon p
    is ``coords[poly_starts[p]:poly_starts[p + 1]]``; counts: ``counts[count_starts[j]:
    count_starts[j + 1]]`` for the j-th uncompressed RLE; strings: ``sbuf[str_starts[k]:
    str_ends[k]]`` for the k-th compressed one; ``rle_heights`` / ``rle_widths`` int64[N] the
    RLEs' ``size`` (unused for polygons)."""

    kind: np.ndarray
    poly_counts: np.ndarray
    coords: np.ndarray
    poly_starts: np.ndarray
    counts: np.ndarray
    count_starts: np.ndarray
    sbuf: np.ndarray
    str_starts: np.ndarray
    str_ends: np.ndarray
    rle_heights: np.ndarray
    rle_widths: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    def masks(self, heights: np.ndarray, widths: np.ndarray):
        """The masks by pycocotools' annToRLE rule, identical to ``rle.from_segmentations`` on
        the same JSON values with the images' ``heights`` / ``widths`` int64[N] (-1: unknown).
        ValueError (without naming the annotation) wherever that would fail."""
        from . import rle

        polys = np.flatnonzero(self.kind == SEG_POLYS)
        rles = np.flatnonzero(self.kind != SEG_POLYS)
        if len(polys) and ((heights[polys] <= 0) | (widths[polys] <= 0)).any():
            raise ValueError("polygon segmentation needs a known, non-empty image size")
        if len(polys) and not np.isfinite(self.coords).all():
            raise ValueError("polygon has non-finite coordinates")
        known = heights[rles] >= 0
        if ((self.rle_heights[rles] != heights[rles]) & known).any() or \
                ((self.rle_widths[rles] != widths[rles]) & known).any():
            raise ValueError("RLE size does not match the image size")
        parts, order = [], []
        if len(polys):  # rasterised and merged per annotation in one kernel
            groups = np.zeros(len(polys) + 1, np.int64)
            np.cumsum(self.poly_counts[polys], out=groups[1:])
            parts.append(rle.from_polygon_groups(self.coords, self.poly_starts, groups,
                                                 heights[polys], widths[polys]))
            order.append(polys)
        cnt = np.flatnonzero(self.kind == SEG_COUNTS)
        if len(cnt):
            parts.append(rle.from_flat_counts(self.counts, self.count_starts,
                                              self.rle_heights[cnt], self.rle_widths[cnt]))
            order.append(cnt)
        strs = np.flatnonzero(self.kind == SEG_STRING)
        if len(strs):  # unescaped by the scanner, back to back in sbuf
            parts.append(rle.from_string_spans(self.sbuf, self.str_starts, self.str_ends,
                                               self.rle_heights[strs], self.rle_widths[strs]))
            order.append(strs)
        return rle.interleave(parts, order)


@dataclass(frozen=True)
class Scan:
    """A scanned file. Per-record arrays (ground truth: annotations; results: detections),
    length N: ``ids`` (ground truth), ``image_ids``, ``cat_ids`` int64; ``boxes`` float64[N, 4];
    ``values`` float64[N] (area or score); ``iscrowd`` bool (ground truth; ``ids`` and
    ``iscrowd`` are None for bbox results); ``num_keypoints`` int64; ``seen``
    int64 bit mask of the keys each record has (bit ``KEYS.index(key)``); ``box_flags`` int64
    (0 no bbox, 1 four numbers, 2 ``[]``). ``keypoints`` float64[P] flat with
    ``keypoint_starts`` int64[N + 1] offsets (keypoints only); ``segms`` (segm only). Ground
    truth also: images' ``image_ids``, ``widths``, ``heights`` int64[I] and ``file_names``;
    categories' ``cat_ids`` int64[K], ``cat_names`` and ``cat_keypoints`` int64[K] (-1 none).
    """

    ids: np.ndarray
    image_ids: np.ndarray
    cat_ids: np.ndarray
    boxes: np.ndarray
    values: np.ndarray
    iscrowd: np.ndarray
    num_keypoints: np.ndarray
    seen: np.ndarray
    box_flags: np.ndarray
    keypoints: np.ndarray | None = None
    keypoint_starts: np.ndarray | None = None
    segms: Segms | None = None
    images: dict | None = None
    categories: dict | None = None


def _decode_strings(raw: bytes, rows: np.ndarray) -> list[str | None]:
    """The string spans of ``rows`` (C_S0, C_S1, C_SFLAG), decoded as json does; None where a
    row has no such string."""
    import json

    out = []
    for s, e, flags in rows[:, [C_S0, C_S1, C_SFLAG]].tolist():
        if e == 0:
            out.append(None)
        elif flags == 0:
            out.append(raw[s:e].decode("ascii"))
        else:
            out.append(json.loads(raw[s - 1:e + 1].decode("utf-8", "surrogatepass")))
    return out


def _scan(buf: np.ndarray, results: bool, iou_type: str):
    """Run the kernel; (raw bytes, record rows I, F[R, NF], nums, polys, sbuf) or None."""
    act, col = _tables(results, iou_type)
    ok, top_seen, I, F, nums, polys, sbuf, slow, st = _scan_kernel(
        buf, results, act, col, iou_type != "bbox", False)
    if not ok and st[S_FULL]:  # more slow numbers than guessed: again, with their exact count
        ok, top_seen, I, F, nums, polys, sbuf, slow, st = _scan_kernel(
            buf, results, act, col, iou_type != "bbox", True)
    if not ok:
        return None
    raw = buf.base if isinstance(buf.base, bytes) and len(buf.base) == len(buf) else buf.tobytes()
    if st[S_HIGH]:  # json.loads decodes the whole document first
        try:
            raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            return None
    slow = slow[:st[S_SLOW]]
    if len(slow):  # tokens outside the exact fast path: Python's own conversion
        values = np.array([float(raw[s:e]) for s, e in slow[:, :2].tolist()], np.float64)
        which, index = slow[:, 2] & 1, slow[:, 2] >> 1
        F[index[which == 0]] = values[which == 0]
        nums[index[which == 1]] = values[which == 1]
    rows = I[:st[S_ROWS]]
    if rows.shape[1] > NI_BOX:  # wide (18 columns, with lists): stored column by column, so the
        rows = np.ascontiguousarray(rows.T).T  # column reads below are contiguous, not strided
    return raw, top_seen, rows, F.reshape(-1, NF)[:st[S_ROWS]], nums[:st[S_NUMS]], \
        polys[:st[S_POLYS]], sbuf[:st[S_SBUF]]


def _records_scan(rows, F, nums, polys, sbuf, iou_type: str) -> Scan | None:
    """The per-record arrays of RECORD rows; None if their keypoints or segmentations are not
    what the fast path can vouch for."""
    keypoints = keypoint_starts = segms = None
    # A column-major table's columns are used as they are (contiguous views: the table stays,
    # no copies to make); a narrow row-major one's are copied, so its rows can go.
    column = (lambda c: rows[:, c]) if rows.flags.f_contiguous else (lambda c: rows[:, c].copy())
    if iou_type == "keypoints":
        lengths = rows[:, C_KP1] - rows[:, C_KP0]
        if len(rows) and ((rows[1:, C_KP0] != rows[:-1, C_KP1]).any() or rows[0, C_KP0] != 0
                          or (lengths % 3).any()):
            return None
        keypoint_starts = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=keypoint_starts[1:])
        keypoints = nums
        if not np.isfinite(keypoints).all():
            return None
    if iou_type == "segm":
        kind = rows[:, C_SEG]
        poly_counts = np.where(kind == SEG_POLYS, rows[:, C_SB] - rows[:, C_SA], 0)
        cnt, strs = kind == SEG_COUNTS, kind == SEG_STRING
        cnt_a, cnt_b = rows[cnt, C_SA], rows[cnt, C_SB]  # (columns only, not whole rows)
        # Polygons (all of ``polys``, in file order) and counts share ``nums``: split them.
        in_counts = np.zeros(len(nums) + 1, np.int64)
        np.add.at(in_counts, cnt_a, 1)
        np.add.at(in_counts, cnt_b, -1)
        in_counts = np.cumsum(in_counts[:-1]) > 0
        coords = nums[~in_counts] if len(cnt_a) else nums
        counts = nums[in_counts].astype(np.uint32)
        poly_starts = np.zeros(len(polys) + 1, np.int64)
        np.cumsum(polys[:, 1] - polys[:, 0], out=poly_starts[1:])
        count_starts = np.zeros(len(cnt_a) + 1, np.int64)
        np.cumsum(cnt_b - cnt_a, out=count_starts[1:])
        segms = Segms(kind=kind, poly_counts=poly_counts, coords=coords,
                      poly_starts=poly_starts, counts=counts, count_starts=count_starts,
                      sbuf=sbuf, str_starts=rows[strs, C_SA], str_ends=rows[strs, C_SB],
                      rle_heights=column(C_SH), rle_widths=column(C_SW))
    narrow = rows.shape[1] <= C_ID  # bbox results: no ids, no crowd flags
    return Scan(ids=None if narrow else column(C_ID), image_ids=column(C_IMG),
                cat_ids=column(C_CAT), boxes=np.ascontiguousarray(F[:, :4]),
                values=F[:, 4].copy(), iscrowd=None if narrow else rows[:, C_CROWD] != 0,
                num_keypoints=column(C_NKP) if rows.shape[1] > C_NKP else None,
                seen=column(C_SEEN), box_flags=column(C_BOX), keypoints=keypoints,
                keypoint_starts=keypoint_starts, segms=segms)


def scan_gt(buf: np.ndarray, iou_type: str = "bbox") -> Scan | None:
    """A ground-truth file's bytes (uint8[B]) as a :class:`Scan`, or None (not sure: use the
    strict path). Required keys are checked here (images' ``id``, and ``width`` / ``height``
    for segm; categories' ``id``; annotations' ``id``, ``image_id``, ``category_id``, ``bbox``
    (4 numbers), ``area``, plus ``segmentation`` (segm) or ``keypoints`` and
    ``num_keypoints`` (keypoints))."""
    scanned = _scan(buf, False, iou_type)
    if scanned is None:
        return None
    raw, top_seen, rows, F, nums, polys, sbuf = scanned
    if top_seen & 3 != 3:
        return None
    kind = rows[:, C_KIND]
    images, cats, anns = rows[kind == IMAGE], rows[kind == CATEGORY], rows[kind == RECORD]
    F = F[kind == RECORD]
    need = {"bbox": (), "segm": ("segmentation",), "keypoints": ("keypoints", "num_keypoints")}
    ann_bits = _bits("id", "image_id", "category_id", "bbox", "area", *need[iou_type])
    image_bits = _bits("id", *(("width", "height") if iou_type == "segm" else ()))
    if ((anns[:, C_SEEN] & ann_bits) != ann_bits).any() or (anns[:, C_BOX] != 1).any() \
            or ((images[:, C_SEEN] & image_bits) != image_bits).any() \
            or (cats[:, C_SEEN] & 1 << _CODE["id"] == 0).any():
        return None
    names = _decode_strings(raw, cats)
    file_names = _decode_strings(raw, images)
    has_kp_list = cats[:, C_SEEN] & 1 << _CODE["keypoints"] != 0
    scan = _records_scan(anns, F, nums, polys, sbuf, iou_type)
    if scan is None:
        return None
    return Scan(**{**scan.__dict__, "images": {
        "ids": images[:, C_ID].copy(), "widths": images[:, C_W].copy(),
        "heights": images[:, C_H].copy(),
        "file_names": ["" if f is None else f for f in file_names]}, "categories": {
        "ids": cats[:, C_ID].copy(),
        "names": [str(i) if s is None else s for s, i in zip(names, cats[:, C_ID].tolist(),
                                                                 strict=True)],
        "keypoints": np.where(has_kp_list, cats[:, C_NAMES], -1)}})


def scan_results(buf: np.ndarray, iou_type: str = "bbox") -> tuple[Scan, str] | None:
    """A results file's bytes (uint8[B]) as (:class:`Scan`, loadRes' rule: 'bbox', 'segm' or
    'keypoints', chosen by the first detection), or None (not sure). Besides the required
    ``image_id``, ``category_id`` and ``score``, the rule's key must be on every detection
    ('bbox': 4 numbers; 'segm': a segmentation, and a bbox if any is 4 numbers), masks on every
    detection for segm, keypoints for keypoints; a rule that needs what ``iou_type`` does not
    read (e.g. masks in a bbox evaluation) gives None."""
    scanned = _scan(buf, True, iou_type)
    if scanned is None:
        return None
    _, _, rows, F, nums, polys, sbuf = scanned
    seen = rows[:, C_SEEN]
    need = _bits("image_id", "category_id", "score")
    if iou_type == "segm":
        need |= _bits("segmentation")
    if iou_type == "keypoints":
        need |= _bits("keypoints")
    if ((seen & need) != need).any():
        return None
    rule = "bbox"
    if len(rows) and not (seen[0] & _bits("bbox") and rows[0, C_BOX] == 1):
        rule = ("segm" if seen[0] & _bits("segmentation") else
                "keypoints" if seen[0] & _bits("keypoints") else None)
    if rule is None or (rule != "bbox" and rule != iou_type):
        return None
    if (rule == "bbox" and (rows[:, C_BOX] != 1).any()) or (rows[:, C_BOX] == 2).any():
        return None
    scan = _records_scan(rows, F, nums, polys, sbuf, iou_type)
    return None if scan is None else (scan, rule)


def warm_up() -> None:
    """Load the scanner's kernel (one tiny scan; a file's bytes are a read-only array, as here)."""
    scan_results(np.frombuffer(b"[]", np.uint8))
