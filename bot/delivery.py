"""Drains the outbox into an adapter, exactly once per (story, channel).

Why this order of writes: a row is marked `sending` with its nonce *before* the adapter is
called and `sent` with the message id after. A crash in between leaves `sending` rows; on
start-up `reconcile()` asks the adapter which of those stories already stand in the channel
(alert footers carry "story #<id>") and only re-sends the rest, with the same deterministic
nonce so Discord itself drops a duplicate sent within its nonce window.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    StoreError,
    TransientDeliveryError,
)
from bot.models import Alert
from bot.store import Store

log = logging.getLogger(__name__)

MAX_EMBEDS = 10
BACKOFF_BASE = 5.0
BACKOFF_CAP = 900.0
#: Discord allows a bot 50 requests/s in all. Sends and edits are paced just under that, so a
#: fan-out to hundreds of channels flows steadily instead of bursting into global 429s (unpaced,
#: 1,000 channels at once drew 4,833 of them and managed 39 messages/s: bench fanout).
GLOBAL_SENDS_PER_SECOND = 47.0
DUE_BATCH = 1000  # due alerts read per drain (10 per channel per round); a full page: more waits


class AlertSink(Protocol):
    def batch_size(self, alerts: Sequence[Alert]) -> int: ...

    async def send(self, channel_id: int, alerts: Sequence[Alert], nonce: str) -> int: ...

    async def edit(self, channel_id: int, message_id: int, alerts: Sequence[Alert]) -> None: ...

    async def find_sent(self, channel_id: int, story_ids: Sequence[int], *, limit: int = 100) -> dict[int, int]: ...

    async def notify_problem(self, guild_id: int, channel_id: int, text: str) -> None: ...


def nonce_for(delivery_ids: Sequence[int]) -> str:
    """Same deliveries → same nonce (≤ 25 chars), so a retried send is idempotent at Discord."""
    digest = hashlib.blake2b(",".join(map(str, sorted(delivery_ids))).encode(), digest_size=10).hexdigest()
    return "ca" + digest[:23]


def backoff(attempts: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1))) * random.uniform(0.8, 1.2)


class DeliveryWorker:
    """One worker per process; `drain_once` is safe to call from a scheduler tick or a wake-up."""

    def __init__(self, store: Store, sink: AlertSink) -> None:
        self.store = store
        self.sink = sink
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._global_pause_until = 0.0
        self._retry_at: dict[int, float] = {}  # channel → when its failed batch is retried
        self.sent_messages = 0
        self.sent_alerts = 0
        self._next_send = 0.0  # loop time of the next free send slot
        self._backlog = False  # the last drain saw a full page of due alerts

    def wake(self) -> None:
        self._wake.set()

    async def reconcile(self) -> int:
        """Settle rows a crash left in `sending`: mark the ones already posted, re-queue the rest."""
        async with self._lock:
            leftover = await self.store.sending_alerts()
            by_channel: dict[int, list[Alert]] = defaultdict(list)
            for alert in leftover:
                by_channel[alert.channel_id].append(alert)
            settled = 0
            for channel_id, alerts in by_channel.items():
                ids = [a.delivery_id for a in alerts]
                try:
                    found = await self.sink.find_sent(channel_id, [a.story.id for a in alerts])
                except ChannelGoneError:
                    await self.store.remove_channel(channel_id)
                    continue
                except Exception as exc:  # adapter trouble: try again later, never lose the rows
                    log.warning("reconcile failed", extra={"channel_id": channel_id, "error": str(exc)})
                    await self.store.mark_retry(ids, at=time.time() + BACKOFF_BASE, error=f"reconcile: {exc}")
                    continue
                by_message: dict[int, list[int]] = defaultdict(list)
                rest = []
                for alert in alerts:
                    message_id = found.get(alert.story.id)
                    if message_id is None:
                        rest.append(alert.delivery_id)
                    else:
                        by_message[message_id].append(alert.delivery_id)
                for message_id, delivery_ids in by_message.items():
                    await self.store.mark_sent(delivery_ids, message_id)
                    settled += len(delivery_ids)
                if rest:
                    await self.store.mark_retry(rest, at=time.time(), error="re-queued after restart")
            if leftover:
                log.info("reconciled", extra={"found_sent": settled, "requeued": len(leftover) - settled})
            return settled

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """Drain whenever woken or every `interval` seconds, until `stop` is set."""
        await self.reconcile()
        while not stop.is_set():
            try:
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

    async def _pace(self) -> None:
        """Wait for the next send slot (GLOBAL_SENDS_PER_SECOND across all channels)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_send)
        self._next_send = slot + 1.0 / GLOBAL_SENDS_PER_SECOND
        if slot > now:
            await asyncio.sleep(slot - now)

    async def drain_once(self) -> int:
        """Send what is due now; returns how many alerts went out."""
        async with self._lock:
            self._backlog = False
            if time.time() < self._global_pause_until:
                return 0
            alerts = await self.store.due_alerts(limit=DUE_BATCH)
            self._backlog = sum(1 for a in alerts if a.kind != "edit") >= DUE_BATCH
            if not alerts:
                return 0
            new: dict[int, list[Alert]] = defaultdict(list)
            edits: dict[tuple[int, int], list[Alert]] = defaultdict(list)
            for alert in alerts:
                if alert.kind == "edit" and alert.message_id is not None:
                    edits[(alert.channel_id, alert.message_id)].append(alert)
                else:
                    new[alert.channel_id].append(alert)
            delivered = 0
            channels = list(new.items())
            # Channels are independent: send to several at once, each channel's batches in order.
            results = await asyncio.gather(*(self._drain_channel(ch, items) for ch, items in channels))
            delivered = sum(results)
            for (channel_id, message_id), items in edits.items():
                await self._edit(channel_id, message_id, items)
            return delivered

    async def _drain_channel(self, channel_id: int, alerts: list[Alert]) -> int:
        delivered = 0
        while alerts:
            if time.time() < self._global_pause_until:
                break  # another channel hit the global limit: the rest stays due for later
            size = max(1, min(MAX_EMBEDS, self.sink.batch_size(alerts)))
            batch, alerts = alerts[:size], alerts[size:]
            outcome = await self._send(channel_id, batch)
            if outcome < 0:
                # the channel failed: the rest waits for its retry time too (sending it now
                # would hit the same limit or outage, and post newer alerts before older ones)
                retry_at = self._retry_at.pop(channel_id, None)
                if alerts and retry_at is not None:
                    await self.store.mark_retry(
                        [a.delivery_id for a in alerts], at=retry_at, error="waiting for an earlier batch"
                    )
                break
            delivered += outcome
        return delivered

    async def _send(self, channel_id: int, batch: list[Alert]) -> int:
        ids = [a.delivery_id for a in batch]
        nonce = nonce_for(ids)
        await self._pace()
        await self.store.mark_sending(ids, nonce)
        try:
            message_id = await self.sink.send(channel_id, batch, nonce)
        except RateLimitedError as exc:
            if exc.is_global:
                self._global_pause_until = time.time() + exc.retry_after
            self._retry_at[channel_id] = time.time() + exc.retry_after
            await self.store.mark_retry(ids, at=self._retry_at[channel_id], error=str(exc))
            return -1
        except TransientDeliveryError as exc:
            attempts = await self.store.attempts(ids)
            self._retry_at[channel_id] = time.time() + backoff(attempts)
            await self.store.mark_retry(ids, at=self._retry_at[channel_id], error=str(exc))
            log.warning("delivery will be retried", extra={"channel_id": channel_id, "error": str(exc)})
            return -1
        except ForbiddenDeliveryError as exc:
            self._retry_at[channel_id] = time.time() + BACKOFF_CAP
            await self.store.mark_retry(ids, at=self._retry_at[channel_id], error=str(exc))
            first_notice = await self.store.pause_channel(channel_id, str(exc))
            if first_notice:
                missing = ", ".join(exc.missing) or "access to the channel"
                text = (
                    f"I can't post alerts in <#{channel_id}>: missing {missing}. Alerts for that channel "
                    "are paused and kept; they resume by themselves once the permissions are fixed "
                    "(or run /subscribe again)."
                )
                try:
                    await self.sink.notify_problem(batch[0].guild_id, channel_id, text)
                except Exception as notify_exc:
                    log.warning("could not notify about a paused channel", extra={"error": str(notify_exc)})
            return -1
        except ChannelGoneError:
            removed = await self.store.remove_channel(channel_id)
            log.info("channel gone; subscriptions removed", extra={"channel_id": channel_id, "removed": removed})
            return -1
        except Exception as exc:  # an adapter bug must not lose the alert
            log.exception("unexpected delivery failure", extra={"channel_id": channel_id})
            attempts = await self.store.attempts(ids)
            self._retry_at[channel_id] = time.time() + backoff(attempts)
            await self.store.mark_retry(ids, at=self._retry_at[channel_id], error=f"unexpected: {exc}")
            return -1
        await self.store.mark_sent(ids, message_id)
        self.sent_messages += 1
        self.sent_alerts += len(ids)
        return len(ids)

    async def _edit(self, channel_id: int, message_id: int, alerts: list[Alert]) -> None:
        ids = [a.delivery_id for a in alerts]
        await self._pace()
        try:
            await self.sink.edit(channel_id, message_id, alerts)
        except (RateLimitedError, TransientDeliveryError) as exc:
            wait = exc.retry_after if isinstance(exc, RateLimitedError) else BACKOFF_BASE * 4
            await self.store.mark_retry(ids, at=time.time() + wait, error=str(exc))
            return
        except (ForbiddenDeliveryError, ChannelGoneError) as exc:
            # An edit is a courtesy; the alert itself was delivered. Give up on this edit.
            log.info("alert edit skipped", extra={"channel_id": channel_id, "error": str(exc)})
        except Exception:
            log.exception("unexpected edit failure", extra={"channel_id": channel_id})
        await self.store.mark_edited(message_id)
