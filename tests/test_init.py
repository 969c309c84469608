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
    assert lines[3].startswith("True ") and "_SkipBlasProbe" not in lines[3]
