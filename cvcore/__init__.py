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

And cvcore's kernels load from Numba's cache without ``refresh()``: before loading any cached
function Numba installs every typing and lowering registry of its CPU target (importing ~40
modules, 0.1-0.2 s in each process), which only compiling uses. Cached machine code needs what
it links against: the NRT, initialised here, and the hash secrets of dict / set code (their
module imported here); Numba's C helpers, registered when the target context is made; the
parallel runtime, started by the cache entry's own initialisers; and the modules its pickled
description names, which unpickling imports. A compilation (a cache miss, or anyone's own
``@njit``) still refreshes first, as Numba always does; other packages' cached functions load
Numba's way. Likewise the first call of each dispatcher initialises third-party Numba extensions
(entry points, found through ``importlib.metadata``: 20-25 ms); for cvcore's kernels, whose
arguments are NumPy arrays and scalars, that waits for the first compilation (``refresh()``
initialises them), and inside :func:`command_imports` ``importlib.metadata`` itself is imported
lazily, on first use.
"""

import gc as _gc
import os as _os
import sys as _sys
from collections.abc import Callable as _Callable
from collections.abc import Iterator as _Iterator
from contextlib import contextmanager as _contextmanager
from types import ModuleType as _ModuleType

__version__ = "0.1.0"

if "NUMBA_THREADING_LAYER" not in _os.environ:
    _os.environ["NUMBA_THREADING_LAYER"] = "forksafe"
    if "numba" in _sys.modules:  # imported before cvcore: its config has already read the env
        _sys.modules["numba"].config.THREADING_LAYER = "forksafe"



def _run_without(names: list[str], run: _Callable[[_ModuleType], None],
                 module: _ModuleType) -> None:
    """``run(module)`` with each of ``names`` that is not imported yet answered "absent" (an
    ``import`` of it fails) until it returns."""
    hidden = [name for name in names if name not in _sys.modules]
    for name in hidden:
        _sys.modules[name] = None
    try:
        run(module)
    finally:
        for name in hidden:
            if _sys.modules.get(name, 0) is None:
                del _sys.modules[name]


def _load_without_blas_probe(run: _Callable[[_ModuleType], None], module: _ModuleType) -> None:
    """Run ``numba.np.arraymath`` with SciPy's BLAS module hidden (see the module docstring);
    with SciPy's linear algebra loaded already the probe costs nothing and sees it."""
    loaded = "scipy.linalg" in _sys.modules
    _run_without([] if loaded else ["scipy.linalg.cython_blas"], run, module)


def _load_with_light_cache_loads(run: _Callable[[_ModuleType], None], module: _ModuleType) -> None:
    """Run ``numba.core.caching``, then let cvcore's own cached kernels load without
    ``refresh()``-ing the CPU target (see the module docstring)."""
    run(module)
    cache = getattr(module, "Cache", None)
    full_load = getattr(cache, "load_overload", None)
    if full_load is None or not all(hasattr(cache, a) for a in (
            "_load_overload", "_guard_against_spurious_io_errors")):
        return  # another Numba than the one this was written for: its own loading, unchanged

    def load_overload(self, sig, target_context):
        if not getattr(self._py_func, "__module__", "").startswith("cvcore."):
            return full_load(self, sig, target_context)
        import numba.cpython.hashing  # noqa: F401 (defines the hash secrets dict/set code uses)
        from numba.core.runtime import nrt

        nrt.rtsys.initialize(target_context)  # cached code calls the NRT: it must exist
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    cache.load_overload = load_overload


def _load_with_lazy_extensions(run: _Callable[[_ModuleType], None],
                               module: _ModuleType) -> None:
    """Run ``numba.core.dispatcher``, then let calls of cvcore's own kernels skip the
    initialisation of third-party Numba extensions (see the module docstring)."""
    run(module)
    base = getattr(module, "_DispatcherBase", None)
    full_hook = getattr(base, "_compilation_chain_init_hook", None)
    if full_hook is None:
        return  # another Numba than the one this was written for: unchanged

    def hook(self):
        if not getattr(self.py_func, "__module__", "").startswith("cvcore."):
            full_hook(self)

    base._compilation_chain_init_hook = hook


def _load_with_lazy_metadata(run: _Callable[[_ModuleType], None], module: _ModuleType) -> None:
    """Run ``numba.core.entrypoints``; inside :func:`command_imports` with ``importlib.metadata``
    imported lazily (on first use; see there)."""
    if _command_importing and "importlib.metadata" not in _sys.modules:
        import importlib
        import importlib.util

        spec = importlib.util.find_spec("importlib.metadata")
        if spec is not None and spec.loader is not None:
            spec.loader = importlib.util.LazyLoader(spec.loader)
            lazy = importlib.util.module_from_spec(spec)
            _sys.modules["importlib.metadata"] = lazy
            importlib.metadata = lazy
            spec.loader.exec_module(lazy)
    run(module)


def _load_numba_lean(run: _Callable[[_ModuleType], None], module: _ModuleType) -> None:
    """Run ``numba/__init__``; inside :func:`command_imports` without the two imports it makes
    for nothing a command uses, then start the NRT's compilation in a thread (see there)."""
    global _nrt_thread
    lean = []
    if _command_importing:  # PyYAML stays when Numba has a config file to read with it
        lean = ["scipy"] + ([] if _os.path.exists(".numba_config.yaml") else ["yaml"])
    _run_without(lean, run, module)
    if _command_importing:
        import threading

        _nrt_thread = threading.Thread(target=_initialize_nrt, daemon=True)
        _nrt_thread.start()


def _initialize_nrt() -> None:
    """Make the CPU target and initialise Numba's runtime (compiling its atomic reference
    counts with LLVM), as the first kernel call would; errors are left for that call."""
    try:
        from numba.core.registry import cpu_target
        from numba.core.runtime import nrt

        nrt.rtsys.initialize(cpu_target.target_context)
    except Exception:  # noqa: BLE001 (the kernel call that needs the NRT reports it)
        pass


class _NumbaStartup:
    """Meta-path finder that runs five Numba modules through the adjustments above as they are
    first imported; it removes itself once all five are done."""

    def __init__(self):
        self.pending = {"numba": _load_numba_lean,
                        "numba.core.entrypoints": _load_with_lazy_metadata,
                        "numba.core.dispatcher": _load_with_lazy_extensions,
                        "numba.np.arraymath": _load_without_blas_probe,
                        "numba.core.caching": _load_with_light_cache_loads}

    def find_spec(self, name, path=None, target=None):
        adjust = self.pending.pop(name, None)
        if adjust is None:
            return None
        import importlib.util

        _sys.meta_path.remove(self)  # find the real spec (and nothing else) without this finder
        try:
            spec = importlib.util.find_spec(name)
        finally:
            if self.pending:
                _sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module
        spec.loader.exec_module = lambda module: adjust(run, module)
        return spec


_command_importing = False  # inside command_imports()
_nrt_thread = None  # started by _load_numba_lean inside command_imports(), joined at its end


@_contextmanager
def command_imports() -> _Iterator[None]:
    """For a command's entry module, in the command's own process: import the command's code
    with Python's cyclic garbage collector paused and Numba imported lean, then freeze all of it
    (never scanned again) and turn the collector back on.

    The collector runs every 700 new container objects (net). Importing NumPy, Numba and our
    modules makes ~90,000 that all stay alive, so the ~120 collections during those imports find
    next to nothing and cost ~50 ms, 6% of a COCO evaluation of 5000 images; later ones would
    scan them all again. Numba, as it is imported, imports SciPy only to check its version is
    >= 1.0 and PyYAML only to read a ``.numba_config.yaml`` in the working directory: 40 ms
    together. Here both imports are answered "absent" while Numba's own ``__init__`` runs
    (PyYAML only when there is no such file), never while other code runs. For the rest of the
    command the collector runs every 5000 new objects: most of what a command allocates is
    freed before then, never scanned (at the default 700, 10-15 ms of a bbox evaluation).

    Once Numba is imported, a thread initialises its runtime (the NRT, 25-30 ms, mostly LLVM
    compiling, which runs outside the GIL) while the command's own modules import; it is
    joined before this returns, so the command never forks while it runs."""
    global _command_importing, _nrt_thread
    enabled = _gc.isenabled()
    _gc.disable()
    _command_importing = True
    try:
        yield
    finally:
        _command_importing = False
        if _nrt_thread is not None:
            _nrt_thread.join()
            _nrt_thread = None
        _gc.freeze()
        _gc.set_threshold(5000, *_gc.get_threshold()[1:])
        if enabled:
            _gc.enable()


_startup = _NumbaStartup()
for _name in list(_startup.pending):
    if _name in _sys.modules:  # Numba was imported before cvcore: too late for this one
        del _startup.pending[_name]
if _startup.pending:
    _sys.meta_path.insert(0, _startup)

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

    # As its own process (argv None) the command imports its code the quick way.
    with command_imports() if command_line else nullcontext():
        cli = importlib.import_module(COMMANDS[argv[0]]).cli
    if command_line:  # the command reads it as its own (and may end the process fast)
        _sys.argv = [_sys.argv[0], *argv[1:]]
        cli(prog=f"cvcore {argv[0]}")
    else:
        cli(argv[1:], prog=f"cvcore {argv[0]}")
