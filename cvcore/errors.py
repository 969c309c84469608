"""One-line user-facing errors.

Anything a user can get wrong (a malformed file, an unknown id, a NaN box, a missing weights file)
raises :class:`InputError` with a message that names the file and the problem. Command-line entry
points wrap their ``main`` with :func:`run_cli`, which prints that one line and exits with code 2
instead of showing a traceback from deep inside.

Errors raised in other processes arrive here too, in one piece:

- DataLoader workers: torch re-raises a worker's exception in the main process as
  ``type(err)(text)`` where ``text`` is "Caught ... Original Traceback ...". :class:`InputError`
  recognises that text and keeps only the original one-line message.
- ``concurrent.futures`` / ``multiprocessing`` workers pickle the exception: :class:`InputError`
  pickles as its (problem, path) pair, so it arrives unchanged.
- File-system errors (a missing or unreadable file, a folder where a file was expected, an
  output path that is a file) are ``OSError`` with a file name: :func:`run_cli` prints them as
  ``error: <file>: <strerror>``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from os import PathLike

_TORCH_WORKER_MARK = "\nOriginal Traceback (most recent call last):"
_QUALNAME = "cvcore.errors.InputError: "


class InputError(ValueError):
    """Bad user input; ``str(err)`` is a complete one-line message."""

    def __init__(self, problem: str, path: str | PathLike | None = None):
        if path is None and _TORCH_WORKER_MARK in problem:
            problem = _original_message(problem)
        problem = " ".join(str(problem).split())  # one line, whatever the source said
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")

    def __reduce__(self):
        # Pickled across processes (ProcessPoolExecutor): keep the file and the problem apart.
        return (type(self), (self.problem, self.path))


def _original_message(text: str) -> str:
    """The message of the exception a DataLoader worker raised, from torch's wrapper text."""
    lines = [line for line in text.rstrip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith(_QUALNAME):
            return line[len(_QUALNAME):]
    return lines[-1] if lines else text


def one_line(err: BaseException) -> str:
    """``str(err)`` folded to its first non-empty line (libraries' multi-line messages)."""
    for line in str(err).splitlines():
        if line.strip():
            return line.strip()
    return type(err).__name__


def os_error(err: OSError) -> InputError:
    """An ``OSError`` as an :class:`InputError` naming its file (``error: f: No such file``)."""
    reason = err.strerror or one_line(err)
    return InputError(reason, err.filename) if err.filename else InputError(reason)


def run_cli(main: Callable[[], object], fast_exit: bool = False) -> None:
    """Call ``main()``; turn an :class:`InputError` (or an ``OSError`` naming a file) into
    ``error: <message>`` on one line and exit code 2. Ctrl-C prints ``interrupted`` (130).

    ``fast_exit``: after a successful ``main()``, flush stdout and stderr and end the process
    with ``os._exit``, skipping the interpreter's teardown. Once Numba has loaded kernels that
    teardown (finalizers of its compiled-code objects) takes 0.4-1 s, as long as a whole COCO
    evaluation of 5000 images; only for commands whose outputs are complete when ``main()``
    returns (files closed, worker processes joined), as the evaluation commands are."""
    try:
        result = main()
        if fast_exit:  # a closed pipe shows here, where it is handled like any other
            sys.stdout.flush()
    except InputError as err:
        _fail(str(err))
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly, as cat does
        _quiet_stdout()
        raise SystemExit(141) from None
    except OSError as err:
        if err.filename is None:
            raise
        _fail(str(os_error(err)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    code = result if isinstance(result, int) else 0
    if fast_exit:
        sys.stderr.flush()
        os._exit(code)
    raise SystemExit(code)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of a closed pipe is silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _fail(message: str) -> None:
    # Warnings raised while unwinding (e.g. a library's ResourceWarning) must not follow the
    # error line: the error is the last thing the user reads.
    warnings.simplefilter("ignore")
    sys.stdout.flush()
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2) from None
