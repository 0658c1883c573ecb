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
from tests.pgserver import DSN_BY_PATH, drop_database, new_database
from tests.store.helpers import Clock

BACKENDS = ["sqlite", "postgres"]


async def open_backend(name: str, path: Path, clock: Clock, request: pytest.FixtureRequest) -> Storage:
    if name == "sqlite":
        return await Store.open(path, clock=clock)
    if name == "postgres":
        from bot.store.pg import PgStore

        server = request.getfixturevalue("pg_server")
        dsn = await new_database(server)
        DSN_BY_PATH[path] = dsn
        return await PgStore.open(dsn, clock=clock)
    raise ValueError(f"unknown backend {name}")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, db_path: Path, clock: Clock) -> AsyncIterator[Storage]:
    if request.param == "postgres" and request.node.path.name == "test_db.py":
        pytest.skip("test_db.py checks SQLite's own mechanics (files, pragmas); tests/pg has PostgreSQL's")
    s = await open_backend(request.param, db_path, clock, request)
    try:
        yield s
    finally:
        await s.close()
        dsn = DSN_BY_PATH.pop(db_path, None)
        if dsn is not None:
            await drop_database(request.getfixturevalue("pg_server"), dsn)
