"""workers: throughput of 1 vs 2 `civic-alerts run` worker processes sharing one PostgreSQL.

Why this shape: several workers split due feeds through claims in the database (bot/store/pg,
issue 15), with no coordinator. The scenario starts K real worker processes (console mode, the
production `run` path) against a throwaway PostgreSQL (tests/pgserver.py) and the bench feed
host; the feeds are held back (next check far away) until every worker has started, then all
made due at once; the clock runs until every feed's first fetch is recorded. It reports
feeds/s and items/s per K, and the speed-up of 2 workers over 1 (2 cores here: the parse
workers and the database share them).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import Result, median, tmpdir
from bench.feedhost import FeedHost

ROOT = Path(__file__).resolve().parent.parent


def _write_feeds(path: Path, urls: list[str]) -> None:
    path.write_text("".join(f'[[feeds]]\nurl = "{u}"\n\n' for u in urls), encoding="utf-8")


async def _q(dsn: str, sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def _one_run(server: Any, warm: list[str], urls: list[str], workers: int, d: Path) -> tuple[float, int]:
    """Seconds until every feed's first fetch is recorded, and the articles stored.

    `warm` feeds go first, untimed: they start every worker's parse process (a spawned
    interpreter loading the classifier, seconds), as in a service that has been running."""
    from tests.pgserver import new_database

    dsn = asyncio.run(new_database(server, migrated=False))
    feeds = d / f"feeds-{workers}.toml"
    _write_feeds(feeds, warm + urls)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVIC_ALERTS_", "DISCORD_"))}
    env.update({
        "DISCORD_TOKEN": "", "CIVIC_ALERTS_DB": dsn, "CIVIC_ALERTS_FEEDS": str(feeds),
        "CIVIC_ALERTS_CONFIG_DIR": str(ROOT / "config"), "CIVIC_ALERTS_TICK_SECONDS": "0.2",
        "CIVIC_ALERTS_PARSE_WORKERS": "1", "CIVIC_ALERTS_CLAIM_BATCH": str(_batch(len(urls), workers)),
        "CIVIC_ALERTS_COVERAGE": str(_coverage(d)), "PYTHONPATH": str(ROOT),
    })
    # the feeds exist before the workers and wait until all of them run
    from bot.models import FeedConfig
    from bot.store.pg import PgStore

    async def prepare() -> None:
        store = await PgStore.open(dsn)
        await store.sync_feeds([FeedConfig(url=u) for u in warm + urls])
        for u in warm + urls:
            await store.postpone_feed(u, time.time() + 86400)
        await store.close()

    asyncio.run(prepare())
    procs = []
    logs = []
    try:
        for n in range(workers):
            err = (d / f"w{workers}-{n}.err").open("wb")
            logs.append(err)
            procs.append(subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=str(d), env=env,
                                          stdout=subprocess.DEVNULL, stderr=err, start_new_session=True))
        deadline = time.monotonic() + 300
        while not all("polling feeds" in (d / f"w{workers}-{n}.err").read_text(errors="replace")
                      for n in range(workers)):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError("workers did not start: " + (d / f"w{workers}-0.err").read_text()[-2000:])
            time.sleep(0.1)
        asyncio.run(_q(dsn, "UPDATE feeds SET next_check = NULL WHERE url = ANY($1::text[])", warm))
        while asyncio.run(_q(dsn, "SELECT count(*) FROM feeds WHERE last_checked IS NULL AND url = ANY($1::text[])",
                             warm)):
            if time.monotonic() > deadline:
                raise RuntimeError("warm-up feeds not polled in time")
            time.sleep(0.05)
        before = int(asyncio.run(_q(dsn, "SELECT count(*) FROM articles")))
        t0 = time.perf_counter()
        asyncio.run(_q(dsn, "UPDATE feeds SET next_check = NULL WHERE last_checked IS NULL"))
        while asyncio.run(_q(dsn, "SELECT count(*) FROM feeds WHERE last_checked IS NULL")):
            if time.monotonic() > deadline:
                raise RuntimeError("feeds not all polled in time")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        articles = int(asyncio.run(_q(dsn, "SELECT count(*) FROM articles"))) - before
        return elapsed, articles
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs:
            f.close()


def _batch(feeds: int, workers: int) -> int:
    """Feeds claimed per look: small enough that every worker gets some of the warm-up feeds
    (8 at full size; 1 in smoke mode, where there are only a few)."""
    return max(1, min(8, feeds // (2 * workers)))


def _coverage(d: Path) -> Path:
    """config/coverage.toml with its Google News base on a closed loopback port (no internet)."""
    import re

    text = (ROOT / "config" / "coverage.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^base_url = ".*"$', 'base_url = "http://127.0.0.1:9/rss/search"', text)
    path = d / "coverage.toml"
    path.write_text(text, encoding="utf-8")
    return path


def workers(size: int, smoke: bool, repeat: int) -> Result:
    from tests.pgserver import start_server

    res = Result("workers", f"{size} feeds × {10 if smoke else 50} items, 1 vs 2 `run` processes on PostgreSQL")
    try:
        server = start_server()
    except RuntimeError as exc:
        if os.environ.get("CIVIC_ALERTS_REQUIRE_POSTGRES"):
            raise
        res.notes.append(f"skipped: {exc}")
        res.add("PostgreSQL available", 0, "{:.0f}")
        return res
    try:
        with FeedHost(2 * size, items=10 if smoke else 50) as host, tmpdir("workers") as d:
            urls = host.urls()
            per_k: dict[int, list[tuple[float, int]]] = {}
            for _ in range(repeat):
                for k in (1, 2):
                    per_k.setdefault(k, []).append(_one_run(server, urls[:size], urls[size:], k, d))
    finally:
        server.stop()
    rate = {}
    for k, runs in per_k.items():
        secs = median([r[0] for r in runs])
        items = median([float(r[1]) for r in runs])
        rate[k] = size / secs
        res.add(f"{k} worker(s): cold cycle (s)", secs, "{:.2f}", key=f"w{k}_s")
        res.add(f"{k} worker(s): feeds/s", size / secs, "{:.1f}", key=f"w{k}_feeds_per_s")
        res.add(f"{k} worker(s): articles/s", items / secs, "{:.0f}", key=f"w{k}_items_per_s")
    res.add("speed-up, 2 workers over 1", rate[2] / rate[1], "{:.2f}×", key="speedup")
    return res
