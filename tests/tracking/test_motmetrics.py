"""cvcore.motmetrics against TrackEval: real MPNTrack results, motmetrics' TUD data, random
sequences; plus MOT file errors."""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvcore.errors import InputError
from cvcore.tracking.metrics import FAMILIES
from cvcore.tracking.mot import _read_table, read_gt, read_results
from cvcore.tracking.motmetrics import (
    PERCENT,
    SUMMARY,
    combine,
    evaluate,
    evaluate_sequence,
    sequence_counts,
    summary,
)
from tests.conftest import REPO
from tests.tracking.motfixtures import random_sequence, trackeval_eval, write_sequences


def assert_close(ours: dict, ref: dict, tol: float = 1e-9):
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=tol, rel=0), key


def test_mpntrack_mot17_equals_trackeval_detailed(shared_data):
    """Every field of TrackEval's detailed CSV (full precision), each sequence and combined."""
    mot = shared_data / "mot"
    ours = evaluate(mot / "MOT17" / "train", mot / "trackers" / "MPNTrack-MOT17-DPM" / "data",
                    "MOT17")
    with open(mot / "trackers" / "MPNTrack-MOT17-DPM" / "pedestrian_detailed.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8
    for row in rows:
        got = ours[row["seq"]]
        for key in SUMMARY:
            column = f"{key}___AUC" if f"{key}___AUC" in row else key
            expected = float(row[column]) * (100 if key in PERCENT else 1)
            assert got[key] == pytest.approx(expected, abs=1e-9, rel=0), (row["seq"], key)
    combined = ours["COMBINED"]
    assert (round(combined["HOTA"], 3), round(combined["MOTA"], 3),
            round(combined["IDF1"], 3)) == (59.300, 59.133, 68.001)


def motmetrics_data() -> Path:
    spec = importlib.util.find_spec("motmetrics")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the motmetrics wheel (which ships the TUD sequences) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def tud_sequences():
    data = motmetrics_data()
    seqs = {}
    for name in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = read_gt(data / name / "gt.txt")
        res = read_results(data / name / "test.txt")
        seqs[name] = (gt, res, int(max(gt[:, 0].max(), res[:, 0].max())))
    return seqs


def test_tud_devkit_and_trackeval_values(tmp_path):
    seqs = tud_sequences()
    gt_root, res_dir = write_sequences(tmp_path / "ours", seqs, "MOT15")
    ours = evaluate(gt_root, res_dir, "MOT15")
    # MOTChallenge devkit values asserted by motmetrics' tests, and TrackEval's HOTA.
    assert ours["TUD-Campus"]["MOTA"] == pytest.approx(52.6462, abs=1e-4)
    assert ours["TUD-Campus"]["IDF1"] == pytest.approx(55.7659, abs=1e-4)
    assert ours["COMBINED"]["MOTA"] == pytest.approx(55.5116, abs=1e-4)
    assert [round(ours[s]["HOTA"], 3) for s in ("TUD-Campus", "TUD-Stadtmitte", "COMBINED")] == [
        39.140, 39.785, 39.996]
    ref = trackeval_eval(tmp_path / "ref", seqs, "MOT15")
    for seq in ref:
        assert_close(ours[seq], ref[seq], 1e-6)


@pytest.mark.parametrize("benchmark", ["MOT17", "MOT15", "MOT20"])
def test_random_sequences_equal_trackeval(tmp_path, benchmark):
    rng = np.random.default_rng({"MOT17": 1, "MOT15": 2, "MOT20": 3}[benchmark])
    seqs = {}
    for i in range(12):
        length = int(rng.integers(5, 40))
        gt, res = random_sequence(rng, length, distractors=benchmark != "MOT15")
        if i == 0:
            res = res[:0]  # a tracker with no output at all
        if i == 1:
            gt = gt[:0]    # a sequence without ground truth
        seqs[f"SEQ-{i:02d}"] = (gt, res, length)
    gt_root, res_dir = write_sequences(tmp_path / "ours", seqs, benchmark)
    ours = evaluate(gt_root, res_dir, benchmark)
    ref = trackeval_eval(tmp_path / "ref", seqs, benchmark)
    assert set(ours) == set(ref)
    for seq in ref:
        assert_close(ours[seq], ref[seq])


def test_families_have_trackeval_fields():
    """Each family reports its TrackEval class's summary fields, in TrackEval's order, ratios
    (float fields) in percent."""
    import trackeval

    theirs = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR(), trackeval.metrics.Identity(),
              trackeval.metrics.Count()]
    assert [m.name for m in FAMILIES] == [t.get_name() for t in theirs]
    for ours, ref in zip(FAMILIES, theirs, strict=True):
        assert list(ours.summary_fields) == ref.summary_fields
        assert set(ours.float_fields) == set(ref.summary_fields) - set(ref.integer_fields)
    assert SUMMARY == [f for t in theirs for f in t.summary_fields]


@pytest.mark.parametrize("empty_side", ["results", "gt"])
def test_empty_sequence_is_a_field_not_a_count(empty_side):
    """A sequence without tracker (or ground-truth) boxes keeps TrackEval's CLEAR defaults (all
    ratios 0, MLR 100%); a combination never does: its ratios come from the summed counts."""
    gt = np.array([[1, 1, 0, 0, 10, 20, 1, 1, 1]], float)
    res = np.array([[1, 5, 0, 0, 10, 20, 1, -1, -1, -1]], float)
    gt, res = (gt, res[:0]) if empty_side == "results" else (gt[:0], res)
    part = sequence_counts(gt, res, 1)
    assert part.empty and not combine([part]).empty
    assert "empty" not in part.counts["CLEAR"]
    seq, combined = summary(part), summary(combine([part]))
    assert (seq["MOTA"], seq["MLR"], seq["CLR_FN"], seq["CLR_FP"]) == (
        0.0, 100.0, len(gt), len(res))
    assert (combined["MOTA"], combined["MLR"]) == (
        (0.0, 100.0) if empty_side == "results" else (-100.0, 0.0))


def test_distractor_matched_boxes_are_removed():
    gt = np.array([[1, 1, 0, 0, 10, 20, 1, 1, 1], [1, 2, 100, 0, 10, 20, 0, 7, 1]], float)
    res = np.array([[1, 5, 0, 0, 10, 20, 1, -1, -1, -1], [1, 6, 100, 0, 10, 20, 1, -1, -1, -1]],
                   float)
    mot17 = evaluate_sequence(gt, res, 1, "MOT17")
    assert (mot17["CLR_TP"], mot17["CLR_FP"], mot17["Dets"]) == (1, 0, 1)
    mot15 = evaluate_sequence(gt, res, 1, "MOT15")  # no distractor removal; flag 0 dropped
    assert (mot15["CLR_TP"], mot15["CLR_FP"], mot15["GT_Dets"]) == (1, 1, 1)


@pytest.mark.parametrize("content, message", [
    ("1,1,0,0,10,10,1\n1,2,0,0,10\n", "line 2:"),
    ("1,1,0,0,10,10,1\n2,1,a,0,10,10,1\n", "line 2:"),
    ("1,1,0,0,-10,10,1\n", "line 1: negative box width -10"),
    ("1,1,0,0,10,10\n", "expected 7-10 columns"),
    ("1,1,0,0,10,10,1\n\n1,1.5,0,0,10,10,1\n", "line 3: id 1.5 is not a whole number"),
    ("1,-2,0,0,10,10,1\n", "line 1: id -2 is not a whole number >= 0"),
    ("1.5,1,0,0,10,10,1\n", "line 1: frame 1.5 is not a whole number"),
    ("1,1,0,0,10,10,1\n1,1,5,5,10,10,1\n", "line 2: id 1 repeated in frame 1 (first on line 1)"),
    ("1,1,0,0,10,10,1\n1,9007199254740993,0,0,10,10,1\n",
     "line 2: number 9007199254740992 too large"),
    ("1,1,0,0,inf,10,1\n", "line 1: non-finite"),
])
def test_bad_result_files(tmp_path, content, message):
    path = tmp_path / "r.txt"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        read_results(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_gt_needs_the_class_column_and_valid_classes(tmp_path):
    """TrackEval refuses gt without the class column (for every benchmark) and, under MOT16/17/20
    preprocessing, classes outside 1..13; fractional classes are truncated like TrackEval's."""
    path = tmp_path / "gt.txt"
    path.write_text("1,1,0,0,10,20,1\n")
    with pytest.raises(InputError, match="expected 8-10 columns"):
        read_gt(path)
    path.write_text("1,1,0,0,10,20,1,1\n1,2,50,0,10,20,1,14\n")
    gt = read_gt(path, 1)
    assert gt[0].tolist() == [1, 1, 0, 0, 10, 20, 1, 1, 1]  # visibility 1 when absent
    res = np.array([[1, 7, 0, 0, 10, 20, 1, -1, -1, -1]], float)
    with pytest.raises(InputError, match=r"gt.txt: line 2: class 14 is not one of MOT17's"):
        sequence_counts(gt, res, 1, "MOT17", path)
    assert evaluate_sequence(gt, res, 1, "MOT15")["CLR_TP"] == 1


def test_duplicate_id_and_frame_out_of_range():
    gt = np.array([[1, 1, 0, 0, 10, 20, 1, 1, 1]], float)
    dup = np.array([[1, 3, 0, 0, 10, 20, 1, -1, -1, -1]] * 2, float)
    with pytest.raises(InputError, match=r"row 2: id 3 repeated in frame 1 \(first on row 1\)"):
        evaluate_sequence(gt, dup, 1)
    late = np.array([[5, 3, 0, 0, 10, 20, 1, -1, -1, -1]], float)
    with pytest.raises(InputError, match="row 1: frame 5 beyond seqLength 2"):
        evaluate_sequence(gt, late, 2)


def relabel(rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``rows`` with its k-th smallest id replaced by ``ids[k]``."""
    out = rows.copy()
    out[:, 1] = ids[np.unique(rows[:, 1], return_inverse=True)[1]]
    return out


@pytest.mark.parametrize("scale", ["1e9-multiples", "up-to-2^53-1"])
def test_large_ids_scored_like_trackeval(tmp_path, scale):
    """Ids 0, 1e9, 2e9, ... (which a (frame, id) key of frame * 1e9 + id took for duplicates)
    and ids up to 2^53 - 1 score as TrackEval scores the same sequences with small ids. TrackEval
    cannot take these ids itself: it allocates an array as long as the largest id."""
    rng = np.random.default_rng(11)
    seqs, big = {}, {}
    for i in range(4):
        length = int(rng.integers(10, 30))
        gt, res = random_sequence(rng, length)
        seqs[f"SEQ-{i}"] = (gt, res, length)
        n = max(len(np.unique(gt[:, 1])), len(np.unique(res[:, 1])))
        ids = (np.arange(n) * 1e9 if scale == "1e9-multiples"
               else 2.0 ** 53 - 1 - np.arange(n)[::-1])
        big[f"SEQ-{i}"] = (relabel(gt, ids), relabel(res, ids), length)
    gt_root, res_dir = write_sequences(tmp_path / "ours", big, "MOT17")
    assert read_results(res_dir / "SEQ-0.txt")[:, 1].max() == big["SEQ-0"][1][:, 1].max()
    ours = evaluate(gt_root, res_dir, "MOT17")
    ref = trackeval_eval(tmp_path / "ref", seqs, "MOT17")
    assert set(ours) == set(ref)
    for seq in ref:
        assert_close(ours[seq], ref[seq])


def test_ids_up_to_ten_million_equal_trackeval_directly(tmp_path):
    """The largest ids TrackEval itself handles cheaply (its id maps are 80 MB here)."""
    rng = np.random.default_rng(12)
    gt, res, length = *random_sequence(rng, 20), 20
    ids = np.linspace(0, 1e7, 64).round()
    seqs = {"SEQ-0": (relabel(gt, ids), relabel(res, ids[::-1]), length)}
    gt_root, res_dir = write_sequences(tmp_path / "ours", seqs, "MOT17")
    ours = evaluate(gt_root, res_dir, "MOT17")
    ref = trackeval_eval(tmp_path / "ref", seqs, "MOT17")
    for seq in ref:
        assert_close(ours[seq], ref[seq])


def test_cli_table_json_and_errors(tmp_path):
    rng = np.random.default_rng(5)
    seqs = {"A-01": (*random_sequence(rng, 10), 10)}
    gt_root, res_dir = write_sequences(tmp_path, seqs, "MOT17")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "cvcore.motmetrics", "--gt-root", str(gt_root),
                          "--results", str(res_dir), "--json", str(tmp_path / "m.json")],
                         capture_output=True, text=True, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    assert "COMBINED" in out.stdout and "HOTA" in out.stdout.splitlines()[0]
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["A-01"]["MOTA"] == pytest.approx(data["COMBINED"]["MOTA"])
    (res_dir / "A-01.txt").unlink()
    bad = subprocess.run([sys.executable, "-m", "cvcore.motmetrics", "--gt-root", str(gt_root),
                          "--results", str(res_dir)], capture_output=True, text=True, cwd=REPO,
                         env=env)
    assert bad.returncode == 2 and "no result file for sequence A-01" in bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_fast_parser_equals_loadtxt(tmp_path):
    """The Numba reader gives numpy.loadtxt's doubles bit for bit, and falls back to it for
    anything unusual (long mantissas, nan, blank lines, spaces)."""
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1e3, (500, 10)) * rng.choice([1, 1e-6, 1e6], (500, 10))
    formats = ["{:.2f}", "{:.6f}", "{:g}", "{:.17g}", "{:e}", "{:+.3f}"]
    lines = [",".join(formats[(i + j) % len(formats)].format(v) for j, v in enumerate(row))
             for i, row in enumerate(values)]
    lines.insert(7, "")
    lines[9] = lines[9].replace(",", ", ")
    path = tmp_path / "t.txt"
    path.write_text("\n".join(lines) + "\n")
    ours = _read_table(path, 7)  # the parser alone: these rows break the content rules
    reference = np.loadtxt([line for line in lines if line.strip()], delimiter=",")
    assert np.array_equal(ours, reference)
