"""classify-mixed: topic + place tagging of a mixed English/Spanish stream on one core (issue 13).

The English items are the synthetic feed items of the ``classify`` scenario (bench/feedgen.py);
the Spanish ones are the titles and summaries of the Spanish labeled sets
(tests/data/relevance/spanish.jsonl and crosslang_pairs.jsonl), one item in five. Two passes
are timed: with no language given (every item's language is detected: the worst case, a
stream of feeds that declare none) and with each item's language given (as feeds that declare
it hand it over). The Spanish classifier is built before timing, as a worker builds it on its
first Spanish item.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Result, median, run_isolated, spread

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "relevance"
SPANISH_SHARE = 5  # one item in five is Spanish


def _spanish_items() -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    with (DATA / "spanish.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            items.append((row["title"], row["summary"]))
    with (DATA / "crosslang_pairs.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            items.append((row["es"]["title"], row["es"]["summary"]))
    return items


def _run(n: int, repeat: int) -> dict[str, Any]:
    from bench import feedgen
    from bot.ingest.normalize import html_to_text
    from bot.ingest.parse import MAX_SUMMARY_CHARS
    from bot.relevance import load_classifier

    base = datetime(2026, 11, 20, 12, tzinfo=UTC)
    spanish = _spanish_items()
    english: list[tuple[str, str]] = []
    feed = 0
    while len(english) < n:
        for it in feedgen.feed_items(7, feed, base):
            english.append((it.title, html_to_text(it.summary_html)[:MAX_SUMMARY_CHARS]))
        feed += 1
    items: list[tuple[str, str, str]] = []
    for i in range(n):
        if i % SPANISH_SHARE == SPANISH_SHARE - 1:
            t, s = spanish[(i // SPANISH_SHARE) % len(spanish)]
            items.append((t, s, "es"))
        else:
            t, s = english[i]
            items.append((t, s, "en"))
    t0 = time.perf_counter()
    clf = load_classifier()
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    clf.for_language("es")
    load_es_s = time.perf_counter() - t0
    for title, summary, _ in items[:200]:  # warm caches the way a running worker has them
        clf.classify(title, summary)
    out: dict[str, Any] = {"load_s": load_s, "load_es_s": load_es_s}
    for mode in ("detected", "declared"):
        rates, cpu_rates = [], []
        wrong = 0
        for _ in range(repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            wrong = 0
            for title, summary, lang in items:
                m = clf.classify(title, summary, lang=lang if mode == "declared" else None)
                wrong += m.lang != lang
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            rates.append(n / wall)
            cpu_rates.append(n / cpu if cpu else float("nan"))
        out[mode] = {"rates": rates, "cpu_rates": cpu_rates, "wrong": wrong}
    return out


def classify_mixed(size: int, smoke: bool, repeat: int) -> Result:
    res = Result("classify-mixed", f"{size} items (1 in {SPANISH_SHARE} Spanish), one thread, {repeat} pass(es)")
    r = run_isolated(_run, size, repeat)
    det = r["detected"]
    rate = median(det["rates"])
    res.add("items/s, language detected (wall, one core)", rate, "{:.0f}", target="≥ 5,000 items/s",
            met=rate >= 5000, key="items_per_s")
    res.rows[-1].value = spread(det["rates"], "{:.0f}")
    res.add("items/s per CPU second, detected", median(det["cpu_rates"]), "{:.0f}", key="items_per_cpu_s")
    dec = r["declared"]
    res.add("items/s, language declared (wall)", median(dec["rates"]), "{:.0f}", key="declared_items_per_s")
    res.rows[-1].value = spread(dec["rates"], "{:.0f}")
    res.add("items whose detected language was wrong", f"{det['wrong']} of {size}")
    res.add("classifier load (s): English / Spanish on first use", f"{r['load_s']:.2f} / {r['load_es_s']:.2f}")
    return res
