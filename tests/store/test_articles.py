"""save_articles: exact duplicates, near-duplicate clustering, the outbox rows, atomicity, prune."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.fanout import FanoutPolicy
from bot.store import Store
from tests.store.helpers import (
    CHI,
    CICERO,
    GUARD,
    IMM,
    SANCT,
    Clock,
    article,
    assembler_of,
    ch,
    dest,
    dest_id,
    find_story,
    match,
    raw_rows,
    save,
    stored_headlines,
)

PILSEN = "ICE agents arrest 5 people in Pilsen raid"
PILSEN_REWORDED = "ICE agents arrested 5 people in Pilsen raid, witnesses say"


# -- exact duplicates --------------------------------------------------------------------
async def test_same_identity_dropped_across_calls_and_reopen(db_path: Path) -> None:
    store = await Store.open(db_path)
    a = article(PILSEN, url="https://suntimes.example/pilsen")
    first = await save(store, "f", [(a, match())])
    assert (first.new_articles, first.duplicates, len(first.new_stories)) == (1, 0, 1)
    again = await save(store, "f", [(a, match())])
    assert (again.new_articles, again.duplicates, again.new_stories) == (0, 1, ())
    await store.close()
    store = await Store.open(db_path)
    try:
        # a different title but the same identity is still the same article
        b = article("Completely different words here", identity=a.identity, url=a.url)
        third = await save(store, "f", [(b, match())])
        assert (third.new_articles, third.duplicates) == (0, 1)
        assert await store.counts() == {"articles": 1, "stories": 1, "feeds": 0}
    finally:
        await store.close()


async def test_same_feed_and_guid_dropped_but_other_feed_kept(db_path: Path) -> None:
    store = await Store.open(db_path)
    a = article("Guard troops arrive at Broadview", guid="g-1", feed_url="https://a.example/rss")
    await save(store, a.feed_url, [(a, match((GUARD,)))])
    # same feed + guid, new URL (the outlet changed its link): a duplicate
    moved = article("Guard troops arrive at Broadview facility", guid="g-1", feed_url=a.feed_url)
    report = await save(store, a.feed_url, [(moved, match((GUARD,)))])
    assert (report.new_articles, report.duplicates) == (0, 1)
    await store.close()
    store = await Store.open(db_path)
    try:
        again = article("Anything", guid="g-1", feed_url=a.feed_url)
        assert (await save(store, a.feed_url, [(again, match())])).duplicates == 1
        # the same guid in another feed is a different item
        other = article("Unrelated zoning board vote", guid="g-1", feed_url="https://b.example/rss")
        assert (await save(store, other.feed_url, [(other, match())])).new_articles == 1
    finally:
        await store.close()


async def test_duplicates_inside_one_batch(store: Store) -> None:
    a = article(PILSEN)
    report = await save(store, "f", [(a, match()), (a, match())])
    assert (report.new_articles, report.duplicates, len(report.new_stories)) == (1, 1, 1)


# -- near duplicates ---------------------------------------------------------------------
async def test_syndicated_headline_joins_story_and_publisher_url_wins(store: Store) -> None:
    gn = article(PILSEN, source="WBEZ", google_news=True, summary="Google News blurb.")
    first = await save(store, gn.feed_url, [(gn, match())])
    (story,) = first.new_stories
    assert story.url.startswith("https://news.google.com/")
    assert story.outlets == ("WBEZ",)

    pub = article(
        PILSEN_REWORDED,
        source="Block Club Chicago",
        url="https://blockclubchicago.example/pilsen-raid",
        summary="Neighbors said agents arrived before dawn.",
        hours_ago=2.0,
    )
    second = await save(store, pub.feed_url, [(pub, match((IMM,), (CHI,)))])
    assert second.new_stories == ()
    assert second.updated_story_ids == (story.id,)
    joined = await store.story(story.id)
    assert joined is not None
    assert joined.outlets == ("WBEZ", "Block Club Chicago")
    assert joined.url == "https://blockclubchicago.example/pilsen-raid"
    assert joined.title == PILSEN_REWORDED  # the title follows the best link
    assert joined.source == "Block Club Chicago"
    assert joined.summary == "Neighbors said agents arrived before dawn."
    assert joined.published == pub.published  # earliest report

    # a later Google News copy does not take the link back
    gn2 = article(PILSEN, source="WTTW", google_news=True, hours_ago=0.5)
    await save(store, gn2.feed_url, [(gn2, match())])
    after = await store.story(story.id)
    assert after is not None
    assert after.url == "https://blockclubchicago.example/pilsen-raid"
    assert after.outlets == ("WBEZ", "Block Club Chicago", "WTTW")
    assert (await store.counts())["stories"] == 1


async def test_join_merges_topics_and_cities(store: Store) -> None:
    a = article(PILSEN)
    (story,) = (await save(store, "f", [(a, match((IMM,), (CHI,)))])).new_stories
    b = article(PILSEN_REWORDED, source="WGN")
    await save(store, "f", [(b, match((GUARD, IMM), (CICERO,)))])
    joined = await store.story(story.id)
    assert joined is not None
    assert joined.topics == (IMM, GUARD)
    assert joined.cities == (CHI, CICERO)
    assert [s.id for s in await store.latest(CICERO)] == [story.id]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ICE arrests 5 in Pilsen", "ICE arrests 5 in Cicero"),
        ("ICE arrests 5 in Pilsen", "ICE arrests 7 in Pilsen"),
        ("Judge Blocks Plan To Send 300 Guard Troops To Chicago", "Judge Blocks Plan To Send 500 Guard Troops To Chicago"),
    ],
)
async def test_look_alike_headlines_about_different_events_stay_apart(
    store: Store, first: str, second: str
) -> None:
    report = await save(store, "f", [(article(first), match()), (article(second, source="WGN"), match())])
    assert len(report.new_stories) == 2


async def test_clustering_window_is_72_hours(store: Store) -> None:
    title = "Federal agents detain 12 at Little Village car wash"
    old = article(title, hours_ago=80)
    recent = article(title, source="WGN", hours_ago=0.5)
    report = await save(store, "f", [(old, match()), (recent, match())])
    assert len(report.new_stories) == 2  # 79.5 h apart: a different event
    inside = article(title, source="WTTW", hours_ago=70)
    report = await save(store, "f", [(inside, match())])
    assert report.new_stories == () and len(report.updated_story_ids) == 1


async def test_clusters_survive_reopen(db_path: Path) -> None:
    store = await Store.open(db_path)
    (story,) = (await save(store, "f", [(article(PILSEN), match())])).new_stories
    await store.close()
    store = await Store.open(db_path)
    try:
        report = await save(store, "f", [(article(PILSEN_REWORDED, source="WGN"), match())])
        assert report.updated_story_ids == (story.id,)
    finally:
        await store.close()


# -- the outbox --------------------------------------------------------------------------
async def test_matching_subscription_queues_one_delivery_per_channel(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await store.subscribe(dest(1, 100), CICERO, [IMM, GUARD])  # same channel, second city of the story
    await store.subscribe(dest(1, 200), CICERO, [IMM])
    report = await save(store, "f", [(article(PILSEN), match((IMM,), (CHI, CICERO)))])
    assert report.alerts_queued == 2
    alerts = await store.due_alerts()
    assert sorted(ch(a) for a in alerts) == [100, 200]
    assert {a.kind for a in alerts} == {"new"}
    assert all(a.story.id == report.new_stories[0].id and int(a.destination.group) == 1 for a in alerts)
    # a second outlet joining the story queues nothing new for the same channels
    again = await save(store, "f", [(article(PILSEN_REWORDED, source="WGN"), match((IMM,), (CHI,)))])
    assert again.alerts_queued == 0
    assert len(await store.due_alerts()) == 2
    assert await store.queue_depth() == 2


@pytest.mark.parametrize(
    ("m", "hours_ago", "why"),
    [
        (match((IMM,), (CHI,)), 30.0, "older than alert_max_age (24 h)"),
        (match((), (CHI,)), 1.0, "no topics"),
        (match((SANCT,), (CHI,)), 1.0, "topic not subscribed"),
        (match((IMM,), (CICERO,)), 1.0, "city not subscribed"),
        (match((IMM,), ()), 1.0, "no city"),
    ],
)
async def test_no_delivery_when_story_does_not_qualify(
    store: Store, m: object, hours_ago: float, why: str
) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM, GUARD])
    report = await save(store, "f", [(article(PILSEN, hours_ago=hours_ago), m)])  # type: ignore[list-item]
    assert report.alerts_queued == 0, why
    assert await store.due_alerts() == [], why
    assert len(report.new_stories) == 1  # stored and searchable all the same


async def test_alert_max_age_is_the_fanout_policys(db_path: Path, clock: Clock) -> None:
    """The operator's alert age (CIVIC_ALERTS_ALERT_MAX_AGE_HOURS) reaches the store's fan-out."""
    store = await Store.open(db_path, clock=clock, fanout=FanoutPolicy(alert_max_age=48 * 3600))
    try:
        await store.subscribe(dest(1, 100), CHI, [IMM])
        report = await save(store, "f", [(article(PILSEN, hours_ago=30), match())])
        assert report.alerts_queued == 1
        report = await save(store, "f", [(article("ICE agents seen near Midway airport", hours_ago=50), match())])
        assert report.alerts_queued == 0
    finally:
        await store.close()


async def test_star_city_subscription_gets_everything_with_a_topic(store: Store) -> None:
    await store.subscribe(dest(0, 0), "*", [IMM, GUARD, SANCT])
    report = await save(store,
        "f",
        [
            (article("ICE detains 3 in Houston"), match((IMM,), ("houston-tx",))),
            (article("Guard troops land in Portland"), match((GUARD,), ())),
            (article("School board approves new bus routes"), match((), (CHI,))),
        ],
    )
    assert report.alerts_queued == 2
    titles = sorted(a.story.title for a in await store.due_alerts())
    assert titles == ["Guard troops land in Portland", "ICE detains 3 in Houston"]


async def test_new_outlet_after_alert_sent_flags_edit_for_whole_message(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    r1 = await save(store,
        "f", [(article(PILSEN), match()), (article("Sanctuary ordinance vote set for Wednesday"), match())]
    )
    alerts = await store.due_alerts()
    assert len(alerts) == 2
    ids = [a.delivery_id for a in alerts]
    await store.mark_sending(ids, "nonce")
    await store.mark_sent(ids, "555")
    assert await store.due_alerts() == []
    # the same outlet again (new article, same source) is not news for an edit
    await save(store, "f", [(article(PILSEN_REWORDED), match())])
    assert await store.due_alerts() == []
    await save(store, "f", [(article(PILSEN_REWORDED, source="WGN"), match())])
    edits = await store.due_alerts()
    assert {a.kind for a in edits} == {"edit"}
    assert sorted(a.delivery_id for a in edits) == sorted(ids)  # every delivery of message 555
    assert {a.message_ref for a in edits} == {"555"}
    pilsen = next(a for a in edits if a.story.id == r1.new_stories[0].id)
    assert pilsen.story.outlets == ("Chicago Tribune", "WGN")
    await store.mark_edited(await dest_id(store, 100), "555")
    assert await store.due_alerts() == []


# -- atomicity -------------------------------------------------------------------------
async def test_failing_item_rolls_back_whole_batch(store: Store, db_path: Path) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    good = article("ICE detains 4 at Back of the Yards bakery")
    bad = article("Guard convoy seen on Lake Shore Drive")
    # NOT NULL constraint on articles.feed_url: the third item's story and outbox rows are
    # written, then its article insert fails
    broken = article("National Guard ordered to Cicero, 300 troops")
    object.__setattr__(broken, "feed_url", None)
    with pytest.raises(StoreError) as info:
        await save(store,
            "https://f.example/rss",
            [(good, match()), (bad, match((GUARD, IMM))), (broken, match((GUARD, IMM), (CHI, CICERO)))],
        )
    assert "saving articles from https://f.example/rss" in info.value.user_message
    assert await store.counts() == {"articles": 0, "stories": 0, "feeds": 0}
    assert raw_rows(db_path, "SELECT count(*) FROM deliveries") == [(0,)]
    assert raw_rows(db_path, "SELECT count(*) FROM story_topics") == [(0,)]
    assert await stored_headlines(store, good.title, bad.title, broken.title) == []
    # the database keeps no keys of them: the same headlines now make fresh stories (with their alerts)
    report = await save(store, "f", [(good, match()), (bad, match())])
    assert len(report.new_stories) == 2 and report.alerts_queued == 2
    stories = {s.title for s in report.new_stories}
    assert stories == {good.title, bad.title}


async def test_failing_batch_does_not_leave_joined_headline_in_index(store: Store) -> None:
    (story,) = (await save(store, "f", [(article(PILSEN), match())])).new_stories
    broken = article(PILSEN_REWORDED, source="WGN")
    object.__setattr__(broken, "feed_url", None)  # NOT NULL: the article insert fails after the join
    with pytest.raises(StoreError):
        await save(store, "f", [(broken, match())])
    joined = await store.story(story.id)
    assert joined is not None and joined.outlets == ("Chicago Tribune",)


# -- reading and pruning -----------------------------------------------------------------
async def test_story_and_stories(store: Store) -> None:
    r = await save(store, "f", [(article("One story about ICE"), match()), (article("Two troops arrive"), match((GUARD,)))])
    ids = [s.id for s in r.new_stories]
    assert await store.story(9999) is None
    assert [s.id for s in await store.stories(ids[::-1])] == ids


async def test_latest(store: Store) -> None:
    await save(store,
        "f",
        [
            (article("Old ICE story", hours_ago=10), match((IMM,), (CHI,))),
            (article("New guard story", hours_ago=1), match((GUARD,), (CHI,))),
            (article("Middle sanctuary story", hours_ago=5), match((SANCT,), (CHI,))),
            (article("Cicero story", hours_ago=0.5), match((IMM,), (CICERO,))),
            (article("Untagged chicago story", hours_ago=0.1), match((), (CHI,))),
        ],
    )
    assert [s.title for s in await store.latest(CHI)] == ["New guard story", "Middle sanctuary story", "Old ICE story"]
    assert [s.title for s in await store.latest(CHI, topic=IMM)] == ["Old ICE story"]
    assert [s.title for s in await store.latest(CHI, limit=1)] == ["New guard story"]
    assert await store.latest("nowhere-xx") == []


async def test_prune_keeps_stories_with_pending_deliveries(store: Store, clock: Clock) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    r = await save(store,
        "f",
        [(article("Pending ICE story", hours_ago=2), match()), (article("Sent ICE story", hours_ago=2), match())],
    )
    await save(store, "f", [(article("Untopical story old", hours_ago=3), match((), (CHI,)))])
    _pending, sent = r.new_stories
    sent_alert = next(a for a in await store.due_alerts() if a.story.id == sent.id)
    await store.mark_sending([sent_alert.delivery_id], "n")
    await store.mark_sent([sent_alert.delivery_id], "1")
    await save(store, "f", [(article("Sent but recent story", hours_ago=1), match((), ()))])
    clock.advance(10 * 86400)
    await save(store, "f", [(article("Brand new story after", hours_ago=-240), match((), ()))])
    removed = await store.prune(7)
    assert removed == 3  # the sent one, the untopical one and the one without a delivery
    left = {s.title for s in await store.stories(range(1, 100))}
    assert left == {"Pending ICE story", "Brand new story after"}
    assert (await store.counts())["articles"] == 2
    assert await store.search("sent") == []  # the search index forgot them too
    assert len(await store.due_alerts()) == 1


async def test_failed_batch_leaves_the_cluster_index_as_the_database_has_it(store: Store) -> None:
    """A join into an existing story inside a failed batch must not stay in the index: the
    headline the database never stored would otherwise attract later articles."""
    first = await save(store, "f", [(article("ICE agents detain 3 at Pilsen car wash"), match())])
    (story,) = first.new_stories
    before = await stored_headlines(store, first.new_stories[0].title)
    joining = article("Immigration agents arrest two men at a Little Village taco stand on 26th Street")
    broken = article("Guard convoy rolls down Lake Shore Drive")
    object.__setattr__(broken, "feed_url", None)
    with pytest.raises(StoreError):
        await save(store, "f", [(article("ICE agents detain 3 at Pilsen car wash, witnesses say", source="WGN"), match()),
                                (joining, match()), (broken, match())])
    assert await stored_headlines(store, first.new_stories[0].title) == before
    assert await stored_headlines(store, joining.title) == []
    # the database has one article; its keys still know only that headline for the story
    t = joining.published.timestamp()
    assert await find_story(store, "ICE agents detain 3 at Pilsen car wash, witnesses say", t) == story.id
    assert await find_story(store, joining.title, t) is None


async def test_concurrent_batches_see_each_others_stories(store: Store) -> None:
    """Feeds are saved concurrently by the poller: the second batch must join the story the
    first one created, whichever finishes its transaction first."""
    assembler = assembler_of(store)
    await assembler.load(store)
    title = "Federal agents arrest 14 in Little Village raid as neighbors protest"
    reports = await asyncio.gather(*(
        assembler.save(store, f"https://feed{i}.example/rss", [(article(title, source=f"Outlet {i}"), match())])
        for i in range(4)
    ))
    assert sum(len(r.new_stories) for r in reports) == 1
    assert await store.counts() == {"articles": 4, "stories": 1, "feeds": 0}


# -- group commit (several feeds in one transaction) ------------------------------------
async def test_save_feeds_stores_each_feed_as_if_alone_in_one_transaction(store: Store) -> None:
    """`save_feeds` (the group commit's one transaction): each feed gets its own report, and a
    later feed of the group joins the story an earlier one created."""
    await store.subscribe(dest(1, 100), CHI, [IMM])
    assembler = assembler_of(store)
    await assembler.load(store)
    title = "Federal agents arrest 14 in Little Village raid as neighbors protest"
    one = [(article(title, feed_url="https://a.example/rss"), match())]
    two = [(article(title, source="WGN", feed_url="https://b.example/rss"), match()),
           (article("Guard troops leave Broadview", feed_url="https://b.example/rss"), match((GUARD,)))]
    dup = [(one[0][0], match())]  # the first feed's article again, through a third feed
    batch = assembler.begin()
    first, second, third = await store.save_feeds(
        [("https://a.example/rss", one), ("https://b.example/rss", two), ("https://c.example/rss", dup)], batch
    )
    assembler.commit(batch)
    (story,) = first.new_stories
    assert (first.new_articles, first.alerts_queued) == (1, 1)
    assert [s.title for s in second.new_stories] == ["Guard troops leave Broadview"]
    assert second.updated_story_ids == (story.id,) and second.new_articles == 2
    assert (third.new_articles, third.duplicates, third.new_stories) == (0, 1, ())
    joined = await store.story(story.id)
    assert joined is not None and joined.outlets == ("Chicago Tribune", "WGN")
    assert await store.counts() == {"articles": 3, "stories": 2, "feeds": 0}
    assert await store.save_feeds([], assembler.begin()) == ()


async def test_a_failing_feed_in_a_group_fails_alone(store: Store) -> None:
    """Feeds queued behind a running save are stored together; when that transaction fails,
    each is stored alone, so only the broken feed's save fails."""
    assembler = assembler_of(store)
    await assembler.load(store)
    broken = article("Guard convoy seen on Lake Shore Drive")
    object.__setattr__(broken, "feed_url", None)  # NOT NULL: its article insert fails
    batches = [
        [(article("ICE detains 4 at Back of the Yards bakery"), match())],
        [(article("Sanctuary ordinance vote delayed in Cicero"), match((SANCT,), (CICERO,)))],
        [(broken, match((GUARD,)))],
        [(article("Federal agents return to Little Village"), match())],
    ]
    outcomes = await asyncio.gather(
        *(assembler.save(store, f"https://feed{i}.example/rss", b) for i, b in enumerate(batches)),
        return_exceptions=True,
    )
    assert isinstance(outcomes[2], StoreError)
    assert [len(o.new_stories) for o in outcomes if not isinstance(o, BaseException)] == [1, 1, 1]
    assert await store.counts() == {"articles": 3, "stories": 3, "feeds": 0}
    assert await stored_headlines(store, "Guard convoy seen on Lake Shore Drive") == []
