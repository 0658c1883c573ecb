from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import bot.store.db
from bot.store import Store
from tests.store.helpers import Clock


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(bot.store.db, "time", c)
    return c
