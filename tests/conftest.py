"""Shared fixtures.

`shared_dir` points at ../shared (read in place, never copied). In a user's fresh clone it
does not exist: tests that need it skip with a clear reason. `.ci/run` refuses to run
without it, so CI never skips them silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CIVIC_ALERTS_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
DATA_DIR = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED_DIR / "feeds-real").is_dir():
        if os.environ.get("CIVIC_ALERTS_REQUIRE_SHARED"):
            pytest.fail(f"CI requires ../shared but it is missing at {SHARED_DIR}")
        pytest.skip(f"needs ../shared (not present at {SHARED_DIR}); CI provides it")
    return SHARED_DIR


@pytest.fixture(scope="session")
def real_feeds_dir(shared_dir: Path) -> Path:
    return shared_dir / "feeds-real"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "civic-alerts.sqlite3"
