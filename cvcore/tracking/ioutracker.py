"""The reference report's naive IoU tracker.

Per frame (settings in :class:`IoUTrackerConfig`): detections scoring below ``det_thresh`` are
ignored; every track ages by one; each detection, in order, takes the not-yet-used track with the
highest IoU with the track's last box if that IoU >= ``iou_thresh`` (greedy, no motion model);
unmatched detections start new tracks; tracks unmatched for more than ``max_lost`` frames are
dropped. One deliberate difference from the report's code: only tracks seen in the current
frame are output (the report also printed the stale box of a track lost for a frame, which only
adds false positives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boxes import iou_tlbr


@dataclass
class IoUTrackerConfig:
    """The tracker's settings and their defaults (``track.py``'s options read them here)."""

    iou_thresh: float = 0.5  # a detection continues a track from this IoU on
    max_lost: int = 1        # frames a track may go unmatched before it is dropped
    det_thresh: float = 0.5  # detections scoring below are ignored


class IoUTracker:
    def __init__(self, config: IoUTrackerConfig | None = None):
        self.cfg = config or IoUTrackerConfig()
        self.boxes = np.zeros((0, 4))       # last box of each track (x1, y1, x2, y2)
        self.ids = np.zeros(0, np.int64)
        self.lost = np.zeros(0, np.int64)
        self.scores = np.zeros(0)
        self.next_id = 1

    def update(self, tlbr: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
        """One frame of detections (tlbr [N, 4], scores [N]); returns the tracks seen now:
        (boxes [K, 4] tlbr, ids [K], scores [K])."""
        tlbr = np.asarray(tlbr, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        keep = scores >= self.cfg.det_thresh
        tlbr, scores = tlbr[keep], scores[keep]
        self.lost += 1
        iou = iou_tlbr(tlbr, self.boxes, pixel=0.0)
        used = np.zeros(len(self.ids), bool)
        matched = np.full(len(tlbr), -1)
        for d in range(len(tlbr)):
            candidates = np.where(used, -1.0, iou[d])
            if len(candidates) == 0:
                break
            best = int(np.argmax(candidates))  # the first best on ties, as the report's loop
            if candidates[best] > 0 and candidates[best] >= self.cfg.iou_thresh:
                used[best] = True
                matched[d] = best
        hit = matched >= 0
        self.boxes[matched[hit]] = tlbr[hit]
        self.scores[matched[hit]] = scores[hit]
        self.lost[matched[hit]] = 0
        n_new = int((~hit).sum())
        self.boxes = np.vstack([self.boxes, tlbr[~hit]])
        self.scores = np.concatenate([self.scores, scores[~hit]])
        self.ids = np.concatenate([self.ids, np.arange(self.next_id, self.next_id + n_new)])
        self.lost = np.concatenate([self.lost, np.zeros(n_new, np.int64)])
        self.next_id += n_new
        alive = self.lost <= self.cfg.max_lost
        self.boxes, self.ids = self.boxes[alive], self.ids[alive]
        self.lost, self.scores = self.lost[alive], self.scores[alive]
        seen = self.lost == 0
        return self.boxes[seen], self.ids[seen], self.scores[seen]
