"""A story's search index row follows its lead: rewritten when a join changes the title or
summary, left alone when it does not (bot/store/stories.py skips the FTS trigger then)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.store import Store
from tests.store.helpers import CHI, IMM, article, match, save

TITLE = "ICE agents detain five workers in Pilsen raid"


def _fts_consistent(path: Path) -> None:
    with sqlite3.connect(path) as c:  # raises when the index disagrees with the stories table
        c.execute("INSERT INTO stories_fts(stories_fts) VALUES ('integrity-check')")


async def test_search_follows_the_lead_through_joins(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        first = await save(store, "https://a.example/feed", [
            (article(TITLE, source="Outlet A", summary="A zucchini vendor saw the agents.", hours_ago=2),
             match((IMM,), (CHI,))),
        ])
        (story,) = first.new_stories
        # a later copy joins; the lead (the earliest) stays, so title and summary do not change
        later = await save(store, "https://b.example/feed", [
            (article(TITLE, source="Outlet B", summary="A later copy.", hours_ago=1), match((IMM,), (CHI,))),
        ])
        assert not later.new_stories and later.updated_story_ids == (story.id,)
        assert [h.id for h in await store.search("Pilsen")] == [story.id]
        assert [h.id for h in await store.search("zucchini")] == [story.id]  # the lead's summary
        assert await store.search("copy") == []
        # an earlier report joins and becomes the lead: the index must follow its words
        earlier = await save(store, "https://c.example/feed", [
            (article(TITLE + ", witnesses say", source="Outlet C", summary="Neighbours filmed the arrests.",
                     hours_ago=5), match((IMM,), (CHI,))),
        ])
        assert earlier.updated_story_ids == (story.id,)
        assert (await store.story(story.id)).title == TITLE + ", witnesses say"  # type: ignore[union-attr]
        assert [h.id for h in await store.search("neighbours filmed")] == [story.id]
        assert await store.search("zucchini") == []  # the old lead's summary is gone
    finally:
        await store.close()
    _fts_consistent(db_path)
