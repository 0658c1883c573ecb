"""ingest-cold, ingest-steady, loop-lag and memory: one poll cycle of ours against `reader`.

Each measured side runs in a fresh spawned interpreter (bench.common.run_isolated), so its peak
RSS (main process + forkserver + parse workers, sampled every 20 ms) and its imports start clean,
and both talk to the same feed host process (bench/feedhost.py), which neither side is charged for.

Our side is the production path: Settings(db_path, parse_workers), Store.open, Fetcher with the
service's FetchLimits, Poller(..., make_executor(settings)), `await poller.poll_once(feeds)`.
The worker pool is started (and the classifier loaded in each worker) before the clock starts,
as in the running service, where the pool outlives every cycle; its start-up is reported apart.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

from bench.common import (
    LoopLag,
    Result,
    RssSampler,
    cpu_seconds,
    median,
    run_isolated,
    spread,
    tmpdir,
)
from bench.feedhost import FeedHost

READER_WORKER_CHOICES = (1, 4, 8, 16)


# ----------------------------------------------------------------------------- our side


def _warm_doc() -> bytes:
    return (b'<?xml version="1.0"?><rss version="2.0"><channel><title>w</title>'
            b"<item><title>ICE agents detain workers in Chicago</title><link>https://w.example/1</link>"
            b"<description>Federal immigration agents detained workers.</description></item>"
            b"</channel></rss>")


async def _our_cycles(urls: list[str], db: str, workers: int, cycles: int, lag: bool,
                      stories: bool = True) -> dict[str, Any]:
    from bot.assembly import StoryAssembler
    from bot.ingest.fetch import Fetcher, fetch_limits
    from bot.models import FeedConfig
    from bot.poller import Poller, make_executor, process_feed_body
    from bot.settings import Settings
    from bot.store import Store

    settings = Settings(db_path=Path(db), parse_workers=workers)
    t_open = time.perf_counter()
    store = await Store.open(db)
    assembler = StoryAssembler()
    await assembler.load(store)  # as App.open does: the 72 h cluster index from the database
    open_s = time.perf_counter() - t_open
    executor = make_executor(settings)
    loop = asyncio.get_running_loop()
    t_warm = time.perf_counter()
    await asyncio.gather(*(loop.run_in_executor(executor, process_feed_body, _warm_doc(), f"http://w/{i}",
                                                 {}, None, None, str(settings.config_dir))
                           for i in range(max(1, settings.parse_workers) * 2)))
    warm_s = time.perf_counter() - t_warm
    feeds = [FeedConfig(url=u) for u in urls]
    out: dict[str, Any] = {"store_open_s": open_s, "pool_warmup_s": warm_s, "cycles": []}
    try:
        async with Fetcher(fetch_limits(settings)) as fetcher:
            poller = Poller(store, fetcher, settings, executor, assembler=assembler)
            await store.sync_feeds(feeds)
            for n in range(cycles):
                ticker = LoopLag()
                with RssSampler() as rss:
                    if lag:
                        ticker.start()
                    cpu0, t0 = cpu_seconds(), time.perf_counter()
                    report = await poller.poll_once(None if n else feeds, stories=stories)
                    wall = time.perf_counter() - t0
                    cpu = cpu_seconds() - cpu0
                    await ticker.stop()
                out["cycles"].append({
                    "wall": wall,
                    "cpu": cpu,
                    "feeds": len(report.feeds),
                    "failed": len(report.failed),
                    "errors": sorted({f.error or "" for f in report.failed})[:3],
                    "items": sum(f.items for f in report.feeds),
                    "new_articles": sum(f.new_articles for f in report.feeds),
                    "not_modified": sum(1 for f in report.feeds if f.not_modified),
                    "unchanged": sum(1 for f in report.feeds if f.unchanged),
                    "new_stories": report.new_story_count,
                    "peak_rss": rss.peak,
                    "peak_rss_main": rss.peak_main,
                    "lag": ticker.stats() if lag else None,
                })
        out["counts"] = await store.counts()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        await store.close()
    return out


def ours(urls: list[str], db: str, workers: int = 0, cycles: int = 1, lag: bool = True,
         stories: bool = True) -> dict[str, Any]:
    """In a fresh process: `cycles` poll cycles over `urls` (the first one cold). `stories`:
    load the new stories into the report as `poll --once` does (False: as the service does)."""
    return asyncio.run(_our_cycles(urls, db, workers, cycles, lag, stories))


# ----------------------------------------------------------------------------- reader


def theirs(urls: list[str], db: str, workers: int, cycles: int = 1,
           steady_workers: tuple[int, ...] = (), steady_repeat: int = 1) -> dict[str, Any]:
    """In a fresh process: `reader` update_feeds over the same URLs (first cycle cold); then one
    more cycle per entry of `steady_workers` (nothing new by then), recorded under "steady"."""
    _sgmllib_shim()
    from reader import make_reader

    r = make_reader(db)
    for u in urls:
        r.add_feed(u, exist_ok=True)
    out: dict[str, Any] = {"cycles": []}
    try:
        for n in range(cycles):
            with RssSampler() as rss:
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                r.update_feeds(workers=workers, scheduled=n == 0)
                wall = time.perf_counter() - t0
                cpu = cpu_seconds() - cpu0
            out["cycles"].append({"wall": wall, "cpu": cpu, "peak_rss": rss.peak,
                                  "entries": r.get_entry_counts().total})
        out["steady"] = {}
        out["steady_best"] = []
        for w in steady_workers:
            cpu0, t0 = cpu_seconds(), time.perf_counter()
            r.update_feeds(workers=w, scheduled=False)
            out["steady"][w] = {"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - cpu0}
        if out["steady"]:
            best = min(out["steady"], key=lambda w: out["steady"][w]["wall"])
            out["steady_best"].append(out["steady"][best])
            for _ in range(steady_repeat - 1):
                cpu0, t0 = cpu_seconds(), time.perf_counter()
                r.update_feeds(workers=best, scheduled=False)
                out["steady_best"].append({"wall": time.perf_counter() - t0, "cpu": cpu_seconds() - cpu0})
        broken = [f.url for f in r.get_feeds() if f.last_exception]
        out["broken"] = len(broken)
    finally:
        r.close()
    return out


def _sgmllib_shim() -> None:
    """reader vendors a feedparser that imports `sgmllib` (PyPI sgmllib3k, which reader does not
    declare); feedparser 6.0.12+ ships the same Python 2.7 module as `feedparser_sgmllib`."""
    import importlib.util
    import sys

    if importlib.util.find_spec("sgmllib") is None:
        import feedparser_sgmllib

        sys.modules["sgmllib"] = feedparser_sgmllib


def _reader_sweep(host: FeedHost, n: int, choices: tuple[int, ...]) -> tuple[int, dict[int, float]]:
    walls: dict[int, float] = {}
    for w in choices:
        with tmpdir("reader-sweep") as d:
            res = run_isolated(theirs, host.urls()[:n], str(d / "reader.sqlite"), w)
        walls[w] = res["cycles"][0]["wall"]
    best = min(walls, key=lambda w: walls[w])
    return best, walls


# ----------------------------------------------------------------------------- scenarios


def ingest_cold(size: int, smoke: bool, repeat: int) -> Result:
    n = size
    res = Result("ingest-cold", f"{n} feeds × 50 items, empty database, {repeat} run(s) each side")
    with FeedHost(n, items=10 if smoke else 50) as host:
        st = host.stats()
        choices = (4,) if smoke else READER_WORKER_CHOICES
        best, sweep = _reader_sweep(host, min(n, 60), choices)
        ours_runs, their_runs = [], []
        for _ in range(repeat):
            with tmpdir("ours") as d:
                ours_runs.append(run_isolated(ours, host.urls(), str(d / "bench.sqlite3")))
            with tmpdir("reader") as d:
                their_runs.append(run_isolated(theirs, host.urls(), str(d / "reader.sqlite"), best))
        st = host.stats()
    o = [r["cycles"][0] for r in ours_runs]
    t = [r["cycles"][0] for r in their_runs]
    ratios = [b["wall"] / a["wall"] for a, b in zip(o, t, strict=True)]
    items = o[0]["items"]
    res.add("our wall time (s)", median([c["wall"] for c in o]), key="wall")
    res.rows[-1].value = spread([c["wall"] for c in o])
    res.add("our items/s", median([c["items"] / c["wall"] for c in o]), "{:.0f}", key="items_per_s")
    res.add(f"reader wall time (s), workers={best}", median([c["wall"] for c in t]), key="reader_wall")
    res.rows[-1].value = spread([c["wall"] for c in t])
    ratio = median(ratios)
    res.add("reader wall / our wall (same run)", ratio, "{:.2f}×", target="≥ 3×", met=ratio >= 3,
            key="speedup")
    res.rows[-1].value = spread(ratios, "{:.2f}") + " ×"
    res.add("our peak RSS, main + workers (MB)", median([c["peak_rss"] for c in o]) / 2**20, "{:.0f}",
            key="peak_rss_mb")
    res.add("reader peak RSS (MB)", median([c["peak_rss"] for c in t]) / 2**20, "{:.0f}",
            key="reader_rss_mb")
    res.add("our CPU (s), main + workers", median([c["cpu"] for c in o]), "{:.1f}", key="cpu")
    res.add("items stored: ours (articles) / reader (entries)",
            f"{ours_runs[0]['counts']['articles']} / {t[0]['entries']}")
    res.numbers["items"] = items
    res.add("our stories (after clustering)", ours_runs[0]["counts"]["stories"], "{:.0f}")
    lag = [c["lag"] for c in o if c["lag"]]
    if lag:
        res.add("loop lag during our cycle p99 / max (ms)",
                f"{median([x['p99_ms'] for x in lag]):.1f} / {median([x['max_ms'] for x in lag]):.1f}")
    res.add("pool start-up before the cycle (s)", median([r["pool_warmup_s"] for r in ours_runs]), "{:.2f}")
    res.notes.append("reader workers sweep (wall s, first 60 feeds): "
                     + ", ".join(f"{w}: {s:.2f}" for w, s in sweep.items()) + f" → best {best}")
    failed = sum(c["failed"] for c in o)
    if failed or any(r.get("broken") for r in their_runs):
        res.notes.append(f"failures: ours {failed} {o[0]['errors']}, reader {their_runs[0].get('broken')}")
    res.notes.append(f"feed host served {st['200']} bodies ({st['bytes'] / 2**20:.0f} MB), {st['304']} × 304")
    return res


def ingest_steady(size: int, smoke: bool, repeat: int) -> Result:
    """One primed database per side (priming 1,000 feeds is the slow part), then `repeat`
    steady cycles each; reader's steady cycle is swept over its worker settings first."""
    n = size
    res = Result("ingest-steady", f"{n} feeds, nothing new: half 304, half the same body; "
                                  f"{repeat} steady cycle(s) per side after one priming cycle")
    with FeedHost(n, items=10 if smoke else 50) as host:
        host.set_mode("steady")
        choices = (4,) if smoke else READER_WORKER_CHOICES
        with tmpdir("ours") as d:
            mine = run_isolated(ours, host.urls(), str(d / "bench.sqlite3"), 0, 1 + repeat, False)
        with tmpdir("reader") as d:
            their = run_isolated(theirs, host.urls(), str(d / "reader.sqlite"), 8, 1, choices, repeat)
    o = mine["cycles"][1:]
    t = their["steady_best"]
    best = min(their["steady"], key=lambda w: their["steady"][w]["wall"])
    wall = median([c["wall"] for c in o])
    res.add("our steady cycle wall (s)", wall, target="≤ 1 s", met=wall <= 1.0, key="wall")
    res.rows[-1].value = spread([c["wall"] for c in o], "{:.3f}")
    cpu_per = median([c["cpu"] / max(1, c["feeds"]) * 1000 for c in o])
    res.add("our CPU per feed check (ms), main + workers", cpu_per, "{:.3f}", target="≤ 0.5 ms",
            met=cpu_per <= 0.5, key="cpu_per_check_ms")
    res.rows[-1].value = spread([c["cpu"] / max(1, c["feeds"]) * 1000 for c in o], "{:.3f}")
    res.add(f"reader steady cycle wall (s), best workers ({best})", median([c["wall"] for c in t]),
            "{:.3f}", key="reader_wall")
    res.rows[-1].value = spread([c["wall"] for c in t], "{:.3f}")
    ratio = median([c["wall"] for c in t]) / wall
    res.add("reader wall / our wall (medians, same run)", ratio, "{:.2f}×", target="> 1× (faster than reader)",
            met=ratio > 1, key="speedup")
    res.add("reader CPU per feed check (ms)", median([c["cpu"] / n * 1000 for c in t]), "{:.2f}")
    res.add("our outcomes per cycle: 304 / same body (hash) / parsed",
            f"{o[0]['not_modified']} / {o[0]['unchanged']} / {o[0]['feeds'] - o[0]['not_modified'] - o[0]['unchanged']}")
    res.add("priming cold cycle (s): ours / reader",
            f"{mine['cycles'][0]['wall']:.1f} / {their['cycles'][0]['wall']:.1f}")
    res.notes.append("reader steady cycle wall by workers: " + ", ".join(
        f"{w}: {c['wall']:.2f} s" for w, c in their["steady"].items()) + f"; then {repeat - 1} more at {best}")
    return res


def loop_lag(size: int, smoke: bool, repeat: int) -> Result:
    res = Result("loop-lag", f"10 ms ticker during an ingest-cold cycle of {size} feeds; {repeat} run(s)")
    with FeedHost(size, items=10 if smoke else 50) as host:
        runs = []
        for _ in range(repeat):
            with tmpdir("ours") as d:
                runs.append(run_isolated(ours, host.urls(), str(d / "bench.sqlite3"))["cycles"][0])
    p99 = [r["lag"]["p99_ms"] for r in runs]
    mx = [r["lag"]["max_ms"] for r in runs]
    res.add("lag p50 (ms)", median([r["lag"]["p50_ms"] for r in runs]), "{:.2f}", key="p50_ms")
    res.add("lag p99 (ms)", median(p99), "{:.1f}", target="≤ 50 ms", met=median(p99) <= 50, key="p99_ms")
    res.rows[-1].value = spread(p99, "{:.1f}")
    res.add("lag max (ms)", median(mx), "{:.1f}", target="≤ 150 ms", met=median(mx) <= 150, key="max_ms")
    res.rows[-1].value = spread(mx, "{:.1f}")
    res.add("ticks per cycle", median([r["lag"]["ticks"] for r in runs]), "{:.0f}")
    res.add("cycle wall (s)", median([r["wall"] for r in runs]), "{:.2f}")
    return res


def memory(size: int, smoke: bool, repeat: int, stored: int) -> Result:
    from bench.s_search import ensure_db

    res = Result("memory", f"{size}-feed cold cycle into a database holding {stored:,} articles")
    src = ensure_db(stored)
    with FeedHost(size, items=10 if smoke else 50) as host, tmpdir("memory") as d:
        runs = []
        for _ in range(repeat):
            db = d / "bench.sqlite3"
            shutil.copyfile(src, db)
            # as the service (`run`) polls: new stories counted, not loaded (poll_once(stories=False))
            runs.append(run_isolated(ours, host.urls(), str(db), 0, 1, False, False))
            db.unlink()
    c = [r["cycles"][0] for r in runs]
    peak = median([x["peak_rss"] for x in c]) / 2**20
    res.add("peak RSS, main + workers (MB)", peak, "{:.0f}", target="≤ 250 MB (issue 15)",
            met=peak <= 250, key="peak_rss_mb")
    res.rows[-1].value = spread([x["peak_rss"] / 2**20 for x in c], "{:.0f}")
    res.add("peak RSS of the main process (MB)", median([x["peak_rss_main"] for x in c]) / 2**20, "{:.0f}")
    res.add("cycle wall (s)", median([x["wall"] for x in c]), "{:.1f}", key="wall")
    res.add("new articles", c[0]["new_articles"], "{:.0f}")
    res.add("store open + cluster index load (s, 72 h of stories)", median([r["store_open_s"] for r in runs]), "{:.2f}")
    return res
