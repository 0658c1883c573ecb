"""Drains the outbox into an adapter's sink, exactly once per (story, destination).

Why this order of writes: a row is marked `sending` with its idempotency key *before* the sink
is called and `sent` with the platform's message reference after. A crash in between leaves
`sending` rows; on start-up `reconcile()` asks the sink which of those stories already stand
at the destination and only re-sends the rest, with the same deterministic key so a platform
that honours one drops a duplicate itself.

Nothing here knows a platform: each sink declares its limits (`SinkLimits`), returns an opaque
text reference per message, and words the problems this worker reports (`DeliveryProblem`).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.clock import SYSTEM_CLOCK, Clock
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    StoreError,
    TransientDeliveryError,
)
from bot.models import Alert, Destination
from bot.ports import Outbox

log = logging.getLogger(__name__)

BACKOFF_BASE = 5.0
BACKOFF_CAP = 900.0
DUE_ROUNDS = 100  # due alerts read per drain: this many messages' worth per destination round
KEY_PREFIX = "ca"
# Seconds between reconciliations while running. Why not only at start: with several worker
# processes on one database (PostgreSQL), the `sending` rows a killed worker leaves behind are
# settled by the workers still running (the store hands them out once the dead one's lease has
# ended); a process alone finds none between its own sends (they run under the same lock).
RECONCILE_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class SinkLimits:
    """What a platform allows; the worker batches and paces by these numbers alone."""

    batch_size: int = 1  # most alerts one message may carry
    sends_per_second: float = 1.0  # sends and edits across all destinations of this sink
    key_length: int = 0  # characters of idempotency key the platform accepts (0: none)
    can_edit: bool = False  # "also reported by" updates edit the sent message
    # Pause the destination (with a reason, alerts kept) once a batch has failed this many
    # times in a row with transient errors; 0 = never. Why opt-in: a chat platform's outage is
    # everybody's and passes, while a push URL that keeps failing is usually a wrong or revoked
    # address that only its owner can fix — retrying it forever only fills the outbox.
    pause_after_failures: int = 0
    # Alert rules (bot.rules): a digest is one message listing up to this many stories, best
    # first (alerts with `digest` set); `threads`: the sink can post a story so that its
    # discussion and later updates stay with it (a thread on the message, a forum post, thread
    # replies, m.thread, a forum topic) — alerts with `thread` set then go one per message and
    # edits of them also post the update into that thread. A sink without it posts plainly.
    digest_size: int = 25
    threads: bool = False


class ProblemKind(enum.Enum):
    FORBIDDEN = "forbidden"  # the bot lacks access or a permission; alerts are paused, kept


@dataclass(frozen=True, slots=True)
class DeliveryProblem:
    """Something the destination's owner must fix; the adapter words it for its platform."""

    kind: ProblemKind
    missing: tuple[str, ...] = ()
    detail: str = ""


class AlertSink(Protocol):
    """A platform's delivery. Every `send` gets alerts that agree on `digest`, `mention` and
    `thread` (the worker groups them): a digest batch is rendered as one listing; a batch with a
    `mention` pings exactly that one role/group/room and permits nothing else; a `thread` batch
    (only when `limits.threads`) is one story, posted so updates can follow in its thread."""

    platform: str
    limits: SinkLimits

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        """How many leading alerts fit one message (≤ limits.batch_size)."""
        ...

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str: ...

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None: ...

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]: ...

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None: ...


def idempotency_key(delivery_ids: Sequence[int], length: int = 25) -> str:
    """Same deliveries → same key, cut to what the platform accepts (at least 8 characters)."""
    digest = hashlib.blake2b(",".join(map(str, sorted(delivery_ids))).encode(), digest_size=16).hexdigest()
    return (KEY_PREFIX + digest)[: max(8, length)]


def backoff(attempts: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1))) * random.uniform(0.8, 1.2)


@runtime_checkable
class SharedPacing(Protocol):
    """A store whose send rates are shared by every process using it (bot/store/pg)."""

    async def take_rate(self, bucket: str, rate: float, burst: int = 1) -> float: ...


async def take_shared_slot(store: object, platform: str, rate: float) -> bool:
    """Wait for the next request slot of `platform`'s bucket shared by every worker process;
    False (no wait) when the store keeps no shared buckets (SQLite: one process).

    Why one function: the delivery worker paces its sends with it, and an adapter that must
    spend a request of the same budget outside a send (Discord: looking up a channel of a
    guild on another process's shard) takes its slot from the same bucket."""
    if not isinstance(store, SharedPacing):
        return False
    wait = await store.take_rate(f"sends:{platform}", rate)
    if wait > 0:
        await asyncio.sleep(wait)
    return True


class DeliveryWorker:
    """One worker per sink and process; `drain_once` is safe from a scheduler tick or a wake-up."""

    def __init__(self, store: Outbox, sink: AlertSink, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.store = store
        self.sink = sink
        self.clock = clock
        self.limits = sink.limits
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._global_pause_until = 0.0
        self._retry_at: dict[int, float] = {}  # destination → when its failed batch is retried
        self.sent_messages = 0
        self.sent_alerts = 0
        self._next_send = 0.0  # loop time of the next free send slot
        self._backlog = False  # the last drain saw a full page of due alerts

    @property
    def platform(self) -> str:
        return self.sink.platform

    def wake(self) -> None:
        self._wake.set()

    async def reconcile(self) -> int:
        """Settle rows a crash left in `sending`: mark the ones already posted, re-queue the rest."""
        async with self._lock:
            leftover = await self.store.sending_alerts(platform=self.platform)
            by_dest: dict[int, list[Alert]] = defaultdict(list)
            for alert in leftover:
                by_dest[alert.destination_id].append(alert)
            settled = 0
            for dest_id, alerts in by_dest.items():
                ids = [a.delivery_id for a in alerts]
                try:
                    found = await self.sink.find_sent(alerts[0].destination, [a.story.id for a in alerts])
                except ChannelGoneError:
                    await self.store.remove_destination(dest_id)
                    continue
                except Exception as exc:  # adapter trouble: try again later, never lose the rows
                    log.warning("reconcile failed", extra={"destination_id": dest_id, "error": str(exc)})
                    await self.store.mark_retry(ids, at=self.clock.now() + BACKOFF_BASE, error=f"reconcile: {exc}")
                    continue
                by_message: dict[str, list[int]] = defaultdict(list)
                rest = []
                for alert in alerts:
                    ref = found.get(alert.story.id)
                    if ref is None:
                        rest.append(alert.delivery_id)
                    else:
                        by_message[ref].append(alert.delivery_id)
                for ref, delivery_ids in by_message.items():
                    await self.store.mark_sent(delivery_ids, ref)
                    settled += len(delivery_ids)
                if rest:
                    await self.store.mark_retry(rest, at=self.clock.now(), error="re-queued after restart")
            if leftover:
                log.info(
                    "reconciled",
                    extra={"platform": self.platform, "found_sent": settled, "requeued": len(leftover) - settled},
                )
            return settled

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Drain whenever woken or every `interval` seconds, until `stop` is set."""
        await self.reconcile()
        loop = asyncio.get_running_loop()
        last_reconcile = loop.time()
        while not stop.is_set():
            try:
                if loop.time() - last_reconcile >= RECONCILE_EVERY:
                    last_reconcile = loop.time()
                    await self.reconcile()
                await self.drain_once()
            except StoreError as exc:
                log.error("delivery paused by the database", extra={"error": exc.user_message})
            except Exception:
                log.exception("delivery cycle failed")
            self._wake.clear()
            if self._backlog:  # a full page went out and more is due: no pause between pages
                await asyncio.sleep(0)
                continue
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()

    async def drain_until_idle(self, *, max_rounds: int = 1000) -> int:
        """Drain until nothing more is due now (for `run --once` and tests); returns alerts sent."""
        total = 0
        for _ in range(max_rounds):
            sent = await self.drain_once()
            total += sent
            if not sent and not self._backlog:
                break
        return total

    async def _pace(self) -> None:
        """Wait for the next send slot (limits.sends_per_second across all destinations).

        A store shared by several worker processes (PostgreSQL) paces every process's sends of
        this platform together (`SharedPacing`), so the platform's limit holds for the bot."""
        if await take_shared_slot(self.store, self.platform, self.limits.sends_per_second):
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_send)
        self._next_send = slot + 1.0 / max(0.001, self.limits.sends_per_second)
        if slot > now:
            await asyncio.sleep(slot - now)

    async def drain_once(self) -> int:
        """Send what is due now; returns how many alerts went out."""
        async with self._lock:
            self._backlog = False
            if self.clock.now() < self._global_pause_until:
                return 0
            per_round = max(1, self.limits.batch_size)
            page = per_round * DUE_ROUNDS
            alerts = await self.store.due_alerts(platform=self.platform, limit=page, per_round=per_round)
            self._backlog = sum(1 for a in alerts if a.kind != "edit") >= page
            if not alerts:
                return 0
            new: dict[int, list[Alert]] = defaultdict(list)
            edits: dict[tuple[int, str], list[Alert]] = defaultdict(list)
            for alert in alerts:
                if alert.kind == "edit" and alert.message_ref is not None:
                    edits[(alert.destination_id, alert.message_ref)].append(alert)
                else:
                    new[alert.destination_id].append(alert)
            # Destinations are independent: send to several at once, each one's batches in order.
            results = await asyncio.gather(*(self._drain_destination(d, items) for d, items in new.items()))
            for (dest_id, ref), items in edits.items():
                await self._edit(dest_id, ref, items)
            return sum(results)

    def _batches(self, alerts: list[Alert]) -> list[list[Alert]]:
        """Messages for one destination: alerts grouped by (digest, mention, thread), each group
        in outbox order; a digest group best first (most independent outlets, then newest) and
        cut at `digest_size`; other groups cut where the sink says a message is full."""
        groups: dict[tuple[bool, str | None, bool], list[Alert]] = {}
        for alert in alerts:
            key = (alert.digest, alert.mention, alert.thread and self.limits.threads)
            groups.setdefault(key, []).append(alert)
        out: list[list[Alert]] = []
        for (digest, _mention, thread), items in groups.items():
            if digest:
                items = sorted(items, key=lambda a: (-a.story.corroboration, -a.story.published.timestamp(), a.delivery_id))
                size = max(1, self.limits.digest_size)
                out.extend(items[i : i + size] for i in range(0, len(items), size))
                continue
            while items:
                size = 1 if thread else max(1, min(self.limits.batch_size, self.sink.batch_size(items)))
                out.append(items[:size])
                items = items[size:]
        return out

    async def _drain_destination(self, dest_id: int, alerts: list[Alert]) -> int:
        delivered = 0
        batches = self._batches(alerts)
        while batches:
            if self.clock.now() < self._global_pause_until:
                break  # another destination hit the global limit: the rest stays due for later
            batch = batches.pop(0)
            alerts = [a for b in batches for a in b]
            outcome = await self._send(dest_id, batch)
            if outcome < 0:
                # the destination failed: the rest waits for its retry time too (sending it now
                # would hit the same limit or outage, and post newer alerts before older ones)
                retry_at = self._retry_at.pop(dest_id, None)
                if alerts and retry_at is not None:
                    await self.store.mark_retry(
                        [a.delivery_id for a in alerts], at=retry_at, error="waiting for an earlier batch"
                    )
                break
            delivered += outcome
        return delivered

    async def _send(self, dest_id: int, batch: list[Alert]) -> int:
        ids = [a.delivery_id for a in batch]
        destination = batch[0].destination
        key = idempotency_key(ids, self.limits.key_length or 25)
        await self._pace()
        await self.store.mark_sending(ids, key)
        now = self.clock.now
        try:
            message_ref = await self.sink.send(destination, batch, key)
        except RateLimitedError as exc:
            if exc.is_global:
                self._global_pause_until = now() + exc.retry_after
            self._retry_at[dest_id] = now() + exc.retry_after
            await self.store.mark_retry(ids, at=self._retry_at[dest_id], error=str(exc))
            return -1
        except TransientDeliveryError as exc:
            attempts = await self.store.attempts(ids)
            self._retry_at[dest_id] = now() + backoff(attempts)
            await self.store.mark_retry(ids, at=self._retry_at[dest_id], error=str(exc))
            limit = self.limits.pause_after_failures
            if limit and attempts >= limit:
                reason = f"paused after {attempts} failed attempts; last error: {exc}"
                await self.store.pause_destination(dest_id, reason)
                log.warning("destination paused", extra={"destination_id": dest_id, "reason": reason})
            else:
                log.warning("delivery will be retried", extra={"destination_id": dest_id, "error": str(exc)})
            return -1
        except ForbiddenDeliveryError as exc:
            self._retry_at[dest_id] = now() + BACKOFF_CAP
            await self.store.mark_retry(ids, at=self._retry_at[dest_id], error=str(exc))
            first_notice = await self.store.pause_destination(dest_id, str(exc))
            if first_notice:
                problem = DeliveryProblem(ProblemKind.FORBIDDEN, tuple(exc.missing), str(exc))
                try:
                    await self.sink.notify_problem(destination, problem)
                except Exception as notify_exc:
                    log.warning("could not notify about a paused destination", extra={"error": str(notify_exc)})
            return -1
        except ChannelGoneError:
            removed = await self.store.remove_destination(dest_id)
            log.info("destination gone; subscriptions removed", extra={"destination_id": dest_id, "removed": removed})
            return -1
        except Exception as exc:  # an adapter bug must not lose the alert
            log.exception("unexpected delivery failure", extra={"destination_id": dest_id})
            attempts = await self.store.attempts(ids)
            self._retry_at[dest_id] = now() + backoff(attempts)
            await self.store.mark_retry(ids, at=self._retry_at[dest_id], error=f"unexpected: {exc}")
            return -1
        await self.store.mark_sent(ids, str(message_ref))
        self.sent_messages += 1
        self.sent_alerts += len(ids)
        return len(ids)

    async def _edit(self, dest_id: int, message_ref: str, alerts: list[Alert]) -> None:
        ids = [a.delivery_id for a in alerts]
        if not self.limits.can_edit:  # the platform cannot edit: the alert itself stands
            await self.store.mark_edited(dest_id, message_ref)
            return
        await self._pace()
        try:
            await self.sink.edit(alerts[0].destination, message_ref, alerts)
        except (RateLimitedError, TransientDeliveryError) as exc:
            wait = exc.retry_after if isinstance(exc, RateLimitedError) else BACKOFF_BASE * 4
            await self.store.mark_retry(ids, at=self.clock.now() + wait, error=str(exc))
            return
        except (ForbiddenDeliveryError, ChannelGoneError) as exc:
            # An edit is a courtesy; the alert itself was delivered. Give up on this edit.
            log.info("alert edit skipped", extra={"destination_id": dest_id, "error": str(exc)})
        except Exception:
            log.exception("unexpected edit failure", extra={"destination_id": dest_id})
        await self.store.mark_edited(dest_id, message_ref)
