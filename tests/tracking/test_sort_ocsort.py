"""SORT and OC-SORT: their Kalman filter against filterpy, OC-SORT's numeric pieces (ORU, OCM)
against plain reference loops, and the trackers' rules on hand-made scenes."""

import copy

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from cvcore.tracking import kalman
from cvcore.tracking.ocsort import (
    OCSORTConfig,
    OCSORTTracker,
    centre_direction,
    direction_cost,
    reupdate,
)
from cvcore.tracking.sort import SORTConfig, SORTTracker, associate


def sort_filterpy(z0):
    """SORT's KalmanBoxTracker filter, configured as the reference does it."""
    kf = KalmanFilter(dim_x=7, dim_z=4)
    kf.F = kalman.SORT_MOTION.copy()
    kf.H = np.eye(4, 7)
    kf.R[2:, 2:] *= 10.0
    kf.P[4:, 4:] *= 1000.0
    kf.P *= 10.0
    kf.Q[-1, -1] *= 0.01
    kf.Q[4:, 4:] *= 0.01
    kf.x[:4] = z0.reshape(4, 1)
    return kf


def tracker_predict(kf):
    """KalmanBoxTracker.predict: zero a scale velocity that would make the area negative."""
    if kf.x[6] + kf.x[2] <= 0:
        kf.x[6] *= 0.0
    kf.predict()


def random_boxes(rng, n):
    xy = rng.uniform(0, 800, (n, 2))
    wh = rng.uniform(10, 200, (n, 2))
    return np.hstack([xy, xy + wh])


def test_sort_filter_equals_filterpy_with_missed_frames():
    rng = np.random.default_rng(1)
    n = 6
    boxes = random_boxes(rng, n)
    velocity = rng.normal(0, 3, (n, 4))
    mean, cov = kalman.sort_initiate(kalman.tlbr_to_xysr(boxes))
    filters = [sort_filterpy(kalman.tlbr_to_xysr(boxes[i:i + 1])) for i in range(n)]
    for step in range(150):
        boxes = boxes + velocity
        mean, cov = kalman.sort_predict(mean, cov)
        for kf in filters:
            tracker_predict(kf)
        seen = rng.random(n) > 0.3
        z = kalman.tlbr_to_xysr(boxes + rng.normal(0, 2, boxes.shape))
        if seen.any():
            mean[seen], cov[seen] = kalman.sort_update(mean[seen], cov[seen], z[seen])
            for i in np.flatnonzero(seen):
                filters[i].update(z[i].reshape(4, 1))
        for i, kf in enumerate(filters):
            np.testing.assert_allclose(mean[i], kf.x.ravel(), rtol=1e-9, atol=1e-9 * step)
            np.testing.assert_allclose(cov[i], kf.P, rtol=1e-9, atol=1e-7)
    # The box conversions are the reference's convert_bbox_to_z / convert_x_to_bbox.
    np.testing.assert_allclose(kalman.xysr_to_tlbr(kalman.tlbr_to_xysr(boxes)), boxes,
                               rtol=1e-12)


def test_sort_clamp_zeroes_a_shrinking_scale_velocity():
    mean, cov = kalman.sort_initiate(np.array([[10.0, 10.0, 100.0, 0.5]]))
    mean[0, 6] = -150.0
    new, _ = kalman.sort_predict(mean, cov)
    assert new[0, 2] == 100.0 and new[0, 6] == 0.0 and mean[0, 6] == -150.0  # input untouched


def reference_oru(kf_frozen, z1, z2, gap):
    """The reference KalmanFilterNew.unfreeze loop on a filterpy filter (deep copy)."""
    kf = copy.deepcopy(kf_frozen)
    x1, y1, s1, r1 = z1
    w1, h1 = np.sqrt(s1 * r1), np.sqrt(s1 / r1)
    x2, y2, s2, r2 = z2
    w2, h2 = np.sqrt(s2 * r2), np.sqrt(s2 / r2)
    dx, dy, dw, dh = (x2 - x1) / gap, (y2 - y1) / gap, (w2 - w1) / gap, (h2 - h1) / gap
    for i in range(gap):
        x, y, w, h = x1 + (i + 1) * dx, y1 + (i + 1) * dy, w1 + (i + 1) * dw, h1 + (i + 1) * dh
        kf.update(np.array([x, y, w * h, w / float(h)]).reshape((4, 1)))
        if not i == gap - 1:
            kf.predict()
    return kf


@pytest.mark.parametrize("seed", range(5))
def test_oru_equals_reference_loop(seed):
    rng = np.random.default_rng(seed)
    box = random_boxes(rng, 1)
    kf = sort_filterpy(kalman.tlbr_to_xysr(box))
    mean, cov = kalman.sort_initiate(kalman.tlbr_to_xysr(box))
    for _ in range(int(rng.integers(1, 6))):  # some observed history
        box = box + rng.normal(0, 4, 4)
        tracker_predict(kf)
        kf.update(kalman.tlbr_to_xysr(box).reshape(4, 1))
        mean, cov = kalman.sort_predict(mean, cov)
        mean, cov = kalman.sort_update(mean, cov, kalman.tlbr_to_xysr(box))
    z1 = kalman.tlbr_to_xysr(box)[0]
    tracker_predict(kf)  # the first missed frame: frozen here
    mean, cov = kalman.sort_predict(mean, cov)
    gap = int(rng.integers(1, 9))
    z2 = kalman.tlbr_to_xysr(box + rng.normal(0, 30, 4))[0]
    ref = reference_oru(kf, z1, z2, gap)
    got_mean, got_cov = reupdate(mean[0], cov[0], z1, z2, gap)
    np.testing.assert_allclose(got_mean, ref.x.ravel(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got_cov, ref.P, rtol=1e-9, atol=1e-7)


def test_direction_cost_equals_scalar_loop():
    rng = np.random.default_rng(3)
    dets = np.column_stack([random_boxes(rng, 5), rng.uniform(0.1, 1, 5)])
    previous = np.column_stack([random_boxes(rng, 4), rng.uniform(0.1, 1, 4)])
    previous[2] = -1.0  # a track without observations: no direction term
    velocity = centre_direction(previous, np.column_stack([random_boxes(rng, 4),
                                                           np.ones(4)]))
    got = direction_cost(dets, dets[:, 4], previous, velocity, 0.2)
    for d in range(5):
        for t in range(4):
            cx1, cy1 = (previous[t, 0] + previous[t, 2]) / 2, (previous[t, 1] + previous[t, 3]) / 2
            cx2, cy2 = (dets[d, 0] + dets[d, 2]) / 2, (dets[d, 1] + dets[d, 3]) / 2
            norm = np.hypot(cx2 - cx1, cy2 - cy1) + 1e-6
            cos = velocity[t, 1] * (cx2 - cx1) / norm + velocity[t, 0] * (cy2 - cy1) / norm
            angle = (np.pi / 2 - abs(np.arccos(np.clip(cos, -1, 1)))) / np.pi
            want = 0.0 if previous[t, 4] < 0 else 0.2 * dets[d, 4] * angle
            assert got[d, t] == pytest.approx(want, abs=1e-12)


def test_associate_shortcut_assignment_and_floor():
    iou = np.array([[0.9, 0.0], [0.0, 0.2]])
    pairs, dets, trks = associate(iou, 0.3)
    assert pairs.tolist() == [[0, 0]] and dets.tolist() == [1] and trks.tolist() == [1]
    iou = np.array([[0.6, 0.5], [0.5, 0.0], [0.0, 0.35]])  # conflicts: maximum-IoU assignment
    pairs, dets, trks = associate(iou, 0.3)
    assert sorted(pairs.tolist()) == [[0, 1], [1, 0]] and dets.tolist() == [2]
    extra = np.array([[0.3, 0.0], [0.0, 0.0], [0.0, 0.0]])  # OCM's term flips the choice
    pairs, _, _ = associate(iou, 0.3, extra)
    assert sorted(pairs.tolist()) == [[0, 0], [2, 1]]


def walk(frames, start=(100.0, 100.0), size=(40.0, 100.0), step=(3.0, 0.0)):
    x0, y0 = start
    return [np.array([[x0 + step[0] * t, y0 + step[1] * t, x0 + step[0] * t + size[0],
                       y0 + step[1] * t + size[1]]]) for t in range(frames)]


@pytest.mark.parametrize("cls, config", [(SORTTracker, SORTConfig), (OCSORTTracker, OCSORTConfig)])
def test_min_hits_and_max_age(cls, config):
    boxes = walk(60)
    tracker = cls(config(frame_rate=30.0))
    out = [[t.track_id for t in tracker.update(b, np.array([0.9]))] for b in boxes[:3]]
    assert out == [[1], [1], [1]]  # the first min_hits frames output at once
    tracker = cls(config(frame_rate=30.0))
    tracker.update(np.zeros((0, 4)), np.zeros(0))
    tracker.update(np.zeros((0, 4)), np.zeros(0))
    tracker.update(np.zeros((0, 4)), np.zeros(0))
    out = [[t.track_id for t in tracker.update(b, np.array([0.9]))] for b in boxes[:4]]
    assert out == [[], [], [], [1]]  # later: the creation, then three hits in a row
    # Unmatched for max_age frames (30 at 30 fps; 12 at 12 fps): kept or deleted.
    for frame_rate, same in ((30.0, True), (12.0, False)):
        tracker = cls(config(frame_rate=frame_rate))
        ids = []
        for t, b in enumerate(boxes):
            dets = b[:0] if 10 <= t < 25 else b
            ids.append([x.track_id for x in tracker.update(dets, np.full(len(dets), 0.9))])
        assert (ids[-1] == [1]) == same, frame_rate


def test_sort_outputs_corrected_kalman_box_ocsort_the_observation():
    boxes = walk(10)
    sort, oc = SORTTracker(), OCSORTTracker()
    for b in boxes:
        a = sort.update(b + [0.5, 0, 0, 0], np.array([0.9]))
        c = oc.update(b + [0.5, 0, 0, 0], np.array([0.9]))
    np.testing.assert_array_equal(c[0].tlbr, boxes[-1][0] + [0.5, 0, 0, 0])
    np.testing.assert_allclose(a[0].tlbr, boxes[-1][0] + [0.5, 0, 0, 0], atol=1.0)
    assert not np.array_equal(a[0].tlbr, boxes[-1][0] + [0.5, 0, 0, 0])
    assert a[0].score == c[0].score == 0.9 and a[0].tlwh[2] == pytest.approx(40.0, abs=1)


def test_ocsort_recovers_after_occlusion_and_det_thresh():
    """A person walks fast, vanishes for 8 frames and reappears further on: OC-SORT's ORU
    and OCR keep the id; detections at or below det_thresh 0.6 are ignored."""
    boxes = walk(40, step=(8.0, 1.0))
    tracker = OCSORTTracker()
    ids = []
    for t, b in enumerate(boxes):
        dets = b[:0] if 15 <= t < 23 else b
        ids.append([x.track_id for x in tracker.update(dets, np.full(len(dets), 0.9))])
    assert ids[-1] == [1] and ids[14] == [1] and ids[16] == []
    assert tracker.velocity[0, 1] == pytest.approx(8 / np.hypot(8, 1), abs=1e-6)
    assert tracker.update(boxes[-1] + 8, np.array([0.6])) == []  # 0.6 is not above 0.6


class ReferenceSORT:
    """A plain per-object SORT loop (the reference's structure: filterpy filters, SciPy's
    assignment), the oracle for SORTTracker's batched arrays."""

    def __init__(self, max_age, min_hits, iou_thresh):
        self.max_age, self.min_hits, self.iou_thresh = max_age, min_hits, iou_thresh
        self.tracks, self.frame, self.count = [], 0, 0

    def update(self, dets):
        from scipy.optimize import linear_sum_assignment

        self.frame += 1
        for t in self.tracks:
            tracker_predict(t["kf"])
            if t["since"] > 0:
                t["streak"] = 0
            t["since"] += 1
        boxes = np.array([kalman.xysr_to_tlbr(t["kf"].x[:4, 0])[0] for t in self.tracks])
        iou = np.zeros((len(dets), len(self.tracks)))
        for d in range(len(dets)):
            for k in range(len(self.tracks)):
                a, b = dets[d], boxes[k]
                w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
                h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
                union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)
                iou[d, k] = w * h / union
        matched = set()
        if iou.size:
            rows, cols = linear_sum_assignment(-iou)
            for d, k in zip(rows, cols, strict=True):
                if iou[d, k] >= self.iou_thresh:
                    t = self.tracks[k]
                    t["kf"].update(kalman.tlbr_to_xysr(dets[d]).reshape(4, 1))
                    t["since"], t["streak"] = 0, t["streak"] + 1
                    matched.add(d)
        for d in range(len(dets)):
            if d not in matched:
                self.count += 1
                self.tracks.append({"kf": sort_filterpy(kalman.tlbr_to_xysr(dets[d])),
                                    "id": self.count, "since": 0, "streak": 0})
        out = {t["id"]: kalman.xysr_to_tlbr(t["kf"].x[:4, 0])[0] for t in self.tracks
               if t["since"] < 1 and (t["streak"] >= self.min_hits or self.frame <= self.min_hits)}
        self.tracks = [t for t in self.tracks if t["since"] <= self.max_age]
        return out


@pytest.mark.parametrize("seed", range(3))
def test_sort_equals_reference_loop(seed):
    """Random walkers with misses and false positives: the same ids and boxes every frame."""
    rng = np.random.default_rng(seed)
    n = 6
    boxes = random_boxes(rng, n)
    velocity = rng.normal(0, 4, (n, 1)) * [1, 0, 1, 0] + rng.normal(0, 1, (n, 4)) * 0.2
    ours = SORTTracker(SORTConfig(max_age=3, frame_rate=30.0))
    ref = ReferenceSORT(max_age=3, min_hits=3, iou_thresh=0.3)
    total = 0
    for _ in range(80):
        boxes = boxes + velocity
        seen = rng.random(n) > 0.15
        dets = boxes[seen] + rng.normal(0, 1.5, (seen.sum(), 4))
        if rng.random() < 0.3:
            dets = np.vstack([dets, random_boxes(rng, 1)])
        got = {t.track_id: t.tlbr for t in ours.update(dets, np.full(len(dets), 0.9))}
        want = ref.update(dets)
        assert sorted(got) == sorted(want)
        for k, box in want.items():
            np.testing.assert_allclose(got[k], box, rtol=1e-9, atol=1e-7)
        total += len(got)
    assert total > 200


class ReferenceOCSORT:
    """A plain per-object OC-SORT loop in the reference's structure (filterpy filters with the
    reference's freeze / unfreeze history, observation dicts, SciPy's assignment), the oracle
    for OCSORTTracker's arrays: OCM, OCR, ORU and the output rule together."""

    def __init__(self, cfg):
        self.cfg, self.tracks, self.frame, self.count = cfg, [], 0, 0
        self.reupdates = 0

    @staticmethod
    def _iou(a, b):
        out = np.zeros((len(a), len(b)))
        for i in range(len(a)):
            for j in range(len(b)):
                w = max(0.0, min(a[i][2], b[j][2]) - max(a[i][0], b[j][0]))
                h = max(0.0, min(a[i][3], b[j][3]) - max(a[i][1], b[j][1]))
                out[i, j] = w * h / ((a[i][2] - a[i][0]) * (a[i][3] - a[i][1])
                                     + (b[j][2] - b[j][0]) * (b[j][3] - b[j][1]) - w * h)
        return out

    def _update(self, t, det):
        if t["last"].sum() >= 0:
            prev = next((t["obs"][t["age"] - dt] for dt in range(self.cfg.delta_t, 0, -1)
                         if t["age"] - dt in t["obs"]), t["last"])
            t["vel"] = centre_direction(prev, det)
        t["last"], t["obs"][t["age"]] = det, det
        t["since"], t["streak"] = 0, t["streak"] + 1
        z = kalman.tlbr_to_xysr(det[:4])[0]
        t["hist"].append(z)
        if not t["observed"] and t["frozen"] is not None:  # unfreeze: ORU
            history = t["hist"]
            seen = [i for i, h in enumerate(history) if h is not None]
            t["kf"] = reference_oru(t["frozen"], history[seen[-2]], history[seen[-1]],
                                    seen[-1] - seen[-2])  # deep-copies the frozen filter
            self.reupdates += 1
        t["observed"] = True
        t["kf"].update(z.reshape(4, 1))

    def update(self, dets):
        from scipy.optimize import linear_sum_assignment

        cfg = self.cfg
        self.frame += 1
        dets = dets[dets[:, 4] > cfg.det_thresh]
        for t in self.tracks:
            tracker_predict(t["kf"])
            t["age"] += 1
            if t["since"] > 0:
                t["streak"] = 0
            t["since"] += 1
        pred = [kalman.xysr_to_tlbr(t["kf"].x[:4, 0])[0] for t in self.tracks]
        iou = self._iou(dets, pred)
        free_d, free_t = list(range(len(dets))), list(range(len(self.tracks)))
        if iou.size:
            vel = np.array([t["vel"] for t in self.tracks])
            prev = np.array([(lambda o, a: NO_PREV if not o else next(
                (o[a - dt] for dt in range(cfg.delta_t, 0, -1) if a - dt in o),
                o[max(o)]))(t["obs"], t["age"]) for t in self.tracks])
            gain = iou + direction_cost(dets, dets[:, 4], prev, vel, cfg.inertia)
            above = iou > cfg.iou_thresh
            if above.sum(1).max() == 1 and above.sum(0).max() == 1:
                pairs = np.argwhere(above)
            else:
                pairs = np.stack(linear_sum_assignment(-gain), axis=1)
            for d, k in pairs:
                if iou[d, k] >= cfg.iou_thresh:
                    self._update(self.tracks[k], dets[d])
                    free_d.remove(d)
                    free_t.remove(k)
        if free_d and free_t:
            iou = self._iou(dets[free_d], [self.tracks[k]["last"] for k in free_t])
            if iou.max() > cfg.iou_thresh:
                done = []
                for a, b in zip(*linear_sum_assignment(-iou), strict=True):
                    if iou[a, b] >= cfg.iou_thresh:
                        self._update(self.tracks[free_t[b]], dets[free_d[a]])
                        done.append((free_d[a], free_t[b]))
                for d, k in done:
                    free_d.remove(d)
                    free_t.remove(k)
        for k in free_t:
            t = self.tracks[k]
            t["hist"].append(None)
            if t["observed"]:
                t["frozen"] = copy.deepcopy(t["kf"])
            t["observed"] = False
        for d in free_d:
            self.count += 1
            self.tracks.append({"kf": sort_filterpy(kalman.tlbr_to_xysr(dets[d, :4])),
                                "id": self.count, "age": 0, "since": 0, "streak": 0,
                                "last": -np.ones(5), "obs": {}, "vel": np.zeros(2),
                                "hist": [], "observed": False, "frozen": None})
        out = {}
        for t in self.tracks:
            if t["since"] < 1 and (t["streak"] >= cfg.min_hits or self.frame <= cfg.min_hits):
                out[t["id"]] = (t["last"][:4] if t["last"].sum() >= 0
                                else kalman.xysr_to_tlbr(t["kf"].x[:4, 0])[0])
        self.tracks = [t for t in self.tracks if t["since"] <= cfg.max_age]
        return out


NO_PREV = -np.ones(5)


@pytest.mark.parametrize("seed", range(3))
def test_ocsort_equals_reference_loop(seed):
    """Random walkers with gaps of several frames (ORU, OCR), crossings and false positives:
    the same ids and boxes every frame."""
    rng = np.random.default_rng(seed)
    n = 6
    boxes = random_boxes(rng, n)
    velocity = rng.normal(0, 5, (n, 1)) * [1, 0, 1, 0] + rng.normal(0, 1, (n, 4)) * 0.2
    cfg = OCSORTConfig(max_age=8, frame_rate=30.0)
    ours, ref = OCSORTTracker(cfg), ReferenceOCSORT(cfg)
    hidden = np.zeros(n, int)
    total = 0
    for _ in range(100):
        boxes = boxes + velocity
        hidden = np.where((hidden == 0) & (rng.random(n) < 0.08), rng.integers(1, 7, n),
                          np.maximum(hidden - 1, 0))
        seen = hidden == 0
        dets = boxes[seen] + rng.normal(0, 1.5, (seen.sum(), 4))
        if rng.random() < 0.3:
            dets = np.vstack([dets, random_boxes(rng, 1)])
        scores = rng.uniform(0.5, 1.0, len(dets))
        got = {t.track_id: t.tlbr for t in ours.update(dets, scores)}
        want = ref.update(np.column_stack([dets, scores]))
        assert sorted(got) == sorted(want)
        for k, box in want.items():
            np.testing.assert_allclose(got[k], box, rtol=1e-9, atol=1e-7)
        states = {t["id"]: t["kf"].x.ravel() for t in ref.tracks}  # every Kalman state too
        assert sorted(states) == ours.ids.tolist()
        for k, mean in zip(ours.ids, ours.mean, strict=True):
            np.testing.assert_allclose(mean, states[k], rtol=1e-7, atol=1e-6)
        total += len(got)
    assert total > 200 and ref.reupdates > 10
