"""Synthetic COCO person-keypoints set: ground truth in COCO's layout plus a pose model's results.

``make_coco_keypoints(out)`` writes::

    out/annotations/person_keypoints_val2017.json   # images, annotations, the person category
    out/keypoint_predictions.json                   # results: image_id, category_id 1,
                                                    # keypoints [x, y, v] * 17, score

People are boxes holding COCO's 17 keypoints at body-like positions; each keypoint is labelled
visible, occluded or unlabelled (then ``0, 0, 0`` as in COCO), some people have no labelled
keypoint at all (COCO's evaluation ignores them), about 1% are crowd regions, and ``area`` is
about half the box, like a person's mask. Predictions find most people with keypoint noise that
grows with the person's size and sometimes a swapped left/right pair, add false positives and
score by quality, so OKS-based AP covers its whole range. No images are written: keypoint
evaluation needs none. A val2017-sized set (5000 images, ~11k people, ~17k predictions)
takes a few seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..atomic import write_text

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle")
SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
            [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
# Where each keypoint sits in a standing person's box, as fractions of (width, height).
_BODY = np.array([
    (.50, .06), (.45, .04), (.55, .04), (.40, .06), (.60, .06), (.30, .20), (.70, .20),
    (.20, .36), (.80, .36), (.15, .50), (.85, .50), (.38, .52), (.62, .52), (.36, .74),
    (.64, .74), (.35, .95), (.65, .95)])
_LEFT_RIGHT = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]


def _people(rng: np.random.Generator, n: int, width: int, height: int):
    """Boxes float64[n, 4] (xywh, upright people) and keypoints float64[n, 17, 3] in COCO's
    encoding (v = 2 visible, 1 occluded, 0 unlabelled with x = y = 0)."""
    h = np.minimum(np.exp(rng.uniform(np.log(12), np.log(height * 0.95), n)), height - 1)
    w = h * rng.uniform(0.3, 0.6, n)
    x = rng.uniform(0, np.maximum(width - w, 1))
    y = rng.uniform(0, np.maximum(height - h, 1))
    boxes = np.stack([x, y, w, h], axis=1)
    pose = _BODY[None] + rng.normal(0, 0.03, (n, 17, 2))
    xy = boxes[:, None, :2] + pose * boxes[:, None, 2:]
    vis = rng.choice([0, 1, 2], (n, 17), p=[0.25, 0.15, 0.6])
    vis[rng.random(n) < 0.1] = 0  # people with no labelled keypoint: ignored by COCO
    xy[vis == 0] = 0
    return boxes, np.concatenate([np.round(xy, 2), vis[..., None]], axis=2)


def _predict(rng: np.random.Generator, boxes, keypoints, width, height):
    """A pose model's output for one image: (keypoints float64[m, 17, 3], scores float64[m])."""
    found = rng.random(len(boxes)) < 0.85
    truth = _BODY[None] * boxes[found, None, 2:] + boxes[found, None, :2]
    labelled = keypoints[found, :, 2:] > 0
    truth = np.where(labelled, keypoints[found, :, :2], truth)
    size = np.sqrt(boxes[found, 2] * boxes[found, 3])
    quality = rng.uniform(0.003, 0.08, found.sum())
    pred = truth + rng.normal(0, 1, truth.shape) * (quality * size)[:, None, None]
    swap = rng.random(len(pred)) < 0.1
    for a, b in _LEFT_RIGHT:
        pred[swap, a], pred[swap, b] = pred[swap, b].copy(), pred[swap, a].copy()
    n_fp = rng.poisson(1.5)
    fp_boxes, fp_kps = _people(rng, n_fp, width, height)
    fp = _BODY[None] * fp_boxes[:, None, 2:] + fp_boxes[:, None, :2]
    all_xy = np.concatenate([pred, fp])
    scores = np.concatenate([np.exp(-10 * quality) * rng.uniform(0.7, 1.0, len(pred)),
                             rng.uniform(0.05, 0.6, n_fp)])
    conf = np.clip(rng.uniform(0.2, 1.0, all_xy.shape[:2]), 0, 1)
    return np.concatenate([np.round(all_xy, 2), np.round(conf, 3)[..., None]], axis=2), scores


def make_coco_keypoints(out: str | os.PathLike, seed: int = 0, num_images: int = 60) -> Path:
    """Write the set under ``out`` (see the module docstring); returns ``out``."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    images, annotations, predictions = [], [], []
    for image_id in range(1, num_images + 1):
        width, height = int(rng.choice([640, 480])), int(rng.choice([480, 427, 640]))
        images.append({"id": image_id, "width": width, "height": height,
                       "file_name": f"{image_id:012d}.jpg"})
        n = int(rng.poisson(4.0)) if rng.random() < 0.55 else 0
        boxes, keypoints = _people(rng, n, width, height)
        crowd = rng.random(n) < 0.01
        for box, kps, is_crowd in zip(boxes, keypoints, crowd, strict=True):
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                "bbox": np.round(box, 2).tolist(),
                "area": round(float(box[2] * box[3] * rng.uniform(0.4, 0.6)), 2),
                "iscrowd": int(is_crowd), "num_keypoints": int((kps[:, 2] > 0).sum()),
                "keypoints": [v if i % 3 != 2 else int(v)
                              for i, v in enumerate(kps.ravel().tolist())]})
        pred, scores = _predict(rng, boxes, keypoints, width, height)
        for kps, score in zip(pred, scores, strict=True):
            predictions.append({"image_id": image_id, "category_id": 1,
                                "keypoints": kps.ravel().tolist(),
                                "score": round(float(score), 5)})
    ground_truth = {
        "info": {"description": "cvcore synthetic person keypoints"}, "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person",
                        "keypoints": list(KEYPOINT_NAMES), "skeleton": SKELETON}]}
    write_text(out / "annotations" / "person_keypoints_val2017.json",
               json.dumps(ground_truth, separators=(",", ":")))
    write_text(out / "keypoint_predictions.json", json.dumps(predictions, separators=(",", ":")))
    return out
