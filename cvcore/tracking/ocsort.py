"""OC-SORT (Cao et al., CVPR 2023) with the reference tracker's semantics (``noahcao/OC_SORT``).

SORT's filter on (cx, cy, s, r) (:mod:`cvcore.tracking.kalman`), plus the paper's three
observation-centric pieces. Per frame, detections scoring above ``det_thresh`` are used:

1. every track is predicted (SORT's predict); a non-finite prediction deletes it;
2. **OCM**: association maximises IoU(det, prediction) + ``inertia`` * score(det) *
   (pi/2 - |angle between the track's velocity direction and the direction from its
   observation ``delta_t`` frames back to the detection|) / pi (:func:`direction_cost`), with
   SORT's one-to-one shortcut and IoU floor ``iou_thresh`` (:func:`cvcore.tracking.sort.associate`);
   the velocity direction is that of the centres from the observation ``delta_t`` frames before
   (or the nearest later one, or the last) to the newest;
3. **OCR**: still unmatched detections and tracks are matched on IoU with the tracks' *last
   observations* (maximum IoU assignment, pairs >= ``iou_thresh``), if any IoU exceeds it;
4. **ORU**: a track matched after frames without observations first returns to its state at the
   first missed frame and is re-updated along a virtual trajectory, linear in (cx, cy, w, h),
   from its last observation to the new one (:func:`reupdate`, one update per missed frame
   with a predict between), then corrected with the detection as usual (the reference applies
   the new observation twice, and so does this);
5. unmatched detections start tracks; tracks matched in this frame whose hit streak reaches
   ``min_hits`` (or in the first ``min_hits`` frames) are output with their last observation's
   box; tracks unmatched for more than ``max_age`` frames (at 30 fps, scaled by the frame
   rate) are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from ..boxes import iou_tlbr
from . import kalman
from .sort import TrackBox, associate, clean_detections, max_frames, max_gain_pairs, track_boxes

NO_BOX = np.full(5, -1.0)  # the reference's "no observation" (x1, y1, x2, y2, score)


@dataclass
class OCSORTConfig:
    """OC-SORT's settings, the paper's defaults (``track.py``'s options read them here)."""

    det_thresh: float = 0.6
    max_age: int = 30
    min_hits: int = 3
    iou_thresh: float = 0.3
    delta_t: int = 3
    inertia: float = 0.2
    frame_rate: float = 30.0


@dataclass(eq=False)
class _History:
    """A track's observation bookkeeping that is not an array column of the tracker."""

    observations: dict = field(default_factory=dict)  # age -> observation [5]
    observed: bool = False                             # matched in its latest frame
    frozen: tuple | None = None                        # (mean, cov) at the first missed frame
    z_last: np.ndarray | None = None                   # last observation as (cx, cy, s, r)

    def previous(self, age: int, delta_t: int) -> np.ndarray:
        """The observation ``delta_t`` frames before ``age``, else the nearest later one, else
        the newest, else NO_BOX (the reference's k_previous_obs)."""
        if not self.observations:
            return NO_BOX
        for dt in range(delta_t, 0, -1):
            box = self.observations.get(age - dt)
            if box is not None:
                return box
        return self.observations[max(self.observations)]


def centre_direction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unit (dy, dx) from the centres of boxes ``a`` [..., 4+] to ``b`` (+1e-6 in the norm)."""
    dx = (b[..., 0] + b[..., 2]) / 2.0 - (a[..., 0] + a[..., 2]) / 2.0
    dy = (b[..., 1] + b[..., 3]) / 2.0 - (a[..., 1] + a[..., 3]) / 2.0
    norm = np.sqrt(dx ** 2 + dy ** 2) + 1e-6
    return np.stack([dy / norm, dx / norm], axis=-1)


def direction_cost(dets: np.ndarray, scores: np.ndarray, previous: np.ndarray,
                   velocity: np.ndarray, inertia: float) -> np.ndarray:
    """OCM's gain [D, T]: inertia * score * (pi/2 - |acos(v . u)|) / pi, where v [T, 2] is a
    track's velocity direction and u the direction from its ``previous`` observation [T, 5]
    to each detection (dets [D, 4+]); 0 for tracks without an observation (previous score
    < 0). The reference's batch formula, element by element in one kernel."""
    out = np.empty((len(dets), len(previous)))
    _direction_cost_kernel(np.ascontiguousarray(dets[:, :4], np.float64),
                           np.ascontiguousarray(scores, np.float64),
                           np.ascontiguousarray(previous, np.float64),
                           np.ascontiguousarray(velocity, np.float64), float(inertia), out)
    return out


@numba.njit(cache=True, nogil=True)
def _direction_cost_kernel(dets, scores, previous, velocity, inertia, out):
    for t in range(previous.shape[0]):
        valid = previous[t, 4] >= 0
        px = (previous[t, 0] + previous[t, 2]) / 2.0
        py = (previous[t, 1] + previous[t, 3]) / 2.0
        for d in range(dets.shape[0]):
            if not valid:
                out[d, t] = 0.0
                continue
            dx = (dets[d, 0] + dets[d, 2]) / 2.0 - px
            dy = (dets[d, 1] + dets[d, 3]) / 2.0 - py
            norm = np.sqrt(dx ** 2 + dy ** 2) + 1e-6
            cos = velocity[t, 1] * (dx / norm) + velocity[t, 0] * (dy / norm)
            cos = min(max(cos, -1.0), 1.0)
            angle = (np.pi / 2.0 - abs(np.arccos(cos))) / np.pi
            out[d, t] = angle * inertia * scores[d]


def reupdate(mean: np.ndarray, cov: np.ndarray, z1: np.ndarray, z2: np.ndarray,
             gap: int) -> tuple[np.ndarray, np.ndarray]:
    """ORU: from the state (mean [7], cov [7, 7]) frozen at the first missed frame, update
    with the virtual observations of ``gap`` frames (cx, cy, w, h linear from ``z1`` to
    ``z2``, both (cx, cy, s, r)), predicting between them (filterpy predict, no clamp)."""
    def cxcywh(z):
        return np.array([z[0], z[1], np.sqrt(z[2] * z[3]), np.sqrt(z[2] / z[3])])

    a, b = cxcywh(z1), cxcywh(z2)
    step = (b - a) / gap
    mean, cov = mean[None], cov[None]
    for i in range(gap):
        x, y, w, h = a + (i + 1) * step
        mean, cov = kalman.sort_update(mean, cov, np.array([[x, y, w * h, w / h]]))
        if i != gap - 1:
            mean, cov = kalman.sort_predict(mean, cov, clamp=False)
    return mean[0], cov[0]


class OCSORTTracker:
    """Call :meth:`update` once per frame; it returns the tracks output in that frame.

    Per-track numbers are array columns (one row per track); observation histories are
    :class:`_History` objects in the same order."""

    def __init__(self, config: OCSORTConfig | None = None):
        self.cfg = config or OCSORTConfig()
        self.max_age = max_frames(self.cfg.max_age, self.cfg.frame_rate)
        self.mean = np.zeros((0, 7))
        self.cov = np.zeros((0, 7, 7))
        self.ids = np.zeros(0, np.int64)
        self.age = np.zeros(0, np.int64)
        self.since_update = np.zeros(0, np.int64)
        self.streak = np.zeros(0, np.int64)
        self.last = np.zeros((0, 5))        # last observation (x1, y1, x2, y2, score) or NO_BOX
        self.velocity = np.zeros((0, 2))    # unit (dy, dx); 0 until two observations
        self.score = np.zeros(0)
        self.history: list[_History] = []
        self.frame = 0
        self.next_id = 1

    _COLUMNS = ("mean", "cov", "ids", "age", "since_update", "streak", "last", "velocity",
                "score")

    def _keep(self, keep: np.ndarray) -> None:
        if keep.all():
            return
        for name in self._COLUMNS:
            setattr(self, name, getattr(self, name)[keep])
        self.history = [h for h, k in zip(self.history, keep, strict=True) if k]

    def _add(self, tlbr: np.ndarray, scores: np.ndarray) -> None:
        n = len(scores)
        mean, cov = kalman.sort_initiate(kalman.tlbr_to_xysr(tlbr))
        new = {"mean": mean, "cov": cov, "ids": np.arange(n) + self.next_id,
               "age": np.zeros(n, np.int64), "since_update": np.zeros(n, np.int64),
               "streak": np.zeros(n, np.int64), "last": np.tile(NO_BOX, (n, 1)),
               "velocity": np.zeros((n, 2)), "score": scores}
        for name in self._COLUMNS:
            setattr(self, name, np.concatenate([getattr(self, name), new[name]]))
        self.history += [_History() for _ in range(n)]
        self.next_id += n

    def _correct(self, trk: np.ndarray, dets: np.ndarray) -> None:
        """Kalman update of tracks ``trk`` with detections ``dets`` [K, 5] (ORU first where a
        track had missed frames), and the reference's observation bookkeeping."""
        if not len(trk):
            return
        z = kalman.tlbr_to_xysr(dets[:, :4])
        seen = self.last[trk].sum(1) >= 0  # the reference's test for "has an observation"
        if seen.any():
            prev = np.array([self.history[i].previous(self.age[i], self.cfg.delta_t)
                             for i in trk[seen]])
            self.velocity[trk[seen]] = centre_direction(prev, dets[seen])
        for k, i in enumerate(trk):
            h = self.history[i]
            if not h.observed and h.frozen is not None:
                self.mean[i], self.cov[i] = reupdate(*h.frozen, h.z_last, z[k],
                                                     self.since_update[i])
            h.observed, h.frozen, h.z_last = True, None, z[k]
            h.observations[self.age[i]] = dets[k]
        self.last[trk], self.score[trk] = dets, dets[:, 4]
        self.since_update[trk] = 0
        self.streak[trk] += 1
        self.mean[trk], self.cov[trk] = kalman.sort_update(self.mean[trk], self.cov[trk], z)

    def update(self, tlbr: np.ndarray, scores: np.ndarray) -> list[TrackBox]:
        """One frame: detections ``tlbr`` float[N, 4] (x1, y1, x2, y2) with ``scores`` [N]."""
        cfg = self.cfg
        self.frame += 1
        tlbr, scores = clean_detections(tlbr, scores, cfg.det_thresh)
        dets = np.column_stack([tlbr, scores])
        predicted = np.zeros((0, 4))
        if len(self.ids):
            self.mean, self.cov = kalman.sort_predict(self.mean, self.cov)
            self.age += 1
            self.streak[self.since_update > 0] = 0
            self.since_update += 1
            predicted = kalman.xysr_to_tlbr(self.mean[:, :4])
            finite = np.isfinite(predicted).all(1)
            self._keep(finite)
            predicted = predicted[finite]
        previous = np.array([h.previous(a, cfg.delta_t)
                             for h, a in zip(self.history, self.age, strict=True)]
                            ).reshape(-1, 5)
        iou = iou_tlbr(tlbr, predicted, pixel=0.0)
        extra = direction_cost(dets, scores, previous, self.velocity, cfg.inertia)
        pairs, free_det, free_trk = associate(iou, cfg.iou_thresh, extra)
        self._correct(pairs[:, 1], dets[pairs[:, 0]])
        # OCR: the leftovers against the tracks' last observations.
        if len(free_det) and len(free_trk):
            iou_last = iou_tlbr(tlbr[free_det], self.last[free_trk, :4], pixel=0.0)
            if iou_last.max() > cfg.iou_thresh:
                again = max_gain_pairs(iou_last)
                again = again[iou_last[again[:, 0], again[:, 1]] >= cfg.iou_thresh]
                self._correct(free_trk[again[:, 1]], dets[free_det[again[:, 0]]])
                free_det = np.setdiff1d(free_det, free_det[again[:, 0]])
                free_trk = np.setdiff1d(free_trk, free_trk[again[:, 1]])
        for i in free_trk:  # the reference's update(None): freeze at the first miss
            h = self.history[i]
            if h.observed:
                h.frozen = (self.mean[i].copy(), self.cov[i].copy())
            h.observed = False
        if len(free_det):
            self._add(tlbr[free_det], scores[free_det])
        show = (self.since_update < 1) & ((self.streak >= cfg.min_hits)
                                          | (self.frame <= cfg.min_hits))
        boxes = self.last[show, :4].copy()
        unseen = self.last[show].sum(1) < 0  # never observed since created: the Kalman box
        if unseen.any():
            boxes[unseen] = kalman.xysr_to_tlbr(self.mean[show][unseen, :4])
        out = track_boxes(self.ids[show], boxes, self.score[show])
        self._keep(self.since_update <= self.max_age)
        return out
