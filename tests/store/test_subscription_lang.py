"""Issue 13: a subscription's language (migration 008) is stored, kept and reaches its alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import actions
from bot.errors import UserInputError
from bot.models import Destination
from bot.relevance import load_classifier
from bot.store import Store
from tests.store.helpers import raw_rows

CHANNEL = Destination(platform="console", address="canal", name="#alertas")


async def test_lang_is_stored_kept_and_validated(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        gaz = load_classifier().gazetteer
        r = await actions.subscribe(store, gaz, destination=CHANNEL, city="Chicago", lang="español", catchup_count=0)
        assert r.subscription.lang == "es"
        # re-subscribing without a language keeps it; a platform default never overrides it
        r = await actions.subscribe(
            store, gaz, destination=CHANNEL, city="Chicago", default_lang="en", catchup_count=0
        )
        assert r.subscription.lang == "es"
        r = await actions.subscribe(store, gaz, destination=CHANNEL, city="Chicago", lang="en", catchup_count=0)
        assert r.subscription.lang == "en"
        # a new subscription takes the platform's default
        r = await actions.subscribe(
            store, gaz, destination=CHANNEL, city="Miami", default_lang="es-419", catchup_count=0
        )
        assert r.subscription.lang == "es"
        with pytest.raises(UserInputError) as exc:
            await actions.subscribe(store, gaz, destination=CHANNEL, city="Denver", lang="klingon")
        assert "klingon" in exc.value.user_message and "es" in exc.value.user_message
        assert raw_rows(db_path, "SELECT city, lang FROM subscriptions ORDER BY id") == [
            ("chicago-il", "en"),
            ("miami-fl", "es"),
        ]
    finally:
        await store.close()


async def test_subscriptions_made_before_migration_8_are_english(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.close()
    # a row written without the column's value, as version 7 wrote them
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO destinations(platform, address, grp, created) VALUES ('discord', '1', '2', 0)"
        )
        conn.execute(
            "INSERT INTO subscriptions(destination_id, city, topics, created) "
            "VALUES (last_insert_rowid(), 'chicago-il', '[\"*\"]', 0)"
        )
    store = await Store.open(db_path)
    try:
        subs = await store.subscriptions()
        assert [s.lang for s in subs] == ["en"]
    finally:
        await store.close()
