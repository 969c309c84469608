import argparse
import csv
import json
import os
from pathlib import Path

import pytest
import yaml

from cvcore.atomic import atomic_open, write_json
from cvcore.errors import InputError, run_cli
from cvcore.runs import (
    ArgumentParser,
    ResultsCSV,
    increment_path,
    load_args,
    make_run_dir,
    save_args,
)


def test_increment_path_like_ultralytics(tmp_path):
    base = tmp_path / "runs" / "detect" / "exp"
    first = make_run_dir("detect", root=tmp_path / "runs")
    second = make_run_dir("detect", root=tmp_path / "runs")
    third = make_run_dir("detect", root=tmp_path / "runs")
    assert [first, second, third] == [base, base.with_name("exp2"), base.with_name("exp3")]
    assert increment_path(base, exist_ok=True) == base
    assert make_run_dir("detect", out=tmp_path / "mine") == tmp_path / "mine"


def test_save_args_round_trip(tmp_path):
    args = argparse.Namespace(data=Path("/x/y"), epochs=3, size=[480, 360], name="exp")
    save_args(tmp_path, args)
    loaded = yaml.safe_load((tmp_path / "args.yaml").read_text())
    assert loaded == {"data": "/x/y", "epochs": 3, "size": [480, 360], "name": "exp"}
    assert list(loaded) == ["data", "epochs", "size", "name"]


def test_results_csv_replaces_rows_of_a_redone_epoch(tmp_path):
    path = tmp_path / "results.csv"
    log = ResultsCSV(path)
    for epoch in (1, 2, 3):
        log.write({"epoch": epoch, "loss": 1.0 / epoch})
    # A resumed run redoes epoch 3 and goes on: no duplicate row, order kept.
    log = ResultsCSV(path)
    log.truncate(2)
    log.write({"epoch": 3, "loss": 0.25})
    log.write({"epoch": 4, "loss": 0.2})
    rows = list(csv.DictReader(path.open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert float(rows[2]["loss"]) == 0.25
    with pytest.raises(ValueError, match="differ"):
        log.write({"epoch": 5, "acc": 0.1})


def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    path = tmp_path / "metrics.json"
    write_json(path, {"a": 1})
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write('{"a": 2, "trunc')
        raise RuntimeError("killed mid-write")
    assert path.read_text() == '{\n  "a": 1\n}\n'
    assert os.listdir(tmp_path) == ["metrics.json"]  # no temp file left behind


def test_run_cli_turns_input_error_into_one_line_and_exit_2(capsys):
    def main():
        raise InputError("line 3: expected 10 columns, got 7", "gt.txt")

    with pytest.raises(SystemExit) as exc:
        run_cli(main)
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: gt.txt: line 3: expected 10 columns, got 7\n"


FAST_EXIT = """
import atexit, sys
from cvcore.errors import run_cli
atexit.register(lambda: print("teardown ran"))
run_cli(lambda: print("result") or 3, fast_exit=%s)
"""


@pytest.mark.parametrize("fast", [True, False])
def test_run_cli_fast_exit_flushes_output_and_skips_teardown(fast):
    """With fast_exit the process ends right after main() (its output flushed, exit code
    kept) without the interpreter's teardown, which would run atexit handlers."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", FAST_EXIT % fast], capture_output=True,
                         text=True)
    assert out.returncode == 3
    assert out.stdout.splitlines() == (["result"] if fast else ["result", "teardown ran"])


def test_fresh_run_into_old_directory_may_change_columns(tmp_path):
    from cvcore.runs import ResultsCSV

    old = ResultsCSV(tmp_path / "results.csv")
    old.write({"epoch": 1, "loss": 0.5})
    new = ResultsCSV(tmp_path / "results.csv")
    new.truncate(0)  # what a run starting at epoch 0 does
    new.write({"epoch": 1, "loss": 0.4, "acc": 0.9})
    assert (tmp_path / "results.csv").read_text().splitlines() == ["epoch,loss,acc", "1,0.4,0.9"]


def test_results_csv_rejects_garbage_and_snapshots_round_trip(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("epoch,loss\n1,0.5\nlast,0.4\n")
    with pytest.raises(InputError, match="line 3: not a results row"):
        ResultsCSV(path)
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputError, match="not a results table"):
        ResultsCSV(path)
    path.unlink()
    log = ResultsCSV(path)
    log.add({"epoch": 1, "loss": 0.5})
    assert not path.exists()  # add() alone writes nothing
    snap = log.snapshot()
    log.flush()
    other = ResultsCSV(tmp_path / "copy.csv")
    other.restore(snap)
    assert (tmp_path / "copy.csv").read_text() == path.read_text() == "epoch,loss\n1,0.5\n"
    with pytest.raises(InputError, match="columns"):
        log.add({"epoch": 2, "acc": 0.1})


def test_argument_errors_are_one_line(capsys):
    parser = ArgumentParser(prog="x")
    parser.add_argument("--epochs", type=int)
    with pytest.raises(SystemExit) as exc:
        run_cli(lambda: parser.parse_args(["--epochs", "two"]))
    assert exc.value.code == 2
    assert capsys.readouterr().err == "error: argument --epochs: invalid int value: 'two'\n"


def test_load_args_errors_name_the_file(tmp_path):
    (tmp_path / "args.yaml").write_text("a: [1\n")
    with pytest.raises(InputError, match="args.yaml: not valid YAML"):
        load_args(tmp_path)
    (tmp_path / "args.yaml").write_text("- 1\n")
    with pytest.raises(InputError, match="expected a mapping"):
        load_args(tmp_path)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_follow_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        write_json(tmp_path / "new.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == mode


def test_atomic_replace_keeps_the_existing_mode(tmp_path):
    path = tmp_path / "kept.txt"
    path.write_text("old")
    path.chmod(0o640)
    write_json(path, [1])
    assert path.stat().st_mode & 0o777 == 0o640 and json.loads(path.read_text()) == [1]


def test_a_killed_writers_temp_file_is_removed_on_the_next_write(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f".last.pt.{dead.stdout.strip()}.abc123.tmp"   # writer gone
    live = tmp_path / f".last.pt.{os.getpid()}.def456.tmp"            # writer running
    other = tmp_path / f".other.pt.{dead.stdout.strip()}.ghi789.tmp"  # another file's
    for p in (stale, live, other):
        p.write_bytes(b"x" * 1000)
    with atomic_open(tmp_path / "last.pt", "wb") as f:
        f.write(b"checkpoint")
    assert not stale.exists() and live.exists() and other.exists()
    assert (tmp_path / "last.pt").read_bytes() == b"checkpoint"


def test_worker_traceback_text_becomes_the_original_line():
    """torch re-raises a DataLoader worker's InputError as InputError(<wrapper text>)."""
    text = ("Caught InputError in DataLoader worker process 1.\nOriginal Traceback (most recent "
            "call last):\n  File \"x.py\", line 3, in f\n    raise InputError(...)\n"
            "cvcore.errors.InputError: /data/a_L.png: unknown colour (1, 2, 3)\n")
    err = InputError(text)
    assert str(err) == "/data/a_L.png: unknown colour (1, 2, 3)"


def test_input_error_pickles_with_its_file():
    import pickle

    err = pickle.loads(pickle.dumps(InputError("bad box", "/r.json")))
    assert (err.path, err.problem, str(err)) == ("/r.json", "bad box", "/r.json: bad box")


def test_run_cli_names_the_file_of_an_os_error(tmp_path, capsys):
    def main():
        return open(tmp_path / "missing.json").read()

    with pytest.raises(SystemExit) as exit_info:
        run_cli(main)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err == f"error: {tmp_path / 'missing.json'}: No such file or directory\n"


def test_a_command_writes_every_file_with_the_users_umask(tmp_path):
    """The whole tree a command writes (here ``cvcore.synth coco``: JSON, JPEGs, folders) follows
    the umask, like files written with plain ``open``."""
    import subprocess
    import sys

    out = tmp_path / "coco"
    subprocess.run([sys.executable, "-m", "cvcore.synth", "coco", str(out), "--num-images", "3"],
                   check=True, capture_output=True, preexec_fn=lambda: os.umask(0o022))
    modes = {p.relative_to(out).as_posix(): p.stat().st_mode & 0o777 for p in out.rglob("*")}
    files = {k: m for k, m in modes.items() if (out / k).is_file()}
    assert len(files) >= 5 and set(files.values()) == {0o644}
    assert set(m for k, m in modes.items() if k not in files) == {0o755}
