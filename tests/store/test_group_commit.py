"""StoryAssembler's group commit: feeds queued behind a running save share one transaction.

The store below is the real SQLite store with a gate in front of `save_feeds`: it holds each
transaction until the test opens that transaction's gate (a slow database), so the queue
that forms behind it is deterministic. What is stored is checked in the real database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from bot.assembly import (
    GROUP_FEEDS,
    AssemblyBatch,
    FeedItems,
    SaveInterrupted,
    SaveReport,
    StoryAssembler,
)
from bot.store import Store
from tests.store.helpers import article, match


class GatedStore(Store):
    """Records each transaction's feeds and waits for its gate before running it."""

    groups: list[list[str]]
    gates: list[asyncio.Event]

    async def save_feeds(self, feeds: Sequence[FeedItems], assembly: AssemblyBatch) -> tuple[SaveReport, ...]:
        self.groups.append([url for url, _ in feeds])
        await self.gates[len(self.groups) - 1].wait()
        return await super().save_feeds(feeds, assembly)


async def _open(path: Path, gates: int) -> tuple[GatedStore, StoryAssembler]:
    store = await GatedStore.open(path)
    store.groups, store.gates = [], [asyncio.Event() for _ in range(gates)]
    assembler = StoryAssembler(store.clock)
    await assembler.load(store)
    return store, assembler


async def _until(cond: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


def _feed(i: int) -> FeedItems:
    url = f"https://feed{i}.example/rss"
    return url, [(article(f"Story number {i} about ICE in Chicago ward {i}", feed_url=url), match())]


async def test_feeds_queued_behind_a_save_share_the_next_transaction(db_path: Path) -> None:
    store, assembler = await _open(db_path, 4)
    try:
        n = GROUP_FEEDS + 3  # the first alone, then one full group, then the rest
        tasks = [asyncio.create_task(assembler.save(store, *_feed(i))) for i in range(n)]
        await _until(lambda: len(store.groups) == 1, "the first transaction")
        for gate in store.gates:
            gate.set()
        reports = await asyncio.gather(*tasks)
        assert [len(g) for g in store.groups] == [1, GROUP_FEEDS, 2]
        assert [g for group in store.groups for g in group] == [_feed(i)[0] for i in range(n)]  # in order
        assert [len(r.new_stories) for r in reports] == [1] * n
        assert [r.new_stories[0].title for r in reports] == [f"Story number {i} about ICE in Chicago ward {i}" for i in range(n)]
        assert await store.counts() == {"articles": n, "stories": n, "feeds": 0}
    finally:
        await store.close()


async def test_a_lone_feed_is_stored_at_once(db_path: Path) -> None:
    store, assembler = await _open(db_path, 2)
    try:
        for gate in store.gates:
            gate.set()
        await assembler.save(store, *_feed(1))
        await assembler.save(store, *_feed(2))
        assert store.groups == [[_feed(1)[0]], [_feed(2)[0]]]
    finally:
        await store.close()


async def test_a_cancelled_group_save_tells_the_feeds_it_carried(db_path: Path) -> None:
    """The task whose turn it was is cancelled mid-group: the other feeds of its group get a
    SaveInterrupted (their poll records a failure and they are fetched again), nothing of the
    group is stored, and the next save works."""
    store, assembler = await _open(db_path, 3)
    try:
        tasks = [asyncio.create_task(assembler.save(store, *_feed(i))) for i in range(3)]
        await _until(lambda: len(store.groups) == 1, "the first transaction")
        store.gates[0].set()
        await _until(lambda: len(store.groups) == 2, "the group of the two queued feeds")
        assert store.groups[1] == [_feed(1)[0], _feed(2)[0]]
        tasks[1].cancel()  # it holds the turn: its save carries feed 2 too
        first, cancelled, carried = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(first, SaveReport) and len(first.new_stories) == 1
        assert isinstance(cancelled, asyncio.CancelledError)
        assert isinstance(carried, SaveInterrupted)
        assert "stored again next cycle" in carried.user_message
        assert await store.counts() == {"articles": 1, "stories": 1, "feeds": 0}
        store.gates[2].set()
        again = await assembler.save(store, *_feed(2))
        assert len(again.new_stories) == 1
    finally:
        await store.close()


@pytest.mark.parametrize("waiting", [0, 1])
async def test_a_save_cancelled_while_queued_is_not_stored(db_path: Path, waiting: int) -> None:
    store, assembler = await _open(db_path, 2)
    try:
        first = asyncio.create_task(assembler.save(store, *_feed(0)))
        await _until(lambda: len(store.groups) == 1, "the first transaction")
        queued = [asyncio.create_task(assembler.save(store, *_feed(i))) for i in (1, 2)]
        await asyncio.sleep(0)
        queued[waiting].cancel()
        await asyncio.sleep(0)
        for gate in store.gates:
            gate.set()
        outcomes = await asyncio.gather(first, *queued, return_exceptions=True)
        assert isinstance(outcomes[1 + waiting], asyncio.CancelledError)
        kept = 2 - waiting
        assert store.groups == [[_feed(0)[0]], [_feed(kept)[0]]]
        assert await store.counts() == {"articles": 2, "stories": 2, "feeds": 0}
    finally:
        await store.close()
