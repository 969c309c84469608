"""ByteTrack and the IoU tracker on hand-made scenes: the official rules, one by one."""

import numpy as np
import pytest

from cvcore.boxes import iou_tlbr
from cvcore.tracking.bytetrack import ByteTrackConfig, ByteTracker, output_filter
from cvcore.tracking.ioutracker import IoUTracker, IoUTrackerConfig


def walk(frames, start=(100.0, 100.0), size=(40.0, 100.0), step=(3.0, 0.0)):
    """tlbr boxes of one person walking at constant speed."""
    x0, y0 = start
    return [np.array([[x0 + step[0] * t, y0 + step[1] * t, x0 + step[0] * t + size[0],
                       y0 + step[1] * t + size[1]]]) for t in range(frames)]


def test_cython_bbox_iou_convention():
    a = np.array([[0, 0, 9, 9]], float)   # 10 x 10 pixels with the +1 convention
    b = np.array([[5, 0, 14, 9]], float)
    assert iou_tlbr(a, b)[0, 0] == pytest.approx(50 / 150)
    assert iou_tlbr(a, b, pixel=0.0)[0, 0] == pytest.approx(36 / 126)


def test_one_person_keeps_one_id_and_first_frame_is_active():
    tracker = ByteTracker()
    ids = set()
    for t, box in enumerate(walk(30)):
        out = tracker.update(box, np.array([0.9]))
        assert len(out) == 1, t
        ids.add(out[0].track_id)
        np.testing.assert_allclose(out[0].tlbr, box[0], atol=3.0)
    assert ids == {1}


def test_new_tracks_need_two_frames_after_the_first_and_det_thresh():
    tracker = ByteTracker()
    tracker.update(np.zeros((0, 4)), np.zeros(0))          # frame 1: nothing
    box = np.array([[10.0, 10.0, 50.0, 110.0]])
    assert tracker.update(box, np.array([0.55])) == []     # 0.55 < track_thresh + 0.1: no track
    assert tracker.update(box, np.array([0.9])) == []      # new, unconfirmed
    out = tracker.update(box, np.array([0.9]))             # matched again: confirmed
    assert [t.track_id for t in out] == [1]


def test_low_score_detections_continue_a_track():
    tracker = ByteTracker()
    boxes = walk(20)
    scores = [0.9] * 5 + [0.3] * 10 + [0.9] * 5           # occluded: detector unsure
    out_ids = [[t.track_id for t in tracker.update(b, np.array([s]))]
               for b, s in zip(boxes, scores, strict=True)]
    assert all(ids == [1] for ids in out_ids)
    plain = ByteTracker(ByteTrackConfig(low_thresh=0.35))  # no second association possible
    lost = [[t.track_id for t in plain.update(b, np.array([s]))]
            for b, s in zip(boxes, scores, strict=True)]
    assert lost[7] == [] and lost[-1] == [1]                # lost, then re-found from the buffer


def test_track_buffer_scales_with_frame_rate():
    boxes = walk(40)
    gap = list(range(10, 25))                                # 15 frames without detections

    def last_id(config):
        tracker = ByteTracker(config)
        for t, b in enumerate(boxes):
            dets = b[:0] if t in gap else b
            out = tracker.update(dets, np.full(len(dets), 0.9))
        return out[0].track_id

    assert last_id(ByteTrackConfig(track_buffer=30)) == 1               # 30 frames at 30 fps
    assert last_id(ByteTrackConfig(track_buffer=30, frame_rate=12)) == 2  # 12 frames: removed


def test_score_fusion_and_mot20():
    tracker = ByteTracker()
    tracker.update(walk(1)[0], np.array([0.9]))
    from cvcore.tracking.bytetrack import Detections
    det = Detections(walk(1)[0], np.array([0.6]))
    track = tracker.tracked
    fused = tracker._cost(track, det, fuse=True)[0, 0]
    plain = tracker._cost(track, det, fuse=False)[0, 0]
    assert fused == pytest.approx(1 - (1 - plain) * 0.6)
    tracker.cfg.mot20 = True
    assert tracker._cost(track, det, fuse=True)[0, 0] == pytest.approx(plain)


def test_crossing_people_keep_their_ids():
    a = walk(40, start=(100, 100), step=(4, 0))
    b = walk(40, start=(260, 110), step=(-4, 0))
    tracker = ByteTracker()
    history = []
    for t in range(40):
        boxes = np.vstack([a[t], b[t]])
        out = tracker.update(boxes, np.array([0.9, 0.8]))
        history.append({t_.track_id: t_.tlbr[0] for t_ in out})
    # Whoever is left of centre at the end came from the right: ids follow the motion.
    assert history[-1][1] > history[-1][2]


def test_output_filter():
    tlwh = np.array([[0, 0, 2, 3], [0, 0, 40, 100], [0, 0, 100, 40]], float)
    assert output_filter(tlwh).tolist() == [False, True, False]
    assert output_filter(tlwh, aspect_ratio_thresh=None).tolist() == [False, True, True]


def test_iou_tracker_greedy_and_max_lost():
    tracker = IoUTracker(IoUTrackerConfig(iou_thresh=0.5, max_lost=1))
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    _, ids, _ = tracker.update(box, np.array([0.9]))
    assert ids.tolist() == [1]
    _, ids, _ = tracker.update(box + [1, 0, 1, 0], np.array([0.9]))   # IoU 0.82: same track
    assert ids.tolist() == [1]
    _, ids, _ = tracker.update(box + [6, 0, 6, 0], np.array([0.9]))   # IoU 0.25: new track
    assert ids.tolist() == [2]
    tracker.update(np.zeros((0, 4)), np.zeros(0))                     # track 2 lost once
    _, ids, _ = tracker.update(box + [6, 0, 6, 0], np.array([0.9]))   # still within max_lost
    assert ids.tolist() == [2]
    for _ in range(2):
        tracker.update(np.zeros((0, 4)), np.zeros(0))                 # lost twice: dropped
    _, ids, _ = tracker.update(box + [6, 0, 6, 0], np.array([0.9]))
    assert ids.tolist() == [3]
    _, ids, _ = tracker.update(box + [6, 0, 6, 0], np.array([0.49]))  # below det_thresh 0.5
    assert ids.tolist() == []
