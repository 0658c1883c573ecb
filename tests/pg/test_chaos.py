"""Chaos drill (issue 15): four `civic-alerts run` workers on one PostgreSQL, feeds on loopback,
a random worker SIGKILLed (and restarted) again and again while new items keep arriving.

After a clean finish it must hold that:
- every published item is stored once, and the same event reported by two outlets' feeds
  (handled by different workers at the same moment) is ONE story: no story split in two;
- exactly one outbox row per (story, console) and every one 'sent' (0 lost, 0 doubled in the
  outbox); every alert printed by some worker, and reprints (the console keeps no history to
  reconcile against, see tests/faults/test_crash_console.py) no more than the kills;
- no feed was fetched twice within its interval (the server's request log), although the
  killed workers' claimed feeds came back to the others.

Kills: CIVIC_ALERTS_PG_CHAOS_KILLS for the slow drill (default 30); the always-run one kills 3.
Seed: CIVIC_ALERTS_PG_CHAOS_SEED (default random, printed) replays a sequence.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bot.models import FeedConfig
from bot.store.pg import PgStore
from tests.faults.harness import BotProcess, console_env, write_feeds_file
from tests.feedserver import FeedServer

KILLS = int(os.environ.get("CIVIC_ALERTS_PG_CHAOS_KILLS", "30"))
WORKERS = 4
FEEDS = 8
INTERVAL = 30  # the smallest interval a feed may have (config/feeds.toml rule)
SLACK = 2.0  # seconds: a claim is taken a moment before its fetch


def _items(round_no: int, feed: int, published: datetime) -> list[dict[str, Any]]:
    """Two items of the feed's own and one event it shares with the next feed (same words)."""
    own = [
        {"title": f"ICE agents detain {1000 + round_no * 100 + feed * 10 + k} workers at Pilsen "
                  f"warehouse, chaos desk {feed}",
         "link": f"https://w{feed}.example/r{round_no}/{k}", "guid": f"w{feed}-r{round_no}-{k}",
         "pubDate": published - timedelta(seconds=k), "description": "<p>Witnesses saw agents.</p>"}
        for k in range(2)
    ]
    shared = []
    for event_feed in (feed, (feed - 1) % FEEDS):  # the event of this feed and of the one before
        shared.append({
            "title": f"National Guard convoy number {5000 + round_no * 100 + event_feed} seen "
                     f"near Broadview facility",
            "link": f"https://w{feed}.example/r{round_no}/shared{event_feed}",
            "guid": f"w{feed}-r{round_no}-shared{event_feed}",
            "pubDate": published, "description": "<p>Residents reported trucks.</p>",
        })
    return own + shared


async def _fetch(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def drill(tmp_path: Path, dsn: str, kills: int) -> str:
    seed = int(os.environ.get("CIVIC_ALERTS_PG_CHAOS_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    published: dict[int, list[dict[str, Any]]] = {i: [] for i in range(FEEDS)}
    async with FeedServer() as server:
        paths = [f"/dyn/w{i}.xml" for i in range(FEEDS)]
        urls = [server.set_feed(p, items=[], title=f"Outlet {i}") for i, p in enumerate(paths)]
        feeds_file = write_feeds_file(
            tmp_path / "feeds.toml",
            [{"url": u, "name": f"Outlet {i}", "city": "chicago-il", "interval": INTERVAL} for i, u in enumerate(urls)],
        )
        # Feeds due at staggered moments across one interval: some worker is always busy.
        store = await PgStore.open(dsn)
        await store.sync_feeds([FeedConfig(url=u, name=f"Outlet {i}", city="chicago-il", interval=INTERVAL)
                                for i, u in enumerate(urls)])
        for i, u in enumerate(urls):
            await store.postpone_feed(u, time.time() + 2 + i * INTERVAL / FEEDS)
        await store.close()

        round_no = 0

        def publish() -> None:
            nonlocal round_no
            now = datetime.now(UTC)
            for i, p in enumerate(paths):
                published[i] += _items(round_no, i, now)
                server.set_feed(p, items=published[i], title=f"Outlet {i}")
            round_no += 1

        publish()
        env = console_env(Path("unused"), feeds_file, CIVIC_ALERTS_DB=dsn, CIVIC_ALERTS_LEASE_SECONDS="5")
        workers = [BotProcess(env, tmp_path / f"w{n}", name=f"w{n}") for n in range(WORKERS)]
        try:
            for w in workers:
                w.start()
            for w in workers:
                await w.wait_for_stderr("polling feeds", timeout=120)
            killed = 0
            last_publish = time.monotonic()
            while killed < kills:
                await asyncio.sleep(rng.uniform(0.5, 3.0))
                victim = rng.choice(workers)
                victim.kill()
                killed += 1
                victim.start()
                if time.monotonic() - last_publish > 4:
                    publish()
                    last_publish = time.monotonic()
            publish()
            final_publish = time.monotonic()
            total = sum(len(v) for v in published.values())
            deadline = time.monotonic() + 3 * INTERVAL + 60
            while True:
                stored = (await _fetch(dsn, "SELECT count(*) FROM articles"))[0][0]
                unsent = (await _fetch(dsn, "SELECT count(*) FROM deliveries WHERE status <> 'sent'"))[0][0]
                fetched_after = all(
                    any(t > final_publish and p.startswith(path) for t, p in server.request_log) for path in paths
                )
                if stored == total and unsent == 0 and fetched_after:
                    break
                assert time.monotonic() < deadline, (
                    f"seed {seed}: not settled: {stored}/{total} stored, {unsent} unsent\n"
                    + "\n".join(w.stderr()[-1500:] for w in workers)
                )
                await asyncio.sleep(0.5)
            for w in workers:
                assert await w.stop() == 0, w.stderr()[-3000:]
        finally:
            for w in workers:
                if w.running:
                    w.kill()
        request_log = list(server.request_log)

    context = f"seed {seed}, {kills} kills, {round_no} rounds"
    for w in workers:
        # A SIGTERM during a poll cycle cancels it (APScheduler logs the CancelledError): that
        # is the clean stop, not a crash. Any other traceback fails the drill.
        crashes = [t for t in w.stderr().split("Traceback (most recent call last)")[1:]
                   if "CancelledError" not in t[:3000]]
        assert not crashes, f"{context}: {crashes[0][:3000]}"
    # every item once; each shared event one story of both outlets
    guids = Counter(r[0] for r in await _fetch(dsn, "SELECT guid FROM articles"))
    expected = {item["guid"] for items in published.values() for item in items}
    assert set(guids) == expected and max(guids.values()) == 1, context
    stories = await _fetch(dsn, "SELECT s.title, count(a.id) FROM stories s JOIN articles a ON a.story_id = s.id "
                                "GROUP BY s.id, s.title")
    titles = Counter(r[0] for r in stories)
    assert max(titles.values()) == 1, f"{context}: a story split in two: {[t for t, n in titles.items() if n > 1]}"
    expected_titles = {item["title"] for items in published.values() for item in items}
    assert set(titles) == expected_titles, context
    for title, articles in stories:
        assert articles == (2 if "convoy" in title else 1), f"{context}: {title} has {articles} articles"
    # outbox: one row per story, all sent
    rows = await _fetch(dsn, "SELECT d.story_id, d.status FROM deliveries d JOIN destinations x "
                             "ON x.id = d.destination_id WHERE x.platform = 'console'")
    per_story = Counter(r[0] for r in rows)
    assert len(per_story) == len(stories), f"{context}: {len(stories) - len(per_story)} alerts lost"
    assert max(per_story.values()) == 1, f"{context}: doubled outbox rows"
    assert {r[1] for r in rows} == {"sent"}, context
    printed = "".join(w.stdout() for w in workers)
    counts = {t: printed.count(t) for t in expected_titles}
    assert all(n >= 1 for n in counts.values()), f"{context}: alerts never printed"
    reprints = sum(n - 1 for n in counts.values())
    assert reprints <= kills, f"{context}: {reprints} reprints for {kills} kills"
    # no feed fetched twice within one interval
    gaps = []
    for path in [f"/dyn/w{i}.xml" for i in range(FEEDS)]:
        times = sorted(t for t, p in request_log if p.startswith(path))
        gaps += [b - a for a, b in itertools.pairwise(times)]
    assert gaps and min(gaps) >= INTERVAL - SLACK, f"{context}: a feed fetched again after {min(gaps):.1f}s"
    summary = (f"pg chaos drill: {context}: {len(stories)} stories, lost 0, doubled 0, split 0, "
               f"console reprints {reprints}, fetches {len(gaps) + FEEDS}, shortest refetch {min(gaps):.1f}s")
    print(summary)
    return summary


@pytest.mark.parametrize("kills", [pytest.param(3, id="3-kills"),
                                   pytest.param(KILLS, id="drill", marks=pytest.mark.slow)])
async def test_sigkill_random_workers_loses_doubles_splits_nothing(tmp_path: Path, pg_dsn: str, kills: int) -> None:
    await drill(tmp_path, pg_dsn, kills)
