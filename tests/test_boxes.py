import numpy as np
from pycocotools import mask as mask_utils

from cvcore.boxes import iou_xywh


def random_boxes(rng, n):
    xy = rng.uniform(-5, 60, (n, 2))
    # Mix integer-aligned boxes (exact ties, touching edges) with arbitrary floats.
    wh = np.where(rng.random((n, 1)) < 0.5, rng.integers(0, 30, (n, 2)), rng.uniform(0, 40, (n, 2)))
    return np.hstack([np.round(xy) if rng.random() < 0.5 else xy, wh])


def test_iou_xywh_bit_identical_to_pycocotools():
    rng = np.random.default_rng(0)
    for _ in range(300):
        dets, gts = random_boxes(rng, rng.integers(0, 12)), random_boxes(rng, rng.integers(0, 12))
        crowd = rng.random(len(gts)) < 0.3
        ours = iou_xywh(dets, gts, crowd)
        assert ours.shape == (len(dets), len(gts))
        if len(dets) and len(gts):
            ref = np.asarray(mask_utils.iou(dets.tolist(), gts.tolist(), crowd.astype(np.uint8)))
            np.testing.assert_array_equal(ours, ref)


def test_iou_xywh_known_values():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 10.0, 10.0], [10.0, 0.0, 5.0, 5.0], [0.0, 0.0, 20.0, 20.0]])
    np.testing.assert_array_equal(iou_xywh(a, b), [[50 / 150, 0.0, 0.25]])
    # Crowd: intersection over the detection's own area.
    np.testing.assert_array_equal(iou_xywh(a, b, np.array([True, False, True])),
                                  [[0.5, 0.0, 1.0]])
