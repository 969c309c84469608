"""The ``cvcore`` console command: the same subcommands as ``python -m cvcore.<name>``."""

import json
import subprocess
import sys

import pytest
from conftest import REPO

from cvcore.synth.coco import make_coco


def run(*argv):
    return subprocess.run([sys.executable, "-c", "import cvcore; cvcore.main()", *map(str, argv)],
                          capture_output=True, text=True, cwd=REPO)


def test_cocoeval_and_tide_match_their_module_commands(tmp_path):
    root = make_coco(tmp_path / "coco", seed=3, num_images=8, write_images=False)
    gt, res = root / "annotations" / "instances_val2017.json", root / "predictions.json"
    for name in ("cocoeval", "tide"):
        a = run(name, gt, res, "--json", tmp_path / f"{name}_a.json")
        b = subprocess.run([sys.executable, "-m", f"cvcore.{name}", str(gt), str(res), "--json",
                            str(tmp_path / f"{name}_b.json")], capture_output=True, text=True,
                           cwd=REPO)
        assert a.returncode == b.returncode == 0, a.stderr + b.stderr
        assert a.stdout == b.stdout
        got = json.loads((tmp_path / f"{name}_a.json").read_text())
        assert got == json.loads((tmp_path / f"{name}_b.json").read_text())
    stats = json.loads((tmp_path / "cocoeval_a.json").read_text())
    assert 0.05 < stats["stats"][0] < 0.95


def test_help_names_the_subcommand():
    out = run("motmetrics", "--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: cvcore motmetrics")


@pytest.mark.parametrize("argv", [[], ["nope"]])
def test_unknown_or_missing_command_is_one_line(argv):
    out = run(*argv)
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "cocoeval" in lines[0]


def test_output_into_a_closed_pipe_stops_quietly(tmp_path):
    """``python -m cvcore.cocoeval ... | head -1``: no traceback when the reader goes away."""
    root = make_coco(tmp_path / "coco", seed=3, num_images=8, write_images=False)
    gt, res = root / "annotations" / "instances_val2017.json", root / "predictions.json"
    proc = subprocess.Popen([sys.executable, "-m", "cvcore.cocoeval", str(gt), str(res)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, bufsize=0)
    proc.stdout.close()  # the reader is gone before the first line is printed
    stderr = proc.stderr.read().decode()
    assert proc.wait() == 141 and stderr == ""


# In a fresh interpreter: count the collector's runs while importing Numba's side of cvcore
# inside command_imports, then check the collector is back on with the imports frozen, and
# that Numba came without SciPy and PyYAML, which stay importable, and with importlib.metadata
# not loaded (a lazy module) until something uses it, even after a cvcore kernel ran.
GC_PROBE = """
import compileall, gc, os, sys
import cvcore
from cvcore import command_imports
# Byte-compiled first, as an installed package is: compiling a module runs a collection.
compileall.compile_dir(os.path.dirname(cvcore.__file__), quiet=1, force=True)
runs = []
gc.callbacks.append(lambda phase, info: runs.append(1) if phase == "start" else None)
with command_imports():
    inside = gc.isenabled()
    import cvcore.detection.cocoeval
collections = len(runs)
lean = "scipy" not in sys.modules and "yaml" not in sys.modules
from numba.core.runtime import nrt
lean = lean and nrt.rtsys._init and cvcore._nrt_thread is None  # initialised by the thread
cvcore.detection.cocoeval.warm_up()
lazy = type(sys.modules["importlib.metadata"]).__name__ == "_LazyModule"
import scipy.optimize, yaml
from importlib import metadata
print(inside, collections, gc.isenabled(), lean, gc.get_threshold()[0], lazy,
      metadata.version("numba"), gc.get_freeze_count())
"""


def test_command_imports_run_no_garbage_collection_and_import_numba_lean():
    out = subprocess.run([sys.executable, "-c", GC_PROBE], capture_output=True, text=True,
                         cwd=REPO, check=True).stdout.split()
    assert out[:7] == ["False", "0", "True", "True", "5000", "True", "0.68.1"]
    assert int(out[7]) > 50_000  # NumPy, Numba and cvcore's objects, never scanned again
