"""TrackEval's ``Count``: boxes and ids of the tracker and of the ground truth."""

from __future__ import annotations

from .base import Frames, Metric


class Count(Metric):
    name = "Count"
    integer_fields = ("Dets", "GT_Dets", "IDs", "GT_IDs")

    def counts(self, f: Frames) -> dict:
        return {"Dets": f.num_tr_dets, "GT_Dets": f.num_gt_dets, "IDs": f.num_tr_ids,
                "GT_IDs": f.num_gt_ids}

    def final(self, counts: dict, empty: bool) -> dict[str, float]:
        return dict(counts)
