import argparse
import csv
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
