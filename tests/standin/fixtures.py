"""Pytest helpers other test packages can import: ``from tests.standin.fixtures import ...``.

``require_openapi()`` skips (with the reason) when ../shared/discord-openapi/openapi.json is
absent — a user's fresh clone — because a stand-in that cannot validate bodies proves little.
``connected_client()`` runs a real discord.py client against a stand-in and tears it down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from .server import DiscordStandIn, _default_openapi_path


def openapi_path() -> Path:
    return _default_openapi_path()


def require_openapi() -> Path:
    path = openapi_path()
    if not path.is_file():
        pytest.skip(f"needs ../shared/discord-openapi/openapi.json (not at {path}); CI provides it")
    return path


@contextlib.asynccontextmanager
async def connected_client(
    standin: DiscordStandIn,
    *,
    client_factory: Callable[[], Any] | None = None,
    ready_timeout: float = 10.0,
) -> AsyncIterator[Any]:
    """Log a discord.py client in against `standin`, connect, wait for on_ready; close after.

    Default client: ``discord.Client`` with Intents.default() minus message_content, a
    ``CommandTree`` attached as ``client.tree``. Route.BASE / DEFAULT_GATEWAY are patched for the
    duration and restored afterwards."""
    import discord
    from discord import app_commands

    if client_factory is None:
        intents = discord.Intents.default()
        intents.message_content = False
        client: Any = discord.Client(intents=intents, guild_ready_timeout=0.5)
        client.tree = app_commands.CommandTree(client)
    else:
        client = client_factory()
    with standin.patch_discord():
        await client.login(standin.token)
        task = asyncio.create_task(client.connect(reconnect=True))
        try:
            waiter = asyncio.ensure_future(client.wait_until_ready())
            done, _ = await asyncio.wait({task, waiter}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                waiter.cancel()
                task.result()  # raises the connection error
            if waiter not in done:
                waiter.cancel()
                raise TimeoutError("discord client did not become ready against the stand-in")
            yield client
        finally:
            await client.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
