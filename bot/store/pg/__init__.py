"""The PostgreSQL store: the same storage ports (bot.ports) as the SQLite one, for a database
several worker processes share. Selected by CIVIC_ALERTS_DB=postgresql://… (or --db);
docs/architecture.md has the contract, docs/operations.md the setup and backups.
"""

from __future__ import annotations

import os

from bot.clock import SYSTEM_CLOCK, Clock
from bot.fanout import FanoutPolicy
from bot.store.pg.db import (
    DEFAULT_CLAIM_BATCH,
    DEFAULT_LEASE,
    DEFAULT_POLL_INTERVAL,
    PgDatabase,
    is_postgres_url,
    redact,
)
from bot.store.pg.feeds import PgFeedsMixin
from bot.store.pg.stories import PgStoriesMixin, ts_query
from bot.store.pg.subscriptions import PgSubscriptionsMixin

__all__ = ["PgStore", "is_postgres_url", "redact", "ts_query"]


class PgStore(PgFeedsMixin, PgStoriesMixin, PgSubscriptionsMixin, PgDatabase):
    @classmethod
    async def open(
        cls, dsn: str, *, clock: Clock = SYSTEM_CLOCK, fanout: FanoutPolicy | None = None,
        lease: float | None = None, poll_interval: int = DEFAULT_POLL_INTERVAL,
        claim_batch: int | None = None,
    ) -> PgStore:
        """Connect (a small pool), migrate, and return the store.

        `lease`: seconds a claimed alert (and at least a claimed feed) stays claimed by a worker
        that stopped answering (CIVIC_ALERTS_LEASE_SECONDS, default 300); `claim_batch`: due
        feeds claimed per look (CIVIC_ALERTS_CLAIM_BATCH, default 50)."""
        if lease is None:
            lease = float(os.environ.get("CIVIC_ALERTS_LEASE_SECONDS") or DEFAULT_LEASE)
        if claim_batch is None:
            claim_batch = int(os.environ.get("CIVIC_ALERTS_CLAIM_BATCH") or DEFAULT_CLAIM_BATCH)
        pool, _version = await cls._open_pool(dsn)
        return cls(pool, dsn, clock=clock, fanout=fanout, lease=lease, poll_interval=poll_interval,
                   claim_batch=claim_batch)
