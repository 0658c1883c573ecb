"""clustering: the cost of placing one new headline with 10k / 100k / 1M headlines in the window.

Issue 15 item 4: candidate stories come from signature keys stored with the headlines
(migration 018, `bot.stories.signature_keys`), read inside the save transaction; the cost per
headline must stay flat as the window grows.

The database (cached in bench/out per size) is built directly: a Store opened on a fresh file
(the real migrations make the schema), then stories, articles and their `headline_keys` rows
bulk-inserted with plain sqlite3 — every headline published within the last 70 hours of a fixed
"now" (kept in meta `bench_now`, which the measuring store's clock uses), about 1.35 articles per
story (the second and third reports reworded), titles spliced from real headlines
(bench/feedgen.py). Keys go through an unindexed staging table and are copied in key order, so
the 1M build is one sort rather than 35M random B-tree inserts.

Measured in a fresh process per size, on a copy of the file:
- decision: for each probe headline (30 % look-alikes of stored headlines, 70 % new ones) the
  store's candidate read (`_read_candidates`, the query `save_articles` runs) plus `pick_story`,
  all on the store's thread — µs per headline, the clustering step alone;
- save: the same probes through `StoryAssembler.save` in feed batches of 50 — µs per headline of
  the whole save (dedup, story row, FTS, keys, fan-out);
- for reference, today's in-memory `ClusterIndex.find` over the same headlines (10k and 100k
  only: at 1M the index alone needs gigabytes, which is the point of the change).

Note on the data: spliced titles repeat their halves across the window far more than real news
does (~2,000 source headlines), so at 1M nearly every word pair of a probe is common and the
per-key cap (`PER_KEY`) and candidate cap (`CANDIDATES`) always bind: a worst case for the
database path.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import OUT_DIR, Result, RssSampler, median, run_isolated, spread, tmpdir

DB_VERSION = 3  # 3: keys of bot.stories KEYS_VERSION pairs5-v3 (a cached file of older keys is rebuilt)
ARTICLES_PER_STORY = 1.35
WINDOW_HOURS = 70.0


def db_path(n: int) -> Path:
    return OUT_DIR / f"clustering-{n}-v{DB_VERSION}.sqlite3"


def ensure_db(n: int) -> Path:
    path = db_path(n)
    if not path.is_file():
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        run_isolated(_build, n, str(path))
    return path


def _titles() -> list[str]:
    from bench import feedgen

    return list(dict.fromkeys(feedgen.corpus().titles))


def _build(n_articles: int, target: str) -> dict[str, Any]:
    from bench import feedgen
    from bot.store import Store
    from bot.stories import signature_keys

    t0 = time.perf_counter()
    tmp = Path(f"{target}.{os.getpid()}.building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)

    async def migrate() -> None:
        store = await Store.open(tmp)
        await store.close()

    asyncio.run(migrate())
    titles = _titles()
    sources = feedgen.corpus().sources
    rng = random.Random(f"clustering:{n_articles}")
    now = 1_790_000_000.0
    feeds = [f"https://www.outlet{i}.example/rss" for i in range(1000)]
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -100000")
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "AND tbl_name = 'stories'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute("CREATE TABLE staging(key INTEGER, published REAL, article_id INTEGER)")
    article_id = story_id = 0
    while article_id < n_articles:
        stories, arts, keys = [], [], []
        for _ in range(min(20_000, n_articles - article_id)):
            story_id += 1
            title = feedgen.splice(rng, rng.choice(titles), rng.choice(titles))
            published = now - rng.uniform(0, WINDOW_HOURS * 3600)
            source = rng.choice(sources)
            url = f"https://www.example.org/{story_id}.html"
            k = 1 + (rng.random() < ARTICLES_PER_STORY - 1) + (rng.random() < 0.05)
            stories.append((story_id, title, url, source, "", published, published, published, 0,
                            f'["{source}"]', "[]", "[]", "[]"))
            for j in range(k):
                if article_id >= n_articles:
                    break
                article_id += 1
                text = title if j == 0 else title + rng.choice(feedgen.REWORDINGS[2:])
                when = published + j * 600
                feed = rng.choice(feeds)
                arts.append((article_id, f"a{article_id}", feed, f"{url}?a={article_id}", url, text, "", when,
                             1, rng.choice(sources), story_id, when))
                keys.extend((key, when, article_id) for key in signature_keys(text))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO stories(id, title, url, source, summary, published, first_seen, updated, "
                         "link_rank, outlets, topics, cities, why) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", stories)
        conn.executemany("INSERT INTO articles(id, identity, feed_url, url, link, title, summary, published, "
                         "published_known, source, story_id, fetched) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", arts)
        conn.executemany("INSERT INTO staging VALUES (?, ?, ?)", keys)
        conn.execute("COMMIT")
    conn.execute("INSERT INTO headline_keys SELECT key, published, article_id FROM staging "
                 "ORDER BY key, published, article_id")
    rows = conn.execute("SELECT count(*) FROM staging").fetchone()[0]
    conn.execute("DROP TABLE staging")
    conn.execute("INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')")
    for _, sql in triggers:
        conn.execute(sql)
    from bot.stories import KEYS_VERSION

    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('headline_keys', ?)", (KEYS_VERSION,))
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('bench_now', ?)", (str(now),))
    conn.execute("VACUUM")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    tmp.replace(target)
    return {"seconds": time.perf_counter() - t0, "articles": article_id, "stories": story_id, "keys": rows}


def _probes(db: str, n: int, now: float) -> list[tuple[str, float, str, str]]:
    """(title, published, feed, source): 30 % look-alikes of stored headlines, 70 % new."""
    from bench import feedgen

    rng = random.Random(f"probes:{n}")
    titles = _titles()
    conn = sqlite3.connect(db)
    max_id = conn.execute("SELECT max(id) FROM articles").fetchone()[0]
    out = []
    for i in range(n):
        if rng.random() < 0.3:
            row = conn.execute("SELECT title FROM articles WHERE id = ?", (rng.randint(1, max_id),)).fetchone()
            title = row[0] + rng.choice(feedgen.REWORDINGS[2:])
        else:
            title = feedgen.splice(rng, rng.choice(titles), rng.choice(titles))
        out.append((title, now - rng.uniform(0, 3600), f"https://probe{i % 40}.example/rss", f"Probe {i % 40}"))
    conn.close()
    return out


def measure(db: str, n_probes: int, old_index: bool) -> dict[str, Any]:
    """In a fresh process: the decision and the save per headline, and (optionally) the old index."""
    return asyncio.run(_measure(db, n_probes, old_index))


async def _measure(db: str, n_probes: int, old_index: bool) -> dict[str, Any]:
    from datetime import UTC, datetime

    from bot.assembly import StoryAssembler, outlet_key
    from bot.clock import ManualClock
    from bot.models import Article, Match
    from bot.store import Store
    from bot.store.stories import _read_candidates
    from bot.stories import WINDOW_SECONDS, ClusterIndex, KeyLookup, pick_story, signature_keys

    now = float(sqlite3.connect(db).execute("SELECT value FROM meta WHERE key = 'bench_now'").fetchone()[0])
    probes = _probes(db, n_probes, now)
    out: dict[str, Any] = {}
    store = await Store.open(db, clock=ManualClock(now))
    try:
        assembler = StoryAssembler(store.clock)
        t0 = time.perf_counter()
        await assembler.load(store)
        out["load_s"] = time.perf_counter() - t0

        def decide(c: sqlite3.Connection) -> tuple[float, int, int]:
            found = cands = 0
            t = time.perf_counter()
            for title, when, feed, source in probes:
                keys = signature_keys(title)
                rows = _read_candidates(c, KeyLookup(keys, when - WINDOW_SECONDS, when + WINDOW_SECONDS))
                cands += len(rows)
                story = pick_story(title, when, outlet_key(feed, source),
                                   [(h.story_id, h.title, h.published, outlet_key(h.feed_url, h.source)) for h in rows])
                found += story is not None
            return time.perf_counter() - t, found, cands

        await store._run(decide)  # warm the page cache and the statement cache once
        with RssSampler() as rss:
            seconds, found, cands = await store._run(decide)
        out.update(decide_us=seconds / len(probes) * 1e6, joins=found, candidates=cands / len(probes),
                   peak_rss_main=rss.peak_main)
        arts = [
            Article(feed_url=feed, guid=f"p{i}", url=f"https://p.example/{i}", link=f"https://p.example/{i}",
                    title=title, summary="", published=datetime.fromtimestamp(when, UTC), published_known=True,
                    source=source, source_url=None, image_url=None, identity=f"probe-{i}")
            for i, (title, when, feed, source) in enumerate(probes)
        ]
        no_match = Match((), (), (), None)
        t = time.perf_counter()
        for k in range(0, len(arts), 50):
            await assembler.save(store, arts[k].feed_url, [(a, no_match) for a in arts[k : k + 50]])
        out["save_us"] = (time.perf_counter() - t) / len(arts) * 1e6
    finally:
        await store.close()
    if old_index:
        conn = sqlite3.connect(db)
        index = ClusterIndex()
        for sid, title, published, feed, source in conn.execute(
            "SELECT story_id, title, published, feed_url, source FROM articles"
        ):
            index.add(sid, title, published, outlet_key(feed, source))
        conn.close()
        t = time.perf_counter()
        for title, when, feed, source in probes:
            index.find(title, when, outlet_key(feed, source))
        out["old_find_us"] = (time.perf_counter() - t) / len(probes) * 1e6
    return out


def clustering(size: int, smoke: bool, repeat: int) -> Result:
    sizes = (200, 1_000) if smoke else tuple(s for s in (10_000, 100_000, 1_000_000) if s <= size) or (size,)
    n_probes = 200 if smoke else 2_000
    res = Result("clustering", f"µs per new headline with {', '.join(f'{s:,}' for s in sizes)} headlines "
                               f"in the window; {n_probes} probes, {repeat} run(s) each")
    per_size: dict[int, list[dict[str, Any]]] = {}
    builds: dict[int, float] = {}
    for n in sizes:
        t0 = time.perf_counter()
        src = ensure_db(n)
        builds[n] = time.perf_counter() - t0
        runs = []
        for _ in range(repeat):
            with tmpdir("clustering") as d:
                db = d / "c.sqlite3"
                shutil.copyfile(src, db)
                runs.append(run_isolated(measure, str(db), n_probes, n <= 100_000))
        per_size[n] = runs
    for n, runs in per_size.items():
        dec = [r["decide_us"] for r in runs]
        res.add(f"{n:,}: clustering decision (µs/headline): key read + pick_story", median(dec), "{:.0f}",
                key=f"decide_us_{n}")
        res.rows[-1].value = spread(dec, "{:.0f}")
        res.add(f"{n:,}: whole save (µs/headline), batches of 50", median([r["save_us"] for r in runs]), "{:.0f}",
                key=f"save_us_{n}")
        res.add(f"{n:,}: candidates read per headline / probes joined",
                f"{median([r['candidates'] for r in runs]):.1f} / {runs[0]['joins']} of {n_probes}")
        if "old_find_us" in runs[0]:
            res.add(f"{n:,}: old in-memory ClusterIndex.find (µs/headline)",
                    median([r["old_find_us"] for r in runs]), "{:.0f}", key=f"old_us_{n}")
        res.add(f"{n:,}: main process peak RSS while deciding (MB)",
                median([r["peak_rss_main"] for r in runs]) / 2**20, "{:.0f}")
    lo, hi = per_size[sizes[0]], per_size[sizes[-1]]
    ratio = median([r["decide_us"] for r in hi]) / median([r["decide_us"] for r in lo])
    res.add(f"decision cost {sizes[-1]:,} / {sizes[0]:,}", ratio, "{:.2f}×", target="flat (≤ 2×)",
            met=ratio <= 2.0, key="growth")
    res.notes.append("database build (s, cached in bench/out after the first run): "
                     + ", ".join(f"{n:,}: {s:.0f}" for n, s in builds.items()))
    return res
