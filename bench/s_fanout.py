"""fanout: alerts through the real delivery path into the Discord stand-in, with its rate limits on.

The path is the production one: `Store.save_articles` queues one outbox row per subscribed
channel; `DeliveryWorker.run` (the service's loop, woken by the save) drains it through
`DiscordSink` (bot/adapters/discordbot/sink.py) over a real discord.py client that logged in
and connected to tests/standin (REST v10 + gateway on 127.0.0.1), which enforces Discord's
global 50 requests/s and the per-channel 5 messages / 5 s bucket and validates every body.

Phase 1: one story to N subscribed channels (N = 1,000: ten guilds of 100 channels).
Phase 2: 100 stories × 100 channels, where batching (up to 10 embeds, 6,000 characters per
message) matters. Every (story, channel) pair is checked from the stand-in's own record: the
"story #<id>" in each embed footer, so lost and doubled alerts are counted, not assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Result, run_isolated, tmpdir

STORY_REF = re.compile(r"story #(\d+)\s*$")
CITY = "chicago-il"
TOPICS = ("immigration-enforcement", "national-guard", "sanctuary-policy")


def _article(i: int, title: str, now: datetime) -> Any:
    from bot.ingest.normalize import article_identity, canonical_url
    from bot.models import Article

    url = canonical_url(f"https://news.example/{now:%Y/%m/%d}/fanout-{i}.html")
    return Article(feed_url="https://news.example/rss", guid=f"fanout-{i}", url=url, link=url, title=title,
                   summary="Federal immigration agents detained several people in Chicago on Tuesday, "
                           "witnesses said; the city's sanctuary ordinance was cited by officials. " * 2,
                   published=now, published_known=True, source="News Example", source_url=None,
                   image_url=None,
                   identity=article_identity(url=url, guid=f"fanout-{i}", title=title, source="News Example",
                                             is_google_news=False, feed_url="https://news.example/rss",
                                             published=now),
                   is_google_news=False)


def _titles(n: int) -> list[str]:
    import random

    from bench import feedgen

    c = feedgen.corpus()
    rng = random.Random("fanout-titles")
    out: dict[str, None] = {}
    while len(out) < n:
        out[feedgen.splice(rng, rng.choice(c.titles), rng.choice(c.titles))] = None
    return list(out)


async def _phase(n_channels: int, n_stories: int, db: Path, timeout: float) -> dict[str, Any]:
    import discord

    from bot.adapters.discordbot.client import bot_intents
    from bot.adapters.discordbot.sink import DiscordSink, destination
    from bot.assembly import StoryAssembler
    from bot.delivery import DeliveryWorker
    from bot.models import Match
    from bot.relevance import load_classifier
    from bot.store import Store
    from tests.standin import DiscordStandIn, RateLimitConfig

    standin = DiscordStandIn(rate_limits=RateLimitConfig())
    posted: list[float] = []
    original_store = standin._store

    def recording_store(*args: Any, **kwargs: Any) -> Any:
        stored = original_store(*args, **kwargs)
        if not kwargs.get("ephemeral"):
            posted.append(time.perf_counter())
        return stored

    standin._store = recording_store  # type: ignore[method-assign]
    await standin.start()
    store = await Store.open(db)
    channels: list[tuple[int, int]] = []
    per_guild = 100
    for g in range((n_channels + per_guild - 1) // per_guild):
        count = min(per_guild, n_channels - g * per_guild)
        guild = standin.add_guild(f"Guild {g}", [f"alerts-{k}" for k in range(count)])
        channels.extend((guild.id, cid) for cid in guild.channels)
    for guild_id, channel_id in channels:
        await store.subscribe(destination(guild_id, channel_id), CITY, TOPICS)

    class BenchBot(discord.Client):
        gazetteer = load_classifier().gazetteer
        topics = load_classifier().topics

    client = BenchBot(intents=bot_intents())
    stop = asyncio.Event()
    out: dict[str, Any] = {}
    with standin.patch_discord():
        await client.login(standin.token)
        connect = asyncio.create_task(client.connect(reconnect=True))
        try:
            await asyncio.wait_for(client.wait_until_ready(), 30)
            sink = DiscordSink(client)  # type: ignore[arg-type]
            worker = DeliveryWorker(store, sink)
            runner = asyncio.create_task(worker.run(stop, 2.0))
            await asyncio.sleep(0.2)
            now = datetime.now(UTC)
            items = [(_article(i, t, now), Match(topics=TOPICS[:1], cities=(CITY,), why=("topic:bench",)))
                     for i, t in enumerate(_titles(n_stories))]
            t0 = time.perf_counter()
            report = await StoryAssembler().save(store, "https://news.example/rss", items)
            worker.wake()
            expected = {(s.id, ch) for s in report.new_stories for _, ch in channels}
            deadline = time.perf_counter() + timeout
            while time.perf_counter() < deadline:
                if await store.queue_depth() == 0:
                    break
                await asyncio.sleep(0.1)
            t_end = time.perf_counter()
            stop.set()
            await runner
            got: Counter[tuple[int, int]] = Counter()
            messages = embeds = 0
            for _, ch in channels:
                for m in standin.messages(ch):
                    messages += 1
                    for e in m.get("embeds") or []:
                        embeds += 1
                        footer = (e.get("footer") or {}).get("text") or ""
                        match = STORY_REF.search(footer)
                        if match:
                            got[(int(match.group(1)), ch)] += 1
            hits = standin.rate_limit_hits
            out = {
                "channels": len(channels),
                "stories": len(report.new_stories),
                "expected": len(expected),
                "delivered_pairs": len(set(got) & expected),
                "lost": len(expected - set(got)),
                "doubled": sum(n - 1 for n in got.values() if n > 1),
                "unexpected": len(set(got) - expected),
                "messages": messages,
                "embeds": embeds,
                "elapsed": t_end - t0,
                "first": (posted[0] - t0) if posted else float("nan"),
                "span": (posted[-1] - posted[0]) if len(posted) > 1 else float("nan"),
                "posts": len(posted),
                "rate_limited": len(hits),
                "rate_limited_global": sum(1 for h in hits if h[3]),
                "violations": len(standin.violations),
                "nonce_hits": standin.nonce_hits,
                "queue_left": await store.queue_depth(),
                "worker_messages": worker.sent_messages,
            }
        finally:
            stop.set()
            await client.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connect, 5)
            await store.close()
            await standin.stop()
    return out


def _run(n_channels: int, stories2: int, channels2: int, timeout: float) -> dict[str, Any]:
    import logging

    logging.getLogger("discord").setLevel(logging.ERROR)
    with tmpdir("fanout") as d:
        one = asyncio.run(_phase(n_channels, 1, d / "one.sqlite3", timeout))
        many = asyncio.run(_phase(channels2, stories2, d / "many.sqlite3", timeout))
    return {"one": one, "many": many}


def fanout(size: int, smoke: bool, repeat: int) -> Result:
    stories2, channels2 = (5, 5) if smoke else (100, 100)
    res = Result("fanout", f"1 story → {size} channels; then {stories2} stories × {channels2} channels; "
                           "stand-in rate limits on (50 req/s global, 5 / 5 s per channel)")
    r = run_isolated(_run, size, stories2, channels2, 120 if smoke else 900)
    one, many = r["one"], r["many"]
    for label, p in (("1 story", one), (f"{stories2}×{channels2}", many)):
        rate = p["messages"] / p["span"] if p["span"] and p["span"] > 0 else float("nan")
        overall = p["messages"] / p["elapsed"] if p["elapsed"] else float("nan")
        key = "one" if label == "1 story" else "many"
        res.add(f"{label}: messages/s sustained (first→last message)", rate, "{:.1f}",
                target="≥ 45 msg/s", met=rate >= 45, key=f"{key}_rate")
        res.add(f"{label}: messages/s overall (queued→last message)", overall, "{:.1f}", key=f"{key}_overall")
        ok = p["lost"] == 0 and p["doubled"] == 0 and p["unexpected"] == 0
        res.add(f"{label}: alerts expected / delivered / lost / doubled",
                f"{p['expected']} / {p['delivered_pairs']} / {p['lost']} / {p['doubled']}",
                target="0 lost, 0 doubled", met=ok)
        res.numbers[f"{key}_lost"] = p["lost"]
        res.add(f"{label}: messages / embeds per message",
                f"{p['messages']} / {p['embeds'] / max(1, p['messages']):.2f}")
        res.add(f"{label}: 429s from the stand-in (global)", f"{p['rate_limited']} ({p['rate_limited_global']})")
        if p["violations"] or p["queue_left"]:
            res.notes.append(f"{label}: {p['violations']} body violations, {p['queue_left']} rows left in the outbox")
    return res
