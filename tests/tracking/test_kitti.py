"""KITTI 2D-box tracking evaluation against TrackEval 1.3.0's Kitti2DBox: the CIWT results on
the KITTI train split, seeded perturbations of them, each preprocessing rule on a small
sequence, file errors and the command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvcore.errors import InputError
from cvcore.tracking.kitti import evaluate, evaluate_files, read_kitti, read_seqmap
from cvcore.tracking.motmetrics import cli
from tests.conftest import REPO
from tests.tracking.motfixtures import trackeval_kitti

METRICS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDP", "IDR", "IDSW", "FP",
           "FN", "MT", "PT", "ML", "Frag")


def assert_equal_to(ours: dict, ref: dict, tol: float = 1e-9) -> None:
    """Every summary field (METRICS and the rest), every class and sequence."""
    assert set(ours) == set(ref)
    for cls in ref:
        assert set(ours[cls]) == set(ref[cls])
        for seq, values in ref[cls].items():
            for field in {*values, *METRICS} - {"FP", "FN"}:
                assert ours[cls][seq][field] == pytest.approx(values[field], abs=tol, rel=0), (
                    cls, seq, field)
            assert (ours[cls][seq]["FP"], ours[cls][seq]["FN"]) == (
                values["CLR_FP"], values["CLR_FN"])


def test_ciwt_equals_trackeval(shared_data):
    kitti = shared_data / "kitti_tracking"
    ours = evaluate(kitti / "gt", kitti / "trackers" / "CIWT" / "data")
    assert len(ours["car"]) == len(ours["pedestrian"]) == 22  # 21 sequences and COMBINED
    car, ped = ours["car"]["COMBINED"], ours["pedestrian"]["COMBINED"]
    assert [round(car[k], 3) for k in ("HOTA", "DetA", "AssA", "MOTA", "IDF1")] == [
        66.306, 63.111, 70.562, 76.327, 83.100]
    assert [round(ped[k], 3) for k in ("HOTA", "MOTA", "IDF1")] == [44.967, 45.891, 62.431]
    assert (car["IDSW"], ped["IDSW"]) == (110, 149)
    assert_equal_to(ours, trackeval_kitti(kitti / "gt", kitti / "trackers", "CIWT"))


# Short sequences with both cars and pedestrians (and DontCare regions, vans, people sitting).
SUBSET = ("0000", "0012", "0013", "0014", "0017")


def perturb_results(lines: list[list[str]], gt: list[list[str]], rng: np.random.Generator
                    ) -> list[list[str]]:
    """Drops, id switches (a track's tail gets a new id), box jitter (some boxes inverted),
    class flips car -> van and pedestrian -> person, negative ids, and false positives: random,
    small, on DontCare regions, on vans and people sitting, on truncated or occluded cars."""
    out = []
    ids = sorted({int(t[1]) for t in lines})
    switch = {i: int(rng.integers(0, 300)) for i in ids if rng.random() < 0.3}
    flip = {i for i in ids if rng.random() < 0.15}
    next_id = 100_000
    for t in lines:
        t = list(t)
        frame, tid = int(t[0]), int(t[1])
        if rng.random() < 0.1:
            continue
        if tid in switch and frame >= switch[tid]:
            t[1] = str(tid + 10_000)
        if tid in flip:
            t[2] = {"Car": "Van", "Pedestrian": "Person"}[t[2]]
        if rng.random() < 0.3:
            box = np.array(t[6:10], float) + rng.normal(0, 4 if rng.random() < 0.9 else 40, 4)
            t[6:10] = [f"{v:.6f}" for v in box]
        if rng.random() < 0.02:
            t[1] = "-1"
        out.append(t)
    for g in gt:
        kind = g[2]
        special = kind in ("DontCare", "Van", "Person") or g[3] != "0" or int(g[4]) > 2
        if rng.random() < (0.3 if special else 0.03):
            box = np.array(g[6:10], float) + rng.normal(0, 2, 4)
            cls = "Pedestrian" if kind in ("Pedestrian", "Person") or rng.random() < 0.3 \
                else "Car"
            out.append([g[0], str(next_id), cls, "-1", "-1", "0",
                        *[f"{v:.6f}" for v in box], *["0"] * 7, "0.5"])
            next_id += 1
    frames = max(int(t[0]) for t in gt) + 1
    for _ in range(60):
        x, y = rng.uniform(0, 1200), rng.uniform(100, 350)
        w, h = rng.uniform(10, 150), rng.uniform(10, 150)
        out.append([str(int(rng.integers(0, frames))), str(next_id),
                    str(rng.choice(["Car", "Pedestrian"])), "-1", "-1", "0",
                    *[f"{v:.6f}" for v in (x, y, x + w, y + h)], *["0"] * 7, "0.5"])
        next_id += 1
    return sorted(out, key=lambda t: int(t[0]))


def perturb_gt(lines: list[list[str]], rng: np.random.Generator) -> list[list[str]]:
    """Class flips car <-> van and pedestrian <-> person of whole tracks, and a few boxes made
    truncated or heavily occluded."""
    flips = {"Car": "Van", "Van": "Car", "Pedestrian": "Person", "Person": "Pedestrian"}
    flipped = {t[1] for t in lines if t[1] != "-1" and rng.random() < 0.1}
    out = []
    for t in lines:
        t = list(t)
        if t[1] in flipped and t[2] in flips:
            t[2] = flips[t[2]]
        if t[2] != "DontCare" and rng.random() < 0.05:
            t[3 + int(rng.integers(0, 2))] = str(int(rng.integers(1, 4)))
        out.append(t)
    return out


def tokens(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


def write_lines(path: Path, lines: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(" ".join(t) + "\n" for t in lines))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_perturbed_ciwt_equals_trackeval(shared_data, tmp_path, seed):
    kitti = shared_data / "kitti_tracking"
    rng = np.random.default_rng(seed)
    gt_root, data = tmp_path / "gt", tmp_path / "trackers" / "t" / "data"
    seqmap = [line for line in (kitti / "gt" / "evaluate_tracking.seqmap.training").read_text()
              .splitlines() if line.split()[0] in SUBSET]
    (gt_root / "label_02").mkdir(parents=True)
    (gt_root / "evaluate_tracking.seqmap.training").write_text("\n".join(seqmap) + "\n")
    for seq in SUBSET:
        gt = perturb_gt(tokens(kitti / "gt" / "label_02" / f"{seq}.txt"), rng)
        res = perturb_results(tokens(kitti / "trackers" / "CIWT" / "data" / f"{seq}.txt"), gt,
                              rng)
        if (seed, seq) == (2, "0012"):
            gt = [t for t in gt if t[2] == "DontCare"]  # nothing to find, only ignore regions
        if (seed, seq) == (3, "0014"):
            res = []  # a tracker that output nothing
        write_lines(gt_root / "label_02" / f"{seq}.txt", gt)
        write_lines(data / f"{seq}.txt", res)
    ours = evaluate(gt_root, data)
    assert_equal_to(ours, trackeval_kitti(gt_root, tmp_path / "trackers"))
    # The perturbations reach every rule: id switches, false positives, lost objects.
    combined = ours["car"]["COMBINED"]
    assert combined["IDSW"] > 0 and combined["FP"] > 0 and combined["FN"] > 0


def label(frame, tid, kind, box, truncation=0, occlusion=0, score=None) -> str:
    x0, y0, x1, y1 = box
    tail = f" {score}" if score is not None else ""
    return (f"{frame} {tid} {kind} {truncation} {occlusion} 0 {x0} {y0} {x1} {y1} "
            f"1 1 1 0 0 0 0{tail}\n")


def score_one(tmp_path, gt_lines: list[str], res_lines: list[str]) -> dict:
    (tmp_path / "gt.txt").write_text("".join(gt_lines))
    (tmp_path / "res.txt").write_text("".join(res_lines))
    return evaluate_files(tmp_path / "gt.txt", tmp_path / "res.txt")


@pytest.mark.parametrize("gt_line, res_box, removed", [
    # a result on a van (the car class's distractor) is removed, not a false positive
    (label(0, 1, "Van", (100, 100, 200, 180)), (102, 100, 200, 180), True),
    # ... as is one on a truncated or heavily occluded car
    (label(0, 1, "Car", (100, 100, 200, 180), truncation=1), (102, 100, 200, 180), True),
    (label(0, 1, "Car", (100, 100, 200, 180), occlusion=3), (102, 100, 200, 180), True),
    # an unmatched result more than half inside a DontCare region is removed ...
    (label(0, -1, "DontCare", (100, 100, 200, 180)), (150, 100, 249, 180), True),
    (label(0, -1, "DontCare", (100, 100, 200, 180)), (150, 100, 251, 180), False),
    # ... and so is one no higher than 25 px, but only when unmatched
    (label(0, 5, "Cyclist", (100, 100, 200, 180)), (300, 100, 400, 125), True),
    (label(0, 5, "Cyclist", (100, 100, 200, 180)), (300, 100, 400, 125.5), False),
    (label(0, 1, "Car", (300, 100, 400, 125)), (300, 100, 400, 125), False),
])
def test_preprocessing_rules(tmp_path, gt_line, res_box, removed):
    car = label(0, 9, "Car", (500, 100, 600, 200))  # one car tracked perfectly
    res = [label(0, 3, "Car", (500, 100, 600, 200), -1, -1, 0.9),
           label(0, 4, "Car", res_box, -1, -1, 0.9)]
    ours = score_one(tmp_path, [gt_line, car], res)["car"]["COMBINED"]
    matched_car = "Car 0 0" in gt_line and not removed
    assert ours["Dets"] == (1 if removed else 2)
    assert ours["FP"] == (0 if removed or matched_car else 1)
    assert ours["GT_Dets"] == (2 if matched_car else 1)


def test_classes_are_scored_apart(tmp_path):
    """Pedestrian results never match cars; the same id may be a car and a pedestrian."""
    gt = [label(0, 1, "Car", (0, 0, 100, 100)), label(0, 2, "Pedestrian", (200, 0, 240, 100)),
          label(1, 3, "Person", (300, 0, 340, 100))]
    res = [label(0, 7, "Pedestrian", (0, 0, 100, 100), -1, -1, 1),
           label(0, 7, "Car", (200, 0, 240, 100), -1, -1, 1),
           label(1, 8, "Pedestrian", (300, 0, 340, 100), -1, -1, 1)]
    ours = score_one(tmp_path, gt, res)
    assert list(ours["car"]) == ["res", "COMBINED"]
    car, ped = ours["car"]["res"], ours["pedestrian"]["res"]
    assert (car["CLR_TP"], car["FP"], car["FN"]) == (0, 1, 1)
    # the pedestrian result on a person sitting is removed
    assert (ped["CLR_TP"], ped["FP"], ped["FN"], ped["Dets"]) == (0, 1, 1, 1)


@pytest.mark.parametrize("content, message", [
    ("0 1 Car 0 0 0 1 2 3\n", "line 1: expected at least 10 fields"),
    ("0 1 Car 0 0 0 1 2 3 4\n\n0 1 Bus 0 0 0 1 2 3 4\n", "line 3: unknown type 'Bus'"),
    ("0 1 Car 0 0 0 1 2 x 4\n", "line 1: 'x' is not a number"),
    ("0 1 Car 0 0 0 1 2 nan 4\n", "line 1: non-finite"),
    ("0.5 1 Car 0 0 0 1 2 3 4\n", "line 1: frame 0.5 is not a whole number of 0..9"),
    ("10 1 Car 0 0 0 1 2 3 4\n", "line 1: frame 10 is not a whole number of 0..9"),
    ("0 1.5 Car 0 0 0 1 2 3 4\n", "line 1: id 1.5 is not a whole number"),
    ("0 1 Car 0 0 0 1 2 3 4\n0 2 Car 0 0 0 1 2 3 4\n1 1 Car 0 0 0 1 2 3 4\n"
     "1 1 car 0 0 0 5 6 7 8\n", "line 4: car id 1 repeated in frame 1 (first on line 3)"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "0000.txt"
    path.write_text(content)
    with pytest.raises(InputError) as err:
        read_kitti(path, 10, gt=False)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_reading_rules(tmp_path):
    """DontCare rows are ignore regions, other negative ids are dropped, truncation and
    occlusion are truncated to integers, one id may be in several classes of one frame, and
    rows come out sorted by frame (file order within a frame)."""
    path = tmp_path / "gt.txt"
    path.write_text(label(1, 4, "Car", (0, 0, 9, 9), truncation=0.7, occlusion=2.9)
                    + label(0, -1, "DontCare", (1, 2, 3, 4)) + label(0, -1, "Car", (0, 0, 5, 5))
                    + label(1, 4, "Pedestrian", (5, 5, 9, 9))
                    + label(0, 2, "Person_sitting", (0, 0, 5, 5)))
    gt = read_kitti(path)
    assert gt.rows[:, :5].tolist() == [[0, 2, 5, 0, 0], [1, 4, 1, 0, 2], [1, 4, 4, 0, 0]]
    assert gt.ignore.tolist() == [[0, 1, 2, 3, 4]]
    as_results = read_kitti(path, gt=False)  # DontCare is just a class in results
    assert len(as_results.rows) == 3 and len(as_results.ignore) == 0


def test_seqmap(tmp_path):
    path = tmp_path / "evaluate_tracking.seqmap.val"
    path.write_text("0002 empty 000000 000233\n\n0006,empty,000000,000270\n")
    assert read_seqmap(path) == [("0002", 233), ("0006", 270)]
    with pytest.raises(InputError, match="file not found"):
        read_seqmap(tmp_path / "evaluate_tracking.seqmap.training")
    path.write_text("0002 empty 000000\n")
    with pytest.raises(InputError, match="line 1: expected 'SEQ empty FIRST LAST'"):
        read_seqmap(path)
    with pytest.raises(InputError, match="no seqmap for split 'test2'"):
        evaluate(tmp_path, tmp_path, split="test2")


def run_cli(*args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cvcore.motmetrics", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, env=env)


def cli_in_process(capsys, *args) -> tuple[int, str]:
    """The command line's exit code and stderr, run in this process (no start-up cost)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as end:
        cli([str(a) for a in args])
    return end.value.code, capsys.readouterr().err


def kitti_folders(tmp_path: Path) -> tuple[Path, Path]:
    gt_root, data = tmp_path / "gt", tmp_path / "res"
    (gt_root / "label_02").mkdir(parents=True)
    data.mkdir()
    (gt_root / "evaluate_tracking.seqmap.val").write_text("0003 empty 000000 000002\n")
    (gt_root / "label_02" / "0003.txt").write_text(
        label(0, 1, "Car", (0, 0, 100, 100)) + label(1, 1, "Car", (10, 0, 110, 100))
        + label(1, 2, "Pedestrian", (200, 0, 240, 100)))
    (data / "0003.txt").write_text(
        label(0, 5, "Car", (0, 0, 100, 100), -1, -1, 1)
        + label(1, 6, "Car", (10, 0, 110, 100), -1, -1, 1))
    return gt_root, data


def test_cli_kitti_json_and_errors(tmp_path, capsys):
    gt_root, data = kitti_folders(tmp_path)
    out = run_cli("--benchmark", "KITTI", "--gt-root", gt_root, "--results", data, "--split",
                  "val", "--json", tmp_path / "m.json")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("car\n") and "\npedestrian\n" in out.stdout
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics) == ["car", "pedestrian"]
    assert list(metrics["car"]) == ["0003", "COMBINED"]
    car = metrics["car"]["COMBINED"]
    assert (car["MOTA"], car["IDSW"], car["IDF1"]) == (50.0, 1, 50.0)
    assert metrics["pedestrian"]["0003"]["FN"] == 1
    # two files, same numbers
    code, err = cli_in_process(capsys, "--benchmark", "KITTI", "--gt",
                               gt_root / "label_02" / "0003.txt", "--results", data / "0003.txt",
                               "--json", tmp_path / "two.json")
    assert code == 0, err
    assert json.loads((tmp_path / "two.json").read_text()) == metrics
    (data / "0003.txt").write_text(label(0, 5, "Car", (0, 0, 9, 9)) * 2)
    assert cli_in_process(capsys, "--benchmark", "KITTI", "--gt-root", gt_root, "--results",
                          data, "--split", "val") == (
        2, f"error: {data / '0003.txt'}: line 2: car id 5 repeated in frame 0 "
        "(first on line 1)\n")
    assert cli_in_process(capsys, "--gt-root", gt_root, "--results", data, "--split", "val") == (
        2, "error: --split is for --benchmark KITTI\n")


def test_cli_two_mot_files(tmp_path, capsys):
    """Without seqinfo.ini the sequence is as long as the files; inside a sequence folder its
    seqinfo.ini names it and bounds the frames."""
    gt = "1,1,0,0,10,20,1,1,1\n2,1,1,0,10,20,1,1,1\n3,1,2,0,10,20,1,1,1\n"
    res = "1,5,0,0,10,20,1\n2,5,1,0,10,20,1\n3,6,2,0,10,20,1\n"
    (tmp_path / "gt.txt").write_text(gt)
    (tmp_path / "A.txt").write_text(res)
    code, err = cli_in_process(capsys, "--gt", tmp_path / "gt.txt", "--results",
                               tmp_path / "A.txt", "--json", tmp_path / "m.json")
    assert code == 0, err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert list(metrics) == ["A", "COMBINED"]
    assert (metrics["A"]["MOTA"], metrics["A"]["IDSW"]) == (pytest.approx(200 / 3), 1)
    seq = tmp_path / "SEQ-1"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text(gt)
    (seq / "seqinfo.ini").write_text("[Sequence]\nname=SEQ-1\nseqLength=2\n")
    assert cli_in_process(capsys, "--gt", seq / "gt" / "gt.txt", "--results",
                          tmp_path / "A.txt") == (
        2, f"error: {seq / 'gt' / 'gt.txt'}: line 3: frame 3 beyond seqLength 2\n")
    (tmp_path / "dup.txt").write_text("1,5,0,0,10,20,1\n1,5,1,0,10,20,1\n")
    assert cli_in_process(capsys, "--gt", tmp_path / "gt.txt", "--results",
                          tmp_path / "dup.txt") == (
        2, f"error: {tmp_path / 'dup.txt'}: line 2: id 5 repeated in frame 1 (first on line 1)\n")


def test_fast_reader_equals_line_reader(shared_data, tmp_path):
    """The Numba reader gives the line-by-line reader's array bit for bit (real files, CRLF,
    tabs, blank lines, any case of type) and leaves anything unusual to it (a long mantissa,
    a comma, a short line)."""
    from cvcore.tracking.kitti import _fast_fields, _slow_fields

    kitti = shared_data / "kitti_tracking"
    for path in (kitti / "gt" / "label_02" / "0013.txt",
                 kitti / "trackers" / "CIWT" / "data" / "0013.txt"):
        fast = _fast_fields(np.fromfile(path, np.uint8))
        assert fast is not None and np.array_equal(fast, _slow_fields(path))
    path = tmp_path / "odd.txt"
    odd = ("0 1 cAR -1 -1 -1.5 1.25 2e1 3 4 1 1 1 0 0 0 0 0.5\r\n\r\n"
           "1\t-1\tDontCare 0 0 0 5 6 7 8 1 1 1 0 0 0 0 1\r\n"
           "2 7 Person_sitting 0 3 0 -5 +6 7.000 8 1 1 1 0 0 0 0 1\r\n")
    path.write_text(odd, newline="")
    fast = _fast_fields(np.fromfile(path, np.uint8))
    assert fast is not None and np.array_equal(fast, _slow_fields(path))
    assert fast[:, 2].tolist() == [1, 9, 5]
    for unusual in (odd.replace("1.25", "1.2345678901234567"), odd.replace(" 4 ", " 4,"),
                    odd + "3 1 Car\n"):
        path.write_text(unusual)
        assert _fast_fields(np.fromfile(path, np.uint8)) is None


def test_named_sequences_and_two_files_agree(shared_data):
    """``seqs`` scores a subset of the seqmap (COMBINED over it); two files score the same
    sequence alike, its length taken from the files."""
    kitti = shared_data / "kitti_tracking"
    ciwt = kitti / "trackers" / "CIWT" / "data"
    ours = evaluate(kitti / "gt", ciwt, "val", seqs=["0014"])
    two = evaluate_files(kitti / "gt" / "label_02" / "0014.txt", ciwt / "0014.txt")
    assert ours == two
    assert round(ours["car"]["0014"]["HOTA"], 3) == 60.551
    with pytest.raises(InputError, match="no sequence .0012. in the seqmap"):
        evaluate(kitti / "gt", ciwt, "val", seqs=["0012"])
