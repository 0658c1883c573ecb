"""`civic-alerts poll --once` on PostgreSQL as a user runs it: real processes, a loopback feed
server, ../shared/feeds-real. The acceptance checks of issue 15: the same stories as SQLite,
and two processes started together store each story once."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bot.ingest.parse import parse_feed
from bot.stories import normalized_title
from tests.conftest import PROJECT_ROOT
from tests.feedserver import FeedServer
from tests.test_cli import write_feeds

Partition = set[frozenset[str]]


async def cli(*args: str, db: str, timeout: float = 240, serial: bool = False) -> tuple[int, str, str]:
    """`python -m bot ARGS` on `db`. `serial`: one feed at a time, in catalogue order — where a
    chain of look-alike headlines (A~B, B~C, not A~C) clusters by arrival order, both runs of a
    comparison then see the same order, so any difference is the backend's."""
    env = {**os.environ, "CIVIC_ALERTS_DB": db, "CIVIC_ALERTS_PARSE_WORKERS": "1"}
    if serial:
        env["CIVIC_ALERTS_FETCH_CONCURRENCY"] = "1"
    env.pop("DISCORD_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(PROJECT_ROOT),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def partition(rows: list[tuple[object, str]]) -> Partition:
    """Stories as sets of article identities (ids differ between databases; groupings must not)."""
    stories: dict[object, set[str]] = {}
    for story_id, identity in rows:
        stories.setdefault(story_id, set()).add(identity)
    return {frozenset(v) for v in stories.values()}


def sqlite_partition(db: Path) -> Partition:
    with sqlite3.connect(db) as conn:
        return partition(list(conn.execute("SELECT story_id, identity FROM articles")))


async def pg_partition(dsn: str) -> Partition:
    conn = await asyncpg.connect(dsn)
    try:
        return partition([(r[0], r[1]) for r in await conn.fetch("SELECT story_id, identity FROM articles")])
    finally:
        await conn.close()


def same_story_feeds(server: FeedServer, outlets: int = 2) -> list[tuple[str, str | None]]:
    """Outlets' feeds reporting the same six events in the same words (one story each)."""
    now = datetime.now(UTC)
    urls = []
    for outlet in ("suntimes", "wbez", "tribune", "blockclub")[:outlets]:
        items = [
            {"title": f"ICE agents detain {n} people at Pilsen bakery, witnesses say",
             "link": f"https://{outlet}.test/a{n}", "guid": f"{outlet}-{n}",
             "description": "Federal immigration agents detained residents in Chicago's Pilsen.",
             "pubDate": now - timedelta(minutes=n)}
            for n in range(3, 9)
        ]
        urls.append((server.set_feed(f"/dyn/{outlet}.xml", items=items, title=outlet), "chicago-il"))
    return urls


async def test_poll_once_real_feeds_same_stories_as_sqlite(real_feeds_dir: Path, tmp_path: Path, pg_dsn: str) -> None:
    files = sorted(real_feeds_dir.glob("*.xml"))
    assert len(files) == 30
    async with FeedServer() as server:
        urls = [(server.url(f"/real/{p.name}"), None) for p in files] + same_story_feeds(server)
        feeds = write_feeds(tmp_path / "feeds.toml", urls)
        db = tmp_path / "db.sqlite3"
        code, _, err = await cli("poll", "--once", "--all", "--feeds", str(feeds), db=str(db), serial=True)
        assert code == 0, err
        code, _, err = await cli("poll", "--once", "--all", "--feeds", str(feeds), db=pg_dsn, serial=True)
        assert code == 0, err
        assert "Traceback" not in err
    on_sqlite = sqlite_partition(db)
    on_pg = await pg_partition(pg_dsn)
    assert len(on_sqlite) > 1000
    assert on_pg == on_sqlite


async def test_two_poll_once_processes_store_each_story_once(
    real_feeds_dir: Path, tmp_path: Path, pg_dsn: str
) -> None:
    """Started together on an empty database (they also race to migrate it), both polling
    every feed at full concurrency: every article stored once, every event that four outlets
    report in the same words ONE story of all four (saved by whichever process got there
    first, joined by the other), and no two stories sharing a headline — which one process
    alone never makes (equal normalized headlines always join, whatever the order)."""
    files = sorted(real_feeds_dir.glob("*.xml"))[:10]
    async with FeedServer() as server:
        urls = [(server.url(f"/real/{p.name}"), None) for p in files] + same_story_feeds(server, outlets=4)
        feeds = write_feeds(tmp_path / "feeds.toml", urls)
        results = await asyncio.gather(
            *(cli("poll", "--once", "--all", "--feeds", str(feeds), db=pg_dsn) for _ in range(2))
        )
        for code, _, err in results:
            assert code == 0, err
            assert "Traceback" not in err
        expected = set()
        for path in files:
            expected |= {a.identity for a in parse_feed(path.read_bytes(), feed_url=server.url(f"/real/{path.name}")).articles}
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch("SELECT a.identity, a.story_id, a.title, a.feed_url FROM articles a")
    finally:
        await conn.close()
    identities = Counter(r["identity"] for r in rows)
    assert max(identities.values()) == 1
    assert expected <= set(identities)
    by_headline: dict[str, set[int]] = {}
    for r in rows:
        if normalized_title(r["title"]):
            by_headline.setdefault(normalized_title(r["title"]), set()).add(r["story_id"])
    split = {h: ids for h, ids in by_headline.items() if len(ids) > 1}
    assert not split, f"stories split in two: {list(split)[:5]}"
    pilsen = partition([(r["story_id"], r["identity"]) for r in rows if "/dyn/" in r["feed_url"]])
    assert len(pilsen) == 6 and all(len(s) == 4 for s in pilsen)  # each event: one story, all outlets


@pytest.mark.parametrize("command", [("db", "check"), ("search", "pilsen")])
async def test_db_check_and_search_on_postgres(tmp_path: Path, pg_dsn: str, command: tuple[str, ...]) -> None:
    async with FeedServer() as server:
        feeds = write_feeds(tmp_path / "feeds.toml", same_story_feeds(server))
        code, _, err = await cli("poll", "--once", "--feeds", str(feeds), db=pg_dsn)
        assert code == 0, err
    code, out, err = await cli(*command, db=pg_dsn)
    assert code == 0, err
    if command[0] == "db":
        assert out.strip() == "ok"
    else:
        assert "Pilsen bakery" in out


async def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    code, out, err = await cli("db", "check", db="postgresql://civic:s3cret-pw@127.0.0.1:9/civic")
    assert code != 0
    assert "Traceback" not in err
    assert "s3cret-pw" not in err + out
    assert "PostgreSQL server" in err
