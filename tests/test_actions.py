"""What every adapter's commands do, tested without any chat platform, on the real store.

The actions take a Destination (platform + address + group) and the storage ports; these tests
use two made-up platforms as well as Discord-shaped destinations, since nothing here may
depend on one platform.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import actions
from bot.errors import UnknownCityError, UserInputError
from bot.fanout import ALL
from bot.models import Destination
from bot.relevance import load_classifier
from bot.settings import Settings
from bot.store import Store
from tests.feedserver import FeedServer
from tests.store.helpers import CHI, CICERO, GUARD, IMM, Clock, article, match, save

SLACK_A = Destination(platform="slack", address="C0123", group="T1")
SLACK_B = Destination(platform="slack", address="C0456", group="T1")
OTHER_TEAM = Destination(platform="slack", address="C0123", group="T2")
PUSH = Destination(platform="apprise", address="json://127.0.0.1:9/hook", name="json://127.0.0.1/...")


@pytest.fixture(scope="module")
def gazetteer() -> Any:
    return load_classifier().gazetteer


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path, clock=Clock())
    try:
        yield s
    finally:
        await s.close()


async def test_subscribe_resolves_the_city_and_stores_all_topics_as_a_wildcard(store: Store, gazetteer: Any) -> None:
    result = await actions.subscribe(store, gazetteer, destination=SLACK_A, city="Chicago, IL")
    assert result.city_label == "Chicago, IL"
    assert result.subscription.city == CHI and result.subscription.topics == (ALL,)
    assert actions.topics_text(result.subscription.topics) == "all topics"
    again = await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI, topics=[GUARD])
    assert again.subscription.id == result.subscription.id and again.subscription.topics == (GUARD,)
    with pytest.raises(UnknownCityError):
        await actions.subscribe(store, gazetteer, destination=SLACK_A, city="Atlantis, ZZ")
    with pytest.raises(UserInputError):
        await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI, topics=["weather"])


async def test_catchup_queues_the_latest_matching_stories_oldest_first(store: Store, gazetteer: Any) -> None:
    await save(store, "f", [
        (article("ICE detains 3 at Pilsen car wash", hours_ago=3), match((IMM,), (CHI,))),
        (article("Guard convoy seen near Broadview", hours_ago=2), match((GUARD,), (CHI,))),
        (article("Cicero council votes on welcoming ordinance", hours_ago=1), match((IMM,), (CICERO,))),
    ])
    result = await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI, catchup_count=3)
    assert result.catchup_queued == 2
    titles = [a.story.title for a in await store.due_alerts()]
    assert titles == ["ICE detains 3 at Pilsen car wash", "Guard convoy seen near Broadview"]
    only_guard = await actions.subscribe(store, gazetteer, destination=SLACK_B, city=CHI, topics=[GUARD])
    assert only_guard.catchup_queued == 1
    off = await actions.subscribe(store, gazetteer, destination=PUSH, city=CHI, catchup_count=0)
    assert off.catchup_queued == 0


async def test_the_subscription_limit_counts_a_whole_group(store: Store, gazetteer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(actions, "MAX_GUILD_SUBSCRIPTIONS", 2)
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    await actions.subscribe(store, gazetteer, destination=SLACK_B, city=CICERO)
    with pytest.raises(UserInputError) as info:
        await actions.subscribe(store, gazetteer, destination=SLACK_B, city="Evanston, IL")
    assert "limit is 2" in info.value.user_message
    # an update of an existing subscription is not a new one
    await actions.subscribe(store, gazetteer, destination=SLACK_B, city=CICERO, topics=[GUARD])
    # another workspace has its own count
    await actions.subscribe(store, gazetteer, destination=Destination("slack", "C9", "T2"), city=CHI)


async def test_unsubscribe_is_scoped_to_the_group(store: Store, gazetteer: Any) -> None:
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    # the same channel id in another workspace is another destination
    removed, label = await actions.unsubscribe(store, gazetteer, destination=OTHER_TEAM, city=CHI)
    assert (removed, label) == (False, "Chicago, IL")
    assert len(await store.subscriptions(platform="slack")) == 1
    removed, _ = await actions.unsubscribe(store, gazetteer, destination=SLACK_A, city="chicago")
    assert removed
    with pytest.raises(UnknownCityError):
        await actions.unsubscribe(store, gazetteer, destination=SLACK_A, city="Atlantis, ZZ")


async def test_lists_and_cities_per_platform_and_group(store: Store, gazetteer: Any) -> None:
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    await actions.subscribe(store, gazetteer, destination=SLACK_B, city=CICERO, topics=[IMM])
    await actions.subscribe(store, gazetteer, destination=PUSH, city=CHI)
    views = await actions.list_subscriptions(store, gazetteer, platform="slack", group="T1")
    assert [(v.subscription.destination.address, v.city_label, v.topics_text) for v in views] == [
        ("C0123", "Chicago, IL", "all topics"),
        ("C0456", "Cicero, IL", "Immigration enforcement"),
    ]
    everything = await actions.list_subscriptions(store, gazetteer)
    assert {v.subscription.destination.platform for v in everything} == {"slack", "apprise"}
    assert await actions.subscribed_cities(store, gazetteer, platform="slack", group="T1") == [
        ("Chicago, IL", CHI), ("Cicero, IL", CICERO)
    ]


async def test_destination_lifecycle_pause_resume_gone_group_removed(store: Store, gazetteer: Any) -> None:
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    await actions.subscribe(store, gazetteer, destination=SLACK_B, city=CHI)
    await save(store, "f", [(article("ICE detains 3 at Pilsen car wash"), match())])
    dest_a = await store.destination_id(SLACK_A)
    assert dest_a is not None
    assert await store.pause_destination(dest_a, "missing chat:write")
    paused = await actions.paused_destinations(store, platform="slack", group="T1")
    assert [d.destination.address for d in paused] == ["C0123"]
    assert [a.destination.address for a in await store.due_alerts()] == ["C0456"]
    assert await actions.resume_destination(store, SLACK_A) == 1
    assert sorted(a.destination.address for a in await store.due_alerts()) == ["C0123", "C0456"]
    assert await actions.destination_gone(store, SLACK_A) == 1
    assert await actions.destination_gone(store, Destination("slack", "nope", "T1")) == 0
    assert [a.destination.address for a in await store.due_alerts()] == ["C0456"]
    assert await actions.group_removed(store, "slack", "T1") == 1
    assert await store.due_alerts() == [] and await store.subscriptions() == []


async def test_resubscribing_a_paused_destination_resumes_it(store: Store, gazetteer: Any) -> None:
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    await save(store, "f", [(article("ICE detains 3 at Pilsen car wash"), match())])
    (alert,) = await store.due_alerts()
    await store.mark_retry([alert.delivery_id], at=store.clock.now() + 900, error="forbidden")
    dest_a = await store.destination_id(SLACK_A)
    assert dest_a is not None
    await store.pause_destination(dest_a, "forbidden")
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    (again,) = await store.due_alerts()  # due now, not in 900 s
    assert again.delivery_id == alert.delivery_id


async def test_search_pages_and_validates(store: Store, gazetteer: Any) -> None:
    await save(store, "f", [
        (article(f"ICE raid number {i} reported at site {i * 7}", hours_ago=i + 1), match()) for i in range(7)
    ])
    first = await actions.search(store, gazetteer, "  ICE   raid ", page_size=5)
    assert first.query == "ICE raid" and len(first.hits) == 5 and first.has_more and first.first_rank == 1
    second = await actions.search(store, gazetteer, "ICE raid", page=1, page_size=5)
    assert len(second.hits) == 2 and not second.has_more and second.first_rank == 6
    assert {h.id for h in first.hits}.isdisjoint(h.id for h in second.hits)
    wide = await actions.search(store, gazetteer, "ICE raid", page_size=50, max_page_size=100)
    assert len(wide.hits) == 7
    with pytest.raises(UserInputError):
        await actions.search(store, gazetteer, "   ")
    with pytest.raises(UnknownCityError):
        await actions.search(store, gazetteer, "ICE", city="Atlantis, ZZ")
    assert (await actions.search(store, gazetteer, "ICE", city="Cicero, IL")).hits == ()
    label, stories = await actions.latest(store, gazetteer, "Chicago, IL", limit=3)
    assert label == "Chicago, IL" and len(stories) == 3


async def test_status_counts_feeds_queue_and_the_groups_subscriptions(store: Store, gazetteer: Any) -> None:
    await actions.subscribe(store, gazetteer, destination=SLACK_A, city=CHI)
    await actions.subscribe(store, gazetteer, destination=PUSH, city=CHI)
    await save(store, "f", [(article("ICE detains 3 at Pilsen car wash"), match())])
    report = await actions.status(store, gazetteer, platform="slack", group="T1")
    assert report.queue_depth == 2
    assert [v.subscription.destination.address for v in report.subscriptions] == ["C0123"]


async def test_check_feeds_reports_health_with_progress(tmp_path: Path) -> None:
    from bot.models import FeedConfig

    async with FeedServer() as server:
        good = server.set_feed("/dyn/good.xml", items=[{"title": "ICE in Pilsen", "link": "https://x.test/1"}])
        page = server.set_body("/dyn/page.html", b"<html><body>hello</body></html>", content_type="text/html")
        server.fail("/dyn/down.xml", 5, status=503)
        down = server.url("/dyn/down.xml")
        seen: list[tuple[int, int]] = []
        rows = await actions.check_feeds(
            Settings(db_path=tmp_path / "x.sqlite3"),
            [FeedConfig(url=good, name="Good"), FeedConfig(url=page), FeedConfig(url=down)],
            on_progress=lambda done, total, feed: seen.append((done, total)),
        )
    by_url = {r.url: r for r in rows}
    assert by_url[good].healthy and by_url[good].items == "1" and by_url[good].name == "Good"
    assert not by_url[page].healthy and by_url[page].items == "not a feed"
    assert not by_url[down].healthy and by_url[down].status.startswith("503")
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


async def test_db_actions_refuse_mistakes(store: Store, tmp_path: Path, db_path: Path) -> None:
    with pytest.raises(UserInputError):
        await actions.prune(store, -1)
    assert await actions.prune(store, 30) == 0
    with pytest.raises(UserInputError):
        await actions.backup(store, db_path, database=db_path)
    await actions.backup(store, tmp_path / "copy.sqlite3", database=db_path)
    assert (tmp_path / "copy.sqlite3").stat().st_size > 0
    assert await actions.integrity_check(store) == "ok"
