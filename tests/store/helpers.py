"""Builders shared by the store and delivery tests: real Articles/Matches and a movable clock."""

from __future__ import annotations

import itertools
import sqlite3
import time
import weakref
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.assembly import SaveReport, StoryAssembler, outlet_key
from bot.clock import ManualClock
from bot.models import Alert, Article, Destination, Match, Subscription
from bot.store import Store
from bot.stories import StoredHeadline, pick_story, signature_keys

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


class Clock(ManualClock):
    """The injected clock of store, delivery and assembly: starts at the real now, moves on demand."""

    def time(self) -> float:
        return self.now()


def dest(guild_id: int, channel_id: int) -> Destination:
    """A Discord-style destination (the shape most store tests use)."""
    return Destination(platform="discord", address=str(channel_id), group=str(guild_id))


def ch(alert_or_sub: Alert | Subscription) -> int:
    """The channel id of an alert's or a subscription's destination, as an int."""
    return int(alert_or_sub.destination.address)


_assemblers: weakref.WeakKeyDictionary[Store, StoryAssembler] = weakref.WeakKeyDictionary()


def assembler_of(store: Store) -> StoryAssembler:
    """The one StoryAssembler the tests use with this store (created on first use)."""
    assembler = _assemblers.get(store)
    if assembler is None:
        assembler = StoryAssembler(store.clock)
        _assemblers[store] = assembler
    return assembler


async def save(store: Store, feed_url: str, items: Sequence[tuple[Article, Match]]) -> SaveReport:
    """Save a feed batch through the store's one StoryAssembler (as the poller does); the first
    save of a store loads the index from the database, as the app does at start."""
    if store not in _assemblers:
        await assembler_of(store).load(store)
    return await assembler_of(store).save(store, feed_url, items)


async def stored_headlines(store: Store, *titles: str) -> list[StoredHeadline]:
    """Every stored headline under the signature keys of `titles`, at any time (through the
    StoryStore port: what clustering would read)."""
    keys = [k for t in titles for k in signature_keys(t)]
    return await store.headline_candidates(keys, -1e12, 1e12) if keys else []


async def find_story(store: Store, title: str, at: float, outlet: str = "") -> int | None:
    """The story a headline published at `at` would join, from the database (as a save would)."""
    rows = await store.headline_candidates(signature_keys(title), at - 72 * 3600, at + 72 * 3600)
    cands = [(h.story_id, h.title, h.published, outlet_key(h.feed_url, h.source)) for h in rows]
    return pick_story(title, at, outlet, cands)


async def dest_id(store: Store, channel_id: int) -> int:
    found = [d.id for d in await store.destinations() if d.destination.address == str(channel_id)]
    assert found, f"no destination for channel {channel_id}"
    return found[0]


async def delivery_log(
    store: Store, destination_id: int | None = None
) -> list[tuple[int, str, str, str | None]]:
    """(story_id, destination address, status, message_ref) rows: what tests and drills check."""

    sql = (
        "SELECT d.story_id, dest.address, d.status, d.message_ref FROM deliveries d "
        "JOIN destinations dest ON dest.id = d.destination_id "
        "WHERE (:d IS NULL OR d.destination_id = :d) ORDER BY d.id"
    )
    if not isinstance(store, Store):  # PostgreSQL: the same query on the store's own pool
        from bot.store.pg.db import q

        text, args = q(sql.replace(":d IS NULL", ":d::bigint IS NULL"), {"d": destination_id})
        async with store.conn("reading the outbox") as c:  # type: ignore[attr-defined]
            return [(r[0], r[1], r[2], r[3]) for r in await c.fetch(text, *args)]

    def fn(c: sqlite3.Connection) -> list[tuple[int, str, str, str | None]]:
        rows = c.execute(sql, {"d": destination_id})
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    return await store._run(fn, action="reading the outbox")


async def channel_log(
    store: Store, channel_id: int | None = None
) -> list[tuple[int, int, str, int | str | None]]:
    """delivery_log by channel number: (story_id, channel id, status, message ref — an int
    when the platform's reference is numeric, as Discord's are)."""
    rows = await delivery_log(store)
    return [
        (sid, int(addr), status, int(ref) if ref is not None and ref.isdigit() else ref)
        for sid, addr, status, ref in rows
        if channel_id is None or addr == str(channel_id)
    ]


async def set_max_page_count(store: Store, pages: int) -> int:
    """Cap the database size on the store's own connection (the full-disk drill)."""
    return int(await store._run(lambda c: c.execute(f"PRAGMA max_page_count = {int(pages)}").fetchone()[0]))


def raw_rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Read the database file with a separate plain sqlite3 connection (what a second process sees).

    On PostgreSQL (the test's database registered under its db_path by tests/store/conftest)
    the same SQL runs on a separate connection of its own."""
    from tests.pgserver import DSN_BY_PATH

    if path in DSN_BY_PATH:
        return _pg_rows(DSN_BY_PATH[path], sql, params)
    conn = sqlite3.connect(str(path))
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def _pg_rows(dsn: str, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
    """raw_rows on PostgreSQL: `?` placeholders become `$n`; run on a loop of its own (the
    caller is inside the test's loop, so in a thread)."""
    import asyncio
    import concurrent.futures

    import asyncpg

    parts = sql.split("?")
    text = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))

    async def run() -> list[tuple[object, ...]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(text, *params)]
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()
