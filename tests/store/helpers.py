"""Builders shared by the store and delivery tests: real Articles/Matches and a movable clock."""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Article, Match

FEED = "https://example.org/feed.xml"
GNEWS = "https://news.google.com/rss/search?q=ice+chicago"
IMM = "immigration-enforcement"
GUARD = "national-guard"
SANCT = "sanctuary-policy"
CHI = "chicago-il"
CICERO = "cicero-il"

_seq = itertools.count(1)


def ago(hours: float = 0.0) -> datetime:
    """A publication time `hours` before the real now (store clocks are real unless patched)."""
    return datetime.fromtimestamp(time.time(), UTC) - timedelta(hours=hours)


def article(
    title: str,
    *,
    source: str = "Chicago Tribune",
    url: str | None = None,
    guid: str | None = None,
    feed_url: str = FEED,
    summary: str = "",
    published: datetime | None = None,
    hours_ago: float = 1.0,
    identity: str | None = None,
    google_news: bool = False,
    image_url: str | None = None,
) -> Article:
    """An Article as the ingest layer would hand it over; each call gets a fresh identity."""
    n = next(_seq)
    if url is None:
        url = (
            f"https://news.google.com/rss/articles/CBMi{n}"
            if google_news
            else f"https://{source.lower().replace(' ', '')}.example/story/{n}"
        )
    if identity is None:
        identity = f"gnews:{source}|{title.casefold()}|{n}" if google_news else url
    return Article(
        feed_url=GNEWS if google_news and feed_url == FEED else feed_url,
        guid=guid,
        url=url,
        link=url,
        title=title,
        summary=summary,
        published=published or ago(hours_ago),
        published_known=True,
        source=source,
        source_url=None,
        image_url=image_url,
        identity=identity,
        is_google_news=google_news,
    )


def match(
    topics: tuple[str, ...] = (IMM,), cities: tuple[str, ...] = (CHI,), why: tuple[str, ...] = ()
) -> Match:
    return Match(topics=topics, cities=cities, why=why or (f'topic:{topics[0]} ← "ICE"',) if topics else ())


class Clock:
    """Stands in for the `time` module in bot.store.db and bot.delivery: real time plus an offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def raw_rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the database file with a separate plain sqlite3 connection (what a second process sees)."""
    conn = sqlite3.connect(str(path))
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()
