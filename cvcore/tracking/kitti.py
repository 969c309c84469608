"""KITTI 2D-box tracking: label files, seqmaps, and TrackEval's ``Kitti2DBox`` evaluation.

``evaluate(gt_root, results_dir, split)`` scores ``results_dir/<SEQ>.txt`` against
``gt_root/label_02/<SEQ>.txt`` for every sequence of ``gt_root/evaluate_tracking.seqmap.<split>``
and returns ``{class: {SEQ: metrics, ..., "COMBINED": metrics}}`` for the classes car and
pedestrian, with the metric families, units and names of :mod:`cvcore.tracking.motmetrics`.

Files (KITTI's space-separated label format, one box per line): frame (0-based), id, type,
truncated, occluded, alpha, x0, y0, x1, y1 (pixels), then 3D fields and, for results, a score,
which TrackEval does not use. Reading follows TrackEval 1.3.0's ``Kitti2DBox``:

- types (case-insensitive) car, van, truck, pedestrian, person (person sitting; ``person_sitting``
  is read as person too, where TrackEval would refuse the file), cyclist, tram, misc, dontcare,
  car_2 (= car); any other type is an error;
- in ground truth, DontCare rows are ignore regions (whatever their id); other rows with a
  negative id are dropped, in ground truth and results alike;
- truncation and occlusion are truncated to integers (TrackEval's ``astype(int)``);
- frames run 0 .. length - 1, length from the seqmap's 4th column.

Checked here (each an :class:`~cvcore.errors.InputError` naming the file and line): fewer than
10 fields, a non-numeric field among the ten, NaN, infinity or a number beyond 2^53 - 1, a frame
that is not a whole number in 0 .. length - 1, an id that is not a whole number, and an id repeated
within one frame for one type (TrackEval's unique-id rule, which it applies per evaluated class;
here it is checked on the file, so a repeat TrackEval's preprocessing would have removed is an
error too). Boxes with x1 < x0 or y1 < y0 are scored as TrackEval scores them (IoU 0).

Preprocessing per class (car: distractor van; pedestrian: distractor person), per frame:

1. ground truth of the class and its distractor, results of the class;
2. Hungarian matching on IoU (pairs under 0.5 cannot match); results matched to a distractor,
   or to ground truth occluded above 2 or truncated above 0, are removed;
3. unmatched results no higher than 25 px (y1 - y0), or covering more than half their area with a
   DontCare region (intersection over the result's area), are removed;
4. only ground truth of the class, occlusion <= 2 and truncation <= 0 is scored.

Every comparison keeps TrackEval's float epsilon. Combining sequences is each family's
(:func:`cvcore.tracking.motmetrics.combine`); classes are never combined (TrackEval does not for
KITTI).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .metrics import Frames
from .mot import MAX_VALUE, _file_line, _fmt, _parse_kernel
from .motmetrics import (
    SequenceCounts,
    frame_ious,
    frame_starts,
    frames_counts,
    kept_frames,
    remove_distractor_matches,
    result_files,
    sequence_summaries,
)

# TrackEval's class_name_to_class_id (plus person_sitting, KITTI's own name for person).
CLASS_IDS = {"car": 1, "van": 2, "truck": 3, "pedestrian": 4, "person": 5, "person_sitting": 5,
             "cyclist": 6, "tram": 7, "misc": 8, "dontcare": 9, "car_2": 1}
CLASS_NAMES = {v: k for k, v in reversed(CLASS_IDS.items())}  # car, not car_2
DONTCARE = 9
# Evaluated class -> (its class id, distractor class ids).
CLASSES = {"car": (1, (2,)), "pedestrian": (4, (5,))}
MAX_OCCLUSION, MAX_TRUNCATION, MIN_HEIGHT = 2, 0, 25
EPS = np.finfo(np.float64).eps
LAYOUT = "frame, id, type, truncated, occluded, alpha, x0, y0, x1, y1, ..."
# Columns of KittiTable.rows.
FRAME, ID, CLASS, TRUNCATION, OCCLUSION, BOX = 0, 1, 2, 3, 4, slice(5, 9)


@dataclass
class KittiTable:
    """One KITTI file, rows sorted by frame (file order within a frame). ``rows`` float64[N, 9]:
    frame (0-based), id (>= 0), class id (:data:`CLASS_IDS`), truncation, occlusion (both
    truncated to integers), x0, y0, x1, y1; ``ignore`` float64[K, 5]: frame, x0, y0, x1, y1 of
    ground truth's DontCare regions (empty for results)."""

    rows: np.ndarray
    ignore: np.ndarray

    @property
    def last_frame(self) -> int:
        """The largest frame of any row, -1 for an empty file."""
        frames = np.concatenate([self.rows[:, FRAME], self.ignore[:, 0]])
        return int(frames.max()) if len(frames) else -1


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise InputError("not a file" if path.exists() else "file not found", path)


def _tokens(path: Path) -> tuple[list[list[str]], list[int]]:
    """The whitespace-separated fields of every non-blank line, and those lines' numbers."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    tokens, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if fields:
            tokens.append(fields)
            lines.append(number)
    return tokens, lines


def _fast_fields(data: np.ndarray) -> np.ndarray | None:
    """The first 10 fields of every line as float64[N, 10], the type (3rd field) replaced by its
    class id, for a file of plain ASCII lines with the same number (>= 10) of space-separated
    fields, every field but the type a plain decimal: the type is overwritten in place by its id
    and the rest parsed by :mod:`~cvcore.tracking.mot`'s Numba reader. None for anything else,
    which :func:`_slow_fields` reads (and reports)."""
    # No comma (the Numba reader would split "1,5" in two) and no character str.splitlines()
    # or str.split() treat differently from the reader.
    plain = ((data >= 32) & (data < 127) & (data != 44)) | (data == 9) | (data == 10) | (
        data == 13)
    if not plain.all():
        return None
    cr = np.flatnonzero(data == 13)
    if len(cr) and (cr[-1] + 1 >= data.size or (data[cr + 1] != 10).any()):  # CR only in CRLF
        return None
    space = (data == 32) | (data == 9) | (data == 10) | (data == 13)
    starts = np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))
    if not len(starts):
        return None
    line = np.cumsum(data == 10)[starts]
    first = np.flatnonzero(np.concatenate([[True], line[1:] != line[:-1]]))
    index = np.arange(len(starts)) - np.repeat(first, np.diff(np.append(first, len(starts))))
    kinds = starts[index == 2]
    if len(kinds) != len(first):
        return None  # a line with fewer than 3 fields
    blanks = np.flatnonzero(space)
    ends = np.append(blanks, data.size)[np.searchsorted(blanks, kinds)]
    width = 16
    if (ends - kinds > width).any():
        return None
    cols = kinds[:, None] + np.arange(width)
    inside = np.arange(width) < (ends - kinds)[:, None]
    chars = np.where(inside, data[np.minimum(cols, data.size - 1)], 0).astype(np.uint8)
    chars |= ((chars >= 65) & (chars <= 90)).astype(np.uint8) * 32  # lower case
    names, which = np.unique(np.ascontiguousarray(chars).view(f"S{width}").ravel(),
                             return_inverse=True)
    codes = np.array([CLASS_IDS.get(n.decode("ascii"), -1) for n in names])
    if (codes < 0).any():
        return None
    patched = data.copy()
    patched[cols[inside]] = 32
    patched[kinds] = 48 + codes[which.ravel()]  # one digit: ids are 1..9
    values = np.empty(data.size // 2 + 1)
    row_len = np.empty(len(first) + 1, np.int64)
    n, rows = _parse_kernel(patched, values, row_len)
    if n < 0 or rows != len(first) or row_len[0] < 10 or (row_len[:rows] != row_len[0]).any():
        return None
    return values[:n].reshape(rows, row_len[0])[:, :10].copy()


def _slow_fields(path: Path) -> np.ndarray:
    """:func:`_fast_fields` for any file, line by line; raises for what the module docstring
    lists (field count, non-numeric field, unknown type)."""
    tokens, lines = _tokens(path)

    def fail(row: int, problem: str) -> InputError:
        return InputError(f"line {lines[row]}: {problem}", path)

    short = [i for i, t in enumerate(tokens) if len(t) < 10]
    if short:
        raise fail(short[0], f"expected at least 10 fields ({LAYOUT}), got {len(tokens[short[0]])}")
    names = [t[2].lower() for t in tokens]
    classes = np.array([CLASS_IDS.get(n, -1) for n in names], np.float64)
    if (classes < 0).any():
        row = int(np.argmax(classes < 0))
        raise fail(row, f"unknown type {tokens[row][2]!r} (KITTI types: "
                   f"{', '.join(k for k in CLASS_IDS)})")
    try:  # TrackEval's conversion: numpy's float parsing of each field
        table = np.array([t[:2] + ["0"] + t[3:10] for t in tokens], np.float64).reshape(-1, 10)
    except ValueError:
        for i, t in enumerate(tokens):
            for field in t[:2] + t[3:10]:
                try:
                    float(field)
                except ValueError:
                    raise fail(i, f"{field!r} is not a number") from None
        raise
    table[:, CLASS] = classes
    return table


def read_kitti(path: str | os.PathLike, length: int | None = None, gt: bool = True
               ) -> KittiTable:
    """A KITTI tracking label (``gt``) or result file, read and checked as the module docstring
    says; ``length`` (the seqmap's frame count) bounds the frames."""
    path = Path(path)
    _check_file(path)
    try:
        data = np.fromfile(path, np.uint8)
        fields = _fast_fields(data) if data.size else np.zeros((0, 10))
        if fields is None:
            fields = _slow_fields(path)
    except OSError as err:
        raise InputError(err.strerror or "cannot read", path) from None

    def fail(row: int, problem: str) -> InputError:
        return InputError(f"line {_file_line(path, row)}: {problem}", path)

    classes = fields[:, CLASS]
    table = fields[:, [0, 1, 3, 4, 5, 6, 7, 8, 9]]
    fine = np.abs(table) <= MAX_VALUE
    if not fine.all():
        row = int(np.argmax(~fine.all(1)))
        value = table[row][~fine[row]][0]
        raise fail(row, "non-finite value (nan or inf)" if not np.isfinite(value)
                   else f"number {_fmt(value)} too large (limit 2^53 - 1)")
    frames, ids = table[:, 0], table[:, 1]
    bad = (frames < 0) | (frames != np.floor(frames))
    if length is not None:
        bad |= frames >= length
    if bad.any():
        row = int(np.argmax(bad))
        where = f" of 0..{length - 1}" if length is not None else " >= 0"
        raise fail(row, f"frame {_fmt(frames[row])} is not a whole number{where}")
    bad = ids != np.floor(ids)
    if bad.any():
        row = int(np.argmax(bad))
        raise fail(row, f"id {_fmt(ids[row])} is not a whole number")
    ignore = (classes == DONTCARE) if gt else np.zeros(len(table), np.bool_)
    scored = ~ignore & (ids >= 0)  # TrackEval's remove_negative_ids
    repeat = _first_repeat(table, classes, scored)
    if repeat is not None:
        second, first = repeat
        raise fail(second, f"{CLASS_NAMES[int(classes[second])]} id {_fmt(ids[second])} "
                   f"repeated in frame {_fmt(frames[second])} (first on line "
                   f"{_file_line(path, first)})")
    rows = np.column_stack([frames, ids, classes, np.trunc(table[:, 2:4]), table[:, 5:9]])
    order = np.argsort(frames, kind="stable")
    return KittiTable(rows[order][scored[order]], rows[order][ignore[order]][:, [0, 5, 6, 7, 8]])


def _first_repeat(table: np.ndarray, classes: np.ndarray, scored: np.ndarray
                  ) -> tuple[int, int] | None:
    """The first row (in file order) of the ``scored`` rows whose (frame, class, id) an earlier
    row has, and that earlier row; None if every key is unique."""
    index = np.flatnonzero(scored)
    order = index[np.lexsort((index, table[index, 1], classes[index], table[index, 0]))]
    key = np.column_stack([table[order, 0], classes[order], table[order, 1]])
    same = np.flatnonzero((key[1:] == key[:-1]).all(1))
    if not len(same):
        return None
    second, first = min((int(order[k + 1]), int(order[k])) for k in same)
    return second, first


def read_seqmap(path: str | os.PathLike) -> list[tuple[str, int]]:
    """``evaluate_tracking.seqmap.<split>``: one ``SEQ empty FIRST LAST`` line per sequence;
    returns (SEQ, LAST) pairs, LAST being the frame count (TrackEval's ``int(row[3])``)."""
    path = Path(path)
    _check_file(path)
    try:
        tokens, lines = _tokens(path)
    except OSError as err:
        raise InputError(err.strerror or "cannot read", path) from None
    out = []
    for fields, line in zip(tokens, lines, strict=True):
        fields = ",".join(fields).split(",")  # TrackEval sniffs the delimiter: space or comma
        fields = [f for f in fields if f]
        if len(fields) < 4:
            raise InputError(f"line {line}: expected 'SEQ empty FIRST LAST'", path)
        try:
            length = int(fields[3])
        except ValueError:
            raise InputError(f"line {line}: frame count {fields[3]!r} is not a whole number",
                             path) from None
        if length < 1:
            raise InputError(f"line {line}: frame count {length} is not >= 1", path)
        out.append((fields[0], length))
    if not out:
        raise InputError("no sequences", path)
    return out


def _ignored(res: np.ndarray, ignore: np.ndarray, length: int) -> np.ndarray:
    """For result rows ``res`` [M, 9]: covered more than half (intersection over the result's
    area, TrackEval's IoA) by a DontCare region ``ignore`` [K, 5] of the same frame."""
    i_start = frame_starts(ignore[:, 0] + 1, length)
    f = res[:, FRAME].astype(np.int64)
    counts = i_start[f + 1] - i_start[f]
    owner = np.repeat(np.arange(len(res)), counts)
    offsets = np.cumsum(counts) - counts
    region = np.arange(int(counts.sum())) - np.repeat(offsets - i_start[f], counts)
    a, b = res[owner, BOX], ignore[region, 1:5]
    inter = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0) * \
        np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0)
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    valid = area > 0 + EPS
    ioa = np.zeros(len(owner))
    ioa[valid] = inter[valid] / area[valid]
    return np.bincount(owner[ioa > 0.5 + EPS], minlength=len(res)) > 0


def preprocess(gt: KittiTable, res: KittiTable, length: int, cls: str) -> Frames:
    """TrackEval's ``Kitti2DBox`` preprocessing (module docstring) of one sequence for ``cls``
    (car or pedestrian); ``length`` frames."""
    cls_id, distractors = CLASSES[cls]
    g = gt.rows[np.isin(gt.rows[:, CLASS], (cls_id, *distractors))]
    r = res.rows[res.rows[:, CLASS] == cls_id]
    g_start = frame_starts(g[:, FRAME] + 1, length)
    r_start = frame_starts(r[:, FRAME] + 1, length)
    s_start, sim = frame_ious(g[:, BOX], r[:, BOX], g_start, r_start)
    occluded = g[:, OCCLUSION] > MAX_OCCLUSION + EPS
    truncated = g[:, TRUNCATION] > MAX_TRUNCATION + EPS
    distractor = np.isin(g[:, CLASS], distractors) | occluded | truncated
    keep_res, matched = remove_distractor_matches(sim, g_start, r_start, s_start, distractor,
                                                  every_frame=True)
    small = r[:, 8] - r[:, 6] <= MIN_HEIGHT + EPS  # y1 - y0
    unmatched = np.flatnonzero(~matched)
    drop = small[unmatched] | _ignored(r[unmatched], gt.ignore, length)
    keep_res[unmatched[drop]] = False
    keep_gt = ~occluded & ~truncated & (g[:, CLASS] == cls_id)
    frames_ids = np.column_stack([g[:, FRAME] + 1, g[:, ID]])
    return kept_frames(frames_ids, np.column_stack([r[:, FRAME] + 1, r[:, ID]]), length,
                       g_start, r_start, s_start, sim, keep_gt, keep_res)


def sequence_counts(gt: KittiTable, res: KittiTable, length: int, cls: str) -> SequenceCounts:
    """Every family's counts of one sequence for ``cls``."""
    return frames_counts(preprocess(gt, res, length, cls))


def evaluate_tables(seqs: dict[str, tuple[KittiTable, KittiTable, int]],
                    classes: tuple[str, ...] = tuple(CLASSES)
                    ) -> dict[str, dict[str, dict[str, float]]]:
    """``{cls: {seq: metrics, ..., "COMBINED": metrics}}`` for ``seqs``: name -> (ground truth,
    results, length)."""
    out = {}
    for cls in classes:
        parts = {name: sequence_counts(g, r, n, cls) for name, (g, r, n) in seqs.items()}
        out[cls] = sequence_summaries(parts)
    return out


def evaluate(gt_root: str | os.PathLike, results_dir: str | os.PathLike,
             split: str = "training", seqs: list[str] | None = None,
             classes: tuple[str, ...] = tuple(CLASSES)) -> dict[str, dict[str, dict[str, float]]]:
    """TrackEval's Kitti2DBox numbers for ``results_dir/<SEQ>.txt`` against
    ``gt_root/label_02/<SEQ>.txt``, every sequence of ``gt_root/evaluate_tracking.seqmap.<split>``
    (or only ``seqs``, which must be in it). Every result file must exist (TrackEval's rule)."""
    gt_root = Path(gt_root)
    seqmap = gt_root / f"evaluate_tracking.seqmap.{split}"
    if not gt_root.is_dir():
        raise InputError("folder not found" if not gt_root.exists() else "not a folder", gt_root)
    if not seqmap.is_file():
        raise InputError(f"no seqmap for split {split!r} (expected {seqmap.name})", gt_root)
    lengths = dict(read_seqmap(seqmap))
    if seqs:
        unknown = [s for s in seqs if s not in lengths]
        if unknown:
            raise InputError(f"no sequence {unknown[0]!r} in the seqmap", seqmap)
        lengths = {s: lengths[s] for s in dict.fromkeys(seqs)}
    labels = {name: gt_root / "label_02" / f"{name}.txt" for name in lengths}
    truth = {name: read_kitti(path, lengths[name]) for name, path in labels.items()}
    files = result_files(results_dir, list(lengths))
    tables = {name: (truth[name], read_kitti(path, lengths[name], gt=False), lengths[name])
              for name, path in zip(lengths, files, strict=True)}
    return evaluate_tables(tables, classes)


def evaluate_files(gt_path: str | os.PathLike, results_path: str | os.PathLike,
                   classes: tuple[str, ...] = tuple(CLASSES)
                   ) -> dict[str, dict[str, dict[str, float]]]:
    """One sequence from two files, named after the results file; its length is one past the
    last frame of either file (empty frames at the end change no metric)."""
    gt, res = read_kitti(gt_path), read_kitti(results_path, gt=False)
    length = max(gt.last_frame, res.last_frame) + 1
    return evaluate_tables({Path(results_path).stem: (gt, res, max(length, 1))}, classes)
