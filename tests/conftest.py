"""Shared fixtures: the team's real data in ../shared/ (skipped cleanly when absent)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Subprocesses the tests start (scripts, ``python -m cvcore...``) import this checkout's cvcore,
# whatever copy is installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` next to the repository, or skip the test with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available: {SHARED_DATA} is absent")
    return SHARED_DATA
