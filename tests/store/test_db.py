"""Connection, pragmas, migrations, backup and the database-refused paths (full, locked)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import bot.store.db
from bot.errors import StoreError
from bot.store import Store
from bot.store.db import _migrations
from tests.store.helpers import (
    article,
    delivery_log,
    dest,
    match,
    raw_rows,
    save,
    set_max_page_count,
    stored_headlines,
)


async def test_migrations_set_user_version_and_create_schema(db_path: Path) -> None:
    latest = max(v for v, _, _ in _migrations())
    store = await Store.open(db_path)
    await store.close()
    assert raw_rows(db_path, "PRAGMA user_version") == [(latest,)]
    tables = {r[0] for r in raw_rows(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"feeds", "guild_feeds", "stories", "articles", "stories_fts", "subscriptions", "deliveries", "meta"} <= tables


async def test_reopen_is_idempotent_and_keeps_data(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.set_meta("k", "v1")
    await save(store, "f", [(article("ICE agents detain two men near Pilsen church"), match())])
    await store.close()
    # reopening runs no migration twice (a re-run CREATE TABLE would raise) and loses nothing
    for _ in range(2):
        store = await Store.open(db_path)
        assert await store.get_meta("k") == "v1"
        assert (await store.counts())["stories"] == 1
        await store.close()
    assert raw_rows(db_path, "PRAGMA user_version") == [(max(v for v, _, _ in _migrations()),)]


async def test_wal_and_foreign_keys_on(store: Store) -> None:
    assert await store._run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    assert await store._run(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
    assert await store._run(lambda c: c.execute("PRAGMA busy_timeout").fetchone()[0]) == bot.store.db.BUSY_TIMEOUT_MS
    # foreign keys are enforced, not just declared
    with pytest.raises(StoreError):
        await store._run(
            lambda c: c.execute(
                "INSERT INTO articles(identity, feed_url, url, link, title, summary, published, "
                "published_known, source, story_id, fetched) VALUES ('x', 'f', '', '', 't', '', 0, 1, 's', 999, 0)"
            )
        )


async def test_meta_roundtrip(store: Store) -> None:
    assert await store.get_meta("missing") is None
    await store.set_meta("a", "1")
    await store.set_meta("a", "2")
    assert await store.get_meta("a") == "2"


async def test_backup_opens_with_same_counts_and_integrity(store: Store, tmp_path: Path) -> None:
    items = [(article(f"ICE raid number {i} reported at warehouse {i * 7}"), match()) for i in range(30)]
    await save(store, "f", items)
    await store.sync_feeds([])
    await store.subscribe(dest(1, 10), "chicago-il", ["immigration-enforcement"])
    target = tmp_path / "backups" / "copy.sqlite3"
    await store.backup(target)
    copy = await Store.open(target)
    try:
        assert await copy.counts() == await store.counts()
        assert (await copy.counts())["stories"] == 30
        assert await copy.integrity_check() == "ok"
        assert len(await copy.subscriptions()) == 1
        assert await copy.search("warehouse") != []
    finally:
        await copy.close()


async def test_full_database_raises_clear_store_error_and_stays_intact(store: Store) -> None:
    await save(store, "f", [(article("Seed story about ICE in Chicago"), match())])
    before = await store.counts()
    pages = await store._run(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    assert await set_max_page_count(store, pages + 2) == pages + 2
    long = "immigration enforcement " * 200
    items = [(article(f"Story {i} unrelated words {i}", summary=long + str(i)), match()) for i in range(300)]
    with pytest.raises(StoreError) as info:
        await save(store, "https://big.example/feed", items)
    msg = info.value.user_message
    assert "full" in msg and "saving articles from https://big.example/feed" in msg
    # the whole batch rolled back; nothing half-written, the index forgot the stories
    assert await store.counts() == before
    assert await stored_headlines(store, *(a.title for a, _ in items[:20])) == []
    assert len(await stored_headlines(store, "Seed story about ICE in Chicago")) == 1
    assert await store.integrity_check() == "ok"
    # the store still works once there is room again
    await set_max_page_count(store, 1_000_000)
    report = await save(store, "f", items[:3])
    assert len(report.new_stories) == 3


async def test_locked_database_raises_clear_store_error(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.store.db, "BUSY_TIMEOUT_MS", 100)
    store = await Store.open(db_path)
    other = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError) as info:
            await save(store, "f", [(article("ICE detains worker in Pilsen"), match())])
        assert "busy" in info.value.user_message and "lock" in info.value.user_message
        with pytest.raises(StoreError, match="busy"):
            await store.subscribe(dest(1, 2), "chicago-il", ["immigration-enforcement"])
        assert await stored_headlines(store, "ICE detains worker in Pilsen") == []  # rolled back
        other.execute("ROLLBACK")
        report = await save(store, "f", [(article("ICE detains worker in Pilsen"), match())])
        assert len(report.new_stories) == 1
        assert await store.integrity_check() == "ok"
    finally:
        other.close()
        await store.close()


def test_store_error_messages_name_the_cause() -> None:
    cases = {
        "database is locked": "busy",
        "database or disk is full": "full",
        "database disk image is malformed": "damaged",
        "attempt to write a readonly database": "cannot be written",
        "no such table: x": "database error while doing x: no such table",
    }
    for text, expected in cases.items():
        err = bot.store.db.store_error(sqlite3.OperationalError(text), "doing x")
        assert expected in err.user_message, (text, err.user_message)
        assert "doing x" in err.user_message


async def test_not_a_database_is_reported_as_damaged(db_path: Path) -> None:
    db_path.write_bytes(b"this is not sqlite" * 512)
    with pytest.raises(StoreError) as info:
        await Store.open(db_path)
    assert "damaged" in info.value.user_message and "restore from a backup" in info.value.user_message
    assert str(db_path) in info.value.user_message


async def test_open_creates_missing_parent_folder(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "a" / "b" / "db.sqlite3")
    try:
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()


async def test_version_1_rows_are_carried_over_to_destinations(db_path: Path) -> None:
    """Migration 003: Discord integers become text destinations; nothing is lost or doubled."""
    from importlib import resources

    conn = sqlite3.connect(str(db_path))
    sql = (resources.files("bot.store") / "migrations" / "001_initial.sql").read_text(encoding="utf-8")
    conn.executescript(sql + "\nPRAGMA user_version = 1;")
    conn.executescript(
        "INSERT INTO stories(id, title, url, source, summary, published, first_seen, updated, link_rank, "
        "outlets, topics, cities, why) VALUES (1, 'ICE raid', 'https://x.test/1', 'WBEZ', '', 1, 1, 1, 0, "
        "'[\"WBEZ\"]', '[\"immigration-enforcement\"]', '[\"chicago-il\"]', '[]');"
        "INSERT INTO subscriptions(id, guild_id, channel_id, city, topics, paused, pause_reason, notified, created) "
        "VALUES (7, 1111, 2222, 'chicago-il', '[\"immigration-enforcement\"]', 1, 'missing Embed Links', 1, 5),"
        "(8, 1111, 2222, 'cicero-il', '[\"national-guard\"]', 0, NULL, 0, 6),"
        "(9, 0, 0, '*', '[\"immigration-enforcement\"]', 0, NULL, 0, 7);"
        "INSERT INTO deliveries(id, story_id, subscription_id, channel_id, guild_id, status, nonce, message_id, "
        "attempts, next_attempt, created, sent_at) VALUES "
        "(1, 1, 7, 2222, 1111, 'sent', 'ca1', 1234567890123456789, 1, 1, 1, 2),"
        "(2, 1, 9, 0, 0, 'pending', NULL, NULL, 0, 1, 1, NULL),"
        "(3, 1, NULL, 3333, 1111, 'sending', 'ca3', NULL, 1, 1, 1, NULL);"
    )
    conn.close()
    store = await Store.open(db_path)
    try:
        subs = await store.subscriptions()
        assert {(s.id, s.destination.platform, s.destination.address, s.destination.group, s.city) for s in subs} == {
            (7, "discord", "2222", "1111", "chicago-il"),
            (8, "discord", "2222", "1111", "cicero-il"),
            (9, "console", "stdout", "", "*"),
        }
        states = {d.destination.address: d for d in await store.destinations()}
        assert states["2222"].paused and states["2222"].pause_reason == "missing Embed Links"
        assert set(states) == {"2222", "stdout", "3333"}  # the orphan delivery keeps a destination
        log = await delivery_log(store)
        assert log == [
            (1, "2222", "sent", "1234567890123456789"),  # a 19-digit snowflake survives as text
            (1, "stdout", "pending", None),
            (1, "3333", "sending", None),
        ]
    finally:
        await store.close()


async def test_migration_002_turns_all_three_topics_into_the_wildcard(db_path: Path) -> None:
    """A version-1 subscription listing the three original topics meant "all topics"."""
    conn = sqlite3.connect(db_path)
    for version, _name, sql in _migrations():
        if version == 1:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = 1;\nCOMMIT;")
    all_three = '["national-guard", "immigration-enforcement", "sanctuary-policy"]'
    rows = [(10, "chicago-il", all_three), (11, "chicago-il", '["national-guard"]'),
            (12, "chicago-il", '["immigration-enforcement", "sanctuary-policy"]')]
    conn.executemany(
        "INSERT INTO subscriptions(guild_id, channel_id, city, topics, created) VALUES (1, ?, ?, ?, 0)", rows
    )
    conn.commit()
    conn.close()
    store = await Store.open(db_path)
    try:
        subs = {int(s.destination.address): s.topics for s in await store.subscriptions()}
    finally:
        await store.close()
    assert subs == {10: ("*",), 11: ("national-guard",), 12: ("immigration-enforcement", "sanctuary-policy")}
