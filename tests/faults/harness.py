"""Reusable pieces of the fault drills: a bot-process launcher, a database text dump, an RSS sampler.

`BotProcess` starts `python -m bot run` with a given environment in its own process group
(so a SIGKILL takes its parser workers down with it, as a crash of the machine or an OOM kill
would), captures stdout/stderr to files (no pipe can fill up and stall the bot), and can be
killed and restarted any number of times. The console drills use it now; the Discord drills
(the real bot against tests/standin) can use the same class with DISCORD_TOKEN and
DISCORD_API_BASE in the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

from tests.conftest import PROJECT_ROOT

__all__ = ["BotProcess", "RssSampler", "console_env", "db_text_values", "write_feeds_file"]


def write_feeds_file(path: Path, feeds: list[dict[str, object]]) -> Path:
    """A feeds.toml from dicts (url, name, city, interval)."""
    lines: list[str] = []
    for feed in feeds:
        lines.append("[[feeds]]")
        for key, value in feed.items():
            lines.append(f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"')
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def console_env(db: Path, feeds_file: Path, **extra: str) -> dict[str, str]:
    """Environment for a console-mode service: no Discord token (even if a .env has one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVIC_ALERTS_", "DISCORD_"))}
    env.update(
        {
            "DISCORD_TOKEN": "",  # an empty real variable beats any .env value
            "CIVIC_ALERTS_DB": str(db),
            "CIVIC_ALERTS_FEEDS": str(feeds_file),
            "CIVIC_ALERTS_CONFIG_DIR": str(PROJECT_ROOT / "config"),
            "CIVIC_ALERTS_TICK_SECONDS": "0.5",
            "CIVIC_ALERTS_DELIVERY_INTERVAL": "0.5",
            "CIVIC_ALERTS_PARSE_WORKERS": "1",
            "CIVIC_ALERTS_FETCH_TIMEOUT": "5",
            "CIVIC_ALERTS_COVERAGE": os.environ["CIVIC_ALERTS_COVERAGE"],  # loopback (tests/conftest.py)
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


class BotProcess:
    """`python -m bot <args>` as a child process that a drill can kill and restart.

    Output of every run is appended to `stdout_path` / `stderr_path` (one file for all runs,
    so a drill can search everything the bot ever printed).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        args: tuple[str, ...] = ("run",),
        *,
        name: str = "bot",
    ) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.args = args
        self.stdout_path = workdir / f"{name}.stdout.txt"
        self.stderr_path = workdir / f"{name}.stderr.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            raise RuntimeError("already running")
        self.workdir.mkdir(parents=True, exist_ok=True)
        out = self.stdout_path.open("ab")
        err = self.stderr_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", *self.args],
                cwd=str(self.workdir),  # not the repo: a developer's .env must not leak in
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own process group: kill() reaches the workers
            )
        finally:
            out.close()
            err.close()
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the whole process group (the bot and its parser workers): a crash."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._reap_group()
        self.kills += 1

    def _reap_group(self) -> None:
        """Make sure nothing of the killed group lingers (orphaned workers)."""
        assert self.proc is not None
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            time.sleep(0.05)

    async def stop(self, timeout: float = 20) -> int:
        """SIGTERM (a clean shutdown, as systemd would) and wait; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait(timeout)
        self._reap_group()
        return code

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"bot did not exit within {timeout}s")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    async def restart(self) -> None:
        if self.running:
            self.kill()
        self.start()

    # -- output ----------------------------------------------------------------------
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace") if self.stderr_path.exists() else ""

    async def wait_for_stderr(self, text: str, *, timeout: float = 30, after: int = 0) -> None:
        """Wait until `text` appears in stderr past byte offset `after`."""
        deadline = time.monotonic() + timeout
        while text not in self.stderr()[after:]:
            if not self.running:
                raise AssertionError(f"bot exited ({self.proc and self.proc.returncode}) before {text!r}:\n"
                                     + self.stderr()[-3000:])
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not seen within {timeout}s:\n" + self.stderr()[-3000:])
            await asyncio.sleep(0.05)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.running:
            self.kill()


def db_text_values(db: Path) -> Iterator[tuple[str, str, str]]:
    """(table, column, text) for every text or blob value in every table, FTS shadow tables too."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            try:
                cursor = conn.execute(f'SELECT * FROM "{table}"')
            except sqlite3.OperationalError:
                continue  # e.g. the FTS5 virtual table itself when its module is busy
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, str):
                        yield table, column, value
                    elif isinstance(value, bytes):
                        yield table, column, value.decode("utf-8", errors="ignore")
    finally:
        conn.close()


class RssSampler:
    """Peak resident memory of this process plus all its children, sampled in the background."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.peak = 0
        self.baseline = 0
        self._task: asyncio.Task[None] | None = None
        self._me = psutil.Process()

    def total(self) -> int:
        procs = [self._me, *self._me.children(recursive=True)]
        rss = 0
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                rss += proc.memory_info().rss
        return rss

    async def _run(self) -> None:
        while True:
            self.peak = max(self.peak, self.total())
            await asyncio.sleep(self.interval)

    async def __aenter__(self) -> Self:
        self.baseline = self.total()
        self.peak = self.baseline
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.peak = max(self.peak, self.total())

    @property
    def growth(self) -> int:
        return self.peak - self.baseline
