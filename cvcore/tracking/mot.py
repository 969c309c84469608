"""MOTChallenge files: ``seqinfo.ini``, ``gt/gt.txt``, ``det/det.txt`` and tracker results.

All tables are float64 arrays with MOTChallenge's columns (1-based pixel coordinates):

- ground truth ``[N, 9]``: frame, id, x, y, w, h, flag (0 = ignore), class, visibility (a file
  needs the class column, 8-10 columns, as TrackEval requires; a missing visibility is 1);
- detections ``[N, 10]``: frame, -1, x, y, w, h, score, -1, -1, -1 (7-10 columns);
- results ``[N, 10]``: frame, id, x, y, w, h, conf, -1, -1, -1 (7-10 columns: TrackEval reads
  the confidence from column 7).

Every reader checks its file, vectorised, and raises :class:`~cvcore.errors.InputError` naming
the file, the line and the value:

- a wrong column count, a non-numeric, NaN or infinite field, any number beyond 2^53 - 1
  (:data:`MAX_VALUE`: past it a double no longer holds every whole number, so two ids written
  differently could merge; it also keeps box areas finite), a negative box width or height;
- a frame that is not a whole number >= 1, or (given ``length``, the sequence's seqLength) above
  ``length``;
- gt and results: an id that is not a whole number >= 0 (TrackEval turns ids into array indices,
  so it truncates fractions and wraps negative ids) and an id repeated within one frame
  (TrackEval's unique-id rule);
- results with a class column (8+ columns): a class above 1 (TrackEval evaluates pedestrians
  only and refuses such files);
- detections: a box under 1 pixel wide or high (the Kalman filter tracks the aspect ratio).

An empty file is valid: zero rows (a tracker that output nothing, a sequence nobody walks in).
"""

from __future__ import annotations

import configparser
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from ..atomic import write_text
from ..errors import InputError, one_line

MAX_VALUE = 2.0 ** 53 - 1  # the largest whole number a double holds with its neighbours
MAX_SEQ_LENGTH = 10_000_000  # frames; per-frame offset arrays are allocated for the whole length


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
    """A sequence's ``seqinfo.ini``: ``[Sequence]`` with seqLength (required, 1..10^7 frames);
    frameRate (> 0, default 30), imWidth/imHeight (default 0 = unknown), imDir (default img1)
    and imExt (default .jpg) are optional."""
    path = Path(path)
    if not path.exists():
        raise InputError("sequence folder has no seqinfo.ini" if path.parent.is_dir()
                         else "file not found", path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=path.name)
    except (configparser.Error, UnicodeDecodeError) as err:
        raise InputError(f"not a valid ini file ({one_line(err)})", path) from None
    if not parser.has_section("Sequence"):
        raise InputError("no [Sequence] section", path)
    s = parser["Sequence"]
    if "seqLength" not in s:
        raise InputError("no seqLength in [Sequence]", path)
    frame_rate = _ini_number(s, "frameRate", "30", float, path)
    if not 0 < frame_rate < float("inf"):
        raise InputError(f"frameRate {s['frameRate']!r} is not a positive number", path)
    return SeqInfo(name=s.get("name", path.parent.name), im_dir=s.get("imDir", "img1"),
                   frame_rate=frame_rate,
                   seq_length=_ini_int(s, "seqLength", None, 1, MAX_SEQ_LENGTH, path),
                   im_width=_ini_int(s, "imWidth", "0", 0, 10**6, path),
                   im_height=_ini_int(s, "imHeight", "0", 0, 10**6, path),
                   im_ext=s.get("imExt", ".jpg"))


def _ini_number(section, key: str, default: str | None, kind, path: Path):
    text = section.get(key, default)
    try:
        return kind(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise InputError(f"{key} {text!r} is not {noun}", path) from None


def _ini_int(section, key: str, default: str | None, low: int, high: int, path: Path) -> int:
    value = _ini_number(section, key, default, int, path)
    if not low <= value <= high:
        raise InputError(f"{key} {value} outside {low}..{high}", path)
    return value


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


def _read_table(path: Path, min_cols: int) -> np.ndarray:
    """Comma- (or space-) separated numbers as float64[N, C], parsed by the Numba kernel or, for
    anything unusual, numpy.loadtxt (which reports malformed lines); an empty file gives
    ``[0, min_cols]``."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as err:
        raise InputError(err.strerror or "cannot read", path) from None
    values = np.empty(data.size // 2 + 1)
    row_len = np.empty(int((data == 10).sum()) + 1, np.int64)
    n, rows = _parse_kernel(data, values, row_len)
    if n >= 0 and rows and (row_len[:rows] == row_len[0]).all():
        return values[:n].reshape(rows, row_len[0])
    table = np.zeros((0, min_cols)) if n >= 0 and not rows else _loadtxt(path)
    return table if len(table) else np.zeros((0, min_cols))


# Per kind of table: (fewest, most) columns, and what they are.
COLUMNS = {"gt": (8, 10), "dets": (7, 10), "results": (7, 10)}
LAYOUT = {"gt": "frame, id, x, y, w, h, flag, class[, visibility]",
          "dets": "frame, -1, x, y, w, h, score[, -1, -1, -1]",
          "results": "frame, id, x, y, w, h, conf[, -1, -1, -1]"}


def check_table(table: np.ndarray, kind: str, length: int | None = None,
                path: str | os.PathLike = "") -> None:
    """The module docstring's rules for a ``kind`` ("gt", "dets", "results") table as read
    from ``path`` (which errors name; tables not from a file get row numbers). ``length`` is
    the sequence's seqLength, if known. Vectorised: a few passes over the table and, for ids,
    one sort."""
    path = Path(path) if path else ""
    low, high = COLUMNS[kind]
    if not low <= table.shape[1] <= high:
        raise row_error(path, 0, f"expected {low}-{high} columns ({LAYOUT[kind]}), "
                        f"got {table.shape[1]}")
    fine = np.abs(table) <= MAX_VALUE  # False for nan, inf and too large
    if not fine.all():
        row = _first(~fine.all(1))
        value = table[row][~fine[row]][0]
        raise row_error(path, row, "non-finite value (nan or inf)" if not np.isfinite(value)
                        else f"number {_fmt(value)} too large (limit 2^53 - 1)")
    frames = table[:, 0]
    _check_rows(path, (frames < 1) | (frames != np.floor(frames)), frames,
                "frame {} is not a whole number >= 1")
    if length is not None:
        _check_rows(path, frames > length, frames, f"frame {{}} beyond seqLength {length}")
    for col, side in ((4, "width"), (5, "height")):
        if kind == "dets":  # the Kalman filter tracks the aspect ratio: w and h must be real
            _check_rows(path, table[:, col] < 1, table[:, col],
                        f"box {side} {{}} under 1 pixel (cannot be tracked)")
        else:
            _check_rows(path, table[:, col] < 0, table[:, col], f"negative box {side} {{}}")
    if kind == "dets":
        return
    _check_ids(path, table)
    if kind == "results" and table.shape[1] >= 8:
        _check_rows(path, np.trunc(table[:, 7]) > 1, table[:, 7],  # TrackEval's astype(int)
                    "class {} in column 8: TrackEval evaluates pedestrians only (1 or -1)")


def _check_ids(path: Path | str, table: np.ndarray) -> None:
    """Ids are whole numbers >= 0, unique within each frame (TrackEval's rules)."""
    ids = table[:, 1]
    _check_rows(path, (ids < 0) | (ids != np.floor(ids)), ids, "id {} is not a whole number >= 0")
    if len(table) < 2:
        return
    frames = table[:, 0]
    span = int(ids.max()) + 1
    if int(frames.max()) * span + span < 2 ** 63:
        # One exact int64 key per (frame, id); files come in sorted runs, which a stable sort
        # merges in near-linear time. (A float key like frame * 1e9 + id collides: (1, 1e9)
        # and (2, 0).)
        key = np.sort(frames.astype(np.int64) * span + ids.astype(np.int64), kind="stable")
        if not (key[1:] == key[:-1]).any():
            return
    order = np.lexsort((ids, frames))
    f, i = frames[order], ids[order]
    same = np.flatnonzero((f[1:] == f[:-1]) & (i[1:] == i[:-1]))
    if len(same):
        first, second = sorted(int(k) for k in order[same[0]:same[0] + 2])
        where = f"line {_file_line(path, first)}" if path else f"row {first + 1}"
        raise row_error(path, second, f"id {_fmt(ids[second])} repeated in frame "
                        f"{_fmt(f[same[0]])} (first on {where})")


def _check_rows(path: Path, bad: np.ndarray, values: np.ndarray, problem: str) -> None:
    """Raise for the first row where ``bad`` holds; ``problem`` formats that row's value."""
    if bad.any():
        row = _first(bad)
        raise row_error(path, row, problem.format(_fmt(values[row])))


def _first(mask: np.ndarray) -> int:
    return int(np.argmax(mask))


def _fmt(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def row_error(path: str | os.PathLike, row: int, problem: str) -> InputError:
    """An :class:`InputError` for the ``row``-th (0-based) row of a table read from ``path``:
    ``path: line L: problem`` (blank lines counted as in the file), or ``row R: problem`` for a
    table that did not come from a file (``path`` empty)."""
    if not path:
        return InputError(f"row {row + 1}: {problem}")
    return InputError(f"line {_file_line(path, row)}: {problem}", path)


def _text_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def _loadtxt(path: Path) -> np.ndarray:
    """numpy.loadtxt of the non-empty lines: the slow path, and the source of error messages
    (wrong column counts, non-numeric fields) with their line numbers."""
    lines = _text_lines(path)
    rows = [line for line in lines if line.strip()]
    if not rows:  # only white space the fast parser does not skip (form feeds, ...)
        return np.zeros((0, 0))
    sep = "," if "," in rows[0] else None
    try:
        return np.loadtxt(rows, delimiter=sep, ndmin=2, dtype=np.float64)
    except ValueError as err:
        message = str(err)
        line = _line_of(message, lines)
        raise InputError(f"line {line}: {message.split(' at row')[0]}", path) from None


def _file_line(path: str | os.PathLike, row: int, lines: list[str] | None = None) -> int:
    """1-based line number in the file of the ``row``-th non-empty line."""
    lines = _text_lines(Path(path)) if lines is None else lines
    seen = -1
    for number, line in enumerate(lines, start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return len(lines)


def _line_of(message: str, lines: list[str]) -> int:
    # numpy.loadtxt counts rows from 0 in conversion errors and from 1 in column-count errors.
    match = re.search(r"row (\d+)", message)
    if not match:
        return 0
    row = int(match.group(1)) - (0 if "could not convert" in message else 1)
    return _file_line("", row, lines)


# Per kind: the width of the returned table and the value of the optional trailing columns a
# file leaves out (gt: visibility; dets and results: the unused world coordinates).
PADDING = {"gt": (9, 1.0), "dets": (10, -1.0), "results": (10, -1.0)}


def _read(path: str | os.PathLike, kind: str, length: int | None) -> np.ndarray:
    path = Path(path)
    table = _read_table(path, COLUMNS[kind][0])
    check_table(table, kind, length, path)
    width, fill = PADDING[kind]
    if table.shape[1] >= width:
        return table[:, :width]
    return np.hstack([table, np.full((len(table), width - table.shape[1]), fill)])


def read_gt(path: str | os.PathLike, length: int | None = None) -> np.ndarray:
    """Ground truth float64[N, 9] (frame, id, x, y, w, h, flag, class, visibility); ``length``
    (seqLength) bounds the frames."""
    return _read(path, "gt", length)


def read_dets(path: str | os.PathLike, length: int | None = None) -> np.ndarray:
    """Detections float64[N, 10] (frame, -1, x, y, w, h, score, -1, -1, -1)."""
    return _read(path, "dets", length)


def read_results(path: str | os.PathLike, length: int | None = None) -> np.ndarray:
    """Tracker results float64[N, 10] (frame, id, x, y, w, h, conf, -1, -1, -1)."""
    return _read(path, "results", length)


def write_results(path: str | os.PathLike, rows: np.ndarray) -> None:
    """Write ``[N, >= 7]`` rows (frame, id, x, y, w, h, conf) in MOTChallenge's format."""
    rows = np.asarray(rows, np.float64).reshape(-1, rows.shape[-1] if len(rows) else 7)
    lines = [f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},"
             f"{r[6]:.4f},-1,-1,-1\n" for r in rows]
    write_text(path, "".join(lines))


def list_sequences(root: str | os.PathLike) -> list[Path]:
    """Sequence folders under ``root``, sorted by name: every subfolder not starting with ``.``
    (each must hold a seqinfo.ini; :func:`read_seqinfo` says which one does not)."""
    root = Path(root)
    if not root.exists():
        raise InputError("folder not found", root)
    if not root.is_dir():
        raise InputError("not a folder (expected a folder of sequences)", root)
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not seqs:
        raise InputError("no sequence folders", root)
    return seqs


def select_sequences(root: str | os.PathLike, names: list[str] | None = None) -> list[Path]:
    """The folders of ``names`` (in that order, each once) under ``root``, or all of them."""
    folders = {p.name: p for p in list_sequences(root)}
    if not names:
        return list(folders.values())
    unknown = [n for n in names if n not in folders]
    if unknown:
        raise InputError(f"no sequence {unknown[0]!r}", root)
    return [folders[n] for n in dict.fromkeys(names)]
