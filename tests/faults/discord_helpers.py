"""Shared pieces of the Discord-side drills (tests/faults/test_discord_*.py).

- `InProcessBot`: the real `CivicBot` (cogs, `CivicTree`, checks, error handler) connected to
  the Discord stand-in over real HTTP and a real gateway, in this process, with a real SQLite
  store. Commands go in as INTERACTION_CREATE (`standin.invoke_slash`), answers come back as
  REST callbacks the stand-in validates against Discord's OpenAPI file.
- `LogTrap`: every WARNING-or-worse record of the `bot` and `discord` loggers (an unexpected
  error in a command reaches `CivicTree.on_error`, which logs it at ERROR with a traceback;
  discord.py logs exceptions it swallows at ERROR too), so a drill can assert there were none.
- `answer()`: the bot's answer to an interaction, whether it replied at once or deferred.
- `discord_env()`: the environment of a real `python -m bot run` pointed at a stand-in
  (what every platform's process tests share is tests/botprocess.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import botprocess
from tests.botprocess import read_rows, run_env, warehouse_items

EPHEMERAL = 64
CATALOGUE_FEED = "http://127.0.0.1:1/catalogue.xml"


class LogTrap(logging.Handler):
    """Collects WARNING+ records of the bot's and discord.py's loggers while installed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in {"bot", "discord"}:
            self.records.append(record)

    def texts(self) -> list[str]:
        out = []
        for r in self.records:
            text = f"{r.name} {r.levelname}: {r.getMessage()}"
            if r.exc_info:
                text += "\n" + logging.Formatter().formatException(r.exc_info)
            out.append(text)
        return out

    @contextlib.contextmanager
    def installed(self) -> Any:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


@dataclass
class Answer:
    """What the invoking user saw: initial callback plus the first follow-up if deferred."""

    ephemeral: bool
    deferred: bool
    text: str  # content plus embed titles/descriptions
    raw: list[dict[str, Any]] = field(default_factory=list)


def _embed_text(embeds: list[dict[str, Any]] | None) -> str:
    parts = []
    for e in embeds or []:
        parts.append(str(e.get("title") or ""))
        parts.append(str(e.get("description") or ""))
    return "\n".join(p for p in parts if p)


async def answer(handle: Any, *, timeout: float = 10.0) -> Answer:
    record = await handle.wait_response(timeout)
    if not record.deferred:
        data = record.data or {}
        return Answer(record.ephemeral, False,
                      ((data.get("content") or "") + "\n" + _embed_text(data.get("embeds"))).strip(), [data])
    followup = (await handle.wait_followups(1, timeout))[0]
    both_ephemeral = record.ephemeral and bool(int(followup.get("flags") or 0) & EPHEMERAL)
    return Answer(both_ephemeral, True,
                  ((followup.get("content") or "") + "\n" + _embed_text(followup.get("embeds"))).strip(),
                  [record.data or {}, followup])


class GuildCommands:
    """Slash commands into one guild of the stand-in, by channel name, as its owner unless
    `user_id=` says otherwise (the in-process bot and the bot process alike)."""

    standin: Any
    guild: Any
    channels: dict[str, int]

    @property
    def guild_id(self) -> int:
        return int(self.guild.id)

    async def slash(self, channel: str, command: str, options: dict[str, Any] | None = None,
                    **kw: Any) -> Any:
        user = kw.pop("user_id", None) or int(self.guild.owner_id)
        return await self.standin.invoke_slash(self.guild_id, self.channels[channel], user, command,
                                               options or {}, **kw)


@dataclass
class InProcessBot(GuildCommands):
    standin: Any
    guild: Any
    channels: dict[str, int]
    bot: Any
    store: Any
    settings: Any


@contextlib.asynccontextmanager
async def in_process_bot(tmp: Path, *, channels: tuple[str, ...] = ("alerts",),
                         members: tuple[int, ...] = (), fetch_timeout: float = 2.0,
                         **settings_kw: Any) -> AsyncIterator[InProcessBot]:
    """A connected CivicBot (no scheduler, no delivery worker) against a fresh stand-in."""
    from bot.adapters.discordbot import sync
    from bot.adapters.discordbot.client import CivicBot
    from bot.models import FeedConfig
    from bot.relevance import load_classifier
    from bot.settings import Settings
    from bot.store import Store
    from tests.adapters.conftest import CogApp
    from tests.standin import DiscordStandIn
    from tests.standin.fixtures import connected_client, require_openapi

    require_openapi()
    db = tmp / "bot.sqlite3"
    store = await Store.open(db)
    await store.sync_feeds([FeedConfig(url=CATALOGUE_FEED, name="Catalogue")])
    classifier = load_classifier()
    try:
        async with DiscordStandIn() as standin:
            guild = standin.add_guild("Organizers", channels=list(channels), members=list(members))
            chans = {ch.name: int(cid) for cid, ch in guild.channels.items()}
            settings = Settings(db_path=db, discord_token=standin.token,
                                discord_api_base=standin.api_base, fetch_timeout=fetch_timeout,
                                **settings_kw)
            app = CogApp(settings=settings, store=store, classifier=classifier)

            def factory() -> Any:
                return CivicBot(settings, app=app, open_resources=False)

            async with connected_client(standin, client_factory=factory) as bot:
                await sync.sync_dev_guild(bot, int(guild.id))
                yield InProcessBot(standin, guild, chans, bot, store, settings)
    finally:
        await store.close()


def discord_env(standin: Any, tmp: Path, feeds_file: Path, guild_id: int, **extra: str) -> dict[str, str]:
    """Environment of `python -m bot run` against `standin` (only Discord configured)."""
    discord = {"DISCORD_TOKEN": standin.token, "DISCORD_API_BASE": standin.api_base, "DEV_GUILD_ID": str(guild_id)}
    return run_env(tmp, feeds_file, discord, **extra)


eventually = botprocess.eventually  # the Discord drills import it from here


class BotThread:
    """`in_process_bot` running on its own event loop in a background thread.

    Why: hypothesis drives synchronous test functions (and shrinks failures); each example
    submits its interaction to this loop and waits for the answer, so thousands of examples
    share one connected bot instead of paying a login and a gateway handshake each.
    """

    def __init__(self, tmp: Path, **kw: Any) -> None:
        import threading

        self._tmp = tmp
        self._kw = kw
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bot-loop", daemon=True)
        self._stop: asyncio.Event | None = None
        self._task: Any = None
        self.world: InProcessBot | None = None
        self.trap = LogTrap()

    def start(self) -> InProcessBot:
        self._thread.start()
        ready: Any = self.run(self._open(), timeout=60)
        return ready

    async def _open(self) -> InProcessBot:
        self._stop = asyncio.Event()
        opened: asyncio.Future[InProcessBot] = self.loop.create_future()

        async def hold() -> None:
            try:
                async with in_process_bot(self._tmp, **self._kw) as world:
                    opened.set_result(world)
                    assert self._stop is not None
                    await self._stop.wait()
            except BaseException as exc:
                if not opened.done():
                    opened.set_exception(exc)
                raise

        self._task = asyncio.ensure_future(hold())
        self.world = await opened
        return self.world

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def shut() -> None:
            assert self._stop is not None
            self._stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 20)

        with contextlib.suppress(Exception):
            self.run(shut(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# ---------------------------------------------------------------------------- the real bot process

STORY_FOOTER = r"story #(\d+)"


def discord_like_token() -> str:
    """A token shaped like Discord's (id.timestamp.hmac), unique per run, so a leak is findable."""
    import base64
    import secrets

    head = base64.b64encode(str(secrets.randbelow(10**18) + 10**18).encode()).decode().rstrip("=")
    return f"{head}.{secrets.token_urlsafe(5)}.{secrets.token_urlsafe(28)}"


def drill_items(city: str, tag: str, start: int, n: int, *, minutes_ago: int = 1) -> list[dict[str, Any]]:
    """`n` matching items about `city`, each its own story (a distinct number in every title)."""
    return warehouse_items(city, tag, start, n, title=", drill {tag} {i}", minutes_ago=minutes_ago)


@dataclass
class ProcessWorld(GuildCommands):
    """The real `python -m bot run` (tests/faults/harness.BotProcess) against a stand-in and a
    loopback feed server; the bot's database is a file the drill can read."""

    standin: Any
    feeds: Any
    bot: Any  # harness.BotProcess
    guild: Any
    channels: dict[str, int]
    tmp: Path
    db: Path

    async def ready(self, identifies: int, timeout: float = 60.0) -> None:
        """Until the process has identified `identifies` times in all and its commands exist."""
        async def wait() -> None:
            await self.standin.wait_identifies(identifies, timeout=timeout)
            while not self.standin.registered_commands(self.guild_id):
                await asyncio.sleep(0.05)
            while not self.standin.gateway.sessions:
                await asyncio.sleep(0.05)

        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"bot not ready (identify #{identifies}):\n{self.bot.stderr()[-4000:]}") from None

    def story_ids(self, channel: str | int) -> list[int]:
        """Story ids of every alert embed in a channel, oldest first (footers end "story #<id>")."""
        import re

        cid = self.channels[channel] if isinstance(channel, str) else channel
        ids: list[int] = []
        for message in self.standin.messages(cid):
            for embed in message.get("embeds") or []:
                m = re.search(STORY_FOOTER, (embed.get("footer") or {}).get("text", ""))
                if m:
                    ids.append(int(m.group(1)))
        return ids

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return read_rows(self.db, sql, *args)

    def pending(self, channel: str) -> int:
        """Undelivered alerts plus unmade edits for one channel (store.queue_depth(), narrowed)."""
        return int(self.query(
            "SELECT count(*) FROM deliveries d JOIN destinations dest ON dest.id = d.destination_id "
            "WHERE (d.status <> 'sent' OR d.edit_pending = 1) AND dest.platform = 'discord' AND dest.address = ?",
            str(self.channels[channel]))[0][0])

    def destination(self, channel: str) -> tuple[int, int] | None:
        """(paused, notified) of a channel's destination row; None when it has none."""
        rows = self.query("SELECT paused, notified FROM destinations WHERE platform = 'discord' AND address = ?",
                          str(self.channels[channel]))
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def subscription_count(self, channel: str, *, others: bool = False) -> int:
        """Subscriptions of a channel (or, with others=True, of every other destination)."""
        op = "<>" if others else "="
        return int(self.query(
            "SELECT count(*) FROM subscriptions s JOIN destinations dest ON dest.id = s.destination_id "
            f"WHERE dest.address {op} ?", str(self.channels[channel]))[0][0])

    async def outbox_idle(self, channel: str, seconds: float = 30.0) -> None:
        """Until nothing is left to post or edit in `channel` and no request of the bot is still
        being answered: from then on no further message can appear there."""
        await eventually(lambda: self.pending(channel) == 0 and self.standin.in_flight == 0, seconds,
                         f"the outbox of #{channel} to be idle", self.log_tail)

    def execute(self, sql: str, *args: Any) -> None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.db, timeout=10)) as conn:
            conn.execute(sql, args)
            conn.commit()

    def log_tail(self) -> str:
        return self.bot.stderr()[-4000:]


def secrets_issued(standin: Any) -> list[str]:
    """Every secret the stand-in handed out: the bot token and each interaction (= follow-up
    webhook) token."""
    return [standin.token, *(h.token for h in standin.interactions.values())]


find_secrets = botprocess.find_secrets  # the Discord drills import it from here
