"""Delivery to Matrix rooms (the AlertSink of bot.delivery).

- exactly once: the transaction id of a send is the delivery worker's idempotency key (derived
  from the outbox rows), so a resend of the same batch — the bot was killed after the server
  stored the event but before the outbox recorded it — is answered by the homeserver with the
  original event id instead of a second event; a batch cut differently after a restart is
  found by `find_sent` (the bot's own recent notices and their "story #<id>" marks);
- "also reported by": an `m.replace` edit of the alert; with the threads rule, the update is
  also posted into the alert's thread (`m.thread`);
- M_LIMIT_EXCEEDED → RateLimitedError(retry_after_ms); M_FORBIDDEN while the bot is still in
  the room → ForbiddenDeliveryError (paused, kept); not in the room any more, or the room is
  unknown → ChannelGoneError (the subscriptions end); 5xx and network → transient.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from mautrix.errors import MatrixConnectionError

from bot.adapters.matrix import PLATFORM
from bot.adapters.matrix import format as fmt
from bot.adapters.matrix.client import MatrixClient, MatrixHTTPError
from bot.delivery import DeliveryProblem, SinkLimits
from bot.errors import (
    ChannelGoneError,
    DeliveryError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.messages import messages
from bot.models import Alert, Destination
from bot.render import plain_topic

log = logging.getLogger(__name__)

# Synapse's default rc_message is 0.2 messages/s with a burst of 10; a homeserver's limits are
# its own, so we go a little faster and let M_LIMIT_EXCEEDED's retry_after_ms pace the rest.
LIMITS = SinkLimits(
    batch_size=fmt.BATCH_MAX, sends_per_second=2.0, key_length=32, can_edit=True, digest_size=25, threads=True
)
GONE_CODES = frozenset({"M_NOT_FOUND", "M_UNKNOWN_ROOM"})


class MatrixSink:
    platform = PLATFORM
    limits = LIMITS

    def __init__(
        self,
        client: MatrixClient,
        label: Callable[[str], str] = lambda c: c,
        topic_label: Callable[[str], str] = plain_topic,
    ) -> None:
        self.client = client
        self.label = label
        self.topic_label = topic_label

    def content(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        return fmt.alert_content(alerts, self.label, self.topic_label)

    async def translate(self, exc: Exception, room_id: str, what: str) -> DeliveryError:
        """A homeserver answer as the worker's error kinds (one line, no token)."""
        if isinstance(exc, MatrixHTTPError):
            if exc.status == 429 or exc.errcode == "M_LIMIT_EXCEEDED":
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                log.info("matrix rate limit on %s in %s: waiting %.3f s as the homeserver asked", what, room_id, wait)
                return RateLimitedError(wait)
            if exc.errcode in GONE_CODES or exc.status == 404:
                return ChannelGoneError(f"{what}: {exc.errcode or exc.status}")
            if exc.errcode == "M_FORBIDDEN" or exc.status == 403:
                try:
                    joined = room_id in await self.client.joined_rooms()
                except (MatrixHTTPError, MatrixConnectionError):
                    joined = True  # cannot tell: pausing keeps the alerts, ending would not
                if not joined:
                    return ChannelGoneError(f"{what}: the bot is no longer in the room")
                return ForbiddenDeliveryError(
                    f"{what}: M_FORBIDDEN ({exc.message[:120]})", missing=("power to send messages",)
                )
            if exc.status >= 500:
                return TransientDeliveryError(f"{what}: HTTP {exc.status}")
            return TransientDeliveryError(f"{what}: {exc}")
        return TransientDeliveryError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")

    # ------------------------------------------------------------------ AlertSink
    def batch_size(self, alerts: Sequence[Alert]) -> int:
        n = min(len(alerts), fmt.BATCH_MAX)
        while n > 1 and fmt.size(self.content(alerts[:n])) > fmt.CONTENT_BUDGET:
            n -= 1
        return max(1, n)

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        room_id = destination.address
        try:
            return await self.client.send(room_id, self.content(alerts), txn_id=key)
        except (MatrixHTTPError, MatrixConnectionError) as exc:
            raise await self.translate(exc, room_id, "send") from None

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        room_id = destination.address
        if alerts and alerts[0].digest:
            alerts = sorted(alerts, key=lambda a: (-a.story.corroboration, -a.story.published.timestamp(), a.delivery_id))
        else:
            alerts = sorted(alerts, key=lambda a: (a.story.published, a.delivery_id))
        new = self.content(alerts)
        # the same edit twice (a crash before mark_edited) is one event: the txn id is its content
        digest = hashlib.blake2b(
            (message_ref + "\0" + str(new["body"])).encode(), digest_size=12
        ).hexdigest()
        try:
            await self.client.send(room_id, fmt.edit_content(message_ref, new), txn_id=f"caedit{digest}")
            if alerts and alerts[0].thread:
                await self.client.send(
                    room_id, fmt.thread_update(message_ref, [a.story for a in alerts], messages(alerts[0].lang)), txn_id=f"cathread{digest}"
                )
        except (MatrixHTTPError, MatrixConnectionError) as exc:
            raise await self.translate(exc, room_id, "edit") from None

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        """Stories already posted by this bot in the room (its own notices, edits excluded)."""
        wanted = set(story_ids)
        found: dict[int, str] = {}
        if not wanted:
            return found
        room_id = destination.address
        try:
            events = await self.client.messages(room_id, limit)
        except (MatrixHTTPError, MatrixConnectionError) as exc:
            raise await self.translate(exc, room_id, "history") from None
        for event in events:
            if event.get("sender") != self.client.user_id or event.get("type") != "m.room.message":
                continue
            content = event.get("content") or {}
            if (content.get("m.relates_to") or {}).get("rel_type") == "m.replace":
                continue
            for story_id in fmt.story_ids_of(content):
                if story_id in wanted and story_id not in found:
                    found[story_id] = str(event.get("event_id"))
        return found

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        """The room itself is where the bot cannot post; the log line is what is left."""
        log.warning(
            "matrix room %s: alerts paused (%s); they resume when the bot may post again",
            destination.address,
            problem.detail[:200],
        )
