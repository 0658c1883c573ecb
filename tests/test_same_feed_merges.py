"""Issue 16 item 3: when two items of one feed are one story (rule in docs/architecture.md).

Before: two items of one feed with different GUIDs, links and dates a day apart ("Example
entry" / "Example entry, again") became one story. After: one outlet's look-alike headlines join
only within 12 hours (its rewrite of an update); an identical headline joins within the whole
72-hour window (a re-post under a new link). Across outlets — and across the publishers inside
one Google News feed — look-alikes still join within 72 hours.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.store import Store
from bot.stories import TitleSignature, same_story
from tests.store.helpers import GNEWS, Clock, article, match, save

FEED = "https://outlet.example/rss"


def test_the_two_headlines_look_alike() -> None:
    assert same_story(TitleSignature.of("Example entry"), TitleSignature.of("Example entry, again"))


async def _stories(tmp_path: Path, *batches: list) -> int:  # type: ignore[type-arg]
    store = await Store.open(tmp_path / "db.sqlite3", clock=Clock())
    try:
        for n, batch in enumerate(batches):
            await save(store, batch[0].feed_url if batch else f"https://f{n}.example", [(a, match()) for a in batch])
        return (await store.counts())["stories"]
    finally:
        await store.close()


async def test_one_outlets_look_alike_items_are_two_stories(tmp_path: Path) -> None:
    first = article("Example entry", source="Outlet", feed_url=FEED, guid="a", hours_ago=30)
    again = article("Example entry, again", source="Outlet", feed_url=FEED, guid="b", hours_ago=2)
    assert await _stories(tmp_path, [first], [again]) == 2


async def test_one_outlets_rewrite_of_an_update_is_one_story(tmp_path: Path) -> None:
    first = article("ICE agents arrest 5 people in Pilsen raid", source="Outlet", feed_url=FEED, hours_ago=5)
    update = article("ICE agents arrested 5 people in Pilsen raid, witnesses say", source="Outlet",
                     feed_url=FEED, hours_ago=2)
    assert await _stories(tmp_path, [first], [update]) == 1


async def test_one_outlets_repost_under_a_new_link_is_one_story(tmp_path: Path) -> None:
    first = article("Council passes the 2027 budget", source="Outlet", feed_url=FEED, guid="a", hours_ago=40)
    repost = article("Council passes the 2027 budget", source="Outlet", feed_url=FEED, guid="b", hours_ago=1)
    assert await _stories(tmp_path, [first, repost]) == 1


async def test_look_alikes_from_two_outlets_are_one_story(tmp_path: Path) -> None:
    first = article("Example entry", source="Outlet", feed_url=FEED, hours_ago=30)
    other = article("Example entry, again", source="Other", feed_url="https://other.example/rss", hours_ago=2)
    assert await _stories(tmp_path, [first], [other]) == 1


async def test_publishers_inside_one_google_news_feed_still_join(tmp_path: Path) -> None:
    a = article("ICE agents detain 5 in Pilsen", source="Chicago Tribune", google_news=True, hours_ago=30)
    b = article("ICE agents detain 5 in Pilsen on Tuesday", source="WBEZ", google_news=True, hours_ago=2)
    assert a.feed_url == b.feed_url == GNEWS
    assert await _stories(tmp_path, [a, b]) == 1


async def test_the_rule_survives_a_restart(tmp_path: Path) -> None:
    """The index rebuilt from the database (app start) knows each headline's outlet."""
    first = article("Example entry", source="Outlet", feed_url=FEED, guid="a", hours_ago=30)
    store = await Store.open(tmp_path / "db.sqlite3", clock=Clock())
    try:
        await save(store, FEED, [(first, match())])
    finally:
        await store.close()
    again = dataclasses.replace(
        article("Example entry, again", source="Outlet", feed_url=FEED, guid="b", hours_ago=2)
    )
    store = await Store.open(tmp_path / "db.sqlite3", clock=Clock())
    try:
        report = await save(store, FEED, [(again, match())])  # a fresh assembler loads the index
        assert len(report.new_stories) == 1
    finally:
        await store.close()
