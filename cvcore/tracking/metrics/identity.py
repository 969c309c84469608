"""TrackEval's ``Identity``: IDF1, IDR, IDP and IDTP / IDFN / IDFP.

One global assignment (Hungarian) between ground-truth and tracker ids minimising IDFN + IDFP,
where a ground-truth id and a tracker id agree in the frames in which their boxes' IoU reaches
the threshold (0.5).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.optimize import linear_sum_assignment

from .base import Frames, Metric


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


class Identity(Metric):
    name = "Identity"
    float_fields = ("IDF1", "IDR", "IDP")
    integer_fields = ("IDTP", "IDFN", "IDFP")

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def counts(self, f: Frames) -> dict:
        """IDTP, IDFN, IDFP from the global id assignment."""
        if f.num_tr_dets == 0:
            return {"IDTP": 0, "IDFN": f.num_gt_dets, "IDFP": 0}
        if f.num_gt_dets == 0:
            return {"IDTP": 0, "IDFN": 0, "IDFP": f.num_tr_dets}
        ng, nt = f.num_gt_ids, f.num_tr_ids
        potential = np.zeros((ng, nt))
        gt_count, tr_count = np.zeros(ng), np.zeros(nt)
        _id_counts_kernel(f.g_start, f.gt_ids, f.r_start, f.tr_ids, f.s_start, f.sim,
                          self.threshold, potential, gt_count, tr_count)
        # TrackEval's cost matrices: rows are ground-truth ids then one dummy per tracker id,
        # columns tracker ids then one dummy per ground-truth id; an id left unmatched takes its
        # own dummy (cost: all its boxes), and 1e10 forbids every other dummy.
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

    def final(self, counts: dict, empty: bool) -> dict[str, float]:
        """TrackEval's ``_compute_final_fields`` (its empty-sequence defaults, all 0, are what
        the formulas give)."""
        tp, fn, fp = counts["IDTP"], counts["IDFN"], counts["IDFP"]
        return {"IDF1": tp / max(1.0, tp + 0.5 * fp + 0.5 * fn),
                "IDR": tp / max(1.0, tp + fn), "IDP": tp / max(1.0, tp + fp),
                "IDTP": int(tp), "IDFN": int(fn), "IDFP": int(fp)}
