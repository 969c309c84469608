"""Whole-process timing for the benchmarks: wall time and peak memory of a child process."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "_work"


def _tree_rss_mib(pid: int) -> float:
    """Current RSS of ``pid`` and all its descendants (Linux /proc), MiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total / 1024


def run_process(argv: list[str], quiet: bool = True) -> tuple[float, float]:
    """Run ``argv`` to completion; return (wall seconds, peak RSS in MiB).

    The peak is the larger of the process's own maximum RSS and the largest sum of the RSS of
    the process and its worker processes seen while sampling every 5 ms (tools that parse in
    parallel use more than one process). A child's maximum RSS includes what it inherits at
    fork, so call this from a small process.
    """
    # Bytecode caching on, as users run: pip compiles an installed package's modules, an
    # editable install writes __pycache__ at first import. With PYTHONDONTWRITEBYTECODE set
    # (as on this machine's shells) every run would compile cvcore's sources again (~0.08 s).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(REPO)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL if quiet else None)
    tree_peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            tree_peak[0] = max(tree_peak[0], _tree_rss_mib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}")
    return wall, max(usage.ru_maxrss / 1024, tree_peak[0])


def run_interleaved(commands: dict[str, list[str]], repeats: int,
                    pause: float = 0.5) -> dict[str, tuple[float, float]]:
    """Each argv run ``repeats`` times, the commands taking turns, with ``pause`` seconds between
    runs; {name: (median wall seconds, largest peak RSS MiB)}.

    Single runs are not enough here: on this 2-core VM one whole-process time varies by +-15%,
    and a process started right after another one exits runs up to 0.2 s slower, so no tool
    always goes first or right after the same other tool.
    """
    times: dict[str, list[float]] = {name: [] for name in commands}
    peaks: dict[str, float] = dict.fromkeys(commands, 0.0)
    for _ in range(repeats):
        for name, argv in commands.items():
            time.sleep(pause)
            wall, peak = run_process(argv)
            times[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    return {name: (statistics.median(t), peaks[name]) for name, t in times.items()}


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
