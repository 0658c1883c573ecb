"""PostgreSQL connection pool, migrations, errors and the named-parameter helper.

Why asyncpg (and not psycopg 3 async): the store is async end to end and asyncpg speaks the
protocol natively (binary, prepared statements cached per connection) with its own pool,
so one cycle's hundreds of small statements cost little; psycopg 3 would add a DB-API layer
we do not need (no ORM, no sync callers). The SQL keeps the SQLite store's `:name`
parameters (`q()` turns them into `$n`), so both backends read alike.

Every unit of work is one transaction on one pooled connection (`tx()`); nothing else in the
project speaks SQL to PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from pathlib import Path

import asyncpg

from bot.clock import SYSTEM_CLOCK, Clock
from bot.errors import StoreError
from bot.fanout import FanoutPolicy

log = logging.getLogger(__name__)

# pg_advisory_lock keys (one 64-bit space per database): migrations, and the story save.
MIGRATE_LOCK = 0x63697669_00000001
SAVE_LOCK = 0x63697669_00000002
DEFAULT_LEASE = 300.0  # seconds a claimed feed or alert stays claimed by a worker that vanished
DEFAULT_CLAIM_BATCH = 50  # due feeds one worker claims per look
DEFAULT_POLL_INTERVAL = 300  # a feed's interval when it has none (Settings.poll_interval)

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def q(sql: str, params: Mapping[str, object] | None = None) -> tuple[str, list[object]]:
    """`:name` parameters → asyncpg's `$n` (one number per distinct name)."""
    order: dict[str, int] = {}

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in order:
            order[name] = len(order) + 1
        return f"${order[name]}"

    text = _PARAM.sub(sub, sql)
    values = params or {}
    return text, [values[name] for name in order]


def affected(status: str) -> int:
    """Rows touched, from asyncpg's command status ("UPDATE 3", "INSERT 0 1")."""
    tail = status.rsplit(" ", 1)[-1] if status else "0"
    return int(tail) if tail.isdigit() else 0


def is_postgres_url(text: str | Path | None) -> bool:
    return isinstance(text, str) and text.split("://", 1)[0] in {"postgresql", "postgres"}


def redact(dsn: str) -> str:
    """The DSN without its password, fit for an error line or a log."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", dsn)


def pg_error(exc: BaseException, action: str) -> StoreError:
    """asyncpg's and the socket's exceptions → one clear, user-showable line."""
    if isinstance(exc, asyncpg.exceptions.DiskFullError):
        msg = f"database disk is full while {action}; free space or prune old articles"
    elif isinstance(exc, asyncpg.exceptions.InvalidCatalogNameError):
        msg = f"database does not exist ({exc}) while {action}; create it first (createdb)"
    elif isinstance(exc, asyncpg.exceptions.InvalidAuthorizationSpecificationError | asyncpg.exceptions.InvalidPasswordError):
        msg = f"database refused the login while {action}; check the user and password in CIVIC_ALERTS_DB"
    elif isinstance(exc, OSError | asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.exceptions.CannotConnectNowError):
        msg = f"cannot reach the PostgreSQL server while {action} ({type(exc).__name__}: {exc}); is it running?"
    elif isinstance(exc, asyncpg.exceptions.LockNotAvailableError | asyncpg.exceptions.DeadlockDetectedError):
        msg = f"database is busy (another process holds a lock) while {action}; try again"
    else:
        msg = f"database error while {action}: {exc}"
    return StoreError(redact(msg))


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("bot.store.pg") / "migrations"
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply the migrations this database lacks, each in its own transaction, under an advisory
    lock: several workers starting at once migrate once."""
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATE_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied DOUBLE PRECISION NOT NULL DEFAULT extract(epoch FROM now()))"
        )
        current = int(await conn.fetchval("SELECT COALESCE(max(version), 0) FROM schema_version"))
        for version, name, sql in _migrations():
            if version <= current:
                continue
            log.info("applying migration", extra={"migration": name})
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_version(version, name) VALUES ($1, $2)", version, name)
            current = version
        return current
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATE_LOCK)


class PgDatabase:
    """Owns the asyncpg pool; the table-group mixins build on `tx()` and `conn()`."""

    def __init__(
        self, pool: asyncpg.Pool, dsn: str, *, clock: Clock = SYSTEM_CLOCK, fanout: FanoutPolicy | None = None,
        lease: float = DEFAULT_LEASE, poll_interval: int = DEFAULT_POLL_INTERVAL,
        claim_batch: int = DEFAULT_CLAIM_BATCH,
    ) -> None:
        self._pool = pool
        self.dsn = dsn
        self.clock = clock
        self.fanout = fanout or FanoutPolicy()
        self.lease = lease
        self.poll_interval = poll_interval
        self.claim_batch = max(1, claim_batch)
        # who holds a lease: host, process and a random part (a pid is reused after a restart)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._seen_article_id: int | None = None  # see stories.PgStoriesMixin._refresh_index

    @staticmethod
    async def _open_pool(dsn: str) -> tuple[asyncpg.Pool, int]:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, command_timeout=120)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise pg_error(exc, f"opening {redact(dsn)}") from None
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await pool.close()
            raise pg_error(exc, f"migrating {redact(dsn)}") from None
        return pool, version

    @contextlib.asynccontextmanager
    async def conn(self, action: str) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection outside a transaction (autocommit statements)."""
        try:
            async with self._pool.acquire() as c:
                yield c
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise pg_error(exc, action) from None

    @contextlib.asynccontextmanager
    async def tx(self, action: str) -> AsyncIterator[asyncpg.Connection]:
        """One unit of work: a transaction on one connection, rolled back on any error."""
        try:
            async with self._pool.acquire() as c, c.transaction():
                yield c
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise pg_error(exc, action) from None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._pool.close()

    # -- shared send rates --------------------------------------------------------------
    async def take_rate(self, bucket: str, rate: float, burst: int = 1) -> float:
        """Reserve one send of `bucket`, shared by every process on this database; returns the
        seconds to wait before sending (0: now).

        Why in the database: a platform's global limit (Discord: 50 requests/s per bot) is the
        bot's, not one process's; each worker pacing itself at the full rate would multiply it.
        GCRA on one row: each send takes the next slot `1/rate` after the previous one (at most
        `burst` ahead of now), in one atomic upsert on the database's clock."""
        interval = 1.0 / max(0.001, rate)
        async with self.conn("pacing sends") as c:
            row = await c.fetchrow(
                "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS t) "
                "INSERT INTO rate_limits AS r(bucket, tat) SELECT $1, now.t + $2 FROM now "
                "ON CONFLICT (bucket) DO UPDATE SET tat = GREATEST(r.tat, (SELECT t FROM now)) + $2 "
                "RETURNING tat, (SELECT t FROM now) AS now",
                bucket, interval,
            )
        return max(0.0, float(row["tat"]) - float(row["now"]) - max(1, burst) * interval)

    # -- meta ---------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        async with self.conn("reading settings") as c:
            value = await c.fetchval("SELECT value FROM meta WHERE key = $1", key)
            return None if value is None else str(value)

    async def set_meta(self, key: str, value: str) -> None:
        async with self.conn("saving settings") as c:
            await c.execute(
                "INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                key, value,
            )

    async def integrity_check(self) -> str:
        """'ok' when the schema is current and its tables, indexes and constraints answer.

        PostgreSQL has no PRAGMA integrity_check: this checks what can go wrong under us — a
        database behind the code's migrations, an invalid index (a failed CREATE INDEX
        CONCURRENTLY), a row breaking a foreign key that was added NOT VALID."""
        async with self.conn("checking the database") as c:
            problems: list[str] = []
            want = max(v for v, _, _ in _migrations())
            have = int(await c.fetchval("SELECT COALESCE(max(version), 0) FROM schema_version"))
            if have != want:
                problems.append(f"schema version {have}, this code expects {want}")
            for (name,) in await c.fetch(
                "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() "
                "AND NOT (i.indisvalid AND i.indisready)"
            ):
                problems.append(f"index {name} is invalid (rebuild it with REINDEX)")
            for (name,) in await c.fetch(
                "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
                "WHERE n.nspname = current_schema() AND NOT c.convalidated"
            ):
                problems.append(f"constraint {name} is not validated")
            orphans = await c.fetchval(
                "SELECT count(*) FROM articles a WHERE NOT EXISTS (SELECT 1 FROM stories s WHERE s.id = a.story_id)"
            )
            if orphans:
                problems.append(f"{orphans} articles point at missing stories")
            return "ok" if not problems else "; ".join(problems)

    async def backup(self, target: Path) -> None:
        """A consistent online copy with PostgreSQL's own tool: `pg_dump --format=custom` (one
        snapshot, safe while workers run; restore with pg_restore). docs/operations.md."""
        import asyncio
        import shutil

        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise StoreError(
                "pg_dump not found",
                user_message="pg_dump is not installed (Debian: postgresql-client); it makes PostgreSQL backups",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        # the password (if any) goes through the environment, never the command line (ps)
        from urllib.parse import urlsplit

        env = dict(os.environ)
        password = urlsplit(self.dsn).password
        if password:
            env["PGPASSWORD"] = password
        proc = await asyncio.create_subprocess_exec(
            pg_dump, "--format=custom", "--file", str(target), "--dbname", redact(self.dsn).replace(":***@", "@"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise StoreError(redact(f"pg_dump failed: {err.decode(errors='replace').strip()[-300:]}"))
