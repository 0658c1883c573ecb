"""One poll cycle: fetch due feeds, parse and classify off the loop, store, schedule the next check.

Why parsing and classifying run together in a worker process: feedparser is pure Python and
a large feed takes tens of milliseconds; on the event loop that would stall Discord heartbeats
and interaction replies (which must answer within 3 s). A process pool also uses both cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from bot.assembly import StoryAssembler
from bot.clock import SYSTEM_CLOCK, Clock
from bot.ingest.budget import RequestSchedule
from bot.ingest.fetch import Fetcher, one_line
from bot.ingest.worker import ProcessedFeed, process_feed_body, warm_worker, worker_pool
from bot.models import FeedConfig, FeedState, FetchResult, Story
from bot.ports import FeedStore, MetaStore, StoryStore
from bot.settings import Settings
from bot.stories import prime

log = logging.getLogger(__name__)


class PollerStore(FeedStore, StoryStore, MetaStore, Protocol):
    """The storage a poll cycle needs: feeds, stories, the last-cycle note."""

    async def postpone_feed(self, url: str, at: float) -> None: ...


PARSE_TIMEOUT = 60.0


def make_executor(settings: Settings) -> ProcessPoolExecutor:
    return worker_pool(settings.parse_workers or os.cpu_count() or 2)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    url: str
    name: str | None
    status: int | None
    items: int = 0
    new_articles: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    error: str | None = None
    not_modified: bool = False
    unchanged: bool = False


@dataclass(slots=True)
class CycleReport:
    started: float
    finished: float = 0.0
    feeds: list[FeedOutcome] = field(default_factory=list)
    new_stories: list[Story] = field(default_factory=list)
    # ids gathered during the cycle; new_stories is loaded once at its end (holding every new
    # Story through a 1,000-feed cold cycle, then reloading them all, doubled the peak memory)
    new_story_ids: list[int] = field(default_factory=list)
    alerts_queued: int = 0
    # new stories made only of undated items from a feed's first fetch: stored, not alerted,
    # and not printed by `poll --once` without --all (their age is unknown)
    backlog_story_ids: set[int] = field(default_factory=set)

    @property
    def new_story_count(self) -> int:
        """New stories of the cycle, whether or not they were loaded (`poll_once(stories=...)`)."""
        return len(self.new_story_ids)

    @property
    def failed(self) -> list[FeedOutcome]:
        return [f for f in self.feeds if f.error]


def _ignore_result(future: Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: a failed warm-up is not logged as "never retrieved"


class Poller:
    def __init__(
        self,
        store: PollerStore,
        fetcher: Fetcher,
        settings: Settings,
        executor: Executor | None = None,
        *,
        assembler: StoryAssembler | None = None,
        on_saved: Callable[[], None] | None = None,
        guild_fetcher: Fetcher | None = None,
        clock: Clock = SYSTEM_CLOCK,
        schedule: RequestSchedule | None = None,
    ) -> None:
        self.store = store
        # Per-host request budgets (config/coverage.toml): a feed on a budgeted host is fetched
        # at its slot, or postponed to its estimated slot when none is free within a tick.
        self.schedule = schedule
        self.clock = clock
        # Owns the cluster index; the app loads it from the store before the first cycle.
        self.assembler = assembler or StoryAssembler(clock)
        self.fetcher = fetcher
        # Feeds that only servers added (any admin can type any URL) are fetched with the
        # private-address guard unless the operator allows private feeds. None: the poller
        # opens a guarded Fetcher (same limits) for the cycles that need one.
        self.guild_fetcher = guild_fetcher
        self.settings = settings
        self.executor = executor
        self.on_saved = on_saved
        self.last_report: CycleReport | None = None
        self._cycle_lock = asyncio.Lock()
        # Feeds between "fetch started" and "saved": without a bound a 1,000-feed cycle fetched
        # every body long before the worker pool could parse them, holding them all in memory.
        self._in_flight = asyncio.Semaphore(max(1, settings.fetch_concurrency))
        self._warmed = False

    def _warm(self) -> None:
        """Start the parse workers and their classifier loads now, while feeds are fetched.

        Why: spawned workers start on the first parse, then spend about a second importing
        and loading the classifier while that feed waits; a cron `poll --once` paid it on its
        critical path. Once per poller, only for a process pool; failures are the first real
        parse's to report.
        """
        if self._warmed or not isinstance(self.executor, ProcessPoolExecutor):
            return
        self._warmed = True
        workers = self.settings.parse_workers or os.cpu_count() or 2
        for _ in range(workers):
            try:
                future = self.executor.submit(warm_worker, str(self.settings.config_dir))
            except RuntimeError:  # shut down meanwhile
                return
            future.add_done_callback(_ignore_result)

    async def poll_once(
        self, feeds: Sequence[FeedConfig] | None = None, *, only_due: bool = False, stories: bool = True
    ) -> CycleReport:
        """Poll every active feed (or only the due ones). A failing feed never stops the others.

        `stories`: load the cycle's new stories into the report (`poll --once` prints them).
        The service only counts them (`new_story_count`): a 1,000-feed cold cycle makes tens
        of thousands, whose objects were about a quarter of its peak memory (issue 15).
        """
        async with self._cycle_lock, contextlib.AsyncExitStack() as stack:
            report = CycleReport(started=self.clock.now())
            if feeds is not None:
                await self.store.sync_feeds(feeds)
            states = await (self.store.due_feeds() if only_due else self.store.feed_states())
            states = [s for s in states if not s.disabled]
            if states:
                self._warm()
            guild_only = await self.store.guild_only_urls() if states else set()
            guarded = self.fetcher
            if any(s.url in guild_only for s in states):
                guarded = await self._guarded_fetcher(stack)
            slots = await self._slots(states)
            states = [s for s in states if s.url in slots]
            outcomes = await asyncio.gather(
                *(self._poll_feed(state, report, guarded if state.url in guild_only else self.fetcher,
                                  at=slots[state.url])
                  for state in states)
            )
            report.feeds.extend(outcomes)
            if stories and report.new_story_ids:  # as they stand after the whole cycle (later feeds may join them)
                report.new_stories = await self.store.stories(report.new_story_ids)
            report.finished = self.clock.now()
            self.last_report = report
            await self.store.set_meta(
                "last_cycle",
                f'{{"finished": {report.finished:.0f}, "feeds": {len(outcomes)}, '
                f'"failed": {len(report.failed)}, "new_stories": {report.new_story_count}}}',
            )
            return report

    async def _slots(self, states: Sequence[FeedState]) -> dict[str, float | None]:
        """When each feed may be fetched this cycle (None: now). Feeds on a budgeted host with
        no free slot within a tick are left out and their next check moves to the estimated
        slot, so a burst of due feeds becomes an even pace across the following ticks."""
        if self.schedule is None or not self.schedule.budgets:
            return {s.url: None for s in states}
        out: dict[str, float | None] = {}
        waiting: dict[str, int] = {}
        horizon = max(1.0, float(self.settings.tick_seconds))
        for state in sorted(states, key=lambda s: s.next_check.timestamp() if s.next_check else 0.0):
            budget = self.schedule.budget_for(state.url)
            if budget is None:
                out[state.url] = None
                continue
            slot = self.schedule.reserve(state.url, within=horizon)
            if slot is not None:
                out[state.url] = slot
                continue
            position = waiting.get(budget.host, 0)
            waiting[budget.host] = position + 1
            await self.store.postpone_feed(state.url, self.schedule.estimate(state.url, position))
        return out

    async def _guarded_fetcher(self, stack: contextlib.AsyncExitStack) -> Fetcher:
        """The fetcher for server-added feeds: refuses internal addresses unless allowed."""
        if self.guild_fetcher is not None:
            return self.guild_fetcher
        if self.settings.allow_private_feeds or not self.fetcher.allow_private:
            return self.fetcher
        return await stack.enter_async_context(Fetcher(self.fetcher.limits, allow_private=False))

    async def _poll_feed(
        self, state: FeedState, report: CycleReport, fetcher: Fetcher | None = None, *, at: float | None = None
    ) -> FeedOutcome:
        if at is not None:  # the host's budget gave this fetch a slot: wait for it
            delay = at - self.clock.now()
            if delay > 0:
                await asyncio.sleep(delay)
        async with self._in_flight:
            started = time.monotonic()
            try:
                result = await (fetcher or self.fetcher).fetch(
                    state.url, etag=state.etag, last_modified=state.last_modified
                )
                return await self._handle(state, result, report, started)
            except Exception as exc:  # contained: one feed's bug must not end the cycle
                log.exception("feed poll crashed", extra={"feed": state.url})
                error = f"internal error: {type(exc).__name__}"
                await self._record_failure(state, None, error, None)
                return FeedOutcome(state.url, state.name, None, error=error, elapsed=time.monotonic() - started)

    async def _handle(self, state: FeedState, result: FetchResult, report: CycleReport, started: float) -> FeedOutcome:
        size = len(result.body or b"")
        if result.error is not None or result.status is None or result.status >= 400:
            error = result.error or f"HTTP {result.status}"
            await self._record_failure(state, result.status, error, result.retry_after)
            log.warning("feed failed", extra={"feed": state.url, "status": result.status, "error": error})
            return FeedOutcome(state.url, state.name, result.status, bytes=size, error=error,
                               elapsed=time.monotonic() - started)
        next_check = self._next_check(state, result.max_age)
        if result.not_modified:
            await self.store.record_fetch(state.url, status=result.status, error=None, next_check=next_check)
            return FeedOutcome(state.url, state.name, result.status, not_modified=True,
                               elapsed=time.monotonic() - started)
        body = result.body or b""
        body_hash = hashlib.sha256(body).hexdigest()
        if body_hash == state.body_hash:
            await self.store.record_fetch(
                state.url, status=result.status, error=None, next_check=next_check,
                etag=result.etag, last_modified=result.last_modified,
            )
            return FeedOutcome(state.url, state.name, result.status, bytes=size, unchanged=True,
                               elapsed=time.monotonic() - started)
        processed = await self._process(state, result, body)
        if not processed.is_feed:
            error = f"not a feed ({processed.bozo or 'no entries'})"
            await self._record_failure(state, result.status, error, None)
            return FeedOutcome(state.url, state.name, result.status, bytes=size, error=error,
                               elapsed=time.monotonic() - started)
        prime(processed.headlines)  # the workers' signatures, so the store thread need not compute them
        items = processed.items
        if state.body_hash is None:  # the feed's first successful fetch
            items = tuple(
                (dataclasses.replace(a, backlog=True), m) if not a.published_known else (a, m) for a, m in items
            )
        saved = await self.assembler.save(self.store, state.url, items)
        report.new_story_ids.extend(s.id for s in saved.new_stories)
        report.backlog_story_ids.update(saved.backlog_story_ids)
        report.alerts_queued += saved.alerts_queued
        await self.store.record_fetch(
            state.url, status=result.status, error=None, next_check=next_check, etag=result.etag,
            last_modified=result.last_modified, body_hash=body_hash, items=len(processed.items),
        )
        if saved.alerts_queued and self.on_saved is not None:
            self.on_saved()
        return FeedOutcome(state.url, state.name, result.status, items=len(processed.items),
                           new_articles=saved.new_articles, bytes=size, elapsed=time.monotonic() - started)

    async def _process(self, state: FeedState, result: FetchResult, body: bytes) -> ProcessedFeed:
        loop = asyncio.get_running_loop()
        args = (body, result.final_url or state.url, dict(result.headers), state.name, state.city,
                str(self.settings.config_dir), state.lang)
        future = loop.run_in_executor(self.executor, process_feed_body, *args)
        return await asyncio.wait_for(future, PARSE_TIMEOUT)

    def _interval(self, state: FeedState) -> float:
        return float(state.interval or self.settings.poll_interval)

    def _next_check(self, state: FeedState, max_age: float | None) -> float:
        delay = self._interval(state)
        if max_age:
            delay = max(delay, min(max_age, float(self.settings.max_cache_age)))
        return self.clock.now() + delay

    async def _record_failure(self, state: FeedState, status: int | None, error: str, retry_after: float | None) -> None:
        errors = state.consecutive_errors + 1
        delay = min(float(self.settings.max_backoff), self._interval(state) * (2 ** min(errors - 1, 10)))
        if retry_after:
            delay = max(delay, min(retry_after, float(self.settings.max_backoff)))
        disable = "410 Gone: the publisher removed this feed" if status == 410 else None
        await self.store.record_fetch(
            state.url, status=status, error=one_line(error), next_check=self.clock.now() + delay, disable_reason=disable
        )
