"""``import cvcore``: what it sets up for Numba before any kernel loads."""

import subprocess
import sys

from conftest import REPO

# A fresh interpreter: compile a kernel (the CPU target initialises, which probes SciPy's BLAS),
# then check that SciPy's linear algebra was not imported for it and that jitted linear algebra
# and correlation still work.
PROBE = """
import sys
import cvcore, numba, numpy as np
print(numba.njit(lambda a: a.sum())(np.arange(4.0)))
print("scipy.linalg" in sys.modules)
f = numba.njit(lambda a: (np.dot(a, a), np.convolve(a, a)[2], np.linalg.det(np.eye(3) * 2)))
print(f(np.arange(3.0)))
print("scipy.linalg" in sys.modules, type(sys.meta_path[0]).__name__)
"""


def test_numba_starts_without_scipy_linalg_and_jitted_linalg_still_works():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "6.0"
    assert lines[1] == "False"  # the BLAS probe did not import scipy.linalg
    dot, conv, det = eval(lines[2])
    assert (dot, conv) == (5.0, 1.0) and abs(det - 8.0) < 1e-12
    # np.dot / np.linalg found SciPy when compiled; the finder removed itself after its import.
    assert lines[3].startswith("True ") and "_NumbaStartup" not in lines[3]


# A fresh interpreter: one COCO evaluation on cvcore's cached kernels, then which of Numba's
# compile-only registry modules got imported and whether third-party extensions were initialised,
# then a compilation of the user's own that needs those registries (np.median, a typed List)
# and initialises the extensions first.
LIGHT_LOADS = """
import sys
import numpy as np
import cvcore
from cvcore.detection.coco import one_box_case
from cvcore.detection.cocoeval import evaluate
from numba.core import entrypoints
gt, dets = one_box_case()
print(round(evaluate(gt, dets).stats[0], 12))
print(sum(m in sys.modules for m in ("numba.typed.typeddict", "numba.np.polynomial.polynomial_core",
                                     "numba.np.random.generator_core",
                                     # nor the array-math module the kernels avoid (cocoeval)
                                     "numba.np.arraymath")))
print(entrypoints._already_initialized)
import numba
print(numba.njit(lambda a: np.median(a) + len(numba.typed.List([1, 2])))(np.arange(5.0)))
print(entrypoints._already_initialized)
"""


def test_cvcore_kernels_load_without_refreshing_numba_and_compiling_still_works():
    for _ in range(2):  # the first run may compile (cold cache): the second loads from the cache
        out = subprocess.run([sys.executable, "-c", LIGHT_LOADS], capture_output=True,
                             text=True, cwd=REPO)
        assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1.0", "0", "False", "4.0", "True"]
