"""Gateway events that change where alerts can go.

Why listen instead of waiting for a failed send: a deleted channel or a server that removed
the bot should stop producing outbox rows at once (the 404 path in the worker is the safety
net, not the plan), and a channel paused for a missing permission should resume by itself as
soon as an admin fixes the permission — nobody should have to re-run /subscribe.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import actions
from bot.adapters.discordbot.checks import missing_alert_permissions
from bot.adapters.discordbot.sink import PLATFORM, destination

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot

log = logging.getLogger(__name__)


class GuildEvents(commands.Cog):
    """Channel deleted → drop its subscriptions; bot removed → drop the server's; perms fixed → resume."""

    def __init__(self, bot: CivicBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        removed = await actions.destination_gone(self.bot.store, destination(channel.guild.id, channel.id))
        if removed:
            log.info(
                "channel %s deleted in guild %s: %d subscriptions removed",
                channel.id,
                channel.guild.id,
                removed,
            )

    @commands.Cog.listener()
    async def on_thread_delete(self, thread: discord.Thread) -> None:
        await actions.destination_gone(self.bot.store, destination(thread.guild.id, thread.id))

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        removed = await actions.group_removed(self.bot.store, PLATFORM, str(guild.id))
        log.info("removed from guild %s: %d subscriptions removed", guild.id, removed)

    @commands.Cog.listener()
    async def on_guild_channel_update(self, before: Any, after: discord.abc.GuildChannel) -> None:
        await self.resume_if_fixed(after.guild, [after.id])

    @commands.Cog.listener()
    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        await self.resume_if_fixed(after.guild, None)

    @commands.Cog.listener()
    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        await self.resume_if_fixed(after, None)

    async def resume_if_fixed(self, guild: discord.Guild, channel_ids: list[int] | None) -> int:
        """Resume paused channels of `guild` (or just `channel_ids`) where the bot can post again."""
        if guild.me is None:
            return 0
        held = await actions.paused_destinations(self.bot.store, platform=PLATFORM, group=str(guild.id))
        paused = {int(d.destination.address) for d in held}
        if channel_ids is not None:
            paused &= set(channel_ids)
        resumed = 0
        for channel_id in sorted(paused):
            channel = guild.get_channel(channel_id)
            if channel is None:
                continue
            if not missing_alert_permissions(channel, me=guild.me):
                count = await actions.resume_destination(self.bot.store, destination(guild.id, channel_id))
                resumed += count or 0
                self.bot.wake_delivery()  # the held alerts go out now, not at the next interval
                log.info(
                    "permissions fixed in channel %s: resumed %s subscriptions", channel_id, count
                )
        return resumed


async def setup(bot: CivicBot) -> None:
    await bot.add_cog(GuildEvents(bot))
