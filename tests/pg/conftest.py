"""PostgreSQL-only fixtures: a fresh database per test on the session's throwaway server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.pgserver import PgServer, drop_database, new_database


@pytest.fixture
async def pg_dsn(pg_server: PgServer) -> AsyncIterator[str]:
    """An empty database (no tables: the code under test migrates it, as in production)."""
    dsn = await new_database(pg_server, migrated=False)
    try:
        yield dsn
    finally:
        await drop_database(pg_server, dsn)
