"""Issue 13: cross-language joins through the real store — a Spanish report joins the English
story, a rolled-back batch leaves no trace in the index, and the index survives a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.assembly import StoryAssembler
from bot.clock import ManualClock
from bot.models import Article
from bot.relevance import load_classifier
from bot.store import Store
from tests.store.helpers import raw_rows

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
EN = ("Border Patrol arrests 37 in Brighton Park sweep",
      "Border Patrol commander Greg Bovino said agents arrested 37 people in the Chicago neighborhood.")
ES = ("Operativo de la migra en Brighton Park deja 37 detenidos",
      "Greg Bovino dijo que los agentes de la Patrulla Fronteriza detuvieron a 37 personas en Chicago.")


def _article(text: tuple[str, str], lang: str, source: str, hours: float) -> Article:
    return Article(
        feed_url=f"https://{source}.test/feed", guid=f"{lang}-1", url=f"https://{source}.test/{lang}",
        link=f"https://{source}.test/{lang}", title=text[0], summary=text[1],
        published=NOW - timedelta(hours=hours), published_known=True, source=source,
        source_url=None, image_url=None, identity=f"{source}:{lang}", lang=lang,
    )


async def test_spanish_report_joins_the_english_story_also_after_a_restart(db_path: Path) -> None:
    clf = load_classifier()
    clock = ManualClock(NOW.timestamp())
    en = _article(EN, "en", "wbez", 3)
    es = _article(ES, "es", "laraza", 1)
    store = await Store.open(db_path, clock=clock)
    try:
        assembler = StoryAssembler(clock)
        await assembler.load(store)
        await assembler.save(store, en.feed_url, [(en, clf.classify(en.title, en.summary, lang="en"))])
    finally:
        await store.close()
    # a restart: a new assembler rebuilds both indexes from the database
    store = await Store.open(db_path, clock=clock)
    try:
        assembler = StoryAssembler(clock)
        await assembler.load(store)
        assert len(assembler.crosslang) == 1
        report = await assembler.save(
            store, es.feed_url, [(es, clf.classify(es.title, es.summary, lang="es"))]
        )
        assert report.new_articles == 1 and not report.new_stories
    finally:
        await store.close()
    (outlets, why), = raw_rows(db_path, "SELECT outlets, why FROM stories")
    assert "laraza" in str(outlets) and "lang:es" in str(why) and "lang:en" in str(why)
    assert raw_rows(db_path, "SELECT COUNT(*) FROM stories") == [(1,)]


async def test_a_rolled_back_batch_leaves_nothing_in_the_crosslang_index(db_path: Path) -> None:
    clf = load_classifier()
    clock = ManualClock(NOW.timestamp())
    store = await Store.open(db_path, clock=clock)
    try:
        assembler = StoryAssembler(clock)
        await assembler.load(store)
        en = _article(EN, "en", "wbez", 3)
        batch = assembler.begin()
        batch.stored(99, en, clf.classify(en.title, en.summary, lang="en"))
        assert len(assembler.crosslang) == 1
        batch.rollback()
        assert len(assembler.crosslang) == 0
    finally:
        await store.close()
