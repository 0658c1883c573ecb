"""The Discord adapter as one platform of the service (bot/service.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import discord

from bot.errors import CivicAlertError, ConfigError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App


class DiscordUnreachable(CivicAlertError):
    """Discord could not be reached (DNS, refused, reset): not the operator's mistake, so the
    service retries after a back-off (bot/service.py `supervise`) and logs one line."""


class DiscordAdapter:
    platform = "discord"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run(self, app: App, stop: asyncio.Event) -> None:
        """Connect with the service's App (the client adds its sink; jobs belong to the service)."""
        from bot.adapters.discordbot.client import configure_api_base, make_bot, unreachable_text

        configure_api_base(self.settings.discord_api_base)
        bot = make_bot(self.settings, app=app, hosted=True)  # sharded with --shard-ids/--shard-count
        async with bot:
            runner = asyncio.create_task(bot.start(self.settings.discord_token or ""), name="discord")
            waiter = asyncio.create_task(stop.wait(), name="discord-stop")
            done, _ = await asyncio.wait({runner, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                waiter.cancel()
                try:
                    runner.result()
                except discord.LoginFailure:
                    raise ConfigError("Discord refused the token (DISCORD_TOKEN)") from None
                except discord.PrivilegedIntentsRequired:
                    raise ConfigError("Discord refused the intents") from None
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    # the supervisor logs this one line and retries with back-off
                    text = unreachable_text(exc) or str(exc)
                    raise DiscordUnreachable(text, user_message=text) from None
                return
            await bot.close()
            runner.cancel()
            try:
                await runner
            except (asyncio.CancelledError, Exception):
                pass


def make_adapter(settings: Settings) -> DiscordAdapter:
    return DiscordAdapter(settings)
