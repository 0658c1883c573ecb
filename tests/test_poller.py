"""One poll cycle in-process: real store, real fetcher, real worker processes, loopback HTTP."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ingest.fetch import Fetcher
from bot.models import FeedConfig
from bot.poller import Poller
from bot.settings import Settings
from bot.store import Store
from tests.feedserver import FeedServer


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    yield s
    await s.close()


@pytest.fixture
def settings(db_path: Path) -> Settings:
    return Settings(db_path=db_path, parse_workers=2, poll_interval=300)


class CountingPool(ProcessPoolExecutor):
    """The real process pool, counting what is handed to it (an instrument, not a mock)."""

    def __init__(self, workers: int) -> None:
        super().__init__(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        self.submitted: list[str] = []

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.submitted.append(fn.__name__)
        return super().submit(fn, *args, **kwargs)


async def test_parsing_stays_off_the_event_loop_during_a_50_feed_cycle(
    store: Store, settings: Settings, real_feeds_dir: Path
) -> None:
    """Every body goes to the worker processes, and the loop keeps ticking meanwhile.

    Parsing and classifying these 50 documents takes seconds of CPU; on the loop that would
    show up as seconds of blocked time. The pool count proves where the work went.
    """
    big = ["time-world-wp-rss.xml", "guardian-uk-rss.xml", "hindu-news-rss.xml", "economist-asia-rss.xml"]
    async with FeedServer() as server:
        feeds = [FeedConfig(url=server.url(f"/real/{p.name}")) for p in sorted(real_feeds_dir.glob("*.xml"))]
        for i in range(50 - len(feeds)):
            body = (real_feeds_dir / big[i % len(big)]).read_bytes()
            # a distinct body per copy: identical bodies would be deduplicated, not parsed
            feeds.append(FeedConfig(url=server.set_body(f"/dyn/copy{i}.xml", body + f"<!-- {i} -->".encode())))
        assert len(feeds) == 50
        pool = CountingPool(2)
        gaps: list[tuple[float, float]] = []  # (wall, CPU of the loop's thread) between ticks
        stop = asyncio.Event()

        async def ticker() -> None:
            last, last_cpu = time.perf_counter(), time.thread_time()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now, cpu = time.perf_counter(), time.thread_time()
                gaps.append((now - last, cpu - last_cpu))
                last, last_cpu = now, cpu

        try:
            async with Fetcher() as fetcher:
                poller = Poller(store, fetcher, settings, pool)
                tick = asyncio.create_task(ticker())
                report = await poller.poll_once(feeds)
                stop.set()
                await tick
        finally:
            pool.shutdown()
    assert len(report.feeds) == 50
    assert not report.failed, [(f.url, f.error) for f in report.failed]
    assert (await store.counts())["articles"] > 2000
    # one warm-up per worker first (the classifier loads while feeds are fetched), then every body
    assert pool.submitted == ["warm_worker"] * 2 + ["process_feed_body"] * 50
    # Work done on the loop's own thread inside long gaps: parsing on the loop would be seconds
    # of it. Wall time alone would also count a busy machine starving the process (a test must
    # not depend on an idle machine), so the loop thread's CPU time is what is summed.
    blocked = sum(cpu for wall, cpu in gaps if wall > 0.05)
    longest = max(wall for wall, _ in gaps)
    assert blocked < 1.0, f"the loop's thread worked {blocked:.2f}s in long gaps (max gap {longest:.3f}s)"


async def test_failing_feed_does_not_stop_the_others_and_backs_off(store: Store, settings: Settings) -> None:
    async with FeedServer() as server:
        good = server.set_feed("/dyn/good.xml", items=[{"title": "ICE raid in Pilsen", "link": "https://x.test/1",
                                                         "guid": "1", "pubDate": datetime.now(UTC)}])
        bad = server.url("/hostile/status/500")
        gone = server.url("/hostile/status/410")
        limited = server.url("/hostile/status/429?retry_after=1200")
        async with Fetcher() as fetcher:
            poller = Poller(store, fetcher, settings, None)  # default thread executor is fine here
            report = await poller.poll_once([FeedConfig(url=u) for u in (good, bad, gone, limited)])
    by_url = {f.url: f for f in report.feeds}
    assert by_url[good].error is None and by_url[good].items == 1
    assert by_url[bad].error and by_url[gone].error and by_url[limited].error
    states = {s.url: s for s in await store.feed_states()}
    assert states[bad].consecutive_errors == 1 and states[bad].last_status == 500
    assert states[gone].disabled and "410" in (states[gone].disabled_reason or "")
    assert states[limited].next_check is not None
    assert states[limited].next_check.timestamp() >= time.time() + 1100  # Retry-After honoured
    due = {s.url for s in await store.due_feeds(time.time() + 400)}
    assert good in due and bad in due and gone not in due and limited not in due


async def test_conditional_get_and_identical_body_skip_parsing(store: Store, settings: Settings) -> None:
    async with FeedServer() as server:
        url = server.set_feed("/dyn/a.xml", items=[{"title": "One", "link": "https://x.test/1", "guid": "1"}])
        async with Fetcher() as fetcher:
            poller = Poller(store, fetcher, settings, None)
            first = await poller.poll_once([FeedConfig(url=url)])
            second = await poller.poll_once()
    assert first.feeds[0].items == 1
    assert second.feeds[0].not_modified


async def test_the_service_cycle_counts_new_stories_without_loading_them(
    store: Store, settings: Settings, real_feeds_dir: Path
) -> None:
    """`stories=False` (the service's and `run --once`'s cycle): the report counts the new
    stories but holds no Story objects — at 1,000 feeds they were a quarter of the peak memory.
    The default (poll --once prints them) still loads every one."""
    names = ["guardian-uk-rss.xml", "hindu-news-rss.xml"]
    async with FeedServer() as server, Fetcher() as fetcher:
        feeds = [FeedConfig(url=server.url(f"/real/{n}")) for n in names]
        poller = Poller(store, fetcher, settings)  # parsing in-process: this test is about the report
        counted = await poller.poll_once(feeds[:1], stories=False)
        loaded = await poller.poll_once(feeds[1:])
    assert counted.new_story_count > 10 and counted.new_stories == []
    assert loaded.new_story_count == len(loaded.new_stories) > 10
    assert [s.id for s in loaded.new_stories] == sorted(loaded.new_story_ids)
    assert f'"new_stories": {loaded.new_story_count}' in (await store.get_meta("last_cycle") or "")
