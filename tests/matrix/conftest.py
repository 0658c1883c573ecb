"""Fixtures of the Matrix tests: one real Synapse per session, one bot process per module.

Each module registers its own bot account and database, so modules never see each other's
alerts; the person (a server admin, for the rate-limit override) is shared.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.botprocess import run_env
from tests.e2e.conftest import BotProcess
from tests.feedserver import FeedServer
from tests.matrix_standin.synapse import Person, Synapse, synapse_python, wait_for

POLL_WAIT = 60.0


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    python = synapse_python()
    if python is None:
        reason = (
            "Synapse is not installed: set CIVIC_ALERTS_SYNAPSE_PYTHON to a python with "
            "matrix-synapse, or create .ci/synapse-venv (pip install matrix-synapse)"
        )
        if os.environ.get("CIVIC_ALERTS_REQUIRE_SYNAPSE") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = Synapse(python, tmp_path_factory.mktemp("synapse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bot_env(tmp: Path, feeds_file: Path, homeserver: str, user_id: str, **matrix: str) -> dict[str, str]:
    platforms = {
        "MATRIX_HOMESERVER": homeserver,
        "MATRIX_USER_ID": user_id,
        **{f"MATRIX_{k.upper()}": v for k, v in matrix.items()},
    }
    return run_env(tmp, feeds_file, platforms, CIVIC_ALERTS_DB=str(tmp / "matrix.sqlite3"))


@dataclass
class World:
    synapse: Synapse
    person: Person
    bot_user: Person  # the bot's account (for its user id; the bot process logs in itself)
    feeds: FeedServer
    bot: BotProcess
    tmp: Path
    password: str

    async def room(self, name: str) -> str:
        """A new room with the bot invited; returns once the bot has joined."""
        room_id = await self.person.create_room(name, [self.bot_user.user_id])

        async def joined() -> bool:
            return self.bot_user.user_id in await self.person.joined(room_id)

        await wait_for(joined, f"the bot to join {name}", 60)
        return room_id

    async def command(self, room_id: str, text: str, *, who: Person | None = None, deadline: float = 60) -> str:
        """Say `text` in the room and return the bot's reply to it."""
        person = who or self.person
        event_id = await person.say(room_id, text)

        async def reply() -> str | None:
            for e in await person.events(room_id, 100):
                rel = (e.get("content") or {}).get("m.relates_to") or {}
                if e.get("sender") == self.bot_user.user_id and (rel.get("m.in_reply_to") or {}).get("event_id") == event_id:
                    return str(e["content"].get("body"))
            return None

        text_reply: str = await wait_for(reply, f"the reply to {text!r}", deadline)
        return text_reply

    async def alerts(self, room_id: str) -> list[dict[str, Any]]:
        """The bot's alert notices in the room (not replies, not edits, not thread updates)."""
        out = []
        for e in await self.person.events(room_id, 1000):
            content = e.get("content") or {}
            if e.get("sender") != self.bot_user.user_id or "m.relates_to" in content:
                continue
            if re.search(r"story #\d+", str(content.get("body") or "")):
                out.append(e)
        return out

    async def alert_story_ids(self, room_id: str) -> list[int]:
        ids: list[int] = []
        for e in await self.alerts(room_id):
            ids += [int(m) for m in re.findall(r"story #(\d+)", str(e["content"]["body"]))]
        return ids

    def log_text(self) -> str:
        return self.bot.log_path.read_text("utf-8", "replace") if self.bot.log_path.exists() else ""


def write_feeds_file(path: Path, feed_url: str) -> None:
    path.write_text(
        f'[[feeds]]\nurl = "{feed_url}"\nname = "Chicago Local"\ncity = "chicago-il"\ninterval = 30\n',
        encoding="utf-8",
    )


async def make_world(
    synapse: Synapse, tmp: Path, name: str, *, use_password: bool = False, homeserver: str | None = None
) -> World:
    feeds = FeedServer()
    await feeds.start()
    person = await synapse.register(f"person{secrets.token_hex(3)}", "person-pass-" + secrets.token_hex(4), admin=True)
    password = "bot-pass-" + secrets.token_hex(8)
    bot_user = await synapse.register(f"{name}bot{secrets.token_hex(3)}", password)
    feed_url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
    feeds_file = tmp / "feeds.toml"
    write_feeds_file(feeds_file, feed_url)
    creds = {"password": password} if use_password else {"access_token": bot_user.token}
    env = bot_env(tmp, feeds_file, homeserver or synapse.base, bot_user.user_id, **creds)
    bot = BotProcess(env, tmp, tmp / "bot.log")
    await bot.start()
    return World(synapse, person, bot_user, feeds, bot, tmp, password)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(synapse: Synapse, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    w = await make_world(synapse, tmp_path_factory.mktemp("matrix-e2e"), "e2e")
    try:
        yield w
    finally:
        await w.bot.stop()
        await w.feeds.close()


def db_rows(world: World, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Read the bot's database (read-only, a second connection: the bot keeps running)."""
    import sqlite3

    con = sqlite3.connect(f"file:{world.tmp / 'matrix.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return list(con.execute(sql, args))
    finally:
        con.close()


def alert_items(city: str, n: int, guid: str) -> list[dict[str, Any]]:
    """n distinct stories about `city` that match the immigration-enforcement topic."""
    from datetime import UTC, datetime, timedelta

    places = ["car wash", "bakery", "construction site", "church", "school", "bus stop", "courthouse",
              "grocery store", "restaurant", "factory", "apartment complex", "gas station", "park",
              "hospital", "library", "warehouse", "farm", "hotel", "laundromat", "market"]
    return [
        {
            "title": f"ICE agents arrest {i + 2} people at {city} {places[i % len(places)]} ({guid}{i})",
            "guid": f"{guid}-{i}",
            "link": f"https://{guid}.example/{i}",
            "pubDate": datetime.now(UTC) - timedelta(minutes=i + 1),
            "description": f"Immigration agents arrested {i + 2} people at a {places[i % len(places)]} in {city}.",
        }
        for i in range(n)
    ]
