"""PostgreSQL's own mechanics: migrations, claims (leases) for several workers, search safety,
db check and backups. The shared behaviour is the contract suite's (tests/store, both backends)."""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
from pathlib import Path

import asyncpg
import pytest

from bot.errors import StoreError
from bot.models import FeedConfig
from bot.store.pg import PgStore
from bot.store.pg.db import _migrations
from tests.store.helpers import CHI, IMM, Clock, article, dest, match, save
from tests.test_cli import HOSTILE_QUERIES


async def open_two(dsn: str, clock: Clock, lease: float = 60.0) -> tuple[PgStore, PgStore]:
    """Two stores on one database: what two worker processes are to each other."""
    a, b = await asyncio.gather(*(PgStore.open(dsn, clock=clock, lease=lease, poll_interval=30) for _ in range(2)))
    return a, b


async def test_concurrent_opens_migrate_once_and_reopen_is_idempotent(pg_dsn: str) -> None:
    stores = await asyncio.gather(*(PgStore.open(pg_dsn) for _ in range(4)))
    for s in stores:
        await s.close()
    again = await PgStore.open(pg_dsn)
    await again.set_meta("k", "v")
    assert await again.integrity_check() == "ok"
    await again.close()
    conn = await asyncpg.connect(pg_dsn)
    try:
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_version ORDER BY version")]
    finally:
        await conn.close()
    assert versions == [v for v, _, _ in _migrations()]


async def test_due_feeds_are_claimed_by_one_worker_until_recorded_or_lease_ends(pg_dsn: str) -> None:
    clock = Clock()
    a, b = await open_two(pg_dsn, clock, lease=60)
    try:
        await a.sync_feeds([FeedConfig(url=f"https://f{i}.example/rss") for i in range(10)])
        got_a, got_b = await asyncio.gather(a.due_feeds(), b.due_feeds())
        urls_a, urls_b = {f.url for f in got_a}, {f.url for f in got_b}
        assert not urls_a & urls_b
        assert len(urls_a | urls_b) == 10
        assert await b.due_feeds() == [] or not ({f.url for f in await b.due_feeds()} & urls_a)
        # a records one (next check an interval on): nobody gets it again this interval
        first = sorted(urls_a)[0] if urls_a else sorted(urls_b)[0]
        owner = a if urls_a else b
        await owner.record_fetch(first, status=200, error=None, next_check=clock.now() + 900)
        # a is "killed": its other claims come back to b once the lease has ended
        clock.advance(61)
        back = {f.url for f in await b.due_feeds()}
        assert first not in back
        assert back == (urls_a | urls_b) - {first}
    finally:
        await a.close()
        await b.close()


async def test_due_alerts_are_claimed_and_a_dead_workers_sending_rows_come_back(pg_dsn: str) -> None:
    clock = Clock()
    a, b = await open_two(pg_dsn, clock, lease=60)
    try:
        for ch in (100, 200, 300):
            await a.subscribe(dest(1, ch), CHI, [IMM])
        await save(a, "f", [(article(f"ICE raid number {n} in Pilsen"), match()) for n in range(3)])  # type: ignore[arg-type]
        alerts_a = await a.due_alerts()
        alerts_b = await b.due_alerts()
        assert len(alerts_a) == 9 and alerts_b == []  # a holds them all
        assert len(await a.due_alerts()) == 9  # its own claims stay visible to it
        ids = [x.delivery_id for x in alerts_a[:3]]
        await a.mark_sending(ids, "key1")
        assert await b.sending_alerts() == []  # a is alive (lease running): not b's to settle
        clock.advance(61)  # a died
        settle = await b.sending_alerts()
        assert sorted(x.delivery_id for x in settle) == sorted(ids)
        rest = await b.due_alerts()
        assert len(rest) == 6  # the pending ones a had claimed
        await b.mark_sent([x.delivery_id for x in rest], "m1")
        assert await b.queue_depth() == 3
    finally:
        await a.close()
        await b.close()


def hostile_queries() -> list[str]:
    rng = random.Random(15)
    parts = ['"', "'", "AND", "OR", "NOT", "<->", "!", "&", "|", ":*", "(", ")", "-", ":", "*", "^", "o'hare",
             "C++", "😀", "\x00", "ICE", "title:", "{", "}", "+", " ", "’", "Ⅻ", "²", "ß", "İ", "\u0301", "\\"]
    out = list(HOSTILE_QUERIES)
    out += ["".join(rng.choice(parts) for _ in range(rng.randint(1, 40))) for _ in range(200)]
    out += ["".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 300))) for _ in range(50)]
    return out


async def test_search_survives_hostile_text(pg_dsn: str) -> None:
    store = await PgStore.open(pg_dsn)
    try:
        await save(store, "f", [  # type: ignore[arg-type]
            (article("ICE AND NOT NEAR o'hare", summary="C++ and 😀 title: guard"), match()),
            (article("Detenidos en una redada de ICE en Pilsen", summary="agentes federales"), match()),
        ])
        for text in hostile_queries():
            assert isinstance(await store.search(text), list)
            assert isinstance(await store.search(text, city=CHI, topic=IMM, since_days=3, limit=3, offset=1), list)
        assert [h.title for h in await store.search("o'hare")] == ["ICE AND NOT NEAR o'hare"]
        assert [h.title for h in await store.search("C++")] == ["ICE AND NOT NEAR o'hare"]
    finally:
        await store.close()


async def test_spanish_items_are_found_by_their_stems(pg_dsn: str) -> None:
    store = await PgStore.open(pg_dsn)
    try:
        es = article("Detenidos en una redada de ICE en Pilsen", summary="Agentes federales detuvieron a vecinos.")
        object.__setattr__(es, "lang", "es")
        en = article("Agents detained residents in Pilsen raid", summary="Federal agents detained neighbors.")
        object.__setattr__(en, "lang", "en")
        await save(store, "f", [(es, match()), (en, match())])  # type: ignore[arg-type]
        # Spanish stemming: "redadas" (plural) finds "redada"; English: "detaining" finds "detained"
        assert [h.title for h in await store.search("redadas")] == [es.title]
        assert [h.title for h in await store.search("detaining residents")] == [en.title]
    finally:
        await store.close()


async def test_db_check_reports_a_database_behind_the_code(pg_dsn: str) -> None:
    store = await PgStore.open(pg_dsn)
    try:
        assert await store.integrity_check() == "ok"
        async with store.conn("test") as c:
            await c.execute("DELETE FROM schema_version WHERE version = (SELECT max(version) FROM schema_version)")
        assert "schema version" in await store.integrity_check()
    finally:
        await store.close()


@pytest.mark.skipif(shutil.which("pg_restore") is None, reason="pg_restore (postgresql-client) not installed")
async def test_backup_is_a_pg_dump_archive_pg_restore_reads(pg_dsn: str, tmp_path: Path) -> None:
    store = await PgStore.open(pg_dsn)
    try:
        await save(store, "f", [(article("ICE raid in Pilsen"), match())])  # type: ignore[arg-type]
        target = tmp_path / "backup.dump"
        await store.backup(target)
    finally:
        await store.close()
    listing = subprocess.run(["pg_restore", "--list", str(target)], capture_output=True, text=True, check=True)
    assert "TABLE DATA public stories" in listing.stdout


async def test_unreachable_server_raises_one_clear_store_error() -> None:
    with pytest.raises(StoreError) as info:
        await PgStore.open("postgresql://civic:pw-secret@127.0.0.1:9/civic")
    assert "pw-secret" not in info.value.user_message
    assert "cannot reach the PostgreSQL server" in info.value.user_message


async def test_shared_rate_spaces_the_sends_of_every_process(pg_dsn: str) -> None:
    """Two workers taking send slots of one bucket at once: together they get one rate's worth
    of slots (a per-process pace would give each the whole rate: the last slot at half the time)."""
    a, b = await open_two(pg_dsn, Clock())
    try:
        rate, n = 50.0, 100
        waits = sorted(await asyncio.gather(*(s.take_rate("sends:discord", rate) for s in (a, b) for _ in range(n))))
    finally:
        await a.close()
        await b.close()
    interval = 1 / rate
    slack = 0.5  # the calls themselves take time; slots they lag behind are not granted twice
    for k, wait in enumerate(waits):
        assert wait >= (k - 1) * interval - slack, f"slot {k} at {wait:.3f}s: more than {rate}/s"
    assert waits[-1] >= (2 * n - 1) * interval - slack


async def test_delivery_paces_through_the_shared_bucket(pg_dsn: str) -> None:
    import io

    from bot.adapters.console import CONSOLE, ConsoleSink
    from bot.delivery import DeliveryWorker

    store = await PgStore.open(pg_dsn)
    try:
        await store.subscribe(CONSOLE, "*", ["*"])
        await save(store, "f", [(article(f"ICE raid number {n} in Pilsen"), match()) for n in range(3)])  # type: ignore[arg-type]
        out = io.StringIO()
        worker = DeliveryWorker(store, ConsoleSink(out))
        assert await worker.drain_until_idle() == 3
        async with store.conn("test") as c:
            buckets = [r[0] for r in await c.fetch("SELECT bucket FROM rate_limits")]
        assert buckets == ["sends:console"]
        assert out.getvalue().count("ICE raid number") == 3
    finally:
        await store.close()


async def test_two_workers_adding_the_same_coverage_feeds_at_once_both_succeed(pg_dsn: str) -> None:
    """Two processes reconcile coverage for the same city at the same moment (tests/pg/
    test_discord_shards.py saw it): neither may fail on the other's new row, and each feed is
    reported added by exactly one of them."""
    clock = Clock()
    a, b = await open_two(pg_dsn, clock)
    try:
        for round_ in range(10):
            feeds = [FeedConfig(url=f"https://cover{round_}-{i}.example/rss", name=f"c{i}") for i in range(20)]
            added_a, added_b = await asyncio.gather(
                a.ensure_managed_feeds(CHI, feeds, {}), b.ensure_managed_feeds(CHI, feeds[::-1], {})
            )
            assert sorted(added_a + added_b) == sorted(f.url for f in feeds)
        managed = {f.url for f in await a.managed_feeds()}
        assert len(managed) == 200
    finally:
        await a.close()
        await b.close()
