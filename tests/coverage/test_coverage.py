"""Coverage follows subscriptions: managed feeds per subscribed city, shared, retired after grace.

Real store (SQLite file), real gazetteer, the real poller against a generated Google News-style
feed on loopback; time moves only through a ManualClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot import actions
from bot.app import App
from bot.clock import ManualClock
from bot.coverage import Coverage, managed_feeds_for, place_terms
from bot.ingest.budget import RequestSchedule
from bot.models import Destination
from bot.relevance import Gazetteer, load_classifier
from bot.settings import Settings, load_coverage
from bot.store import Store
from tests.coverage.conftest import write_coverage
from tests.feedserver import FeedServer

DAY = 86400.0
A = Destination("discord", "100", "1")
B = Destination("discord", "200", "2")


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_classifier().gazetteer


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path, clock=ManualClock(1_800_000_000))
    yield s
    await s.close()


def query_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["q"][0]


def test_ambiguous_names_get_their_state_and_neighbourhoods_come_from_aliases(
    gazetteer: Gazetteer, tmp_path: Path
) -> None:
    cfg = load_coverage(write_coverage(tmp_path / "c.toml", "https://news.google.com/rss/search"))
    portland = place_terms(gazetteer.city("portland-or"), gazetteer, cfg)
    assert portland[0] == "Portland, Oregon"
    assert "Pearl District" in portland or "South Waterfront" in portland
    assert place_terms(gazetteer.city("portland-me"), gazetteer, cfg)[0] == "Portland, Maine"
    assert place_terms(gazetteer.city("aurora-co"), gazetteer, cfg)[0] == "Aurora, Colorado"
    assert place_terms(gazetteer.city("el-paso-tx"), gazetteer, cfg)[0] == "El Paso"


def test_managed_feeds_are_one_per_language_with_city_and_lang(gazetteer: Gazetteer, tmp_path: Path) -> None:
    cfg = load_coverage(write_coverage(tmp_path / "c.toml", "https://news.google.com/rss/search"))
    feeds = managed_feeds_for(gazetteer.city("portland-or"), gazetteer, cfg)
    assert [f.lang for f in feeds] == ["en", "es"]
    assert all(f.city == "portland-or" for f in feeds)
    en, es = feeds
    assert "hl=en-US&gl=US&ceid=US:en" in en.url and "hl=es-419&gl=US&ceid=US:es-419" in es.url
    assert '"Portland, Oregon"' in query_of(en.url) and "Maine" not in query_of(en.url)
    assert "inmigración" in query_of(es.url)


async def test_subscribers_share_feeds_and_the_last_unsubscribe_starts_the_grace_period(
    store: Store, gazetteer: Gazetteer, tmp_path: Path
) -> None:
    clock = store.clock
    assert isinstance(clock, ManualClock)
    cfg = load_coverage(write_coverage(tmp_path / "c.toml", "https://news.google.com/rss/search", grace_days=7))
    coverage = Coverage(store, gazetteer, cfg, RequestSchedule(cfg.budgets, clock=clock), clock)

    await actions.subscribe(store, gazetteer, destination=A, city="portland-or", coverage=coverage, catchup_count=0)
    managed = await store.managed_feeds()
    assert {(f.managed_city, f.lang, f.kind) for f in managed} == {("portland-or", "en", "managed"), ("portland-or", "es", "managed")}
    assert all(f.city == "portland-or" and f.needed_until is None for f in managed)

    await actions.subscribe(store, gazetteer, destination=B, city="Portland, OR", coverage=coverage, catchup_count=0)
    assert len(await store.managed_feeds()) == 2, "a second subscriber shares the city's feeds"

    await actions.unsubscribe(store, gazetteer, destination=A, city="portland-or", coverage=coverage)
    assert all(f.needed_until is None for f in await store.managed_feeds())

    await actions.unsubscribe(store, gazetteer, destination=B, city="portland-or", coverage=coverage)
    grace = await store.managed_feeds()
    assert len(grace) == 2 and all(f.needed_until is not None for f in grace)
    assert all(abs(f.needed_until.timestamp() - (clock.now() + 7 * DAY)) < 1 for f in grace if f.needed_until)

    clock.advance(6 * DAY)
    await coverage.reconcile()
    assert len(await store.managed_feeds()) == 2, "still inside the grace period"

    # back within the grace period: the same feeds are needed again, none added
    sub = await actions.subscribe(store, gazetteer, destination=A, city="portland-or", coverage=coverage, catchup_count=0)
    assert all(f.needed_until is None for f in await store.managed_feeds())
    await actions.remove_subscription(store, sub.subscription.id, coverage=coverage)

    clock.advance(7 * DAY - 1)
    await coverage.reconcile()
    assert len(await store.managed_feeds()) == 2
    clock.advance(2)
    change = await coverage.reconcile()
    assert len(change.retired) == 2
    assert await store.managed_feeds() == []
    assert [f for f in await store.feeds() if f.kind == "managed"] == []


async def test_apply_without_a_subscription_lasts_one_grace_period(
    store: Store, gazetteer: Gazetteer, tmp_path: Path
) -> None:
    clock = store.clock
    assert isinstance(clock, ManualClock)
    cfg = load_coverage(write_coverage(tmp_path / "c.toml", "https://news.google.com/rss/search", grace_days=1))
    coverage = Coverage(store, gazetteer, cfg, RequestSchedule(cfg.budgets, clock=clock), clock)
    view = await actions.feed_coverage(store, gazetteer, coverage, "charlotte-nc", apply=True)
    assert len(view.added) == 2 and {r.state.kind for r in view.feeds} == {"managed"}
    clock.advance(DAY + 1)
    await coverage.reconcile()
    assert await store.managed_feeds() == []


async def test_portland_items_route_to_portland_or_through_the_real_poller(
    db_path: Path, tmp_path: Path
) -> None:
    async with FeedServer() as server:
        coverage_file = write_coverage(
            tmp_path / "coverage.toml", server.url("/gnews/rss/search"), requests=50, per_seconds=1
        )
        settings = Settings(db_path=db_path, parse_workers=2, coverage_file=coverage_file, tick_seconds=1)
        app = await App.open(settings, sync_catalogue=False)
        try:
            assert app.coverage is not None
            await actions.subscribe(
                app.store, app.gazetteer, destination=A, city="portland-or", coverage=app.coverage, catchup_count=0
            )
            report = await app.poller.poll_once()
            managed = [o for o in report.feeds if "gnews" in o.url]
            assert len(managed) == 2 and not report.failed, report.failed
            assert report.new_stories
            for story in report.new_stories:
                assert "portland-or" in story.cities and "portland-me" not in story.cities, story
            asked = [parse_qs(urlsplit(path).query) for _t, path in server.request_log]
            assert {q["ceid"][0] for q in asked if '"Portland, Oregon"' in q["q"][0]} == {"US:en", "US:es-419"}
            assert not any("Maine" in q["q"][0] for q in asked)
        finally:
            await app.close()
