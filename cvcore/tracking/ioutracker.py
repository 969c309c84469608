"""The reference report's naive IoU tracker.

Per frame: every track ages by one; each detection, in order, takes the not-yet-used track with
the highest IoU with the track's last box if that IoU >= ``iou_threshold`` (greedy, no motion
model); unmatched detections start new tracks; tracks unmatched for more than ``max_lost`` frames
are dropped. One deliberate difference from the report's code: only tracks seen in the current
frame are output (the report also printed the stale box of a track lost for a frame, which only
adds false positives).
"""

from __future__ import annotations

import numpy as np

from ..boxes import iou_tlbr


class IoUTracker:
    def __init__(self, iou_threshold: float = 0.5, max_lost: int = 1):
        self.iou_threshold = iou_threshold
        self.max_lost = max_lost
        self.boxes = np.zeros((0, 4))       # last box of each track (x1, y1, x2, y2)
        self.ids = np.zeros(0, np.int64)
        self.lost = np.zeros(0, np.int64)
        self.scores = np.zeros(0)
        self.next_id = 1

    def update(self, tlbr: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
        """One frame of detections; returns (boxes [K, 4], ids [K], scores [K]) seen now."""
        tlbr = np.asarray(tlbr, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        self.lost += 1
        iou = iou_tlbr(tlbr, self.boxes, pixel=0.0)
        used = np.zeros(len(self.ids), bool)
        matched = np.full(len(tlbr), -1)
        for d in range(len(tlbr)):
            candidates = np.where(used, -1.0, iou[d])
            if len(candidates) == 0:
                break
            best = int(np.argmax(candidates))  # the first best on ties, as the report's loop
            if candidates[best] > 0 and candidates[best] >= self.iou_threshold:
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
        alive = self.lost <= self.max_lost
        self.boxes, self.ids = self.boxes[alive], self.ids[alive]
        self.lost, self.scores = self.lost[alive], self.scores[alive]
        seen = self.lost == 0
        return self.boxes[seen], self.ids[seen], self.scores[seen]
