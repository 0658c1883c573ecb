"""alert-latency: an item appears on a feed → its alert reaches the Discord stand-in.

The whole service runs as in production: `App.open` (store, fetcher, worker pool),
`app.start` (APScheduler poll job every `tick_seconds` over the due feeds, the delivery loop
woken by each save) with `DiscordSink` over a discord.py client connected to tests/standin.
The feed host serves K feeds of ordinary news; after the first poll cycle a channel subscribes
to every city and topic, then each feed gets one new relevant item at a moment spread evenly
over one poll interval (so the publication phase against the schedule is sampled uniformly).
Latency = the stand-in storing the message − the feed host publishing the item (one clock).

The target is against the defaults (poll_interval 300 s, tick 15 s): p95 ≤ interval + 2 s.
Most of the latency is waiting for the next poll of that feed, by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from pathlib import Path
from typing import Any

from bench.common import Result, median, percentile, run_isolated, tmpdir
from bench.feedhost import FeedHost

NUMBER = re.compile(r"detain (\d+) people")


async def _run_async(port: int, n_feeds: int, interval: int, tick: float, db: Path) -> dict[str, Any]:
    import discord

    from bot.adapters.discordbot.client import bot_intents
    from bot.adapters.discordbot.sink import DiscordSink, destination
    from bot.app import App
    from bot.models import FeedConfig
    from bot.relevance import load_classifier
    from bot.settings import Settings
    from tests.standin import DiscordStandIn, RateLimitConfig

    host = FeedHost(n_feeds)
    host.port = port  # the host process belongs to the parent; we only talk to it
    standin = DiscordStandIn(rate_limits=RateLimitConfig())
    arrived: dict[int, float] = {}
    original_store = standin._store

    def recording_store(*args: Any, **kwargs: Any) -> Any:
        stored = original_store(*args, **kwargs)
        for e in stored.payload.get("embeds") or []:
            m = NUMBER.search(e.get("title") or "")
            if m:
                arrived.setdefault(int(m.group(1)), time.time())
        return stored

    standin._store = recording_store  # type: ignore[method-assign]
    await standin.start()
    guild = standin.add_guild("Latency", ["alerts"])
    channel_id = next(iter(guild.channels))
    settings = Settings(db_path=db, poll_interval=interval, tick_seconds=tick)
    app = await App.open(settings, sync_catalogue=False)
    await app.store.sync_feeds([FeedConfig(url=host.url(i)) for i in range(n_feeds)])

    class BenchBot(discord.Client):
        gazetteer = load_classifier().gazetteer
        topics = load_classifier().topics

    client = BenchBot(intents=bot_intents())
    published: dict[int, float] = {}
    try:
        with standin.patch_discord():
            await client.login(standin.token)
            connect = asyncio.create_task(client.connect(reconnect=True))
            await asyncio.wait_for(client.wait_until_ready(), 30)
            app.add_sink(DiscordSink(client))  # type: ignore[arg-type]
            app.start()
            t_start = time.time()
            while True:  # the first cycle (everything is due at start-up)
                states = await app.store.feed_states()
                if all(s.last_checked is not None for s in states):
                    break
                await asyncio.sleep(0.2)
            first_cycle = time.time() - t_start
            await app.store.subscribe(destination(guild.id, channel_id), "*", ("*",))
            rng = random.Random(11)
            offsets = [(i + rng.random()) * interval / n_feeds for i in range(n_feeds)]
            rng.shuffle(offsets)
            t0 = time.time()
            for i, off in sorted(enumerate(offsets), key=lambda x: x[1]):
                await asyncio.sleep(max(0.0, t0 + off - time.time()))
                reply = await asyncio.to_thread(host.publish, i, 0)
                published[1000 + i * 100] = reply["t"]
            deadline = time.time() + interval + 4 * tick + 30
            while time.time() < deadline and not set(published) <= set(arrived):
                await asyncio.sleep(0.2)
            client_close = client.close()
            await client_close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connect, 5)
    finally:
        await app.close()
        await standin.stop()
    lat = [arrived[n] - t for n, t in published.items() if n in arrived]
    return {"latencies": lat, "published": len(published), "arrived": len(lat), "first_cycle": first_cycle,
            "violations": len(standin.violations)}


def _run(port: int, n_feeds: int, interval: int, tick: float) -> dict[str, Any]:
    import logging

    logging.getLogger("discord").setLevel(logging.ERROR)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    with tmpdir("latency") as d:
        return asyncio.run(_run_async(port, n_feeds, interval, tick, d / "bench.sqlite3"))


def alert_latency(size: int, smoke: bool, repeat: int) -> Result:
    interval = size
    runs: list[tuple[int, float, int]] = [(interval, 15.0 if interval >= 60 else max(0.5, interval / 4), 3 if smoke else 40)]
    if not smoke and interval == 300:
        runs.append((30, 5.0, 30))
    res = Result("alert-latency", "feed item → stand-in message through the running service; "
                                  + "; ".join(f"poll {p} s / tick {t:g} s, {k} feeds" for p, t, k in runs))
    for n, (poll, tick, feeds) in enumerate(runs):
        with FeedHost(feeds, items=10 if smoke else 50, style="plain") as host:
            r = run_isolated(_run, host.port, feeds, poll, tick)
        lat = r["latencies"]
        p50, p95 = percentile(lat, 50), percentile(lat, 95)
        label = f"poll {poll} s, tick {tick:g} s"
        main = n == 0
        res.add(f"{label}: p50 (s)", p50, "{:.1f}", key="p50_s" if main else f"p50_s_{poll}")
        res.add(f"{label}: p95 (s)", p95, "{:.1f}", target=f"≤ {poll + 2} s" if main else "",
                met=(p95 <= poll + 2) if main else None, key="p95_s" if main else f"p95_s_{poll}")
        res.add(f"{label}: max (s)", max(lat) if lat else float("nan"), "{:.1f}")
        res.add(f"{label}: alerts arrived / published", f"{r['arrived']} / {r['published']}",
                met=r["arrived"] == r["published"] if main else None)
        res.add(f"{label}: min (s)", min(lat) if lat else float("nan"), "{:.2f}")
        res.notes.append(f"{label}: first cycle {r['first_cycle']:.1f} s; median {median(lat):.1f} s")
    return res
