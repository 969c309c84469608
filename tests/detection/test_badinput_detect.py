"""Bad-input corpus for the detection entry points: detect_eval.py, ``python -m cvcore.cocoeval``
and ``python -m cvcore.tide``.

Every case must end with exit code 2 and exactly one stderr line ``error: <file>: <problem>``
naming the offending file, no traceback anywhere, and nothing written (no run directory, no
``--json`` file). Inputs are the synthetic COCO set (4 images) with one thing broken.
"""

import copy
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO

BIG = 10 ** 400  # valid JSON, beyond int64 and float64


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """(folder, ground-truth dict, results list) of a 4-image synthetic COCO set."""
    from cvcore.synth.coco import make_coco

    folder = make_coco(tmp_path_factory.mktemp("coco"), seed=5, num_images=4)
    gt = json.loads((folder / "annotations" / "instances_val2017.json").read_text())
    results = json.loads((folder / "predictions.json").read_text())
    return folder, gt, results


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def changed(data, change):
    data = copy.deepcopy(data)
    change(data)
    return data


def evil_checkpoint(path, marker):
    """A torch.save'd pickle whose loading runs ``touch marker``."""
    import torch

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    torch.save({"model": Evil()}, path)
    return path


# Each case: (entry, name, build) with build(tmp, coco) -> (argv, offending path). The entry is a
# script or a module; the outputs each case could write are tmp/"out" (detect_eval's --out)
# and tmp/"out.json" (the modules' --json).
def gt_case(change):
    def build(tmp, coco):
        folder, gt, results = coco
        bad = write(tmp / "gt.json", changed(gt, change))
        return [bad, write(tmp / "res.json", results)], bad
    return build


def results_case(change):
    def build(tmp, coco):
        folder, gt, results = coco
        bad = write(tmp / "res.json", changed(results, change))
        return [write(tmp / "gt.json", gt), bad], bad
    return build


def raw_gt_case(text):
    def build(tmp, coco):
        bad = write(tmp / "gt.json", text)
        return [bad, write(tmp / "res.json", coco[2])], bad
    return build


def raw_results_case(text):
    def build(tmp, coco):
        bad = write(tmp / "res.json", text)
        return [write(tmp / "gt.json", coco[1]), bad], bad
    return build


def detect_dets_case(make_dets):
    """detect_eval --gt GT --dets <made>, offending the made path."""
    def build(tmp, coco):
        folder, gt, results = coco
        bad = make_dets(tmp, results)
        return ["--gt", folder / "annotations" / "instances_val2017.json", "--dets", bad], bad
    return build


def detect_data_case(text):
    def build(tmp, coco):
        bad = write(tmp / "coco.yaml", text)
        return ["--data", bad, "--weights", "yolov8n.yaml"], bad
    return build


def detect_weights_case(make_weights):
    def build(tmp, coco):
        folder = coco[0]
        bad = make_weights(tmp)
        return ["--gt", folder / "annotations" / "instances_val2017.json", "--weights", bad,
                "--images", folder / "images" / "val2017"], bad
    return build


def detect_out_is_file(tmp, coco):
    folder = coco[0]
    bad = write(tmp / "out", "not a folder")
    return ["--gt", folder / "annotations" / "instances_val2017.json",
            "--dets", folder / "predictions.json"], bad


def detect_gt_folder(tmp, coco):
    return ["--gt", tmp, "--dets", coco[0] / "predictions.json"], tmp


def detect_images_missing(tmp, coco):
    folder = coco[0]
    return ["--gt", folder / "annotations" / "instances_val2017.json", "--weights",
            "yolov8n.yaml", "--images", tmp / "no_images"], tmp / "no_images"


def detect_image_not_an_image(tmp, coco):
    folder = coco[0]
    images = shutil.copytree(folder / "images" / "val2017", tmp / "images")
    bad = write(images / "000000000002.jpg", "not a JPEG")
    return ["--gt", folder / "annotations" / "instances_val2017.json", "--weights",
            "yolov8n.yaml", "--images", images], bad


def detect_unreadable_gt(tmp, coco):
    bad = write(tmp / "gt.json", coco[1])
    bad.chmod(0)
    return ["--gt", bad, "--dets", coco[0] / "predictions.json"], bad


def json_out_is_folder(tmp, coco):
    folder = coco[0]
    (tmp / "out.json").mkdir()
    return [folder / "annotations" / "instances_val2017.json", folder / "predictions.json",
            "--json", tmp / "out.json"], tmp / "out.json"


def set_image(key, value):
    return lambda d: d["images"][1].update({key: value})


def set_ann(key, value):
    return lambda d: d["annotations"][0].update({key: value})


def set_det(key, value):
    return lambda d: d[2].update({key: value})


CASES = [
    # python -m cvcore.cocoeval GT RESULTS
    ("cocoeval", "gt-empty-file", raw_gt_case("")),
    ("cocoeval", "gt-is-a-list", raw_gt_case("[]")),
    ("cocoeval", "gt-image-not-an-object", gt_case(lambda d: d["images"].append(7))),
    ("cocoeval", "gt-image-id-10e400", gt_case(set_image("id", BIG))),
    ("cocoeval", "gt-width-10e400", gt_case(set_image("width", BIG))),
    ("cocoeval", "gt-annotation-id-string", gt_case(set_ann("id", "7"))),
    ("cocoeval", "results-is-a-dict", raw_results_case('{"annotations": []}')),
    ("cocoeval", "results-score-10e400", results_case(set_det("score", BIG))),
    ("cocoeval", "results-bbox-10e400", results_case(set_det("bbox", [1, 2, BIG, 4]))),
    ("cocoeval", "results-image-id-2e63", results_case(set_det("image_id", 2 ** 63))),
    ("cocoeval", "json-out-is-a-folder", json_out_is_folder),
    # python -m cvcore.tide GT RESULTS
    ("tide", "gt-bbox-10e400", gt_case(set_ann("bbox", [BIG, 0, 1, 1]))),
    ("tide", "gt-area-10e400", gt_case(set_ann("area", BIG))),
    ("tide", "gt-duplicate-image-ids", gt_case(lambda d: d["images"][1].update(
        id=d["images"][0]["id"]))),
    ("tide", "gt-negative-image-height", gt_case(set_image("height", -3))),
    ("tide", "gt-nested-too-deep", raw_gt_case("[" * 100_000 + "]" * 100_000)),
    ("tide", "results-image-id-string", results_case(set_det("image_id", "1"))),
    ("tide", "results-image-id-fraction", results_case(set_det("image_id", 1.5))),
    ("tide", "results-bbox-3-numbers", results_case(set_det("bbox", [1, 2, 3]))),
    ("tide", "results-negative-width", results_case(set_det("bbox", [1, 2, -3, 4]))),
    ("tide", "results-box-area-overflows", results_case(set_det("bbox", [0, 0, 1e200, 1e200]))),
    # detect_eval.py
    ("detect", "out-is-a-file", detect_out_is_file),
    ("detect", "gt-is-a-folder", detect_gt_folder),
    ("detect", "dets-score-above-1", detect_dets_case(
        lambda tmp, res: write(tmp / "res.json", changed(res, set_det("score", 1.5))))),
    ("detect", "dets-is-a-folder", detect_dets_case(lambda tmp, res: tmp)),
    ("detect", "data-invalid-yaml", detect_data_case("path: [unclosed\n")),
    ("detect", "data-not-a-mapping", detect_data_case("- val2017\n")),
    ("detect", "data-no-val", detect_data_case("path: .\n")),
    ("detect", "data-val-not-a-string", detect_data_case("path: .\nval: [a, b]\n")),
    ("detect", "data-folders-missing", detect_data_case("path: nowhere\nval: images/val2017\n")),
    ("detect", "images-folder-missing", detect_images_missing),
    ("detect", "image-not-an-image", detect_image_not_an_image),
    ("detect", "weights-run-code", detect_weights_case(
        lambda tmp: evil_checkpoint(tmp / "evil.pt", tmp / "MARKER"))),
    ("detect", "weights-not-a-checkpoint", detect_weights_case(
        lambda tmp: write(tmp / "model.pt", "not a checkpoint"))),
]
PARAMS = [pytest.param(entry, build, id=f"{entry}-{name}") for entry, name, build in CASES] + [
    pytest.param("detect", detect_unreadable_gt, id="detect-gt-unreadable",
                 marks=pytest.mark.skipif(os.geteuid() == 0,
                                          reason="root reads a file whatever its mode"))]
ENTRIES = {"detect": ["detect_eval.py"], "cocoeval": ["-m", "cvcore.cocoeval"],
           "tide": ["-m", "cvcore.tide"]}


@pytest.mark.parametrize("entry, build", PARAMS)
def test_bad_input_one_line_exit_2(coco, tmp_path, entry, build):
    argv, offending = build(tmp_path, coco)
    outputs = (["--out", tmp_path / "out"] if entry == "detect"
               else [] if "--json" in argv else ["--json", tmp_path / "out.json"])
    before = sorted(p.name for p in tmp_path.iterdir())
    out = subprocess.run([sys.executable, *ENTRIES[entry], *map(str, argv + outputs)],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert str(offending) in lines[0]
    assert "Traceback" not in out.stdout + out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run dir, no output file
    assert not (tmp_path / "MARKER").exists()
