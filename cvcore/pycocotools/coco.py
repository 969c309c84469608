"""``COCO``: pycocotools' annotation API (``pycocotools.coco.COCO`` 2.0.11), same names and results.

The object holds the parsed JSON as Python dicts, exactly as pycocotools does, because client code
reads and edits them (``coco.dataset``, ``coco.anns[id]``, ``coco.imgToAnns``): ``dataset``,
``anns``, ``cats``, ``imgs``, ``imgToAnns`` and ``catToImgs`` have pycocotools' types and
contents, the getters return the same lists in the same order, and the same lines are printed.
:class:`cvcore.pycocotools.cocoeval.COCOeval` turns the selected dicts into arrays for the engine.

Rules kept from pycocotools on purpose (client code depends on them):

- ``loadRes`` picks the kind of every result from the *first* one (caption, then a non-empty
  ``bbox``, then ``segmentation``, then ``keypoints``), edits the given result dicts in place and
  numbers them ``1..N``; boxes get ``area = w * h`` and a rectangle polygon, masks get the mask
  area and (when missing) ``toBbox`` as bbox, keypoints the extents of all their points;
- ``getAnnIds``' area filter is strict at both ends; ``getImgIds`` with several categories keeps
  images holding all of them; ``loadAnns``/``loadCats``/``loadImgs`` return None for an id that
  is neither a sequence nor a Python ``int`` (a NumPy integer, say);
- bad input raises what pycocotools raises (``AssertionError`` for a results file that is not a
  list or names unknown images, ``KeyError`` for a missing field).

One deliberate difference: ``loadRes([])`` (no detections at all) returns a result set without
annotations instead of pycocotools' ``IndexError`` (cocoapi issue #450), and COCOeval then reports
-1 / 0 as pycocotools logically would.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections import defaultdict

import numpy as np


def _is_array_like(obj) -> bool:
    """pycocotools' test for "a list of ids" (anything sized and iterable, strings included)."""
    return hasattr(obj, "__iter__") and hasattr(obj, "__len__")


def _as_list(ids):
    return ids if _is_array_like(ids) else [ids]


class COCO:
    """COCO annotations (instances, keypoints or captions) held as dicts, with index maps.

    ``COCO(annotation_file=None)``: with a file name (or path), load and index it; without, an
    empty object to fill through ``dataset`` and :meth:`createIndex`.
    """

    def __init__(self, annotation_file=None):
        self.dataset, self.anns, self.cats, self.imgs = {}, {}, {}, {}
        self.imgToAnns, self.catToImgs = defaultdict(list), defaultdict(list)
        if annotation_file is not None:
            print("loading annotations into memory...")
            start = time.time()
            with open(annotation_file) as f:
                dataset = json.load(f)
            assert type(dataset) is dict, \
                f"annotation file format {type(dataset)} not supported"
            print(f"Done (t={time.time() - start:0.2f}s)")
            self.dataset = dataset
            self.createIndex()

    def createIndex(self) -> None:
        """Build ``anns``, ``imgs``, ``cats`` (id -> dict; a repeated id keeps the last dict),
        ``imgToAnns`` (image id -> its annotations in file order) and ``catToImgs`` (category id
        -> the image id of each of its annotations, repeats included)."""
        print("creating index...")
        data = self.dataset
        annotations = data.get("annotations", [])
        anns = {}
        img_to_anns = defaultdict(list)
        for ann in annotations:
            img_to_anns[ann["image_id"]].append(ann)
            anns[ann["id"]] = ann
        imgs = {img["id"]: img for img in data.get("images", [])}
        cats = {cat["id"]: cat for cat in data.get("categories", [])}
        cat_to_imgs = defaultdict(list)
        if "annotations" in data and "categories" in data:
            for ann in annotations:
                cat_to_imgs[ann["category_id"]].append(ann["image_id"])
        print("index created!")
        self.anns, self.imgToAnns, self.catToImgs = anns, img_to_anns, cat_to_imgs
        self.imgs, self.cats = imgs, cats

    def info(self) -> None:
        """Print the file's ``info`` block, one ``key: value`` line per entry."""
        for key, value in self.dataset["info"].items():
            print(f"{key}: {value}")

    def getAnnIds(self, imgIds=[], catIds=[], areaRng=[], iscrowd=None) -> list:  # noqa: B006
        """Ids of the annotations on ``imgIds`` (image order, then file order), of ``catIds``,
        with ``areaRng[0] < area < areaRng[1]`` and ``iscrowd == iscrowd``; an empty filter (or
        None for iscrowd) is no filter. A single id may be given instead of a list."""
        imgIds, catIds = _as_list(imgIds), _as_list(catIds)
        if len(imgIds) == 0:
            anns = self.dataset["annotations"]
        else:
            anns = [ann for i in imgIds if i in self.imgToAnns for ann in self.imgToAnns[i]]
        if len(catIds) != 0:
            wanted = set(catIds)
            anns = [ann for ann in anns if ann["category_id"] in wanted]
        if len(areaRng) != 0:
            low, high = areaRng[0], areaRng[1]
            anns = [ann for ann in anns if low < ann["area"] < high]
        if iscrowd is not None:
            return [ann["id"] for ann in anns if ann["iscrowd"] == iscrowd]
        return [ann["id"] for ann in anns]

    def getCatIds(self, catNms=[], supNms=[], catIds=[]) -> list:  # noqa: B006
        """Ids of the categories named in ``catNms``, of supercategories ``supNms`` and among
        ``catIds`` (file order; empty filters are skipped)."""
        cats = self.dataset["categories"]
        for key, values in (("name", catNms), ("supercategory", supNms), ("id", catIds)):
            values = _as_list(values)
            if len(values):
                cats = [cat for cat in cats if cat[key] in values]
        return [cat["id"] for cat in cats]

    def getImgIds(self, imgIds=[], catIds=[]) -> list:  # noqa: B006
        """Ids of all images (index order) when both filters are empty; otherwise the images of
        ``imgIds`` that hold every category of ``catIds`` (a set's order, as pycocotools)."""
        imgIds, catIds = _as_list(imgIds), _as_list(catIds)
        if len(imgIds) == 0 and len(catIds) == 0:
            return list(self.imgs.keys())
        ids = set(imgIds)
        for n, cat in enumerate(catIds):
            # The first category seeds an empty id filter, as pycocotools does.
            ids = set(self.catToImgs[cat]) if n == 0 and not ids else ids & set(
                self.catToImgs[cat])
        return list(ids)

    @staticmethod
    def _load(table: dict, ids):
        if _is_array_like(ids):
            return [table[i] for i in ids]
        if type(ids) is int:
            return [table[ids]]
        return None

    def loadAnns(self, ids=[]) -> list | None:  # noqa: B006
        """The annotation dicts of ``ids`` (a list, or one ``int``)."""
        return self._load(self.anns, ids)

    def loadCats(self, ids=[]) -> list | None:  # noqa: B006
        """The category dicts of ``ids`` (a list, or one ``int``)."""
        return self._load(self.cats, ids)

    def loadImgs(self, ids=[]) -> list | None:  # noqa: B006
        """The image dicts of ``ids`` (a list, or one ``int``)."""
        return self._load(self.imgs, ids)

    def showAnns(self, anns, draw_bbox=False):
        """Draw ``anns`` on the current matplotlib axes (polygons and boxes as translucent
        patches, masks as overlays, keypoints and skeletons as lines) or print captions.
        The kind is read from the first annotation, as pycocotools does."""
        if len(anns) == 0:
            return 0
        if "segmentation" in anns[0] or "keypoints" in anns[0]:
            kind = "instances"
        elif "caption" in anns[0]:
            kind = "captions"
        else:
            raise Exception("datasetType not supported")
        if kind == "captions":
            for ann in anns:
                print(ann["caption"])
            return None
        self._draw_instances(anns, draw_bbox)
        return None

    def _draw_instances(self, anns, draw_bbox: bool) -> None:
        import matplotlib.pyplot as plt
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import Polygon

        ax = plt.gca()
        ax.set_autoscale_on(False)
        rng = np.random.default_rng()  # random colours, as pycocotools draws them
        patches, colors = [], []
        for ann in anns:
            color = (rng.random(3) * 0.6 + 0.4).tolist()
            segm = ann.get("segmentation")
            if isinstance(segm, list):
                for poly in segm:
                    patches.append(Polygon(np.array(poly).reshape(len(poly) // 2, 2)))
                    colors.append(color)
            elif segm is not None:
                mask = self.annToMask(ann).astype(float)
                fill = ([2.0 / 255, 166.0 / 255, 101.0 / 255] if ann["iscrowd"] == 1
                        else rng.random(3).tolist())
                overlay = np.ones((*mask.shape, 4))
                overlay[:, :, :3] = fill
                overlay[:, :, 3] = mask * 0.5
                ax.imshow(overlay)
            if isinstance(ann.get("keypoints"), list):
                self._draw_keypoints(plt, ann, color)
            if draw_bbox:
                x, y, w, h = ann["bbox"]
                corners = [[x, y], [x, y + h], [x + w, y + h], [x + w, y]]
                patches.append(Polygon(np.array(corners)))
                colors.append(color)
        ax.add_collection(PatchCollection(patches, facecolor=colors, linewidths=0, alpha=0.4))
        ax.add_collection(PatchCollection(patches, facecolor="none", edgecolors=colors,
                                          linewidths=2))

    def _draw_keypoints(self, plt, ann, color) -> None:
        bones = np.array(self.loadCats(ann["category_id"])[0]["skeleton"]) - 1  # 1-based in COCO
        points = np.array(ann["keypoints"])
        x, y, v = points[0::3], points[1::3], points[2::3]
        for bone in bones:
            if np.all(v[bone] > 0):
                plt.plot(x[bone], y[bone], linewidth=3, color=color)
        plt.plot(x[v > 0], y[v > 0], "o", markersize=8, markerfacecolor=color,
                 markeredgecolor="k", markeredgewidth=2)
        plt.plot(x[v > 1], y[v > 1], "o", markersize=8, markerfacecolor=color,
                 markeredgecolor=color, markeredgewidth=2)

    def loadRes(self, resFile) -> COCO:
        """A COCO object of results on this ground truth's images.

        ``resFile``: a JSON file name (or path), a list of result dicts (edited in place), or a
        NumPy ``[N, 7]`` array of ``(image_id, x, y, w, h, score, category_id)`` rows. See the
        module docstring for the per-kind rules.
        """
        res = COCO()
        res.dataset["info"] = copy.deepcopy(self.dataset.get("info", {}))
        res.dataset["images"] = list(self.dataset["images"])
        print("Loading and preparing results...")
        start = time.time()
        if isinstance(resFile, (str, os.PathLike)):
            with open(resFile) as f:
                anns = json.load(f)
        elif type(resFile) is np.ndarray:
            anns = self.loadNumpyAnnotations(resFile)
        else:
            anns = resFile
        assert type(anns) is list, "results in not an array of objects"
        result_imgs = {ann["image_id"] for ann in anns}
        assert result_imgs <= set(self.getImgIds()), \
            "Results do not correspond to current coco set"
        if not anns:  # cocoapi #450: pycocotools fails on anns[0]
            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
        elif "caption" in anns[0]:
            res.dataset["images"] = [img for img in res.dataset["images"]
                                     if img["id"] in result_imgs]
            for n, ann in enumerate(anns):
                ann["id"] = n + 1
        elif "bbox" in anns[0] and not anns[0]["bbox"] == []:
            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
            for n, ann in enumerate(anns):
                x, y, w, h = ann["bbox"][:4]
                if "segmentation" not in ann:
                    ann["segmentation"] = [[x, y, x, y + h, x + w, y + h, x + w, y]]
                ann["area"] = w * h
                ann["id"] = n + 1
                ann["iscrowd"] = 0
        elif "segmentation" in anns[0]:
            from . import mask as mask_utils

            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
            for n, ann in enumerate(anns):
                # Compressed RLE results only, as in pycocotools.
                ann["area"] = mask_utils.area(ann["segmentation"])
                if "bbox" not in ann:
                    ann["bbox"] = mask_utils.toBbox(ann["segmentation"])
                ann["id"] = n + 1
                ann["iscrowd"] = 0
        elif "keypoints" in anns[0]:
            res.dataset["categories"] = copy.deepcopy(self.dataset["categories"])
            for n, ann in enumerate(anns):
                points = ann["keypoints"]
                xs, ys = points[0::3], points[1::3]
                x0, x1, y0, y1 = np.min(xs), np.max(xs), np.min(ys), np.max(ys)
                ann["area"] = (x1 - x0) * (y1 - y0)
                ann["id"] = n + 1
                ann["bbox"] = [x0, y0, x1 - x0, y1 - y0]
        print(f"DONE (t={time.time() - start:0.2f}s)")
        res.dataset["annotations"] = anns
        res.createIndex()
        return res

    def download(self, tarDir=None, imgIds=[]):  # noqa: B006
        """Fetch images (``coco_url``) into ``tarDir``, skipping files already there."""
        from urllib.request import urlretrieve

        if tarDir is None:
            print("Please specify target directory")
            return -1
        imgs = self.imgs.values() if len(imgIds) == 0 else self.loadImgs(imgIds)
        os.makedirs(tarDir, exist_ok=True)
        for n, img in enumerate(imgs):
            start = time.time()
            path = os.path.join(tarDir, img["file_name"])
            if not os.path.exists(path):
                urlretrieve(img["coco_url"], path)
            print(f"downloaded {n}/{len(imgs)} images (t={time.time() - start:0.1f}s)")
        return None

    def loadNumpyAnnotations(self, data) -> list[dict]:
        """Result dicts from a NumPy ``[N, 7]`` array of ``(image_id, x, y, w, h, score,
        category_id)`` rows; the numbers stay NumPy scalars and the ids become ``int``."""
        print("Converting ndarray to lists...")
        assert type(data) is np.ndarray
        print(data.shape)
        assert data.shape[1] == 7
        n = data.shape[0]
        anns = []
        for i in range(n):
            if i % 1000000 == 0:
                print(f"{i}/{n}")
            row = data[i]
            anns.append({"image_id": int(row[0]), "bbox": [row[1], row[2], row[3], row[4]],
                         "score": row[5], "category_id": int(row[6])})
        return anns

    def annToRLE(self, ann) -> dict:
        """The annotation's segmentation as one compressed RLE dict: polygons are rasterised on
        the image's size and merged, uncompressed RLE is compressed, RLE is returned as is."""
        from . import mask as mask_utils

        img = self.imgs[ann["image_id"]]
        h, w = img["height"], img["width"]
        segm = ann["segmentation"]
        if type(segm) is list:  # a polygon per part of the object
            return mask_utils.merge(mask_utils.frPyObjects(segm, h, w))
        if type(segm["counts"]) is list:
            return mask_utils.frPyObjects(segm, h, w)
        return segm

    def annToMask(self, ann) -> np.ndarray:
        """The annotation's mask, uint8[h, w] (0/1)."""
        from . import mask as mask_utils

        return mask_utils.decode(self.annToRLE(ann))

