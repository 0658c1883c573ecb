"""``python -m bench.verify_fastfeed``: does bot.ingest.fastfeed give exactly feedparser's articles?

Runs `parse_feed` on every document of ../shared/feeds-real, tests/data/feeds, the hostile
documents of tests/feedserver.py and generated feeds of every feedgen style, each under a few
Content-Type headers, once with `FAST_PATH` on and once off, and compares every field of the
ParsedFeed and of each Article. Prints each difference, how many documents took the fast path
and how many fell back; exit status 1 on any difference.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

from bench import feedgen
from bench.verify_parse import documents as fixed_documents
from bot.ingest import fastfeed, parse
from bot.ingest.parse import ParsedFeed

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONTENT_TYPES: tuple[dict[str, str], ...] = (
    {"Content-Type": "application/rss+xml"},
    {"Content-Type": "text/xml; charset=utf-8"},
    {},
)


def documents(per_style: int = 300) -> Iterator[tuple[str, bytes]]:
    yield from fixed_documents()
    for style in feedgen.STYLES:
        for i in range(per_style):
            yield f"gen/{style}/{i}", feedgen.feed_document(1, i, NOW, style=style)


def differences(a: ParsedFeed, b: ParsedFeed) -> list[str]:
    out = [f"{f}: {getattr(a, f)!r:.100} | {getattr(b, f)!r:.100}"
           for f in ("title", "link", "bozo", "is_feed") if getattr(a, f) != getattr(b, f)]
    if len(a.articles) != len(b.articles):
        out.append(f"articles: {len(a.articles)} | {len(b.articles)}")
    for k, (x, y) in enumerate(zip(a.articles, b.articles, strict=False)):
        out += [f"[{k}].{f.name}: {getattr(x, f.name)!r:.100} | {getattr(y, f.name)!r:.100}"
                for f in fields(x) if getattr(x, f.name) != getattr(y, f.name)]
    return out


def took_fast_path(body: bytes, url: str, headers: dict[str, str]) -> bool:
    return fastfeed.parse(parse._strip_dtd(body), parse._headers(headers, url)) is not None


def check(name: str, body: bytes, headers: dict[str, str]) -> tuple[bool, list[str]]:
    """(took the fast path, differences) for one document under one set of headers."""
    url = "https://example.test/feeds/" + Path(name).name
    saved = parse.FAST_PATH
    try:
        parse.FAST_PATH = True
        fast = parse.parse_feed(body, feed_url=url, headers=headers, now=NOW)
        parse.FAST_PATH = False
        slow = parse.parse_feed(body, feed_url=url, headers=headers, now=NOW)
    finally:
        parse.FAST_PATH = saved
    return took_fast_path(body, url, headers), differences(fast, slow)


def main(argv: list[str]) -> int:
    per_style = int(argv[0]) if argv else 300
    total = fast = diffs = 0
    fell_back: list[str] = []
    for name, body in documents(per_style):
        for headers in CONTENT_TYPES:
            took, found = check(name, body, headers)
            total += 1
            fast += took
            if not took and headers is CONTENT_TYPES[0]:
                fell_back.append(name)
            if found:
                diffs += 1
                print(f"DIFF {name} {headers}")
                for line in found[:10]:
                    print("  " + line)
    print("fell back (application/rss+xml):", ", ".join(fell_back) or "none")
    print(f"{total} parses compared, {fast} on the fast path ({fast / max(1, total):.0%}), "
          f"{total - fast} fell back, {diffs} with differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
