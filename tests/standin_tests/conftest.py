"""Fixtures for the stand-in's own tests: a started stand-in with one guild, and a real client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.standin import DiscordStandIn, Guild, Perm
from tests.standin.fixtures import connected_client, require_openapi


@dataclass
class World:
    standin: DiscordStandIn
    guild: Guild
    alerts: int  # a normal text channel
    noembed: int  # the bot is denied EMBED_LINKS here
    readonly: int  # the bot is denied SEND_MESSAGES here
    hidden: int  # the bot cannot see this channel


@pytest.fixture
async def standin() -> AsyncIterator[DiscordStandIn]:
    require_openapi()
    async with DiscordStandIn(token="fake-token", heartbeat_interval=1.0) as s:
        yield s


@pytest.fixture
def world(standin: DiscordStandIn) -> World:
    guild = standin.add_guild(
        "Organizers",
        channels=[
            "alerts",
            {"name": "noembed", "deny_bot": Perm.EMBED_LINKS},
            {"name": "readonly", "deny_bot": Perm.SEND_MESSAGES},
            {"name": "hidden", "deny_bot": Perm.VIEW_CHANNEL},
        ],
    )
    return World(standin, guild, guild.channel("alerts"), guild.channel("noembed"), guild.channel("readonly"),
                 guild.channel("hidden"))


@pytest.fixture
async def client(world: World) -> AsyncIterator[Any]:
    async with connected_client(world.standin) as c:
        yield c
