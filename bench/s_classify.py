"""classify: topic + place tagging throughput on one core.

The items are the synthetic feed items (bench/feedgen.py: real headline vocabulary and real
descriptions, with the relevant held-out headlines mixed in), run through the production
`Classifier.classify(title, summary)` in one thread of one process. The summaries are the
text the poller hands over (HTML reduced to text by parse_feed), capped as parse_feed caps them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bench.common import Result, median, run_isolated, spread


def _run(n: int, repeat: int) -> dict[str, Any]:
    from bench import feedgen
    from bot.ingest.normalize import html_to_text
    from bot.ingest.parse import MAX_SUMMARY_CHARS
    from bot.relevance import load_classifier

    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    texts: list[tuple[str, str]] = []
    feed = 0
    while len(texts) < n:
        for it in feedgen.feed_items(7, feed, base):
            texts.append((it.title, html_to_text(it.summary_html)[:MAX_SUMMARY_CHARS]))
        feed += 1
    texts = texts[:n]
    t0 = time.perf_counter()
    clf = load_classifier()
    load_s = time.perf_counter() - t0
    for title, summary in texts[:200]:  # warm caches the way a running worker has them
        clf.classify(title, summary)
    rates, cpu_rates = [], []
    topics = cities = 0
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        topics = cities = 0
        for title, summary in texts:
            m = clf.classify(title, summary)
            topics += bool(m.topics)
            cities += bool(m.cities)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rates.append(n / wall)
        cpu_rates.append(n / cpu if cpu else float("nan"))
    mean_len = sum(len(t) + len(s) for t, s in texts) / n
    return {"rates": rates, "cpu_rates": cpu_rates, "topics": topics, "cities": cities,
            "load_s": load_s, "mean_chars": mean_len}


def classify(size: int, smoke: bool, repeat: int) -> Result:
    res = Result("classify", f"{size} items, one thread, {repeat} pass(es)")
    r = run_isolated(_run, size, repeat)
    rate = median(r["rates"])
    res.add("items/s (wall, one core)", rate, "{:.0f}", target="≥ 5,000 items/s", met=rate >= 5000,
            key="items_per_s")
    res.rows[-1].value = spread(r["rates"], "{:.0f}")
    res.add("items/s per CPU second", median(r["cpu_rates"]), "{:.0f}", key="items_per_cpu_s")
    res.add("items with a topic / with a city", f"{r['topics']} / {r['cities']} of {size}")
    res.add("mean title + summary length (chars)", r["mean_chars"], "{:.0f}")
    res.add("classifier load (s, once per worker)", r["load_s"], "{:.2f}")
    return res
