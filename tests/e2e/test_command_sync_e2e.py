"""Production command sync: without DEV_GUILD_ID, global commands are upserted on the first
start and not again while their definitions are unchanged (hash in the database).

Why e2e: the hash must survive a real restart of the real process, and a needless global
upsert on every start is exactly what Discord's daily command-create limit punishes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.e2e.conftest import BotProcess, bot_env, write_feeds_file

pytestmark = [pytest.mark.e2e]


async def wait_for_log(bot: BotProcess, text: str, timeout: float) -> None:
    """Until the running process's log (this start's part) contains `text`."""
    try:
        async with asyncio.timeout(timeout):
            while text not in bot.log_path.read_text("utf-8", "replace").rsplit("===== start #", 1)[-1]:
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"no {text!r} in the bot's log:\n{bot.log_tail()}")


async def test_global_commands_synced_once_across_restarts(tmp_path: Path) -> None:
    from tests.feedserver import FeedServer
    from tests.standin import DiscordStandIn
    from tests.standin.fixtures import require_openapi

    require_openapi()
    async with DiscordStandIn() as standin, FeedServer() as feeds:
        guild = standin.add_guild("Organizers", channels=["general"])
        feeds_file = tmp_path / "feeds.toml"
        write_feeds_file(feeds_file, feeds.set_feed("/dyn/empty.xml", items=[]))
        env = bot_env(standin, tmp_path, feeds_file, int(guild.id))
        del env["DEV_GUILD_ID"]  # production mode
        bot = BotProcess(env, tmp_path, tmp_path / "bot.log")
        try:
            for start in (1, 2):
                await bot.start()
                await standin.wait_identifies(start, timeout=40)
                # sync runs in setup_hook, before IDENTIFY; its log line says which way it went
                said = "synced 9 global commands" if start == 1 else "global commands unchanged"
                await wait_for_log(bot, said, 20)
                puts = standin.requests_to("PUT", r"^/applications/\d+/commands$")
                assert len(puts) == 1, (start, bot.log_tail())
                assert await bot.stop() == 0, bot.log_tail()
            assert {c["name"] for c in standin.registered_commands(None)} >= {
                "subscribe",
                "search",
                "status",
            }
            assert standin.registered_commands(int(guild.id)) == []  # no dev-guild copies
            assert standin.violations == [], [str(v) for v in standin.violations]
        finally:
            await bot.stop()
