"""ByteTrack (Zhang et al., ECCV 2022) with the official tracker's semantics.

Per frame, detections (x1, y1, x2, y2, score) are split at ``track_thresh``: high ones above it,
low ones in (0.1, track_thresh). Then, as ``yolox/tracker/byte_tracker.py`` does:

1. tracked (confirmed) and lost tracks are predicted with the Kalman filter (batched), matched to
   the high detections on 1 - IoU, the IoU multiplied by the detection score unless ``mot20``,
   by LAPJV (``lap.lapjv``, extended, cost limit ``match_thresh``); lost tracks that match are
   re-found;
2. the still unmatched *tracked* tracks are matched to the low detections at cost limit 0.5;
   those left over become lost;
3. unconfirmed tracks (seen in one frame only, not predicted) are matched to the remaining high
   detections at 0.7 (score-fused); unmatched ones are removed;
4. remaining high detections above ``track_thresh + 0.1`` start new tracks (confirmed at once in
   the first frame, otherwise when matched again);
5. lost tracks older than ``int(frame_rate / 30 * track_buffer)`` frames are removed, and a track
   both tracked and lost (IoU > 0.85) is kept only where it lived longer.

IoUs use the official ``cython_bbox`` convention (+1 pixel in widths and heights), computed by a
Numba kernel. :func:`output_filter` is the official demo's output rule: drop boxes with area
<= ``min_box_area`` or width / height > ``aspect_ratio_thresh`` (1.6, for pedestrians).
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np

from ..boxes import iou_tlbr
from . import kalman

TRACKED, LOST, REMOVED = 1, 2, 3


# The official demo's output rule (see output_filter), for pedestrians.
MIN_BOX_AREA = 10.0
ASPECT_RATIO_THRESH = 1.6


@dataclass
class ByteTrackConfig:
    """The tracker's thresholds and their defaults, the official ones (``track.py``'s options
    read them here); ``frame_rate`` scales ``track_buffer`` (frames at 30 fps)."""

    track_thresh: float = 0.5
    low_thresh: float = 0.1
    match_thresh: float = 0.8
    track_buffer: int = 30
    mot20: bool = False
    frame_rate: float = 30.0
    new_track_thresh: float | None = None  # None: track_thresh + 0.1 (the official rule)


@dataclass(eq=False)
class Track:
    track_id: int
    mean: np.ndarray          # [8] Kalman state (x, y, a, h, vx, vy, va, vh)
    cov: np.ndarray           # [8, 8]
    score: float
    start_frame: int
    frame_id: int
    state: int = TRACKED
    activated: bool = False

    @property
    def tlwh(self) -> np.ndarray:
        x, y, a, h = self.mean[:4]
        w = a * h
        return np.array([x - w / 2, y - h / 2, w, h])

    @property
    def tlbr(self) -> np.ndarray:
        return self.boxes(self.mean[None, :4])[0]

    @staticmethod
    def boxes(state: np.ndarray) -> np.ndarray:
        """(x1, y1, x2, y2) [N, 4] of Kalman states' first four numbers [N, 4]."""
        return _xyah_to_tlbr(state)


def _xyah_to_tlbr(xyah: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) of Kalman (x, y, a, h) rows, as the official STrack.tlbr computes it."""
    out = np.empty((len(xyah), 4))
    w = xyah[:, 2] * xyah[:, 3]
    out[:, 0] = xyah[:, 0] - w / 2
    out[:, 1] = xyah[:, 1] - xyah[:, 3] / 2
    out[:, 2] = out[:, 0] + w
    out[:, 3] = out[:, 1] + xyah[:, 3]
    return out


def _tlbrs(items) -> np.ndarray:
    if not items:
        return np.zeros((0, 4))
    return type(items[0]).boxes(np.array([t.mean[:4] for t in items]))


def _assign(cost: np.ndarray, thresh: float):
    """LAPJV with a cost limit: (matches [K, 2], unmatched rows, unmatched columns)."""
    if cost.size == 0:
        return (np.zeros((0, 2), int), np.arange(cost.shape[0]), np.arange(cost.shape[1]))
    _, x, y = lap.lapjv(cost, extend_cost=True, cost_limit=thresh)
    matched = x >= 0
    rows = np.flatnonzero(matched)
    return np.stack((rows, x[rows]), axis=1), np.flatnonzero(~matched), np.flatnonzero(y < 0)


@dataclass
class Detections:
    tlbr: np.ndarray     # [N, 4]
    score: np.ndarray    # [N]

    def __len__(self) -> int:
        return len(self.score)

    def take(self, index) -> Detections:
        return Detections(self.tlbr[index], self.score[index])


class ByteTracker:
    """Call :meth:`update` once per frame; it returns the confirmed, tracked tracks.

    The Kalman model is a few overridable pieces (BoT-SORT's tracker changes them): the track
    class (its box conversion), ``_initiate``/``_kf_predict``/``_kf_update`` on tlwh
    measurements, the velocities zeroed for lost tracks, and ``_compensate`` (camera motion).
    """

    track_class = Track
    lost_frozen = [7]  # lost tracks keep their height: zero vh before predicting

    @staticmethod
    def _initiate(tlwh: np.ndarray):
        return kalman.initiate(kalman.tlwh_to_xyah(tlwh))

    @staticmethod
    def _kf_predict(mean: np.ndarray, cov: np.ndarray):
        return kalman.predict(mean, cov)

    @staticmethod
    def _kf_update(mean: np.ndarray, cov: np.ndarray, tlwh: np.ndarray):
        return kalman.update(mean, cov, kalman.tlwh_to_xyah(tlwh))

    def _compensate(self, tracks: list[Track], frame: np.ndarray | None) -> None:
        """Camera-motion compensation of predicted tracks (none in ByteTrack)."""

    def __init__(self, config: ByteTrackConfig | None = None):
        self.cfg = config or ByteTrackConfig()
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.frame_id = 0
        self.next_id = 1
        self.max_time_lost = int(self.cfg.frame_rate / 30.0 * self.cfg.track_buffer)

    def _cost(self, tracks: list[Track], dets: Detections, fuse: bool) -> np.ndarray:
        if not tracks or not len(dets):
            return np.empty((len(tracks), len(dets)))
        cost = 1.0 - iou_tlbr(_tlbrs(tracks), dets.tlbr)
        if fuse and not self.cfg.mot20:
            cost = 1.0 - (1.0 - cost) * dets.score[None, :]
        return cost

    def _correct(self, tracks: list[Track], dets: Detections) -> None:
        """Kalman update of ``tracks`` with their matched detections (batched)."""
        if not tracks:
            return
        tlwh = dets.tlbr.copy()
        tlwh[:, 2:] -= tlwh[:, :2]
        mean, cov = self._kf_update(np.array([t.mean for t in tracks]),
                                    np.array([t.cov for t in tracks]), tlwh)
        for t, m, c, s in zip(tracks, mean, cov, dets.score, strict=True):
            t.mean, t.cov, t.score = m, c, float(s)
            t.frame_id, t.state, t.activated = self.frame_id, TRACKED, True

    def _predict(self, tracks: list[Track]) -> None:
        if not tracks:
            return
        mean = np.array([t.mean for t in tracks])
        lost = np.array([i for i, t in enumerate(tracks) if t.state != TRACKED], np.int64)
        mean[np.ix_(lost, self.lost_frozen)] = 0
        mean, cov = self._kf_predict(mean, np.array([t.cov for t in tracks]))
        for t, m, c in zip(tracks, mean, cov, strict=True):
            t.mean, t.cov = m, c

    def update(self, tlbr: np.ndarray, scores: np.ndarray,
               frame: np.ndarray | None = None) -> list[Track]:
        """One frame: detections ``tlbr`` float[N, 4] (x1, y1, x2, y2) with ``scores`` [N];
        ``frame`` (BGR uint8 [H, W, 3]) is used by trackers that compensate camera motion."""
        self.frame_id += 1
        cfg = self.cfg
        dets = Detections(np.asarray(tlbr, np.float64).reshape(-1, 4),
                          np.asarray(scores, np.float64).reshape(-1))
        high = dets.take(dets.score > cfg.track_thresh)
        low = dets.take((dets.score > cfg.low_thresh) & (dets.score < cfg.track_thresh))
        unconfirmed = [t for t in self.tracked if not t.activated]
        confirmed = [t for t in self.tracked if t.activated]
        known = {t.track_id for t in confirmed}
        pool = confirmed + [t for t in self.lost if t.track_id not in known]
        self._predict(pool)
        self._compensate(pool + unconfirmed, frame)
        activated, refound, newly_lost, removed = [], [], [], []

        # 1. high-score detections against tracked + lost tracks
        matches, u_track, u_det = _assign(self._cost(pool, high, fuse=True), cfg.match_thresh)
        self._take_matches(pool, high, matches, activated, refound)
        # 2. low-score detections against the remaining tracked tracks
        remaining = [pool[i] for i in u_track if pool[i].state == TRACKED]
        matches2, u_track2, _ = _assign(self._cost(remaining, low, fuse=False), 0.5)
        self._take_matches(remaining, low, matches2, activated, refound)
        for i in u_track2:
            if remaining[i].state != LOST:
                remaining[i].state = LOST
                newly_lost.append(remaining[i])
        # 3. unconfirmed tracks against the remaining high detections
        high = high.take(u_det)
        matches3, u_unconf, u_det = _assign(self._cost(unconfirmed, high, fuse=True), 0.7)
        self._correct([unconfirmed[i] for i in matches3[:, 0]], high.take(matches3[:, 1]))
        activated += [unconfirmed[i] for i in matches3[:, 0]]
        for i in u_unconf:
            unconfirmed[i].state = REMOVED
            removed.append(unconfirmed[i])
        # 4. new tracks
        new = high.take(u_det)
        new = new.take(new.score >= (cfg.track_thresh + 0.1 if cfg.new_track_thresh is None
                                     else cfg.new_track_thresh))
        activated += self._start(new)
        # 5. bookkeeping
        for t in self.lost:
            if self.frame_id - t.frame_id > self.max_time_lost:
                t.state = REMOVED
                removed.append(t)
        tracked = [t for t in self.tracked if t.state == TRACKED]
        tracked = _join(_join(tracked, activated), refound)
        lost = _sub(self.lost, tracked) + newly_lost
        lost = _sub(lost, removed)
        self.tracked, self.lost = _remove_duplicates(tracked, lost)
        return [t for t in self.tracked if t.activated]

    def _take_matches(self, tracks, dets, matches, activated, refound) -> None:
        if not len(matches):
            return
        chosen = [tracks[i] for i in matches[:, 0]]
        was_tracked = [t.state == TRACKED for t in chosen]
        self._correct(chosen, dets.take(matches[:, 1]))
        for t, tracked in zip(chosen, was_tracked, strict=True):
            (activated if tracked else refound).append(t)

    def _start(self, dets: Detections) -> list[Track]:
        if not len(dets):
            return []
        tlwh = dets.tlbr.copy()
        tlwh[:, 2:] -= tlwh[:, :2]
        mean, cov = self._initiate(tlwh)
        tracks = []
        for m, c, s in zip(mean, cov, dets.score, strict=True):
            tracks.append(self.track_class(self.next_id, m, c, float(s), self.frame_id,
                                           self.frame_id, activated=self.frame_id == 1))
            self.next_id += 1
        return tracks


def _join(a: list[Track], b: list[Track]) -> list[Track]:
    ids = {t.track_id for t in a}
    return a + [t for t in b if t.track_id not in ids]


def _sub(a: list[Track], b: list[Track]) -> list[Track]:
    ids = {t.track_id for t in b}
    return [t for t in a if t.track_id not in ids]


def _remove_duplicates(tracked: list[Track], lost: list[Track]):
    """Where a tracked and a lost track overlap (IoU > 0.85), keep the longer-lived one."""
    if not tracked or not lost:
        return tracked, lost
    close = np.argwhere(1.0 - iou_tlbr(_tlbrs(tracked), _tlbrs(lost)) < 0.15)
    drop_a, drop_b = set(), set()
    for p, q in close:
        age_p = tracked[p].frame_id - tracked[p].start_frame
        age_q = lost[q].frame_id - lost[q].start_frame
        (drop_b if age_p > age_q else drop_a).add(q if age_p > age_q else p)
    return ([t for i, t in enumerate(tracked) if i not in drop_a],
            [t for i, t in enumerate(lost) if i not in drop_b])


def output_filter(tlwh: np.ndarray, min_box_area: float = MIN_BOX_AREA,
                  aspect_ratio_thresh: float | None = ASPECT_RATIO_THRESH) -> np.ndarray:
    """The official demo's rule: keep boxes with area > min_box_area and, for pedestrians,
    width / height <= aspect_ratio_thresh (``None`` turns the ratio test off)."""
    keep = tlwh[:, 2] * tlwh[:, 3] > min_box_area
    if aspect_ratio_thresh is not None:
        keep &= tlwh[:, 2] / tlwh[:, 3] <= aspect_ratio_thresh
    return keep
