"""A story's lead is its original report, whatever order the feeds arrive in (issue 18).

Every arrival order of the same articles — the publisher's own report, a syndicated copy 30
minutes later, a Google News item and an undated item — into a fresh database must give the
same story: title, link, source and time all from the publisher's report.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.models import Article
from bot.store import Store
from tests.store.helpers import IMM, Clock, article, dest, match, save

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
TITLE = "Federal agents detain 12 at Little Village car wash"


def outlets() -> dict[str, Article]:
    original = article(TITLE, source="WBEZ", url="https://www.wbez.org/immigration/little-village-car-wash",
                       published=T0, summary="Agents arrived at 7 a.m., witnesses said.")
    copy = article(TITLE, source="Chicago Sun-Times", url="https://chicago.suntimes.com/2026/12/04/car-wash",
                   published=T0 + timedelta(minutes=30), summary="Syndicated from WBEZ.")
    google = article(TITLE, source="Chicago Tribune", google_news=True, published=T0 - timedelta(minutes=5))
    undated = dataclasses.replace(
        article(TITLE, source="Block Club Chicago", url="https://blockclubchicago.org/car-wash",
                published=T0 - timedelta(hours=1)),
        published_known=False,  # the feed gave no date: this time is only when we saw it
    )
    return {"original": original, "copy": copy, "google": google, "undated": undated}


async def test_every_arrival_order_gives_the_same_lead(tmp_path: Path) -> None:
    items = outlets()
    original = items["original"]
    leads = set()
    for n, order in enumerate(itertools.permutations(items)):
        store = await Store.open(tmp_path / f"{n}.sqlite3", clock=Clock())
        try:
            for name in order:  # one feed batch per outlet, in this arrival order
                await save(store, f"https://feeds.example/{name}", [(items[name], match())])
            (story,) = await store.latest("chicago-il")
        finally:
            await store.close()
        assert (story.title, story.url, story.source, story.published) == (
            original.title, original.url, original.source, original.published
        ), order
        assert story.summary == original.summary
        assert set(story.outlets) == {"WBEZ", "Chicago Sun-Times", "Chicago Tribune", "Block Club Chicago"}
        leads.add((story.url, story.source, story.published))
    assert n + 1 == 24 and len(leads) == 1


async def test_a_later_original_edits_the_alert_to_lead_with_it(db_path: Path) -> None:
    """The copy arrives first and is alerted; the original comes next cycle: the sent alert is
    queued for an edit, and the edit carries the original as the lead."""
    items = outlets()
    store = await Store.open(db_path, clock=Clock())
    try:
        await store.subscribe(dest(1, 100), "chicago-il", [IMM])
        await save(store, "https://feeds.example/copy", [(items["copy"], match())])
        (alert,) = await store.due_alerts()
        assert alert.story.source == "Chicago Sun-Times"
        await store.mark_sending([alert.delivery_id], "k")
        await store.mark_sent([alert.delivery_id], "555")
        # the same outlet list would not edit; a new lead must, even from an outlet already seen
        await save(store, "https://feeds.example/original", [(items["original"], match())])
        (edit,) = await store.due_alerts()
        assert edit.kind == "edit" and edit.message_ref == "555"
        assert (edit.story.source, edit.story.url, edit.story.published) == (
            "WBEZ", items["original"].url, items["original"].published
        )
    finally:
        await store.close()
