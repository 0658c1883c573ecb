"""Managed coverage feeds in the store: which cities are subscribed, which search feeds cover
them, and their grace period. The policy (which feeds, when to retire) is bot/coverage.py's;
this module only keeps its records, each change one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from bot.models import FeedConfig, FeedState
from bot.store.db import Database, transaction
from bot.store.feeds import _STATE_COLUMNS, _state


class CoverageMixin(Database):
    async def subscribed_cities(self) -> set[str]:
        """Every city some subscription follows (paused ones too: they will resume)."""

        def fn(c: sqlite3.Connection) -> set[str]:
            return {r[0] for r in c.execute("SELECT DISTINCT city FROM subscriptions WHERE city != '*'")}

        return await self._run(fn, action="reading subscribed cities")

    async def feeds(self, *, city: str | None = None) -> list[FeedState]:
        """Every polled feed (catalogue, server, managed) — of one city when `city` is given
        (its default city or the city it is managed for)."""
        from bot.store.feeds import _ACTIVE

        where = f"WHERE {_ACTIVE}"
        params: dict[str, object] = {}
        if city is not None:
            where += " AND (city = :city OR managed_city = :city)"
            params["city"] = city

        def fn(c: sqlite3.Connection) -> list[FeedState]:
            rows = c.execute(f"SELECT {_STATE_COLUMNS} FROM feeds {where} ORDER BY kind, city, url", params)
            return [_state(r) for r in rows]

        return await self._run(fn, action="listing feeds")

    async def managed_feeds(self) -> list[FeedState]:
        def fn(c: sqlite3.Connection) -> list[FeedState]:
            rows = c.execute(
                f"SELECT {_STATE_COLUMNS} FROM feeds WHERE kind = 'managed' ORDER BY managed_city, url"
            )
            return [_state(r) for r in rows]

        return await self._run(fn, action="reading managed feeds")

    async def ensure_managed_feeds(
        self,
        city: str,
        feeds: Sequence[FeedConfig],
        first_checks: Mapping[str, float],
        *,
        needed_until: float | None = None,
    ) -> list[str]:
        """Make `feeds` the managed feeds of `city`: add the missing ones (first poll at
        `first_checks[url]`), keep the others' health, and mark them needed (`needed_until`
        None) or needed until a time (`feeds coverage --apply` without a subscription).
        Returns the URLs added."""

        def fn(c: sqlite3.Connection) -> list[str]:
            added: list[str] = []
            with transaction(c):
                for feed in feeds:
                    row = c.execute("SELECT kind FROM feeds WHERE url = :u", {"u": feed.url}).fetchone()
                    params = {
                        "u": feed.url, "n": feed.name, "c": city, "i": feed.interval, "l": feed.lang,
                        "t": first_checks.get(feed.url), "until": needed_until,
                    }
                    if row is None:
                        c.execute(
                            "INSERT INTO feeds(url, name, city, interval, lang, kind, managed_city, "
                            "next_check, needed_until) VALUES (:u, :n, :c, :i, :l, 'managed', :c, :t, :until)",
                            params,
                        )
                        added.append(feed.url)
                    else:
                        # needed again (or longer): a needed_until only ever moves later, NULL wins
                        c.execute(
                            "UPDATE feeds SET kind = 'managed', managed_city = :c, city = :c, name = :n, "
                            "interval = :i, lang = :l, needed_until = CASE "
                            "WHEN :until IS NULL OR needed_until IS NULL AND kind = 'managed' THEN NULL "
                            "ELSE MAX(COALESCE(needed_until, 0), :until) END, "
                            "next_check = CASE WHEN kind = 'managed' THEN next_check ELSE :t END "
                            "WHERE url = :u",
                            params,
                        )
            return added

        return await self._run(fn, action="adding coverage feeds")

    async def release_managed_feeds(self, keep_cities: Sequence[str], until: float) -> int:
        """Managed feeds of cities not in `keep_cities` start their grace period (ends `until`)."""

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                c.execute("CREATE TEMP TABLE IF NOT EXISTS keep_cities(city TEXT PRIMARY KEY)")
                c.execute("DELETE FROM keep_cities")
                c.executemany("INSERT OR IGNORE INTO keep_cities(city) VALUES (?)", [(x,) for x in keep_cities])
                cur = c.execute(
                    "UPDATE feeds SET needed_until = :until WHERE kind = 'managed' AND needed_until IS NULL "
                    "AND managed_city NOT IN (SELECT city FROM keep_cities)",
                    {"until": until},
                )
                c.execute("DELETE FROM keep_cities")
                return cur.rowcount

        return await self._run(fn, action="releasing coverage feeds")

    async def retire_managed_feeds(self, now: float) -> list[str]:
        """Remove managed feeds whose grace period ended; a URL a server or the catalogue also
        follows stays, as theirs. Articles already stored stay (they do not reference the row)."""

        def fn(c: sqlite3.Connection) -> list[str]:
            with transaction(c):
                rows = c.execute(
                    "SELECT url FROM feeds WHERE kind = 'managed' AND needed_until IS NOT NULL "
                    "AND needed_until <= :t",
                    {"t": now},
                ).fetchall()
                urls = [r[0] for r in rows]
                for url in urls:
                    shared = c.execute(
                        "SELECT configured = 1 OR url IN (SELECT url FROM guild_feeds) FROM feeds WHERE url = :u",
                        {"u": url},
                    ).fetchone()[0]
                    if shared:
                        c.execute(
                            "UPDATE feeds SET kind = CASE WHEN configured = 1 THEN 'catalog' ELSE 'server' END, "
                            "managed_city = NULL, needed_until = NULL WHERE url = :u",
                            {"u": url},
                        )
                    else:
                        c.execute("DELETE FROM feeds WHERE url = :u", {"u": url})
                return urls

        return await self._run(fn, action="retiring coverage feeds")

    async def postpone_feed(self, url: str, at: float) -> None:
        """Move a due feed's next check to `at` without fetching (the host's request budget
        is spent for now); its health and backoff are untouched."""

        def fn(c: sqlite3.Connection) -> None:
            c.execute("UPDATE feeds SET next_check = :t WHERE url = :u", {"t": at, "u": url})

        await self._run(fn, action="scheduling a feed")

    async def import_server_feeds(self, owner: str, feeds: Sequence[FeedConfig]) -> list[str]:
        """Add feeds for a server (or the operator, guild 0) in one transaction; feeds it already
        follows are skipped. Returns the URLs added."""

        def fn(c: sqlite3.Connection) -> list[str]:
            added: list[str] = []
            with transaction(c):
                for feed in feeds:
                    params = {"u": feed.url, "n": feed.name, "c": feed.city, "l": feed.lang, "g": owner,
                              "t": self.clock.now()}
                    c.execute(
                        "INSERT INTO feeds(url, name, city, lang, kind) VALUES (:u, :n, :c, :l, 'server') "
                        "ON CONFLICT(url) DO UPDATE SET city = COALESCE(feeds.city, excluded.city), "
                        "lang = COALESCE(feeds.lang, excluded.lang), name = COALESCE(feeds.name, excluded.name)",
                        params,
                    )
                    cur = c.execute(
                        "INSERT OR IGNORE INTO guild_feeds(guild_id, url, name, added) VALUES (:g, :u, :n, :t)",
                        params,
                    )
                    if cur.rowcount:
                        added.append(feed.url)
            return added

        return await self._run(fn, action="importing feeds")

    async def server_feeds(self, owner: str | None = None) -> list[FeedState]:
        """Feeds servers added (one owner's when `owner` is given), with their city and lang."""
        where = "WHERE url IN (SELECT url FROM guild_feeds" + (" WHERE guild_id = :g)" if owner is not None else ")")

        def fn(c: sqlite3.Connection) -> list[FeedState]:
            rows = c.execute(f"SELECT {_STATE_COLUMNS} FROM feeds {where} ORDER BY url", {"g": owner})
            return [_state(r) for r in rows]

        return await self._run(fn, action="listing feeds")
