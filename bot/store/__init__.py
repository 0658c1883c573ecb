"""The SQLite store: the only place that speaks SQL.

`Store` is composed of one mixin per table group (feeds, stories, subscriptions and the outbox)
over one aiosqlite connection; see docs/architecture.md for the contract.
"""

from __future__ import annotations

from pathlib import Path

from bot.store.db import Database
from bot.store.feeds import FeedsMixin
from bot.store.stories import SaveReport, StoriesMixin, fts_query
from bot.store.subscriptions import SubscriptionsMixin

__all__ = ["SaveReport", "Store", "fts_query"]


class Store(FeedsMixin, StoriesMixin, SubscriptionsMixin, Database):
    @classmethod
    async def open(cls, path: str | Path) -> Store:
        path = Path(path)
        conn, _version = await cls._open_connection(path)
        store = cls(conn, path)
        await store._run(store._load_clusters, action="loading recent stories")
        return store
