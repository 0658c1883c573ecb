"""Feeds, their health and coverage (managed feeds) on PostgreSQL; the claim on due feeds.

Why claims: several worker processes share one database with no coordinator. `due_feeds`
claims what it returns (`FOR UPDATE SKIP LOCKED`, then a lease until `lease_until`), so a
feed is fetched by one worker; `record_fetch` ends the claim and moves `next_check` one
interval on, so no feed is fetched twice in one interval. A killed worker never records: its
feeds come back when the lease ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.errors import FeedExistsError
from bot.models import FeedConfig, FeedState
from bot.store.pg.db import PgDatabase, affected, q

_ACTIVE = "(configured = 1 OR kind = 'managed' OR url IN (SELECT url FROM guild_feeds))"
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


def _state(row: Any) -> FeedState:
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


class PgFeedsMixin(PgDatabase):
    async def sync_feeds(self, configs: Sequence[FeedConfig]) -> None:
        async with self.tx("saving the feed catalogue") as c:
            await c.execute("UPDATE feeds SET configured = 0")
            sql = (
                "INSERT INTO feeds(url, name, city, interval, lang, configured) "
                "VALUES ($1, $2, $3, $4, $5, 1) "
                "ON CONFLICT(url) DO UPDATE SET name = excluded.name, city = excluded.city, "
                "interval = excluded.interval, lang = excluded.lang, configured = 1"
            )
            await c.executemany(sql, [(f.url, f.name, f.city, f.interval, f.lang) for f in configs])

    async def _states(self, sql: str, params: Mapping[str, object], action: str) -> list[FeedState]:
        text, args = q(sql, params)
        async with self.conn(action) as c:
            return [_state(r) for r in await c.fetch(text, *args)]

    async def feed_states(self, *, active_only: bool = True) -> list[FeedState]:
        where = f"WHERE {_ACTIVE}" if active_only else ""
        return await self._states(f"SELECT {_STATE_COLUMNS} FROM feeds {where} ORDER BY url", {}, "reading feeds")

    async def feed_state(self, url: str) -> FeedState | None:
        found = await self._states(f"SELECT {_STATE_COLUMNS} FROM feeds WHERE url = :u", {"u": url}, "reading a feed")
        return found[0] if found else None

    async def due_feeds(self, at: float | None = None) -> list[FeedState]:
        """Due feeds nobody holds, claimed for this worker until the lease ends."""
        moment = self.clock.now() if at is None else at
        # The lease lasts at least the feed's interval: a worker killed after fetching (before
        # recording) must not make the feed fetched twice in one interval. At most
        # `claim_batch` feeds per call, so the due feeds of a burst spread over the workers.
        now = self.clock.now()
        sql, args = q(
            "WITH due AS (SELECT url FROM feeds WHERE " + _ACTIVE + " AND disabled = 0 "
            "AND (next_check IS NULL OR next_check <= :t) "
            "AND (lease_until IS NULL OR lease_until <= :now OR lease_owner = :me) "
            "ORDER BY next_check IS NOT NULL, next_check LIMIT :batch FOR UPDATE SKIP LOCKED) "
            "UPDATE feeds f SET lease_until = :now + GREATEST(:lease, COALESCE(f.interval, :every)), "
            "lease_owner = :me FROM due WHERE f.url = due.url RETURNING f.url",
            {"t": moment, "now": now, "me": self.worker_id, "lease": self.lease,
             "every": float(self.poll_interval), "batch": self.claim_batch},
        )
        async with self.tx("finding due feeds") as c:
            urls = [r[0] for r in await c.fetch(sql, *args)]
            if not urls:
                return []
            rows = await c.fetch(
                f"SELECT {_STATE_COLUMNS} FROM feeds WHERE url = ANY($1::text[]) "
                "ORDER BY next_check IS NOT NULL, next_check", urls,
            )
            return [_state(r) for r in rows]

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
        params = {
            "url": url, "status": status, "error": error, "next": next_check, "etag": etag, "lm": last_modified,
            "hash": body_hash, "items": items, "t": self.clock.now(), "dis": 1 if disable_reason else 0,
            "why": disable_reason,
        }
        async with self.tx("saving feed health") as c:
            sql, args = q("INSERT INTO feeds(url) VALUES (:url) ON CONFLICT DO NOTHING", params)
            await c.execute(sql, *args)
            if error is None:
                sql, args = q(
                    "UPDATE feeds SET last_status = :status, last_error = NULL, consecutive_errors = 0, "
                    "last_checked = :t, next_check = :next, items_seen = items_seen + :items, "
                    "etag = COALESCE(:etag, etag), last_modified = COALESCE(:lm, last_modified), "
                    "body_hash = COALESCE(:hash, body_hash), lease_until = NULL, lease_owner = NULL "
                    "WHERE url = :url",
                    params,
                )
            else:
                sql, args = q(
                    "UPDATE feeds SET last_status = :status, last_error = :error, "
                    "consecutive_errors = consecutive_errors + 1, last_checked = :t, next_check = :next, "
                    "disabled = GREATEST(disabled, :dis), disabled_reason = COALESCE(:why, disabled_reason), "
                    "lease_until = NULL, lease_owner = NULL WHERE url = :url",
                    params,
                )
            await c.execute(sql, *args)

    async def guild_only_urls(self) -> set[str]:
        async with self.conn("reading feeds") as c:
            rows = await c.fetch("SELECT url FROM feeds WHERE configured = 0 AND url IN (SELECT url FROM guild_feeds)")
            return {r[0] for r in rows}

    async def add_guild_feed(self, owner: str, url: str, name: str | None) -> FeedConfig:
        async with self.tx("adding a feed") as c:
            await c.execute(
                "INSERT INTO feeds(url, name, kind) VALUES ($1, $2, 'server') ON CONFLICT DO NOTHING", url, name
            )
            await c.execute(
                "UPDATE feeds SET disabled = 0, disabled_reason = NULL, next_check = NULL "
                "WHERE url = $1 AND configured = 0 AND url NOT IN (SELECT url FROM guild_feeds)",
                url,
            )
            status = await c.execute(
                "INSERT INTO guild_feeds(guild_id, url, name, added) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                str(owner), url, name, self.clock.now(),
            )
            if affected(status) == 0:  # raised inside: the transaction rolls back
                raise FeedExistsError(
                    f"feed {url} already added by {owner}",
                    user_message="This server already follows that feed.",
                )
        return FeedConfig(url=url, name=name, owner=owner)

    async def remove_guild_feed(self, owner: str, url: str) -> bool:
        async with self.conn("removing a feed") as c:
            return affected(await c.execute("DELETE FROM guild_feeds WHERE guild_id = $1 AND url = $2", str(owner), url)) > 0

    async def guild_feeds(self, owner: str) -> list[FeedConfig]:
        async with self.conn("listing feeds") as c:
            rows = await c.fetch("SELECT url, name FROM guild_feeds WHERE guild_id = $1 ORDER BY added", str(owner))
            return [FeedConfig(url=r["url"], name=r["name"], owner=owner) for r in rows]

    # -- coverage (bot/coverage.py's records) -------------------------------------------
    async def subscribed_cities(self) -> set[str]:
        async with self.conn("reading subscribed cities") as c:
            return {r[0] for r in await c.fetch("SELECT DISTINCT city FROM subscriptions WHERE city != '*'")}

    async def feeds(self, *, city: str | None = None) -> list[FeedState]:
        where = f"WHERE {_ACTIVE}"
        params: dict[str, object] = {}
        if city is not None:
            where += " AND (city = :city OR managed_city = :city)"
            params["city"] = city
        return await self._states(f"SELECT {_STATE_COLUMNS} FROM feeds {where} ORDER BY kind, city, url", params,
                                  "listing feeds")

    async def managed_feeds(self) -> list[FeedState]:
        return await self._states(
            f"SELECT {_STATE_COLUMNS} FROM feeds WHERE kind = 'managed' ORDER BY managed_city, url", {},
            "reading managed feeds",
        )

    async def ensure_managed_feeds(
        self, city: str, feeds: Sequence[FeedConfig], first_checks: Mapping[str, float],
        *, needed_until: float | None = None,
    ) -> list[str]:
        """Several processes may reconcile the same city at once: a new row is inserted with ON
        CONFLICT (a SELECT … FOR UPDATE locks nothing that does not exist yet, so both inserted
        and one failed), and rows are taken in URL order, so two transactions never wait on
        each other's rows in opposite orders."""
        added: set[str] = set()
        async with self.tx("adding coverage feeds") as c:
            for feed in sorted(feeds, key=lambda f: f.url):
                params = {"u": feed.url, "n": feed.name, "c": city, "i": feed.interval, "l": feed.lang,
                          "t": first_checks.get(feed.url), "until": needed_until}
                sql, args = q(
                    "INSERT INTO feeds(url, name, city, interval, lang, kind, managed_city, next_check, "
                    "needed_until) VALUES (:u, :n, :c, :i, :l, 'managed', :c, :t::double precision, "
                    ":until::double precision) ON CONFLICT (url) DO NOTHING RETURNING url", params,
                )
                if await c.fetchval(sql, *args) is not None:
                    added.add(feed.url)
                else:
                    sql, args = q(
                        "UPDATE feeds SET kind = 'managed', managed_city = :c, city = :c, name = :n, "
                        "interval = :i, lang = :l, needed_until = CASE "
                        "WHEN :until::double precision IS NULL OR needed_until IS NULL AND kind = 'managed' THEN NULL "
                        "ELSE GREATEST(COALESCE(needed_until, 0), :until::double precision) END, "
                        "next_check = CASE WHEN kind = 'managed' THEN next_check ELSE :t::double precision END "
                        "WHERE url = :u", params,
                    )
                    await c.execute(sql, *args)
        return list(dict.fromkeys(f.url for f in feeds if f.url in added))

    async def release_managed_feeds(self, keep_cities: Sequence[str], until: float) -> int:
        async with self.tx("releasing coverage feeds") as c:
            return affected(await c.execute(
                "UPDATE feeds SET needed_until = $1 WHERE kind = 'managed' AND needed_until IS NULL "
                "AND NOT (managed_city = ANY($2::text[]))", until, list(keep_cities),
            ))

    async def retire_managed_feeds(self, now: float) -> list[str]:
        async with self.tx("retiring coverage feeds") as c:
            rows = await c.fetch(
                "SELECT url, (configured = 1 OR url IN (SELECT url FROM guild_feeds)) AS shared FROM feeds "
                "WHERE kind = 'managed' AND needed_until IS NOT NULL AND needed_until <= $1 FOR UPDATE", now,
            )
            for r in rows:
                if r["shared"]:
                    await c.execute(
                        "UPDATE feeds SET kind = CASE WHEN configured = 1 THEN 'catalog' ELSE 'server' END, "
                        "managed_city = NULL, needed_until = NULL WHERE url = $1", r["url"],
                    )
                else:
                    await c.execute("DELETE FROM feeds WHERE url = $1", r["url"])
            return [r["url"] for r in rows]

    async def postpone_feed(self, url: str, at: float) -> None:
        async with self.conn("scheduling a feed") as c:
            await c.execute("UPDATE feeds SET next_check = $1, lease_until = NULL, lease_owner = NULL WHERE url = $2",
                            at, url)

    async def import_server_feeds(self, owner: str, feeds: Sequence[FeedConfig]) -> list[str]:
        added: list[str] = []
        async with self.tx("importing feeds") as c:
            for feed in feeds:
                await c.execute(
                    "INSERT INTO feeds(url, name, city, lang, kind) VALUES ($1, $2, $3, $4, 'server') "
                    "ON CONFLICT(url) DO UPDATE SET city = COALESCE(feeds.city, excluded.city), "
                    "lang = COALESCE(feeds.lang, excluded.lang), name = COALESCE(feeds.name, excluded.name)",
                    feed.url, feed.name, feed.city, feed.lang,
                )
                status = await c.execute(
                    "INSERT INTO guild_feeds(guild_id, url, name, added) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    str(owner), feed.url, feed.name, self.clock.now(),
                )
                if affected(status):
                    added.append(feed.url)
        return added

    async def server_feeds(self, owner: str | None = None) -> list[FeedState]:
        where = "WHERE url IN (SELECT url FROM guild_feeds" + (" WHERE guild_id = :g)" if owner is not None else ")")
        params: dict[str, object] = {"g": str(owner)} if owner is not None else {}
        return await self._states(f"SELECT {_STATE_COLUMNS} FROM feeds {where} ORDER BY url", params, "listing feeds")

