"""cvcore: the package shared by train_classify, train_segment, detect_eval and track.

The evaluation core (COCO AP, TIDE, ECE, segmentation and MOT metrics) is NumPy + Numba code that
reproduces the reference tools' numbers; the reference tools are test dependencies only.
``init_as_pycocotools()`` makes ``import pycocotools`` give :mod:`cvcore.pycocotools`, a drop-in
for pycocotools on that core (importing cvcore itself loads neither it nor Numba).

Numba's threading layer is set to ``forksafe`` here, before any parallel kernel runs. By default
Numba picks GNU OpenMP on Linux, whose thread pool makes every later ``fork()`` abort the process
("fork() called from a process already using GNU OpenMP"): a confusion matrix computed in the main
process kills the next DataLoader worker start, and the CLIs fork parsing workers. ``forksafe``
takes TBB when its library loads and otherwise Numba's built-in ``workqueue`` layer, which ships
with every Numba wheel (PyPI's ``tbb`` wheel puts ``libtbb`` outside the loader's search path, so
it is not a dependency). Our parallel kernels are launched from the main thread of each process
(DataLoader workers and torchrun ranks are processes), so workqueue's one limit, no concurrent
launches from several threads of one process, does not apply. A user's own
``NUMBA_THREADING_LAYER`` is respected.

Numba's start-up is also trimmed here: when its CPU target initialises, ``numba.np.arraymath``
probes for SciPy's BLAS by importing ``scipy.linalg`` (0.2-0.3 s, a third of a whole COCO
evaluation), only to choose how jitted ``np.correlate``/``np.convolve`` compute inner products.
While that one module loads, the probe is answered "absent" (those two then use Numba's own
loop); ``np.dot`` and ``np.linalg`` in jitted code still find SciPy when they are compiled.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

if "NUMBA_THREADING_LAYER" not in _os.environ:
    _os.environ["NUMBA_THREADING_LAYER"] = "forksafe"
    if "numba" in _sys.modules:  # imported before cvcore: its config has already read the env
        _sys.modules["numba"].config.THREADING_LAYER = "forksafe"



class _SkipBlasProbe:
    """Meta-path finder that loads ``numba.np.arraymath`` with SciPy's BLAS module hidden (see
    the module docstring); it removes itself after that one import."""

    target = "numba.np.arraymath"
    hidden = "scipy.linalg.cython_blas"

    def find_spec(self, name, path=None, target=None):
        if name != self.target:
            return None
        _sys.meta_path.remove(self)
        import importlib.util

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or "scipy.linalg" in _sys.modules:
            return spec  # SciPy is loaded already: the probe costs nothing
        run = spec.loader.exec_module

        def exec_module(module):
            _sys.modules[self.hidden] = None  # makes ``import scipy.linalg.cython_blas`` fail
            try:
                run(module)
            finally:
                if _sys.modules.get(self.hidden, 0) is None:
                    del _sys.modules[self.hidden]

        spec.loader.exec_module = exec_module
        return spec


if "numba.np.arraymath" not in _sys.modules:
    _sys.meta_path.insert(0, _SkipBlasProbe())

# ``cvcore SUBCOMMAND ...`` (the console script pip installs): the same commands as
# ``python -m cvcore.<name>``. Modules are imported only for the command that runs.
COMMANDS = {
    "cocoeval": "cvcore.detection.cocoeval",
    "tide": "cvcore.detection.tide",
    "motmetrics": "cvcore.tracking.motmetrics",
    "synth": "cvcore.synth.__main__",
}


# pycocotools' module names and the drop-in modules that stand in for them.
_PYCOCOTOOLS_MODULES = {
    "pycocotools": "cvcore.pycocotools",
    "pycocotools.coco": "cvcore.pycocotools.coco",
    "pycocotools.cocoeval": "cvcore.pycocotools.cocoeval",
    "pycocotools.mask": "cvcore.pycocotools.mask",
}


def init_as_pycocotools() -> None:
    """Make ``import pycocotools`` (and ``.coco``, ``.cocoeval``, ``.mask``) give cvcore's drop-in
    (:mod:`cvcore.pycocotools`), so code written for pycocotools runs unchanged on cvcore's engine.

    Registers the modules in ``sys.modules``; call it before the client imports pycocotools
    (modules that already did ``from pycocotools.coco import COCO`` keep what they got). A
    pycocotools already imported is replaced. Calling it again does nothing more. Imports Numba
    (the engine), which ``import cvcore`` alone does not.
    """
    import importlib

    for name, ours in _PYCOCOTOOLS_MODULES.items():
        _sys.modules[name] = importlib.import_module(ours)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cvcore`` command: ``cvcore {cocoeval,tide,motmetrics,synth} ...``."""
    import importlib

    command_line = argv is None
    argv = _sys.argv[1:] if command_line else list(argv)
    if not argv or argv[0] not in COMMANDS:
        usage = f"usage: cvcore {{{','.join(COMMANDS)}}} ...  (cvcore COMMAND --help)"
        if argv and argv[0] in ("-h", "--help"):
            print(usage)
            raise SystemExit(0)
        problem = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"error: {problem}; {usage.removeprefix('usage: ')}", file=_sys.stderr)
        raise SystemExit(2)
    from contextlib import nullcontext

    from .errors import imports_without_gc

    # As its own process (argv None) the command imports its code with the collector paused.
    with imports_without_gc() if command_line else nullcontext():
        cli = importlib.import_module(COMMANDS[argv[0]]).cli
    if command_line:  # the command reads it as its own (and may end the process fast)
        _sys.argv = [_sys.argv[0], *argv[1:]]
        cli(prog=f"cvcore {argv[0]}")
    else:
        cli(argv[1:], prog=f"cvcore {argv[0]}")
