"""Issue 16 item 2: an undated item is not "now".

Before: an item without a date got its first-seen time, so a years-old story showed as today's
and was alerted as new. After: it takes the feed's own date where the feed has one, is never
alerted from a feed's first fetch (nor printed by `poll --once` without --all), and shows
"date unknown".
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.console import CONSOLE
from bot.cli import main
from bot.ingest.fetch import Fetcher
from bot.ingest.parse import parse_feed
from bot.models import FeedConfig, Story
from bot.poller import Poller
from bot.relevance import ALL_TOPICS
from bot.render import plain_text
from bot.settings import Settings
from bot.store import Store
from tests.feedserver import FeedServer, rss_document

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DATED = {
    "title": "ICE agents arrest 5 in Chicago's Pilsen neighborhood",
    "link": "https://news.example/dated",
    "description": "Federal immigration agents detained five people in Chicago on Tuesday.",
    "pubDate": datetime.now(UTC) - timedelta(hours=1),
}
UNDATED = {
    "title": "ICE agents detain a father outside a Chicago school",
    "link": "https://news.example/undated",
    "description": "Immigration agents detained a father outside a Little Village school in Chicago.",
}


def test_an_undated_item_takes_the_feeds_date_not_now() -> None:
    body = (
        b'<rss version="2.0"><channel><title>Archive</title><pubDate>Tue, 03 Mar 2020 10:00:00 GMT</pubDate>'
        b"<item><title>Council approves 2020 budget</title><link>https://a.example/1</link></item>"
        b"</channel></rss>"
    )
    (item,) = parse_feed(body, feed_url="https://a.example/rss", now=NOW).articles
    assert item.published == datetime(2020, 3, 3, 10, 0, tzinfo=UTC)
    assert item.published_known is False
    plain = parse_feed(body.replace(b"<pubDate>Tue, 03 Mar 2020 10:00:00 GMT</pubDate>", b""),
                       feed_url="https://a.example/rss", now=NOW).articles[0]
    assert plain.published == NOW and plain.published_known is False


def test_an_undated_story_shows_date_unknown() -> None:
    story = Story(id=1, title="t", url="https://a.example/1", source="A", outlets=("A",), published=NOW,
                  topics=(), cities=(), summary="")
    assert "2026-11-26 12:00 UTC" in plain_text(story)
    undated = plain_text(dataclasses.replace(story, published_known=False))
    assert "date unknown" in undated and "2026-11-26" not in undated


async def test_undated_items_of_a_first_fetch_are_stored_not_alerted(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3")
    try:
        await store.subscribe(CONSOLE, "chicago-il", [ALL_TOPICS])
        settings = Settings(db_path=tmp_path / "db.sqlite3", parse_workers=1, poll_interval=300)
        async with FeedServer() as server, Fetcher() as fetcher:
            url = server.set_body("/dyn/chicago.xml", rss_document("Chicago news", [DATED, UNDATED]))
            with ThreadPoolExecutor(1) as pool:
                poller = Poller(store, fetcher, settings, pool)
                feed = FeedConfig(url=url, city="chicago-il")
                first = await poller.poll_once([feed])
                assert len(first.new_stories) == 2 and all(s.topics for s in first.new_stories)
                assert first.alerts_queued == 1, "the undated item of a first fetch was alerted"
                (backlog,) = first.backlog_story_ids
                assert (await store.story(backlog)).published_known is False  # type: ignore[union-attr]
                # a later fetch: an undated item that appears now is new, and alerted
                later = {**UNDATED, "title": "ICE agents detain a cook at a Chicago restaurant",
                         "link": "https://news.example/later"}
                server.set_body("/dyn/chicago.xml", rss_document("Chicago news", [DATED, UNDATED, later]))
                second = await poller.poll_once([feed])
                assert second.alerts_queued == 1 and not second.backlog_story_ids
    finally:
        await store.close()


def test_poll_once_hides_undated_first_fetch_items_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: printed as today's news. After: not shown; the summary line counts it.
    (`main` runs its own event loop, so the feed server runs on a thread of its own.)"""
    ready = threading.Event()
    stop: asyncio.Event | None = None
    box: dict[str, str] = {}

    async def serve() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with FeedServer() as server:
            box["url"] = server.set_body("/dyn/chicago.xml", rss_document("Chicago news", [DATED, UNDATED]))
            ready.set()
            await stop.wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(30)
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(f'[[feeds]]\nurl = "{box["url"]}"\ncity = "chicago-il"\n', encoding="utf-8")
        monkeypatch.setenv("CIVIC_ALERTS_DB", str(tmp_path / "db.sqlite3"))
        monkeypatch.setenv("CIVIC_ALERTS_PARSE_WORKERS", "1")
        assert main(["poll", "--once", "--feeds", str(feeds)]) == 0
        captured = capsys.readouterr()
        assert DATED["title"] in captured.out and UNDATED["title"] not in captured.out
        last = captured.err.strip().splitlines()[-1]
        assert "2 new stories stored" in last and "1 shown" in last and "1 undated" in last, last
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
