"""Full-text search (bm25, filters, paging, hostile input) and fts_query."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.store import Store, fts_query
from tests.store.helpers import (
    CHI,
    CICERO,
    GUARD,
    IMM,
    SANCT,
    article,
    match,
    save,
)


@pytest.fixture
async def corpus(store: Store) -> AsyncIterator[Store]:
    await save(store,
        "f",
        [
            # the word "curfew" only in the summary of a recent story
            (
                article(
                    "City council meets on budget",
                    summary="Curfew, curfew, curfew: aldermen debated a curfew.",
                    hours_ago=1,
                ),
                match((SANCT,), (CHI,)),
            ),
            # "curfew" in the title of an older story
            (
                article(
                    "Curfew ordered near Broadview facility",
                    summary="Police said protesters and residents must stay away from the gates "
                    "after dark while federal agents move detainees in and out of the site.",
                    hours_ago=30,
                ),
                match((GUARD,), (CICERO,)),
            ),
            (article("ICE detains O'Hare airport worker", summary="Agents at O’Hare.", hours_ago=2), match((IMM,), (CHI,))),
            (article("Café owner détenu par ICE", summary="Résumé en français.", hours_ago=3), match((IMM,), (CHI,))),
            (article("C++ meetup cancelled", summary="Not civic news.", hours_ago=4), match((), ())),
        ],
    )
    for i in range(12):
        await save(store,
            "f", [(article(f"Raid report {i}: agents at warehouse {i * 11}", hours_ago=5 + i), match((IMM,), (CHI,)))]
        )
    yield store


async def test_title_hit_ranks_above_summary_only_hit(corpus: Store) -> None:
    hits = await corpus.search("curfew")
    assert [h.title for h in hits] == ["Curfew ordered near Broadview facility", "City council meets on budget"]
    assert "curfew" in hits[1].snippet.casefold()


async def test_all_terms_first_then_any_term(corpus: Store) -> None:
    both = await corpus.search("curfew Broadview")
    assert [h.title for h in both] == ["Curfew ordered near Broadview facility"]
    # no story has both words: fall back to any of them
    either = await corpus.search("Broadview budget")
    assert {h.title for h in either} == {"Curfew ordered near Broadview facility", "City council meets on budget"}


async def test_filters_city_topic_since(corpus: Store) -> None:
    assert [h.title for h in await corpus.search("curfew", city=CHI)] == ["City council meets on budget"]
    assert [h.title for h in await corpus.search("curfew", topic=GUARD)] == ["Curfew ordered near Broadview facility"]
    assert [h.title for h in await corpus.search("curfew", since_days=1)] == ["City council meets on budget"]
    assert await corpus.search("curfew", city=CICERO, topic=SANCT) == []
    hit = (await corpus.search("curfew", topic=GUARD))[0]
    assert hit.topics == (GUARD,) and hit.cities == (CICERO,)
    assert hit.url.startswith("https://") and hit.source == "Chicago Tribune"


async def test_limit_and_offset(corpus: Store) -> None:
    everything = await corpus.search("raid report", limit=100)
    assert len(everything) == 12
    page1 = await corpus.search("raid report", limit=5)
    page2 = await corpus.search("raid report", limit=5, offset=5)
    page3 = await corpus.search("raid report", limit=5, offset=10)
    assert [h.id for h in page1 + page2 + page3] == [h.id for h in everything]
    assert len(page3) == 2
    assert await corpus.search("raid report", offset=50) == []
    assert len(await corpus.search("raid report", limit=0)) == 1  # clamped to at least one
    assert len(await corpus.search("raid report", limit=-3, offset=-3)) == 1


async def test_punctuation_and_diacritics(corpus: Store) -> None:
    assert [h.title for h in await corpus.search("o'hare")] == ["ICE detains O'Hare airport worker"]
    assert [h.title for h in await corpus.search("O’Hare")] == ["ICE detains O'Hare airport worker"]
    assert [h.title for h in await corpus.search("cafe detenu")] == ["Café owner détenu par ICE"]
    assert [h.title for h in await corpus.search("C++")] == ["C++ meetup cancelled"]
    assert [h.title for h in await corpus.search("-meetup")] == ["C++ meetup cancelled"]
    for q in ["", "   ", "!!!", "***", '""', "-", "^"]:
        assert await corpus.search(q) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ICE raid", ('"ice" "raid"', '"ice" OR "raid"')),
        ("ICE AND", ('"ice" "and"', '"ice" OR "and"')),
        ("o'hare", ('"o" "hare"', '"o" OR "hare"')),
        ("C++", ('"c"', '"c"')),
        ("-ice NEAR(x y) title:guard ^start*", ('"ice" "near" "x" "y" "title"* "guard"* "start"*', None)),
        ('say "hello" again', ('"say" "hello"* "again"*', None)),  # ≥ 5 letters: a prefix too
        ("raid raid RAID", ('"raid"', '"raid"')),
        ("snake_case", ('"snake"* "case"', None)),
        ("", None),
        ("  *** -- '' ", None),
        ("\x00", None),
    ],
)
def test_fts_query(text: str, expected: tuple[str, str | None] | None) -> None:
    got = fts_query(text)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got[0] == expected[0]
    if expected[1] is not None:
        assert got[1] == expected[1]


def test_fts_query_caps_terms() -> None:
    got = fts_query(" ".join(f"w{i}" for i in range(50)))
    assert got is not None
    assert got[0].count('"') == 24  # twelve quoted terms


def test_fts_query_output_is_valid_fts5() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t VALUES ('and or not near ice')")
    for text in ["AND", "OR NOT", "NEAR(a b)", 'a"b', "x:y", "a*", "a^b", "ICE AND", "ICE OR NOT"]:
        parsed = fts_query(text)
        assert parsed is not None
        for q in parsed:
            conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (q,)).fetchall()


HOSTILE = st.one_of(
    st.text(max_size=2000),
    st.lists(
        st.sampled_from(
            ['"', "'", "AND", "OR", "NOT", "NEAR", "NEAR(", ")", "(", "-", ":", "*", "^", "o'hare",
             "C++", "😀", "\x00", "ICE", "title:", "{", "}", "+", " ", "’", "Ⅻ", "²", "ß", "İ", "\u0301"]
        ),
        max_size=60,
    ).map("".join),
    st.text(min_size=1900, max_size=2000),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=HOSTILE)
def test_search_never_raises(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    import asyncio

    async def run() -> None:
        store = await _hypothesis_store(tmp_path_factory)
        try:
            hits = await store.search(text)
            assert isinstance(hits, list)
            hits = await store.search(text, city=CHI, topic=IMM, since_days=3, limit=3, offset=1)
            assert isinstance(hits, list)
        finally:
            await store.close()

    asyncio.run(run())


async def _hypothesis_store(factory: pytest.TempPathFactory) -> Store:
    # hypothesis drives a sync test; each example opens the one prepared file on its own loop.
    base = factory.getbasetemp() / "hypothesis-search.sqlite3"
    if not base.exists():
        s = await Store.open(base)
        await save(s,
            "f",
            [
                (article("ICE AND NOT NEAR o'hare", summary="C++ and 😀 title: guard"), match()),
                (article("National Guard at Broadview", summary="troops"), match((GUARD,))),
            ],
        )
        await s.close()
    return await Store.open(Path(base))


@settings(max_examples=400, deadline=None)
@given(text=HOSTILE)
def test_fts_query_always_valid_fts5(text: str) -> None:
    parsed = fts_query(text)
    if parsed is None:
        return
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, y, tokenize='unicode61 remove_diacritics 2')")
        conn.execute("INSERT INTO t VALUES ('and or not near', 'ice guard')")
        for q in parsed:
            assert isinstance(conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (q,)).fetchall(), list)
    finally:
        conn.close()
