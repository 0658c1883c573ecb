"""The long-running service: resources, the scheduler, the delivery loop.

Why a plain container instead of globals: the Discord adapter creates these inside
`setup_hook` (APScheduler and aiohttp need the running loop) and closes them on shutdown; the
console adapter does the same around `asyncio.run`. Both run the same pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.delivery import AlertSink, DeliveryWorker
from bot.ingest.fetch import Fetcher, FetchLimits
from bot.poller import Poller, make_executor
from bot.relevance import Classifier, load_classifier
from bot.settings import Settings, load_feeds
from bot.store import Store

log = logging.getLogger(__name__)

PRUNE_AFTER_DAYS = 180


def fetch_limits(settings: Settings) -> FetchLimits:
    return FetchLimits(
        total_concurrency=settings.fetch_concurrency,
        per_host=settings.fetch_per_host,
        total_timeout=settings.fetch_timeout,
        max_bytes=settings.max_feed_bytes,
    )


@dataclass
class Services:
    settings: Settings
    store: Store
    fetcher: Fetcher
    classifier: Classifier
    executor: ProcessPoolExecutor
    poller: Poller
    guild_fetcher: Fetcher | None = None
    worker: DeliveryWorker | None = None
    scheduler: AsyncIOScheduler | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def open_services(settings: Settings, *, sync_catalogue: bool = True) -> Services:
    """Open the store, HTTP session, classifier and worker pool (inside the running loop)."""
    store = await Store.open(settings.db_path)
    try:
        if sync_catalogue:
            await store.sync_feeds(load_feeds(settings.feeds_file))
        classifier = load_classifier(settings.config_dir)
        # The catalogue is the operator's; feeds a server added go through the address guard.
        fetcher = Fetcher(fetch_limits(settings), allow_private=True)
        guild_fetcher = Fetcher(fetch_limits(settings), allow_private=settings.allow_private_feeds)
        await fetcher.__aenter__()
        await guild_fetcher.__aenter__()
    except BaseException:
        await store.close()
        raise
    executor = make_executor(settings)
    poller = Poller(store, fetcher, settings, executor, guild_fetcher=guild_fetcher)
    return Services(settings, store, fetcher, classifier, executor, poller, guild_fetcher=guild_fetcher)


async def _poll_job(services: Services) -> None:
    try:
        report = await asyncio.wait_for(services.poller.poll_once(only_due=True), services.settings.job_timeout)
    except TimeoutError:
        log.error("poll cycle exceeded its time budget", extra={"budget": services.settings.job_timeout})
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
                "new_stories": len(report.new_stories),
                "alerts_queued": report.alerts_queued,
                "seconds": round(report.finished - report.started, 2),
            },
        )


async def _prune_job(services: Services) -> None:
    try:
        removed = await services.store.prune(PRUNE_AFTER_DAYS)
        log.info("pruned old stories", extra={"removed": removed})
    except Exception:
        log.exception("prune failed")


def start_jobs(services: Services, sink: AlertSink) -> None:
    """Start polling (APScheduler) and the delivery loop that drains the outbox into `sink`."""
    settings = services.settings
    worker = DeliveryWorker(services.store, sink)
    services.worker = worker
    services.poller.on_saved = worker.wake
    scheduler = AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(30, int(settings.tick_seconds * 4))}
    )
    scheduler.add_job(_poll_job, "interval", seconds=settings.tick_seconds, args=[services], id="poll",
                      next_run_time=datetime.now(UTC))
    scheduler.add_job(_prune_job, "interval", hours=24, args=[services], id="prune")
    scheduler.start()
    services.scheduler = scheduler
    services.tasks.append(asyncio.create_task(worker.run(services.stop, settings.delivery_interval)))


async def close_services(services: Services) -> None:
    services.stop.set()
    if services.scheduler is not None:
        with contextlib.suppress(Exception):
            services.scheduler.shutdown(wait=False)
    for task in services.tasks:
        task.cancel()
    for task in services.tasks:
        with contextlib.suppress(BaseException):
            await task
    for fetcher in (services.fetcher, services.guild_fetcher):
        if fetcher is not None:
            with contextlib.suppress(Exception):
                await fetcher.__aexit__(None, None, None)
    services.executor.shutdown(wait=False, cancel_futures=True)
    await services.store.close()
