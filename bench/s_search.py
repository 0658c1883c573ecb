"""search: 1,000,000 stored articles, 200 realistic queries through `Store.search`.

Building the database: a Store is opened once on a fresh file (so the real migrations create the
schema), then stories, articles, story_cities and story_topics are bulk-inserted with a plain
sqlite3 connection in large transactions. The FTS triggers are dropped for the load and the FTS
index is rebuilt in one pass ('rebuild'), then the triggers are re-created from their original
SQL, so the file ends up exactly as the store would have left it. The file is cached in
bench/out/ (git-ignored) per size and generator version.

Data shape: about 1.35 articles per story (clustering), headlines recombined from real ones
(bench/feedgen.py), real description text as summaries, publication times spread over two years
(most of them recent), 45 % of stories tagged with a city (population-weighted over the 150
largest cities), 12 % with a topic. Queries: see `queries()` (a realistic mix, reported against
the target, and a random-combination stress mix), half of them with a city filter.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.common import OUT_DIR, Result, median, percentile, run_isolated, spread

DB_VERSION = 1
ARTICLES_PER_STORY = 1.35
TOPIC_IDS = ("immigration-enforcement", "national-guard", "sanctuary-policy")
TOPIC_WORDS = ("ice", "ice raid", "immigration", "deportation", "national guard", "sanctuary city",
               "border patrol", "detention", "asylum", "troops", "federal agents", "protest",
               "immigration court", "sanctuary policy", "guard deployment", "dhs", "detained",
               "ice agents", "raid", "migrants")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{3,}")
_STOP = {"with", "from", "that", "this", "after", "over", "into", "their", "about", "what", "when",
         "have", "will", "says", "said", "more", "than", "they", "been", "were", "year", "years"}


def _cities() -> list[tuple[str, int]]:
    from bot.relevance import load_classifier

    gaz = load_classifier().gazetteer
    cities = sorted(gaz.cities, key=lambda c: -c.population)[:150]
    return [(c.id, c.population) for c in cities]


def db_path(n_articles: int) -> Path:
    return OUT_DIR / f"search-{n_articles}-v{DB_VERSION}.sqlite3"


def ensure_db(n_articles: int) -> Path:
    path = db_path(n_articles)
    if not path.is_file():
        run_isolated(_build, n_articles, str(path))
    return path


def _build(n_articles: int, target: str) -> dict[str, Any]:
    from bench import feedgen
    from bot.store import Store

    t0 = time.perf_counter()
    tmp = Path(f"{target}.{os.getpid()}.building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)

    async def migrate() -> None:
        store = await Store.open(tmp)
        await store.close()

    asyncio.run(migrate())
    c = feedgen.corpus()
    rng = random.Random(f"search:{n_articles}")
    cities = _cities()
    city_ids = [cid for cid, _ in cities]
    weights = [pop for _, pop in cities]
    summaries = [feedgen._text(it.summary_html)[:600] for it in c.items]
    summaries = [s for s in summaries if len(s) > 40] or ["No summary."]
    relevant = list(c.relevant)
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -200000")
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                            "AND tbl_name = 'stories'").fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    now = time.time()
    n_stories = max(1, int(n_articles / ARTICLES_PER_STORY))
    feeds = [f"https://www.outlet{i}.example/rss" for i in range(1000)]
    batch = 50_000
    article_id = 0
    story_id = 0
    while story_id < n_stories:
        stories, arts, sc, st = [], [], [], []
        for _ in range(min(batch, n_stories - story_id)):
            story_id += 1
            r = rng.random()
            topics: list[str] = []
            if r < 0.12:
                t, summary = rng.choice(relevant)
                title = feedgen.splice(rng, t, rng.choice(relevant)[0]) if rng.random() < 0.7 else t
                topics = [rng.choice(TOPIC_IDS)]
            else:
                title = feedgen.splice(rng, rng.choice(c.titles), rng.choice(c.titles))
                summary = rng.choice(summaries)
            tagged: list[str] = []
            if rng.random() < 0.45:
                tagged = [rng.choices(city_ids, weights)[0]]
                if rng.random() < 0.1:
                    tagged.append(rng.choices(city_ids, weights)[0])
                tagged = list(dict.fromkeys(tagged))
            age = rng.expovariate(1 / (120 * 86400))  # mean 120 days
            published = now - min(age, 730 * 86400)
            source = rng.choice(c.sources)
            url = f"https://www.{source.lower().replace(' ', '')[:20]}.example/{story_id}.html"
            k = 1 + (rng.random() < ARTICLES_PER_STORY - 1) + (rng.random() < 0.05)
            outlets = [source] + [rng.choice(c.sources) for _ in range(k - 1)]
            stories.append((story_id, title, url, source, summary, None, published, published, published,
                            0, json.dumps(list(dict.fromkeys(outlets))), json.dumps(topics),
                            json.dumps(tagged), json.dumps([f"topic:{t}" for t in topics])))
            sc.extend((city, story_id) for city in tagged)
            st.extend((t, story_id) for t in topics)
            for j in range(k):
                if article_id >= n_articles:
                    break
                article_id += 1
                feed = rng.choice(feeds)
                link = f"{url}?a={article_id}" if j else url
                ident = hashlib.blake2b(f"{feed}|{link}".encode(), digest_size=16).hexdigest()
                arts.append((article_id, ident, feed, link, link, link, title, summary, published + j * 60,
                             1, outlets[j], None, None, 0, story_id, published + j * 60))
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO stories(id, title, url, source, summary, image_url, published, "
                         "first_seen, updated, link_rank, outlets, topics, cities, why) "
                         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", stories)
        conn.executemany("INSERT INTO articles(id, identity, feed_url, guid, url, link, title, summary, "
                         "published, published_known, source, source_url, image_url, is_google_news, "
                         "story_id, fetched) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", arts)
        conn.executemany("INSERT OR IGNORE INTO story_cities(city, story_id) VALUES (?, ?)", sc)
        conn.executemany("INSERT OR IGNORE INTO story_topics(topic, story_id) VALUES (?, ?)", st)
        conn.execute("COMMIT")
    conn.execute("INSERT INTO stories_fts(stories_fts) VALUES ('rebuild')")
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("PRAGMA optimize")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    tmp.replace(target)
    return {"seconds": time.perf_counter() - t0, "articles": article_id, "stories": story_id}


def queries(n: int, seed: int = 5, kind: str = "realistic") -> list[tuple[str, str | None]]:
    """`n` (query, city filter or None) pairs; every other one has a city filter.

    realistic: what people type into /search: a topic phrase ("ice raid", "national guard"),
    maybe with a place, or 1–3 consecutive words out of a real headline.
    random: 1–3 words drawn independently from the 600 commonest headline words (plus topic
    phrases): most have no story with all the words, so the store falls back to "any word" —
    the expensive path, kept as a stress case.
    """
    from bench import feedgen

    rng = random.Random(f"queries:{seed}:{kind}")
    titles = feedgen.corpus().titles
    vocab: dict[str, int] = {}
    for title in titles:
        for w in _WORD.findall(title):
            w = w.lower()
            if w not in _STOP:
                vocab[w] = vocab.get(w, 0) + 1
    common = [w for w, k in sorted(vocab.items(), key=lambda kv: -kv[1])[:600]]
    cities = _cities()[:40]
    places = [cid.rsplit("-", 1)[0].replace("-", " ") for cid, _ in cities[:20]]
    out: list[tuple[str, str | None]] = []
    while len(out) < n:
        words = rng.randint(1, 3)
        if kind == "random":
            if rng.random() < 0.5:
                q = rng.choice(TOPIC_WORDS)
                extra = rng.sample(common, max(0, words - len(q.split())))
                q = " ".join([q, *extra]) if extra else q
            else:
                q = " ".join(rng.sample(common, words))
        elif rng.random() < 0.4:
            q = rng.choice(TOPIC_WORDS)
            if len(q.split()) < 3 and rng.random() < 0.4:
                q = f"{q} {rng.choice(places)}"
        else:
            ws = [w for w in _WORD.findall(rng.choice(titles)) if w.lower() not in _STOP]
            if not ws:
                continue
            start = rng.randrange(len(ws))
            q = " ".join(ws[start : start + words]).lower()
        city = rng.choices([c for c, _ in cities], [p for _, p in cities])[0] if len(out) % 2 else None
        out.append((q, city))
    return out


def _measure(path: str, n_queries: int, passes: int, kind: str = "realistic") -> dict[str, Any]:
    from bot.store import Store

    qs = queries(n_queries, kind=kind)

    async def run() -> dict[str, Any]:
        store = await Store.open(path)
        try:
            counts = await store.counts()
            for q, city in qs[:20]:  # warm-up: the page cache and SQLite's statement cache
                await store.search(q, city=city)
            per_pass: list[list[float]] = []
            hits: list[int] = []
            for _ in range(passes):
                times = []
                hits = []
                for q, city in qs:
                    t0 = time.perf_counter()
                    found = await store.search(q, city=city)
                    times.append(time.perf_counter() - t0)
                    hits.append(len(found))
                per_pass.append(times)
            return {"passes": per_pass, "hits": hits, "counts": counts}
        finally:
            await store.close()

    return asyncio.run(run())


def search(size: int, smoke: bool, repeat: int) -> Result:
    res = Result("search", f"{size:,} stored articles, 200 queries (half with a city filter)")
    path = db_path(size)
    built = None
    if not path.is_file():
        built = run_isolated(_build, size, str(path))
    n_q = 200
    r = run_isolated(_measure, str(path), n_q, 3 if not smoke else 1)
    stress = run_isolated(_measure, str(path), n_q, 1, "random")
    p50 = [percentile(p, 50) * 1000 for p in r["passes"]]
    p95 = [percentile(p, 95) * 1000 for p in r["passes"]]
    p99 = [percentile(p, 99) * 1000 for p in r["passes"]]
    res.add("p50 (ms)", median(p50), "{:.2f}", key="p50_ms")
    res.rows[-1].value = spread(p50, "{:.2f}")
    res.add("p95 (ms)", median(p95), "{:.2f}", target="≤ 50 ms", met=median(p95) <= 50, key="p95_ms")
    res.rows[-1].value = spread(p95, "{:.2f}")
    res.add("p99 (ms)", median(p99), "{:.2f}", key="p99_ms")
    res.rows[-1].value = spread(p99, "{:.2f}")
    all_times = [t for p in r["passes"] for t in p]
    res.add("max (ms)", max(all_times) * 1000, "{:.1f}")
    counts = r["counts"]
    size_bytes = path.stat().st_size
    res.add("database bytes per article", size_bytes / max(1, counts["articles"]), "{:.0f}",
            key="bytes_per_article")
    res.add("database size (MB) / articles / stories",
            f"{size_bytes / 2**20:.0f} / {counts['articles']:,} / {counts['stories']:,}")
    zero = sum(1 for h in r["hits"] if h == 0)
    res.add("queries with no hit", f"{zero} of {n_q}")
    st = stress["passes"][0]
    res.add("stress mix (random word combinations → any-word fallback): p50 / p95 / p99 (ms)",
            f"{percentile(st, 50) * 1000:.1f} / {percentile(st, 95) * 1000:.1f} / {percentile(st, 99) * 1000:.1f}")
    res.numbers["stress_p95_ms"] = percentile(st, 95) * 1000
    if built:
        res.add("database build (s, cached afterwards)", built["seconds"], "{:.0f}")
    res.notes.append("times are Store.search() through aiosqlite, as the /search command calls it; "
                     "3 passes over the same 200 realistic queries after a 20-query warm-up (see "
                     "bench/s_search.py queries() for both query mixes)")
    return res
