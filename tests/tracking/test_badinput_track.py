"""Bad input through track.py (tracking and --eval-only) and ``python -m cvcore.motmetrics``:
one line ``error: <file>: <problem>`` on stderr, exit code 2, no traceback, no run directory
(or metrics file) left behind."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cvcore.synth.mot import make_mot
from cvcore.tracking.mot import read_gt, write_results
from tests.conftest import REPO

SEQ, OTHER = "MOT17-02-SDP", "MOT17-04-SDP"
TRACK = ["track.py", "--mot-root", "{mot}", "--out", "{out}"]
EVAL = ["track.py", "--eval-only", "--gt-root", "{gt}", "--results", "{res}", "--out", "{out}"]
METRICS = ["-m", "cvcore.motmetrics", "--gt-root", "{gt}", "--results", "{res}",
           "--json", "{json}"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """Two synthetic MOT17 sequences (8 frames, with images) and results: gt pedestrians."""
    root = tmp_path_factory.mktemp("badtrack")
    make_mot(root, seed=3, frames=8, size=(96, 64))
    for seq in (root / "MOT17" / "train").iterdir():
        gt = read_gt(seq / "gt" / "gt.txt")
        people = gt[gt[:, 7] == 1]
        write_results(root / "results" / f"{seq.name}.txt",
                      np.column_stack([people[:, :6], np.ones(len(people))]))
    return root


def seq_file(root: Path, rel: str, seq: str = SEQ) -> Path:
    return root / "MOT17" / "train" / seq / rel


def result_file(root: Path, seq: str = SEQ) -> Path:
    return root / "results" / f"{seq}.txt"


def edit(path: Path, line: int, field: int | None, text: str) -> None:
    """Replace one comma-separated field of a line (or the whole line if ``field`` is None)."""
    lines = path.read_text().splitlines()
    if field is None:
        lines[line] = text
    else:
        fields = lines[line].split(",")
        fields[field] = text
        lines[line] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def append_copy_of_first_line(path: Path) -> None:
    path.write_text(path.read_text() + path.read_text().splitlines()[0] + "\n")


def set_ini(path: Path, key: str, value: str | None) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.startswith(key + "=")]
    path.write_text("\n".join(lines + ([f"{key}={value}"] if value is not None else [])) + "\n")


def keep_columns(path: Path, n: int) -> None:
    path.write_text("".join(",".join(line.split(",")[:n]) + "\n"
                            for line in path.read_text().splitlines()))


# (id, command, extra arguments, change to the copied data, names the error line must contain)
CASES = [
    ("track-out-is-a-file", TRACK, [], lambda r: (r / "run").write_text("x"), ["run"]),
    ("track-mot-root-missing", TRACK[:2] + ["{root}/nope"] + TRACK[3:], [], None, ["nope"]),
    ("track-unknown-seq", TRACK, ["--seq", "MOT17-99-SDP"], None, ["train", "MOT17-99-SDP"]),
    ("track-seqinfo-missing", TRACK, [], lambda r: seq_file(r, "seqinfo.ini").unlink(),
     [f"{SEQ}/seqinfo.ini"]),
    ("track-seqinfo-no-seqlength", TRACK, [],
     lambda r: set_ini(seq_file(r, "seqinfo.ini"), "seqLength", None), [f"{SEQ}/seqinfo.ini"]),
    ("track-seqinfo-seqlength-not-integer", TRACK, [],
     lambda r: set_ini(seq_file(r, "seqinfo.ini"), "seqLength", "8.5"), [f"{SEQ}/seqinfo.ini"]),
    ("track-det-five-columns", TRACK, [],
     lambda r: edit(seq_file(r, "det/det.txt"), 2, None, "1,-1,10,10,5"), ["det.txt", "line 3"]),
    ("track-det-nan-score", TRACK, [],
     lambda r: edit(seq_file(r, "det/det.txt"), 1, 6, "nan"), ["det.txt", "line 2"]),
    ("track-det-fractional-frame", TRACK, [],
     lambda r: edit(seq_file(r, "det/det.txt"), 0, 0, "2.5"), ["det.txt", "line 1", "2.5"]),
    ("track-det-number-too-large", TRACK, [],
     lambda r: edit(seq_file(r, "det/det.txt"), 0, 2, "1e300"), ["det.txt", "too large"]),
    ("track-gt-seven-columns-mot17", TRACK, [],
     lambda r: keep_columns(seq_file(r, "gt/gt.txt"), 7), [f"{SEQ}/gt/gt.txt"]),
    ("track-gt-duplicate-id", TRACK, [],
     lambda r: append_copy_of_first_line(seq_file(r, "gt/gt.txt")), [f"{SEQ}/gt/gt.txt"]),
    ("track-gt-missing-in-one-sequence", TRACK, [],
     lambda r: seq_file(r, "gt/gt.txt", OTHER).unlink(), [f"{OTHER}/gt/gt.txt"]),
    ("track-video-frame-missing", TRACK, ["--video"],
     lambda r: seq_file(r, "img1/000005.jpg").unlink(), [f"{SEQ}/img1/000005.jpg"]),
    ("eval-results-for-a-subset", EVAL, [], lambda r: result_file(r, OTHER).unlink(),
     [f"{OTHER}.txt"]),
    ("eval-results-folder-missing", EVAL[:5] + ["{root}/nope"] + EVAL[6:], [], None, ["nope"]),
    ("eval-gt-root-is-a-file", EVAL[:3] + ["{res}/" + f"{SEQ}.txt"] + EVAL[4:], [], None,
     [f"{SEQ}.txt"]),
    ("eval-results-fractional-id", EVAL, [], lambda r: edit(result_file(r), 1, 1, "1.5"),
     [f"{SEQ}.txt", "line 2", "1.5"]),
    ("eval-results-id-repeated-in-frame", EVAL, [],
     lambda r: append_copy_of_first_line(result_file(r)), [f"{SEQ}.txt", "repeated"]),
    ("eval-results-class-not-pedestrian", EVAL, [], lambda r: edit(result_file(r), 0, 7, "3"),
     [f"{SEQ}.txt", "line 1"]),
    ("eval-results-frame-beyond-seqlength", EVAL, [],
     lambda r: edit(result_file(r), 0, 0, "9"), [f"{SEQ}.txt", "seqLength 8"]),
    ("metrics-results-for-a-subset", METRICS, [], lambda r: result_file(r, OTHER).unlink(),
     [f"{OTHER}.txt"]),
    ("metrics-gt-fractional-frame", METRICS, [],
     lambda r: edit(seq_file(r, "gt/gt.txt"), 0, 0, "1.5"), [f"{SEQ}/gt/gt.txt", "line 1"]),
    ("metrics-seqinfo-seqlength-zero", METRICS, [],
     lambda r: set_ini(seq_file(r, "seqinfo.ini"), "seqLength", "0"), [f"{SEQ}/seqinfo.ini"]),
    ("metrics-results-not-a-number", METRICS, [], lambda r: edit(result_file(r), 2, 3, "abc"),
     [f"{SEQ}.txt", "line 3"]),
    ("metrics-json-is-a-folder", METRICS, [], lambda r: (r / "m.json").mkdir(), ["m.json"]),
]


@pytest.mark.parametrize("command, extra, change, names", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input_one_line_error(base, tmp_path, command, extra, change, names):
    root = tmp_path / "in"
    shutil.copytree(base, root)
    if change is not None:
        change(root)
    out_was_file = (root / "run").is_file()
    values = {"mot": root / "MOT17", "gt": root / "MOT17" / "train", "res": root / "results",
              "out": root / "run", "json": root / "m.json", "root": root}
    argv = [a.format(**values) for a in command + extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    for name in names:
        assert name in lines[0], (name, lines[0])
    # Nothing half-written: no run directory, no metrics file, no video or temporary file.
    assert (root / "run").is_file() if out_was_file else not (root / "run").exists()
    assert not (root / "m.json").is_file()
    assert not list(root.rglob("*.tmp")) and not list(root.rglob("*.mp4"))
