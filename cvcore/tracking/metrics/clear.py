"""TrackEval's ``CLEAR``: MOTA, MOTP, MODA, sMOTA, recall / precision, MT / PT / ML, IDSW, Frag.

Per frame, Hungarian matching on IoU (pairs below the threshold, 0.5, cannot match) with a bonus
of 1000 for continuing last frame's pairing; an IDSW is a match to another tracker id than the
ground-truth id's last matched one; MT / PT / ML at > 80% / >= 20% / < 20% of a ground-truth
id's frames matched; Frag counts the restarts of a ground-truth id's matching.
"""

from __future__ import annotations

import numba
import numpy as np

from ..assignment import linear_sum_assignment_min
from .base import Frames, Metric


@numba.njit(cache=True, nogil=True)
def _clear_kernel(g_start, gt_ids, r_start, tr_ids, s_start, sim, num_gt_ids, threshold, counts):
    """TrackEval's CLEAR loop. counts: int64[4] TP, FN, FP, IDSW; returns (MOTP_sum, gt_count,
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


class CLEAR(Metric):
    name = "CLEAR"
    float_fields = ("MOTA", "MOTP", "MODA", "CLR_Re", "CLR_Pr", "MTR", "PTR", "MLR", "sMOTA")
    integer_fields = ("CLR_TP", "CLR_FN", "CLR_FP", "IDSW", "MT", "PT", "ML", "Frag")
    aliases = {"FP": "CLR_FP", "FN": "CLR_FN"}  # the MOTChallenge table's names

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def counts(self, f: Frames) -> dict:
        """The integer fields, MOTP_sum (summed IoU of the matches) and CLR_Frames."""
        res = dict.fromkeys(self.integer_fields, 0)
        res["MOTP_sum"] = 0.0
        res["CLR_Frames"] = f.num_frames
        if f.num_tr_dets == 0:
            res.update(CLR_FN=f.num_gt_dets, ML=f.num_gt_ids)
            return res
        if f.num_gt_dets == 0:
            res.update(CLR_FP=f.num_tr_dets)
            return res
        counts = np.zeros(4, np.int64)
        motp_sum, gt_count, matched_count, frag = _clear_kernel(
            f.g_start, f.gt_ids, f.r_start, f.tr_ids, f.s_start, f.sim, f.num_gt_ids,
            self.threshold, counts)
        res.update(CLR_TP=int(counts[0]), CLR_FN=int(counts[1]), CLR_FP=int(counts[2]),
                   IDSW=int(counts[3]), MOTP_sum=motp_sum)
        ratio = matched_count[gt_count > 0] / gt_count[gt_count > 0]
        res["MT"] = int(np.sum(ratio > 0.8))
        res["PT"] = int(np.sum(ratio >= 0.2)) - res["MT"]
        res["ML"] = f.num_gt_ids - res["MT"] - res["PT"]
        res["Frag"] = int(np.sum(frag[frag > 0] - 1))
        return res

    def final(self, counts: dict, empty: bool) -> dict[str, float]:
        """TrackEval's ``_compute_final_fields``; an empty sequence keeps TrackEval's defaults
        instead (every ratio 0, MLR 1), where the formulas would give MOTA = -FP without ground
        truth."""
        out = {k: int(counts[k]) for k in self.integer_fields}
        if empty:
            return {**dict.fromkeys(self.float_fields, 0.0), "MLR": 1.0, **out}
        tp, fn, fp, idsw = counts["CLR_TP"], counts["CLR_FN"], counts["CLR_FP"], counts["IDSW"]
        gt_ids = counts["MT"] + counts["ML"] + counts["PT"]
        return {
            "MOTA": (tp - fp - idsw) / max(1.0, tp + fn),
            "MOTP": counts["MOTP_sum"] / max(1.0, tp),
            "MODA": (tp - fp) / max(1.0, tp + fn),
            "CLR_Re": tp / max(1.0, tp + fn), "CLR_Pr": tp / max(1.0, tp + fp),
            "MTR": counts["MT"] / max(1.0, gt_ids), "PTR": counts["PT"] / max(1.0, gt_ids),
            "MLR": counts["ML"] / max(1.0, gt_ids),
            "sMOTA": (counts["MOTP_sum"] - fp - idsw) / max(1.0, tp + fn),
            **out}
