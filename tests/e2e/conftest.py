"""End-to-end harness: the real bot process (`python -m bot run`) against the Discord stand-in
and the loopback feed server.

Why a subprocess: only the real entry point proves the wiring — settings from the
environment, Route.BASE and the gateway from GET /gateway/bot, setup_hook opening services,
command sync, the scheduler, the delivery worker and SIGKILL survival. The stand-in validates
every REST body against Discord's OpenAPI file, so `standin.violations == []` is asserted by
every test. Skips cleanly without ../shared (no OpenAPI file to validate against).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.botprocess import run_env

MEMBER_ID = 424242424242424242
ADMIN_ID = 434343434343434343
CHANNELS = (
    "alerts",
    "quiet",
    "no-embeds",
    "storm",
    "crash",
    "doomed",
    "search",
    "flaky",
    "retry",
    "gone",
    "oversized",
)
READY_TIMEOUT = 40.0


@dataclass
class BotProcess:
    """`python -m bot run` with an environment; output goes to a log file we can show."""

    env: dict[str, str]
    cwd: Path
    log_path: Path
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    async def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start #{self.starts} =====\n".encode())
        log.flush()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def kill(self) -> None:
        """SIGKILL to the whole process group: no cleanup, no flush — a power cut.

        The group (the bot started its own session) includes the poller's process-pool
        helpers, which would otherwise outlive a SIGKILLed parent as orphans.
        """
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def wait_exit(self, seconds: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(self.proc.wait(), seconds)
        return None

    async def stop(self) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit."""
        if not self.alive():
            self.kill()
            return self.proc.returncode if self.proc else None
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = await self.wait_exit(15.0)
        if code is None:
            self.kill()
            code = await self.wait_exit(5.0)
        self.kill()  # anything of this run still alive in its process group
        return code

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class World:
    standin: Any
    feeds: Any
    bot: BotProcess
    guild: Any
    channels: dict[str, int]
    tmp: Path
    feed_url: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def guild_id(self) -> int:
        return int(self.guild.id)

    @property
    def owner_id(self) -> int:
        return int(self.guild.owner_id)

    async def slash(
        self,
        channel: str,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int | None = None,
        **kw: Any,
    ) -> Any:
        return await self.standin.invoke_slash(
            self.guild_id,
            self.channels[channel],
            user_id or self.owner_id,
            command,
            options or {},
            **kw,
        )

    async def wait_ready(self, identifies: int) -> None:
        """Until the process identified `identifies` times and its commands are registered."""

        async def ready() -> None:
            await self.standin.wait_identifies(identifies, timeout=READY_TIMEOUT)
            while not self.standin.registered_commands(self.guild_id):
                await asyncio.sleep(0.1)

        try:
            await asyncio.wait_for(ready(), READY_TIMEOUT)
        except TimeoutError:
            pytest.fail(f"bot did not become ready; its log:\n{self.bot.log_tail()}")

    def alert_story_ids(self, channel: str) -> list[int]:
        """Story ids of every alert embed in a channel, in order (footers end "story #<id>")."""
        from bot.render import STORY_REF_RE

        ids: list[int] = []
        for message in self.standin.messages(self.channels[channel]):
            for embed in message.get("embeds") or []:
                match = STORY_REF_RE.search((embed.get("footer") or {}).get("text", ""))
                if match:
                    ids.append(int(match.group(1)))
        return ids

    @property
    def db_path(self) -> Path:
        return self.tmp / "e2e.sqlite3"

    def pending(self, channel: str | None = None) -> int:
        """Undelivered alerts plus unmade edits in the bot's outbox (of one channel, or all).

        Read from the database file with a separate connection while the bot process runs: the
        same count as `store.queue_depth()`, narrowed to one channel's destination.
        """
        from tests.store.helpers import raw_rows

        sql = (
            "SELECT count(*) FROM deliveries d JOIN destinations dest ON dest.id = d.destination_id "
            "WHERE (d.status <> 'sent' OR d.edit_pending = 1) AND dest.platform = 'discord' "
            "AND (? IS NULL OR dest.address = ?)"
        )
        address = str(self.channels[channel]) if channel is not None else None
        return int(raw_rows(self.db_path, sql, (address, address))[0][0])  # type: ignore[arg-type]

    async def outbox_idle(self, channel: str | None = None, seconds: float = 20.0) -> None:
        """Until nothing is left to post or edit (in `channel`): no later message can appear."""
        deadline = asyncio.get_running_loop().time() + seconds
        while self.pending(channel):
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(
                    f"outbox not idle after {seconds}s ({self.pending(channel)} left"
                    f"{f' for #{channel}' if channel else ''}); bot log:\n{self.bot.log_tail()}"
                )
            await asyncio.sleep(0.1)

    def destination_row(self, channel: str) -> tuple[int, int] | None:
        """(paused, notified) of a channel's destination row, None before it has one."""
        from tests.store.helpers import raw_rows

        rows = raw_rows(
            self.db_path,
            "SELECT paused, notified FROM destinations WHERE platform = 'discord' AND address = ?",
            (str(self.channels[channel]),),
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None  # type: ignore[call-overload]

    def assert_clean(self) -> None:
        assert self.standin.violations == [], [str(v) for v in self.standin.violations]
        assert self.standin.errors == [], self.standin.errors
        # what Discord would accept but silently alter (embeds dropped without Embed Links)
        assert self.standin.warnings == [], self.standin.warnings


def write_feeds_file(path: Path, feed_url: str) -> None:
    path.write_text(
        "[[feeds]]\n"
        f'url = "{feed_url}"\n'
        'name = "Chicago Local"\n'
        'city = "chicago-il"\n'
        "interval = 30\n",
        encoding="utf-8",
    )


def bot_env(standin: Any, tmp: Path, feeds_file: Path, guild_id: int) -> dict[str, str]:
    platforms = {"DISCORD_TOKEN": standin.token, "DISCORD_API_BASE": standin.api_base, "DEV_GUILD_ID": str(guild_id)}
    return run_env(
        tmp, feeds_file, platforms, CIVIC_ALERTS_DB=str(tmp / "e2e.sqlite3"), CIVIC_ALERTS_CATCHUP="3"
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    from tests.standin import DiscordStandIn, Perm
    from tests.standin.fixtures import require_openapi

    require_openapi()
    from tests.feedserver import FeedServer

    tmp = tmp_path_factory.mktemp("e2e")
    standin = DiscordStandIn()
    await standin.start()
    feeds = FeedServer()
    await feeds.start()
    bot: BotProcess | None = None
    try:
        specs: list[Any] = [
            {"name": name, "deny_bot": int(Perm.EMBED_LINKS)} if name == "no-embeds" else name
            for name in CHANNELS
        ]
        guild = standin.add_guild("Organizers", channels=specs, members=[MEMBER_ID, ADMIN_ID])
        channels = {ch.name: int(cid) for cid, ch in guild.channels.items()}
        feed_url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
        feeds_file = tmp / "feeds.toml"
        write_feeds_file(feeds_file, feed_url)
        bot = BotProcess(bot_env(standin, tmp, feeds_file, int(guild.id)), tmp, tmp / "bot.log")
        w = World(standin, feeds, bot, guild, channels, tmp, feed_url)
        await bot.start()
        await w.wait_ready(1)
        yield w
    finally:
        if bot is not None:
            await bot.stop()
        await feeds.close()
        await standin.stop()
