"""TrackEval's ``HOTA`` (Luiten et al., IJCV 2021): HOTA, DetA, AssA, DetRe / DetPr, AssRe / AssPr,
LocA, OWTA, each the mean over the 19 thresholds alpha = 0.05..0.95, and HOTA(0), LocA(0).

Per frame, Hungarian matching on IoU weighted by the global alignment of the two ids (their
IoU-weighted co-occurrence over the sequence); for each alpha the matches with IoU >= alpha are
true positives. Combining sequences sums the counts and averages AssA, AssRe, AssPr and LocA
weighted by HOTA_TP.
"""

from __future__ import annotations

import numba
import numpy as np

from ..assignment import linear_sum_assignment_min
from .base import Frames, Metric

ALPHAS = np.arange(0.05, 0.99, 0.05)
_SUMMED = ("HOTA_TP", "HOTA_FN", "HOTA_FP")


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


class HOTA(Metric):
    name = "HOTA"
    float_fields = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA",
                    "HOTA(0)", "LocA(0)", "HOTALocA(0)")

    def counts(self, f: Frames) -> dict:
        """HOTA_TP/FN/FP, AssA/AssRe/AssPr and LocA per alpha (arrays of 19)."""
        n = len(ALPHAS)
        res = {k: np.zeros(n) for k in (*_SUMMED, "AssA", "AssRe", "AssPr", "LocA")}
        if f.empty:
            res["HOTA_FN"][:] = f.num_gt_dets
            res["HOTA_FP"][:] = f.num_tr_dets
            res["LocA"][:] = 1.0
            return res
        matches = np.zeros((n, f.num_gt_ids, f.num_tr_ids))
        gt_count, tr_count = _hota_kernel(f.g_start, f.gt_ids, f.r_start, f.tr_ids, f.s_start,
                                          f.sim, f.num_gt_ids, f.num_tr_ids, ALPHAS,
                                          res["HOTA_TP"], res["HOTA_FN"], res["HOTA_FP"],
                                          res["LocA"], matches)
        for a in range(n):
            m = matches[a]
            tp = np.maximum(1, res["HOTA_TP"][a])
            res["AssA"][a] = np.sum(m * (m / np.maximum(1, gt_count + tr_count - m))) / tp
            res["AssRe"][a] = np.sum(m * (m / np.maximum(1, gt_count))) / tp
            res["AssPr"][a] = np.sum(m * (m / np.maximum(1, tr_count))) / tp
        res["LocA"] = np.maximum(1e-10, res["LocA"]) / np.maximum(1e-10, res["HOTA_TP"])
        return res

    def combine(self, parts: list[dict]) -> dict:
        """Sums, and the association scores and LocA averaged weighted by HOTA_TP."""
        res = {k: sum(p[k] for p in parts) for k in _SUMMED}
        weight = np.maximum(1.0, res["HOTA_TP"])
        for k in ("AssRe", "AssPr", "AssA"):
            res[k] = sum(p[k] * p["HOTA_TP"] for p in parts) / weight
        loca = sum(p["LocA"] * p["HOTA_TP"] for p in parts)
        res["LocA"] = np.maximum(1e-10, loca) / np.maximum(1e-10, res["HOTA_TP"])
        return res

    def final(self, counts: dict, empty: bool) -> dict[str, float]:
        """TrackEval's ``_compute_final_fields``, arrays reported as their mean over alpha (its
        empty-sequence defaults, all 0 but LocA = 1, are what the formulas give)."""
        tp, fn, fp = counts["HOTA_TP"], counts["HOTA_FN"], counts["HOTA_FP"]
        det_re = tp / np.maximum(1, tp + fn)
        det_pr = tp / np.maximum(1, tp + fp)
        det_a = tp / np.maximum(1, tp + fn + fp)
        hota = np.sqrt(det_a * counts["AssA"])
        arrays = {"HOTA": hota, "DetA": det_a, "AssA": counts["AssA"], "DetRe": det_re,
                  "DetPr": det_pr, "AssRe": counts["AssRe"], "AssPr": counts["AssPr"],
                  "LocA": counts["LocA"], "OWTA": np.sqrt(det_re * counts["AssA"])}
        out = {k: float(np.mean(v)) for k, v in arrays.items()}
        out["HOTA(0)"] = float(hota[0])
        out["LocA(0)"] = float(counts["LocA"][0])
        out["HOTALocA(0)"] = float(hota[0] * counts["LocA"][0])
        return out
