"""cvcore.pycocotools.coco.COCO against pycocotools' COCO: index, getters, loadRes, masks."""

import copy
import json

import numpy as np
import pytest

from tests.detection.cocofixtures import random_case, random_segm_case
from tests.pycocotools.dropinfixtures import BOTH, assert_same_value, coco_from_dict, quiet

INDEX = ("dataset", "anns", "cats", "imgs", "imgToAnns", "catToImgs")

# The real pycocotools.mask (the oracle) warns under NumPy 2 on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def _index(coco) -> dict:
    return {name: getattr(coco, name) for name in INDEX}


def _case(seed: int):
    gt, results = random_case(np.random.default_rng(seed), max_images=8, max_cats=5)
    for n, cat in enumerate(gt["categories"]):
        cat["supercategory"] = f"s{n % 2}"
    gt["info"] = {"year": 2014, "description": "random case"}
    return gt, results


def test_empty_coco_then_dataset_and_index():
    (real, real_text), (ours, our_text) = (quiet(api["COCO"]) for api in BOTH.values())
    assert our_text == real_text == ""
    assert_same_value(_index(ours), _index(real))
    gt, _ = _case(1)
    for coco in (real, ours):
        coco.dataset = copy.deepcopy(gt)
    _, real_text = quiet(real.createIndex)
    _, our_text = quiet(ours.createIndex)
    assert our_text == real_text == "creating index...\nindex created!\n"
    assert_same_value(_index(ours), _index(real))
    assert len(ours.anns) == len(gt["annotations"]) > 0
    assert type(ours.imgToAnns) is type(real.imgToAnns)
    assert quiet(ours.info)[1] == quiet(real.info)[1] == "year: 2014\ndescription: random case\n"


def test_coco_from_file(tmp_path):
    gt, _ = _case(2)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    (real, real_text), (ours, our_text) = (quiet(api["COCO"], str(path)) for api in BOTH.values())
    assert our_text == real_text
    assert real_text.startswith("loading annotations into memory...\nDone (t=?s)\n")
    assert_same_value(_index(ours), _index(real))
    path.write_text("[1, 2]")
    for api in BOTH.values():
        with pytest.raises(AssertionError, match="not supported"):
            quiet(api["COCO"], str(path))


@pytest.mark.parametrize("seed", range(6))
def test_getters_equal_pycocotools(seed):
    gt, _ = _case(seed)
    real, ours = (coco_from_dict(api, gt) for api in BOTH.values())
    img_ids = [img["id"] for img in gt["images"]]
    cat_ids = [cat["id"] for cat in gt["categories"]]
    areas = sorted(a["area"] for a in gt["annotations"]) or [0.0]
    queries = [
        ("getAnnIds", {}), ("getAnnIds", {"imgIds": img_ids[0]}),
        ("getAnnIds", {"imgIds": img_ids[::2], "catIds": cat_ids[:2]}),
        ("getAnnIds", {"catIds": cat_ids[-1]}), ("getAnnIds", {"iscrowd": 1}),
        ("getAnnIds", {"iscrowd": 0, "imgIds": img_ids[1:]}),
        ("getAnnIds", {"areaRng": [areas[len(areas) // 3], areas[-1]]}),
        ("getAnnIds", {"areaRng": [32 ** 2, 96 ** 2], "catIds": cat_ids}),
        ("getCatIds", {}), ("getCatIds", {"catNms": [f"c{cat_ids[0]}"]}),
        ("getCatIds", {"supNms": "s1"}), ("getCatIds", {"catIds": cat_ids[1:], "supNms": ["s0"]}),
        ("getImgIds", {}), ("getImgIds", {"imgIds": img_ids[::-1]}),
        ("getImgIds", {"catIds": cat_ids[0]}), ("getImgIds", {"catIds": cat_ids[:2]}),
        ("getImgIds", {"imgIds": img_ids[:3], "catIds": [cat_ids[0]]}),
    ]
    for name, kwargs in queries:
        assert_same_value(getattr(ours, name)(**kwargs), getattr(real, name)(**kwargs),
                          f"{name}({kwargs})")
    ann_ids = real.getAnnIds()
    for name, ids in (("loadAnns", ann_ids[::3]), ("loadCats", cat_ids), ("loadImgs", img_ids)):
        for query in (ids, ids[:1], ids[0] if ids else [], np.int64(ids[0]) if ids else []):
            assert_same_value(getattr(ours, name)(query), getattr(real, name)(query), name)
    assert ours.loadImgs(np.int64(img_ids[0])) is None  # pycocotools: neither list nor int


def _results_from(api, gt, results):
    coco = coco_from_dict(api, gt)
    res, text = quiet(coco.loadRes, results)
    return res, text


@pytest.mark.parametrize("seed", range(4))
def test_load_res_from_list_file_and_array(seed, tmp_path):
    gt, results = _case(seed + 10)
    if not results:
        results = [{"image_id": gt["images"][0]["id"], "category_id": gt["categories"][0]["id"],
                    "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5}]
    results[0]["segmentation"] = [[0, 0, 5, 0, 5, 5]]  # kept: "segmentation" already present
    path = tmp_path / "res.json"
    path.write_text(json.dumps(results))
    array = np.array([[r["image_id"], *r["bbox"], r["score"], r["category_id"]]
                      for r in results])
    for source in (lambda: copy.deepcopy(results), lambda: str(path), lambda: array.copy()):
        (real, real_text), (ours, our_text) = (_results_from(api, gt, source())
                                               for api in BOTH.values())
        assert our_text == real_text
        assert_same_value(_index(ours), _index(real))
        anns = ours.dataset["annotations"]
        assert [a["id"] for a in anns] == list(range(1, len(results) + 1))
        b = anns[-1]["bbox"]
        assert anns[-1]["area"] == b[2] * b[3]
    assert "Converting ndarray to lists...\n" in our_text
    given = copy.deepcopy(results)
    quiet(coco_from_dict(BOTH["ours"], gt).loadRes, given)
    assert given[0]["id"] == 1 and given[0]["iscrowd"] == 0  # edited in place, as pycocotools


def test_load_res_keypoints_and_captions():
    gt, _ = _case(3)
    img = gt["images"][0]["id"]
    kps = [{"image_id": img, "category_id": gt["categories"][0]["id"], "score": 0.9,
            "keypoints": [10, 20, 2, 30.5, 5, 1, 15, 40, 0]}]
    caps = [{"image_id": img, "caption": "a thing"}]
    for results in (kps, caps):
        (real, _), (ours, _) = (_results_from(api, gt, copy.deepcopy(results))
                                for api in BOTH.values())
        assert_same_value(_index(ours), _index(real))
    assert ours.dataset["images"] == [gt["images"][0]]  # captions keep their images only


def test_load_res_bad_input():
    gt, _ = _case(4)
    unknown = [{"image_id": 10 ** 6, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1.0}]
    for api in BOTH.values():
        coco = coco_from_dict(api, gt)
        with pytest.raises(AssertionError, match="not an array"):
            quiet(coco.loadRes, {"not": "a list"})
        with pytest.raises(AssertionError, match="do not correspond"):
            quiet(coco.loadRes, copy.deepcopy(unknown))
        with pytest.raises(KeyError):
            quiet(coco.loadRes, [{"category_id": 1}])


def test_load_res_empty_is_an_empty_result_set():
    """cocoapi #450: pycocotools fails on ``anns[0]``; the drop-in gives no annotations."""
    gt, _ = _case(5)
    with pytest.raises(IndexError):
        quiet(coco_from_dict(BOTH["real"], gt).loadRes, [])
    res, _ = quiet(coco_from_dict(BOTH["ours"], gt).loadRes, [])
    assert res.dataset["annotations"] == [] and res.anns == {}
    assert len(res.dataset["categories"]) == len(gt["categories"])


@pytest.mark.parametrize("seed", range(3))
def test_masks_and_segm_results_equal_pycocotools(seed):
    """annToRLE / annToMask on polygons, uncompressed and compressed RLE; loadRes' segm rule
    (area = mask area, bbox = toBbox when missing)."""
    gt, results = random_segm_case(np.random.default_rng(seed))
    real, ours = (coco_from_dict(api, gt) for api in BOTH.values())
    kinds = set()
    for ann in gt["annotations"]:
        segm = ann["segmentation"]
        kinds.add("polygon" if isinstance(segm, list) else type(segm["counts"]).__name__)
        assert_same_value(ours.annToRLE(copy.deepcopy(ann)), real.annToRLE(copy.deepcopy(ann)))
        mask = ours.annToMask(copy.deepcopy(ann))
        assert_same_value(mask, real.annToMask(copy.deepcopy(ann)))
        assert mask.dtype == np.uint8 and mask.shape == (
            ours.imgs[ann["image_id"]]["height"], ours.imgs[ann["image_id"]]["width"])
    assert len(kinds) >= 2
    segm_only = [{k: v for k, v in r.items() if k != "bbox"} for r in results
                 if "segmentation" in r]
    if segm_only:
        (real_res, _), (our_res, _) = (quiet(c.loadRes, copy.deepcopy(segm_only))
                                       for c in (real, ours))
        assert_same_value(our_res.dataset["annotations"], real_res.dataset["annotations"])
        assert isinstance(our_res.anns[1]["bbox"], np.ndarray)


def test_show_anns_draws_what_pycocotools_draws():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gt, _ = random_segm_case(np.random.default_rng(7))
    drawn = []
    for api in BOTH.values():
        coco = coco_from_dict(api, gt)
        plt.figure()
        coco.showAnns(coco.loadAnns(coco.getAnnIds()), draw_bbox=True)
        ax = plt.gca()
        drawn.append(([len(c.get_paths()) for c in ax.collections], len(ax.images)))
        plt.close("all")
    assert drawn[1] == drawn[0]
    assert sum(drawn[0][0]) > 0
    caption = [{"image_id": 1, "caption": "a cat"}]
    assert [quiet(api["COCO"]().showAnns, caption)[1] for api in BOTH.values()] == ["a cat\n"] * 2
