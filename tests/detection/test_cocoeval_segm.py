"""COCO mask (segm) evaluation against pycocotools: random cases, real COCO data, the traps."""

import json
from functools import partial

import numpy as np
import pytest

from cvcore.detection.coco import load_gt, load_results
from cvcore.detection.cocoeval import Params, evaluate, summary_lines
from cvcore.errors import InputError
from tests.detection import test_cocoeval as bbox_tests
from tests.detection.cocofixtures import compressed_rle, pycocotools_eval, random_segm_case
from tests.detection.test_cocoeval import param_variant

ours = partial(bbox_tests.ours, iou_type="segm")
assert_same = partial(bbox_tests.assert_same, iou_type="segm")


@pytest.mark.parametrize("block", range(5))
def test_random_cases_equal_pycocotools(block):
    """500 seeded random cases (100 per block): all 12 stats and every array within 1e-12."""
    rng = np.random.default_rng(5000 + block)
    compared = 0
    for _ in range(100):
        gt, results = random_segm_case(rng)
        if not results:
            continue  # pycocotools crashes on empty results (#450)
        assert_same(gt, results, param_variant(rng, gt))
        compared += 1
    assert compared >= 85


def test_real_coco_val2014_100(shared_data):
    folder = shared_data / "coco_val2014_100"
    expected = json.loads((folder / "expected_stats.json").read_text())["segm"]
    gt = load_gt(folder / "instances_val2014_100.json", "segm")
    result = evaluate(gt, load_results(folder / "instances_val2014_fakesegm100_results.json", gt))
    np.testing.assert_allclose(result.stats, expected, rtol=0, atol=1e-12)
    assert result.params.iou_type == "segm"


GT = {"images": [{"id": 1, "height": 40, "width": 60}], "categories": [{"id": 1}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 400.0,
                       "bbox": [10, 10, 20, 20], "iscrowd": 0,
                       "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}]}


def test_the_first_detection_decides_the_area_rule():
    """loadRes' trap: with a bbox on the first result, areas are w * h (here 'large', so the
    small-area AP ignores it), without one they are the masks' areas."""
    mask = np.zeros((40, 60), np.uint8)
    mask[10:31, 10:31] = 1
    with_box = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 60, 40], "score": 0.9,
                 "segmentation": compressed_rle(mask)}]
    without = [{k: v for k, v in with_box[0].items() if k != "bbox"}]
    for results in (with_box, without):
        got, _ = assert_same(GT, results)
        assert got.stats[1] > 0.99  # the mask matches at IoU 0.5 either way
    assert load_results(with_box, load_gt(GT, "segm")).areas[0] == 2400.0
    assert load_results(without, load_gt(GT, "segm")).areas[0] == 441.0


def test_box_only_results_are_refused_in_segm():
    """pycocotools evaluates a result with a bbox and no segmentation as its box polygon; in a
    mask evaluation that is an error in the file, named with the detection."""
    results = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9,
                "segmentation": [[10, 10, 30, 10, 30, 30]]},
               {"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.8}]
    with pytest.raises(InputError, match="detection #1 has no 'segmentation'"):
        load_results(results, load_gt(GT, "segm"))
    assert len(load_results(results, load_gt(GT, "bbox")).ids) == 2  # boxes need no mask


def test_summary_lines_match_pycocotools_text():
    import contextlib
    import io
    gt, results = random_segm_case(np.random.default_rng(5100))
    ev = pycocotools_eval(gt, results, iou_type="segm")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        ev.summarize()
    assert summary_lines(ours(gt, results)) == buffer.getvalue().splitlines()


@pytest.mark.parametrize("segm, message", [
    ([[1, 2, 3, 4, 5]], "annotation #0: polygon 0 has an odd number of coordinates"),
    ([[1, 2, 3, 4]], "annotation #0: polygon 0 has fewer than 3 points"),
    ({"size": [40, 60], "counts": "#$%"}, "annotation #0: invalid character"),
    ({"size": [40, 60], "counts": [5, 10]}, "annotation #0: *sum to 15"),
    ({"size": [30, 60], "counts": [1800]}, "annotation #0: RLE size [30, 60] does not match"),
])
def test_bad_ground_truth_segmentations_are_named(segm, message):
    gt = json.loads(json.dumps(GT))
    gt["annotations"][0]["segmentation"] = segm
    with pytest.raises(InputError) as err:
        load_gt(gt, "segm")
    head, _, tail = message.partition("*")  # "*": any words between (the rle module's own)
    assert head in str(err.value) and tail in str(err.value)


def test_bad_result_segmentations_are_named():
    g = load_gt(GT, "segm")
    with pytest.raises(InputError, match="detection #1 has no 'segmentation'"):
        load_results([{"image_id": 1, "category_id": 1, "score": 0.5,
                       "segmentation": [[0, 0, 1, 0, 1, 1]]},
                      {"image_id": 1, "category_id": 1, "score": 0.5}], g)
    with pytest.raises(InputError, match="detection #0: polygon 0 has an odd"):
        load_results([{"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 1, 1],
                       "segmentation": [[0, 0, 1, 0, 1]]}], g)
    with pytest.raises(InputError, match="detection #0 has no 'bbox', 'segmentation' or"):
        load_results([{"image_id": 1, "category_id": 1, "score": 0.5}], g)


def test_bbox_evaluation_reads_no_masks():
    """Loaded for bbox, the ground truth's segmentations are not parsed (a broken one is not
    even noticed) and an engine asked for segm says what is missing."""
    gt = json.loads(json.dumps(GT))
    gt["annotations"][0]["segmentation"] = {"size": [40, 60], "counts": "#$%"}
    g = load_gt(gt)
    assert g.segms is None
    dets = load_results([{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20],
                          "score": 0.9}], g)
    assert evaluate(g, dets).stats[0] > 0.99
    with pytest.raises(InputError, match="iou_type='segm'"):
        evaluate(g, dets, Params(iou_type="segm"))


def test_empty_results_and_empty_ground_truth():
    for anns, expected in ((GT["annotations"], 0.0), ([], -1.0)):
        g = load_gt({**GT, "annotations": anns}, "segm")
        stats = evaluate(g, load_results([], g)).stats
        assert stats[0] == expected and set(stats) <= {0.0, -1.0}
