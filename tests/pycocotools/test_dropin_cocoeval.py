"""cvcore.pycocotools.cocoeval against pycocotools' COCOeval: numbers, evalImgs, ious, printed
lines, parameter changes between runs, accumulate() from assigned evalImgs, real COCO data."""

import copy

import numpy as np
import pytest
from pycocotools import mask as REAL_MASK

from tests.detection.cocofixtures import random_case, random_keypoints_case, random_segm_case
from tests.pycocotools.dropinfixtures import (
    BOTH,
    OURS,
    REAL,
    assert_same_eval,
    assert_same_value,
    coco_from_dict,
    quiet,
    run_eval,
)

# The real pycocotools.mask (the oracle) warns under NumPy 2 on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools.*")


def _variant(kind: int, gt: dict) -> dict:
    cats = [c["id"] for c in gt["categories"]]
    imgs = [i["id"] for i in gt["images"]]
    return [{}, {"useCats": 0}, {"maxDets": [1, 5, 20]},
            {"iouThrs": np.array([0.3, 0.5, 0.75])},
            {"areaRng": [[0, 1e10], [0, 500.0], [500.0, 5000.0], [5000.0, 1e10]]},
            {"catIds": cats[: max(1, len(cats) // 2)], "imgIds": imgs[::2]},
            {"useCats": 0, "maxDets": [1, 10, 50], "imgIds": imgs[1:]}][kind % 7]


def _cases(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for case in range(n):
        gt, results = random_case(rng, many_dets=case % 4 == 0)
        if results:  # an empty list is pycocotools' IndexError (see test_dropin_coco)
            yield case, gt, results


@pytest.mark.parametrize("seed", range(4))
def test_random_cases_equal_pycocotools(seed):
    """Every output pycocotools has, on random cases with its parameters turned: eval arrays
    and stats bit for bit, each evalImgs dict (types included), ious, the printed lines."""
    checked = 0
    for case, gt, results in _cases(seed, 10):
        params = _variant(case + seed, gt)
        real = run_eval(REAL, gt, results, "bbox", params, read_details=True)
        ours = run_eval(OURS, gt, results, "bbox", params, read_details=True)
        assert_same_eval(ours[0], real[0])
        assert_same_value(ours[1], real[1], "evalImgs")
        assert_same_value(ours[2], real[2], "ious")
        assert ours[3] == real[3]
        checked += sum(e is not None for e in real[1])
    assert checked > 20


def test_fast_path_and_assigned_eval_imgs_agree():
    for case, gt, results in _cases(11, 12):
        params = _variant(case, gt)
        real = run_eval(REAL, gt, results, "bbox", params)[0]
        fast = run_eval(OURS, gt, results, "bbox", params)[0]
        assert fast._evalImgs is None  # never built
        assert_same_eval(fast, real)
        # Assigned evalImgs (a copy of the dicts): accumulate() reads them instead of the run.
        fast.evalImgs = list(fast.evalImgs)
        quiet(fast.accumulate)
        quiet(fast.summarize)
        assert_same_eval(fast, real)


def _sequence(api, gt, results_a, results_b):
    """One COCOeval object through runs with parameters and detections changed in between;
    returns the stats and precision of each run."""
    coco_gt = coco_from_dict(api, gt)
    dt_a, _ = quiet(coco_gt.loadRes, copy.deepcopy(results_a))
    dt_b, _ = quiet(coco_gt.loadRes, copy.deepcopy(results_b))
    ev = api["COCOeval"](coco_gt, dt_a, "bbox")
    imgs, cats = list(ev.params.imgIds), list(ev.params.catIds)
    changes = [
        {}, {"imgIds": imgs[::2]}, {"catIds": cats[:1]}, {"imgIds": imgs, "catIds": cats},
        {"iouThrs": np.array([0.5, 0.75])}, {"maxDets": [100, 1, 10]},
        {"areaRng": [[0, 1e10], [0, 900.0], [900.0, 4000.0], [4000.0, 1e10]]},
        {"cocoDt": dt_b}, {"useCats": 0}, {"maxDets": [2, 3, 4]}, {"useCats": 1, "catIds": cats},
    ]
    out = []
    for change in changes:
        for key, value in change.items():
            setattr(ev if key == "cocoDt" else ev.params, key, value)
        for step in (ev.evaluate, ev.accumulate, ev.summarize):
            quiet(step)
        out.append((ev.stats.copy(), ev.eval["precision"].copy(), ev.eval["recall"].copy(),
                    list(ev.params.catIds)))
    return out


def test_parameter_changes_between_runs():
    _, gt, results_a = next(_cases(5, 5))
    _, _, results_b = next(_cases(6, 5))
    for image in gt["images"]:  # results_b must refer to gt's images
        image["id"] = image["id"]
    results_b = [dict(r, image_id=gt["images"][n % len(gt["images"])]["id"],
                      category_id=gt["categories"][n % len(gt["categories"])]["id"])
                 for n, r in enumerate(results_b)]
    real = _sequence(REAL, gt, results_a, results_b)
    ours = _sequence(OURS, gt, results_a, results_b)
    assert len(ours) == len(real) == 11
    for n, (got, want) in enumerate(zip(ours, real, strict=True)):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"run {n}")
    assert real[8][3] == [-1]  # accumulate() set catIds to [-1] without categories (both)


def test_accumulate_with_other_params_indexes_like_pycocotools():
    """accumulate(p) with p narrower than _paramsEval: pycocotools' index arithmetic."""
    _, gt, results = next(_cases(8, 5))
    got = []
    for api in (REAL, OURS):
        ev = run_eval(api, gt, results, "bbox")[0]
        p = copy.deepcopy(ev.params)
        p.catIds, p.maxDets = p.catIds[1:], [1, 100]
        p.areaRng, p.areaRngLbl = p.areaRng[2:], p.areaRngLbl[2:]
        quiet(ev.accumulate, p)
        got.append(ev.eval)
    assert_same_value(got[1]["counts"], got[0]["counts"])
    for name in ("precision", "recall", "scores"):
        np.testing.assert_array_equal(got[1][name], got[0][name], err_msg=name)


def test_compute_iou_and_evaluate_img():
    for case, gt, results in _cases(9, 6):
        use_cats = case % 2
        evs = [run_eval(api, gt, results, "bbox", {"useCats": use_cats})[0]
               for api in (REAL, OURS)]
        p = evs[0].params
        cats = p.catIds if use_cats else [-1]
        for img in p.imgIds[:3]:
            for cat in cats[:2]:
                assert_same_value(evs[1].computeIoU(img, cat), evs[0].computeIoU(img, cat))
                for a_rng, cap in ((p.areaRng[0], 100), (p.areaRng[2], 3)):
                    assert_same_value(evs[1].evaluateImg(img, cat, a_rng, cap),
                                      evs[0].evaluateImg(img, cat, a_rng, cap))


def test_ground_truth_id_zero_cocoapi_664():
    """A detection on a ground truth with id 0: pycocotools counts it a false positive. The
    drop-in's evaluate -> accumulate counts it a true positive (the engine's rule); evalImgs
    hold pycocotools' values and accumulate() from assigned evalImgs follows pycocotools."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
          "annotations": [{"id": 0, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
                           "area": 100, "iscrowd": 0}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]
    real = run_eval(REAL, gt, results, "bbox", read_details=True)
    ours = run_eval(OURS, gt, results, "bbox", read_details=True)
    assert real[0].stats[0] == 0.0 and ours[0].stats[0] == pytest.approx(1.0)
    assert_same_value(ours[1], real[1], "evalImgs")
    ours[0].evalImgs = ours[1]
    quiet(ours[0].accumulate)
    quiet(ours[0].summarize)
    assert_same_eval(ours[0], real[0])


def test_params_and_constructor_like_pycocotools(capsys):
    for iou_type in ("bbox", "segm", "keypoints"):
        real, ours = REAL["Params"](iou_type), OURS["Params"](iou_type)
        assert_same_value(vars(ours), vars(real))
    assert OURS["Params"]().iouType == REAL["Params"]().iouType == "segm"
    for api in BOTH.values():
        with pytest.raises(Exception, match="iouType not supported"):
            api["Params"]("boxes")
        ev = api["COCOeval"]()
        assert ev.params.iouType == "segm" and ev.params.imgIds == [] and ev.stats == []
        with pytest.raises(Exception, match="Please run accumulate"):
            ev.summarize()
        with pytest.raises(AttributeError):  # accumulate() before evaluate(): _paramsEval is {}
            quiet(ev.accumulate)
        with pytest.raises(Exception, match="iouType not supported"):  # after a misleading line
            api["COCOeval"](None, None, None)
        assert capsys.readouterr().out == "iouType not specified. use default iouType segm\n"


def test_use_segm_deprecated_switch():
    _, gt, results = next(_cases(12, 5))
    texts = [run_eval(api, gt, results, "segm", {"useSegm": 0})[3] for api in (REAL, OURS)]
    assert texts[1] == texts[0]
    assert "useSegm (deprecated) is not None. Running bbox evaluation" in texts[1]


def test_real_coco_val2014_100_bbox(shared_data):
    folder = shared_data / "coco_val2014_100"
    runs = []
    for api in (REAL, OURS):
        coco_gt, _ = quiet(api["COCO"], str(folder / "instances_val2014_100.json"))
        coco_dt, _ = quiet(coco_gt.loadRes,
                           str(folder / "instances_val2014_fakebbox100_results.json"))
        ev = api["COCOeval"](coco_gt, coco_dt, "bbox")
        texts = [quiet(step)[1] for step in (ev.evaluate, ev.accumulate, ev.summarize)]
        runs.append((ev, texts))
    assert_same_eval(runs[1][0], runs[0][0])
    assert runs[1][1] == runs[0][1]
    assert runs[1][0].stats[0] == pytest.approx(0.5045806987, abs=1e-10)
    assert_same_value(runs[1][0].evalImgs, runs[0][0].evalImgs, "evalImgs")


@pytest.mark.parametrize(("iou_type", "seed"), [("segm", 0), ("segm", 1), ("keypoints", 2),
                                                ("keypoints", 3)])
def test_segm_and_keypoints_random_cases(iou_type, seed):
    """Mask and keypoint evaluation: everything equal to pycocotools, as for boxes."""
    rng = np.random.default_rng(seed)
    make = random_segm_case if iou_type == "segm" else random_keypoints_case
    checked = 0
    for case in range(8):
        gt, results = make(rng)
        if not results:
            continue
        params = [{}, {"useCats": 0}, {"maxDets": [1, 5, 10] if iou_type == "segm" else [7]},
                  {"iouThrs": np.array([0.25, 0.5, 0.9])}][case % 4]
        real = run_eval(REAL, gt, results, iou_type, params, read_details=True)
        ours = run_eval(OURS, gt, results, iou_type, params, read_details=True)
        assert_same_eval(ours[0], real[0])
        assert_same_value(ours[1], real[1], "evalImgs")
        assert_same_value(ours[2], real[2], "ious")
        assert ours[3] == real[3]
        checked += int((real[0].eval["precision"] > 0).sum())
    assert checked > 0


@pytest.mark.parametrize(("folder", "gt_file", "res_file", "iou_type", "stat0"), [
    ("coco_val2014_100", "instances_val2014_100.json", "instances_val2014_fakesegm100_results.json",
     "segm", None),
    ("coco_peer/keypoints", "gt_dataset.json", "dt_dataset.json", "keypoints",
     0.5048844884488449)])
def test_real_segm_and_keypoints(shared_data, folder, gt_file, res_file, iou_type, stat0):
    runs = []
    for api in (REAL, OURS):
        coco_gt, _ = quiet(api["COCO"], str(shared_data / folder / gt_file))
        coco_dt, _ = quiet(coco_gt.loadRes, str(shared_data / folder / res_file))
        ev = api["COCOeval"](coco_gt, coco_dt, iou_type)
        texts = [quiet(step)[1] for step in (ev.evaluate, ev.accumulate, ev.summarize)]
        runs.append((ev, texts))
    assert_same_eval(runs[1][0], runs[0][0])
    assert runs[1][1] == runs[0][1]
    assert runs[1][0].stats[0] == pytest.approx(stat0 or runs[0][0].stats[0], abs=1e-15)
    assert runs[1][0].stats[0] > 0.3


def test_compute_oks_on_the_real_keypoints(shared_data):
    folder = shared_data / "coco_peer" / "keypoints"
    evs = []
    for api in (REAL, OURS):
        coco_gt, _ = quiet(api["COCO"], str(folder / "gt_dataset.json"))
        coco_dt, _ = quiet(coco_gt.loadRes, str(folder / "dt_dataset.json"))
        ev = api["COCOeval"](coco_gt, coco_dt, "keypoints")
        quiet(ev.evaluate)
        evs.append(ev)
    pairs = [(img, cat) for img in evs[0].params.imgIds for cat in evs[0].params.catIds]
    compared = 0
    for img, cat in pairs:
        want = evs[0].computeOks(img, cat)
        assert_same_value(evs[1].computeOks(img, cat), want)
        assert_same_value(evs[1].ious[img, cat], evs[0].ious[img, cat])
        compared += np.size(want)
    assert compared > 10
    for ev in evs:
        with pytest.raises(Exception, match="unknown iouType"):
            ev.computeIoU(*pairs[0])


def test_masks_of_different_sizes_on_one_image_are_refused():
    """pycocotools gives such pairs IoU -1; the drop-in refuses the input (ValueError)."""
    gt = {"images": [{"id": 1, "height": 10, "width": 10}], "categories": [{"id": 1}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 16, "iscrowd": 0,
                           "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]}]}
    mask = np.zeros((12, 10), np.uint8, order="F")
    mask[1:5, 1:5] = 1
    rle = REAL_MASK.encode(mask)
    results = [{"image_id": 1, "category_id": 1, "score": 0.5,
                "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}}]
    real = run_eval(REAL, gt, results, "segm")[0]
    assert real.stats[0] == 0.0  # IoU -1: a false positive
    with pytest.raises(ValueError, match="different sizes"):
        run_eval(OURS, gt, results, "segm")


def test_keypoints_without_categories_are_pooled():
    """pycocotools' computeOks finds nothing under category -1 (AP 0 for a perfect result);
    the drop-in pools the categories as the engine does (AP 1)."""
    points = [v for j in range(17) for v in (10.0 + 3 * j, 20.0 + 2 * j, 2)]
    gt = {"images": [{"id": 1, "height": 100, "width": 100}],
          "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(17)]}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                           "area": 2000.0, "bbox": [10, 20, 48, 32], "num_keypoints": 17,
                           "keypoints": points}]}
    results = [{"image_id": 1, "category_id": 1, "keypoints": points, "score": 0.9}]
    stats = []
    for api in (REAL, OURS):
        coco_gt = coco_from_dict(api, gt)
        coco_dt, _ = quiet(coco_gt.loadRes, copy.deepcopy(results))
        ev = api["COCOeval"](coco_gt, coco_dt, "keypoints")
        ev.params.useCats = 0
        for step in (ev.evaluate, ev.accumulate, ev.summarize):
            quiet(step)
        stats.append(ev.stats[0])
    assert stats[0] == 0.0 and stats[1] == pytest.approx(1.0)


def test_edited_eval_imgs_count_once_assigned_back():
    _, gt, results = next(_cases(21, 5))
    evs = []
    for api in (REAL, OURS):
        ev = run_eval(api, gt, results, "bbox")[0]
        eval_imgs = ev.evalImgs
        for e in eval_imgs:
            if e is not None:
                e["dtMatches"][:, ::2] = 0  # every other detection unmatched
        ev.evalImgs = eval_imgs
        quiet(ev.accumulate)
        quiet(ev.summarize)
        evs.append(ev)
    assert_same_eval(evs[1], evs[0])
    unedited = run_eval(OURS, gt, results, "bbox")[0]
    assert (evs[1].eval["recall"] < unedited.eval["recall"]).any()
