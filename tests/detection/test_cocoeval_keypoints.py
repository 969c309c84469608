"""COCO keypoints (OKS) evaluation against pycocotools: random cases, a real set, the traps."""

import contextlib
import copy
import io
from functools import partial

import numpy as np
import pytest

from cvcore.detection.coco import load_gt, load_results
from cvcore.detection.cocoeval import (
    KEYPOINT_STAT_NAMES,
    evaluate,
    stat_names,
    summary_lines,
)
from cvcore.errors import InputError
from tests.detection import test_cocoeval as bbox_tests
from tests.detection.cocofixtures import pycocotools_eval, random_keypoints_case

ours = partial(bbox_tests.ours, iou_type="keypoints")
assert_same = partial(bbox_tests.assert_same, iou_type="keypoints")


def param_variant(rng, gt):
    kind = int(rng.integers(0, 7))
    if kind == 0:
        return {"useCats": 0}  # the oracle's computeOks pools categories (its bug fixed)
    if kind == 1:
        return {"maxDets": [5, 20]}
    if kind == 2:
        return {"areaRng": [[0, 1e10], [0, 3000.0], [3000.0, 1e10]]}
    if kind == 3:
        return {"iouThrs": np.array([0.2, 0.5, 0.75, 0.9])}
    if kind == 4:
        cats = [c["id"] for c in gt["categories"]]
        imgs = [i["id"] for i in gt["images"]]
        return {"catIds": cats[:1], "imgIds": imgs[: max(1, len(imgs) // 2)]}
    return {}


@pytest.mark.parametrize("block", range(3))
def test_random_cases_equal_pycocotools(block):
    """300 seeded random cases (100 per block): all 10 stats and every array within 1e-12."""
    rng = np.random.default_rng(3000 + block)
    compared = 0
    for case in range(100):
        gt, results = random_keypoints_case(rng, many_dets=case % 8 == 0)
        if not results:
            continue  # pycocotools crashes on empty results (#450)
        assert_same(gt, results, param_variant(rng, gt))
        compared += 1
    assert compared >= 80


def test_other_keypoint_counts_with_their_sigmas():
    """Five keypoints per person and five sigmas: the sigmas follow the params."""
    rng = np.random.default_rng(3100)
    sigmas = np.array([0.3, 0.5, 0.7, 0.9, 1.1]) / 10
    for _ in range(20):
        gt, results = random_keypoints_case(rng, n_kp=5)
        if results:
            assert_same(gt, results, {"kpt_oks_sigmas": sigmas})


def test_real_keypoints_set(shared_data):
    folder = shared_data / "coco_peer" / "keypoints"
    gt = load_gt(folder / "gt_dataset.json", "keypoints")
    result = evaluate(gt, load_results(folder / "dt_dataset.json", gt))
    expected = [0.5048844884488449, 0.7227722772277227, 0.6336633663366337,
                0.46633663366336636, 0.7504950495049505, 0.5181818181818182,
                0.7272727272727273, 0.6363636363636364, 0.4666666666666666, 0.75]
    np.testing.assert_allclose(result.stats, expected, rtol=0, atol=1e-12)
    assert result.params.max_dets == [20] and result.params.area_lbl == ["all", "medium", "large"]


def _one_person(visible=True, num_keypoints=None, crowd=0):
    v = 2 if visible else 0
    kp = [c for j in range(17) for c in (10 + 3 * j, 20 + 2 * j, v)]
    if not visible:
        kp = [0] * 51
    return {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 50, 40], "area": 1500.0,
            "iscrowd": crowd, "keypoints": kp,
            "num_keypoints": (17 if visible else 0) if num_keypoints is None else num_keypoints}


GT_HEAD = {"images": [{"id": 1, "width": 100, "height": 100}],
           "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(17)]}]}


def test_invisible_person_uses_distance_to_the_extended_box():
    """No visible keypoint: OKS from each detected keypoint's distance outside the box grown
    by its width and height on every side; inside that box every term is exp(0) = 1."""
    gt = {**GT_HEAD, "annotations": [_one_person(visible=False, num_keypoints=3)]}
    inside = [c for j in range(17) for c in (-30 + 7 * j, 0 + 5 * j, 1)]
    outside = [c for j in range(17) for c in (-60 + 3 * j, 150, 1)]
    results = [{"image_id": 1, "category_id": 1, "keypoints": inside, "score": 0.9},
               {"image_id": 1, "category_id": 1, "keypoints": outside, "score": 0.8}]
    got, _ = assert_same(gt, results)
    assert got.recall[-1, 0, 0, 0] == 1.0  # OKS 1 > the 0.95 threshold


def test_num_keypoints_zero_is_ignored_not_crowd():
    """num_keypoints 0 marks the person ignored although keypoints are visible: a detection
    on it is neither a true nor a false positive, and a second one is a false positive (it is
    not a crowd region that could take many)."""
    gt = {**GT_HEAD, "annotations": [_one_person(num_keypoints=0)]}
    person = gt["annotations"][0]["keypoints"]
    results = [{"image_id": 1, "category_id": 1, "keypoints": person, "score": 0.9},
               {"image_id": 1, "category_id": 1, "keypoints": person, "score": 0.8}]
    got, _ = assert_same(gt, results)
    assert (got.precision == -1).all()  # nothing to find: every entry undefined


def test_summary_lines_and_names():
    import contextlib
    import io
    gt, results = random_keypoints_case(np.random.default_rng(3200))
    ev = pycocotools_eval(gt, results, iou_type="keypoints")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        ev.summarize()
    assert summary_lines(ours(gt, results)) == buffer.getvalue().splitlines()
    assert stat_names("keypoints") == KEYPOINT_STAT_NAMES == (
        "AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@pytest.mark.parametrize("change, message", [
    (lambda gt, res: gt["annotations"][0].update(keypoints=[1, 2, 2] * 16),
     "annotation #0 has 48 keypoint numbers, category 1 needs 51"),
    (lambda gt, res: gt["annotations"][0].pop("num_keypoints"), "has no 'num_keypoints'"),
    (lambda gt, res: gt["annotations"][0].pop("keypoints"), "annotation #0 has no 'keypoints'"),
    (lambda gt, res: res[0].update(keypoints=[1, 2, 1] * 18),
     "detection #0 has 54 keypoint numbers"),
    (lambda gt, res: res[0].update(keypoints=[1, 2]), "detection #0 has a bad 'keypoints'"),
    (lambda gt, res: res[0].update(keypoints=[1, "x", 1] * 17), "bad 'keypoints' value 'x'"),
    (lambda gt, res: gt["categories"][0].pop("keypoints"), "has no 'keypoints' list"),
])
def test_bad_keypoints_are_named(change, message):
    gt = {**GT_HEAD, "annotations": [_one_person()]}
    gt = {**gt, "categories": [dict(c) for c in gt["categories"]]}
    res = [{"image_id": 1, "category_id": 1, "keypoints": [1, 2, 1] * 17, "score": 0.5}]
    change(gt, res)
    with pytest.raises(InputError, match=message):
        g = load_gt(gt, "keypoints")
        load_results(res, g)


def test_sigmas_must_fit_the_keypoints():
    gt = {**GT_HEAD, "annotations": [_one_person()]}
    res = [{"image_id": 1, "category_id": 1, "keypoints": [1, 2, 1] * 17, "score": 0.5}]
    with pytest.raises(InputError, match="has 17 keypoints but kpt_oks_sigmas has 5"):
        ours(gt, res, {"kpt_oks_sigmas": np.ones(5)})


def test_without_categories_keypoints_are_matched_across_categories():
    """pycocotools' computeOks reads category -1's groups when use_cats is off, so it matches no
    detection (AP 0 for a perfect result); cvcore pools the categories as computeIoU does."""
    gt = {**GT_HEAD, "annotations": [_one_person()]}
    results = [{"image_id": 1, "category_id": 1, "keypoints": gt["annotations"][0]["keypoints"],
                "score": 0.9}]
    raw = pycocotools_eval(gt, results, iou_type="keypoints")
    got, _ = assert_same(gt, results, {"useCats": 0})
    assert got.stats[0] == pytest.approx(1.0) and raw.stats[0] == pytest.approx(1.0)
    with contextlib.redirect_stdout(io.StringIO()):
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        unfixed = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        unfixed.params.useCats = 0
        unfixed.evaluate()
        unfixed.accumulate()
        unfixed.summarize()
    assert unfixed.stats[0] == 0.0  # the bug, still there in pycocotools 2.0.11


def test_empty_results_and_empty_ground_truth():
    for anns, expected in (([_one_person()], 0.0), ([], -1.0)):
        g = load_gt({**GT_HEAD, "annotations": anns}, "keypoints")
        stats = evaluate(g, load_results([], g)).stats
        assert stats[0] == expected and set(stats) <= {0.0, -1.0}


def test_oks_mean_sums_in_numpys_order():
    """The OKS mean adds its terms as np.sum does (pairwise, 8 accumulators, halves above
    128), so it is np.sum's value to the last bit where a plain loop is not."""
    from cvcore.detection.cocoeval import _numpy_sum
    rng = np.random.default_rng(3300)
    loop_differs = 0
    for n in list(range(1, 40)) + [127, 128, 129, 200, 300, 1000]:
        for _ in range(20):
            a = rng.random(n) * 10.0 ** rng.uniform(-8, 8, n)
            assert _numpy_sum(a, 0, n) == np.sum(a)
            total = 0.0
            for x in a.tolist():  # left to right
                total += x
            loop_differs += total != np.sum(a)
    assert loop_differs > 50  # the order matters
