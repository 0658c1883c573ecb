"""The one composition root: every adapter and CLI command gets its resources from `App`.

Why one: the console service, the Discord client and the CLI used to open and close the store,
fetchers, classifier and worker pool each in their own way. `open_app(settings)` opens them
once, in the right order, inside the running loop (APScheduler and aiohttp need it), and
closes them in reverse; adapters add their sinks and the app runs one delivery worker per sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.assembly import StoryAssembler
from bot.clock import SYSTEM_CLOCK, Clock
from bot.coverage import Coverage
from bot.delivery import AlertSink, DeliveryWorker
from bot.errors import ConfigError
from bot.fanout import FanoutPolicy
from bot.ingest.budget import RequestSchedule
from bot.ingest.fetch import Fetcher, fetch_limits
from bot.models import Destination, FeedConfig
from bot.poller import CycleReport, Poller, make_executor
from bot.ports import Storage
from bot.relevance import Classifier, Gazetteer, load_classifier
from bot.settings import Settings, load_coverage, load_feeds
from bot.store import open_store

log = logging.getLogger(__name__)

PRUNE_AFTER_DAYS = 180


@dataclass
class App:
    """Open resources of one running bot (or one CLI command)."""

    settings: Settings
    clock: Clock
    store: Storage
    classifier: Classifier
    fetcher: Fetcher
    guild_fetcher: Fetcher
    executor: ProcessPoolExecutor
    poller: Poller
    workers: dict[str, DeliveryWorker] = field(default_factory=dict)
    scheduler: AsyncIOScheduler | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    coverage: Coverage | None = None  # managed feeds for subscribed cities (bot/coverage.py)

    @property
    def gazetteer(self) -> Gazetteer:
        return self.classifier.gazetteer

    def city_label(self, city_id: str) -> str:
        city = self.gazetteer.get(city_id)
        return city.label if city is not None else city_id

    # -- destinations outside any chat platform ---------------------------------------
    async def sync_destinations(self) -> tuple[int, int]:
        """config/destinations.toml into the database; (subscriptions in the file, removed)."""
        from bot import actions
        from bot.settings import load_destinations

        entries = load_destinations(self.settings.destinations_file, self.classifier.topics.ids)
        for entry in entries:  # scrub the file's URLs before validation could mention them
            if entry.url.lower() != "console":
                watch_push_url(entry.url)
        return await actions.sync_destinations(
            self.store, self.gazetteer, entries, make_destination, coverage=self.coverage
        )

    async def add_push_sinks(self, *, console: bool | None = None) -> None:
        """Deliver push (Apprise) destinations, and the console when it has subscriptions (or
        when `console` says so): every way of running delivers them, Discord mode included."""
        from bot.adapters.console import ConsoleSink
        from bot.adapters.push import ApprisePushSink

        for state in await self.store.destinations(platform="apprise"):
            watch_push_url(state.destination.address)
        topic_label = self.classifier.topics.label
        self.add_sink(ApprisePushSink(label=self.city_label, topic_label=topic_label))
        if console is None:
            console = bool(await self.store.subscriptions(platform="console"))
        if console:
            self.add_sink(ConsoleSink(label=self.city_label, topic_label=topic_label))

    # -- delivery -------------------------------------------------------------------
    def add_sink(self, sink: AlertSink) -> DeliveryWorker:
        """Deliver the outbox rows of `sink.platform` through `sink` (one worker per platform:
        a reconnected adapter's new sink replaces the old one in the running worker)."""
        existing = self.workers.get(sink.platform)
        if existing is not None:
            existing.sink, existing.limits = sink, sink.limits
            return existing
        worker = DeliveryWorker(self.store, sink, clock=self.clock)
        self.workers[sink.platform] = worker
        if self.scheduler is not None:  # already running: start this worker too
            self.tasks.append(self._worker_task(worker))
        return worker

    def wake_delivery(self) -> None:
        """Drain the outbox now (alerts were queued) instead of at the next interval."""
        for worker in self.workers.values():
            worker.wake()

    async def deliver_due(self) -> int:
        """Reconcile, then send everything due now through every sink (for `run --once`)."""
        sent = 0
        for worker in self.workers.values():
            await worker.reconcile()
            sent += await worker.drain_until_idle()
        return sent

    async def run_once(self) -> CycleReport:
        """One poll cycle over the catalogue, then deliver what is due; for cron and scripts."""
        await self.reconcile_coverage()
        report = await self.poller.poll_once(stories=False)  # counted, not printed
        await self.deliver_due()
        return report

    # -- the service ----------------------------------------------------------------
    def start(self) -> None:
        """Start polling (APScheduler) and one delivery loop per sink."""
        settings = self.settings
        self.poller.on_saved = self.wake_delivery
        scheduler = AsyncIOScheduler(
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(30, int(settings.tick_seconds * 4)),
            }
        )
        scheduler.add_job(self._poll_job, "interval", seconds=settings.tick_seconds, id="poll",
                          next_run_time=datetime.now(UTC))
        scheduler.add_job(self._prune_job, "interval", hours=24, id="prune")
        scheduler.start()
        self.scheduler = scheduler
        for worker in self.workers.values():
            self.tasks.append(self._worker_task(worker))

    def _worker_task(self, worker: DeliveryWorker) -> asyncio.Task[None]:
        """A delivery loop whose unexpected death is logged (a silent dead worker loses nothing but
        delays every alert of its platform until the next restart)."""
        task = asyncio.create_task(worker.run(self.stop, self.settings.delivery_interval),
                                   name=f"delivery-{worker.platform}")

        def died(t: asyncio.Task[None]) -> None:
            if not t.cancelled() and t.exception() is not None:
                log.error("delivery worker for %s stopped: %r", worker.platform, t.exception())

        task.add_done_callback(died)
        return task

    async def reconcile_coverage(self) -> None:
        """Every subscribed city has its managed feeds; unneeded ones age out (never raises:
        coverage must not stop polling)."""
        if self.coverage is None:
            return
        try:
            await self.coverage.reconcile()
        except Exception:
            log.exception("coverage reconcile failed")

    async def _poll_job(self) -> None:
        """One scheduled tick: coverage, then the due feeds, within the job's time budget.

        A stop (SIGINT/SIGTERM, or a ConfigError from an adapter) during a cycle cancels this
        job when the event loop shuts down; APScheduler would log that CancelledError with a
        full traceback, so it ends here as one line instead. Swallowing it is safe: the job is
        a leaf task that nothing awaits.
        """
        try:
            await self._poll_cycle()
        except asyncio.CancelledError:
            log.info("poll cycle interrupted by the stop")

    async def _poll_cycle(self) -> None:
        # subscriptions may have changed through any adapter since the last tick
        await self.reconcile_coverage()
        try:
            report = await asyncio.wait_for(
                self.poller.poll_once(only_due=True, stories=False), self.settings.job_timeout
            )
        except TimeoutError:
            log.error("poll cycle exceeded its time budget", extra={"budget": self.settings.job_timeout})
            return
        except Exception:
            log.exception("poll cycle failed")
            return
        if report.feeds:
            log.info(
                "poll cycle",
                extra={
                    "feeds": len(report.feeds),
                    "failed": len(report.failed),
                    "new_stories": report.new_story_count,
                    "alerts_queued": report.alerts_queued,
                    "seconds": round(report.finished - report.started, 2),
                },
            )

    async def _prune_job(self) -> None:
        try:
            removed = await self.store.prune(PRUNE_AFTER_DAYS)
            log.info("pruned old stories", extra={"removed": removed})
        except Exception:
            log.exception("prune failed")

    def stop_jobs(self) -> None:
        """Stop polling and delivery (before a chat connection closes); idempotent."""
        self.stop.set()
        if self.scheduler is not None:
            with contextlib.suppress(Exception):
                self.scheduler.shutdown(wait=False)
            self.scheduler = None

    # -- lifecycle ------------------------------------------------------------------
    @classmethod
    async def open(
        cls, settings: Settings, *, clock: Clock | None = None, sync_catalogue: bool = True
    ) -> App:
        """Open the store, HTTP sessions, classifier and worker pool (inside the running loop)."""
        clock = clock or SYSTEM_CLOCK
        coverage_config = load_coverage(settings.coverage_file)  # a bad file fails before opening
        fanout = FanoutPolicy(alert_max_age=settings.alert_max_age_hours * 3600)
        store = await open_store(settings, clock=clock, fanout=fanout)
        opened: list[Fetcher] = []
        try:
            classifier = load_classifier(settings.config_dir)
            if sync_catalogue:
                feeds = check_feed_cities(
                    load_feeds(settings.feeds_file), classifier.gazetteer, str(settings.feeds_file)
                )
                await store.sync_feeds(feeds)
            assembler = StoryAssembler(clock)
            await assembler.load(store)
            # The catalogue is the operator's; feeds a server added go through the address guard.
            fetcher = Fetcher(fetch_limits(settings), allow_private=True)
            await fetcher.__aenter__()
            opened.append(fetcher)
            guild_fetcher = Fetcher(fetch_limits(settings), allow_private=settings.allow_private_feeds)
            await guild_fetcher.__aenter__()
            opened.append(guild_fetcher)
        except BaseException:
            for f in opened:
                with contextlib.suppress(Exception):
                    await f.__aexit__(None, None, None)
            await store.close()
            raise
        schedule = RequestSchedule(coverage_config.budgets, clock=clock)
        executor = make_executor(settings)
        poller = Poller(
            store, fetcher, settings, executor, assembler=assembler, guild_fetcher=guild_fetcher, clock=clock,
            schedule=schedule,
        )
        app = cls(settings, clock, store, classifier, fetcher, guild_fetcher, executor, poller)
        app.coverage = Coverage(store, classifier.gazetteer, coverage_config, schedule, clock)
        if sync_catalogue:
            await app.reconcile_coverage()
        return app

    async def close(self) -> None:
        self.stop_jobs()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        self.tasks.clear()
        for fetcher in (self.fetcher, self.guild_fetcher):
            with contextlib.suppress(Exception):
                await fetcher.__aexit__(None, None, None)
        self.executor.shutdown(wait=False, cancel_futures=True)
        await self.store.close()


def check_feed_cities(
    feeds: Sequence[FeedConfig], gazetteer: Gazetteer, source: str = "feeds file"
) -> tuple[FeedConfig, ...]:
    """Refuse a feed whose `city` is not a known city id, naming the nearest ids.

    Why at start-up: an unknown id ("chicgo-il") was silently ignored, so the outlet's items
    lost their default city and its subscribers never got them.
    """
    known = [city.id for city in gazetteer.cities]
    for feed in feeds:
        if feed.city is None or gazetteer.get(feed.city) is not None:
            continue
        near = difflib.get_close_matches(feed.city, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(near)}?" if near else " (see config/cities.toml)"
        raise ConfigError(f"{source}: {feed.url}: unknown city id {feed.city!r}{hint}")
    return tuple(feeds)


def watch_push_url(url: str) -> None:
    """Register a push URL's secret parts with the log scrubber before anything could print it."""
    from bot.adapters.push import secrets
    from bot.logs import register_secrets

    register_secrets(secrets(url))


def make_destination(target: str, name: str | None) -> Destination:
    """`console` or an Apprise URL (validated by Apprise; errors never repeat the URL)."""
    if target.strip().lower() == "console":
        from bot.adapters.console import CONSOLE

        return CONSOLE
    from bot.adapters.push import destination

    watch_push_url(target)
    return destination(target, name)


@contextlib.asynccontextmanager
async def open_app(
    settings: Settings, *, clock: Clock | None = None, sync_catalogue: bool = True
) -> AsyncIterator[App]:
    """`async with open_app(settings) as app:` — everything open inside, closed after."""
    app = await App.open(settings, clock=clock, sync_catalogue=sync_catalogue)
    try:
        yield app
    finally:
        await app.close()
