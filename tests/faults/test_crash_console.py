"""Drill 4: SIGKILL the console service at random moments while it polls, restart, repeat.

`python -m bot run` (console mode: no DISCORD_TOKEN) polls a loopback feed. Each round
publishes new matching items (the feed shows this round's and the previous round's, so
re-seen items test deduplication too), makes the feed due (the poll interval is at least 30 s,
and a restarted service polls due feeds at once), starts the service and kills it — with its
parser workers, the whole process group — at a random moment after it starts polling. Odd
rounds kill at a random delay (start-up, fetch, parse); even rounds wait until the batch is
committed and kill within the next 10 ms (between save, send and mark-sent). A final clean
run must leave:

- every published item stored exactly once (one article, one story);
- exactly one outbox row per (story, channel), every one of them 'sent';
- every alert printed at least once (none lost); reprints after a kill are allowed on the
  console, which keeps no history to reconcile against (the Discord adapter does: see
  bot/delivery.py reconcile), and are counted;
- `PRAGMA integrity_check` ok.

Rounds: CIVIC_ALERTS_CRASH_DRILLS (default 10 in CI; the documented full run is 40).
Seed: CIVIC_ALERTS_CRASH_SEED (default: random, printed) to replay a failing sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import BotProcess, console_env, write_feeds_file
from tests.feedserver import FeedServer

ROUNDS = int(os.environ.get("CIVIC_ALERTS_CRASH_DRILLS", "10"))
ITEMS_PER_ROUND = 40
MAX_KILL_DELAY = 1.0  # s after "polling feeds…": fetch, parse, save and delivery take ~0.5 s here
CONSOLE_DESTINATION = ("console", "stdout")  # bot.adapters.console.CONSOLE: (platform, address)


def _items(round_no: int, published: datetime) -> list[dict[str, Any]]:
    out = []
    for i in range(ITEMS_PER_ROUND):
        n = round_no * ITEMS_PER_ROUND + i
        out.append({
            # a distinct number in every headline keeps them distinct stories (no clustering)
            "title": f"ICE agents detain {n + 3} workers at Pilsen warehouse, crash round {round_no}",
            "link": f"https://crash.example/story/{n}",
            "guid": f"crash-{n}",
            "pubDate": published - timedelta(seconds=i),
            "description": f"<p>Witnesses described agents at the site, report {n}.</p>",
        })  # fmt: skip
    return out


def _query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        return conn.execute(sql).fetchall()


def _make_due(db: Path) -> None:
    if db.exists():
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
            conn.execute("UPDATE feeds SET next_check = NULL")
            conn.commit()


async def _kill_soon_after_save(bot: BotProcess, db: Path, published: int, rng: random.Random) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and bot.running:
        if db.exists() and _query(db, "SELECT count(*) FROM articles")[0][0] >= published:
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(rng.uniform(0, 0.01))
    bot.kill()


def _stage(db: Path, published: int) -> str:
    """Where the kill landed, judged from what the database holds afterwards."""
    articles = (_query(db, "SELECT count(*) FROM articles") or [(0,)])[0][0]
    rows = dict(_query(db, "SELECT status, count(*) FROM deliveries GROUP BY status"))
    if articles < published:
        return "before save"
    if rows.get("sending"):
        return "mid-delivery"
    if rows.get("pending"):
        return "saved, not delivered"
    return "after delivery"


# The quick run kills once; the full drill (CIVIC_ALERTS_CRASH_DRILLS, default 10) is `slow`.
@pytest.mark.parametrize(
    "rounds", [pytest.param(1, id="1-kill"), pytest.param(ROUNDS, id="drill", marks=pytest.mark.slow)]
)
async def test_sigkill_during_polling_loses_and_doubles_nothing(tmp_path: Path, rounds: int) -> None:
    seed = int(os.environ.get("CIVIC_ALERTS_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    db = tmp_path / "crash.sqlite3"
    items: list[dict[str, Any]] = []
    stages: Counter[str] = Counter()
    async with FeedServer() as server:
        feed_url = server.set_feed("/dyn/crash.xml", items=[], title="Crash desk")
        feeds = write_feeds_file(tmp_path / "feeds.toml",
                                 [{"url": feed_url, "name": "Crash desk", "city": "chicago-il", "interval": 30}])
        bot = BotProcess(console_env(db, feeds), tmp_path / "bot")
        with bot:
            for round_no in range(rounds):
                items += _items(round_no, datetime.now(UTC))
                server.set_feed("/dyn/crash.xml", items=items[-2 * ITEMS_PER_ROUND:], title="Crash desk")
                _make_due(db)
                offset = len(bot.stderr())
                bot.start()
                await bot.wait_for_stderr("polling feeds", timeout=60, after=offset)
                if round_no % 2:
                    await asyncio.sleep(rng.uniform(0, MAX_KILL_DELAY))
                    bot.kill()
                else:
                    await _kill_soon_after_save(bot, db, len(items), rng)
                stages[_stage(db, len(items))] += 1
            # The final, clean run: new items again, then wait until everything is delivered.
            items += _items(rounds, datetime.now(UTC))
            server.set_feed("/dyn/crash.xml", items=items[-2 * ITEMS_PER_ROUND:], title="Crash desk")
            _make_due(db)
            bot.start()
            deadline = time.monotonic() + 90
            while True:
                stored = _query(db, "SELECT count(*) FROM articles")[0][0] if db.exists() else 0
                unsent = _query(db, "SELECT count(*) FROM deliveries WHERE status <> 'sent'") if stored else [(1,)]
                if stored == len(items) and unsent[0][0] == 0:
                    break
                assert time.monotonic() < deadline, (
                    f"seed {seed}: not settled: {stored}/{len(items)} stored, {unsent[0][0]} unsent\n"
                    + bot.stderr()[-3000:]
                )
                await asyncio.sleep(0.2)
            assert await bot.stop() == 0, bot.stderr()[-3000:]

    context = f"seed {seed}, {rounds} kills, stages {dict(stages)}"
    assert _query(db, "PRAGMA integrity_check") == [("ok",)], context
    guids = Counter(g for (g,) in _query(db, "SELECT guid FROM articles"))
    assert set(guids) == {item["guid"] for item in items}, context
    assert max(guids.values()) == 1, f"{context}: an item stored twice"
    stories = _query(db, "SELECT count(*) FROM stories")[0][0]
    assert stories == len(items), f"{context}: {stories} stories for {len(items)} items"
    rows = [
        (story, (platform, address), status)
        for story, platform, address, status in _query(
            db,
            "SELECT d.story_id, dest.platform, dest.address, d.status FROM deliveries d "
            "JOIN destinations dest ON dest.id = d.destination_id",
        )
    ]
    per_pair = Counter((story, dest) for story, dest, _ in rows)
    lost = stories - len({s for s, dest, status in rows if dest == CONSOLE_DESTINATION and status == "sent"})
    doubled = sum(n - 1 for n in per_pair.values())
    assert doubled == 0, f"{context}: {doubled} extra outbox rows"
    assert lost == 0, f"{context}: {lost} alerts never sent"
    assert len(rows) == stories and {status for *_, status in rows} == {"sent"}, context
    printed = bot.stdout()
    titles = Counter({item["title"]: printed.count(item["title"]) for item in items})
    never_printed = [t for t, n in titles.items() if n == 0]
    assert not never_printed, f"{context}: {len(never_printed)} alerts never reached the console"
    reprinted = sum(n - 1 for n in titles.values() if n > 1)
    print(f"crash drill: {context}; {len(items)} stories, lost 0, outbox doubles 0, "
          f"console reprints after a kill {reprinted}")  # fmt: skip
