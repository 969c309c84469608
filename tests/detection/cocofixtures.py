"""Random COCO cases and a pycocotools runner shared by the COCO, TIDE and ECE tests."""

from __future__ import annotations

import contextlib
import copy
import io
import warnings

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
    """Run pycocotools' COCOeval (``iou_type``) quietly; returns the COCOeval object."""
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
        if iou_type == "keypoints" and not ev.params.useCats:
            _pool_keypoint_groups(ev)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _pool_keypoint_groups(ev) -> None:
    """pycocotools' bug fixed on the oracle: with ``useCats=0`` its computeIoU pools every
    category's objects of an image, but computeOks looks them up under category -1 and finds
    none, so no keypoint detection is ever matched. cvcore pools them as computeIoU does; this
    makes computeOks read the pooled lists (category -1 is not a real id, nothing else reads it).
    """
    compute_oks = ev.computeOks

    def pooled(img_id, cat_id):
        for groups in (ev._gts, ev._dts):
            groups[img_id, cat_id] = [o for c in ev.params.catIds for o in groups[img_id, c]]
        return compute_oks(img_id, cat_id)

    ev.computeOks = pooled


def random_keypoints_case(rng: np.random.Generator, n_kp: int = 17, max_images: int = 5,
                          max_cats: int = 2, many_dets: bool = False) -> tuple[dict, list]:
    """A small person-keypoints ground truth and results with the cases OKS must handle:
    people with no visible keypoint (pycocotools' box-distance rule), ``num_keypoints`` 0
    (ignored) even when keypoints are visible, crowd regions, integer and fractional
    coordinates, duplicated people (OKS ties), exact copies (OKS 1), areas on the 32² / 96²
    edges, tied scores, results with a ``bbox`` (area w * h) or with keypoints only (box and
    area from the keypoints), and optionally more than 20 detections per image."""
    n_img = int(rng.integers(1, max_images + 1))
    n_cat = int(rng.integers(1, max_cats + 1))
    image_ids = rng.choice(np.arange(1, 60), n_img, replace=False)
    cat_ids = rng.choice(np.arange(1, 91), n_cat, replace=False)
    images = [{"id": int(i), "width": 640, "height": 480} for i in image_ids]
    categories = [{"id": int(c), "name": f"c{c}", "keypoints": [f"k{j}" for j in range(n_kp)],
                   "skeleton": []} for c in cat_ids]
    integer = rng.random() < 0.4

    def person():
        w, h = 2 ** rng.uniform(2, 8, 2)
        x, y = rng.uniform(0, 300, 2)
        return [float(x), float(y), float(w), float(h)]

    def points(box, spread=1.0):
        xs = box[0] + rng.uniform(-0.1, 1.1, n_kp) * box[2] * spread
        ys = box[1] + rng.uniform(-0.1, 1.1, n_kp) * box[3] * spread
        if integer:
            xs, ys = np.round(xs), np.round(ys)
        return xs, ys

    anns = []
    for image_id in image_ids:
        if rng.random() < 0.15:
            continue
        for _ in range(int(rng.integers(0, 7))):
            if anns and rng.random() < 0.1:  # a duplicate person: OKS ties
                ann = dict(anns[-1], id=len(anns) + 1, image_id=int(image_id))
                anns.append(ann)
                continue
            box = person()
            xs, ys = points(box)
            v = rng.choice([0, 1, 2], n_kp, p=[0.3, 0.2, 0.5])
            kind = rng.random()
            if kind < 0.15:
                v[:] = 0  # nobody visible: OKS by distance to the extended box
            crowd = rng.random() < 0.08
            if crowd:
                v[:] = 0
            xs, ys = np.where(v > 0, xs, 0), np.where(v > 0, ys, 0)
            kp = [float(c) if not integer else int(c)
                  for trip in zip(xs, ys, v, strict=True) for c in trip]
            n_vis = int((v > 0).sum())
            if rng.random() < 0.05:
                n_vis = 0  # num_keypoints says 0 although keypoints are visible: ignored
            area = box[2] * box[3] * rng.uniform(0.4, 0.9)
            if rng.random() < 0.1:
                area = float(rng.choice([32 ** 2, 96 ** 2]))
            anns.append({"id": len(anns) + 1, "image_id": int(image_id),
                         "category_id": int(rng.choice(cat_ids)), "bbox": box, "area": area,
                         "iscrowd": int(crowd), "keypoints": kp, "num_keypoints": n_vis})
    with_box = rng.random() < 0.5
    results = []
    score_levels = rng.random(4)
    for image_id in image_ids:
        if rng.random() < 0.15:
            continue
        own = [a for a in anns if a["image_id"] == image_id]
        n = int(rng.integers(15, 40)) if many_dets and rng.random() < 0.5 else int(
            rng.integers(0, 8))
        for _ in range(n):
            if own and rng.random() < 0.7:
                src = own[int(rng.integers(len(own)))]
                kp = np.array(src["keypoints"], np.float64).reshape(-1, 3)
                if rng.random() < 0.8:
                    kp[:, :2] += rng.normal(0, 1, (n_kp, 2)) * np.sqrt(src["area"]) * rng.choice(
                        [0.02, 0.1, 0.3])
                    if integer:
                        kp[:, :2] = np.round(kp[:, :2])
                box = src["bbox"]
                cat = src["category_id"] if rng.random() < 0.85 else int(rng.choice(cat_ids))
            else:
                box = person()
                kp = np.stack([*points(box), np.ones(n_kp)], axis=1)
                cat = int(rng.choice(cat_ids))
            kp[:, 2] = 1
            det = {"image_id": int(image_id), "category_id": cat,
                   "keypoints": [float(c) for c in kp.ravel()],
                   "score": float(rng.choice(score_levels)) if rng.random() < 0.3
                   else float(rng.random())}
            if with_box:
                det["bbox"] = [float(c) for c in box]
            results.append(det)
    gt = {"images": images, "categories": categories, "annotations": anns}
    return gt, results


def mask_counts(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed RLE counts of a binary mask (column-major runs, zeros first)."""
    flat = mask.ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [len(flat)]])
    runs = np.diff(edges).tolist()
    return ([0] + runs) if len(flat) and flat[0] else runs


def compressed_rle(mask: np.ndarray) -> dict:
    """COCO compressed RLE of a binary mask as a JSON-ready dict (pycocotools encodes it)."""
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}


def random_segm_case(rng: np.random.Generator, max_images: int = 4,
                     max_cats: int = 3) -> tuple[dict, list]:
    """A small instance-segmentation ground truth and results with the cases mask AP must
    handle: polygon ground truth (several parts, points outside the image), compressed RLE
    ground truth, uncompressed-RLE crowd regions, empty masks, images without objects or
    results, overlapping masks, exact copies (IoU 1) and duplicates (ties), areas on the 32² /
    96² edges, tied scores, and results by each of loadRes' rules: compressed RLE alone (area
    of the mask) or with a ``bbox`` (area w * h). (A ``bbox`` without mask is refused in segm.)"""
    n_img = int(rng.integers(1, max_images + 1))
    n_cat = int(rng.integers(1, max_cats + 1))
    image_ids = rng.choice(np.arange(1, 60), n_img, replace=False)
    cat_ids = rng.choice(np.arange(1, 91), n_cat, replace=False)
    sizes = {int(i): (int(rng.integers(20, 90)), int(rng.integers(20, 90))) for i in image_ids}
    images = [{"id": i, "height": h, "width": w} for i, (h, w) in sizes.items()]
    categories = [{"id": int(c), "name": f"c{c}"} for c in cat_ids]

    def polygon(h, w):
        cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        n = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(1, max(h, w) / 2) * rng.uniform(0.5, 1, n)
        pts = np.stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)], axis=1)
        if rng.random() < 0.3:
            pts = np.round(pts)
        return [float(v) for v in pts.ravel()]

    def blob(h, w):
        mask = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            mask[y0:y0 + int(rng.integers(0, h)), x0:x0 + int(rng.integers(0, w))] = 1
        return mask

    from pycocotools import mask as mask_utils

    anns, gt_masks = [], {}
    for image_id, (h, w) in sizes.items():
        if rng.random() < 0.15:
            continue
        for _ in range(int(rng.integers(0, 7))):
            kind = rng.random()
            crowd = rng.random() < 0.1
            if crowd:
                mask = blob(h, w)
                segm = {"size": [h, w], "counts": mask_counts(mask)}
            elif kind < 0.55:
                segm = [polygon(h, w) for _ in range(int(rng.integers(1, 3)))]
                with warnings.catch_warnings():  # pycocotools' decode vs NumPy 2's copy rule
                    warnings.simplefilter("ignore", DeprecationWarning)
                    mask = mask_utils.decode(
                        mask_utils.merge(mask_utils.frPyObjects(segm, h, w)))
            else:
                mask = blob(h, w)
                segm = compressed_rle(mask)
            area = float(mask.sum()) * rng.choice([1.0, rng.uniform(0.5, 1.5)])
            if rng.random() < 0.1:
                area = float(rng.choice([32 ** 2, 96 ** 2]))
            ys, xs = np.nonzero(mask)
            box = ([float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1)] if len(xs) else [0.0, 0.0, 0.0, 0.0])
            ann = {"id": len(anns) + 1, "image_id": image_id,
                   "category_id": int(rng.choice(cat_ids)), "segmentation": segm,
                   "area": area, "bbox": box, "iscrowd": int(crowd)}
            anns.append(ann)
            gt_masks[ann["id"]] = mask
    rule = rng.choice(["segm", "segm", "bbox"])
    results = []
    score_levels = rng.random(4)
    for image_id, (h, w) in sizes.items():
        if rng.random() < 0.15:
            continue
        own = [a for a in anns if a["image_id"] == image_id]
        for _ in range(int(rng.integers(0, 10))):
            if own and rng.random() < 0.7:
                src = own[int(rng.integers(len(own)))]
                mask = gt_masks[src["id"]].copy()
                if rng.random() < 0.6:  # shift, and flip a patch
                    mask = np.roll(mask, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
                    if rng.random() < 0.5:
                        y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
                        mask[y:y + int(rng.integers(1, 8)), x:x + int(rng.integers(1, 8))] ^= 1
                cat = src["category_id"] if rng.random() < 0.85 else int(rng.choice(cat_ids))
            else:
                mask, cat = blob(h, w), int(rng.choice(cat_ids))
            det = {"image_id": image_id, "category_id": cat,
                   "score": float(rng.choice(score_levels)) if rng.random() < 0.3
                   else float(rng.random())}
            ys, xs = np.nonzero(mask)
            box = ([float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1)] if len(xs) else [0.0, 0.0, 1.0, 1.0])
            det["segmentation"] = compressed_rle(mask)
            if rule != "segm":
                det["bbox"] = box
            results.append(det)
    gt = {"images": images, "categories": categories, "annotations": anns}
    return gt, results


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
            ann["segmentation"] = {"counts": mask_counts(m), "size": [h, w]}
        else:
            ann["segmentation"] = parts
    for det in results:
        h, w = sizes[det["image_id"]]
        polygon = mask_utils.frPyObjects([_box_polygon(rng, det["bbox"])], h, w)
        empty = rng.random() < 0.03
        det["segmentation"] = compressed_rle(np.zeros((h, w), np.uint8) if empty
                                             else mask_utils.decode(polygon)[:, :, 0])
    return gt, results
