"""cvcore.pycocotools.mask against pycocotools.mask 2.0.11: same strings, arrays, dtypes, errors."""

import numpy as np
import pycocotools.mask as ref
import pytest

import cvcore.pycocotools.mask as mine
from tests.detection.rlecases import random_masks, random_polygon

# pycocotools 2.0.11 on NumPy 2 warns about its Masks.__array__
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def same(a, b):
    """Equal values, types, dtypes and shapes (lists of RLE dicts compared item by item)."""
    assert type(a) is type(b)
    if isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_encode_decode_area_tobbox():
    rng = np.random.default_rng(10)
    n_masks = 0
    for _ in range(200):
        h, w, n = (int(v) for v in rng.integers(0, 12, 3))
        masks = random_masks(rng, h, w, n)
        rles = mine.encode(masks)
        same(rles, ref.encode(masks))
        if n:
            same(mine.decode(rles), ref.decode(rles))
            assert mine.decode(rles).flags.f_contiguous
            same(mine.area(rles), ref.area(rles))
            same(mine.toBbox(rles), ref.toBbox(rles))
            one = dict(rles[0], counts=rles[0]["counts"].decode())  # str counts, single dict
            same(mine.decode(one), ref.decode(one))
            same(mine.area(one), ref.area(one))
            same(mine.toBbox(one), ref.toBbox(one))
            single = np.asfortranarray(masks[:, :, 0])
            same(mine.encode(single), ref.encode(single))
        n_masks += n
    same(mine.area([]), ref.area([]))
    same(mine.toBbox([]), ref.toBbox([]))
    assert n_masks > 600


def test_iou_masks_and_boxes():
    rng = np.random.default_rng(11)
    pairs = 0
    for _ in range(120):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        d, g = (int(v) for v in rng.integers(0, 6, 2))
        dt = ref.encode(random_masks(rng, h, w, d))
        gt = ref.encode(random_masks(rng, h, w, g))
        crowd = (rng.random(g) < 0.3).astype(int).tolist()
        same(mine.iou(dt, gt, crowd), ref.iou(dt, gt, crowd))
        db = np.column_stack([rng.uniform(-5, w, d), rng.uniform(-5, h, d),
                              rng.uniform(0, w, d), rng.uniform(0, h, d)])
        gb = np.column_stack([rng.uniform(-5, w, g), rng.uniform(-5, h, g),
                              rng.uniform(0, w, g), rng.uniform(0, h, g)])
        db[: d // 2] = np.round(db[: d // 2])
        same(mine.iou(db, gb, crowd), ref.iou(db, gb, crowd))
        same(mine.iou(db.tolist(), gb.tolist(), crowd), ref.iou(db.tolist(), gb.tolist(), crowd))
        pairs += 3 * d * g
    assert pairs > 1000


def test_merge_union_and_intersection():
    rng = np.random.default_rng(12)
    for _ in range(150):
        h, w, n = (int(v) for v in rng.integers(1, 15, 3))
        rles = ref.encode(random_masks(rng, h, w, n))
        for intersect in (0, 1, False, True):
            same(mine.merge(rles, intersect), ref.merge(rles, intersect))
    same(mine.merge([]), ref.merge([]))
    other = ref.encode(np.ones((3, 2, 1), np.uint8, order="F"))
    same(mine.merge(rles + other), ref.merge(rles + other))


def test_fr_py_objects_polygons_boxes_uncompressed():
    rng = np.random.default_rng(13)
    count = 0
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 50, 2))
        polys = [random_polygon(rng, h, w).tolist() for _ in range(int(rng.integers(1, 4)))]
        same(mine.frPyObjects(polys, h, w), ref.frPyObjects(polys, h, w))
        arrays = [np.array(p) for p in polys]
        same(mine.frPyObjects(arrays, h, w), ref.frPyObjects(arrays, h, w))
        boxes = np.column_stack([rng.uniform(-10, w, 3), rng.uniform(-10, h, 3),
                                 rng.uniform(0, 1.5 * w, 3), rng.uniform(0, 1.5 * h, 3)])
        boxes[0] = np.floor(boxes[0])
        same(mine.frPyObjects(boxes, h, w), ref.frPyObjects(boxes, h, w))
        runs = rng.integers(0, 6, int(rng.integers(1, 8))).tolist()
        unc = {"size": [h, w], "counts": runs}  # need not sum to h*w: encoded as given
        same(mine.frPyObjects(unc, 1, 1), ref.frPyObjects(unc, 1, 1))
        same(mine.frPyObjects([unc, unc], 1, 1), ref.frPyObjects([unc, unc], 1, 1))
        same(mine.toBbox(mine.frPyObjects(unc, 1, 1)), ref.toBbox(ref.frPyObjects(unc, 1, 1)))
        count += len(polys) * 2 + 3 + 3
    assert count > 1000


def outcome(fn):
    try:
        r = fn()
    except Exception as e:  # noqa: BLE001
        return type(e)
    return r


BAD = {
    "int boxes": lambda m: m.frPyObjects(np.array([[1, 2, 3, 4]]), 10, 10),
    "box list": lambda m: m.frPyObjects([[1, 2, 3, 4]], 10, 10),
    "single polygon": lambda m: m.frPyObjects([1, 2, 3, 4, 5, 6], 10, 10),
    "string coordinate": lambda m: m.frPyObjects([[1, 2, 3, 4, 5, "a"]], 10, 10),
    "empty list": lambda m: m.frPyObjects([], 10, 10),
    "tuple": lambda m: m.frPyObjects(((1, 2, 3, 4),), 10, 10),
    "1-d box array": lambda m: m.frPyObjects(np.array([1, 2, 3, 4.0]), 10, 10),
    "negative counts": lambda m: m.frPyObjects({"size": [2, 3], "counts": [1, -2, 3]}, 1, 1),
    "string counts": lambda m: m.frPyObjects({"size": [2, 3], "counts": "abc"}, 1, 1),
    "C-order masks": lambda m: m.encode(np.zeros((3, 4, 2), np.uint8)),
    "C-order mask": lambda m: m.encode(np.zeros((3, 4), np.uint8)),
    "int64 masks": lambda m: m.encode(np.zeros((3, 4, 2), np.int64, order="F")),
    "crowd length": lambda m: m.iou([[1, 2, 3, 4]], [[1, 2, 3, 4]], [0, 0]),
    "crowd None": lambda m: m.iou([[1, 2, 3, 4]], [[1, 2, 3, 4]], None),
    "mixed iou": lambda m: m.iou(np.array([[1, 2, 3, 4.0]]), [{"size": [1, 1], "counts": b"1"}],
                                 [0]),
    "tuple iou": lambda m: m.iou(([1, 2, 3, 4],), [[1, 2, 3, 4]], [0]),
    "3-d iou": lambda m: m.iou(np.zeros((1, 4, 1)), np.zeros((1, 4)), [0]),
    "decode too long": lambda m: m.decode([{"size": [2, 2], "counts": b"9"}]),
    "decode no size": lambda m: m.decode([{"counts": b"04"}]),
    "decode list counts": lambda m: m.decode([{"size": [2, 2], "counts": [4]}]),
    "merge dict": lambda m: m.merge({"size": [2, 2], "counts": "013"}),
    "area tuple": lambda m: m.area(({"size": [2, 2], "counts": "013"},)),
    "empty iou": lambda m: m.iou([], [], []),
    "empty dt iou": lambda m: m.iou([], [[1, 2, 3, 4]], [0]),
    "3-d encode of 1 mask": lambda m: m.encode(np.zeros((3, 4), np.uint8, order="F")),
    "1-d encode": lambda m: m.encode(np.zeros(3, np.uint8)),
    "odd polygon": lambda m: m.frPyObjects([[1, 2, 3, 4, 5, 6, 7]], 10, 10),
    "short second polygon": lambda m: m.frPyObjects([[1, 2, 3, 4, 5, 6], [1, 2]], 10, 10),
    "float size": lambda m: m.frPyObjects([[1, 2, 3, 4, 5, 6]], 10.0, 10),
    "mixed sizes decode": lambda m: m.decode(m.encode(np.ones((3, 4, 1), np.uint8, order="F"))
                                             + m.encode(np.eye(4, 3, dtype=np.uint8)[:, :, None])),
    "polygon on empty image": lambda m: m.frPyObjects([[1, 2, 3.5, 4, 5, 0.5], [0, 0, 9, 9, 0, 9]],
                                                      6, 0),
    "size mismatch iou": lambda m: m.iou(m.encode(np.ones((3, 4, 1), np.uint8, order="F")),
                                         m.encode(np.ones((4, 3, 1), np.uint8, order="F")), [0]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_same_result_or_exception_type(name):
    same(outcome(lambda: BAD[name](mine)), outcome(lambda: BAD[name](ref)))


def test_corrupt_strings_raise_value_error():
    # pycocotools reads garbage here (or fails by luck); cvcore says what is wrong
    for counts in (b"0!", b"0Q", "0\u00e9"):
        with pytest.raises(ValueError, match="compressed RLE counts"):
            mine.area({"size": [2, 2], "counts": counts})
    with pytest.raises(ValueError, match="Invalid RLE"):
        mine.decode({"size": [2, 2], "counts": b"03"})  # short: pycocotools leaves garbage


def test_area_of_many_masks():
    # pycocotools 2.0.11 + NumPy 2 raises OverflowError in area() for more than 255 masks
    # (it builds a throw-away uint8 array of the count); cvcore returns the areas
    masks = np.zeros((4, 5, 300), np.uint8, order="F")
    masks[:2, :, ::2] = 1
    got = mine.area(mine.encode(masks))
    assert got.dtype == np.uint32 and got.tolist() == [10, 0] * 150


def test_real_segm_results_against_ground_truth(shared_data):
    import json

    from pycocotools.coco import COCO

    folder = shared_data / "coco_val2014_100"
    coco = COCO()
    coco.dataset = json.loads((folder / "instances_val2014_100.json").read_text())
    coco.createIndex()
    results = json.loads((folder / "instances_val2014_fakesegm100_results.json").read_text())
    pairs = 0
    for image_id in sorted({r["image_id"] for r in results}):
        dt = [r["segmentation"] for r in results if r["image_id"] == image_id]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        gt = [coco.annToRLE(a) for a in anns]
        crowd = [a["iscrowd"] for a in anns]
        same(mine.iou(dt, gt, crowd), ref.iou(dt, gt, crowd))
        same(mine.area(dt), ref.area(dt))
        same(mine.toBbox(dt), ref.toBbox(dt))
        same(mine.merge(dt), ref.merge(dt))
        pairs += len(dt) * len(gt)
    same(mine.decode(dt), ref.decode(dt))
    assert pairs > 1000
