"""The feed catalogue, per-server feeds and feed health."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.errors import FeedExistsError
from bot.models import FeedConfig
from bot.store import Store
from tests.store.helpers import article, match, raw_rows, save

A = "https://a.example/rss"
B = "https://b.example/rss"
C = "https://c.example/rss"


async def test_sync_feeds_keeps_state_and_deactivates_dropped(store: Store) -> None:
    await store.sync_feeds([FeedConfig(A, name="A", city="chicago-il", interval=600), FeedConfig(B)])
    states = await store.feed_states()
    assert [(s.url, s.name, s.city, s.interval) for s in states] == [
        (A, "A", "chicago-il", 600),
        (B, None, None, None),
    ]
    await store.record_fetch(A, status=200, error=None, next_check=1000.0, etag='"e1"', items=4)
    # renamed in the config, B dropped, C added
    await store.sync_feeds([FeedConfig(A, name="A renamed"), FeedConfig(C)])
    assert [s.url for s in await store.feed_states()] == [A, C]
    a = await store.feed_state(A)
    assert a is not None and a.name == "A renamed" and a.etag == '"e1"' and a.items_seen == 4
    assert a.city is None and a.interval is None
    assert [s.url for s in await store.feed_states(active_only=False)] == [A, B, C]
    assert await store.feed_state("https://nope.example/") is None


async def test_due_feeds_order_and_next_check(store: Store) -> None:
    await store.sync_feeds([FeedConfig(A), FeedConfig(B), FeedConfig(C)])
    await store.record_fetch(A, status=200, error=None, next_check=500.0)
    await store.record_fetch(B, status=200, error=None, next_check=100.0)
    # C never checked: first; then by next_check
    assert [f.url for f in await store.due_feeds(1000.0)] == [C, B, A]
    assert [f.url for f in await store.due_feeds(200.0)] == [C, B]
    assert [f.url for f in await store.due_feeds(500.0)] == [C, B, A]  # inclusive
    b = await store.feed_state(B)
    assert b is not None and b.next_check is not None and b.next_check.timestamp() == 100.0
    assert b.last_checked is not None


async def test_record_fetch_success_resets_errors_failure_increments(store: Store) -> None:
    await store.sync_feeds([FeedConfig(A)])
    await store.record_fetch(A, status=200, error=None, next_check=1.0, etag="e", last_modified="lm", body_hash="h", items=3)
    for n in (1, 2, 3):
        await store.record_fetch(A, status=503, error=f"HTTP 503 #{n}", next_check=2.0)
        s = await store.feed_state(A)
        assert s is not None and s.consecutive_errors == n and s.last_error == f"HTTP 503 #{n}"
    s = await store.feed_state(A)
    assert s is not None
    assert (s.etag, s.last_modified, s.body_hash, s.items_seen) == ("e", "lm", "h", 3)  # kept through errors
    assert s.last_status == 503 and not s.disabled
    await store.record_fetch(A, status=304, error=None, next_check=3.0)
    s = await store.feed_state(A)
    assert s is not None
    assert (s.consecutive_errors, s.last_error, s.last_status) == (0, None, 304)
    assert (s.etag, s.body_hash, s.items_seen) == ("e", "h", 3)  # a 304 keeps the validators
    await store.record_fetch(A, status=200, error=None, next_check=4.0, etag="e2", items=2)
    s = await store.feed_state(A)
    assert s is not None and s.etag == "e2" and s.items_seen == 5


async def test_410_disables_feed(store: Store) -> None:
    await store.sync_feeds([FeedConfig(A), FeedConfig(B)])
    await store.record_fetch(A, status=410, error="HTTP 410 Gone", next_check=0.0, disable_reason="feed is gone (410)")
    s = await store.feed_state(A)
    assert s is not None and s.disabled and s.disabled_reason == "feed is gone (410)"
    assert [f.url for f in await store.due_feeds(10.0)] == [B]
    # a later ordinary error does not re-enable it or drop the reason
    await store.record_fetch(A, status=None, error="timeout", next_check=0.0)
    s = await store.feed_state(A)
    assert s is not None and s.disabled and s.disabled_reason == "feed is gone (410)"


async def test_guild_feeds_add_remove_duplicate(store: Store) -> None:
    cfg = await store.add_guild_feed("1", A, "Outlet A")
    assert cfg == FeedConfig(url=A, name="Outlet A", owner="1")
    await store.add_guild_feed("1", B, None)
    await store.add_guild_feed("2", A, "Same feed, other server")
    with pytest.raises(FeedExistsError) as info:
        await store.add_guild_feed("1", A, "again")
    assert info.value.user_message == "This server already follows that feed."
    assert [(f.url, f.name) for f in await store.guild_feeds("1")] == [(A, "Outlet A"), (B, None)]
    # a server's feed is active (polled) though not in the catalogue
    assert {s.url for s in await store.feed_states()} == {A, B}
    assert {s.url for s in await store.due_feeds(0.0)} == {A, B}
    assert await store.remove_guild_feed("1", A) is True
    assert await store.remove_guild_feed("1", A) is False
    assert [f.url for f in await store.guild_feeds("1")] == [B]
    assert {s.url for s in await store.feed_states()} == {A, B}  # server 2 still follows A
    assert await store.remove_guild_feed("2", A) is True
    assert {s.url for s in await store.feed_states()} == {B}


async def test_readding_a_gone_feed_gives_it_a_fresh_chance(store: Store) -> None:
    await store.add_guild_feed("1", A, "A")
    await store.record_fetch(A, status=410, error="gone", next_check=9e9, disable_reason="410")
    await store.remove_guild_feed("1", A)
    await store.add_guild_feed("1", A, "A")
    s = await store.feed_state(A)
    assert s is not None and not s.disabled and s.disabled_reason is None and s.next_check is None


async def test_language_of_a_feed_and_its_articles_is_stored(store: Store, db_path: Path) -> None:
    """feeds.toml `lang` reaches the feed's state (the poller hands it to the parser); an
    article's own language is stored with it."""
    await store.sync_feeds([FeedConfig(url="https://es.example/rss", lang="es"), FeedConfig(url="https://x.example/rss")])
    langs = {s.url: s.lang for s in await store.feed_states()}
    assert langs == {"https://es.example/rss": "es", "https://x.example/rss": None}
    spanish = dataclasses.replace(article("Redada de ICE en La Villita"), lang="es")
    await save(store, "https://es.example/rss", [(spanish, match())])
    assert raw_rows(db_path, "SELECT lang FROM articles") == [("es",)]
