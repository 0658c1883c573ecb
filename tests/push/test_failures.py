"""Push failures against real receivers: 500s, timeouts, connection refused, accept-then-close.

Each failure must be retried with backoff, be visible as the destination's last_error (one
clean line, no URL), and the alert must finally arrive exactly once (per idempotency key).
After `pause_after_failures` failed attempts the destination is paused with a reason; a sink
whose limits keep 0 (Discord's) is never paused for transient errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.adapters.discordbot.sink import LIMITS as DISCORD_LIMITS
from bot.adapters.push import LIMITS, ApprisePushSink, destination
from bot.delivery import DeliveryProblem, DeliveryWorker, SinkLimits
from bot.errors import TransientDeliveryError
from bot.models import Alert, Destination
from bot.store import Store
from tests.push.conftest import JSON_PASSWORD
from tests.push.receivers import AcceptThenClose, HookReceiver, free_port
from tests.store.helpers import CHI, IMM, Clock, article, match, save


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "push.sqlite3", clock=Clock())
    yield s
    await s.close()


async def setup(store: Store, url: str, title: str = "ICE agents detain two in Pilsen") -> DeliveryWorker:
    await store.subscribe(destination(url), CHI, (IMM,))
    await save(store, "https://feed.example/a", [(article(title), match((IMM,), (CHI,)))])
    return DeliveryWorker(store, ApprisePushSink(), clock=store.clock)


async def state(store: Store) -> tuple[str | None, bool, str | None]:
    [d] = await store.destinations(platform="apprise")
    return d.last_error, d.paused, d.pause_reason


async def retry_later(store: Store, worker: DeliveryWorker) -> int:
    """Move the clock past the backoff and drain again."""
    assert isinstance(store.clock, Clock)
    store.clock.advance(3600)
    return await worker.drain_until_idle()


async def test_500s_are_retried_with_backoff_and_delivered_once(store: Store) -> None:
    async with HookReceiver() as hook:
        hook.plan = ["500", "503"]
        worker = await setup(store, hook.url("json", auth=f"user:{JSON_PASSWORD}"))
        assert await worker.drain_until_idle() == 0
        error, paused, _ = await state(store)
        assert error is not None and error.startswith("push failed:") and "500" in error
        assert "127.0.0.1" not in error and "://" not in error and "\n" not in error
        assert not paused
        assert await worker.drain_until_idle() == 0, "backoff: not retried before its time"
        assert len(hook.received) == 1
        assert await retry_later(store, worker) == 0  # the 503
        assert await retry_later(store, worker) == 1
        assert len(hook.received) == 3
        assert len(set(hook.keys())) == 1, "every attempt carried the same idempotency key"
        assert len(hook.delivered_once()) == 1
        assert await store.queue_depth() == 0
        assert await retry_later(store, worker) == 0 and len(hook.received) == 3


async def test_a_timeout_is_retried_and_the_key_lets_the_receiver_drop_the_repeat(store: Store) -> None:
    async with HookReceiver() as hook:
        hook.plan = ["delay:2.5"]
        worker = await setup(store, hook.url("json", query="rto=0.5"))
        assert await worker.drain_until_idle() == 0
        error, _, _ = await state(store)
        assert error is not None and "push failed" in error
        assert await retry_later(store, worker) == 1
        # the slow first request did arrive: the receiver drops it by key
        assert len(hook.received) == 2
        assert len(hook.delivered_once()) == 1


async def test_connection_refused_then_the_receiver_comes_up(store: Store) -> None:
    port = free_port()
    worker = await setup(store, f"json://127.0.0.1:{port}/hook")
    assert await worker.drain_until_idle() == 0
    error, _, _ = await state(store)
    assert error is not None and "onnection" in error
    async with HookReceiver(port) as hook:
        assert await retry_later(store, worker) == 1
        assert len(hook.received) == 1


async def test_a_receiver_that_accepts_then_closes(store: Store) -> None:
    async with AcceptThenClose() as server:
        worker = await setup(store, f"json://127.0.0.1:{server.port}/hook")
        assert await worker.drain_until_idle() == 0
        assert server.connections >= 1
        error, _, _ = await state(store)
        assert error is not None and error.startswith("push failed")
    async with HookReceiver(server.port) as hook:
        assert await retry_later(store, worker) == 1
        assert len(hook.received) == 1 and len(hook.delivered_once()) == 1


async def test_a_destination_that_keeps_failing_is_paused_with_a_reason_not_dropped(store: Store) -> None:
    async with HookReceiver() as hook:
        hook.plan = ["500"] * 50
        worker = await setup(store, hook.url("json"))
        attempts = 0
        while True:
            await worker.drain_until_idle()
            attempts += 1
            _, paused, reason = await state(store)
            if paused or attempts > 20:
                break
            await retry_later(store, worker)
        assert paused
        assert len(hook.received) == LIMITS.pause_after_failures
        assert reason is not None and reason.startswith(f"paused after {LIMITS.pause_after_failures} failed attempts")
        assert "127.0.0.1" not in reason
        assert await store.queue_depth() == 1, "the alert is kept while paused"
        before = len(hook.received)
        await retry_later(store, worker)
        assert len(hook.received) == before, "a paused destination is not tried"
        # the owner fixes it and resumes (`subscriptions test` or add again): the alert goes out once
        hook.plan = []
        [d] = await store.destinations(platform="apprise")
        await store.resume_destination(d.id)
        assert await worker.drain_until_idle() == 1
        assert await store.queue_depth() == 0


class AlwaysDown:
    """A sink whose platform is always briefly down (the shape of tests/test_delivery.py's)."""

    platform = "discord"

    def __init__(self, limits: SinkLimits) -> None:
        self.limits = limits
        self.calls = 0

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return min(len(alerts), self.limits.batch_size)

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        self.calls += 1
        raise TransientDeliveryError("503 from the platform")

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        raise AssertionError("no edits here")

    async def find_sent(self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100) -> dict[int, str]:
        return {}

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        raise AssertionError("transient errors are not a problem to notify")


@pytest.mark.parametrize("limits", [DISCORD_LIMITS, SinkLimits(batch_size=3, pause_after_failures=3)],
                         ids=["discord-never-pauses", "opt-in-3"])
async def test_pause_after_failures_is_opt_in(store: Store, limits: SinkLimits) -> None:
    assert DISCORD_LIMITS.pause_after_failures == 0
    await store.subscribe(Destination("discord", "42", "7"), CHI, (IMM,))
    await save(store, "https://feed.example/b", [(article("ICE raid in Pilsen"), match((IMM,), (CHI,)))])
    sink = AlwaysDown(limits)
    worker = DeliveryWorker(store, sink, clock=store.clock)
    for _ in range(12):
        await worker.drain_until_idle()
        assert isinstance(store.clock, Clock)
        store.clock.advance(3600)
    [d] = await store.destinations()
    if limits.pause_after_failures:
        assert d.paused and sink.calls == 3
        assert d.pause_reason == "paused after 3 failed attempts; last error: 503 from the platform"
    else:
        assert not d.paused and sink.calls == 12
    assert await store.queue_depth() == 1
