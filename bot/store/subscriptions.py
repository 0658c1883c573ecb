"""Destinations, their subscriptions (destination × city × topics) and the outbox.

Why delivery state lives here and not in memory: exactly-once needs to survive a crash. A row
goes pending → sending (with the idempotency key used) → sent (with the platform's message
reference); a row found in `sending` after a restart is reconciled against the destination
before it is sent again. Which subscriptions want a story is the fan-out policy's decision
(bot.fanout), asked inside the transactions below.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from bot.fanout import FanoutPolicy
from bot.models import Alert, Destination, DestinationState, Subscription, feed_owner
from bot.rules import DEFAULT_RULES, Rules, rules_from_json, rules_to_json
from bot.store.db import Database, transaction
from bot.store.rows import (
    STORY_COLUMNS,
    destination_from_row,
    dt,
    story_from_row,
    subscriptions_where,
)


def _ids(ids: Sequence[int]) -> str:
    return json.dumps([int(i) for i in ids])


_S = ", ".join(f"s.{col} AS s_{col}" for col in STORY_COLUMNS.split(", "))
_D = (
    "dest.platform, dest.address, dest.grp, dest.name, d.digest, "
    "(SELECT rules FROM subscriptions sub WHERE sub.id = d.subscription_id) AS sub_rules, "
    "(SELECT city FROM subscriptions sub WHERE sub.id = d.subscription_id) AS sub_city, "
    "(SELECT lang FROM subscriptions sub WHERE sub.id = d.subscription_id) AS sub_lang"
)


def _alert(row: sqlite3.Row, kind: str) -> Alert:
    story_row = {col: row[f"s_{col}"] for col in STORY_COLUMNS.split(", ")}
    story = story_from_row(story_row)
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


class SubscriptionsMixin(Database):
    # -- destinations -------------------------------------------------------------------
    def _ensure_destination(self, c: sqlite3.Connection, dest: Destination) -> int:
        c.execute(
            "INSERT INTO destinations(platform, address, grp, name, created) VALUES (:p, :a, :g, :n, :t) "
            "ON CONFLICT(platform, address) DO UPDATE SET grp = excluded.grp, "
            "name = COALESCE(excluded.name, destinations.name)",
            {"p": dest.platform, "a": dest.address, "g": dest.group, "n": dest.name, "t": self.clock.now()},
        )
        row = c.execute(
            "SELECT id FROM destinations WHERE platform = :p AND address = :a",
            {"p": dest.platform, "a": dest.address},
        ).fetchone()
        return int(row[0])

    async def destination_id(self, dest: Destination) -> int | None:
        def fn(c: sqlite3.Connection) -> int | None:
            row = c.execute(
                "SELECT id FROM destinations WHERE platform = :p AND address = :a",
                {"p": dest.platform, "a": dest.address},
            ).fetchone()
            return int(row[0]) if row else None

        return await self._run(fn, action="reading a destination")

    async def destinations(
        self, *, platform: str | None = None, group: str | None = None
    ) -> list[DestinationState]:
        def fn(c: sqlite3.Connection) -> list[DestinationState]:
            rows = c.execute(
                "SELECT * FROM destinations WHERE (:p IS NULL OR platform = :p) AND (:g IS NULL OR grp = :g) "
                "ORDER BY id",
                {"p": platform, "g": group},
            )
            return [
                DestinationState(
                    id=r["id"],
                    destination=destination_from_row(r),
                    paused=bool(r["paused"]),
                    pause_reason=r["pause_reason"],
                    last_success=dt(r["last_success"]) if r["last_success"] is not None else None,
                    last_error=r["last_error"],
                    last_error_at=dt(r["last_error_at"]) if r["last_error_at"] is not None else None,
                )
                for r in rows
            ]

        return await self._run(fn, action="listing destinations")

    # -- subscriptions ------------------------------------------------------------------
    async def subscribe(
        self,
        destination: Destination,
        city: str,
        topics: Sequence[str],
        rules: Rules | None = None,
        lang: str | None = None,
    ) -> Subscription:
        """Create or update (same destination and city): re-subscribing also lifts a pause.
        `rules` None keeps an existing subscription's rules (defaults for a new one); `lang`
        None keeps its language ("en" for a new one)."""

        def fn(c: sqlite3.Connection) -> Subscription:
            with transaction(c):
                dest_id = self._ensure_destination(c, destination)
                c.execute(
                    "INSERT INTO subscriptions(destination_id, city, topics, created, rules, lang) "
                    "VALUES (:d, :city, :topics, :t, :rules, COALESCE(:lang, 'en')) "
                    "ON CONFLICT(destination_id, city) DO UPDATE SET "
                    "topics = excluded.topics, rules = CASE WHEN :keep THEN subscriptions.rules "
                    "ELSE excluded.rules END, lang = COALESCE(:lang, subscriptions.lang)",
                    {"d": dest_id, "city": city, "topics": json.dumps(list(topics)), "t": self.clock.now(),
                     "rules": rules_to_json(rules or DEFAULT_RULES), "keep": rules is None, "lang": lang},
                )
                # subscribing again is how an owner says "fixed": lift a pause, announce the next
                c.execute(
                    "UPDATE destinations SET paused = 0, pause_reason = NULL, notified = 0 WHERE id = :d",
                    {"d": dest_id},
                )
                return subscriptions_where(c, "s.destination_id = :d AND s.city = :city", {"d": dest_id, "city": city})[0]

        return await self._run(fn, action="saving the subscription")

    async def sync_config_subscriptions(
        self, entries: Sequence[tuple[Destination, str, Sequence[str]]]
    ) -> tuple[int, int]:
        """Make the subscriptions declared in a config file exist, as declared; drop the ones
        the file declared before and no longer does. Hand-made subscriptions are never removed
        (a file entry for the same destination and city takes one over). Returns (saved, removed)."""

        def fn(c: sqlite3.Connection) -> tuple[int, int]:
            with transaction(c):
                keep: set[int] = set()
                for destination, city, topics in entries:
                    dest_id = self._ensure_destination(c, destination)
                    c.execute(
                        "INSERT INTO subscriptions(destination_id, city, topics, created, source) "
                        "VALUES (:d, :city, :topics, :t, 'config') ON CONFLICT(destination_id, city) DO UPDATE "
                        "SET topics = excluded.topics, source = 'config'",
                        {"d": dest_id, "city": city, "topics": json.dumps(list(topics)), "t": self.clock.now()},
                    )
                    row = c.execute(
                        "SELECT id FROM subscriptions WHERE destination_id = :d AND city = :city",
                        {"d": dest_id, "city": city},
                    ).fetchone()
                    keep.add(int(row[0]))
                stale = [
                    int(r[0])
                    for r in c.execute("SELECT id FROM subscriptions WHERE source = 'config'").fetchall()
                    if int(r[0]) not in keep
                ]
                for sub_id in stale:
                    target = subscriptions_where(c, "s.id = :id", {"id": sub_id})[0]
                    others = subscriptions_where(
                        c, "s.destination_id = :d AND s.id <> :id", {"d": target.destination_id, "id": sub_id}
                    )
                    self._drop_subscription(c, target, others)
                return len(keep), len(stale)

        return await self._run(fn, action="syncing config/destinations.toml")

    async def subscription_sources(self) -> dict[int, str]:
        """Subscription id → where it came from ('' by hand, 'config' from the destinations file)."""

        def fn(c: sqlite3.Connection) -> dict[int, str]:
            return {int(r[0]): str(r[1]) for r in c.execute("SELECT id, source FROM subscriptions")}

        return await self._run(fn, action="listing subscriptions")

    async def unsubscribe(self, destination: Destination, city: str) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            with transaction(c):
                # the group must match too: one server cannot remove another server's channel
                subs = subscriptions_where(
                    c, "d.platform = :p AND d.address = :a AND d.grp = :g",
                    {"p": destination.platform, "a": destination.address, "g": destination.group},
                )
                target = next((s for s in subs if s.city == city), None)
                if target is None:
                    return False
                self._drop_subscription(c, target, [s for s in subs if s.id != target.id])
                return True

        return await self._run(fn, action="removing the subscription")

    async def remove_subscription(self, subscription_id: int) -> Subscription | None:
        """Remove one subscription by id; returns what was removed (None when unknown)."""

        def fn(c: sqlite3.Connection) -> Subscription | None:
            with transaction(c):
                found = subscriptions_where(c, "s.id = :id", {"id": subscription_id})
                if not found:
                    return None
                target = found[0]
                others = subscriptions_where(
                    c, "s.destination_id = :d AND s.id <> :id", {"d": target.destination_id, "id": target.id}
                )
                self._drop_subscription(c, target, others)
                return target

        return await self._run(fn, action="removing the subscription")

    def _drop_subscription(self, c: sqlite3.Connection, target: Subscription, others: Sequence[Subscription]) -> None:
        """A pending alert another subscription of the destination also wants (a story in two
        of its cities) moves to that subscription; the rest are dropped."""
        pending = c.execute(
            "SELECT d.id, s.topics, s.cities FROM deliveries d JOIN stories s ON s.id = d.story_id "
            "WHERE d.subscription_id = :id AND d.status = 'pending'",
            {"id": target.id},
        ).fetchall()
        for row in pending:
            home = self.fanout.rehome(
                others, cities=json.loads(row["cities"]), topics=json.loads(row["topics"])
            )
            if home is None:
                c.execute("DELETE FROM deliveries WHERE id = :id", {"id": row["id"]})
            else:
                c.execute("UPDATE deliveries SET subscription_id = :s WHERE id = :id", {"s": home.id, "id": row["id"]})
        c.execute("DELETE FROM subscriptions WHERE id = :id", {"id": target.id})

    async def subscriptions(
        self,
        *,
        platform: str | None = None,
        group: str | None = None,
        address: str | None = None,
    ) -> list[Subscription]:
        def fn(c: sqlite3.Connection) -> list[Subscription]:
            subs = subscriptions_where(
                c,
                "(:p IS NULL OR d.platform = :p) AND (:g IS NULL OR d.grp = :g) AND (:a IS NULL OR d.address = :a)",
                {"p": platform, "g": group, "a": address},
            )
            return sorted(subs, key=lambda s: (s.destination.platform, s.destination.group, s.destination.address, s.city))

        return await self._run(fn, action="listing subscriptions")

    async def set_rules(self, subscription_id: int, rules: Rules) -> Subscription | None:
        """Replace one subscription's rules (alerts already queued keep their schedule)."""

        def fn(c: sqlite3.Connection) -> Subscription | None:
            with transaction(c):
                c.execute(
                    "UPDATE subscriptions SET rules = :r WHERE id = :id",
                    {"r": rules_to_json(rules), "id": subscription_id},
                )
                found = subscriptions_where(c, "s.id = :id", {"id": subscription_id})
                return found[0] if found else None

        return await self._run(fn, action="saving the rules")

    async def subscription(self, subscription_id: int) -> Subscription | None:
        def fn(c: sqlite3.Connection) -> Subscription | None:
            found = subscriptions_where(c, "s.id = :id", {"id": subscription_id})
            return found[0] if found else None

        return await self._run(fn, action="reading a subscription")

    async def pause_destination(self, destination_id: int, reason: str) -> bool:
        """Pause a destination; True when its owner has not been told yet."""

        def fn(c: sqlite3.Connection) -> bool:
            with transaction(c):
                c.execute(
                    "UPDATE destinations SET paused = 1, pause_reason = :r WHERE id = :id",
                    {"id": destination_id, "r": reason[:300]},
                )
                cur = c.execute(
                    "UPDATE destinations SET notified = 1 WHERE id = :id AND notified = 0", {"id": destination_id}
                )
                return cur.rowcount > 0

        return await self._run(fn, action="pausing a destination")

    async def resume_destination(self, destination_id: int) -> int:
        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                cur = c.execute(
                    "UPDATE destinations SET paused = 0, pause_reason = NULL, notified = 0 "
                    "WHERE id = :id AND paused = 1",
                    {"id": destination_id},
                )
                c.execute(
                    "UPDATE deliveries SET next_attempt = :t WHERE destination_id = :id AND status = 'pending'",
                    {"id": destination_id, "t": self.clock.now()},
                )
                return cur.rowcount

        return await self._run(fn, action="resuming a destination")

    async def remove_destination(self, destination_id: int) -> int:
        """The destination is gone: its subscriptions and undelivered alerts go with it."""

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                c.execute(
                    "DELETE FROM deliveries WHERE destination_id = :id AND status <> 'sent'", {"id": destination_id}
                )
                return c.execute("DELETE FROM subscriptions WHERE destination_id = :id", {"id": destination_id}).rowcount

        return await self._run(fn, action="removing a destination")

    async def remove_group(self, platform: str, group: str) -> int:
        """A server/workspace removed the bot: every destination of it stops."""

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                ids = "SELECT id FROM destinations WHERE platform = :p AND grp = :g"
                c.execute(f"DELETE FROM deliveries WHERE destination_id IN ({ids}) AND status <> 'sent'", {"p": platform, "g": group})
                # feeds the server added (filed under its feed_owner key) stop being polled for it
                c.execute("DELETE FROM guild_feeds WHERE CAST(guild_id AS TEXT) = :g", {"g": feed_owner(platform, group)})
                return c.execute(f"DELETE FROM subscriptions WHERE destination_id IN ({ids})", {"p": platform, "g": group}).rowcount

        return await self._run(fn, action="removing a server")

    async def enqueue_catchup(self, subscription_id: int, story_ids: Sequence[int]) -> int:
        """Queue older stories for a new subscription, through the outbox like any alert."""

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                sub = c.execute(
                    "SELECT destination_id FROM subscriptions WHERE id = :id", {"id": subscription_id}
                ).fetchone()
                if sub is None:
                    return 0
                t = self.clock.now()
                cur = c.executemany(
                    "INSERT OR IGNORE INTO deliveries(story_id, subscription_id, destination_id, status, "
                    "next_attempt, created) VALUES (:s, :sub, :dest, 'pending', :t, :t)",
                    [{"s": sid, "sub": subscription_id, "dest": sub[0], "t": t} for sid in story_ids],
                )
                return cur.rowcount

        return await self._run(fn, action="queueing the catch-up")

    # -- the outbox ---------------------------------------------------------------------
    async def due_alerts(
        self, at: float | None = None, *, platform: str | None = None, limit: int = 500, per_round: int = 10
    ) -> list[Alert]:
        """Pending alerts whose time has come (paused destinations wait), then pending edits."""
        moment = self.clock.now() if at is None else at

        def fn(c: sqlite3.Connection) -> list[Alert]:
            # Round-robin over destinations, one message's worth (`per_round`) at a time: ordered
            # by destination alone, `limit` rows covered only the first few of a big fan-out, and
            # their per-channel rate limit paced the whole drain. Within a destination the order
            # is unchanged (published, then id); the rows come back grouped by destination.
            rows = c.execute(
                "SELECT * FROM ("
                f"SELECT d.id AS d_id, d.destination_id, d.message_ref, {_D}, {_S}, "
                "ROW_NUMBER() OVER (PARTITION BY d.destination_id ORDER BY s.published, d.id) AS rn "
                "FROM deliveries d JOIN stories s ON s.id = d.story_id "
                "JOIN destinations dest ON dest.id = d.destination_id "
                "WHERE d.status = 'pending' AND d.next_attempt <= :t AND dest.paused = 0 "
                "AND (:p IS NULL OR dest.platform = :p)"
                ") ORDER BY (rn - 1) / :round, destination_id, rn LIMIT :limit",
                {"t": moment, "limit": limit, "p": platform, "round": max(1, per_round)},
            ).fetchall()
            rows.sort(key=lambda r: (r["destination_id"], r["rn"]))
            alerts = [_alert(r, "new") for r in rows]
            edit_rows = c.execute(
                f"SELECT d.id AS d_id, d.destination_id, d.message_ref, {_D}, {_S} FROM deliveries d "
                "JOIN stories s ON s.id = d.story_id JOIN destinations dest ON dest.id = d.destination_id "
                "WHERE d.status = 'sent' AND (:p IS NULL OR dest.platform = :p) "
                "AND (d.destination_id, d.message_ref) IN "
                "(SELECT destination_id, message_ref FROM deliveries WHERE edit_pending = 1 AND next_attempt <= :t) "
                "ORDER BY d.destination_id, d.message_ref, d.id LIMIT :limit",
                {"t": moment, "limit": limit, "p": platform},
            ).fetchall()
            alerts.extend(_alert(r, "edit") for r in edit_rows)
            return alerts

        return await self._run(fn, action="reading the outbox")

    async def sending_alerts(self, *, platform: str | None = None) -> list[Alert]:
        """Rows a crash left between 'sent to the platform' and 'recorded as sent'."""

        def fn(c: sqlite3.Connection) -> list[Alert]:
            rows = c.execute(
                f"SELECT d.id AS d_id, d.destination_id, d.message_ref, {_D}, {_S} FROM deliveries d "
                "JOIN stories s ON s.id = d.story_id JOIN destinations dest ON dest.id = d.destination_id "
                "WHERE d.status = 'sending' AND (:p IS NULL OR dest.platform = :p) ORDER BY d.destination_id, d.id",
                {"p": platform},
            ).fetchall()
            return [_alert(r, "new") for r in rows]

        return await self._run(fn, action="reading the outbox")

    async def mark_sending(self, delivery_ids: Sequence[int], key: str) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE deliveries SET status = 'sending', idem_key = :k, attempts = attempts + 1 "
                "WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending'",
                {"k": key, "ids": _ids(delivery_ids)},
            )

        await self._run(fn, action="recording a send")

    async def mark_sent(self, delivery_ids: Sequence[int], message_ref: str) -> None:
        def fn(c: sqlite3.Connection) -> None:
            with transaction(c):
                t = self.clock.now()
                c.execute(
                    "UPDATE deliveries SET status = 'sent', message_ref = :m, sent_at = :t, edit_pending = 0, "
                    "last_error = NULL WHERE id IN (SELECT value FROM json_each(:ids))",
                    {"m": str(message_ref), "t": t, "ids": _ids(delivery_ids)},
                )
                c.execute(
                    "UPDATE destinations SET last_success = :t WHERE id IN (SELECT destination_id FROM "
                    "deliveries WHERE id IN (SELECT value FROM json_each(:ids)))",
                    {"t": t, "ids": _ids(delivery_ids)},
                )

        await self._run(fn, action="recording a delivery")

    async def mark_edited(self, destination_id: int, message_ref: str) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE deliveries SET edit_pending = 0 WHERE destination_id = :d AND message_ref = :m",
                {"d": destination_id, "m": str(message_ref)},
            )

        await self._run(fn, action="recording an edit")

    async def mark_retry(self, delivery_ids: Sequence[int], *, at: float, error: str) -> None:
        """Back to pending (or edit still pending) until `at`; the error is kept for /status."""

        def fn(c: sqlite3.Connection) -> None:
            with transaction(c):
                c.execute(
                    "UPDATE deliveries SET status = CASE WHEN status = 'sending' THEN 'pending' ELSE status END, "
                    "next_attempt = :at, last_error = :e WHERE id IN (SELECT value FROM json_each(:ids))",
                    {"at": at, "e": error[:300], "ids": _ids(delivery_ids)},
                )
                c.execute(
                    "UPDATE destinations SET last_error = :e, last_error_at = :t WHERE id IN (SELECT "
                    "destination_id FROM deliveries WHERE id IN (SELECT value FROM json_each(:ids)))",
                    {"e": error[:300], "t": self.clock.now(), "ids": _ids(delivery_ids)},
                )

        await self._run(fn, action="scheduling a retry")

    async def attempts(self, delivery_ids: Sequence[int]) -> int:
        def fn(c: sqlite3.Connection) -> int:
            row = c.execute(
                "SELECT MAX(attempts) FROM deliveries WHERE id IN (SELECT value FROM json_each(:ids))",
                {"ids": _ids(delivery_ids)},
            ).fetchone()
            return int(row[0] or 0)

        return await self._run(fn, action="reading the outbox")

    async def queue_depth(self, *, platform: str | None = None) -> int:
        """Alerts not yet delivered plus edits not yet made (0 = the outbox is idle)."""

        def fn(c: sqlite3.Connection) -> int:
            return int(
                c.execute(
                    "SELECT count(*) FROM deliveries d JOIN destinations dest ON dest.id = d.destination_id "
                    "WHERE (d.status <> 'sent' OR d.edit_pending = 1) AND (:p IS NULL OR dest.platform = :p) "
                    # scheduled by a rule (a digest, quiet hours, a hold for outlets) is not work due
                    "AND NOT (d.status = 'pending' AND (d.hold <> '' OR d.digest = 1) AND d.next_attempt > :t)",
                    {"p": platform, "t": self.clock.now()},
                ).fetchone()[0]
            )

        return await self._run(fn, action="reading the outbox")
