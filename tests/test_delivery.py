"""The delivery contract suite: DeliveryWorker over a real store, for every kind of sink.

The sink is the one boundary faked: a recording platform that declares its limits like a real
adapter. The suite runs once per profile — Discord's limits, the console's, and a narrow
platform with string message ids, 3 alerts per message, no edits and 2 sends/s — so the
worker's guarantees (nothing lost, nothing doubled, order kept, failures contained, crash
reconciliation) are shown not to depend on one platform's numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.adapters.console import ConsoleSink
from bot.adapters.discordbot.sink import LIMITS as DISCORD_LIMITS
from bot.delivery import DeliveryProblem, DeliveryWorker, SinkLimits, idempotency_key
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.models import Alert, Destination
from bot.store import Store
from tests.store.helpers import IMM, Clock, article, channel_log, dest, dest_id, match, save

NARROW = SinkLimits(batch_size=3, sends_per_second=2.0, key_length=0, can_edit=False)
PROFILES = {
    "discord": (DISCORD_LIMITS, "int"),
    "console": (ConsoleSink.limits, "str"),
    "narrow": (NARROW, "str"),
}


class Crash(BaseException):
    """The process dies mid-delivery (not an Exception: no handler in the worker catches it)."""


class FakeSink:
    """A recording platform with declared limits; told to fail or crash per channel."""

    platform = "discord"

    def __init__(self, limits: SinkLimits, refs: str) -> None:
        self.limits = limits
        self.max_batch = limits.batch_size
        self.refs = refs
        self.messages: dict[int, list[tuple[str, list[int], str]]] = defaultdict(list)  # posted
        self.attempts: list[tuple[int, list[int], str]] = []
        self.edits: list[tuple[int, str, list[int]]] = []
        self.notices: list[tuple[Destination, DeliveryProblem]] = []
        self.send_errors: dict[int, list[BaseException]] = defaultdict(list)
        self.edit_errors: list[BaseException] = []
        self.find_errors: list[BaseException] = []
        self.crash_after_post: set[int] = set()
        self.notify_error: Exception | None = None
        self.sent_at: list[float] = []
        self._ids = itertools.count(9000)

    def _ref(self) -> str:
        n = next(self._ids)
        return str(n) if self.refs == "int" else f"msg-{uuid.uuid4().hex[:8]}-{n}"

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return min(len(alerts), self.max_batch)

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        channel_id = int(destination.address)
        story_ids = [a.story.id for a in alerts]
        self.attempts.append((channel_id, story_ids, key))
        self.sent_at.append(time.monotonic())
        if self.send_errors[channel_id]:
            raise self.send_errors[channel_id].pop(0)
        ref = self._ref()
        self.messages[channel_id].append((ref, story_ids, key))
        if channel_id in self.crash_after_post:
            self.crash_after_post.discard(channel_id)
            raise Crash("killed after the POST, before mark_sent")
        return ref

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        assert self.limits.can_edit, "the worker asked a platform that cannot edit to edit"
        if self.edit_errors:
            raise self.edit_errors.pop(0)
        self.edits.append((int(destination.address), message_ref, sorted(a.story.id for a in alerts)))

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        if self.find_errors:
            raise self.find_errors.pop(0)
        return {
            sid: ref
            for ref, ids, _ in self.messages[int(destination.address)][-limit:]
            for sid in ids
            if sid in story_ids
        }

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        self.notices.append((destination, problem))
        if self.notify_error is not None:
            raise self.notify_error

    def posted(self, channel_id: int) -> list[int]:
        """Story ids in the order they appeared in the channel."""
        return [sid for _, ids, _ in self.messages[channel_id] for sid in ids]

    def sizes(self, channel_id: int) -> list[int]:
        return [len(ids) for _, ids, _ in self.messages[channel_id]]


def chunks(n: int, size: int) -> list[int]:
    """Message sizes n alerts make at `size` per message: 25, 10 → [10, 10, 5]."""
    return [min(size, n - i) for i in range(0, n, size)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(db_path, clock=clock)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture(params=list(PROFILES))
def sink(request: pytest.FixtureRequest) -> FakeSink:
    limits, refs = PROFILES[request.param]
    return FakeSink(limits, refs)


@pytest.fixture
def worker(store: Store, sink: FakeSink, clock: Clock) -> DeliveryWorker:
    return DeliveryWorker(store, sink, clock=clock)


_titles = itertools.count(1)


async def queue(store: Store, channel_id: int, n: int, *, guild_id: int = 1) -> list[int]:
    """Subscribe a channel to its own city and store n distinct matching stories; returns story ids."""
    city = f"c{channel_id}-il"
    await store.subscribe(dest(guild_id, channel_id), city, [IMM])
    items = []
    for i in range(n):
        k = next(_titles)
        title = f"Alert {k}: agents seen at site {k * 17 + 3}"
        items.append((article(title, hours_ago=20 - i * 0.1), match((IMM,), (city,))))
    report = await save(store, "f", items)
    assert len(report.new_stories) == n
    return [s.id for s in report.new_stories]


async def statuses(store: Store, channel_id: int) -> list[str]:
    return [row[2] for row in await channel_log(store, channel_id)]


async def due_ids(store: Store, channel_id: int) -> list[int]:
    return [a.delivery_id for a in await store.due_alerts() if a.destination.address == str(channel_id)]


# -- batching and nonces -----------------------------------------------------------------
async def test_25_alerts_go_out_in_messages_of_the_sinks_batch_size(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    story_ids = await queue(store, 100, 25)
    assert await worker.drain_once() == 25
    size = sink.limits.batch_size
    assert sink.sizes(100) == chunks(25, size)
    assert sink.posted(100) == story_ids  # oldest first, nothing twice
    log = await delivery_log_refs(store)
    assert {r[2] for r in log} == {"sent"}
    by_message = defaultdict(list)
    for story_id, _, _, ref in log:
        by_message[ref].append(story_id)
    assert sorted(len(v) for v in by_message.values()) == sorted(chunks(25, size))
    assert set(by_message) == {ref for ref, _, _ in sink.messages[100]}  # the platform's refs, as text
    assert await store.queue_depth() == 0
    assert (worker.sent_messages, worker.sent_alerts) == (len(chunks(25, size)), 25)
    assert await worker.drain_once() == 0
    assert len(sink.attempts) == len(chunks(25, size))


async def test_batch_size_follows_the_sink_and_is_capped(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    await queue(store, 100, 7)
    sink.max_batch = 2  # what fits one message this time (long alerts)
    await worker.drain_once()
    assert sink.sizes(100) == chunks(7, min(2, sink.limits.batch_size))
    await queue(store, 200, 12)
    sink.max_batch = 50  # never more than the declared limit
    await worker.drain_once()
    assert sink.sizes(200) == chunks(12, sink.limits.batch_size)


async def test_send_uses_the_key_of_its_delivery_ids(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    await queue(store, 100, 3)
    ids = [a.delivery_id for a in await store.due_alerts()][: sink.limits.batch_size]
    await worker.drain_once()
    (_, _, key) = sink.messages[100][0]
    assert key == idempotency_key(ids, sink.limits.key_length or 25)
    if sink.limits.key_length:
        assert len(key) <= sink.limits.key_length


def test_idempotency_key() -> None:
    a = idempotency_key([3, 1, 2])
    assert a == idempotency_key([1, 2, 3]) == idempotency_key((2, 3, 1))
    assert 0 < len(a) <= 25
    assert a != idempotency_key([1, 2]) and a != idempotency_key([1, 2, 4])
    assert idempotency_key([12]) != idempotency_key([1, 2])
    assert len(idempotency_key(list(range(10_000)))) <= 25
    assert a.isascii() and a.isalnum()
    assert len(idempotency_key([1], 8)) == 8 and len(idempotency_key([1], 34)) == 34


async def test_sends_are_paced_by_the_declared_rate(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    """n messages at r sends/s end at least (n - 1) / r seconds after the drain began: the
    platform's limit holds.

    Why from the drain's start and not from the first send: the pacer's slots start when the
    drain asks for the first one; a busy machine may run that first send late (the console's
    1000/s slots are 1 ms apart), which shortens the first-to-last span without any send
    coming early (issue 16 item 11: this failed under a parallel run on 2 shared cores)."""
    size = sink.limits.batch_size
    await queue(store, 100, size * 4)
    began = time.monotonic()
    await worker.drain_once()
    assert sink.sizes(100) == [size] * 4
    assert sink.sent_at[-1] - began >= 3 / sink.limits.sends_per_second * 0.95


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
    size = min(5, sink.limits.batch_size)

    original_send = sink.send
    calls = 0

    async def send_then_limit(destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RateLimitedError(5.0)
        return await original_send(destination, alerts, key)

    sink.send = send_then_limit  # type: ignore[method-assign]
    assert await worker.drain_once() == size  # first batch out, second limited, rest not tried
    assert calls == 2
    assert await worker.drain_once() == 0  # the later batches wait with the second, in order
    assert calls == 2
    clock.advance(6)
    assert await worker.drain_once() == 15 - size
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

    async def slow_send(destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        if destination.address == "200":
            await asyncio.sleep(0.05)  # channel 100's global 429 arrives while this is in flight
        return await original_send(destination, alerts, key)

    size = min(5, sink.limits.batch_size)
    sink.send = slow_send  # type: ignore[method-assign]
    first = await worker.drain_once()  # the batch in flight lands; no new batch starts
    assert first in (0, size) and sink.posted(200) == slow[:first]
    clock.advance(61)
    assert await worker.drain_once() == 16 - first
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
    assert len({key for _, _, key in sink.attempts[:3]}) == 1  # every retry with the same key
    assert await store.sending_alerts() == []
    assert await store.attempts([1]) == 3
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
    where, problem = sink.notices[0]
    assert (where.group, where.address) == ("7", "100")
    assert problem.missing == ("Embed Links", "Send Messages")  # the adapter words it
    subs = await store.subscriptions(address="100")
    assert subs and all(s.paused for s in subs)
    for _ in range(3):
        clock.advance(1000)
        await worker.drain_once()
    assert len(sink.notices) == 1
    assert len([a for a in sink.attempts if a[0] == 100]) == 1  # paused: not hammered
    assert await statuses(store, 100) == ["pending"] * 3  # kept
    # permissions fixed, channel resumed: the kept alerts go out once
    sink.send_errors[100].clear()
    await store.resume_destination(await dest_id(store, 100))
    assert await worker.drain_once() == 3
    assert sink.posted(100) == story_ids


async def test_403_repeated_after_resume_notifies_again_and_notify_failure_is_contained(
    store: Store, sink: FakeSink, worker: DeliveryWorker
) -> None:
    await queue(store, 100, 1)
    sink.notify_error = RuntimeError("cannot DM the owner")
    sink.send_errors[100].extend([ForbiddenDeliveryError("HTTP 403")] * 2)
    assert await worker.drain_once() == 0
    assert len(sink.notices) == 1 and sink.notices[0][1].missing == ()
    await store.resume_destination(await dest_id(store, 100))
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
    assert await store.subscriptions(address="100") == []
    assert await statuses(store, 100) == ["sent", "sent"]  # history stays, pending rows gone
    assert len(await store.subscriptions(address="200")) == 1
    assert await worker.drain_once() == 0
    assert len([a for a in sink.attempts if a[0] == 100]) == len(chunks(2, sink.limits.batch_size)) + 1


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
    sink.max_batch = 3  # one message holds all three, whatever the profile
    sink.crash_after_post.add(100)
    with pytest.raises(Crash):
        await worker.drain_once()
    assert await statuses(store, 100) == ["sending"] * 3
    assert len(sink.messages[100]) == 1
    assert await worker.drain_once() == 0  # 'sending' rows are not due: no blind re-send
    restarted = DeliveryWorker(store, sink, clock=clock)
    assert await restarted.reconcile() == 3
    ref = sink.messages[100][0][0]
    assert [(r[2], r[3]) for r in await delivery_log_refs(store)] == [("sent", ref)] * 3
    clock.advance(3600)
    assert await restarted.drain_once() == 0
    assert sink.posted(100) == story_ids  # once


async def test_crash_before_post_is_resent_once_with_the_same_key(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    story_ids = await queue(store, 100, 2)
    await queue(store, 200, 1)
    ids = (await due_ids(store, 100))[: sink.limits.batch_size]
    key = idempotency_key(ids, sink.limits.key_length or 25)
    await store.mark_sending(ids, key)  # the process died right after this write
    restarted = DeliveryWorker(store, sink, clock=clock)
    assert await restarted.reconcile() == 0
    assert await statuses(store, 100) == ["pending", "pending"]
    assert await restarted.drain_once() == 3
    assert sink.posted(100) == story_ids
    assert sink.messages[100][0][2] == key
    assert await restarted.reconcile() == 0
    assert await restarted.drain_once() == 0
    assert sink.posted(100) == story_ids


async def test_reconcile_when_the_adapter_fails(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    await queue(store, 100, 1)
    await queue(store, 200, 1)
    for channel in (100, 200):
        await store.mark_sending(await due_ids(store, channel), "n")
    sink.find_errors.extend([TransientDeliveryError("HTTP 500"), ChannelGoneError("404")])
    assert await worker.reconcile() == 0
    assert await statuses(store, 100) == ["pending"]  # kept, retried later
    assert await channel_log(store, 200) == [] and await store.subscriptions(address="200") == []
    assert await worker.drain_once() == 0
    clock.advance(10)
    assert await worker.drain_once() == 1


# -- edits -------------------------------------------------------------------------------
async def test_new_outlet_edits_the_whole_message(
    store: Store, sink: FakeSink, worker: DeliveryWorker
) -> None:
    story_ids = await queue(store, 100, 3)
    sink.max_batch = 3
    await worker.drain_once()
    (ref, _, _), = sink.messages[100]
    first = await store.story(story_ids[0])
    assert first is not None
    await save(store, "f", [(article(first.title, source="WGN"), match((IMM,), first.cities))])
    await worker.drain_once()
    if sink.limits.can_edit:
        assert sink.edits == [(100, ref, story_ids)]
    else:
        assert sink.edits == []  # a platform that cannot edit: the alert stands as sent
    assert len(sink.messages[100]) == 1  # never re-posted
    await worker.drain_once()
    assert len(sink.edits) == (1 if sink.limits.can_edit else 0)
    assert await store.queue_depth() == 0


async def test_edit_rate_limited_is_retried_and_forbidden_is_dropped(
    store: Store, sink: FakeSink, worker: DeliveryWorker, clock: Clock
) -> None:
    if not sink.limits.can_edit:
        pytest.skip("this platform cannot edit: nothing to retry")
    story_ids = await queue(store, 100, 1)
    await worker.drain_once()
    first = await store.story(story_ids[0])
    assert first is not None
    await save(store, "f", [(article(first.title, source="WGN"), match((IMM,), first.cities))])
    sink.edit_errors.append(RateLimitedError(20.0))
    await worker.drain_once()
    assert sink.edits == []
    await worker.drain_once()
    assert sink.edits == []  # waits out the limit
    clock.advance(21)
    await worker.drain_once()
    assert len(sink.edits) == 1
    await save(store, "f", [(article(first.title, source="WTTW"), match((IMM,), first.cities))])
    sink.edit_errors.append(ForbiddenDeliveryError("403"))
    await worker.drain_once()
    assert len(sink.edits) == 1 and await store.queue_depth() == 0  # a courtesy: given up


async def test_run_reconciles_drains_and_stops(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    story_ids = await queue(store, 100, 2)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, interval=60))
    await wait_idle(store)
    assert sink.posted(100) == story_ids
    more = await queue(store, 100, 1)
    worker.wake()  # no 60 s wait: the wake-up drains it
    await wait_idle(store)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert sink.posted(100) == story_ids + more


async def wait_idle(store: Store, timeout: float = 10.0) -> None:
    """Wait until the outbox holds nothing undelivered (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while await store.queue_depth():
        assert time.monotonic() < deadline, "the outbox never went idle"
        await asyncio.sleep(0.01)


async def delivery_log_refs(store: Store) -> list[tuple[int, str, str, str | None]]:
    from tests.store.helpers import delivery_log

    return await delivery_log(store)


async def test_drain_until_idle_sends_everything_due(store: Store, sink: FakeSink, worker: DeliveryWorker) -> None:
    a = await queue(store, 100, 7)
    b = await queue(store, 200, 2)
    assert await worker.drain_until_idle() == 9
    assert sink.posted(100) == a and sink.posted(200) == b
    assert await worker.drain_until_idle() == 0
