"""Random COCO cases and a pycocotools runner shared by the COCO, TIDE and ECE tests."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np


def random_case(rng: np.random.Generator, max_images: int = 6, max_cats: int = 4,
                many_dets: bool = False) -> tuple[dict, list]:
    """A small ground truth dict and a results list with the awkward cases COCO must handle:
    images without objects or detections, crowd regions, tiny and huge boxes, boxes on an integer
    grid (exact IoU ties and IoU exactly at thresholds), areas exactly on the 32² / 96² range
    edges, tied scores, and optionally more than 100 detections per image."""
    n_img = int(rng.integers(1, max_images + 1))
    n_cat = int(rng.integers(1, max_cats + 1))
    image_ids = rng.choice(np.arange(1, 60), n_img, replace=False)
    cat_ids = rng.choice(np.arange(1, 91), n_cat, replace=False)
    images = [{"id": int(i), "width": 640, "height": 480, "file_name": f"{i}.jpg"}
              for i in image_ids]
    categories = [{"id": int(c), "name": f"c{c}", "supercategory": "s"} for c in cat_ids]
    grid = rng.random() < 0.5

    def box():
        if grid:
            x, y = rng.integers(0, 40, 2) * 4
            w, h = rng.integers(1, 30, 2) * 4
            return [float(x), float(y), float(w), float(h)]
        kind = rng.random()
        side = 2 ** rng.uniform(0, 3) if kind < 0.2 else 2 ** rng.uniform(3, 9)
        w, h = side * np.exp(rng.normal(0, 0.4, 2))
        x, y = rng.uniform(0, 400, 2)
        return [float(x), float(y), float(w), float(h)]

    anns = []
    for image_id in image_ids:
        if rng.random() < 0.15:
            continue
        for _ in range(int(rng.integers(0, 8))):
            b = box()
            area = b[2] * b[3] * rng.uniform(0.6, 1.0)
            if rng.random() < 0.1:
                area = float(rng.choice([32 ** 2, 96 ** 2]))
            anns.append({"id": len(anns) + 1, "image_id": int(image_id),
                         "category_id": int(rng.choice(cat_ids)), "bbox": b, "area": area,
                         "iscrowd": int(rng.random() < 0.12)})
    results = []
    score_levels = rng.random(5)
    for image_id in image_ids:
        if rng.random() < 0.15:
            continue
        own = [a for a in anns if a["image_id"] == image_id]
        n = int(rng.integers(90, 140)) if many_dets and rng.random() < 0.5 else int(
            rng.integers(0, 12))
        for _ in range(n):
            if own and rng.random() < 0.6:
                src = own[int(rng.integers(len(own)))]
                b = list(src["bbox"])
                if rng.random() < 0.7:
                    jitter = rng.normal(0, 0.15, 4) * np.array(b[2:] * 2)
                    b = [b[0] + jitter[0], b[1] + jitter[1], max(b[2] + jitter[2], 0.5),
                         max(b[3] + jitter[3], 0.5)]
                    if grid:
                        b = [float(np.round(v / 4) * 4) or 4.0 for v in b]
                cat = src["category_id"] if rng.random() < 0.8 else int(rng.choice(cat_ids))
            else:
                b, cat = box(), int(rng.choice(cat_ids))
            score = (float(rng.choice(score_levels)) if rng.random() < 0.3
                     else float(rng.random()))
            results.append({"image_id": int(image_id), "category_id": cat,
                            "bbox": [float(v) for v in b], "score": score})
    gt = {"images": images, "categories": categories, "annotations": anns}
    return gt, results


def pycocotools_eval(gt: dict, results: list, params: dict | None = None,
                     iou_type: str = "bbox"):
    """Run pycocotools' COCOeval (bbox, or ``iou_type``) quietly; returns the COCOeval object."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        for key, value in (params or {}).items():
            setattr(ev.params, key, value)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def tidecv_eval(gt: dict, results: list, mask: bool = False):
    """tidecv 1.0.1 in box mode (or ``mask`` mode: ``TIDE.MASK``, masks built as its COCO loader
    builds them) on the same data, without its file loaders (which need segmentations in box
    mode): returns (ap50, main dAPs, special dAPs) keyed by tidecv's short names."""
    from tidecv import TIDE
    from tidecv.data import Data
    from tidecv.functions import toRLE

    sizes = {image["id"]: (image.get("width"), image.get("height")) for image in gt["images"]}
    gt_data = Data("gt", max_dets=100)
    for image in gt["images"]:
        gt_data.add_image(image["id"], str(image["id"]))
    for cat in gt["categories"]:
        gt_data.add_class(cat["id"], str(cat["id"]))
    for ann in gt.get("annotations", []):
        shape = toRLE(ann["segmentation"], *sizes[ann["image_id"]]) if mask else None
        if ann.get("iscrowd", 0):
            gt_data.add_ignore_region(ann["image_id"], ann["category_id"], ann["bbox"], shape)
        else:
            gt_data.add_ground_truth(ann["image_id"], ann["category_id"], ann["bbox"], shape)
    preds = Data("preds")
    for det in results:
        preds.add_detection(det["image_id"], det["category_id"], det["score"], det.get("bbox"),
                            det["segmentation"] if mask else None)
    tide = TIDE()
    with contextlib.redirect_stdout(io.StringIO()):
        run = tide.evaluate(gt_data, preds, mode=TIDE.MASK if mask else TIDE.BOX)
        main = tide.get_main_errors()["preds"]
        special = tide.get_special_errors()["preds"]
    return run.ap, main, special


def _box_polygon(rng: np.random.Generator, box: list, points: int = 8) -> list:
    """A jittered ellipse-like polygon in ``box`` (xywh), COCO's flat list."""
    x, y, w, h = box
    t = np.sort(rng.uniform(0, 2 * np.pi, points))
    r = rng.uniform(0.6, 1.0, points)
    px = x + w / 2 + w / 2 * r * np.cos(t)
    py = y + h / 2 + h / 2 * r * np.sin(t)
    return np.round(np.stack([px, py], 1).ravel(), 2).tolist()


def random_mask_case(rng: np.random.Generator, **kwargs) -> tuple[dict, list]:
    """:func:`random_case` with masks: ground truth gets polygon segmentations (sometimes two
    parts), crowd regions uncompressed RLE; detections compressed RLE of a polygon in their box
    (sometimes empty), as COCO's segm results are."""
    from pycocotools import mask as mask_utils

    gt, results = random_case(rng, **kwargs)
    sizes = {image["id"]: (image["height"], image["width"]) for image in gt["images"]}
    for ann in gt["annotations"]:
        h, w = sizes[ann["image_id"]]
        parts = [_box_polygon(rng, ann["bbox"])]
        if rng.random() < 0.2:
            x, y, bw, bh = ann["bbox"]
            parts.append(_box_polygon(rng, [x + bw / 2, y + bh / 2, bw / 2, bh / 2]))
        if ann["iscrowd"]:
            m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(parts, h, w)))
            flat = m.ravel(order="F")
            bounds = np.r_[0, np.flatnonzero(flat[1:] != flat[:-1]) + 1, h * w]
            counts = [0] * int(flat[0]) + np.diff(bounds).tolist()  # first run counts zeros
            ann["segmentation"] = {"counts": counts, "size": [h, w]}
        else:
            ann["segmentation"] = parts
    for det in results:
        h, w = sizes[det["image_id"]]
        if rng.random() < 0.03:  # an empty mask
            rle = mask_utils.encode(np.zeros((h, w, 1), np.uint8, order="F"))[0]
        else:
            rle = mask_utils.merge(mask_utils.frPyObjects([_box_polygon(rng, det["bbox"])], h, w))
        det["segmentation"] = {"size": [h, w], "counts": rle["counts"].decode()}
    return gt, results
