"""track.py end to end on synthetic MOT17-layout data and the real MOT15 detections."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import track
from cvcore.mot import read_results
from cvcore.synth.mot import make_mot
from tests.conftest import REPO


@pytest.fixture(scope="module")
def mot(tmp_path_factory):
    return make_mot(tmp_path_factory.mktemp("mot"), seed=0, frames=40) / "MOT17"


def run(*argv):
    return track.main(track.parse_args([str(a) for a in argv]))


def test_bytetrack_beats_iou_tracker_on_synthetic(mot, tmp_path):
    results = {}
    for name in ("bytetrack", "iou"):
        run_dir = run("--mot-root", mot, "--tracker", name, "--out", tmp_path / name)
        results[name] = json.loads((run_dir / "metrics.json").read_text())
        assert set(results[name]) == {"MOT17-02-SDP", "MOT17-04-SDP", "COMBINED"}
        assert set(results[name]["COMBINED"]) == set(track.METRIC_KEYS)
        rows = read_results(run_dir / "data" / "MOT17-02-SDP.txt")
        assert len(rows) > 100 and rows[:, 0].max() <= 40
        timing = json.loads((run_dir / "timing.json").read_text())
        assert timing["frames"] == 80 and timing["tracker_fps"] > 0
    bt, iou = results["bytetrack"]["COMBINED"], results["iou"]["COMBINED"]
    assert bt["MOTA"] > iou["MOTA"] and bt["IDF1"] > iou["IDF1"]


def test_eval_only_reproduces_and_video_and_first_frames(mot, tmp_path):
    run_dir = run("--mot-root", mot, "--seq", "MOT17-02-SDP", "--video", "--first-frames",
                  "--out", tmp_path / "a")
    video = cv2.VideoCapture(str(run_dir / "videos" / "MOT17-02-SDP.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 40
    ok, frame = video.read()
    assert ok and frame.std() > 5
    assert (run_dir / "first_frames.png").stat().st_size > 0
    assert (run_dir / "frame_counts.csv").read_text().splitlines()[1] == "MOT17-02-SDP,40"
    again = run("--eval-only", "--gt-root", mot / "train", "--results", run_dir / "data",
                "--out", tmp_path / "b")
    first = json.loads((run_dir / "metrics.json").read_text())
    second = json.loads((again / "metrics.json").read_text())
    assert first == second


def test_real_mot15_bytetrack_beats_iou(shared_data, tmp_path):
    combined = {}
    for name in ("bytetrack", "iou"):
        run_dir = run("--mot-root", shared_data / "mot" / "MOT15", "--tracker", name,
                      "--benchmark", "MOT15", "--out", tmp_path / name)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert len(metrics) == 12  # 11 sequences + COMBINED
        combined[name] = metrics["COMBINED"]
    assert combined["bytetrack"]["MOTA"] > combined["iou"]["MOTA"] + 5
    assert combined["bytetrack"]["IDF1"] > combined["iou"]["IDF1"] + 5


def cli(*argv):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "track.py", *map(str, argv)], cwd=REPO, env=env,
                          capture_output=True, text=True)


def test_bad_inputs_one_line(mot, tmp_path):
    out = cli("--mot-root", mot, "--seq", "MOT17-99-SDP", "--out", tmp_path / "x")
    assert out.returncode == 2 and "no sequence 'MOT17-99-SDP'" in out.stderr
    det = mot / "train" / "MOT17-04-SDP" / "det" / "det.txt"
    broken = tmp_path / "broken"
    import shutil
    shutil.copytree(mot, broken)
    bad_det = broken / "train" / "MOT17-04-SDP" / "det" / "det.txt"
    lines = det.read_text().splitlines()
    lines[3] = lines[3].replace(",", ";", 2)
    bad_det.write_text("\n".join(lines) + "\n")
    out = cli("--mot-root", broken, "--out", tmp_path / "y")
    assert out.returncode == 2 and "det.txt: line 4" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert np.loadtxt(det, delimiter=",").shape[1] == 10
