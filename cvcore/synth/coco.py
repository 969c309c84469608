"""Synthetic COCO detection set: ground truth in COCO's layout plus a detector's results.

``make_coco(out)`` writes::

    out/images/val2017/000000000001.jpg ...
    out/annotations/instances_val2017.json   # info, licenses, images, annotations, categories
    out/predictions.json                     # COCO results list: image_id, category_id, bbox, score
    out/predictions_segm.json                # the same detections, each with a "segmentation" mask

Categories are COCO's real 80 names with their sparse ids (1..90). Object areas follow a
log-uniform law so the small (< 32²), medium and large (> 96²) scales are all populated; about 1%
of the objects are crowd regions. Each object's mask is a jittered ellipse polygon inscribed in
its box, stored as COCO stores them: a polygon (``segmentation: [[x1, y1, ...]]``) for objects,
uncompressed RLE (``{"counts": [...], "size": [h, w]}``) for crowd regions; ``area`` is the
mask's pixel count (pycocotools' rasterisation, :func:`cvcore.detection.rle.from_polygons`).
``predictions_segm.json`` is ``predictions.json`` record for record (same boxes and scores, so
the box evaluation of either file is the same) plus ``segmentation``, compressed RLE at the
image's size as detectors' COCO results carry it: a jittered ellipse in the detection's box,
drawn from a separate random stream, so the box data of a seed never depends on the masks.
The predictions carry the error modes TIDE separates:
localisation jitter (some large), class confusions within a supercategory, duplicates, background
false positives, misses, and scores that rise with box quality, so AP, TIDE and ECE are all
informative. Everything is vectorised per image so a val2017-sized set (5000 images, about 36k
objects and 130k detections) takes seconds with ``write_images=False``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import write_text
from ..detection.rle import Rles, area, from_polygons, to_strings
from . import save_image

COCO_CATEGORIES = [
    (1, 'person', 'person'),
    (2, 'bicycle', 'vehicle'),
    (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'),
    (5, 'airplane', 'vehicle'),
    (6, 'bus', 'vehicle'),
    (7, 'train', 'vehicle'),
    (8, 'truck', 'vehicle'),
    (9, 'boat', 'vehicle'),
    (10, 'traffic light', 'outdoor'),
    (11, 'fire hydrant', 'outdoor'),
    (13, 'stop sign', 'outdoor'),
    (14, 'parking meter', 'outdoor'),
    (15, 'bench', 'outdoor'),
    (16, 'bird', 'animal'),
    (17, 'cat', 'animal'),
    (18, 'dog', 'animal'),
    (19, 'horse', 'animal'),
    (20, 'sheep', 'animal'),
    (21, 'cow', 'animal'),
    (22, 'elephant', 'animal'),
    (23, 'bear', 'animal'),
    (24, 'zebra', 'animal'),
    (25, 'giraffe', 'animal'),
    (27, 'backpack', 'accessory'),
    (28, 'umbrella', 'accessory'),
    (31, 'handbag', 'accessory'),
    (32, 'tie', 'accessory'),
    (33, 'suitcase', 'accessory'),
    (34, 'frisbee', 'sports'),
    (35, 'skis', 'sports'),
    (36, 'snowboard', 'sports'),
    (37, 'sports ball', 'sports'),
    (38, 'kite', 'sports'),
    (39, 'baseball bat', 'sports'),
    (40, 'baseball glove', 'sports'),
    (41, 'skateboard', 'sports'),
    (42, 'surfboard', 'sports'),
    (43, 'tennis racket', 'sports'),
    (44, 'bottle', 'kitchen'),
    (46, 'wine glass', 'kitchen'),
    (47, 'cup', 'kitchen'),
    (48, 'fork', 'kitchen'),
    (49, 'knife', 'kitchen'),
    (50, 'spoon', 'kitchen'),
    (51, 'bowl', 'kitchen'),
    (52, 'banana', 'food'),
    (53, 'apple', 'food'),
    (54, 'sandwich', 'food'),
    (55, 'orange', 'food'),
    (56, 'broccoli', 'food'),
    (57, 'carrot', 'food'),
    (58, 'hot dog', 'food'),
    (59, 'pizza', 'food'),
    (60, 'donut', 'food'),
    (61, 'cake', 'food'),
    (62, 'chair', 'furniture'),
    (63, 'couch', 'furniture'),
    (64, 'potted plant', 'furniture'),
    (65, 'bed', 'furniture'),
    (67, 'dining table', 'furniture'),
    (70, 'toilet', 'furniture'),
    (72, 'tv', 'electronic'),
    (73, 'laptop', 'electronic'),
    (74, 'mouse', 'electronic'),
    (75, 'remote', 'electronic'),
    (76, 'keyboard', 'electronic'),
    (77, 'cell phone', 'electronic'),
    (78, 'microwave', 'appliance'),
    (79, 'oven', 'appliance'),
    (80, 'toaster', 'appliance'),
    (81, 'sink', 'appliance'),
    (82, 'refrigerator', 'appliance'),
    (84, 'book', 'indoor'),
    (85, 'clock', 'indoor'),
    (86, 'vase', 'indoor'),
    (87, 'scissors', 'indoor'),
    (88, 'teddy bear', 'indoor'),
    (89, 'hair drier', 'indoor'),
    (90, 'toothbrush', 'indoor'),
]

IMAGE_SIZES = np.array([[320, 240], [240, 320], [320, 213], [288, 288]])
GT_PER_IMAGE = 7.3          # COCO val2017: 36781 objects / 5000 images
BACKGROUND_FP_PER_IMAGE = 19.0
MISS_RATE = 0.12
CONFUSION_RATE = 0.08
DUPLICATE_RATE = 0.10
CROWD_RATE = 0.01
POLYGON_POINTS = 12


def _ellipse_polygons(boxes, rng):
    """A jittered ellipse inscribed in each box (xywh [N, 4]), as COCO's flat
    [x1, y1, x2, y2, ...] lists: float64[N, 2 * POLYGON_POINTS], rounded to 0.01 px."""
    t = np.linspace(0, 2 * np.pi, POLYGON_POINTS, endpoint=False)
    r = 1.0 - 0.15 * rng.random((len(boxes), POLYGON_POINTS))
    x, y, w, h = (boxes[:, i:i + 1] for i in range(4))
    px = x + w / 2 + (w / 2) * r * np.cos(t)
    py = y + h / 2 + (h / 2) * r * np.sin(t)
    return np.round(np.stack([px, py], 2).reshape(len(boxes), 2 * POLYGON_POINTS), 2)


def _rasterise(polygons, height, width) -> Rles:
    """One mask per polygon row (pycocotools' rasterisation) at the image size."""
    starts = np.arange(len(polygons) + 1, dtype=np.int64) * polygons.shape[1]
    return from_polygons(polygons.ravel(), starts, height, width)


def _crowd_segmentation(masks: Rles, i: int) -> dict:
    """Mask ``i`` as COCO's crowd regions store it: uncompressed RLE."""
    return {"counts": masks.runs[masks.starts[i]:masks.starts[i + 1]].tolist(),
            "size": [int(masks.heights[i]), int(masks.widths[i])]}


def _sample_boxes(rng, n, width, height, min_side=2.0):
    """``n`` boxes (xywh) inside a ``width`` x ``height`` image with log-uniform areas."""
    scale = min(width, height)
    area = np.exp(rng.uniform(np.log(40.0), np.log(0.6 * scale * scale), n))
    aspect = np.exp(rng.normal(0, 0.45, n))
    w = np.clip(np.sqrt(area * aspect), min_side, width * 0.95)
    h = np.clip(np.sqrt(area / aspect), min_side, height * 0.95)
    x = rng.uniform(0, 1, n) * (width - w)
    y = rng.uniform(0, 1, n) * (height - h)
    return np.stack([x, y, w, h], 1)


def _confuse(rng, cat_index, super_of, members_of):
    """Replace each category index by another of its supercategory (or any category)."""
    out = cat_index.copy()
    for i, c in enumerate(cat_index):
        same = members_of[super_of[c]]
        choices = same[same != c] if len(same) > 1 else np.arange(len(super_of))
        out[i] = rng.choice(choices[choices != c])
    return out


def _jitter(rng, boxes, sigma, width, height):
    """Move and rescale boxes by a relative noise of ``sigma`` (per box), clipped to the image."""
    x, y, w, h = boxes.T
    s = sigma[:, None] * rng.normal(size=(len(boxes), 4))
    nw = np.maximum(w * np.exp(s[:, 2]), 1.0)
    nh = np.maximum(h * np.exp(s[:, 3]), 1.0)
    nx = np.clip(x + s[:, 0] * w, 0, width - 1)
    ny = np.clip(y + s[:, 1] * h, 0, height - 1)
    return np.stack([nx, ny, np.minimum(nw, width - nx), np.minimum(nh, height - ny)], 1)


def _box_iou_pairs(a, b):
    """IoU of matching rows of two [N, 4] xywh arrays."""
    lo = np.maximum(a[:, :2], b[:, :2])
    hi = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.maximum(hi - lo, 0), axis=1)
    return inter / (a[:, 2] * a[:, 3] + b[:, 2] * b[:, 3] - inter)


def _predict(rng, boxes, cats, width, height, super_of, members_of):
    """A detector's output for one image: (boxes [M,4], category indices [M], scores [M])."""
    n = len(boxes)
    found = rng.random(n) > MISS_RATE
    # Mostly tight boxes, a tail of poorly localised ones (TIDE's Loc errors).
    sigma = np.where(rng.random(n) < 0.8, rng.uniform(0.02, 0.08, n), rng.uniform(0.15, 0.4, n))
    det = _jitter(rng, boxes[found], sigma[found], width, height)
    det_cat = cats[found].copy()
    confused = rng.random(len(det_cat)) < CONFUSION_RATE
    det_cat[confused] = _confuse(rng, det_cat[confused], super_of, members_of)
    quality = _box_iou_pairs(det, boxes[found])
    noise = rng.normal(0, 0.12, len(det))
    score = np.clip(0.9 * quality ** 2 + noise - 0.25 * confused, 0.01, 0.99)
    dup = rng.random(len(det)) < DUPLICATE_RATE
    dup_boxes = _jitter(rng, det[dup], np.full(dup.sum(), 0.05), width, height)
    dup_score = score[dup] * rng.uniform(0.3, 0.9, dup.sum())
    n_bg = rng.poisson(BACKGROUND_FP_PER_IMAGE)
    bg_boxes = _sample_boxes(rng, n_bg, width, height)
    bg_cat = rng.integers(0, len(super_of), n_bg)
    bg_score = np.clip(rng.beta(1.2, 8.0, n_bg), 0.001, 0.99)
    return (np.concatenate([det, dup_boxes, bg_boxes]),
            np.concatenate([det_cat, det_cat[dup], bg_cat]),
            np.concatenate([score, dup_score, bg_score]))


def _draw(rng, boxes, cats, width, height):
    """A noisy background with each object drawn as a filled ellipse in its category's colour."""
    pixels = rng.normal(110, 25, (height, width, 3)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    for (x, y, w, h), c in zip(boxes, cats, strict=True):
        hue = (c * 47) % 256
        colour = (hue, (c * 97 + 60) % 256, 255 - hue)
        draw.ellipse([x, y, x + w, y + h], fill=colour, outline=(20, 20, 20))
    return image


def make_coco(out: str | os.PathLike, seed: int = 0, num_images: int = 60,
              write_images: bool = True) -> Path:
    """Write the synthetic COCO set into ``out`` and return ``out``."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    mask_rng = np.random.default_rng([seed, 1])  # predicted masks: their own stream
    cat_ids = np.array([c[0] for c in COCO_CATEGORIES])
    supers = sorted({c[2] for c in COCO_CATEGORIES})
    super_of = np.array([supers.index(c[2]) for c in COCO_CATEGORIES])
    members_of = [np.flatnonzero(super_of == s) for s in range(len(supers))]
    # COCO's class frequencies are very skewed (person is ~30%): mimic that.
    cat_p = np.r_[30.0, rng.gamma(0.8, 1.0, len(cat_ids) - 1)]
    cat_p /= cat_p.sum()

    images, annotations, predictions, segm_predictions = [], [], [], []
    for index in range(num_images):
        image_id = index + 1
        width, height = (int(v) for v in IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))])
        file_name = f"{image_id:012d}.jpg"
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height,
                       "license": 1})
        n = rng.poisson(GT_PER_IMAGE)
        boxes = np.round(_sample_boxes(rng, n, width, height), 2)
        cats = rng.choice(len(cat_ids), n, p=cat_p)
        crowd = rng.random(n) < CROWD_RATE
        polygons = _ellipse_polygons(boxes, rng)
        masks = _rasterise(polygons, height, width)
        for i, (box, c, is_crowd, pixels) in enumerate(
                zip(boxes.tolist(), cats, crowd, area(masks).tolist(), strict=True)):
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id,
                "category_id": int(cat_ids[c]), "bbox": box, "area": float(pixels),
                "iscrowd": int(is_crowd),
                "segmentation": (_crowd_segmentation(masks, i) if is_crowd
                                 else [polygons[i].tolist()])})
        det, det_cat, score = _predict(rng, boxes, cats, width, height, super_of, members_of)
        det = np.round(det, 2)
        score = np.round(score, 5)
        records = [{"image_id": image_id, "category_id": int(cat_ids[c]), "bbox": b, "score": s}
                   for b, c, s in zip(det.tolist(), det_cat, score.tolist(), strict=True)]
        predictions.extend(records)
        counts = to_strings(_rasterise(_ellipse_polygons(det, mask_rng), height, width))
        segm_predictions.extend(
            {**r, "segmentation": {"size": [height, width], "counts": c.decode()}}
            for r, c in zip(records, counts, strict=True))
        if write_images:
            save_image(_draw(rng, boxes, cats, width, height),
                       out / "images" / "val2017" / file_name, quality=90)

    categories = [{"id": i, "name": n, "supercategory": s} for i, n, s in COCO_CATEGORIES]
    ground_truth = {
        "info": {"description": "cvcore synthetic COCO", "version": "1.0", "year": 2026},
        "licenses": [{"id": 1, "name": "CC0 (synthetic)", "url": ""}],
        "images": images, "annotations": annotations, "categories": categories}
    write_text(out / "annotations" / "instances_val2017.json",
               json.dumps(ground_truth, separators=(",", ":")))
    write_text(out / "predictions.json", json.dumps(predictions, separators=(",", ":")))
    write_text(out / "predictions_segm.json",
               json.dumps(segm_predictions, separators=(",", ":")))
    return out
