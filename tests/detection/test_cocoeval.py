"""cvcore.cocoeval against pycocotools: random cases, real COCO data, and each known trap."""

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cvcore.detection.coco import load_gt, load_results
from cvcore.detection.cocoeval import Params, evaluate, summary_lines
from tests.conftest import REPO
from tests.detection.cocofixtures import pycocotools_eval, random_case

ONE = 1 / (1 + np.spacing(1))  # pycocotools' "precision 1": tp / (tp + fp + eps)
PY_NAMES = {"iouThrs": "iou_thrs", "recThrs": "rec_thrs", "maxDets": "max_dets",
            "areaRng": "area_rng", "areaRngLbl": "area_lbl", "useCats": "use_cats",
            "catIds": "cat_ids", "imgIds": "img_ids", "kpt_oks_sigmas": "kpt_oks_sigmas"}


def ours(gt, results, params=None, iou_type="bbox"):
    """cvcore on a ground-truth dict and results list, with pycocotools-named ``params``."""
    g = load_gt(gt, iou_type)
    return evaluate(g, load_results(results, g), Params(
        iou_type=iou_type, **{PY_NAMES[k]: v for k, v in (params or {}).items()}))


def assert_same(gt, results, params=None, iou_type="bbox"):
    """cvcore and pycocotools agree: 12 (10) stats and whole arrays within 1e-12."""
    ref = pycocotools_eval(gt, results, params, iou_type=iou_type)
    got = ours(gt, results, params, iou_type)
    np.testing.assert_allclose(got.stats, ref.stats, rtol=0, atol=1e-12)
    for name in ("precision", "recall", "scores"):
        np.testing.assert_allclose(getattr(got, name), ref.eval[name], rtol=0, atol=1e-12,
                                   err_msg=name)
    return got, ref


def param_variant(rng, gt):
    """Default parameters, or one of pycocotools' knobs turned."""
    kind = int(rng.integers(0, 7))
    if kind == 0:
        return {"useCats": 0}
    if kind == 1:
        return {"maxDets": sorted(int(v) for v in rng.choice([1, 2, 5, 10, 20, 100], 3,
                                                             replace=False))}
    if kind == 2:
        return {"areaRng": [[0, 1e10], [0, 500.0], [500.0, 5000.0], [5000.0, 1e10]]}
    if kind == 3:
        return {"iouThrs": np.array([0.3, 0.5, 0.75, 0.9])}
    if kind == 4:
        cats = [c["id"] for c in gt["categories"]]
        imgs = [i["id"] for i in gt["images"]]
        return {"catIds": cats[: max(1, len(cats) // 2)], "imgIds": imgs[: max(1, len(imgs) // 2)]}
    if kind == 5:
        return {"useCats": 0, "maxDets": [1, 10, 50]}
    return {}


@pytest.mark.parametrize("block", range(10))
def test_random_cases_equal_pycocotools(block):
    """1000 seeded random cases (100 per block), every stat and array within 1e-12."""
    rng = np.random.default_rng(1000 + block)
    compared = 0
    for case in range(100):
        gt, results = random_case(rng, many_dets=case % 10 == 0)
        if not results:
            continue  # pycocotools crashes on empty results; tested separately below
        assert_same(gt, results, param_variant(rng, gt))
        compared += 1
    assert compared >= 90


def test_real_coco_val2014_100(shared_data):
    folder = shared_data / "coco_val2014_100"
    expected = json.loads((folder / "expected_stats.json").read_text())["bbox"]
    gt = load_gt(folder / "instances_val2014_100.json")
    result = evaluate(gt, load_results(folder / "instances_val2014_fakebbox100_results.json", gt))
    np.testing.assert_allclose(result.stats, expected, rtol=0, atol=1e-12)
    assert result.stats[0] == pytest.approx(0.5045806987249628, abs=1e-12)


def test_thresholds_come_from_linspace():
    p = Params()
    assert p.iou_thrs[8] == 0.8999999999999999 and p.iou_thrs[8] != 0.9
    above = [i for i in range(101) if p.rec_thrs[i] != i / 100]
    assert len(above) == 10 and all(p.rec_thrs[i] == np.nextafter(i / 100, 1) for i in above)


def test_iou_exactly_at_threshold_and_linspace_0_9():
    """A detection with IoU exactly 0.9 matches at pycocotools' 0.8999999999999999 threshold
    and one with IoU 0.5 matches at 0.5 (>=)."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
                           "area": 100, "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 0, 10, 10],
                           "area": 100, "iscrowd": 0}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 9], "score": 0.9},   # 0.9
               {"image_id": 1, "category_id": 1, "bbox": [100, 0, 10, 5], "score": 0.8}]  # 0.5
    got, _ = assert_same(gt, results)
    assert got.recall[8, 0, 0, 2] == 0.5   # IoU 0.9 counted at the "0.9" threshold
    assert got.recall[0, 0, 0, 2] == 1.0


def test_area_ranges_are_inclusive():
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 32, 32],
                           "area": 32.0 ** 2, "iscrowd": 0}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 32, 32], "score": 0.5}]
    got, _ = assert_same(gt, results)
    # small and medium both contain 32² (precision is 1 / (1 + eps), see the next test)
    assert got.stats[3] == got.stats[4] == ONE


def test_precision_uses_spacing_guard():
    """One false positive ranked above one true positive: precision 1/(2 + eps), not 0.5."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50],
                           "area": 2500, "iscrowd": 0}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [200, 200, 50, 50], "score": 0.9},
               {"image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.8}]
    got, _ = assert_same(gt, results)
    assert got.precision[0, 100, 0, 0, 2] == 1 / (2 + np.spacing(1))


def test_stats0_reads_max_dets_100_issue_558():
    gt, results = random_case(np.random.default_rng(7))
    got, _ = assert_same(gt, results, {"maxDets": [1, 10, 50]})
    assert got.stats[0] == -1  # no 100 among max_dets: pycocotools' summarize gives -1
    assert got.stats[1] > -1


def test_ties_prefer_the_later_ground_truth_and_crowd_iou():
    """Two identical ground truths: pycocotools keeps the later one on equal IoU; a crowd region
    absorbs any number of detections with intersection-over-detection-area."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600,
               "iscrowd": 0},
              {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 200,
               "iscrowd": 0},
              {"id": 3, "image_id": 1, "category_id": 1, "bbox": [100, 100, 200, 200],
               "area": 40000, "iscrowd": 1}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.9},
               {"image_id": 1, "category_id": 1, "bbox": [110, 110, 20, 20], "score": 0.8},
               {"image_id": 1, "category_id": 1, "bbox": [150, 150, 20, 20], "score": 0.7}]
    got, _ = assert_same(gt, results)
    # In the "small" range only annotation 2 (area 200) counts; the detection took it, not 1.
    assert got.recall[0, 0, 1, 2] == 1.0
    assert got.precision[0, 0, 0, 0, 2] == ONE  # crowd matches are ignored, not false positives


def test_more_than_100_detections_per_image_are_capped():
    rng = np.random.default_rng(3)
    gt, results = random_case(rng, max_images=2, many_dets=True)
    results = results + [dict(results[0], score=0.001 * i) for i in range(150)]
    got, _ = assert_same(gt, results)
    assert got.stats[8] >= 0


def test_empty_results_give_undefined_stats_issue_450():
    from pycocotools.coco import COCO
    gt, _ = random_case(np.random.default_rng(11), max_images=6)
    gt["annotations"].append({"id": 999, "image_id": gt["images"][0]["id"], "area": 100.0,
                              "category_id": gt["categories"][0]["id"], "bbox": [0, 0, 10, 10],
                              "iscrowd": 0})
    with pytest.raises(IndexError), contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        coco.loadRes([])  # pycocotools crashes here
    got = ours(gt, [])
    # No detections: precision 0 and recall 0 wherever ground truth exists, -1 elsewhere.
    assert got.stats[0] == 0.0 and got.stats[8] == 0.0
    assert set(np.unique(got.precision)) <= {-1.0, 0.0}


def test_ground_truth_id_zero_issue_664():
    """pycocotools stores matches as annotation ids and tests them for truth, so a detection
    matched to annotation id 0 counts as a false positive; we count it as a true positive."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}],
          "annotations": [{"id": 0, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50],
                           "area": 2500, "iscrowd": 0}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "score": 0.9}]
    ref = pycocotools_eval(gt, results)
    got = ours(gt, results)
    assert ref.stats[0] == 0.0  # pycocotools: the perfect detection is a false positive
    assert got.stats[0] == ONE


def test_summary_lines_match_pycocotools_text():
    gt, results = random_case(np.random.default_rng(5))
    buffer = io.StringIO()
    ev = pycocotools_eval(gt, results)
    with contextlib.redirect_stdout(buffer):
        ev.summarize()
    assert summary_lines(ours(gt, results)) == buffer.getvalue().splitlines()


def test_per_category_table_and_pr_curve():
    gt, results = random_case(np.random.default_rng(9), max_cats=3)
    got, ref = assert_same(gt, results)
    rows = got.per_category_ap()
    for k, row in enumerate(rows):
        p = ref.eval["precision"][:, :, k, 0, 2]
        expected = np.mean(p[p > -1]) if (p > -1).any() else -1
        assert row["ap"] == pytest.approx(expected, abs=1e-12)
    assert got.pr_curve(0.5).shape == (len(rows), 101)


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cvcore.cocoeval", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env)


def test_cli_prints_summary_and_writes_json(tmp_path):
    gt, results = random_case(np.random.default_rng(21))
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    out = run_cli(tmp_path / "gt.json", tmp_path / "res.json", "--json", tmp_path / "m.json")
    assert out.returncode == 0, out.stderr
    ref = pycocotools_eval(gt, results)
    data = json.loads((tmp_path / "m.json").read_text())
    np.testing.assert_allclose(data["stats"], ref.stats, rtol=0, atol=1e-12)
    assert data["stat_names"] == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10",
                                  "AR100", "ARs", "ARm", "ARl"]
    assert len(out.stdout.splitlines()) == 12 and "maxDets=100 ]" in out.stdout


@pytest.mark.parametrize("content, message", [
    ("[{", "malformed JSON"),
    ('[{"image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',
     "unknown image id 999"),
    ('[{"image_id": 1, "category_id": 77, "bbox": [0, 0, 1, 1], "score": 0.5}]',
     "unknown category id 77"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, NaN, 1], "score": 0.5}]',
     "non-finite bbox"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, -2, 1], "score": 0.5}]',
     "negative box size"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 1], "score": "high"}]',
     "bad 'score'"),
    ('[{"image_id": 1, "bbox": [0, 0, 2, 1], "score": 0.5}]', "has no 'category_id'"),
    ('{"image_id": 1}', "must be a JSON list"),
])
def test_cli_bad_results_one_line_exit_2(tmp_path, content, message):
    gt = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": []}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(content)
    out = run_cli(tmp_path / "gt.json", tmp_path / "res.json")
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and str(tmp_path / "res.json") in out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_cli_scores_outside_0_1_give_pycocotools_numbers(tmp_path):
    """The score rule: COCO AP ranks any finite score, as pycocotools does (only ECE, in
    detect_eval.py, needs probabilities)."""
    gt, results = random_case(np.random.default_rng(22))
    for r in results:
        r["score"] = 40 * r["score"] - 15  # negative and above 1, same ranking
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    out = run_cli(tmp_path / "gt.json", tmp_path / "res.json", "--json", tmp_path / "m.json")
    assert out.returncode == 0, out.stderr
    stats = json.loads((tmp_path / "m.json").read_text())["stats"]
    np.testing.assert_allclose(stats, pycocotools_eval(gt, results).stats, rtol=0, atol=1e-12)


def test_match_gt_reproduces_pycocotools_dt_matches():
    """Matches.match_gt names the ground-truth row each kept detection took: as annotation ids it
    equals pycocotools' evalImgs dtMatches (0 = unmatched) at every area range and threshold."""
    from cvcore.detection.cocoeval import match, resolve_params
    rng = np.random.default_rng(77)
    checked = 0
    for _ in range(30):
        gt, results = random_case(rng)
        if not results:
            continue
        ref = pycocotools_eval(gt, results)
        g = load_gt(gt)
        d = load_results(results, g)
        p = resolve_params(None, g)
        m = match(g, d, p)
        ours_ids = np.append(g.ann_ids, 0)[m.match_gt]  # -1 -> 0 as pycocotools
        n_img = len(p.img_ids)
        for e_index, e in enumerate(ref.evalImgs):
            if e is None:
                continue
            k, rest = divmod(e_index, len(p.area_rng) * n_img)
            a, i = divmod(rest, n_img)
            rows = np.flatnonzero((m.det_cat == k) & (m.det_img == i))
            rows = rows[np.argsort(m.rank[rows])]
            assert (d.ids[m.det_index[rows]] == e["dtIds"]).all()
            np.testing.assert_array_equal(ours_ids[a][:, rows], e["dtMatches"])
            checked += 1
    assert checked > 500


def test_accumulate_from_plain_arrays_equals_evaluate():
    from cvcore.detection.cocoeval import accumulate, count_positives, match, resolve_params
    gt, results = random_case(np.random.default_rng(78))
    g = load_gt(gt)
    d = load_results(results, g)
    p = resolve_params(None, g)
    m = match(g, d, p)
    shuffle = np.random.default_rng(0).permutation(len(m.det_index))  # any order will do
    got = accumulate(m.det_cat[shuffle], m.det_img[shuffle], m.rank[shuffle],
                     d.scores[m.det_index][shuffle], m.matched[:, :, shuffle],
                     m.ignored[:, :, shuffle], count_positives(m, p), p)
    ref = pycocotools_eval(gt, results)
    np.testing.assert_allclose(got.precision, ref.eval["precision"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.stats, ref.stats, rtol=0, atol=1e-12)


def test_signed_and_tied_scores_sort_as_pycocotools():
    """Scores only rank: negative scores, -0.0 next to 0.0 and heavy ties (one decimal) order
    detections as pycocotools' stable sorts do, with and without categories (the engine sorts
    by radix on the scores' bits, not with NumPy)."""
    rng = np.random.default_rng(79)
    compared = 0
    for case in range(40):
        gt, results = random_case(rng, many_dets=case % 8 == 0)
        if not results:
            continue
        for r in results:
            r["score"] = float(np.round(rng.normal(0, 1), 1))
            if r["score"] == 0.0 and rng.random() < 0.5:
                r["score"] = -0.0
        assert_same(gt, results, {"useCats": int(case % 2)})
        compared += 1
    assert compared >= 30


def test_match_without_ground_truth_rows():
    """match(gt_rows=False) leaves match_gt out and changes nothing else."""
    from cvcore.detection.cocoeval import match, resolve_params
    gt, results = random_case(np.random.default_rng(80))
    g = load_gt(gt)
    d = load_results(results, g)
    p = resolve_params(None, g)
    full, lean = match(g, d, p), match(g, d, p, gt_rows=False)
    assert lean.match_gt is None and full.match_gt.shape == full.matched.shape
    np.testing.assert_array_equal(lean.matched, full.matched)
    np.testing.assert_array_equal(lean.ignored, full.ignored)
    np.testing.assert_array_equal(full.matched, full.match_gt >= 0)
