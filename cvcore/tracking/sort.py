"""SORT (Bewley et al., ICIP 2016) with the reference tracker's semantics (``abewley/sort``).

Per frame, detections (x1, y1, x2, y2, score) scoring at least ``det_thresh`` are matched to
the tracks' Kalman predictions:

1. every track is predicted one frame (SORT's filter, :func:`cvcore.tracking.kalman.sort_predict`
   on (cx, cy, s, r)); its hit streak resets if it missed the previous frame; a prediction with
   a non-finite box deletes the track;
2. association on continuous IoU (no +1 pixel): if every detection and every track has at most
   one partner above ``iou_thresh`` those pairs are taken as they are, otherwise a maximum-IoU
   assignment (LAPJV, ``lap.lapjv``); pairs under ``iou_thresh`` are dropped;
3. matched tracks are corrected (filterpy's update), unmatched detections start tracks;
4. a track is output when it was matched in this frame and its hit streak reaches ``min_hits``
   (or the sequence is still in its first ``min_hits`` frames), with its corrected Kalman box;
   tracks unmatched for more than ``max_age`` frames are deleted.

:func:`associate` (steps 2 and the extra cost OC-SORT adds) is shared with
:mod:`cvcore.tracking.ocsort`. ``update`` returns :class:`TrackBox` objects (``track_id``,
``tlbr``, ``tlwh``, ``score``), like ByteTrack's tracks.
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np

from ..boxes import iou_tlbr
from . import kalman


@dataclass
class SORTConfig:
    """SORT's settings and their defaults (``track.py``'s options read them here). The
    reference's min_hits 3 and IoU 0.3; ``max_age`` is in frames at 30 fps and scales with
    the frame rate (the reference's 1 frame loses every occluded person, so MOT15's best
    single setting is kept here)."""

    max_age: int = 30
    min_hits: int = 3
    iou_thresh: float = 0.3
    det_thresh: float = 0.0
    frame_rate: float = 30.0


class TrackBox:
    """One output track: id, box as (x1, y1, x2, y2) ``tlbr`` and (x1, y1, w, h) ``tlwh``, and
    the score of its last detection."""

    __slots__ = ("track_id", "tlbr", "tlwh", "score")

    def __init__(self, track_id: int, tlbr: np.ndarray, tlwh: np.ndarray, score: float):
        self.track_id, self.tlbr, self.tlwh, self.score = track_id, tlbr, tlwh, score


def track_boxes(ids: np.ndarray, tlbr: np.ndarray, scores: np.ndarray) -> list[TrackBox]:
    """Output objects for rows of ids [K], boxes tlbr [K, 4] and scores [K]."""
    tlwh = tlbr.copy()
    tlwh[:, 2:] -= tlbr[:, :2]
    return list(map(TrackBox, ids.tolist(), tlbr, tlwh, scores.tolist()))


def max_frames(age: int, frame_rate: float) -> int:
    """A buffer given in frames at 30 fps, in frames at ``frame_rate`` (ByteTrack's rule)."""
    return int(frame_rate / 30.0 * age)


def max_gain_pairs(gain: np.ndarray) -> np.ndarray:
    """(row, column) pairs int[K, 2] of a maximum-``gain`` assignment (LAPJV on -gain, every
    row or column of the smaller side assigned)."""
    _, x, _ = lap.lapjv(-gain, extend_cost=True)
    rows = np.flatnonzero(x >= 0)
    return np.stack([rows, x[rows]], axis=1)


def associate(iou: np.ndarray, thresh: float,
              extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORT's association of detections (rows of ``iou`` [D, T]) with tracks (columns).

    One-to-one candidates above ``thresh`` are taken directly; otherwise the assignment
    maximising ``iou + extra`` (OC-SORT's direction term) by LAPJV. Pairs with IoU below
    ``thresh`` are dropped. Returns (matches int[K, 2] (det, track), unmatched dets,
    unmatched tracks), both ascending."""
    n_det, n_trk = iou.shape
    if n_det and n_trk:
        above = iou > thresh
        if above.sum(1).max() == 1 and above.sum(0).max() == 1:
            pairs = np.argwhere(above)
        else:
            pairs = max_gain_pairs(iou if extra is None else iou + extra)
        pairs = pairs[iou[pairs[:, 0], pairs[:, 1]] >= thresh]
    else:
        pairs = np.zeros((0, 2), np.int64)
    det_free = np.ones(n_det, bool)
    trk_free = np.ones(n_trk, bool)
    det_free[pairs[:, 0]] = False
    trk_free[pairs[:, 1]] = False
    return pairs, np.flatnonzero(det_free), np.flatnonzero(trk_free)


def clean_detections(tlbr, scores, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """float64 (tlbr [N, 4], scores [N]) of the detections scoring above ``floor`` (>= when
    ``floor`` is 0, so that every detection counts)."""
    tlbr = np.asarray(tlbr, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    keep = scores >= floor if floor <= 0 else scores > floor
    return tlbr[keep], scores[keep]


class SORTTracker:
    """Call :meth:`update` once per frame; it returns the tracks output in that frame."""

    def __init__(self, config: SORTConfig | None = None):
        self.cfg = config or SORTConfig()
        self.max_age = max_frames(self.cfg.max_age, self.cfg.frame_rate)
        self.mean = np.zeros((0, 7))
        self.cov = np.zeros((0, 7, 7))
        self.ids = np.zeros(0, np.int64)
        self.since_update = np.zeros(0, np.int64)
        self.streak = np.zeros(0, np.int64)
        self.scores = np.zeros(0)
        self.frame = 0
        self.next_id = 1

    def _keep(self, keep: np.ndarray) -> None:
        self.mean, self.cov, self.ids = self.mean[keep], self.cov[keep], self.ids[keep]
        self.since_update, self.streak = self.since_update[keep], self.streak[keep]
        self.scores = self.scores[keep]

    def update(self, tlbr: np.ndarray, scores: np.ndarray) -> list[TrackBox]:
        """One frame: detections ``tlbr`` float[N, 4] (x1, y1, x2, y2) with ``scores`` [N]."""
        cfg = self.cfg
        self.frame += 1
        tlbr, scores = clean_detections(tlbr, scores, cfg.det_thresh)
        predicted = np.zeros((0, 4))
        if len(self.ids):
            self.mean, self.cov = kalman.sort_predict(self.mean, self.cov)
            self.streak[self.since_update > 0] = 0
            self.since_update += 1
            predicted = kalman.xysr_to_tlbr(self.mean[:, :4])
            finite = np.isfinite(predicted).all(1)
            if not finite.all():
                self._keep(finite)
                predicted = predicted[finite]
        pairs, free, _ = associate(iou_tlbr(tlbr, predicted, pixel=0.0), cfg.iou_thresh)
        det, trk = pairs[:, 0], pairs[:, 1]
        if len(pairs):
            self.mean[trk], self.cov[trk] = kalman.sort_update(
                self.mean[trk], self.cov[trk], kalman.tlbr_to_xysr(tlbr[det]))
            self.since_update[trk] = 0
            self.streak[trk] += 1
            self.scores[trk] = scores[det]
        if len(free):
            mean, cov = kalman.sort_initiate(kalman.tlbr_to_xysr(tlbr[free]))
            self.mean = np.vstack([self.mean, mean])
            self.cov = np.concatenate([self.cov, cov])
            self.ids = np.concatenate([self.ids, np.arange(len(free)) + self.next_id])
            self.next_id += len(free)
            self.since_update = np.concatenate([self.since_update, np.zeros(len(free), int)])
            self.streak = np.concatenate([self.streak, np.zeros(len(free), int)])
            self.scores = np.concatenate([self.scores, scores[free]])
        show = (self.since_update < 1) & ((self.streak >= cfg.min_hits)
                                          | (self.frame <= cfg.min_hits))
        out = track_boxes(self.ids[show], kalman.xysr_to_tlbr(self.mean[show, :4]),
                          self.scores[show])
        keep = self.since_update <= self.max_age
        if not keep.all():
            self._keep(keep)
        return out
