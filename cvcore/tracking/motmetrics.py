"""MOTChallenge metrics with TrackEval's numbers: HOTA, CLEAR (MOTA, ...) and Identity (IDF1, ...).

``evaluate(gt_root, results_dir, benchmark)`` scores ``results_dir/<SEQ>.txt`` against
``gt_root/<SEQ>/gt/gt.txt`` for every sequence and combines them; ``evaluate_sequence`` scores one.
The rules are TrackEval's (``MotChallenge2DBox`` + ``HOTA``, ``CLEAR``, ``Identity``, ``Count``):

- box similarity is IoU computed as TrackEval computes it (same float operations), for all
  frames in one Numba pass;
- preprocessing for MOT16/17/20: per frame, tracker boxes are matched to *all* ground truth
  (Hungarian on IoU >= 0.5) and those matched to a distractor (classes 2 person on vehicle,
  7 static person, 8 distractor, 12 reflection; MOT20 also 6 non-MOT vehicle) are removed; then
  only class-1 ground truth with a non-zero flag is kept. MOT15: only zero-flag rows are dropped;
- CLEAR: per frame, Hungarian on IoU (>= 0.5) with a bonus for continuing last frame's pairing;
  IDSW against the last matched tracker id; MT/PT/ML at 80% / 20% of frames tracked; Frag;
- Identity: one global Hungarian between ground-truth and tracker ids (IoU >= 0.5);
- HOTA: per frame, Hungarian on IoU weighted by the global id alignment, then for each of the 19
  alpha = 0.05..0.95; reported values are the means over alpha;
- combining sequences: counts are summed; AssA, AssRe, AssPr and LocA are averaged weighted by
  HOTA_TP, as TrackEval's ``combine_sequences`` does.

Input rules (TrackEval's, checked before anything is scored; see :mod:`cvcore.mot` for the file
checks): every sequence folder of the gt root (or of ``--seqs``) needs ``seqinfo.ini`` with its
seqLength and ``gt/gt.txt``, and the results folder needs ``<SEQ>.txt`` for each of them (empty
is valid: no output); scoring only the sequences that happen to have results is refused, as a
COMBINED over a subset is another benchmark's number. Ids are exact up to 2^53 (TrackEval
itself allocates an array as long as the largest id).

Values are returned in TrackEval's summary units: ratios in percent, counts as numbers.
CLI: ``python -m cvcore.motmetrics --gt-root DIR --results DIR [--benchmark B] [--json OUT]``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import InputError, run_cli
from .assignment import linear_sum_assignment_min
from .mot import check_table, read_gt, read_results, read_seqinfo, row_error, select_sequences

EPS = np.finfo("float").eps
ALPHAS = np.arange(0.05, 0.99, 0.05)
DISTRACTORS = {"MOT16": (2, 7, 8, 12), "MOT17": (2, 7, 8, 12), "MOT20": (2, 6, 7, 8, 12),
               "MOT15": ()}
BENCHMARKS = tuple(DISTRACTORS)
# TrackEval's valid gt classes for MOT16/17/20 (pedestrian ... reflection, crowd).
VALID_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
SUMMARY = ["HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA", "HOTA(0)",
           "LocA(0)", "HOTALocA(0)", "MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MTR", "PTR",
           "MLR", "CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag", "sMOTA",
           "IDF1", "IDR", "IDP", "IDTP", "IDFN", "IDFP", "Dets", "GT_Dets", "IDs", "GT_IDs"]
PERCENT = {"HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA", "HOTA(0)",
           "LocA(0)", "HOTALocA(0)", "MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MTR", "PTR",
           "MLR", "sMOTA", "IDF1", "IDR", "IDP"}


@dataclass
class Frames:
    """One sequence after preprocessing, flat over frames: frame t has ground-truth ids
    ``gt_ids[g_start[t]:g_start[t + 1]]`` and tracker ids ``tr_ids[r_start[t]:r_start[t + 1]]``
    (both relabelled 0..n-1) and their IoU matrix ``sim[s_start[t]:s_start[t + 1]]`` (row-major,
    [G_t, T_t])."""

    g_start: np.ndarray
    gt_ids: np.ndarray
    r_start: np.ndarray
    tr_ids: np.ndarray
    s_start: np.ndarray
    sim: np.ndarray
    num_gt_ids: int
    num_tr_ids: int

    @property
    def num_gt_dets(self) -> int:
        return len(self.gt_ids)

    @property
    def num_tr_dets(self) -> int:
        return len(self.tr_ids)


def _frame_starts(rows: np.ndarray, length: int) -> np.ndarray:
    """Offsets [length + 1] of frames 1..length in rows sorted by frame."""
    return np.searchsorted(rows[:, 0], np.arange(1, length + 2)).astype(np.int64)


def _pair_starts(g_start: np.ndarray, r_start: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.diff(g_start) * np.diff(r_start))]).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _frame_iou_kernel(gt, res, g_start, r_start, s_start, out):
    # TrackEval's _calculate_box_ious, the same float operations in the same order.
    eps = np.finfo(np.float64).eps
    for t in range(g_start.shape[0] - 1):
        k = s_start[t]
        for i in range(g_start[t], g_start[t + 1]):
            ax0, ay0 = gt[i, 0], gt[i, 1]
            ax1, ay1 = gt[i, 0] + gt[i, 2], gt[i, 1] + gt[i, 3]
            area_a = (ax1 - ax0) * (ay1 - ay0)
            for j in range(r_start[t], r_start[t + 1]):
                bx0, by0 = res[j, 0], res[j, 1]
                bx1, by1 = res[j, 0] + res[j, 2], res[j, 1] + res[j, 3]
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
def _distractor_kernel(sim, g_start, r_start, s_start, distractor, keep_res):
    """Clear ``keep_res`` for tracker boxes matched (Hungarian, IoU >= 0.5) to a distractor."""
    eps = np.finfo(np.float64).eps
    for t in range(g_start.shape[0] - 1):
        g0, r0 = g_start[t], r_start[t]
        n_g, n_r = g_start[t + 1] - g0, r_start[t + 1] - r0
        if n_g == 0 or n_r == 0 or not distractor[g0:g0 + n_g].any():
            continue
        scores = sim[s_start[t]:s_start[t + 1]].reshape(n_g, n_r).copy()
        for i in range(n_g):
            for j in range(n_r):
                if scores[i, j] < 0.5 - eps:
                    scores[i, j] = 0.0
        rows, cols = linear_sum_assignment_min(-scores)
        for m in range(rows.shape[0]):
            if scores[rows[m], cols[m]] > 0 + eps and distractor[g0 + rows[m]]:
                keep_res[r0 + cols[m]] = False


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
    tables: :func:`~cvcore.mot.read_gt` and :func:`~cvcore.mot.read_results` read with
    ``length`` (or :func:`~cvcore.mot.check_table`). ``gt_source`` names the gt in errors."""
    check_classes(gt, benchmark, gt_source)
    filtering = benchmark != "MOT15"
    gt = gt[np.argsort(gt[:, 0], kind="stable")]
    res = res[np.argsort(res[:, 0], kind="stable")]
    g_start, r_start = _frame_starts(gt, length), _frame_starts(res, length)
    s_start = _pair_starts(g_start, r_start)
    sim = np.empty(int(s_start[-1]))
    _frame_iou_kernel(np.ascontiguousarray(gt[:, 2:6]), np.ascontiguousarray(res[:, 2:6]),
                      g_start, r_start, s_start, sim)
    keep_res = np.ones(len(res), np.bool_)
    if filtering:
        distractor = np.isin(np.trunc(gt[:, 7]), DISTRACTORS[benchmark])
        _distractor_kernel(sim, g_start, r_start, s_start, distractor, keep_res)
    flagged = gt[:, 6].astype(int) != 0  # TrackEval's zero_marked: int(flag) == 0
    keep_gt = flagged & (np.trunc(gt[:, 7]) == 1) if filtering else flagged
    new_g, new_r = _frame_starts(gt[keep_gt], length), _frame_starts(res[keep_res], length)
    new_s = _pair_starts(new_g, new_r)
    kept_sim = np.empty(int(new_s[-1]))
    _filter_pairs_kernel(sim, g_start, r_start, s_start, keep_gt, keep_res, kept_sim)
    gt_raw, tr_raw = gt[keep_gt, 1].astype(np.int64), res[keep_res, 1].astype(np.int64)
    gt_unique, tr_unique = np.unique(gt_raw), np.unique(tr_raw)
    return Frames(new_g, np.searchsorted(gt_unique, gt_raw), new_r,
                  np.searchsorted(tr_unique, tr_raw), new_s, kept_sim, len(gt_unique),
                  len(tr_unique))


@numba.njit(cache=True, nogil=True)
def _clear_kernel(g_start, gt_ids, r_start, tr_ids, s_start, sim, num_gt_ids, threshold, counts):
    """TrackEval's CLEAR loop. counts: int64[5] TP, FN, FP, IDSW; returns (MOTP_sum, gt_count,
    matched_count, frag)."""
    eps = np.finfo(np.float64).eps
    gt_count = np.zeros(num_gt_ids)
    matched_count = np.zeros(num_gt_ids)
    frag = np.zeros(num_gt_ids)
    prev_tracker = np.full(num_gt_ids, np.nan)
    prev_step = np.full(num_gt_ids, np.nan)
    motp_sum = 0.0
    for t in range(g_start.shape[0] - 1):
        g = gt_ids[g_start[t]:g_start[t + 1]]
        r = tr_ids[r_start[t]:r_start[t + 1]]
        n_g, n_r = g.shape[0], r.shape[0]
        if n_g == 0:
            counts[2] += n_r
            continue
        if n_r == 0:
            counts[1] += n_g
            for i in range(n_g):
                gt_count[g[i]] += 1
            continue
        s = sim[s_start[t]:s_start[t + 1]].reshape(n_g, n_r)
        score = np.empty((n_g, n_r))
        for i in range(n_g):
            for j in range(n_r):
                score[i, j] = (1000.0 if r[j] == prev_step[g[i]] else 0.0) + s[i, j]
                if s[i, j] < threshold - eps:
                    score[i, j] = 0.0
        rows, cols = linear_sum_assignment_min(-score)
        for i in range(n_g):
            gt_count[g[i]] += 1
        n_match = 0
        frame_sum = 0.0
        matched_g = np.empty(rows.shape[0], np.int64)
        matched_r = np.empty(rows.shape[0], np.int64)
        for m in range(rows.shape[0]):
            if score[rows[m], cols[m]] > 0 + eps:
                matched_g[n_match] = g[rows[m]]
                matched_r[n_match] = r[cols[m]]
                frame_sum += s[rows[m], cols[m]]
                n_match += 1
        for m in range(n_match):
            prev = prev_tracker[matched_g[m]]
            if not np.isnan(prev) and matched_r[m] != prev:
                counts[3] += 1
            matched_count[matched_g[m]] += 1
        not_tracked = np.isnan(prev_step)
        prev_step[:] = np.nan
        for m in range(n_match):
            prev_tracker[matched_g[m]] = matched_r[m]
            prev_step[matched_g[m]] = matched_r[m]
        for k in range(num_gt_ids):
            if not_tracked[k] and not np.isnan(prev_step[k]):
                frag[k] += 1
        counts[0] += n_match
        counts[1] += n_g - n_match
        counts[2] += n_r - n_match
        if n_match > 0:
            motp_sum += frame_sum
    return motp_sum, gt_count, matched_count, frag


def clear_counts(f: Frames, threshold: float = 0.5) -> dict:
    """TrackEval's CLEAR integer fields and MOTP_sum for one sequence."""
    res = dict.fromkeys(["CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag"], 0)
    res["MOTP_sum"] = 0.0
    res["CLR_Frames"] = len(f.g_start) - 1
    # TrackEval returns these two cases before computing any ratio: all 0 except MLR = 1.
    if f.num_tr_dets == 0:
        res.update(CLR_FN=f.num_gt_dets, ML=f.num_gt_ids, empty=True)
        return res
    if f.num_gt_dets == 0:
        res.update(CLR_FP=f.num_tr_dets, empty=True)
        return res
    counts = np.zeros(4, np.int64)
    motp_sum, gt_count, matched_count, frag = _clear_kernel(
        f.g_start, f.gt_ids, f.r_start, f.tr_ids, f.s_start, f.sim, f.num_gt_ids, threshold,
        counts)
    res.update(CLR_TP=int(counts[0]), CLR_FN=int(counts[1]), CLR_FP=int(counts[2]),
               IDSW=int(counts[3]), MOTP_sum=motp_sum)
    ratio = matched_count[gt_count > 0] / gt_count[gt_count > 0]
    res["MT"] = int(np.sum(ratio > 0.8))
    res["PT"] = int(np.sum(ratio >= 0.2)) - res["MT"]
    res["ML"] = f.num_gt_ids - res["MT"] - res["PT"]
    res["Frag"] = int(np.sum(frag[frag > 0] - 1))
    return res


@numba.njit(cache=True, nogil=True)
def _id_counts_kernel(g_start, gt_ids, r_start, tr_ids, s_start, sim, threshold, potential,
                      gt_count, tr_count):
    for t in range(g_start.shape[0] - 1):
        g = gt_ids[g_start[t]:g_start[t + 1]]
        r = tr_ids[r_start[t]:r_start[t + 1]]
        s = sim[s_start[t]:s_start[t + 1]].reshape(g.shape[0], r.shape[0])
        for i in range(g.shape[0]):
            gt_count[g[i]] += 1
            for j in range(r.shape[0]):
                if s[i, j] >= threshold:
                    potential[g[i], r[j]] += 1
        for j in range(r.shape[0]):
            tr_count[r[j]] += 1


def identity_counts(f: Frames, threshold: float = 0.5) -> dict:
    """IDTP, IDFN, IDFP from the global id assignment."""
    if f.num_tr_dets == 0:
        return {"IDTP": 0, "IDFN": f.num_gt_dets, "IDFP": 0}
    if f.num_gt_dets == 0:
        return {"IDTP": 0, "IDFN": 0, "IDFP": f.num_tr_dets}
    ng, nt = f.num_gt_ids, f.num_tr_ids
    potential = np.zeros((ng, nt))
    gt_count, tr_count = np.zeros(ng), np.zeros(nt)
    _id_counts_kernel(f.g_start, f.gt_ids, f.r_start, f.tr_ids, f.s_start, f.sim, threshold,
                      potential, gt_count, tr_count)
    fp = np.zeros((ng + nt, ng + nt))
    fn = np.zeros((ng + nt, ng + nt))
    fp[ng:, :nt] = 1e10
    fn[:ng, nt:] = 1e10
    fn[:ng, :nt] = gt_count[:, None]
    fn[np.arange(ng), nt + np.arange(ng)] = gt_count
    fp[:ng, :nt] = tr_count[None, :]
    fp[ng + np.arange(nt), np.arange(nt)] = tr_count
    fn[:ng, :nt] -= potential
    fp[:ng, :nt] -= potential
    rows, cols = linear_sum_assignment(fn + fp)
    idfn = int(fn[rows, cols].sum())
    idfp = int(fp[rows, cols].sum())
    return {"IDTP": int(gt_count.sum() - idfn), "IDFN": idfn, "IDFP": idfp}


@numba.njit(cache=True, nogil=True)
def _hota_kernel(g_start, gt_ids, r_start, tr_ids, s_start, sim, ng, nt, alphas, tp, fn, fp,
                 loca, matches):
    """TrackEval's two HOTA passes; returns (gt_count [ng, 1], tr_count [1, nt])."""
    eps = np.finfo(np.float64).eps
    potential = np.zeros((ng, nt))
    gt_count = np.zeros((ng, 1))
    tr_count = np.zeros((1, nt))
    n_frames = g_start.shape[0] - 1
    for t in range(n_frames):
        g = gt_ids[g_start[t]:g_start[t + 1]]
        r = tr_ids[r_start[t]:r_start[t + 1]]
        s = sim[s_start[t]:s_start[t + 1]].reshape(g.shape[0], r.shape[0])
        col_sum = s.sum(axis=0)
        row_sum = s.sum(axis=1)
        for i in range(g.shape[0]):
            for j in range(r.shape[0]):
                denom = col_sum[j] + row_sum[i] - s[i, j]
                if denom > 0 + eps:
                    potential[g[i], r[j]] += s[i, j] / denom
        for i in range(g.shape[0]):
            gt_count[g[i], 0] += 1
        for j in range(r.shape[0]):
            tr_count[0, r[j]] += 1
    alignment = potential / (gt_count + tr_count - potential)
    for t in range(n_frames):
        g = gt_ids[g_start[t]:g_start[t + 1]]
        r = tr_ids[r_start[t]:r_start[t + 1]]
        n_g, n_r = g.shape[0], r.shape[0]
        if n_g == 0:
            fp += n_r
            continue
        if n_r == 0:
            fn += n_g
            continue
        s = sim[s_start[t]:s_start[t + 1]].reshape(n_g, n_r)
        score = np.empty((n_g, n_r))
        for i in range(n_g):
            for j in range(n_r):
                score[i, j] = -(alignment[g[i], r[j]] * s[i, j])
        rows, cols = linear_sum_assignment_min(score)
        for a in range(alphas.shape[0]):
            k = 0
            frame_sum = 0.0
            for m in range(rows.shape[0]):
                v = s[rows[m], cols[m]]
                if v >= alphas[a] - eps:
                    k += 1
                    frame_sum += v
                    matches[a, g[rows[m]], r[cols[m]]] += 1
            tp[a] += k
            fn[a] += n_g - k
            fp[a] += n_r - k
            if k > 0:
                loca[a] += frame_sum
    return gt_count, tr_count


def hota_counts(f: Frames) -> dict:
    """HOTA_TP/FN/FP, AssA/AssRe/AssPr and LocA per alpha (arrays of 19)."""
    n = len(ALPHAS)
    res = {k: np.zeros(n) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP", "AssA", "AssRe", "AssPr",
                                    "LocA")}
    if f.num_tr_dets == 0 or f.num_gt_dets == 0:
        res["HOTA_FN"][:] = f.num_gt_dets
        res["HOTA_FP"][:] = f.num_tr_dets
        res["LocA"][:] = 1.0
        return res
    matches = np.zeros((n, f.num_gt_ids, f.num_tr_ids))
    gt_count, tr_count = _hota_kernel(f.g_start, f.gt_ids, f.r_start, f.tr_ids, f.s_start,
                                      f.sim, f.num_gt_ids, f.num_tr_ids, ALPHAS, res["HOTA_TP"],
                                      res["HOTA_FN"], res["HOTA_FP"], res["LocA"], matches)
    for a in range(n):
        m = matches[a]
        tp = np.maximum(1, res["HOTA_TP"][a])
        res["AssA"][a] = np.sum(m * (m / np.maximum(1, gt_count + tr_count - m))) / tp
        res["AssRe"][a] = np.sum(m * (m / np.maximum(1, gt_count))) / tp
        res["AssPr"][a] = np.sum(m * (m / np.maximum(1, tr_count))) / tp
    res["LocA"] = np.maximum(1e-10, res["LocA"]) / np.maximum(1e-10, res["HOTA_TP"])
    return res


@dataclass
class SequenceCounts:
    """The additive results of one sequence (what combining needs)."""

    clear: dict
    identity: dict
    hota: dict
    count: dict


def sequence_counts(gt: np.ndarray, res: np.ndarray, length: int, benchmark: str = "MOT17",
                    gt_source: str | os.PathLike = "") -> SequenceCounts:
    f = preprocess(gt, res, length, benchmark, gt_source)
    count = {"Dets": f.num_tr_dets, "GT_Dets": f.num_gt_dets, "IDs": f.num_tr_ids,
             "GT_IDs": f.num_gt_ids}
    return SequenceCounts(clear_counts(f), identity_counts(f), hota_counts(f), count)


def _final(c: SequenceCounts) -> dict[str, float]:
    """TrackEval's ``_compute_final_fields`` of the three metrics, in summary units."""
    cl, idn, h = dict(c.clear), c.identity, dict(c.hota)
    tp, fn, fp = cl["CLR_TP"], cl["CLR_FN"], cl["CLR_FP"]
    gt_ids = cl["MT"] + cl["ML"] + cl["PT"]
    out = {
        "MOTA": (tp - fp - cl["IDSW"]) / max(1.0, tp + fn),
        "MOTP": cl["MOTP_sum"] / max(1.0, tp),
        "MODA": (tp - fp) / max(1.0, tp + fn),
        "CLR_Re": tp / max(1.0, tp + fn), "CLR_Pr": tp / max(1.0, tp + fp),
        "MTR": cl["MT"] / max(1.0, gt_ids), "PTR": cl["PT"] / max(1.0, gt_ids),
        "MLR": cl["ML"] / max(1.0, gt_ids),
        "sMOTA": (cl["MOTP_sum"] - fp - cl["IDSW"]) / max(1.0, tp + fn),
        "IDR": idn["IDTP"] / max(1.0, idn["IDTP"] + idn["IDFN"]),
        "IDP": idn["IDTP"] / max(1.0, idn["IDTP"] + idn["IDFP"]),
        "IDF1": idn["IDTP"] / max(1.0, idn["IDTP"] + 0.5 * idn["IDFP"] + 0.5 * idn["IDFN"]),
    }
    det_re = h["HOTA_TP"] / np.maximum(1, h["HOTA_TP"] + h["HOTA_FN"])
    det_pr = h["HOTA_TP"] / np.maximum(1, h["HOTA_TP"] + h["HOTA_FP"])
    det_a = h["HOTA_TP"] / np.maximum(1, h["HOTA_TP"] + h["HOTA_FN"] + h["HOTA_FP"])
    hota = np.sqrt(det_a * h["AssA"])
    arrays = {"HOTA": hota, "DetA": det_a, "AssA": h["AssA"], "DetRe": det_re, "DetPr": det_pr,
              "AssRe": h["AssRe"], "AssPr": h["AssPr"], "LocA": h["LocA"],
              "OWTA": np.sqrt(det_re * h["AssA"])}
    out.update({k: float(np.mean(v)) for k, v in arrays.items()})
    out["HOTA(0)"] = float(hota[0])
    out["LocA(0)"] = float(h["LocA"][0])
    out["HOTALocA(0)"] = float(hota[0] * h["LocA"][0])
    if cl.get("empty"):
        for k in ("MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MTR", "PTR", "sMOTA"):
            out[k] = 0.0
        out["MLR"] = 1.0
    result = {k: 100 * v for k, v in out.items()}
    result.update({k: int(cl[k]) for k in ("CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT",
                                           "ML", "Frag")})
    result.update({k: int(idn[k]) for k in ("IDTP", "IDFN", "IDFP")})
    result.update(c.count)
    result["FP"], result["FN"] = result["CLR_FP"], result["CLR_FN"]
    return {k: result[k] for k in [*SUMMARY, "FP", "FN"]}


def combine(parts: list[SequenceCounts]) -> SequenceCounts:
    """TrackEval's ``combine_sequences``: sums, and HOTA_TP-weighted association and LocA."""
    def total(key, field):
        return sum(getattr(p, key)[field] for p in parts)

    clear = {k: total("clear", k) for k in parts[0].clear if k != "empty"}
    identity = {k: total("identity", k) for k in parts[0].identity}
    count = {k: total("count", k) for k in parts[0].count}
    hota = {k: total("hota", k) for k in ("HOTA_TP", "HOTA_FN", "HOTA_FP")}
    weight = np.maximum(1.0, hota["HOTA_TP"])
    for k in ("AssRe", "AssPr", "AssA"):
        hota[k] = sum(p.hota[k] * p.hota["HOTA_TP"] for p in parts) / weight
    loca = sum(p.hota["LocA"] * p.hota["HOTA_TP"] for p in parts)
    hota["LocA"] = np.maximum(1e-10, loca) / np.maximum(1e-10, hota["HOTA_TP"])
    return SequenceCounts(clear, identity, hota, count)


def evaluate_sequence(gt: np.ndarray, res: np.ndarray, length: int, benchmark: str = "MOT17"
                      ) -> dict[str, float]:
    """Every metric of one sequence: ground truth [N, 8-10] and results [M, 7-10] rows in
    MOTChallenge's columns (checked here as the readers check files), ``length`` = seqLength."""
    check_table(gt, "gt", length)
    check_table(res, "results", length)
    return _final(sequence_counts(gt, res, length, benchmark))


@dataclass
class GroundTruth:
    """One sequence's checked ground truth: ``rows`` from :func:`~cvcore.mot.read_gt`."""

    name: str
    path: Path
    length: int
    rows: np.ndarray


def load_ground_truth(folders: list[Path], benchmark: str = "MOT17") -> list[GroundTruth]:
    """``<SEQ>/gt/gt.txt`` and ``<SEQ>/seqinfo.ini`` of sequence ``folders`` (from
    :func:`~cvcore.mot.select_sequences`), read and checked: either file missing is an error."""
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
    parts, out = [], {}
    for g, path in zip(ground_truth, files, strict=True):
        part = sequence_counts(g.rows, read_results(path, g.length), g.length, benchmark,
                               g.path)
        parts.append(part)
        out[g.name] = _final(part)
    out["COMBINED"] = _final(combine(parts))
    return out


def format_table(metrics: dict[str, dict[str, float]],
                 columns: tuple[str, ...] = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP",
                                             "IDF1", "IDP", "IDR", "IDSW", "FP", "FN", "MT",
                                             "PT", "ML", "Frag")) -> str:
    """A MOTChallenge-style table: one row per sequence, then COMBINED."""
    width = max(12, *(len(s) for s in metrics))
    lines = [f"{'Sequence':<{width}}" + "".join(f"{c:>9}" for c in columns)]
    for seq, m in metrics.items():
        cells = "".join(f"{m[c]:>9.3f}" if c in PERCENT else f"{int(m[c]):>9d}" for c in columns)
        lines.append(f"{seq:<{width}}" + cells)
    return "\n".join(lines)


def parse_args(argv=None, prog: str = "python -m cvcore.motmetrics") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="HOTA, CLEAR and Identity, TrackEval's numbers.")
    parser.add_argument("--gt-root", type=Path, required=True,
                        help="folder of sequences (<SEQ>/gt/gt.txt, <SEQ>/seqinfo.ini)")
    parser.add_argument("--results", type=Path, required=True, help="folder of <SEQ>.txt")
    parser.add_argument("--benchmark", choices=BENCHMARKS, default="MOT17")
    parser.add_argument("--seqs", nargs="*", help="only these sequences")
    parser.add_argument("--json", type=Path, help="write all metrics here")
    return parser.parse_args(argv)


def main(args: argparse.Namespace) -> None:
    from ..atomic import write_json
    from ..runs import check_output_path

    check_output_path(args.json)
    metrics = evaluate(args.gt_root, args.results, args.benchmark, args.seqs)
    print(format_table(metrics))
    if args.json:
        write_json(args.json, metrics)


def cli(argv=None, prog: str = "python -m cvcore.motmetrics") -> None:
    """The command line: ``python -m cvcore.motmetrics`` and ``cvcore motmetrics``."""
    run_cli(lambda: main(parse_args(argv, prog)))


if __name__ == "__main__":
    cli()
