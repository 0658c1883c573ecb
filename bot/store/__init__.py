"""The SQLite store: the only place that speaks SQL.

`Store` is composed of one mixin per table group (feeds, stories, destinations with their
subscriptions and the outbox) over one aiosqlite connection. It implements the storage ports
in bot.ports; docs/architecture.md has the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.assembly import SaveReport
from bot.clock import SYSTEM_CLOCK, Clock
from bot.fanout import FanoutPolicy
from bot.store.coverage import CoverageMixin
from bot.store.db import Database
from bot.store.feeds import FeedsMixin
from bot.store.stories import StoriesMixin, fts_query
from bot.store.subscriptions import SubscriptionsMixin

if TYPE_CHECKING:
    from bot.ports import Storage
    from bot.settings import Settings

__all__ = ["SaveReport", "Store", "fts_query", "open_store"]


class Store(FeedsMixin, CoverageMixin, StoriesMixin, SubscriptionsMixin, Database):
    @classmethod
    async def open(
        cls, path: str | Path, *, clock: Clock = SYSTEM_CLOCK, fanout: FanoutPolicy | None = None
    ) -> Store:
        path = Path(path)
        conn, _version = await cls._open_connection(path)
        return cls(conn, path, clock=clock, fanout=fanout)


async def open_store(
    settings: Settings, *, clock: Clock = SYSTEM_CLOCK, fanout: FanoutPolicy | None = None
) -> Storage:
    """The configured backend: PostgreSQL when CIVIC_ALERTS_DB (or --db) is a postgresql:// URL,
    else the SQLite file. Why one door: every command and the app open storage the same way."""
    if settings.db_url:
        from bot.store.pg import PgStore

        return await PgStore.open(settings.db_url, clock=clock, fanout=fanout, poll_interval=settings.poll_interval)
    return await Store.open(settings.db_path, clock=clock, fanout=fanout)
