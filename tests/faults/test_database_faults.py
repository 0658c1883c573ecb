"""Drill 2: the database refuses — locked by another process, full, on a full disk — and a
backup taken while another process keeps writing.

Expectations: a StoreError whose message says what happened (busy / full), nothing half
written (one transaction per feed batch), `PRAGMA integrity_check` ok, earlier data intact,
and the store works again once the cause is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.store import Store
from bot.store.db import BUSY_TIMEOUT_MS
from tests.conftest import PROJECT_ROOT
from tests.faults.writer import BATCH, DESTINATION, FEED, batches
from tests.store.helpers import save, set_max_page_count

CHILD_ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _child(*args: str, stdin: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.faults.writer", *args],
        cwd=str(PROJECT_ROOT), env=CHILD_ENV, text=True,
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("articles", "stories", "deliveries")
        }


def _consistency(db: Path) -> None:
    """The checks a restored copy must pass: pages, FTS index, foreign keys, whole batches."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.execute("INSERT INTO stories_fts(stories_fts) VALUES ('integrity-check')")  # raises if not
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        articles, stories, deliveries = (
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("articles", "stories", "deliveries")
        )
        # The writer's every batch is one transaction of BATCH new stories, each owing one alert.
        assert articles % BATCH == 0, f"a half-written batch: {articles} articles"
        assert articles == stories == deliveries, (articles, stories, deliveries)


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


async def test_locked_database_gives_a_clear_error_and_recovers(store: Store, db_path: Path) -> None:
    gen = batches()
    await store.subscribe(DESTINATION, "chicago-il", ["immigration-enforcement"])
    await save(store, FEED, next(gen))
    before = _counts(db_path)
    locker = _child("lock", str(db_path), stdin=subprocess.PIPE)
    try:
        assert locker.stdout is not None and locker.stdin is not None
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            await save(store, FEED, next(gen))
        waited = time.monotonic() - started
        message = caught.value.user_message
        assert "busy" in message and "another process" in message and "try again" in message, message
        assert waited >= BUSY_TIMEOUT_MS / 1000 * 0.8, "gave up without waiting for the lock"
        # Reads still work in WAL mode while another process writes: the committed batch is there.
        assert (await store.story(1)) is not None
        assert [s.destination for s in await store.subscriptions()] == [DESTINATION]
        assert await store.queue_depth() == before["deliveries"]
        locker.stdin.write("\n")
        locker.stdin.flush()
        assert locker.stdout.readline().strip() == "released"
    finally:
        locker.kill() if locker.poll() is None else None
        locker.wait(10)
    assert _counts(db_path) == before, "the refused batch left rows behind"
    assert await store.integrity_check() == "ok"
    report = await save(store, FEED, next(gen))  # works again after release
    assert report.new_articles == BATCH and report.alerts_queued == BATCH
    assert _counts(db_path)["articles"] == before["articles"] + BATCH
    assert await store.get_meta("locker") == "holding"  # the other process's commit landed


async def test_full_database_via_max_page_count(store: Store, db_path: Path) -> None:
    gen = batches(summary_chars=2000)
    await store.subscribe(DESTINATION, "chicago-il", ["immigration-enforcement"])
    for _ in range(3):
        await save(store, FEED, next(gen))
    before = _counts(db_path)
    first_story = await store.story(1)
    pages = await store._run(lambda c: c.execute("PRAGMA page_count").fetchone()[0])
    assert await set_max_page_count(store, pages + 5) == pages + 5
    with pytest.raises(StoreError) as caught:
        for _ in range(50):
            await save(store, FEED, next(gen))
    assert "full" in caught.value.user_message, caught.value.user_message
    assert await store.integrity_check() == "ok"
    after = _counts(db_path)
    assert after["articles"] % BATCH == 0 and after["articles"] >= before["articles"]
    assert await store.story(1) == first_story  # earlier data intact
    assert await store.search("detains") != []
    await set_max_page_count(store, 1_000_000)
    report = await save(store, FEED, next(gen))
    assert report.new_articles == BATCH  # room again: works again


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs, when this machine lets us mount one (root with CAP_SYS_ADMIN)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or result.returncode}); "
                    "test_full_database_via_max_page_count covers a full database")  # fmt: skip
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_full_filesystem(small_tmpfs: Path) -> None:
    db = small_tmpfs / "civic.sqlite3"
    child = _child("fill", str(db))
    out, err = child.communicate(timeout=120)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert child.returncode == 0 and lines, (child.returncode, out, err[-2000:])
    report = lines[0]
    assert report["batches"] >= 1, report
    assert "full" in report["error"], report
    # The file is whole and holds exactly the committed batches.
    _consistency(db)
    assert _counts(db)["articles"] == report["batches"] * BATCH
    # Space again (as after an operator freed some): the store opens and writes.
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_tmpfs)], check=True)
    store = await Store.open(db)
    try:
        saved = await save(store, FEED, next(batches(start=10**6)))
        assert saved.new_articles == BATCH
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()


async def test_backup_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    writer = _child("loop", str(db))
    copies: list[Path] = []
    try:
        assert writer.stdout is not None
        while int(writer.stdout.readline() or 0) < 100:  # about 2,000 stories before the first copy
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
        for i in range(3):
            target = tmp_path / f"copy-{i}.sqlite3"
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "db", "backup", str(target), "--db", str(db),
                cwd=str(tmp_path), env={**CHILD_ENV, "DISCORD_TOKEN": ""},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, err.decode()
            assert "backed up" in out.decode()
            copies.append(target)
            assert writer.poll() is None, "the writer died during the backup"
    finally:
        writer.kill()
        writer.wait(10)
    sizes = []
    for copy in copies:
        _consistency(copy)
        sizes.append(_counts(copy)["articles"])
    assert sizes == sorted(sizes) and sizes[0] >= 100 * BATCH, sizes  # each copy a later snapshot
    _consistency(db)  # the live database survived the kill of its writer too
    assert _counts(db)["articles"] >= sizes[-1]
