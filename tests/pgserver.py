"""A throwaway PostgreSQL server for the tests: initdb into a temporary folder, pg_ctl on a free
port with its unix socket in that folder, stopped (`-m immediate`) and deleted at exit.

Why a server of our own and not a shared one: each session starts from nothing, nothing leaks
between runs, and no credentials are involved (trust authentication on a socket only this
user can reach). Debian's server binaries are not on PATH; `find_bin_dir` finds them.
Without a server the PostgreSQL tests skip with the reason; CIVIC_ALERTS_REQUIRE_POSTGRES=1
(set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

REQUIRE_ENV = "CIVIC_ALERTS_REQUIRE_POSTGRES"


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: $CIVIC_ALERTS_PG_BIN, PATH, then Debian's layout."""
    explicit = os.environ.get("CIVIC_ALERTS_PG_BIN")
    if explicit and (Path(explicit) / "initdb").exists():
        return Path(explicit)
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    root: Path
    port: int
    bin_dir: Path
    as_user: str | None

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.root}&port={self.port}"

    def _cmd(self, *args: str) -> list[str]:
        if self.as_user:
            return ["runuser", "-u", self.as_user, "--", *args]
        return list(args)

    def stop(self) -> None:
        subprocess.run(
            self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "pg"), "-m", "immediate", "-w", "stop"),
            capture_output=True, timeout=60, check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgServer:
    """Start a fresh server or raise RuntimeError saying why it could not."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb) found; install postgresql (Debian: postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="civic-pg-"))
    as_user = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = "postgres"
        shutil.chown(root, user="postgres")
    server = PgServer(root, _free_port(), bin_dir, as_user)
    try:
        init = subprocess.run(
            server._cmd(str(bin_dir / "initdb"), "-D", str(root / "pg"), "-A", "trust", "-U", "postgres",
                        "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
            capture_output=True, text=True, timeout=180, check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-400:]}")
        opts = (f"-p {server.port} -k {root} -c listen_addresses='' -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        start = subprocess.run(
            server._cmd(str(bin_dir / "pg_ctl"), "-D", str(root / "pg"), "-o", opts, "-l",
                        str(root / "server.log"), "-w", "-t", "120", "start"),
            capture_output=True, text=True, timeout=180, check=False,
        )
        if start.returncode != 0:
            log = (root / "server.log").read_text(errors="replace")[-400:] if (root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {start.stderr.strip()[-300:]} {log}")
    except BaseException:
        server.stop()
        raise
    return server


# -- pytest fixtures (imported by tests/conftest.py) -----------------------------------------
import asyncio  # noqa: E402
import itertools  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

TEMPLATE = "civic_template"
_numbers = itertools.count(1)
# db_path of a test → the DSN of its PostgreSQL database (tests/store/helpers.raw_rows reads it)
DSN_BY_PATH: dict[Path, str] = {}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway server per test session, with a migrated template database; skips (or,
    with CIVIC_ALERTS_REQUIRE_POSTGRES=1, fails) when no server can be started."""
    try:
        server = start_server()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{REQUIRE_ENV}=1 but no PostgreSQL server could be started: {exc}")
        pytest.skip(f"PostgreSQL tests need a server: {exc}")
    try:
        # may be first requested from inside a test's running loop: its own loop, in a thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _make_template(server)).result()
        yield server
    finally:
        server.stop()


async def _make_template(server: PgServer) -> None:
    import asyncpg

    from bot.store.pg.db import migrate

    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f"CREATE DATABASE {TEMPLATE}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(server.dsn(TEMPLATE))
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def new_database(server: PgServer, *, migrated: bool = True) -> str:
    """A fresh database (a copy of the migrated template, or empty); returns its DSN."""
    import asyncpg

    name = f"t{os.getpid()}_{next(_numbers)}"
    admin = await asyncpg.connect(server.dsn())
    try:
        template = TEMPLATE if migrated else "template0"
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    finally:
        await admin.close()
    return server.dsn(name)


async def drop_database(server: PgServer, dsn: str) -> None:
    import asyncpg

    name = dsn.split("@/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(server.dsn())
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
