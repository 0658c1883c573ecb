"""/feeds list|add|remove — a server's own extra feeds (Manage Server).

Why strict: a feed URL given by a server makes *our* host fetch it. Non-http(s) schemes and
internal addresses (localhost, 10/8, 169.254.169.254, …) are refused before any request
(bot.ingest.urlsafety), and the one preview fetch goes through a Fetcher that re-checks every
redirect hop. The preview (title, item count, newest headline) lets the admin see at once
whether the URL is the feed they meant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot import actions
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.replies import send, within_budget

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot


class Feeds(commands.Cog):
    """A server's own feeds, polled alongside the configured ones."""

    feeds = app_commands.Group(
        name="feeds",
        description="This server's own news feeds (Manage Server).",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: CivicBot) -> None:
        self.bot = bot

    @feeds.command(name="list", description="List the feeds this server added.")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feeds_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        feeds = await within_budget(
            interaction, actions.list_feeds(self.bot.store, guild_id=interaction.guild_id)
        )
        if not feeds:
            await send(
                interaction, "This server hasn't added feeds. Use `/feeds add url:` to add one."
            )
            return
        lines = [f"• {E.inert(f.name or 'untitled')} — <{E.clip(f.url, 300)}>" for f in feeds]
        embed = E.info_embed(f"This server's feeds ({len(feeds)})", "\n".join(lines))
        await send(interaction, embed=embed)

    @feeds.command(
        name="add",
        description="Add an RSS/Atom feed for this server (checked and previewed first).",
    )
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(url="The feed address, starting with https:// or http://")
    async def feeds_add(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]
    ) -> None:
        assert interaction.guild_id is not None
        # cheap refusals answer at once; the fetch may take seconds, so defer before it
        actions.check_feed_scheme(url)
        await interaction.response.defer(ephemeral=True, thinking=True)
        preview = await actions.add_feed(
            self.bot.store,
            self.bot.settings,
            guild_id=interaction.guild_id,
            url=url,
            # the service's guarded fetcher (allow_private_feeds, every redirect hop re-checked);
            # None in a bot without services → add_feed opens a one-off one with the same rule
            fetcher=self.bot.app.guild_fetcher if self.bot.app is not None else None,
        )
        lines = [
            f"Added <{E.clip(preview.feed.url, 300)}>",
            f"**Title:** {E.inert(preview.title or 'untitled')}",
            f"**Items:** {preview.item_count}",
        ]
        if preview.newest_headline:
            lines.append(f"**Newest:** {E.clip(E.inert(preview.newest_headline), 256)}")
        lines.append(
            "It will be polled with the other feeds; matching stories reach your subscriptions."
        )
        await interaction.followup.send(
            embed=E.info_embed("Feed added", "\n".join(lines)),
            ephemeral=True,
            allowed_mentions=E.NO_MENTIONS,
        )

    @feeds.command(name="remove", description="Remove a feed this server added.")
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(url="The feed to remove (pick from the list)")
    async def feeds_remove(
        self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]
    ) -> None:
        assert interaction.guild_id is not None
        removed = await within_budget(
            interaction, actions.remove_feed(self.bot.store, guild_id=interaction.guild_id, url=url)
        )
        text = "Feed removed." if removed else "This server has no such feed (see `/feeds list`)."
        await send(interaction, text)

    @feeds_remove.autocomplete("url")
    async def feeds_remove_url(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        if interaction.guild_id is None:
            return []
        feeds = await actions.list_feeds(self.bot.store, guild_id=interaction.guild_id)
        needle = current.casefold()
        out = []
        for feed in feeds:
            label = f"{feed.name or 'untitled'} — {feed.url}"
            if needle and needle not in label.casefold():
                continue
            if len(feed.url) <= 100:  # a choice value over 100 chars is rejected by Discord
                out.append(Choice(name=label[:100], value=feed.url))
        return out[:25]


async def setup(bot: CivicBot) -> None:
    await bot.add_cog(Feeds(bot))
