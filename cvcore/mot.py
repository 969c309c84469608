"""MOTChallenge files: ``seqinfo.ini``, ``gt/gt.txt``, ``det/det.txt`` and tracker results.

All tables are float64 arrays with MOTChallenge's columns (1-based pixel coordinates):

- ground truth ``[N, 9]``: frame, id, x, y, w, h, flag (0 = ignore), class, visibility (MOT15 and
  older files with fewer columns are padded: flag 1, class 1, visibility 1);
- detections ``[N, 10]``: frame, -1, x, y, w, h, score, -1, -1, -1;
- results ``[N, 10]``: frame, id, x, y, w, h, conf, -1, -1, -1.

Malformed files (a wrong column count, a non-numeric field, a negative box size) raise
:class:`~cvcore.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from .atomic import write_text
from .errors import InputError


@dataclass(frozen=True)
class SeqInfo:
    name: str
    im_dir: str
    frame_rate: float
    seq_length: int
    im_width: int
    im_height: int
    im_ext: str


def read_seqinfo(path: str | os.PathLike) -> SeqInfo:
    parser = configparser.ConfigParser()
    try:
        if not parser.read(path):
            raise InputError("seqinfo.ini not found", path)
        s = parser["Sequence"]
        return SeqInfo(name=s.get("name", Path(path).parent.name), im_dir=s.get("imDir", "img1"),
                       frame_rate=float(s.get("frameRate", 30)), seq_length=int(s["seqLength"]),
                       im_width=int(s.get("imWidth", 0)), im_height=int(s.get("imHeight", 0)),
                       im_ext=s.get("imExt", ".jpg"))
    except (KeyError, ValueError, configparser.Error) as err:
        raise InputError(f"bad seqinfo.ini ({type(err).__name__}: {err})", path) from None


@numba.njit(cache=True, nogil=True)
def _parse_kernel(data, values, row_len):
    """Parse comma/space separated plain decimals (e.g. ``-12.5``, ``0.995616``, ``1e-3``) into
    ``values``, one row per non-empty line, ``row_len[r]`` numbers per row. Returns (numbers,
    rows), or (-1, row) at the first token it cannot parse exactly (the caller then falls back
    to numpy.loadtxt, which also produces the error message). Mantissas up to 15 digits and
    exponents up to 22 are converted by one exact division or multiplication, hence correctly
    rounded, the same double as Python's float()."""
    pow10 = np.empty(23)
    pow10[0] = 1.0
    for k in range(1, 23):
        pow10[k] = pow10[k - 1] * 10.0
    n, rows, count, i = 0, 0, 0, 0
    size = data.shape[0]
    while i < size:
        c = data[i]
        if c == 10:  # newline ends a row
            if count:
                row_len[rows] = count
                rows += 1
                count = 0
            i += 1
            continue
        if c == 44 or c == 32 or c == 9 or c == 13:  # , space tab CR
            i += 1
            continue
        negative = False
        if c == 45 or c == 43:
            negative = c == 45
            i += 1
        mantissa, digits, frac, seen = 0, 0, 0, False
        while i < size and 48 <= data[i] <= 57:
            if mantissa or data[i] != 48:
                digits += 1
            mantissa = mantissa * 10 + (data[i] - 48)
            seen = True
            i += 1
        if i < size and data[i] == 46:
            i += 1
            while i < size and 48 <= data[i] <= 57:
                if mantissa or data[i] != 48:
                    digits += 1
                mantissa = mantissa * 10 + (data[i] - 48)
                frac += 1
                seen = True
                i += 1
        exponent = 0
        if i < size and (data[i] == 101 or data[i] == 69):
            i += 1
            sign = 1
            if i < size and (data[i] == 45 or data[i] == 43):
                sign = -1 if data[i] == 45 else 1
                i += 1
            if not (i < size and 48 <= data[i] <= 57):
                return -1, rows
            while i < size and 48 <= data[i] <= 57:
                exponent = exponent * 10 + (data[i] - 48)
                i += 1
            exponent *= sign
        if not seen or digits > 15 or (i < size and data[i] not in (10, 13, 44, 32, 9)):
            return -1, rows
        power = exponent - frac
        if power > 22 or power < -22:
            return -1, rows
        value = mantissa * pow10[power] if power >= 0 else mantissa / pow10[-power]
        values[n] = -value if negative else value
        n += 1
        count += 1
    if count:
        row_len[rows] = count
        rows += 1
    return n, rows


def _read_table(path: str | os.PathLike, min_cols: int, max_cols: int) -> np.ndarray:
    """Comma- (or space-) separated numbers as float64[N, C]; empty files give zero rows."""
    path = Path(path)
    try:
        data = np.fromfile(path, np.uint8)
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    values = np.empty(data.size // 2 + 1)
    row_len = np.empty(int((data == 10).sum()) + 1, np.int64)
    n, rows = _parse_kernel(data, values, row_len)
    if n >= 0 and rows and (row_len[:rows] == row_len[0]).all():
        table = values[:n].reshape(rows, row_len[0])
    elif n >= 0 and not rows:
        return np.zeros((0, min_cols))
    else:
        table = _loadtxt(path)
    if not min_cols <= table.shape[1] <= max_cols:
        raise InputError(f"line 1: expected {min_cols}-{max_cols} columns, got {table.shape[1]}",
                         path)
    bad = ~np.isfinite(table).all(1) | (table[:, 4] < 0) | (table[:, 5] < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        lines = path.read_text().splitlines()
        rows = [line for line in lines if line.strip()]
        problem = "non-finite value" if not np.isfinite(table[row]).all() else "negative box size"
        raise InputError(f"line {_file_line(lines, rows, row)}: {problem}", path)
    return table


def _loadtxt(path: Path) -> np.ndarray:
    """numpy.loadtxt of the non-empty lines: the slow path, and the source of error messages
    (wrong column counts, non-numeric fields) with their line numbers."""
    lines = path.read_text().splitlines()
    rows = [line for line in lines if line.strip()]
    sep = "," if "," in rows[0] else None
    try:
        return np.loadtxt(rows, delimiter=sep, ndmin=2, dtype=np.float64)
    except ValueError as err:
        message = str(err)
        line = _line_of(message, lines, rows)
        raise InputError(f"line {line}: {message.split(' at row')[0]}", path) from None


def _file_line(lines: list[str], rows: list[str], row: int) -> int:
    """1-based line number in the file of the ``row``-th non-empty line."""
    seen = -1
    for number, line in enumerate(lines, start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return len(lines)


def _line_of(message: str, lines: list[str], rows: list[str]) -> int:
    # numpy.loadtxt counts rows from 0 in conversion errors and from 1 in column-count errors.
    match = re.search(r"row (\d+)", message)
    if not match:
        return 0
    row = int(match.group(1)) - (0 if "could not convert" in message else 1)
    return _file_line(lines, rows, row)


def _pad(table: np.ndarray, cols: int, fill: list[float]) -> np.ndarray:
    if table.shape[1] >= cols:
        return table[:, :cols]
    extra = np.tile(np.array(fill[table.shape[1] - (cols - len(fill)):], np.float64),
                    (len(table), 1))
    return np.hstack([table, extra])


def read_gt(path: str | os.PathLike) -> np.ndarray:
    """Ground truth float64[N, 9] (frame, id, x, y, w, h, flag, class, visibility)."""
    return _pad(_read_table(path, 6, 10), 9, [1.0, 1.0, 1.0])


def read_dets(path: str | os.PathLike) -> np.ndarray:
    """Detections float64[N, 10] (frame, -1, x, y, w, h, score, -1, -1, -1)."""
    return _pad(_read_table(path, 7, 10), 10, [-1.0, -1.0, -1.0])


def read_results(path: str | os.PathLike) -> np.ndarray:
    """Tracker results float64[N, 10] (frame, id, x, y, w, h, conf, -1, -1, -1)."""
    return _pad(_read_table(path, 6, 10), 10, [1.0, -1.0, -1.0, -1.0])


def write_results(path: str | os.PathLike, rows: np.ndarray) -> None:
    """Write ``[N, >= 7]`` rows (frame, id, x, y, w, h, conf) in MOTChallenge's format."""
    rows = np.asarray(rows, np.float64).reshape(-1, rows.shape[-1] if len(rows) else 7)
    lines = [f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},"
             f"{r[6]:.4f},-1,-1,-1\n" for r in rows]
    write_text(path, "".join(lines))


def list_sequences(root: str | os.PathLike) -> list[Path]:
    """Sequence folders (those with a seqinfo.ini) under ``root``, sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise InputError("folder not found", root)
    seqs = sorted(p for p in root.iterdir() if (p / "seqinfo.ini").is_file())
    if not seqs:
        raise InputError("no sequences (folders with seqinfo.ini)", root)
    return seqs
