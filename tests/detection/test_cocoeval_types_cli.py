"""``python -m cvcore.cocoeval --iou-type {segm,keypoints}``: real sets end to end, and bad masks
or keypoints as one ``error: <file>: <problem>`` line with exit code 2."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cvcore.cocoeval", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env)


def test_segm_on_real_coco(shared_data, tmp_path):
    folder = shared_data / "coco_val2014_100"
    out = run_cli(folder / "instances_val2014_100.json",
                  folder / "instances_val2014_fakesegm100_results.json", "--iou-type", "segm",
                  "--json", tmp_path / "m.json")
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    expected = json.loads((folder / "expected_stats.json").read_text())["segm"]
    assert data["stats"] == pytest.approx(expected, abs=1e-12)
    assert data["stat_names"][0] == "AP" and len(data["stat_names"]) == 12
    lines = out.stdout.splitlines()
    assert len(lines) == 12 and lines[0].endswith(f"= {expected[0]:0.3f}")


def test_keypoints_on_the_peer_set(shared_data, tmp_path):
    folder = shared_data / "coco_peer" / "keypoints"
    out = run_cli(folder / "gt_dataset.json", folder / "dt_dataset.json", "--iou-type",
                  "keypoints", "--json", tmp_path / "m.json")
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["stats"][0] == pytest.approx(0.5048844884488449, abs=1e-12)
    assert data["stat_names"] == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75",
                                  "ARm", "ARl"]
    lines = out.stdout.splitlines()
    assert len(lines) == 10 and all("maxDets= 20 ]" in line for line in lines)
    assert "area=medium" in lines[3] and "IoU=0.50 " in lines[6]


IMAGES = [{"id": 1, "height": 40, "width": 60}]
POLY = [[10, 10, 30, 10, 30, 30, 10, 30]]
SEGM_GT = {"images": IMAGES, "categories": [{"id": 1}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 400.0,
                            "bbox": [10, 10, 20, 20], "iscrowd": 0, "segmentation": POLY}]}
SEGM_RES = [{"image_id": 1, "category_id": 1, "score": 0.9,
             "segmentation": {"size": [40, 60], "counts": "Y85a0"}}]
KP = [1, 2, 2] * 17
KP_GT = {"images": IMAGES, "categories": [{"id": 1, "keypoints": [str(i) for i in range(17)]}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 400.0,
                          "bbox": [10, 10, 20, 20], "iscrowd": 0, "keypoints": KP,
                          "num_keypoints": 17}]}
KP_RES = [{"image_id": 1, "category_id": 1, "score": 0.9, "keypoints": KP}]


def gt_ann(gt, **change):
    return {**gt, "annotations": [{**gt["annotations"][0], **change}]}


def det(res, i=0, **change):
    res = [dict(r) for r in res]
    res[i].update(change)
    return res


# (name, iou type, ground truth, results, which file is named, words of the problem)
CASES = [
    ("gt-malformed-rle", "segm", gt_ann(SEGM_GT, segmentation={"size": [40, 60],
                                                                "counts": "#$%!"}),
     SEGM_RES, "gt", "annotation #0: "),
    ("gt-rle-counts-short", "segm", gt_ann(SEGM_GT, segmentation={"size": [40, 60],
                                                                   "counts": [5, 10]}),
     SEGM_RES, "gt", "annotation #0: "),
    ("gt-odd-polygon", "segm", gt_ann(SEGM_GT, segmentation=[[1, 2, 3, 4, 5, 6, 7]]),
     SEGM_RES, "gt", "annotation #0: polygon 0 has an odd number"),
    ("gt-two-points", "segm", gt_ann(SEGM_GT, segmentation=[[1, 2, 3, 4]]),
     SEGM_RES, "gt", "annotation #0: polygon 0 has fewer than 3 points"),
    ("gt-no-segmentation", "segm", gt_ann(SEGM_GT, segmentation=None) | {
        "annotations": [{k: v for k, v in SEGM_GT["annotations"][0].items()
                         if k != "segmentation"}]}, SEGM_RES, "gt", "has no 'segmentation'"),
    ("gt-image-without-size", "segm", {**SEGM_GT, "images": [{"id": 1}]}, SEGM_RES, "gt",
     "image #0 has no 'width'"),
    ("results-without-segmentation", "segm", SEGM_GT,
     SEGM_RES + [{"image_id": 1, "category_id": 1, "score": 0.5}], "res",
     "detection #1 has no 'segmentation'"),
    ("results-nothing-to-compare", "segm", SEGM_GT,
     [{"image_id": 1, "category_id": 1, "score": 0.5}], "res",
     "detection #0 has no 'bbox', 'segmentation' or 'keypoints'"),
    ("results-odd-polygon", "segm", SEGM_GT,
     det(SEGM_RES, bbox=[0, 0, 5, 5], segmentation=[[0, 0, 5, 0, 5]]), "res",
     "detection #0: polygon 0 has an odd number"),
    ("results-rle-wrong-size", "segm", SEGM_GT,
     det(SEGM_RES, segmentation={"size": [40, 50], "counts": [2000]}), "res",
     "detection #0: "),
    ("gt-keypoints-too-short", "keypoints", gt_ann(KP_GT, keypoints=KP[:-3]), KP_RES, "gt",
     "annotation #0 has 48 keypoint numbers, category 1 needs 51"),
    ("gt-no-num-keypoints", "keypoints", {**KP_GT, "annotations": [
        {k: v for k, v in KP_GT["annotations"][0].items() if k != "num_keypoints"}]},
     KP_RES, "gt", "annotation #0 has no 'num_keypoints'"),
    ("results-keypoints-too-long", "keypoints", KP_GT, det(KP_RES, keypoints=KP + [1, 1, 1]),
     "res", "detection #0 has 54 keypoint numbers, category 1 needs 51"),
    ("results-keypoints-not-triples", "keypoints", KP_GT, det(KP_RES, keypoints=KP[:-1]),
     "res", "detection #0 has a bad 'keypoints'"),
    ("results-without-keypoints", "keypoints", KP_GT,
     [{"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 1, 1]}], "res",
     "detection #0 has no 'keypoints'"),
]


@pytest.mark.parametrize("iou_type, gt, results, offending, problem",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_masks_and_keypoints_one_line_exit_2(tmp_path, capsys, iou_type, gt, results,
                                                 offending, problem):
    """In this process (``cli`` is what ``python -m cvcore.cocoeval`` runs; the next test runs
    one case as a real command)."""
    from cvcore.detection.cocoeval import cli

    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    with pytest.raises(SystemExit) as exit_:
        cli([str(tmp_path / "gt.json"), str(tmp_path / "res.json"), "--iou-type", iou_type,
             "--json", str(tmp_path / "out.json")])
    assert exit_.value.code == 2
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {tmp_path / offending}.json: "), (
        out.err)
    assert problem in lines[0], lines[0]
    assert out.out == "" and not (tmp_path / "out.json").exists()


def test_bad_keypoints_as_a_command(tmp_path):
    (tmp_path / "gt.json").write_text(json.dumps(KP_GT))
    (tmp_path / "res.json").write_text(json.dumps(det(KP_RES, keypoints=KP[:-3])))
    out = run_cli(tmp_path / "gt.json", tmp_path / "res.json", "--iou-type", "keypoints")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr == (f"error: {tmp_path / 'res.json'}: detection #0 has 48 keypoint "
                          "numbers, category 1 needs 51 (x, y, visibility for each of its 17 "
                          "keypoints)\n")
