"""Connection, pragmas, migrations and the transaction helper.

Why `_run`: every aiosqlite call is a hop to its worker thread. A feed batch touches a few
queries per item; doing each as its own hop costs more than the SQL. So the store's methods
run whole units of work as one plain function on aiosqlite's thread (its `_execute`), which
also makes each unit one transaction. SQL lives only in this package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.clock import SYSTEM_CLOCK, Clock
from bot.errors import StoreError
from bot.fanout import FanoutPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("bot.store") / "migrations"
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)


def store_error(exc: sqlite3.Error, action: str) -> StoreError:
    """Turn SQLite's exceptions into one clear, user-showable error."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        msg = f"database is busy (another process holds a lock) while {action}; try again"
    elif "full" in text:
        msg = f"database or disk is full while {action}; free space or prune old articles"
    elif "malformed" in text or "not a database" in text:
        msg = f"database file is damaged ({exc}) while {action}; restore from a backup"
    elif "readonly" in text or "unable to open" in text:
        msg = f"database cannot be written ({exc}) while {action}"
    else:
        msg = f"database error while {action}: {exc}"
    return StoreError(msg)


CACHE_KIB = 4 * 1024  # the connection's page cache (PRAGMA cache_size, negative = KiB)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any error: one unit of work."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        # SQLite may already have rolled back by itself (SQLITE_FULL, IOERR, NOMEM); a second
        # ROLLBACK would then raise "no transaction is active" and hide the real error.
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection) -> int:
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    for version, name, sql in _migrations():
        if version <= current:
            continue
        log.info("applying migration", extra={"migration": name})
        conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        current = version
    return current


class Database:
    """Owns the aiosqlite connection; the table-group mixins build on `_run`."""

    def __init__(
        self, conn: aiosqlite.Connection, path: Path, *, clock: Clock = SYSTEM_CLOCK,
        fanout: FanoutPolicy | None = None,
    ) -> None:
        self._conn = conn
        self.path = path
        self.clock = clock
        self.fanout = fanout or FanoutPolicy()

    @classmethod
    async def _open_connection(cls, path: Path) -> tuple[aiosqlite.Connection, int]:
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the database's folder {path.parent} ({exc.strerror or exc})"
            ) from None
        conn = aiosqlite.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            await conn
        except sqlite3.Error as exc:
            # aiosqlite stops its worker thread on a failed connect, but does not wait: the thread
            # then answered on an event loop asyncio.run had already closed ("Event loop is
            # closed" traceback after our one-line error). Wait for it while the loop still runs.
            await asyncio.to_thread(conn._thread.join, 10)
            raise store_error(exc, f"opening {path}") from None
        try:
            version = await conn._execute(cls._prepare, conn._conn)  # see module docstring
        except sqlite3.Error as exc:
            await conn.close()
            raise store_error(exc, f"opening {path}") from None
        return conn, version

    @staticmethod
    def _prepare(raw: sqlite3.Connection) -> int:
        raw.row_factory = sqlite3.Row
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("PRAGMA synchronous = NORMAL")
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("PRAGMA temp_store = MEMORY")
        # 4 MB of page cache instead of SQLite's 2 MB: the headline key index and the search
        # index are read all over on every save, and with 2 MB most of those pages came back
        # from the OS one read at a time (181,000 reads for a 10,000-article cold cycle; 95,000
        # with 4 MB, 49,000 with 8 MB). Each MB more is a MB of peak memory, and the memory
        # scenario sits close to its budget (docs/benchmarks.md).
        raw.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return migrate(raw)

    async def _run(self, fn: Callable[..., T], *args: Any, action: str = "working") -> T:
        try:
            return await self._conn._execute(fn, self._conn._conn, *args)
        except sqlite3.Error as exc:
            raise store_error(exc, action) from None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._run(lambda c: c.execute("PRAGMA optimize"))
        await self._conn.close()

    # -- meta ---------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        def fn(c: sqlite3.Connection) -> str | None:
            row = c.execute("SELECT value FROM meta WHERE key = :k", {"k": key}).fetchone()
            return row[0] if row else None

        return await self._run(fn, action="reading settings")

    async def set_meta(self, key: str, value: str) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO meta(key, value) VALUES (:k, :v) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                {"k": key, "v": value},
            )

        await self._run(fn, action="saving settings")

    async def integrity_check(self) -> str:
        return await self._run(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])

    async def backup(self, target: Path) -> None:
        """A consistent online copy through SQLite's backup API, safe while the bot runs."""
        target.parent.mkdir(parents=True, exist_ok=True)

        def fn(c: sqlite3.Connection) -> None:
            dest = sqlite3.connect(str(target))
            try:
                c.backup(dest, pages=256)
            finally:
                dest.close()

        await self._run(fn, action=f"backing up to {target}")
