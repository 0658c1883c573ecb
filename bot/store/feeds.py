"""Feeds and their health: what to poll next and why a feed is failing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.errors import FeedExistsError
from bot.models import FeedConfig, FeedState
from bot.store.db import Database, transaction

# A feed is polled when the catalogue lists it, a server added it, or coverage manages it.
_ACTIVE = "(configured = 1 OR kind = 'managed' OR url IN (SELECT url FROM guild_feeds))"
# What a feed is now: the catalogue wins (the operator's), then managed, then a server's.
KIND = (
    "CASE WHEN configured = 1 THEN 'catalog' WHEN kind = 'managed' THEN 'managed' "
    "WHEN url IN (SELECT url FROM guild_feeds) THEN 'server' ELSE kind END"
)

_STATE_COLUMNS = (
    "url, name, city, interval, etag, last_modified, body_hash, last_status, last_error, "
    "consecutive_errors, last_checked, next_check, items_seen, disabled, disabled_reason, lang, "
    "managed_city, needed_until, " + KIND + " AS kind"
)


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _state(row: sqlite3.Row) -> FeedState:
    return FeedState(
        url=row["url"],
        name=row["name"],
        city=row["city"],
        interval=row["interval"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        body_hash=row["body_hash"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        consecutive_errors=row["consecutive_errors"],
        last_checked=_dt(row["last_checked"]),
        next_check=_dt(row["next_check"]),
        items_seen=row["items_seen"],
        disabled=bool(row["disabled"]),
        disabled_reason=row["disabled_reason"],
        lang=row["lang"],
        kind=row["kind"],
        managed_city=row["managed_city"],
        needed_until=_dt(row["needed_until"]),
    )


class FeedsMixin(Database):
    async def sync_feeds(self, configs: Sequence[FeedConfig]) -> None:
        """Make the catalogue in the database match the configured feeds (state is kept)."""

        def fn(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.execute("UPDATE feeds SET configured = 0")
                c.executemany(
                    "INSERT INTO feeds(url, name, city, interval, lang, configured) "
                    "VALUES (:url, :name, :city, :interval, :lang, 1) "
                    "ON CONFLICT(url) DO UPDATE SET name = excluded.name, city = excluded.city, "
                    "interval = excluded.interval, lang = excluded.lang, configured = 1",
                    [
                        {"url": f.url, "name": f.name, "city": f.city, "interval": f.interval, "lang": f.lang}
                        for f in configs
                    ],
                )

        await self._run(fn, action="saving the feed catalogue")

    async def feed_states(self, *, active_only: bool = True) -> list[FeedState]:
        where = f"WHERE {_ACTIVE}" if active_only else ""

        def fn(c: sqlite3.Connection) -> list[FeedState]:
            return [_state(r) for r in c.execute(f"SELECT {_STATE_COLUMNS} FROM feeds {where} ORDER BY url")]

        return await self._run(fn, action="reading feeds")

    async def feed_state(self, url: str) -> FeedState | None:
        def fn(c: sqlite3.Connection) -> FeedState | None:
            row = c.execute(f"SELECT {_STATE_COLUMNS} FROM feeds WHERE url = :u", {"u": url}).fetchone()
            return _state(row) if row else None

        return await self._run(fn, action="reading a feed")

    async def due_feeds(self, at: float | None = None) -> list[FeedState]:
        moment = self.clock.now() if at is None else at

        def fn(c: sqlite3.Connection) -> list[FeedState]:
            rows = c.execute(
                f"SELECT {_STATE_COLUMNS} FROM feeds WHERE {_ACTIVE} AND disabled = 0 "
                "AND (next_check IS NULL OR next_check <= :t) ORDER BY next_check IS NOT NULL, next_check",
                {"t": moment},
            )
            return [_state(r) for r in rows]

        return await self._run(fn, action="finding due feeds")

    async def record_fetch(
        self,
        url: str,
        *,
        status: int | None,
        error: str | None,
        next_check: float,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        items: int = 0,
        disable_reason: str | None = None,
    ) -> None:
        """Remember one fetch: validators on success, error count and reason on failure."""

        def fn(c: sqlite3.Connection) -> None:
            params = {
                "url": url,
                "status": status,
                "error": error,
                "next": next_check,
                "etag": etag,
                "lm": last_modified,
                "hash": body_hash,
                "items": items,
                "t": self.clock.now(),
                "dis": 1 if disable_reason else 0,
                "why": disable_reason,
            }
            c.execute("INSERT OR IGNORE INTO feeds(url) VALUES (:url)", params)
            if error is None:
                c.execute(
                    "UPDATE feeds SET last_status = :status, last_error = NULL, consecutive_errors = 0, "
                    "last_checked = :t, next_check = :next, items_seen = items_seen + :items, "
                    "etag = COALESCE(:etag, etag), last_modified = COALESCE(:lm, last_modified), "
                    "body_hash = COALESCE(:hash, body_hash) WHERE url = :url",
                    params,
                )
            else:
                c.execute(
                    "UPDATE feeds SET last_status = :status, last_error = :error, "
                    "consecutive_errors = consecutive_errors + 1, last_checked = :t, next_check = :next, "
                    "disabled = MAX(disabled, :dis), disabled_reason = COALESCE(:why, disabled_reason) "
                    "WHERE url = :url",
                    params,
                )

        await self._run(fn, action="saving feed health")

    async def guild_only_urls(self) -> set[str]:
        """Feeds polled only because a server added them (not in the operator's catalogue).

        The poller fetches these with the private-address guard (allow_private_feeds), since
        any server admin can type any URL; catalogue feeds are the operator's own choice."""

        def fn(c: sqlite3.Connection) -> set[str]:
            rows = c.execute(
                "SELECT url FROM feeds WHERE configured = 0 AND url IN (SELECT url FROM guild_feeds)"
            )
            return {r[0] for r in rows}

        return await self._run(fn, action="reading feeds")

    async def add_guild_feed(self, owner: str, url: str, name: str | None) -> FeedConfig:
        def fn(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.execute(
                    "INSERT OR IGNORE INTO feeds(url, name, kind) VALUES (:u, :n, 'server')", {"u": url, "n": name}
                )
                # A server re-adding a feed that 410'd gets a fresh chance.
                c.execute(
                    "UPDATE feeds SET disabled = 0, disabled_reason = NULL, next_check = NULL "
                    "WHERE url = :u AND configured = 0 AND url NOT IN (SELECT url FROM guild_feeds)",
                    {"u": url},
                )
                try:
                    c.execute(
                        "INSERT INTO guild_feeds(guild_id, url, name, added) VALUES (:g, :u, :n, :t)",
                        {"g": owner, "u": url, "n": name, "t": self.clock.now()},
                    )
                except sqlite3.IntegrityError:
                    raise FeedExistsError(
                        f"feed {url} already added by {owner}",
                        user_message="This server already follows that feed.",
                    ) from None

        await self._run(fn, action="adding a feed")
        return FeedConfig(url=url, name=name, owner=owner)

    async def remove_guild_feed(self, owner: str, url: str) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            cur = c.execute("DELETE FROM guild_feeds WHERE guild_id = :g AND url = :u", {"g": owner, "u": url})
            return cur.rowcount > 0

        return await self._run(fn, action="removing a feed")

    async def guild_feeds(self, owner: str) -> list[FeedConfig]:
        def fn(c: sqlite3.Connection) -> list[FeedConfig]:
            rows = c.execute(
                "SELECT url, name FROM guild_feeds WHERE guild_id = :g ORDER BY added", {"g": owner}
            )
            return [FeedConfig(url=r["url"], name=r["name"], owner=owner) for r in rows]

        return await self._run(fn, action="listing feeds")
