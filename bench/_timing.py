"""Whole-process timing for the benchmarks: wall time and peak memory of a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work"


def run_process(argv: list[str], quiet: bool = True) -> tuple[float, float]:
    """Run ``argv`` to completion; return (wall seconds, max RSS in MiB) of that process.

    The child's peak RSS includes what it inherits at fork, so call this from a small process.
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL if quiet else None)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024


def python_process(code: str, *args: str) -> list[str]:
    """argv running ``code`` in a fresh interpreter (the same one as this script)."""
    return [sys.executable, "-c", code, *args]


def print_table(title: str, rows: list[tuple[str, float, float]], ours: str) -> None:
    """rows: (name, seconds, MiB); ratios are relative to the row named ``ours``."""
    base = dict((n, (t, m)) for n, t, m in rows)[ours]
    print(f"\n{title}")
    print(f"| {'tool':<28} | {'time (s)':>9} | {'peak RSS (MiB)':>14} | {'time / ours':>11} "
          f"| {'RSS / ours':>10} |")
    print(f"|{'-' * 30}|{'-' * 10}:|{'-' * 15}:|{'-' * 12}:|{'-' * 11}:|")
    for name, t, m in rows:
        print(f"| {name:<28} | {t:9.2f} | {m:14.0f} | {t / base[0]:11.2f} | {m / base[1]:10.2f} |")
