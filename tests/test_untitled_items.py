"""Issue 16 item 1: title-less items never merge into one story.

Before: every item whose headline normalizes to "" (no title, emoji or punctuation only) shared
the empty fingerprint, so within 72 h they all joined the first one — a Portland channel could
get a Chicago item. After: an empty headline never clusters, and a title-less item gets a
headline from its text (for display and for clustering).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from bot.ingest.parse import parse_feed
from bot.store import Store
from bot.stories import ClusterIndex, TitleSignature, same_story
from tests.store.helpers import Clock, article, match, save

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_same_story_never_holds_for_empty_headlines() -> None:
    empty, emoji = TitleSignature.of(""), TitleSignature.of("🚨🚨")
    assert empty.normalized == emoji.normalized == ""
    assert not same_story(empty, emoji)
    assert not same_story(empty, empty)


def test_cluster_index_does_not_look_up_the_empty_fingerprint() -> None:
    index = ClusterIndex()
    index.add(1, "", 1000.0)
    index.add(2, "!!!", 1000.0)
    assert index.find("", 1001.0) is None
    assert index.find("🚨", 1001.0) is None
    index.add(3, "Council votes to close the shelter", 1000.0)
    assert index.find("Council votes to close the shelter", 1002.0) == 3


def _mastodon(host: str, posts: list[str]) -> bytes:
    items = "".join(
        f"<item><guid>https://{host}/@news/{n}</guid><link>https://{host}/@news/{n}</link>"
        f"<description>{text}</description><pubDate>Thu, 26 Nov 2026 10:0{n}:00 +0000</pubDate></item>"
        for n, text in enumerate(posts)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{host}</title>{items}</channel></rss>'.encode()


def test_title_less_items_get_a_headline_from_their_text() -> None:
    body = _mastodon("mastodon.example", ["Police close the Burnside Bridge after a crash. More soon.", "🚨"])
    parsed = parse_feed(body, feed_url="https://mastodon.example/@news.rss", now=NOW)
    first = parsed.articles[0]
    assert first.title == "Police close the Burnside Bridge after a crash."
    emoji_title = parse_feed(
        b'<rss version="2.0"><channel><title>x</title><item><title>\xf0\x9f\x9a\xa8</title>'
        b"<link>https://x.example/1</link><description>Shelter on 5th Ave opens tonight</description>"
        b"</item></channel></rss>",
        feed_url="https://x.example/rss",
        now=NOW,
    ).articles[0]
    assert emoji_title.title == "🚨 Shelter on 5th Ave opens tonight"


async def test_untitled_items_of_two_cities_stay_two_stories(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3", clock=Clock())
    try:
        chicago = dataclasses.replace(article("", source="Chicago Mastodon"), summary="A Chicago post")
        portland = dataclasses.replace(article("", source="Portland Mastodon"), summary="A Portland post")
        await save(store, "https://chi.example/rss", [(chicago, match(cities=("chicago-il",)))])
        report = await save(store, "https://pdx.example/rss", [(portland, match(cities=("portland-or",)))])
        assert len(report.new_stories) == 1, "the Portland item joined the Chicago story"
        (pdx,) = await store.latest("portland-or")
        assert pdx.outlets == ("Portland Mastodon",)
    finally:
        await store.close()
