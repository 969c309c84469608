"""COCO file loading: arrays as pycocotools' loadRes builds them, one-line errors otherwise."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cvcore.detection.coco import load_gt, load_results
from cvcore.errors import InputError
from tests.conftest import REPO

GT = {"images": [{"id": 4, "width": 64, "height": 48, "file_name": "a.jpg"}, {"id": 2}],
      "categories": [{"id": 18, "name": "dog"}, {"id": 1, "name": "person"}],
      "annotations": [
          {"id": 7, "image_id": 4, "category_id": 18, "bbox": [1, 2, 3, 4], "area": 10.5,
           "iscrowd": 0},
          {"id": 8, "image_id": 2, "category_id": 1, "bbox": [0, 0, 8, 8], "area": 64,
           "iscrowd": 1}]}


def test_ground_truth_arrays():
    gt = load_gt(GT)
    assert gt.image_ids.tolist() == [4, 2] and gt.cat_names == ["dog", "person"]
    assert gt.boxes.tolist() == [[1, 2, 3, 4], [0, 0, 8, 8]]
    assert gt.areas.tolist() == [10.5, 64.0] and gt.iscrowd.tolist() == [False, True]
    assert gt.widths.tolist() == [64, 0] and gt.file_names[0] == "a.jpg"


def test_results_like_load_res(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([
        {"image_id": 2, "category_id": 1, "bbox": [0.5, 1, 2.5, 4], "score": 0.25},
        {"image_id": 4, "category_id": 18, "bbox": [0, 0, 3, 3], "score": 1}]))
    dets = load_results(path, load_gt(GT))
    assert dets.ids.tolist() == [1, 2] and dets.areas.tolist() == [10.0, 9.0]
    assert dets.scores.dtype == np.float64 and dets.scores.tolist() == [0.25, 1.0]
    assert load_results([], load_gt(GT)).boxes.shape == (0, 4)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("images"), "missing or invalid 'images'"),
    (lambda d: d["annotations"][0].pop("bbox"), "annotation #0 has no 'bbox'"),
    (lambda d: d["annotations"][1].update(id=7), "duplicate annotation id 7"),
    (lambda d: d["images"].append({"id": 4}), "duplicate image id 4"),
    (lambda d: d["annotations"][1].update(image_id=5), "#1 refers to unknown image id 5"),
    (lambda d: d["annotations"][0].update(category_id=3), "unknown category id 3"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, float("inf"), 1]), "non-finite bbox"),
    (lambda d: d["annotations"][0].update(area=-1), "bad area"),
    (lambda d: d["annotations"][0].update(bbox=[0, 0, 1]), "#0 has a bad 'bbox'"),
])
def test_bad_ground_truth(tmp_path, change, message):
    data = json.loads(json.dumps(GT))
    change(data)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        load_gt(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_missing_file_and_top_level_type(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_gt(tmp_path / "nope.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InputError, match="JSON object"):
        load_gt(tmp_path / "list.json")


def test_numbers_at_the_limits_of_int64_and_float64():
    """Whole floats are ids, Python ints beyond 64 bits that float64 holds are coordinates;
    ids beyond int64 and numbers beyond float64 (valid JSON) are one-line errors."""
    data = json.loads(json.dumps(GT))
    data["images"][1]["id"] = 2.0
    data["annotations"][1]["image_id"] = 2.0
    data["images"][0].update(width=2 ** 63 - 1)
    data["annotations"][0]["bbox"] = [0, 0, 10 ** 20, 4]
    gt = load_gt(data)
    assert gt.image_ids.tolist() == [4, 2] and gt.widths[0] == 2 ** 63 - 1
    assert gt.boxes[0].tolist() == [0.0, 0.0, 1e20, 4.0]
    for change, message in [
        (lambda d: d["images"][1].update(id=2 ** 63), "image #1 has a bad 'id'"),
        (lambda d: d["images"][0].update(height=10 ** 400), "image #0 has a bad 'height'"),
        (lambda d: d["annotations"][1].update(area=-10 ** 400), "too large for float64"),
        (lambda d: d["images"][1].update(id=1e300), "outside the int64 range"),
        (lambda d: d["images"][0].update(width=-1), "image #0 has a negative size -1 x 48"),
    ]:
        bad = json.loads(json.dumps(GT))
        change(bad)
        with pytest.raises(InputError, match=re.escape(message)):
            load_gt(bad)
    dets = load_results([{"image_id": 4, "category_id": 18, "bbox": [0, 0, 1, 1],
                          "score": 10 ** 30}], gt)
    assert dets.scores.tolist() == [1e30]  # any finite score ranks (ECE alone needs [0, 1])
    with pytest.raises(InputError, match="detection #0 has a bad 'score'"):
        load_results([{"image_id": 4, "category_id": 18, "bbox": [0, 0, 1, 1],
                       "score": 10 ** 400}], gt)


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or not Path(f"/proc/{os.getpid()}/task").exists(),
                    reason="the files are scanned in two threads with 2+ cores; needs Linux /proc")
@pytest.mark.parametrize("module", ["cvcore.cocoeval", "cvcore.tide"])
def test_ctrl_c_while_parsing_prints_only_interrupted(tmp_path, module):
    """SIGINT to the whole process group (what Ctrl-C sends) while the two threads scan."""
    det = '{"image_id": 1, "category_id": 1, "bbox": [1.5, 2.5, 30.25, 40.75], "score": 0.5}'
    (tmp_path / "res.json").write_text("[" + ",".join([det] * 600_000) + "]")
    (tmp_path / "gt.json").write_text(json.dumps(
        {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": []}))
    # One BLAS thread: the process then has 3+ threads only once the two scans have started.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", module, str(tmp_path / "gt.json"),
                             str(tmp_path / "res.json")], cwd=REPO, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while _threads(proc.pid) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # the threads are scanning (50 MB of JSON)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err, out) == (130, "interrupted\n", "")
