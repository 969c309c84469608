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

from .atomic import write_json, write_text
from .errors import InputError

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


def check_output_path(path: str | os.PathLike | None, folder: bool = False) -> None:
    """Fail before any work when ``path`` (an output file, or a ``folder``) cannot be written
    there: it is a folder where a file goes (or the reverse), a file stands where one of its
    parent folders goes, or the nearest existing folder is not writable. None passes."""
    if path is None:
        return
    path = Path(path)
    for existing in (path, *path.parents):
        if not existing.exists():
            continue
        if existing == path and folder != existing.is_dir():
            raise InputError("is a file, not a folder" if folder
                             else "is a folder, not a file", path)
        if existing != path and not existing.is_dir():
            raise InputError(f"cannot write there: {existing} is a file, not a folder", path)
        if not os.access(existing if existing.is_dir() else existing.parent, os.W_OK):
            raise InputError("cannot write there: permission denied", path)
        return


def make_run_dir(task: str, name: str = "exp", out: str | os.PathLike | None = None,
                 exist_ok: bool = False, root: str | os.PathLike = RUNS_ROOT) -> Path:
    """Create and return the run directory.

    ``out`` (the ``--out`` option) is used as given and may already exist; otherwise
    ``root/task/name`` is auto-incremented unless ``exist_ok`` (used by ``--resume``).
    """
    run_dir = Path(out) if out is not None else increment_path(Path(root) / task / name, exist_ok)
    check_output_path(run_dir, folder=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _yaml():
    import yaml  # lazily: the evaluation CLIs import this module for its path checks

    return yaml


def save_args(run_dir: str | os.PathLike, args: argparse.Namespace | Mapping[str, Any]) -> Path:
    """Write ``args.yaml``: every argument, paths as strings, in the parser's order."""
    items = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
    text = _yaml().safe_dump({k: _plain(v) for k, v in items.items()}, sort_keys=False)
    return write_text(Path(run_dir) / "args.yaml", text)


def load_args(run_dir: str | os.PathLike) -> dict[str, Any]:
    """A run's ``args.yaml`` as a dict (one-line errors naming the file)."""
    path = Path(run_dir) / "args.yaml"
    try:
        yaml = _yaml()
        args = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(f"not valid YAML ({' '.join(str(err).split())})", path) from None
    if not isinstance(args, dict | None):
        raise InputError("expected a mapping of argument names to values", path)
    return args or {}


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are InputErrors: ``error: argument --epochs: invalid int
    value: 'x'`` on one line (exit 2 under ``run_cli``) instead of the usage text plus a line.
    ``--help`` is unchanged."""

    def error(self, message: str):
        raise InputError(message)


def save_metrics(run_dir: str | os.PathLike, metrics: Mapping[str, Any],
                 name: str = "metrics.json") -> Path:
    return write_json(Path(run_dir) / name, metrics)


class ResultsCSV:
    """``results.csv``: one row per epoch (or step), keyed by its first column (an integer).

    Writing a row whose key is already present replaces that row, so a run resumed from a
    checkpoint taken before the last row was written keeps a continuous, duplicate-free table.
    Each write rewrites the (small) file atomically. :meth:`add` + :meth:`flush` split a write
    so a checkpoint can store :meth:`snapshot` (the table with the new row) before the file
    claims the row; :meth:`restore` puts a snapshot back.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.fields: list[str] = []
        self.rows: list[dict[str, str]] = []
        if self.path.exists() and self.path.stat().st_size:
            try:
                with self.path.open(newline="") as f:
                    reader = csv.DictReader(f)
                    self.fields = list(reader.fieldnames or [])
                    self.rows = list(reader)
            except (UnicodeDecodeError, csv.Error) as err:
                raise InputError(f"not a results table ({err})", self.path) from None
            for n, row in enumerate(self.rows, 2):
                if not _is_int(row.get(self.fields[0])) or None in row or None in row.values():
                    raise InputError(f"line {n}: not a results row (expected "
                                     f"{len(self.fields)} columns, an integer "
                                     f"{self.fields[0]} first)", self.path)

    def add(self, row: Mapping[str, Any]) -> None:
        """Put ``row`` in the table in memory (replacing the row with its key)."""
        if not self.fields:
            self.fields = list(row)
        elif list(row) != self.fields:
            raise InputError(f"its columns {self.fields} differ from this run's {list(row)} "
                             "(a table of another run?)", self.path)
        key = str(_format(row[self.fields[0]]))
        formatted = {k: _format(v) for k, v in row.items()}
        self.rows = [r for r in self.rows if r[self.fields[0]] != key] + [formatted]

    def write(self, row: Mapping[str, Any]) -> None:
        self.add(row)
        self.flush()

    def keys(self) -> list[int]:
        """The rows' keys, in table order."""
        return [int(float(r[self.fields[0]])) for r in self.rows]

    def snapshot(self) -> dict[str, list]:
        """The table as plain lists of strings (storable in a weights-only checkpoint)."""
        return {"fields": list(self.fields), "rows": [dict(r) for r in self.rows]}

    def restore(self, snapshot: Mapping[str, list]) -> None:
        """Replace the table with a :meth:`snapshot` and write it."""
        self.fields = list(snapshot["fields"])
        self.rows = [dict(r) for r in snapshot["rows"]]
        self.flush()

    def truncate(self, last_key: int) -> None:
        """Drop rows whose (integer) key is above ``last_key``: rows of epochs being redone.
        With no row left the columns are forgotten too (a fresh run into an old directory may
        log other columns)."""
        if self.rows:
            self.rows = [r for r, key in zip(self.rows, self.keys(), strict=True)
                         if key <= last_key]
        if not self.rows:
            self.fields = []
        self.flush()

    def flush(self) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, buf.getvalue())


def _is_int(text: str | None) -> bool:
    try:
        return text is not None and float(text).is_integer()
    except ValueError:
        return False


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if hasattr(value, "item"):  # numpy / torch scalars
        return _format(value.item())
    return str(value)
