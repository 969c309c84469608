"""cvcore.detection.rle against pycocotools 2.0.11's C mask API: seeded random cases, hand cases."""

import numpy as np
import pycocotools.mask as cm
import pytest

from cvcore.detection import rle
from tests.detection.rlecases import random_masks, random_polygon


def test_encode_decode_strings_area_bbox_match_pycocotools():
    rng = np.random.default_rng(0)
    cases = 0
    for _ in range(300):
        h, w, n = (int(v) for v in rng.integers(0, 14, 3))
        if rng.random() < 0.1:
            h, w = int(rng.integers(100, 300)), int(rng.integers(100, 300))
        masks = random_masks(rng, h, w, n)
        ref = cm.encode(masks)
        r = rle.encode(masks)
        strings = rle.to_strings(r)
        assert strings == [d["counts"] for d in ref]
        assert r.heights.tolist() == [h] * n and r.widths.tolist() == [w] * n
        back = rle.from_strings([d["counts"] for d in ref], h, w)
        np.testing.assert_array_equal(back.runs, r.runs)
        np.testing.assert_array_equal(back.starts, r.starts)
        if n:
            decoded = rle.decode(r)
            assert decoded.flags.f_contiguous and decoded.dtype == np.uint8
            np.testing.assert_array_equal(decoded, masks)
            np.testing.assert_array_equal(rle.area(r), cm.area(ref))
            np.testing.assert_array_equal(rle.to_bbox(r), cm.toBbox(ref))
        cases += n
    assert cases > 1000


def test_iou_matches_pycocotools_with_crowd_and_sizes():
    rng = np.random.default_rng(1)
    pairs = 0
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        d, g = (int(v) for v in rng.integers(1, 8, 2))
        dm, gm = random_masks(rng, h, w, d), random_masks(rng, h, w, g)
        crowd = rng.random(g) < 0.3
        dr, gr = rle.encode(dm), rle.encode(gm)
        got = rle.iou(dr, gr, crowd)
        want = cm.iou(cm.encode(dm), cm.encode(gm), crowd.astype(np.uint8))
        np.testing.assert_array_equal(got, want)
        pairs += d * g
    # different sizes where the boxes overlap: -1 like pycocotools
    a, b = np.ones((3, 4, 1), np.uint8, order="F"), np.ones((4, 3, 1), np.uint8, order="F")
    assert rle.iou(rle.encode(a), rle.encode(b), [False]).tolist() == [[-1.0]]
    assert pairs > 1000


def test_rle_iou_block_on_a_sub_block():
    rng = np.random.default_rng(2)
    dm, gm = random_masks(rng, 20, 17, 9), random_masks(rng, 20, 17, 7)
    dr, gr = rle.encode(dm), rle.encode(gm)
    crowd = np.array([0, 1, 0, 0, 1, 0, 0], bool)
    full = rle.iou(dr, gr, crowd)
    block = rle.rle_iou_block(dr.starts, dr.runs, 2, 7, gr.starts, gr.runs, 1, 5, crowd,
                              rle.area(dr), rle.area(gr), rle.to_bbox(dr), rle.to_bbox(gr))
    np.testing.assert_array_equal(block, full[2:7, 1:5])


def test_polygons_and_boxes_match_pycocotools():
    rng = np.random.default_rng(3)
    polys = 0
    for _ in range(250):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        ps = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
        ref = cm.frPyObjects([p.tolist() for p in ps], h, w)
        starts = np.cumsum([0] + [len(p) for p in ps])
        r = rle.from_polygons(np.concatenate(ps), starts, h, w)
        assert rle.to_strings(r) == [d["counts"] for d in ref]
        merged = rle.merge(r)
        assert rle.to_strings(merged) == [cm.merge(ref)["counts"]]
        boxes = np.column_stack([rng.uniform(-10, w + 5, 4), rng.uniform(-10, h + 5, 4),
                                 rng.uniform(0, 1.5 * w, 4), rng.uniform(0, 1.5 * h, 4)])
        boxes[rng.random(4) < 0.3] //= 1
        want = [d["counts"] for d in cm.frPyObjects(boxes, h, w)]
        assert rle.to_strings(rle.from_boxes(boxes, h, w)) == want
        polys += len(ps) + 4
    assert polys > 1000


def test_merge_union_and_intersection_groups():
    rng = np.random.default_rng(4)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 20, 2))
        sizes = rng.integers(0, 4, 5)
        masks = random_masks(rng, h, w, int(sizes.sum()))
        ref = cm.encode(masks)
        groups = np.concatenate([[0], np.cumsum(sizes)])
        for intersect in (False, True):
            got = rle.merge(rle.encode(masks), groups, intersect=intersect)
            want = [cm.merge(ref[a:b], intersect=intersect)
                    for a, b in zip(groups[:-1], groups[1:], strict=True)]
            assert rle.to_strings(got) == [d["counts"] for d in want]
            assert got.heights.tolist() == [d["size"][0] for d in want]
    # different sizes in one group: 0 x 0 with no runs, as rleMerge
    r = rle.concat([rle.encode(np.ones((2, 3, 1), np.uint8)), rle.encode(np.ones((3, 2, 1),
                                                                                np.uint8))])
    m = rle.merge(r)
    assert (m.heights[0], m.widths[0], rle.to_strings(m)) == (0, 0, [b""])


def test_from_segmentations_like_ann_to_rle():
    rng = np.random.default_rng(5)
    segms, hs, ws, want = [], [], [], []
    for i in range(200):
        h, w = (int(v) for v in rng.integers(1, 40, 2))
        kind = i % 3
        if kind == 0:
            segm = [random_polygon(rng, h, w).tolist() for _ in range(int(rng.integers(1, 4)))]
            ref = cm.merge(cm.frPyObjects(segm, h, w))
        else:
            mask = random_masks(rng, h, w, 1)[:, :, 0]
            ref = cm.encode(np.asfortranarray(mask))
            if kind == 1:
                runs = rle.from_strings([ref["counts"]], h, w).runs
                segm = {"size": [h, w], "counts": runs.tolist()}
                ref = cm.frPyObjects(segm, h, w)
            else:
                segm = {"size": [h, w], "counts": ref["counts"].decode()}
        segms.append(segm)
        hs.append(h)
        ws.append(w)
        want.append(ref["counts"])
    got = rle.from_segmentations(segms, np.array(hs), np.array(ws))
    assert rle.to_strings(got) == want
    assert got.heights.tolist() == hs and got.widths.tolist() == ws


def test_known_strings():
    # a 2x2 mask with the last pixel set; a 4x4 square in a 10x10 image
    r = rle.from_strings([b"31", "04", b""], [2, 2, 0], [2, 2, 0])
    assert r.runs.tolist() == [3, 1, 0, 4] and r.starts.tolist() == [0, 2, 4, 4]
    box = rle.from_boxes([[1, 2, 4, 4]], 10, 10)
    assert rle.to_strings(box) == [cm.frPyObjects(np.array([[1, 2, 4, 4.0]]), 10, 10)[0]
                                   ["counts"]]
    assert rle.area(box).tolist() == [16] and rle.to_bbox(box).tolist() == [[1, 2, 4, 4]]
    # large runs and negative differences use several characters
    runs = np.array([0, 10**6, 3, 2**28, 1], np.uint32)
    r = rle.Rles(np.array([1]), np.array([int(runs.sum())]), np.array([0, 5]), runs)
    ref = cm.frPyObjects({"size": [1, int(runs.sum())], "counts": runs.tolist()}, 1, 1)
    assert rle.to_strings(r) == [ref["counts"]]
    assert rle.from_strings([ref["counts"]], 1, int(runs.sum())).runs.tolist() == runs.tolist()


def test_unknown_image_size_takes_the_rle_size():
    got = rle.from_segmentations([{"size": [2, 3], "counts": [1, 4, 1]}], -1, -1)
    assert (got.heights[0], got.widths[0], rle.area(got)[0]) == (2, 3, 4)
    with pytest.raises(ValueError, match="image size"):
        rle.from_segmentations([[[0, 0, 1, 0, 1, 1]]], -1, -1)


@pytest.mark.parametrize("segm, message", [
    ([[1, 2, 3, 4, 5, 6, 7]], "odd number of coordinates"),
    ([[1, 2, 3, 4]], "fewer than 3 points"),
    ([[1, 2, 3, "a", 5, 6]], "non-numeric"),
    ([[1, 2, 3, float("nan"), 5, 6]], "non-finite"),
    ([], "empty polygon list"),
    ({"size": [4, 4], "counts": "0!"}, "invalid character"),
    ({"size": [4, 4], "counts": "0Q"}, "end in the middle"),
    ({"size": [4, 4], "counts": "0A"}, "past h\\*w"),
    ({"size": [4, 4], "counts": "03"}, "less than h\\*w"),
    ({"size": [4, 4], "counts": [3, 20]}, "sum to 23"),
    ({"size": [4, 4], "counts": [3, -2]}, "non-negative integers"),
    ({"size": [4, 5], "counts": [20]}, "does not match the image size"),
    ({"counts": [16]}, "no 'size'"),
    ({"size": [4, 4]}, "'counts'"),
    (7, "polygon list or an RLE dict"),
])
def test_bad_segmentations_raise(segm, message):
    with pytest.raises(ValueError, match=message):
        rle.from_segmentations([[[0, 0, 1, 0, 1, 1]], segm], [4, 4], [4, 4])


@pytest.mark.parametrize("name", ["coco_val2014_100/instances_val2014_100.json",
                                  "coco_peer/lvis/lvis_val_100.json"])
def test_real_ground_truth_like_ann_to_rle_and_iou(shared_data, name):
    import json

    from pycocotools.coco import COCO

    data = json.loads((shared_data / name).read_text())
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    anns = [a for a in data["annotations"] if "segmentation" in a]
    images = {im["id"]: im for im in data["images"]}
    hs = np.array([images[a["image_id"]]["height"] for a in anns])
    ws = np.array([images[a["image_id"]]["width"] for a in anns])
    got = rle.from_segmentations([a["segmentation"] for a in anns], hs, ws)
    want = []
    for a in anns:
        r = coco.annToRLE(a)
        want.append(r["counts"] if isinstance(r["counts"], bytes) else r["counts"].encode())
    assert rle.to_strings(got) == want
    # all-pairs IoU within each image, crowd flags as in the file
    image_ids = np.array([a["image_id"] for a in anns])
    crowd = np.array([a.get("iscrowd", 0) for a in anns], bool)
    checked = 0
    for image_id in np.unique(image_ids)[:40]:
        idx = np.flatnonzero(image_ids == image_id)
        sub = rle.take(got, idx)
        ref_rles = [coco.annToRLE(anns[i]) for i in idx]
        want_iou = cm.iou(ref_rles, ref_rles, crowd[idx].astype(np.uint8))
        np.testing.assert_array_equal(rle.iou(sub, sub, crowd[idx]), want_iou)
        checked += len(idx) ** 2
    assert len(anns) > 500 and checked > 1000
