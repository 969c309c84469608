"""What every MOT metric family is given and what it provides (TrackEval's ``_BaseMetric``).

A family scores one preprocessed sequence (:class:`Frames`) into additive *counts*, combines the
counts of several sequences, and turns counts into its *final* fields; the evaluation
(:mod:`cvcore.tracking.motmetrics`) runs every family of :data:`cvcore.tracking.metrics.FAMILIES`
and reports their summary fields in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


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

    @property
    def num_frames(self) -> int:
        return len(self.g_start) - 1

    @property
    def empty(self) -> bool:
        """No tracker box or no ground-truth box: TrackEval's metrics return their counts with
        default final fields before matching anything."""
        return self.num_tr_dets == 0 or self.num_gt_dets == 0


class Metric:
    """One family. ``float_fields`` are ratios (reported in percent by the evaluation),
    ``integer_fields`` counts, both in TrackEval's summary order; ``aliases`` are extra names
    for summary fields (reported after all families' fields).

    Subclasses implement :meth:`counts` and :meth:`final`; :meth:`combine` sums every count,
    which is TrackEval's ``combine_sequences`` for all families but HOTA.
    """

    name: ClassVar[str]
    float_fields: ClassVar[tuple[str, ...]] = ()
    integer_fields: ClassVar[tuple[str, ...]] = ()
    aliases: ClassVar[dict[str, str]] = {}

    @property
    def summary_fields(self) -> tuple[str, ...]:
        return self.float_fields + self.integer_fields

    def counts(self, f: Frames) -> dict:
        """The additive results of one sequence."""
        raise NotImplementedError

    def combine(self, parts: list[dict]) -> dict:
        """The counts of several sequences as one (TrackEval's ``combine_sequences``)."""
        return {k: sum(p[k] for p in parts) for k in parts[0]}

    def final(self, counts: dict, empty: bool) -> dict[str, float]:
        """Every summary field from ``counts`` in TrackEval's units (ratios as fractions).
        ``empty`` (:attr:`Frames.empty`, False for a combination) selects TrackEval's
        early-return defaults where they differ from the formulas."""
        raise NotImplementedError
