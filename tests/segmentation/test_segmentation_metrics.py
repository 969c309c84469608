"""Segmentation metrics against scikit-learn and hand-computed values."""

import numpy as np
import pytest

from cvcore.confusion import confusion_matrix
from cvcore.segmentation.metrics import format_per_class, image_miou, segmentation_metrics


def test_against_sklearn_on_random_labels_with_ignore():
    from sklearn.metrics import accuracy_score, jaccard_score, precision_recall_fscore_support

    rng = np.random.default_rng(0)
    for _ in range(10):
        k = int(rng.integers(3, 12))
        target = rng.integers(0, k, (4, 30, 40)).astype(np.uint8)
        pred = np.where(rng.random(target.shape) < 0.6, target,
                        rng.integers(0, k, target.shape)).astype(np.uint8)
        target[rng.random(target.shape) < 0.05] = 255
        cm = confusion_matrix(target, pred, k, ignore_index=255)
        m = segmentation_metrics(cm, [str(i) for i in range(k)])
        keep = target != 255
        t, p = target[keep], pred[keep]
        assert m["pixel_acc"] == pytest.approx(accuracy_score(t, p), abs=1e-15)
        iou = jaccard_score(t, p, labels=range(k), average=None, zero_division=0)
        involved = np.isin(np.arange(k), np.concatenate([t, p]))
        iou[~involved] = np.nan  # 0 / 0: scikit-learn cannot say nan here, we do
        np.testing.assert_allclose([c["iou"] for c in m["per_class"]], iou, atol=1e-12)
        prec, rec, f1, _ = precision_recall_fscore_support(t, p, labels=range(k),
                                                           zero_division=np.nan)
        np.testing.assert_allclose([c["precision"] for c in m["per_class"]], prec, atol=1e-12)
        np.testing.assert_allclose([c["recall"] for c in m["per_class"]], rec, atol=1e-12)
        np.testing.assert_allclose([c["dice"] for c in m["per_class"]], f1, atol=1e-12)
        assert m["miou"] == pytest.approx(np.nanmean(iou), abs=1e-12)


def test_absent_classes_are_nan_and_counted():
    cm = np.array([[5, 1, 0], [2, 2, 0], [0, 0, 0]])
    m = segmentation_metrics(cm, ["a", "b", "c"])
    assert np.isnan(m["per_class"][2]["iou"]) and m["classes_in_miou"] == 2
    assert m["per_class"][0]["iou"] == pytest.approx(5 / 8)
    assert m["per_class"][1]["iou"] == pytest.approx(2 / 5)
    assert m["miou"] == pytest.approx((5 / 8 + 2 / 5) / 2)
    assert m["fwiou"] == pytest.approx((6 * 5 / 8 + 4 * 2 / 5) / 10)
    assert m["iou_histogram"]["counts"] == [0, 0, 0, 0, 1, 0, 1, 0, 0, 0]
    assert image_miou(cm) == pytest.approx(m["miou"])
    text = format_per_class(m)
    assert "Class 2 (c): IoU=nan" in text and "IoU in [0.4, 0.5]: 1 class" in text


def test_predicted_but_absent_class_has_iou_zero_and_precision_zero():
    cm = np.array([[3, 1], [0, 0]])
    m = segmentation_metrics(cm, ["a", "b"])
    assert m["per_class"][1]["iou"] == 0.0 and m["per_class"][1]["precision"] == 0.0
    assert np.isnan(m["per_class"][1]["recall"])
