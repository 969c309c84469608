"""One-line user-facing errors.

Anything a user can get wrong (a malformed file, an unknown id, a NaN box, a missing weights file)
raises :class:`InputError` with a message that names the file and the problem. Command-line entry
points wrap their ``main`` with :func:`run_cli`, which prints that one line and exits with code 2
instead of showing a traceback from deep inside.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from os import PathLike


class InputError(ValueError):
    """Bad user input; ``str(err)`` is a complete one-line message."""

    def __init__(self, problem: str, path: str | PathLike | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


def run_cli(main: Callable[[], object]) -> None:
    """Call ``main()``; turn an :class:`InputError` into ``error: <message>`` and exit code 2."""
    try:
        result = main()
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    raise SystemExit(result if isinstance(result, int) else 0)
