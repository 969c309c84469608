"""Segmentation metrics from a pixel confusion matrix (see :mod:`cvcore.confusion`).

From the K x K matrix (rows truth, columns prediction) accumulated over a test set:
pixel accuracy; per-class IoU, Dice (= F1), precision and recall, nan where undefined (0 / 0), as
the reference report printed them; mIoU as the nanmean of the per-class IoUs together with the
number of classes it averaged (with CamVid's 32 classes several never occur in a test split, and
whether they count as nan or 0 moves the headline number); frequency-weighted IoU; and a histogram
of the defined IoUs in ten 0.1-wide bins ([0.9, 1.0] closed).

Per-image IoU (for picking badly segmented images) is the mean IoU over the classes that occur in
that image's truth or prediction, i.e. the nanmean of the per-class IoUs of its own confusion
matrix.
"""

from __future__ import annotations

import numpy as np

from ..confusion import accuracy, confusion_matrix, per_class_scores


def segmentation_metrics(cm: np.ndarray, names: list[str]) -> dict:
    """``pixel_acc``, ``miou``, ``classes_in_miou``, ``fwiou``, ``per_class``, ``iou_histogram``."""
    scores = per_class_scores(cm)
    defined = ~np.isnan(scores.iou)
    support = scores.support
    fwiou = (float(np.nansum(support * scores.iou) / support.sum()) if support.sum()
             else float("nan"))
    histogram, edges = np.histogram(scores.iou[defined], bins=10, range=(0.0, 1.0))
    return {
        "pixel_acc": accuracy(cm),
        "miou": float(np.nanmean(scores.iou)) if defined.any() else float("nan"),
        "classes_in_miou": int(defined.sum()),
        "fwiou": fwiou,
        "per_class": [{"name": name, "iou": float(scores.iou[k]), "dice": float(scores.f1[k]),
                       "precision": float(scores.precision[k]),
                       "recall": float(scores.recall[k]), "pixels": int(support[k])}
                      for k, name in enumerate(names)],
        "iou_histogram": {"edges": edges.round(2).tolist(), "counts": histogram.tolist()},
    }


def image_miou(cm: np.ndarray) -> float:
    """Mean IoU of one image's confusion matrix over the classes it involves."""
    iou = per_class_scores(cm).iou
    return float(np.nanmean(iou)) if (~np.isnan(iou)).any() else float("nan")


def format_per_class(metrics: dict) -> str:
    """The report's printout: one line per class, then the IoU distribution."""
    lines = [f"Pixel accuracy: {metrics['pixel_acc']:.4f}",
             f"mIoU: {metrics['miou']:.4f} (over {metrics['classes_in_miou']} classes present)",
             f"Frequency-weighted IoU: {metrics['fwiou']:.4f}", "Per class:"]
    for k, c in enumerate(metrics["per_class"]):
        lines.append(f"- Class {k} ({c['name']}): IoU={c['iou']:.3f}, Dice={c['dice']:.3f}, "
                     f"Prec={c['precision']:.3f}, Rec={c['recall']:.3f}")
    lines.append("IoU Distribution:")
    edges, counts = metrics["iou_histogram"]["edges"], metrics["iou_histogram"]["counts"]
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        lines.append(f"- IoU in [{lo:.1f}, {hi:.1f}]: {n} class{'es' if n != 1 else ''}")
    return "\n".join(lines)


def majority_baseline_miou(cm: np.ndarray, majority: int) -> float:
    """mIoU of predicting the training split's most frequent class everywhere."""
    baseline = np.zeros_like(cm)
    baseline[:, majority] = cm.sum(axis=1)
    return segmentation_metrics(baseline, [str(k) for k in range(len(cm))])["miou"]


def split_metrics(model, dataset, batch_size: int, workers: int, device
                  ) -> tuple[dict, list[float]]:
    """A model's predictions on a whole split (a CamVid-style dataset yielding normalised image
    tensors and label maps with ``IGNORE_INDEX``): :func:`segmentation_metrics` of the summed
    confusion matrix (plus the matrix itself) and each image's mean IoU (:func:`image_miou`)."""
    import torch
    from torch.utils.data import DataLoader

    from .camvid import IGNORE_INDEX

    k = len(dataset.layout.names)
    cm = np.zeros((k, k), np.int64)
    per_image = []
    model.eval()
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size, num_workers=workers):
            pred = model(x.to(device)).argmax(1).cpu().numpy()
            for p, t in zip(pred, y.numpy(), strict=True):
                image_cm = confusion_matrix(t, p, k, IGNORE_INDEX)
                cm += image_cm
                per_image.append(image_miou(image_cm))
    metrics = segmentation_metrics(cm, dataset.layout.names)
    metrics["confusion_matrix"] = cm.tolist()
    return metrics, per_image
