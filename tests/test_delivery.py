"""DeliveryWorker over a real store, with a fake AlertSink (the one boundary faked)."""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

import bot.delivery
import bot.store.db
from bot.delivery import MAX_EMBEDS, DeliveryWorker, nonce_for
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.models import Alert
from bot.store import Store
from tests.store.helpers import IMM, Clock, article, match


class Crash(BaseException):
    """The process dies mid-delivery (not an Exception: no handler in the worker catches it)."""


class FakeSink:
    """Records what would reach the channel; told to fail or crash per channel."""

    def __init__(self) -> None:
        self.max_batch = MAX_EMBEDS
        self.messages: dict[int, list[tuple[int, list[int], str]]] = defaultdict(list)  # posted
        self.attempts: list[tuple[int, list[int], str]] = []
        self.edits: list[tuple[int, int, list[int]]] = []
        self.notices: list[tuple[int, int, str]] = []
        self.send_errors: dict[int, list[BaseException]] = defaultdict(list)
        self.edit_errors: list[BaseException] = []
        self.find_errors: list[BaseException] = []
        self.crash_after_post: set[int] = set()
        self.notify_error: Exception | None = None
        self._ids = itertools.count(9000)

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return min(len(alerts), self.max_batch)

    async def send(self, channel_id: int, alerts: Sequence[Alert], nonce: str) -> int:
        story_ids = [a.story.id for a in alerts]
        self.attempts.append((channel_id, story_ids, nonce))
        if self.send_errors[channel_id]:
            raise self.send_errors[channel_id].pop(0)
        message_id = next(self._ids)
        self.messages[channel_id].append((message_id, story_ids, nonce))
        if channel_id in self.crash_after_post:
            self.crash_after_post.discard(channel_id)
            raise Crash("killed after the POST, before mark_sent")
        return message_id

    async def edit(self, channel_id: int, message_id: int, alerts: Sequence[Alert]) -> None:
        if self.edit_errors:
            raise self.edit_errors.pop(0)
        self.edits.append((channel_id, message_id, sorted(a.story.id for a in alerts)))

    async def find_sent(self, channel_id: int, story_ids: Sequence[int], *, limit: int = 100) -> dict[int, int]:
        if self.find_errors:
            raise self.find_errors.pop(0)
        return {
            sid: message_id
            for message_id, ids, _ in self.messages[channel_id][-limit:]
            for sid in ids
            if sid in story_ids
        }

    async def notify_problem(self, guild_id: int, channel_id: int, text: str) -> None:
        self.notices.append((guild_id, channel_id, text))
        if self.notify_error is not None:
            raise self.notify_error

    def posted(self, channel_id: int) -> list[int]:
        """Story ids in the order they appeared in the channel."""
        return [sid for _, ids, _ in self.messages[channel_id] for sid in ids]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(bot.store.db, "time", c)
    monkeypatch.setattr(bot.delivery, "time", c)
    return c


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def worker(store: Store, sink: FakeSink) -> DeliveryWorker:
    return DeliveryWorker(store, sink)


_titles = itertools.count(1)


async def queue(store: Store, channel_id: int, n: int, *, guild_id: int = 1) -> list[int]:
    """Subscribe a channel to its own city and store n distinct matching stories; returns story ids."""
    city = f"c{channel_id}-il"
    await store.subscribe(guild_id, channel_id, city, [IMM])
    items = []
    for i in range(n):
        k = next(_titles)
        title = f"Alert {k}: agents seen at site {k * 17 + 3}"
        items.append((article(title, hours_ago=20 - i * 0.1), match((IMM,), (city,))))
    report = await store.save_articles("f", items)
    assert len(report.new_stories) == n
    return [s.id for s in report.new_stories]


async def statuses(store: Store, channel_id: int) -> list[str]:
    return [row[2] for row in await store.delivery_log(channel_id)]


# -- batching and nonces -----------------------------------------------------------------
async def test_25_alerts_go_out_as_10_10_5(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    story_ids = await queue(store, 100, 25)
    assert await worker.drain_once() == 25
    assert [len(ids) for _, ids, _ in sink.messages[100]] == [10, 10, 5]
    assert sink.posted(100) == story_ids  # oldest first, nothing twice
    log = await store.delivery_log(100)
    assert {r[2] for r in log} == {"sent"}
    by_message = defaultdict(list)
    for story_id, _, _, message_id in log:
        by_message[message_id].append(story_id)
    assert sorted(len(v) for v in by_message.values()) == [5, 10, 10]
    assert await store.queue_depth() == 0
    assert (worker.sent_messages, worker.sent_alerts) == (3, 25)
    assert await worker.drain_once() == 0
    assert len(sink.attempts) == 3


async def test_batch_size_follows_the_sink_and_is_capped(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    await queue(store, 100, 7)
    sink.max_batch = 3
    await worker.drain_once()
    assert [len(ids) for _, ids, _ in sink.messages[100]] == [3, 3, 1]
    await queue(store, 200, 12)
    sink.max_batch = 50  # never more than 10 embeds a message
    await worker.drain_once()
    assert [len(ids) for _, ids, _ in sink.messages[200]] == [10, 2]


async def test_send_uses_nonce_of_its_delivery_ids(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    await queue(store, 100, 3)
    ids = [a.delivery_id for a in await store.due_alerts()]
    await worker.drain_once()
    (_, _, nonce), = sink.messages[100]
    assert nonce == nonce_for(ids)


def test_nonce_for() -> None:
    a = nonce_for([3, 1, 2])
    assert a == nonce_for([1, 2, 3]) == nonce_for((2, 3, 1))
    assert 0 < len(a) <= 25
    assert a != nonce_for([1, 2]) and a != nonce_for([1, 2, 4]) and nonce_for([12]) != nonce_for([1, 2])
    assert len(nonce_for(list(range(10_000)))) <= 25
    assert a.isascii() and a.isalnum()


async def test_channels_are_independent(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    await queue(store, 100, 2)
    await queue(store, 200, 2)
    sink.send_errors[100].append(TransientDeliveryError("HTTP 503"))
    assert await worker.drain_once() == 2
    assert len(sink.posted(200)) == 2 and sink.posted(100) == []


# -- failure policy ----------------------------------------------------------------------
async def test_429_retries_after_retry_after_and_loses_nothing(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 12)
    sink.send_errors[100].append(RateLimitedError(30.0))
    assert await worker.drain_once() == 0
    assert sink.messages[100] == []
    assert await statuses(store, 100) == ["pending"] * 12
    clock.advance(20)
    assert await worker.drain_once() == 0  # still waiting
    assert len(sink.attempts) == 1
    clock.advance(11)
    assert await worker.drain_once() == 12
    assert sink.posted(100) == story_ids
    assert await statuses(store, 100) == ["sent"] * 12


async def test_429_mid_channel_keeps_the_rest_for_later(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 15)
    sink.max_batch = 5

    original_send = sink.send
    calls = 0

    async def send_then_limit(channel_id: int, alerts: Sequence[Alert], nonce: str) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RateLimitedError(5.0)
        return await original_send(channel_id, alerts, nonce)

    sink.send = send_then_limit  # type: ignore[method-assign]
    assert await worker.drain_once() == 5  # first batch out, second limited, third not tried
    assert calls == 2
    assert await worker.drain_once() == 0  # the third batch waits with the second, in order
    assert calls == 2
    clock.advance(6)
    assert await worker.drain_once() == 10
    assert sink.posted(100) == story_ids


async def test_global_429_pauses_the_worker(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    await queue(store, 100, 2)
    sink.send_errors[100].append(RateLimitedError(60.0, is_global=True))
    assert await worker.drain_once() == 0
    await queue(store, 200, 2)  # a fresh channel must wait too
    clock.advance(30)
    assert await worker.drain_once() == 0
    assert len(sink.attempts) == 1
    clock.advance(31)
    assert await worker.drain_once() == 4
    assert len(sink.posted(100)) == 2 and len(sink.posted(200)) == 2


async def test_global_429_stops_other_channels_mid_drain(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    await queue(store, 100, 1)
    slow = await queue(store, 200, 15)
    sink.max_batch = 5
    sink.send_errors[100].append(RateLimitedError(60.0, is_global=True))
    original_send = sink.send

    async def slow_send(channel_id: int, alerts: Sequence[Alert], nonce: str) -> int:
        if channel_id == 200:
            await asyncio.sleep(0.05)  # channel 100's global 429 arrives while this is in flight
        return await original_send(channel_id, alerts, nonce)

    sink.send = slow_send  # type: ignore[method-assign]
    assert await worker.drain_once() == 5  # the batch in flight lands; no new batch starts
    assert sink.posted(200) == slow[:5]
    clock.advance(61)
    assert await worker.drain_once() == 11
    assert sink.posted(200) == slow


async def test_5xx_backs_off_then_delivers_exactly_once(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 3)
    sink.send_errors[100].extend([TransientDeliveryError("HTTP 502"), TransientDeliveryError("HTTP 503")])
    assert await worker.drain_once() == 0
    assert await worker.drain_once() == 0  # backing off: not retried at once
    assert len(sink.attempts) == 1
    clock.advance(7)  # first backoff ≈ 5 s (±20 %)
    assert await worker.drain_once() == 0
    assert len(sink.attempts) == 2
    clock.advance(7)  # the second backoff is longer (≈ 10 s)
    assert await worker.drain_once() == 0
    assert len(sink.attempts) == 2
    clock.advance(6)
    assert await worker.drain_once() == 3
    assert sink.posted(100) == story_ids
    assert len({nonce for _, _, nonce in sink.attempts}) == 1  # every retry with the same nonce
    assert await store.sending_alerts() == []
    assert await store.attempts([1, 2, 3]) == 3
    clock.advance(3600)
    assert await worker.drain_once() == 0
    assert len(sink.posted(100)) == 3


async def test_403_pauses_channel_notifies_once_and_keeps_deliveries(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 3, guild_id=7)
    await queue(store, 200, 1, guild_id=7)
    sink.send_errors[100].extend([ForbiddenDeliveryError("HTTP 403", ("Embed Links", "Send Messages"))] * 5)
    assert await worker.drain_once() == 1  # channel 200 unaffected
    assert len(sink.notices) == 1
    guild_id, channel_id, text = sink.notices[0]
    assert (guild_id, channel_id) == (7, 100)
    assert "Embed Links, Send Messages" in text and "<#100>" in text
    subs = await store.subscriptions(channel_id=100)
    assert subs and all(s.paused for s in subs)
    for _ in range(3):
        clock.advance(1000)
        await worker.drain_once()
    assert len(sink.notices) == 1
    assert len([a for a in sink.attempts if a[0] == 100]) == 1  # paused: not hammered
    assert await statuses(store, 100) == ["pending"] * 3  # kept
    # permissions fixed, channel resumed: the kept alerts go out once
    sink.send_errors[100].clear()
    await store.resume_channel(100)
    assert await worker.drain_once() == 3
    assert sink.posted(100) == story_ids


async def test_403_repeated_after_resume_notifies_again_and_notify_failure_is_contained(
    store: Store, sink: FakeSink, worker: DeliveryWorker
) -> None:
    await queue(store, 100, 1)
    sink.notify_error = RuntimeError("cannot DM the owner")
    sink.send_errors[100].extend([ForbiddenDeliveryError("HTTP 403")] * 2)
    assert await worker.drain_once() == 0
    assert len(sink.notices) == 1 and "access to the channel" in sink.notices[0][2]
    await store.resume_channel(100)
    assert await worker.drain_once() == 0
    assert len(sink.notices) == 2  # a new pause is a new problem
    assert await statuses(store, 100) == ["pending"]


async def test_404_removes_subscriptions_and_pending_rows(
    store: Store, sink: FakeSink, worker: DeliveryWorker
) -> None:
    await queue(store, 100, 2)
    await worker.drain_once()
    await queue(store, 100, 3)  # more news for the channel
    await queue(store, 200, 1)
    sink.send_errors[100].append(ChannelGoneError("HTTP 404 Unknown Channel"))
    assert await worker.drain_once() == 1
    assert await store.subscriptions(channel_id=100) == []
    assert await statuses(store, 100) == ["sent", "sent"]  # history stays, pending rows gone
    assert len(await store.subscriptions(channel_id=200)) == 1
    assert await worker.drain_once() == 0
    assert len([a for a in sink.attempts if a[0] == 100]) == 2


async def test_unexpected_adapter_error_loses_nothing(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 2)
    sink.send_errors[100].append(ValueError("adapter bug"))
    assert await worker.drain_once() == 0
    assert await statuses(store, 100) == ["pending", "pending"]
    clock.advance(10)
    assert await worker.drain_once() == 2
    assert sink.posted(100) == story_ids


# -- crashes and reconcile ---------------------------------------------------------------
async def test_crash_after_post_is_reconciled_without_a_second_post(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 3)
    sink.crash_after_post.add(100)
    with pytest.raises(Crash):
        await worker.drain_once()
    assert await statuses(store, 100) == ["sending"] * 3
    assert len(sink.messages[100]) == 1
    assert await worker.drain_once() == 0  # 'sending' rows are not due: no blind re-send
    restarted = DeliveryWorker(store, sink)
    assert await restarted.reconcile() == 3
    message_id = sink.messages[100][0][0]
    assert [(r[2], r[3]) for r in await store.delivery_log(100)] == [("sent", message_id)] * 3
    clock.advance(3600)
    assert await restarted.drain_once() == 0
    assert sink.posted(100) == story_ids  # once


async def test_crash_before_post_is_resent_once_with_the_same_nonce(
    store: Store, sink: FakeSink, worker: DeliveryWorker
) -> None:
    story_ids = await queue(store, 100, 2)
    await queue(store, 200, 1)
    ids = [a.delivery_id for a in await store.due_alerts() if a.channel_id == 100]
    await store.mark_sending(ids, nonce_for(ids))  # the process died right after this write
    restarted = DeliveryWorker(store, sink)
    assert await restarted.reconcile() == 0
    assert await statuses(store, 100) == ["pending", "pending"]
    assert await restarted.drain_once() == 3
    assert sink.posted(100) == story_ids
    assert sink.messages[100][0][2] == nonce_for(ids)
    assert await restarted.reconcile() == 0
    assert await restarted.drain_once() == 0
    assert sink.posted(100) == story_ids


async def test_reconcile_when_the_adapter_fails(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    await queue(store, 100, 1)
    await queue(store, 200, 1)
    for channel in (100, 200):
        ids = [a.delivery_id for a in await store.due_alerts() if a.channel_id == channel]
        await store.mark_sending(ids, "n")
    sink.find_errors.extend([TransientDeliveryError("HTTP 500"), ChannelGoneError("404")])
    assert await worker.reconcile() == 0
    assert await statuses(store, 100) == ["pending"]  # kept, retried later
    assert await store.delivery_log(200) == [] and await store.subscriptions(channel_id=200) == []
    assert await worker.drain_once() == 0
    clock.advance(10)
    assert await worker.drain_once() == 1


# -- edits -------------------------------------------------------------------------------
async def test_new_outlet_edits_the_whole_message(
    store: Store, sink: FakeSink, worker: DeliveryWorker
) -> None:
    story_ids = await queue(store, 100, 3)
    await worker.drain_once()
    (message_id, _, _), = sink.messages[100]
    first = await store.story(story_ids[0])
    assert first is not None
    await store.save_articles("f", [(article(first.title, source="WGN"), match((IMM,), first.cities))])
    await worker.drain_once()
    assert sink.edits == [(100, message_id, story_ids)]
    assert len(sink.messages[100]) == 1  # edited, not re-posted
    await worker.drain_once()
    assert len(sink.edits) == 1
    assert await store.queue_depth() == 0


async def test_edit_rate_limited_is_retried_and_forbidden_is_dropped(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 1)
    await worker.drain_once()
    first = await store.story(story_ids[0])
    assert first is not None
    await store.save_articles("f", [(article(first.title, source="WGN"), match((IMM,), first.cities))])
    sink.edit_errors.append(RateLimitedError(20.0))
    await worker.drain_once()
    assert sink.edits == []
    await worker.drain_once()
    assert sink.edits == []  # waits out the limit
    clock.advance(21)
    await worker.drain_once()
    assert len(sink.edits) == 1
    await store.save_articles("f", [(article(first.title, source="WTTW"), match((IMM,), first.cities))])
    sink.edit_errors.append(ForbiddenDeliveryError("403"))
    await worker.drain_once()
    assert len(sink.edits) == 1 and await store.queue_depth() == 0  # a courtesy: given up


async def test_run_reconciles_drains_and_stops(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    story_ids = await queue(store, 100, 2)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, interval=0.05))
    for _ in range(100):
        if sink.posted(100):
            break
        await asyncio.sleep(0.01)
    more = await queue(store, 100, 1)
    worker.wake()
    for _ in range(100):
        if len(sink.posted(100)) == 3:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert sink.posted(100) == story_ids + more
