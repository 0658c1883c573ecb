"""Subscriptions (channel × city × topics) and the outbox that delivers to them.

Why delivery state lives here and not in memory: exactly-once needs to survive a crash. A row
goes pending → sending (with the nonce used) → sent (with the message id); a row found in
`sending` after a restart is reconciled against the channel before it is sent again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.models import Alert, Subscription
from bot.store.db import Database, now, transaction
from bot.store.stories import _STORY_COLUMNS, story_from_row

_SUB_COLUMNS = "id, guild_id, channel_id, city, topics, paused, pause_reason, created"


def _sub(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        city=row["city"],
        topics=tuple(json.loads(row["topics"])),
        paused=bool(row["paused"]),
        pause_reason=row["pause_reason"],
        created=datetime.fromtimestamp(row["created"], UTC),
    )


def _ids(ids: Sequence[int]) -> str:
    return json.dumps([int(i) for i in ids])


_S = ", ".join(f"s.{col} AS s_{col}" for col in _STORY_COLUMNS.split(", "))


def _alert(row: sqlite3.Row, kind: str) -> Alert:
    story_row = {col: row[f"s_{col}"] for col in _STORY_COLUMNS.split(", ")}
    return Alert(
        delivery_id=row["d_id"],
        channel_id=row["channel_id"],
        guild_id=row["guild_id"],
        story=story_from_row(story_row),  # type: ignore[arg-type]
        kind=kind,
        message_id=row["message_id"],
    )


# Another subscription of a delivery's channel that matches its story (city and topic).
_OTHER_SUB = (
    "SELECT o.id FROM subscriptions o WHERE o.channel_id = deliveries.channel_id AND o.id <> :id "
    "AND (o.city = '*' OR o.city IN (SELECT city FROM story_cities WHERE story_id = deliveries.story_id)) "
    "AND EXISTS (SELECT 1 FROM json_each(o.topics) t WHERE t.value = '*' OR t.value IN "
    "(SELECT topic FROM story_topics WHERE story_id = deliveries.story_id)) ORDER BY o.id LIMIT 1"
)


class SubscriptionsMixin(Database):
    async def subscribe(
        self, guild_id: int, channel_id: int, city: str, topics: Sequence[str]
    ) -> Subscription:
        """Create or update (same channel and city): re-subscribing also lifts a pause."""

        def fn(c: sqlite3.Connection) -> Subscription:
            with transaction(c):
                c.execute(
                    "INSERT INTO subscriptions(guild_id, channel_id, city, topics, created) "
                    "VALUES (:g, :ch, :city, :topics, :t) ON CONFLICT(channel_id, city) DO UPDATE SET "
                    "topics = excluded.topics, paused = 0, pause_reason = NULL, notified = 0",
                    {"g": guild_id, "ch": channel_id, "city": city, "topics": json.dumps(list(topics)), "t": now()},
                )
                row = c.execute(
                    f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE channel_id = :ch AND city = :city",
                    {"ch": channel_id, "city": city},
                ).fetchone()
            return _sub(row)

        return await self._run(fn, action="saving the subscription")

    async def unsubscribe(self, guild_id: int, channel_id: int, city: str) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            with transaction(c):
                row = c.execute(
                    "SELECT id FROM subscriptions WHERE guild_id = :g AND channel_id = :ch AND city = :city",
                    {"g": guild_id, "ch": channel_id, "city": city},
                ).fetchone()
                if row is None:
                    return False
                # A pending alert another subscription of the channel also wants (a story in two
                # of its cities) moves to that subscription; the rest are dropped.
                c.execute(
                    f"DELETE FROM deliveries WHERE subscription_id = :id AND status = 'pending' "
                    f"AND NOT EXISTS ({_OTHER_SUB})",
                    {"id": row[0]},
                )
                c.execute(
                    f"UPDATE deliveries SET subscription_id = ({_OTHER_SUB}) "
                    "WHERE subscription_id = :id AND status = 'pending'",
                    {"id": row[0]},
                )
                c.execute("DELETE FROM subscriptions WHERE id = :id", {"id": row[0]})
                return True

        return await self._run(fn, action="removing the subscription")

    async def subscriptions(
        self, *, guild_id: int | None = None, channel_id: int | None = None
    ) -> list[Subscription]:
        def fn(c: sqlite3.Connection) -> list[Subscription]:
            rows = c.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE (:g IS NULL OR guild_id = :g) "
                "AND (:ch IS NULL OR channel_id = :ch) ORDER BY guild_id, channel_id, city",
                {"g": guild_id, "ch": channel_id},
            )
            return [_sub(r) for r in rows]

        return await self._run(fn, action="listing subscriptions")

    async def pause_channel(self, channel_id: int, reason: str) -> bool:
        """Pause every subscription of a channel; True when the server has not been told yet."""

        def fn(c: sqlite3.Connection) -> bool:
            with transaction(c):
                c.execute(
                    "UPDATE subscriptions SET paused = 1, pause_reason = :r WHERE channel_id = :ch",
                    {"ch": channel_id, "r": reason[:300]},
                )
                cur = c.execute(
                    "UPDATE subscriptions SET notified = 1 WHERE channel_id = :ch AND notified = 0",
                    {"ch": channel_id},
                )
                return cur.rowcount > 0

        return await self._run(fn, action="pausing a channel")

    async def resume_channel(self, channel_id: int) -> int:
        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                cur = c.execute(
                    "UPDATE subscriptions SET paused = 0, pause_reason = NULL, notified = 0 "
                    "WHERE channel_id = :ch AND paused = 1",
                    {"ch": channel_id},
                )
                c.execute(
                    "UPDATE deliveries SET next_attempt = :t WHERE channel_id = :ch AND status = 'pending'",
                    {"ch": channel_id, "t": now()},
                )
                return cur.rowcount

        return await self._run(fn, action="resuming a channel")

    async def remove_channel(self, channel_id: int) -> int:
        """The channel is gone: its subscriptions and undelivered alerts go with it."""

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                c.execute("DELETE FROM deliveries WHERE channel_id = :ch AND status <> 'sent'", {"ch": channel_id})
                return c.execute("DELETE FROM subscriptions WHERE channel_id = :ch", {"ch": channel_id}).rowcount

        return await self._run(fn, action="removing a channel")

    async def remove_guild(self, guild_id: int) -> int:
        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                c.execute("DELETE FROM deliveries WHERE guild_id = :g AND status <> 'sent'", {"g": guild_id})
                c.execute("DELETE FROM guild_feeds WHERE guild_id = :g", {"g": guild_id})
                return c.execute("DELETE FROM subscriptions WHERE guild_id = :g", {"g": guild_id}).rowcount

        return await self._run(fn, action="removing a server")

    async def enqueue_catchup(self, subscription_id: int, story_ids: Sequence[int]) -> int:
        """Queue older stories for a new subscription, through the outbox like any alert."""

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                sub = c.execute(
                    "SELECT guild_id, channel_id FROM subscriptions WHERE id = :id", {"id": subscription_id}
                ).fetchone()
                if sub is None:
                    return 0
                t = now()
                cur = c.executemany(
                    "INSERT OR IGNORE INTO deliveries(story_id, subscription_id, channel_id, guild_id, status, "
                    "next_attempt, created) VALUES (:s, :sub, :ch, :g, 'pending', :t, :t)",
                    [
                        {"s": sid, "sub": subscription_id, "ch": sub["channel_id"], "g": sub["guild_id"], "t": t}
                        for sid in story_ids
                    ],
                )
                return cur.rowcount

        return await self._run(fn, action="queueing the catch-up")

    # -- the outbox ---------------------------------------------------------------------
    async def due_alerts(self, at: float | None = None, *, limit: int = 500) -> list[Alert]:
        """Pending alerts whose time has come (paused channels wait), then pending edits."""
        moment = now() if at is None else at

        def fn(c: sqlite3.Connection) -> list[Alert]:
            # Round-robin over channels, one message's worth (10) at a time: ordered by channel
            # alone, `limit` rows covered only the first few channels of a big fan-out, and their
            # per-channel rate limit (5 messages / 5 s) paced the whole drain. Within a channel
            # the order is unchanged (published, then id); the rows come back grouped by channel.
            rows = c.execute(
                "SELECT * FROM ("
                f"SELECT d.id AS d_id, d.channel_id, d.guild_id, d.message_id, {_S}, "
                "ROW_NUMBER() OVER (PARTITION BY d.channel_id ORDER BY s.published, d.id) AS rn "
                "FROM deliveries d JOIN stories s ON s.id = d.story_id "
                "LEFT JOIN subscriptions sub ON sub.id = d.subscription_id "
                "WHERE d.status = 'pending' AND d.next_attempt <= :t AND COALESCE(sub.paused, 0) = 0"
                ") ORDER BY (rn - 1) / 10, channel_id, rn LIMIT :limit",
                {"t": moment, "limit": limit},
            ).fetchall()
            rows.sort(key=lambda r: (r["channel_id"], r["rn"]))
            alerts = [_alert(r, "new") for r in rows]
            edit_rows = c.execute(
                f"SELECT d.id AS d_id, d.channel_id, d.guild_id, d.message_id, {_S} FROM deliveries d "
                "JOIN stories s ON s.id = d.story_id WHERE d.status = 'sent' AND d.message_id IN "
                "(SELECT message_id FROM deliveries WHERE edit_pending = 1 AND next_attempt <= :t) "
                "ORDER BY d.message_id, d.id LIMIT :limit",
                {"t": moment, "limit": limit},
            ).fetchall()
            alerts.extend(_alert(r, "edit") for r in edit_rows)
            return alerts

        return await self._run(fn, action="reading the outbox")

    async def sending_alerts(self) -> list[Alert]:
        """Rows a crash left between 'sent to Discord' and 'recorded as sent'."""

        def fn(c: sqlite3.Connection) -> list[Alert]:
            rows = c.execute(
                f"SELECT d.id AS d_id, d.channel_id, d.guild_id, d.message_id, {_S} FROM deliveries d "
                "JOIN stories s ON s.id = d.story_id WHERE d.status = 'sending' ORDER BY d.channel_id, d.id"
            ).fetchall()
            return [_alert(r, "new") for r in rows]

        return await self._run(fn, action="reading the outbox")

    async def mark_sending(self, delivery_ids: Sequence[int], nonce: str) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE deliveries SET status = 'sending', nonce = :n, attempts = attempts + 1 "
                "WHERE id IN (SELECT value FROM json_each(:ids)) AND status = 'pending'",
                {"n": nonce, "ids": _ids(delivery_ids)},
            )

        await self._run(fn, action="recording a send")

    async def mark_sent(self, delivery_ids: Sequence[int], message_id: int) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE deliveries SET status = 'sent', message_id = :m, sent_at = :t, edit_pending = 0, "
                "last_error = NULL WHERE id IN (SELECT value FROM json_each(:ids))",
                {"m": message_id, "t": now(), "ids": _ids(delivery_ids)},
            )

        await self._run(fn, action="recording a delivery")

    async def mark_edited(self, message_id: int) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute("UPDATE deliveries SET edit_pending = 0 WHERE message_id = :m", {"m": message_id})

        await self._run(fn, action="recording an edit")

    async def mark_retry(self, delivery_ids: Sequence[int], *, at: float, error: str) -> None:
        """Back to pending (or edit still pending) until `at`; the error is kept for /status."""

        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE deliveries SET status = CASE WHEN status = 'sending' THEN 'pending' ELSE status END, "
                "next_attempt = :at, last_error = :e WHERE id IN (SELECT value FROM json_each(:ids))",
                {"at": at, "e": error[:300], "ids": _ids(delivery_ids)},
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

    async def queue_depth(self) -> int:
        def fn(c: sqlite3.Connection) -> int:
            return c.execute(
                "SELECT count(*) FROM deliveries WHERE status <> 'sent' OR edit_pending = 1"
            ).fetchone()[0]

        return await self._run(fn, action="reading the outbox")

    async def delivery_log(self, channel_id: int | None = None) -> list[tuple[int, int, str, int | None]]:
        """(story_id, channel_id, status, message_id) rows: what tests and drills check."""

        def fn(c: sqlite3.Connection) -> list[tuple[int, int, str, int | None]]:
            rows = c.execute(
                "SELECT story_id, channel_id, status, message_id FROM deliveries "
                "WHERE (:ch IS NULL OR channel_id = :ch) ORDER BY id",
                {"ch": channel_id},
            )
            return [(r[0], r[1], r[2], r[3]) for r in rows]

        return await self._run(fn, action="reading the outbox")
