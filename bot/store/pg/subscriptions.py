"""Destinations, subscriptions and the outbox on PostgreSQL, with claims for several workers.

Why claims on outbox rows: two delivery workers reading the same due rows would both send
them. `due_alerts` locks the free due rows (`FOR UPDATE SKIP LOCKED`) and leases them to this
worker; `mark_sending` renews the lease, `mark_sent` / `mark_retry` end it. A row left in
`sending` by a killed worker is returned by `sending_alerts` (for reconciliation) only once
its lease has ended, so a live worker's send in progress is never reconciled under it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from bot.fanout import FanoutPolicy
from bot.models import Alert, Destination, DestinationState, Subscription, feed_owner
from bot.rules import DEFAULT_RULES, Rules, rules_from_json, rules_to_json
from bot.store.pg.db import PgDatabase, affected, q
from bot.store.pg.stories import subscriptions_where
from bot.store.rows import STORY_COLUMNS, destination_from_row, dt, story_from_row

_S = ", ".join(f"s.{col} AS s_{col}" for col in STORY_COLUMNS.split(", "))
_D = (
    "dest.platform, dest.address, dest.grp, dest.name, d.digest, "
    "(SELECT rules FROM subscriptions sub WHERE sub.id = d.subscription_id) AS sub_rules, "
    "(SELECT city FROM subscriptions sub WHERE sub.id = d.subscription_id) AS sub_city, "
    "(SELECT lang FROM subscriptions sub WHERE sub.id = d.subscription_id) AS sub_lang"
)
_FREE = "(d.lease_until IS NULL OR d.lease_until <= :now OR d.lease_owner = :me)"


def _alert(row: Any, kind: str) -> Alert:
    story = story_from_row({col: row[f"s_{col}"] for col in STORY_COLUMNS.split(", ")})
    rules = rules_from_json(row["sub_rules"])
    return Alert(
        delivery_id=row["d_id"],
        destination_id=row["destination_id"],
        destination=destination_from_row(row),
        story=story,
        kind=kind,
        message_ref=row["message_ref"],
        digest=bool(row["digest"]),
        mention=FanoutPolicy.mention(rules, row["sub_city"] or "", story) if kind == "new" else None,
        thread=rules.threads,
        lang=row["sub_lang"] or "en",
    )


def _ids(ids: Sequence[int]) -> list[int]:
    return [int(i) for i in ids]


class PgSubscriptionsMixin(PgDatabase):
    async def _ensure_destination(self, c: asyncpg.Connection, dest: Destination) -> int:
        return int(await c.fetchval(
            "INSERT INTO destinations(platform, address, grp, name, created) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT(platform, address) DO UPDATE SET grp = excluded.grp, "
            "name = COALESCE(excluded.name, destinations.name) RETURNING id",
            dest.platform, dest.address, dest.group, dest.name, self.clock.now(),
        ))

    async def destination_id(self, dest: Destination) -> int | None:
        async with self.conn("reading a destination") as c:
            value = await c.fetchval(
                "SELECT id FROM destinations WHERE platform = $1 AND address = $2", dest.platform, dest.address
            )
            return None if value is None else int(value)

    async def destinations(self, *, platform: str | None = None, group: str | None = None) -> list[DestinationState]:
        async with self.conn("listing destinations") as c:
            rows = await c.fetch(
                "SELECT * FROM destinations WHERE ($1::text IS NULL OR platform = $1) AND ($2::text IS NULL OR grp = $2) "
                "ORDER BY id", platform, group,
            )
        return [
            DestinationState(
                id=r["id"], destination=destination_from_row(r), paused=bool(r["paused"]),
                pause_reason=r["pause_reason"],
                last_success=dt(r["last_success"]) if r["last_success"] is not None else None,
                last_error=r["last_error"],
                last_error_at=dt(r["last_error_at"]) if r["last_error_at"] is not None else None,
            )
            for r in rows
        ]

    async def subscribe(
        self,
        destination: Destination,
        city: str,
        topics: Sequence[str],
        rules: Rules | None = None,
        lang: str | None = None,
    ) -> Subscription:
        """As SQLite's: an upsert that lifts a pause; None keeps the rules / language."""
        async with self.tx("saving the subscription") as c:
            dest_id = await self._ensure_destination(c, destination)
            await c.execute(
                "INSERT INTO subscriptions(destination_id, city, topics, created, rules, lang) "
                "VALUES ($1, $2, $3, $4, $5, COALESCE($7::text, 'en')) "
                "ON CONFLICT(destination_id, city) DO UPDATE SET topics = excluded.topics, "
                "rules = CASE WHEN $6 THEN subscriptions.rules ELSE excluded.rules END, "
                "lang = COALESCE($7::text, subscriptions.lang)",
                dest_id, city, json.dumps(list(topics)), self.clock.now(), rules_to_json(rules or DEFAULT_RULES),
                rules is None, lang,
            )
            await c.execute("UPDATE destinations SET paused = 0, pause_reason = NULL, notified = 0 WHERE id = $1", dest_id)
            return (await subscriptions_where(c, "s.destination_id = :d AND s.city = :city", {"d": dest_id, "city": city}))[0]

    async def sync_config_subscriptions(
        self, entries: Sequence[tuple[Destination, str, Sequence[str]]]
    ) -> tuple[int, int]:
        async with self.tx("syncing config/destinations.toml") as c:
            keep: set[int] = set()
            for destination, city, topics in entries:
                dest_id = await self._ensure_destination(c, destination)
                sub_id = await c.fetchval(
                    "INSERT INTO subscriptions(destination_id, city, topics, created, source) "
                    "VALUES ($1, $2, $3, $4, 'config') ON CONFLICT(destination_id, city) DO UPDATE "
                    "SET topics = excluded.topics, source = 'config' RETURNING id",
                    dest_id, city, json.dumps(list(topics)), self.clock.now(),
                )
                keep.add(int(sub_id))
            stale = [int(r[0]) for r in await c.fetch("SELECT id FROM subscriptions WHERE source = 'config' ORDER BY id")
                     if int(r[0]) not in keep]
            for sub_id in stale:
                target = (await subscriptions_where(c, "s.id = :id", {"id": sub_id}))[0]
                others = await subscriptions_where(
                    c, "s.destination_id = :d AND s.id <> :id", {"d": target.destination_id, "id": sub_id}
                )
                await self._drop_subscription(c, target, others)
            return len(keep), len(stale)

    async def subscription_sources(self) -> dict[int, str]:
        async with self.conn("listing subscriptions") as c:
            return {int(r[0]): str(r[1]) for r in await c.fetch("SELECT id, source FROM subscriptions")}

    async def unsubscribe(self, destination: Destination, city: str) -> bool:
        async with self.tx("removing the subscription") as c:
            subs = await subscriptions_where(
                c, "d.platform = :p AND d.address = :a AND d.grp = :g",
                {"p": destination.platform, "a": destination.address, "g": destination.group},
            )
            target = next((s for s in subs if s.city == city), None)
            if target is None:
                return False
            await self._drop_subscription(c, target, [s for s in subs if s.id != target.id])
            return True

    async def remove_subscription(self, subscription_id: int) -> Subscription | None:
        async with self.tx("removing the subscription") as c:
            found = await subscriptions_where(c, "s.id = :id", {"id": subscription_id})
            if not found:
                return None
            target = found[0]
            others = await subscriptions_where(
                c, "s.destination_id = :d AND s.id <> :id", {"d": target.destination_id, "id": target.id}
            )
            await self._drop_subscription(c, target, others)
            return target

    async def _drop_subscription(
        self, c: asyncpg.Connection, target: Subscription, others: Sequence[Subscription]
    ) -> None:
        pending = await c.fetch(
            "SELECT d.id, s.topics, s.cities FROM deliveries d JOIN stories s ON s.id = d.story_id "
            "WHERE d.subscription_id = $1 AND d.status = 'pending'", target.id,
        )
        for row in pending:
            home = self.fanout.rehome(others, cities=json.loads(row["cities"]), topics=json.loads(row["topics"]))
            if home is None:
                await c.execute("DELETE FROM deliveries WHERE id = $1", row["id"])
            else:
                await c.execute("UPDATE deliveries SET subscription_id = $1 WHERE id = $2", home.id, row["id"])
        await c.execute("DELETE FROM subscriptions WHERE id = $1", target.id)

    async def subscriptions(
        self, *, platform: str | None = None, group: str | None = None, address: str | None = None
    ) -> list[Subscription]:
        async with self.conn("listing subscriptions") as c:
            subs = await subscriptions_where(
                c,
                "(:p::text IS NULL OR d.platform = :p) AND (:g::text IS NULL OR d.grp = :g) "
                "AND (:a::text IS NULL OR d.address = :a)",
                {"p": platform, "g": group, "a": address},
            )
        return sorted(subs, key=lambda s: (s.destination.platform, s.destination.group, s.destination.address, s.city))

    async def set_rules(self, subscription_id: int, rules: Rules) -> Subscription | None:
        async with self.tx("saving the rules") as c:
            await c.execute("UPDATE subscriptions SET rules = $1 WHERE id = $2", rules_to_json(rules), subscription_id)
            found = await subscriptions_where(c, "s.id = :id", {"id": subscription_id})
            return found[0] if found else None

    async def subscription(self, subscription_id: int) -> Subscription | None:
        async with self.conn("reading a subscription") as c:
            found = await subscriptions_where(c, "s.id = :id", {"id": subscription_id})
            return found[0] if found else None

    async def pause_destination(self, destination_id: int, reason: str) -> bool:
        async with self.tx("pausing a destination") as c:
            await c.execute("UPDATE destinations SET paused = 1, pause_reason = $1 WHERE id = $2", reason[:300],
                            destination_id)
            return affected(await c.execute(
                "UPDATE destinations SET notified = 1 WHERE id = $1 AND notified = 0", destination_id
            )) > 0

    async def resume_destination(self, destination_id: int) -> int:
        async with self.tx("resuming a destination") as c:
            n = affected(await c.execute(
                "UPDATE destinations SET paused = 0, pause_reason = NULL, notified = 0 WHERE id = $1 AND paused = 1",
                destination_id,
            ))
            await c.execute(
                "UPDATE deliveries SET next_attempt = $1 WHERE destination_id = $2 AND status = 'pending'",
                self.clock.now(), destination_id,
            )
            return n

    async def remove_destination(self, destination_id: int) -> int:
        async with self.tx("removing a destination") as c:
            await c.execute("DELETE FROM deliveries WHERE destination_id = $1 AND status <> 'sent'", destination_id)
            return affected(await c.execute("DELETE FROM subscriptions WHERE destination_id = $1", destination_id))

    async def remove_group(self, platform: str, group: str) -> int:
        ids = "SELECT id FROM destinations WHERE platform = $1 AND grp = $2"
        async with self.tx("removing a server") as c:
            await c.execute(f"DELETE FROM deliveries WHERE destination_id IN ({ids}) AND status <> 'sent'", platform, group)
            await c.execute("DELETE FROM guild_feeds WHERE guild_id = $1", feed_owner(platform, group))
            return affected(await c.execute(f"DELETE FROM subscriptions WHERE destination_id IN ({ids})", platform, group))

    async def enqueue_catchup(self, subscription_id: int, story_ids: Sequence[int]) -> int:
        async with self.tx("queueing the catch-up") as c:
            dest = await c.fetchval("SELECT destination_id FROM subscriptions WHERE id = $1", subscription_id)
            if dest is None:
                return 0
            t = self.clock.now()
            n = 0
            for sid in story_ids:
                n += affected(await c.execute(
                    "INSERT INTO deliveries(story_id, subscription_id, destination_id, status, next_attempt, created) "
                    "VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT DO NOTHING", int(sid), subscription_id, dest, t,
                ))
            return n

    # -- the outbox ---------------------------------------------------------------------
    async def due_alerts(
        self, at: float | None = None, *, platform: str | None = None, limit: int = 500, per_round: int = 10
    ) -> list[Alert]:
        """As SQLite's (round-robin over destinations, then pending edits), claimed: the new
        alerts returned are leased to this worker; rows another live worker holds are skipped."""
        moment = self.clock.now() if at is None else at
        now = self.clock.now()
        base = {"t": moment, "p": platform, "now": now, "me": self.worker_id}
        async with self.tx("reading the outbox") as c:
            sql, args = q(
                "SELECT d.id FROM deliveries d JOIN destinations dest ON dest.id = d.destination_id "
                "WHERE d.status = 'pending' AND d.next_attempt <= :t AND dest.paused = 0 "
                f"AND (:p::text IS NULL OR dest.platform = :p) AND {_FREE} "
                "ORDER BY d.id LIMIT 20000 FOR UPDATE OF d SKIP LOCKED", base,
            )
            free = [int(r[0]) for r in await c.fetch(sql, *args)]
            alerts: list[Alert] = []
            if free:
                sql, args = q(
                    "SELECT * FROM ("
                    f"SELECT d.id AS d_id, d.destination_id, d.message_ref, {_D}, {_S}, "
                    "ROW_NUMBER() OVER (PARTITION BY d.destination_id ORDER BY s.published, d.id) AS rn "
                    "FROM deliveries d JOIN stories s ON s.id = d.story_id "
                    "JOIN destinations dest ON dest.id = d.destination_id WHERE d.id = ANY(:ids::bigint[])"
                    ") x ORDER BY (rn - 1) / :round, destination_id, rn LIMIT :limit",
                    {"ids": free, "round": max(1, per_round), "limit": limit},
                )
                rows = sorted(await c.fetch(sql, *args), key=lambda r: (r["destination_id"], r["rn"]))
                alerts = [_alert(r, "new") for r in rows]
                await c.execute(
                    "UPDATE deliveries SET lease_until = $1, lease_owner = $2 WHERE id = ANY($3::bigint[])",
                    now + self.lease, self.worker_id, [a.delivery_id for a in alerts],
                )
            sql, args = q(
                f"SELECT d.id AS d_id, d.destination_id, d.message_ref, {_D}, {_S} FROM deliveries d "
                "JOIN stories s ON s.id = d.story_id JOIN destinations dest ON dest.id = d.destination_id "
                "WHERE d.status = 'sent' AND (:p::text IS NULL OR dest.platform = :p) "
                "AND (d.destination_id, d.message_ref) IN "
                "(SELECT destination_id, message_ref FROM deliveries WHERE edit_pending = 1 AND next_attempt <= :t) "
                "ORDER BY d.destination_id, d.message_ref, d.id LIMIT :limit",
                {"t": moment, "p": platform, "limit": limit},
            )
            alerts.extend(_alert(r, "edit") for r in await c.fetch(sql, *args))
            return alerts

    async def sending_alerts(self, *, platform: str | None = None) -> list[Alert]:
        """Rows a crash left in `sending` whose worker's lease has ended (claimed for us)."""
        now = self.clock.now()
        async with self.tx("reading the outbox") as c:
            sql, args = q(
                f"SELECT d.id AS d_id, d.destination_id, d.message_ref, {_D}, {_S} FROM deliveries d "
                "JOIN stories s ON s.id = d.story_id JOIN destinations dest ON dest.id = d.destination_id "
                f"WHERE d.status = 'sending' AND (:p::text IS NULL OR dest.platform = :p) AND {_FREE} "
                "ORDER BY d.destination_id, d.id FOR UPDATE OF d SKIP LOCKED",
                {"p": platform, "now": now, "me": self.worker_id},
            )
            alerts = [_alert(r, "new") for r in await c.fetch(sql, *args)]
            await c.execute(
                "UPDATE deliveries SET lease_until = $1, lease_owner = $2 WHERE id = ANY($3::bigint[])",
                now + self.lease, self.worker_id, [a.delivery_id for a in alerts],
            )
            return alerts

    async def mark_sending(self, delivery_ids: Sequence[int], key: str) -> None:
        async with self.conn("recording a send") as c:
            await c.execute(
                "UPDATE deliveries SET status = 'sending', idem_key = $1, attempts = attempts + 1, "
                "lease_until = $2, lease_owner = $3 WHERE id = ANY($4::bigint[]) AND status = 'pending'",
                key, self.clock.now() + self.lease, self.worker_id, _ids(delivery_ids),
            )

    async def mark_sent(self, delivery_ids: Sequence[int], message_ref: str) -> None:
        t = self.clock.now()
        async with self.tx("recording a delivery") as c:
            await c.execute(
                "UPDATE deliveries SET status = 'sent', message_ref = $1, sent_at = $2, edit_pending = 0, "
                "last_error = NULL, lease_until = NULL, lease_owner = NULL WHERE id = ANY($3::bigint[])",
                str(message_ref), t, _ids(delivery_ids),
            )
            await c.execute(
                "UPDATE destinations SET last_success = $1 WHERE id IN "
                "(SELECT destination_id FROM deliveries WHERE id = ANY($2::bigint[]))", t, _ids(delivery_ids),
            )

    async def mark_edited(self, destination_id: int, message_ref: str) -> None:
        async with self.conn("recording an edit") as c:
            await c.execute(
                "UPDATE deliveries SET edit_pending = 0 WHERE destination_id = $1 AND message_ref = $2",
                destination_id, str(message_ref),
            )

    async def mark_retry(self, delivery_ids: Sequence[int], *, at: float, error: str) -> None:
        async with self.tx("scheduling a retry") as c:
            await c.execute(
                "UPDATE deliveries SET status = CASE WHEN status = 'sending' THEN 'pending' ELSE status END, "
                "next_attempt = $1, last_error = $2, lease_until = NULL, lease_owner = NULL "
                "WHERE id = ANY($3::bigint[])", at, error[:300], _ids(delivery_ids),
            )
            await c.execute(
                "UPDATE destinations SET last_error = $1, last_error_at = $2 WHERE id IN "
                "(SELECT destination_id FROM deliveries WHERE id = ANY($3::bigint[]))",
                error[:300], self.clock.now(), _ids(delivery_ids),
            )

    async def attempts(self, delivery_ids: Sequence[int]) -> int:
        async with self.conn("reading the outbox") as c:
            value = await c.fetchval("SELECT MAX(attempts) FROM deliveries WHERE id = ANY($1::bigint[])", _ids(delivery_ids))
            return int(value or 0)

    async def queue_depth(self, *, platform: str | None = None) -> int:
        async with self.conn("reading the outbox") as c:
            return int(await c.fetchval(
                "SELECT count(*) FROM deliveries d JOIN destinations dest ON dest.id = d.destination_id "
                "WHERE (d.status <> 'sent' OR d.edit_pending = 1) AND ($1::text IS NULL OR dest.platform = $1) "
                "AND NOT (d.status = 'pending' AND (d.hold <> '' OR d.digest = 1) AND d.next_attempt > $2)",
                platform, self.clock.now(),
            ))
