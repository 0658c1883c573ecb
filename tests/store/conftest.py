"""The store contract suite's fixtures: every test here runs on each backend in BACKENDS.

Why parametrized: the core is typed on the storage ports (bot.ports); a second backend
(PostgreSQL) is added by naming it here and giving `open_backend` a branch — the tests stay.
Tests that check one backend's own mechanics (SQLite files, pragmas) live in test_db.py and
use `sqlite_store`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ports import Storage
from bot.store import Store
from tests.store.helpers import Clock

BACKENDS = ["sqlite"]


async def open_backend(name: str, path: Path, clock: Clock) -> Storage:
    if name == "sqlite":
        return await Store.open(path, clock=clock)
    raise ValueError(f"unknown backend {name}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, db_path: Path, clock: Clock) -> AsyncIterator[Storage]:
    s = await open_backend(request.param, db_path, clock)
    try:
        yield s
    finally:
        await s.close()
