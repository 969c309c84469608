"""Run directories, ultralytics' convention: ``runs/<task>/<name>/`` with ``exp``, ``exp2``, ...

Every script writes ``args.yaml`` (the exact arguments), ``results.csv`` (one row per epoch or
step), ``metrics.json`` and its figures into one run directory. ``--out DIR`` overrides the
location. All writes are atomic (see :mod:`cvcore.atomic`).
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_json, write_text

RUNS_ROOT = Path("runs")


def increment_path(path: str | os.PathLike, exist_ok: bool = False) -> Path:
    """``path`` if it is free (or ``exist_ok``), else the first free ``path2``, ``path3``, ..."""
    path = Path(path)
    if exist_ok or not path.exists():
        return path
    n = 2
    while (candidate := path.with_name(f"{path.name}{n}")).exists():
        n += 1
    return candidate


def make_run_dir(task: str, name: str = "exp", out: str | os.PathLike | None = None,
                 exist_ok: bool = False, root: str | os.PathLike = RUNS_ROOT) -> Path:
    """Create and return the run directory.

    ``out`` (the ``--out`` option) is used as given and may already exist; otherwise
    ``root/task/name`` is auto-incremented unless ``exist_ok`` (used by ``--resume``).
    """
    run_dir = Path(out) if out is not None else increment_path(Path(root) / task / name, exist_ok)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_args(run_dir: str | os.PathLike, args: argparse.Namespace | Mapping[str, Any]) -> Path:
    """Write ``args.yaml``: every argument, paths as strings, in the parser's order."""
    items = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    text = yaml.safe_dump({k: _plain(v) for k, v in items.items()}, sort_keys=False)
    return write_text(Path(run_dir) / "args.yaml", text)


def load_args(run_dir: str | os.PathLike) -> dict[str, Any]:
    return yaml.safe_load((Path(run_dir) / "args.yaml").read_text()) or {}


def save_metrics(run_dir: str | os.PathLike, metrics: Mapping[str, Any],
                 name: str = "metrics.json") -> Path:
    return write_json(Path(run_dir) / name, metrics)


class ResultsCSV:
    """``results.csv``: one row per epoch (or step), keyed by its first column.

    Writing a row whose key is already present replaces that row, so a run resumed from a
    checkpoint taken before the last row was written keeps a continuous, duplicate-free table.
    Each write rewrites the (small) file atomically.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.fields: list[str] = []
        self.rows: list[dict[str, str]] = []
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open(newline="") as f:
                reader = csv.DictReader(f)
                self.fields = list(reader.fieldnames or [])
                self.rows = list(reader)

    def write(self, row: Mapping[str, Any]) -> None:
        if not self.fields:
            self.fields = list(row)
        elif list(row) != self.fields:
            raise ValueError(f"{self.path}: row columns {list(row)} differ from {self.fields}")
        key = str(_format(row[self.fields[0]]))
        formatted = {k: _format(v) for k, v in row.items()}
        self.rows = [r for r in self.rows if r[self.fields[0]] != key] + [formatted]
        self._flush()

    def truncate(self, last_key: int) -> None:
        """Drop rows whose (integer) key is above ``last_key``: rows of epochs being redone.
        With no row left the columns are forgotten too (a fresh run into an old directory may
        log other columns)."""
        if self.rows:
            key = self.fields[0]
            self.rows = [r for r in self.rows if int(float(r[key])) <= last_key]
        if not self.rows:
            self.fields = []
        self._flush()

    def _flush(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buf.getvalue())


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if hasattr(value, "item"):  # numpy / torch scalars
        return _format(value.item())
    return str(value)
