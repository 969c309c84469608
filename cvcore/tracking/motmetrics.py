"""MOTChallenge metrics with TrackEval's numbers: HOTA, CLEAR (MOTA, ...) and Identity (IDF1, ...).

``evaluate(gt_root, results_dir, benchmark)`` scores ``results_dir/<SEQ>.txt`` against
``gt_root/<SEQ>/gt/gt.txt`` for every sequence and combines them; ``evaluate_sequence`` scores one.
The rules are TrackEval's (``MotChallenge2DBox`` + ``HOTA``, ``CLEAR``, ``Identity``, ``Count``).
This module reads and preprocesses the files; each metric family is one module of
:mod:`cvcore.tracking.metrics` (per-sequence counts, combining, final fields):

- box similarity is IoU computed as TrackEval computes it (same float operations), for all
  frames in one Numba pass;
- preprocessing for MOT16/17/20: per frame, tracker boxes are matched to *all* ground truth
  (Hungarian on IoU >= 0.5) and those matched to a distractor (classes 2 person on vehicle,
  7 static person, 8 distractor, 12 reflection; MOT20 also 6 non-MOT vehicle) are removed; then
  only class-1 ground truth with a non-zero flag is kept. MOT15: only zero-flag rows are dropped;
- the families (:mod:`~cvcore.tracking.metrics.hota`, :mod:`~cvcore.tracking.metrics.clear`,
  :mod:`~cvcore.tracking.metrics.identity`, :mod:`~cvcore.tracking.metrics.count`) score each
  preprocessed sequence; combining sequences is each family's: sums, and for HOTA the
  association scores and LocA weighted by HOTA_TP, as TrackEval's ``combine_sequences``.

Input rules (TrackEval's, checked before anything is scored; see :mod:`cvcore.tracking.mot` for the
file
checks): every sequence folder of the gt root (or of ``--seqs``) needs ``seqinfo.ini`` with its
seqLength and ``gt/gt.txt``, and the results folder needs ``<SEQ>.txt`` for each of them (empty
is valid: no output); scoring only the sequences that happen to have results is refused, as a
COMBINED over a subset is another benchmark's number. Ids are exact up to 2^53 (TrackEval
itself allocates an array as long as the largest id).

Values are returned in TrackEval's summary units: ratios in percent, counts as numbers, keyed by
:data:`SUMMARY` (every family's summary fields, in TrackEval's order) and the aliases FP and FN.
CLI: ``python -m cvcore.motmetrics --gt-root DIR --results DIR [--benchmark B] [--json OUT]``,
or one sequence: ``--gt gt.txt --results res.txt`` (:func:`evaluate_files`); ``--benchmark KITTI``
scores KITTI's label files (:mod:`cvcore.tracking.kitti`).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from ..errors import InputError, run_cli
from .assignment import linear_sum_assignment_min
from .metrics import FAMILIES, Frames
from .mot import check_table, read_gt, read_results, read_seqinfo, row_error, select_sequences

DISTRACTORS = {"MOT16": (2, 7, 8, 12), "MOT17": (2, 7, 8, 12), "MOT20": (2, 6, 7, 8, 12),
               "MOT15": ()}
BENCHMARKS = tuple(DISTRACTORS)
# TrackEval's valid gt classes for MOT16/17/20 (pedestrian ... reflection, crowd).
VALID_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
SUMMARY = [f for m in FAMILIES for f in m.summary_fields]
PERCENT = {f for m in FAMILIES for f in m.float_fields}
ALIASES = {alias: f for m in FAMILIES for alias, f in m.aliases.items()}
# The MOTChallenge-style table: what the CLI prints and track.py saves as metrics.json.
TABLE_COLUMNS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW",
                 "FP", "FN", "MT", "PT", "ML", "Frag")


def frame_starts(frames: np.ndarray, length: int) -> np.ndarray:
    """Offsets [length + 1] of frames 1..length in a frame column sorted ascending."""
    return np.searchsorted(frames, np.arange(1, length + 2)).astype(np.int64)


def _pair_starts(g_start: np.ndarray, r_start: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.diff(g_start) * np.diff(r_start))]).astype(np.int64)


def frame_ious(gt: np.ndarray, res: np.ndarray, g_start: np.ndarray, r_start: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(s_start, sim): the IoU matrix [G_t, T_t] of every frame t (row-major, at
    ``sim[s_start[t]:s_start[t + 1]]``) between corner boxes ``gt`` [N, 4] and ``res`` [M, 4]
    (x0, y0, x1, y1), grouped by frame with offsets ``g_start``, ``r_start``."""
    s_start = _pair_starts(g_start, r_start)
    sim = np.empty(int(s_start[-1]))
    _frame_iou_kernel(np.ascontiguousarray(gt, np.float64), np.ascontiguousarray(res, np.float64),
                      g_start, r_start, s_start, sim)
    return s_start, sim


@numba.njit(cache=True, nogil=True)
def _frame_iou_kernel(gt, res, g_start, r_start, s_start, out):
    # TrackEval's _calculate_box_ious on x0y0x1y1 boxes, the same float operations in the same
    # order (MOT's x + w corners are made by the caller, as TrackEval makes them).
    eps = np.finfo(np.float64).eps
    for t in range(g_start.shape[0] - 1):
        k = s_start[t]
        for i in range(g_start[t], g_start[t + 1]):
            ax0, ay0, ax1, ay1 = gt[i, 0], gt[i, 1], gt[i, 2], gt[i, 3]
            area_a = (ax1 - ax0) * (ay1 - ay0)
            for j in range(r_start[t], r_start[t + 1]):
                bx0, by0, bx1, by1 = res[j, 0], res[j, 1], res[j, 2], res[j, 3]
                inter = max(min(ax1, bx1) - max(ax0, bx0), 0.0) * max(
                    min(ay1, by1) - max(ay0, by0), 0.0)
                area_b = (bx1 - bx0) * (by1 - by0)
                union = area_a + area_b - inter
                if area_a <= eps or area_b <= eps or union <= eps:
                    inter = 0.0
                if union <= eps:
                    union = 1.0
                out[k] = inter / union
                k += 1


@numba.njit(cache=True, nogil=True)
def _distractor_kernel(sim, g_start, r_start, s_start, distractor, keep_res, matched):
    """Clear ``keep_res`` for tracker boxes matched (Hungarian, IoU >= 0.5) to a distractor.
    ``matched`` empty: only frames with a distractor are matched (MOT); one entry per tracker
    box: every frame is, and ``matched`` marks each matched tracker box (KITTI)."""
    eps = np.finfo(np.float64).eps
    every_frame = matched.shape[0] > 0
    for t in range(g_start.shape[0] - 1):
        g0, r0 = g_start[t], r_start[t]
        n_g, n_r = g_start[t + 1] - g0, r_start[t + 1] - r0
        if n_g == 0 or n_r == 0 or not (every_frame or distractor[g0:g0 + n_g].any()):
            continue
        scores = sim[s_start[t]:s_start[t + 1]].reshape(n_g, n_r).copy()
        for i in range(n_g):
            for j in range(n_r):
                if scores[i, j] < 0.5 - eps:
                    scores[i, j] = 0.0
        rows, cols = linear_sum_assignment_min(-scores)
        for m in range(rows.shape[0]):
            if scores[rows[m], cols[m]] > 0 + eps:
                if every_frame:
                    matched[r0 + cols[m]] = True
                if distractor[g0 + rows[m]]:
                    keep_res[r0 + cols[m]] = False


def remove_distractor_matches(sim: np.ndarray, g_start: np.ndarray, r_start: np.ndarray,
                              s_start: np.ndarray, distractor: np.ndarray,
                              every_frame: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """TrackEval's preprocessing match: per frame, Hungarian on IoU (pairs under 0.5 cannot
    match) between all ground truth and all tracker boxes. Returns (keep_res, matched) over
    tracker boxes: keep_res is False for boxes matched to a ``distractor`` ground-truth box;
    ``matched`` (only with ``every_frame``; else empty, and frames without a distractor are
    skipped) marks every matched box."""
    n = int(r_start[-1])
    keep_res = np.ones(n, np.bool_)
    matched = np.zeros(n if every_frame else 0, np.bool_)
    _distractor_kernel(sim, g_start, r_start, s_start, distractor, keep_res, matched)
    return keep_res, matched


@numba.njit(cache=True, nogil=True)
def _filter_pairs_kernel(sim, g_start, r_start, s_start, keep_gt, keep_res, out):
    k = 0
    for t in range(g_start.shape[0] - 1):
        n_r = r_start[t + 1] - r_start[t]
        base = s_start[t]
        for i in range(g_start[t + 1] - g_start[t]):
            if not keep_gt[g_start[t] + i]:
                continue
            for j in range(n_r):
                if keep_res[r_start[t] + j]:
                    out[k] = sim[base + i * n_r + j]
                    k += 1


def check_classes(gt: np.ndarray, benchmark: str, source: str | os.PathLike = "") -> None:
    """MOT16/17/20 ground truth may hold only TrackEval's 13 classes (compared, as TrackEval
    does, after truncation to int); MOT15 has no classes."""
    if benchmark not in DISTRACTORS:
        raise InputError(f"unknown benchmark {benchmark!r}; choose from {', '.join(BENCHMARKS)}")
    if benchmark == "MOT15" or not len(gt):
        return
    invalid = ~np.isin(np.trunc(gt[:, 7]), VALID_CLASSES)
    if invalid.any():
        row = int(np.argmax(invalid))
        raise row_error(source, row, f"class {gt[row, 7]:g} is not one of {benchmark}'s 1..13 "
                        "(use --benchmark MOT15 for class-less files)")


def preprocess(gt: np.ndarray, res: np.ndarray, length: int, benchmark: str = "MOT17",
               gt_source: str | os.PathLike = "") -> Frames:
    """TrackEval's MotChallenge2DBox preprocessing (see the module docstring) of checked
    tables: :func:`~cvcore.tracking.mot.read_gt` and :func:`~cvcore.tracking.mot.read_results` read
    with
    ``length`` (or :func:`~cvcore.tracking.mot.check_table`). ``gt_source`` names the gt in
    errors."""
    check_classes(gt, benchmark, gt_source)
    filtering = benchmark != "MOT15"
    gt = gt[np.argsort(gt[:, 0], kind="stable")]
    res = res[np.argsort(res[:, 0], kind="stable")]
    g_start, r_start = frame_starts(gt[:, 0], length), frame_starts(res[:, 0], length)
    # TrackEval's corners: x + w, y + h.
    s_start, sim = frame_ious(np.hstack([gt[:, 2:4], gt[:, 2:4] + gt[:, 4:6]]),
                              np.hstack([res[:, 2:4], res[:, 2:4] + res[:, 4:6]]),
                              g_start, r_start)
    keep_res = np.ones(len(res), np.bool_)
    if filtering:
        distractor = np.isin(np.trunc(gt[:, 7]), DISTRACTORS[benchmark])
        keep_res, _ = remove_distractor_matches(sim, g_start, r_start, s_start, distractor)
    flagged = gt[:, 6].astype(int) != 0  # TrackEval's zero_marked: int(flag) == 0
    keep_gt = flagged & (np.trunc(gt[:, 7]) == 1) if filtering else flagged
    return kept_frames(gt[:, :2], res[:, :2], length, g_start, r_start, s_start, sim, keep_gt,
                       keep_res)


def kept_frames(gt: np.ndarray, res: np.ndarray, length: int, g_start: np.ndarray,
                r_start: np.ndarray, s_start: np.ndarray, sim: np.ndarray, keep_gt: np.ndarray,
                keep_res: np.ndarray) -> Frames:
    """The :class:`Frames` of the ``keep_gt`` ground-truth and ``keep_res`` tracker boxes:
    ``gt`` [N, 2] and ``res`` [M, 2] are (frame 1..length, id) sorted by frame, grouped by
    ``g_start`` / ``r_start`` with IoUs ``sim`` at ``s_start`` (:func:`frame_ious`); ids are
    relabelled 0..n-1 in ascending order, as TrackEval does."""
    new_g = frame_starts(gt[keep_gt, 0], length)
    new_r = frame_starts(res[keep_res, 0], length)
    new_s = _pair_starts(new_g, new_r)
    kept_sim = np.empty(int(new_s[-1]))
    _filter_pairs_kernel(sim, g_start, r_start, s_start, keep_gt, keep_res, kept_sim)
    gt_raw, tr_raw = gt[keep_gt, 1].astype(np.int64), res[keep_res, 1].astype(np.int64)
    gt_unique, tr_unique = np.unique(gt_raw), np.unique(tr_raw)
    return Frames(new_g, np.searchsorted(gt_unique, gt_raw), new_r,
                  np.searchsorted(tr_unique, tr_raw), new_s, kept_sim, len(gt_unique),
                  len(tr_unique))


@dataclass
class SequenceCounts:
    """The additive results of one sequence, or of several combined: ``counts[name]`` is
    family ``name``'s counts (:data:`~cvcore.tracking.metrics.FAMILIES`). ``empty``: the
    sequence has no tracker box or no ground-truth box (:attr:`Frames.empty`); never set for a
    combination, whose final fields TrackEval always computes from the summed counts."""

    counts: dict[str, dict]
    empty: bool = False


def sequence_counts(gt: np.ndarray, res: np.ndarray, length: int, benchmark: str = "MOT17",
                    gt_source: str | os.PathLike = "") -> SequenceCounts:
    return frames_counts(preprocess(gt, res, length, benchmark, gt_source))


def frames_counts(f: Frames) -> SequenceCounts:
    """Every family's counts of one preprocessed sequence."""
    return SequenceCounts({m.name: m.counts(f) for m in FAMILIES}, f.empty)


def combine(parts: list[SequenceCounts]) -> SequenceCounts:
    """TrackEval's ``combine_sequences`` of every family."""
    return SequenceCounts({m.name: m.combine([p.counts[m.name] for p in parts])
                           for m in FAMILIES})


def summary(c: SequenceCounts) -> dict[str, float]:
    """Every family's final fields in summary units (:data:`PERCENT` fields x 100), in
    :data:`SUMMARY` order, then the aliases (FP, FN)."""
    result = {}
    for m in FAMILIES:
        final = m.final(c.counts[m.name], c.empty)
        result.update({k: 100 * final[k] if k in m.float_fields else final[k]
                       for k in m.summary_fields})
    result.update({alias: result[field] for alias, field in ALIASES.items()})
    return result


def sequence_summaries(parts: dict[str, SequenceCounts]) -> dict[str, dict[str, float]]:
    """``{seq: metrics, ..., "COMBINED": metrics}`` of sequences' counts."""
    out = {name: summary(part) for name, part in parts.items()}
    out["COMBINED"] = summary(combine(list(parts.values())))
    return out


def evaluate_sequence(gt: np.ndarray, res: np.ndarray, length: int, benchmark: str = "MOT17"
                      ) -> dict[str, float]:
    """Every metric of one sequence: ground truth [N, 8-10] and results [M, 7-10] rows in
    MOTChallenge's columns (checked here as the readers check files), ``length`` = seqLength."""
    check_table(gt, "gt", length)
    check_table(res, "results", length)
    return summary(sequence_counts(gt, res, length, benchmark))


@dataclass
class GroundTruth:
    """One sequence's checked ground truth: ``rows`` from :func:`~cvcore.tracking.mot.read_gt`."""

    name: str
    path: Path
    length: int
    rows: np.ndarray


def load_ground_truth(folders: list[Path], benchmark: str = "MOT17") -> list[GroundTruth]:
    """``<SEQ>/gt/gt.txt`` and ``<SEQ>/seqinfo.ini`` of sequence ``folders`` (from
    :func:`~cvcore.tracking.mot.select_sequences`), read and checked: either file missing is an
    error."""
    out = []
    for folder in folders:
        length = read_seqinfo(folder / "seqinfo.ini").seq_length
        path = folder / "gt" / "gt.txt"
        rows = read_gt(path, length)
        check_classes(rows, benchmark, path)
        out.append(GroundTruth(folder.name, path, length, rows))
    return out


def result_files(results_dir: str | os.PathLike, names: list[str]) -> list[Path]:
    """``results_dir/<name>.txt`` for every name; each must exist (TrackEval's rule: scoring
    the sequences a tracker happened to output would make COMBINED a different benchmark)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError("folder not found" if not results_dir.exists() else "not a folder",
                         results_dir)
    files = [results_dir / f"{name}.txt" for name in names]
    for name, path in zip(names, files, strict=True):
        if not path.is_file():
            raise InputError(f"no result file for sequence {name} (every sequence is scored "
                             "unless you name the ones to score)", path)
    return files


def evaluate(gt_root: str | os.PathLike, results_dir: str | os.PathLike,
             benchmark: str = "MOT17", seqs: list[str] | None = None,
             ground_truth: list[GroundTruth] | None = None) -> dict[str, dict[str, float]]:
    """``{seq: metrics, ..., "COMBINED": metrics}`` for ``results_dir/<seq>.txt`` against
    ``gt_root/<seq>/gt/gt.txt``, every sequence of ``gt_root`` (or ``seqs``). A missing result
    file is an error (TrackEval's rule). ``ground_truth`` (from :func:`load_ground_truth`)
    skips reading ``gt_root`` again."""
    if ground_truth is None:
        ground_truth = load_ground_truth(select_sequences(gt_root, seqs), benchmark)
    files = result_files(results_dir, [g.name for g in ground_truth])
    return sequence_summaries({
        g.name: sequence_counts(g.rows, read_results(path, g.length), g.length, benchmark, g.path)
        for g, path in zip(ground_truth, files, strict=True)})


def format_table(metrics: dict[str, dict[str, float]],
                 columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """A MOTChallenge-style table: one row per sequence, then COMBINED."""
    width = max(12, *(len(s) for s in metrics))
    lines = [f"{'Sequence':<{width}}" + "".join(f"{c:>9}" for c in columns)]
    for seq, m in metrics.items():
        cells = "".join(f"{m[c]:>9.3f}" if c in PERCENT else f"{int(m[c]):>9d}" for c in columns)
        lines.append(f"{seq:<{width}}" + cells)
    return "\n".join(lines)


def evaluate_files(gt_path: str | os.PathLike, results_path: str | os.PathLike,
                   benchmark: str = "MOT17") -> dict[str, dict[str, float]]:
    """One sequence from two files, ``{SEQ: metrics, "COMBINED": metrics}``: with the
    sequence's ``seqinfo.ini`` (``SEQ/gt/gt.txt`` next to ``SEQ/seqinfo.ini``) its seqLength and
    name, else the last frame of either file and the results file's name."""
    gt_path, results_path = Path(gt_path), Path(results_path)
    seqinfo = gt_path.parent.parent / "seqinfo.ini"
    if gt_path.parent.name == "gt" and seqinfo.is_file():
        info = read_seqinfo(seqinfo)
        name, length = info.name, info.seq_length
        gt, res = read_gt(gt_path, length), read_results(results_path, length)
    else:
        gt, res = read_gt(gt_path), read_results(results_path)
        name = results_path.stem
        length = int(max(gt[:, 0].max(initial=1), res[:, 0].max(initial=1)))
    return sequence_summaries({name: sequence_counts(gt, res, length, benchmark, gt_path)})


def format_tables(metrics: dict, columns: tuple[str, ...] = TABLE_COLUMNS) -> str:
    """:func:`format_table`, or for KITTI's ``{class: {seq: metrics}}`` one titled table per
    class."""
    if all(isinstance(v, dict) and "COMBINED" in v for v in metrics.values()):
        return "\n\n".join(f"{cls}\n{format_table(m, columns)}" for cls, m in metrics.items())
    return format_table(metrics, columns)


def parse_args(argv=None, prog: str = "python -m cvcore.motmetrics") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="HOTA, CLEAR and Identity, TrackEval's numbers.")
    gt = parser.add_mutually_exclusive_group(required=True)
    gt.add_argument("--gt-root", type=Path,
                    help="folder of sequences (<SEQ>/gt/gt.txt, <SEQ>/seqinfo.ini); KITTI: "
                    "folder of label_02/<SEQ>.txt and evaluate_tracking.seqmap.<split>")
    gt.add_argument("--gt", type=Path, help="one sequence's ground-truth file")
    parser.add_argument("--results", type=Path, required=True,
                        help="folder of <SEQ>.txt (with --gt: one results file)")
    parser.add_argument("--benchmark", choices=(*BENCHMARKS, "KITTI"), default="MOT17")
    parser.add_argument("--split", help="KITTI seqmap split (default training)")
    parser.add_argument("--seqs", nargs="*", help="only these sequences")
    parser.add_argument("--json", type=Path, help="write all metrics here")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> None:
    from ..atomic import write_json
    from ..runs import check_output_path

    if args.split is not None and args.benchmark != "KITTI":
        raise InputError("--split is for --benchmark KITTI")
    if args.gt is not None and args.seqs:
        raise InputError("--seqs is for --gt-root (--gt scores one sequence)")
    check_output_path(args.json)
    if args.benchmark == "KITTI":
        from . import kitti

        metrics = (kitti.evaluate_files(args.gt, args.results) if args.gt is not None else
                   kitti.evaluate(args.gt_root, args.results, args.split or "training",
                                  args.seqs))
    elif args.gt is not None:
        metrics = evaluate_files(args.gt, args.results, args.benchmark)
    else:
        metrics = evaluate(args.gt_root, args.results, args.benchmark, args.seqs)
    print(format_tables(metrics))
    if args.json:
        write_json(args.json, metrics)


def cli(argv=None, prog: str = "python -m cvcore.motmetrics") -> None:
    """The command line: ``python -m cvcore.motmetrics`` and ``cvcore motmetrics``."""
    # As the process's own command line (argv None) it ends without the interpreter's teardown
    # (errors.run_cli); called with arguments (tests, other code) it returns normally.
    run_cli(lambda: main(parse_args(argv, prog)), fast_exit=argv is None)


if __name__ == "__main__":
    cli()
