"""/feeds list|add|remove|import|export — a server's own extra feeds (Manage Server).

/feeds list also shows the managed coverage feeds of the cities this server follows (kind,
city, health); /feeds import takes an OPML attachment (checked whole first: a bad file changes
nothing) and /feeds export returns this server's feeds as OPML. Home pages are accepted: the
feed they name is found (bot.ingest.discovery) and the reply says which.

Why strict: a feed URL given by a server makes *our* host fetch it. Non-http(s) schemes and
internal addresses (localhost, 10/8, 169.254.169.254, …) are refused before any request
(bot.ingest.urlsafety), and the one preview fetch goes through a Fetcher that re-checks every
redirect hop. The preview (title, item count, newest headline) lets the admin see at once
whether the URL is the feed they meant.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot import actions
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.replies import reader_messages, send, within_budget
from bot.models import feed_owner

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
            interaction, actions.list_feeds(self.bot.store, owner=feed_owner("discord", str(interaction.guild_id)))
        )
        managed = await self._coverage_rows(interaction.guild_id)
        m = reader_messages(interaction)
        if not feeds and not managed:
            await send(interaction, m("discord.feeds_none"))
            return
        lines = [f"• {E.inert(f.name or m('discord.untitled'))} — <{E.clip(f.url, 300)}>" for f in feeds]
        if not feeds:
            lines.append(m("discord.feeds_none_short"))
        if managed:
            lines.append("")
            lines.append(m("discord.feeds_coverage", n=len(managed)))
            for row in managed[:15]:
                lang = f" ({row.state.lang})" if row.state.lang else ""
                lines.append(f"• {E.inert(row.city_label or '?')}{lang} — {E.inert(row.health)[:80]}")
        embed = E.info_embed(m("discord.feeds_title", n=len(feeds)), "\n".join(lines)[:4000])
        await send(interaction, embed=embed)

    async def _coverage_rows(self, guild_id: int) -> list[actions.FeedRow]:
        """Managed feeds of the cities this server follows."""
        gazetteer = self.bot.require_gazetteer()
        cities = {c for _label, c in await actions.subscribed_cities(
            self.bot.store, gazetteer, platform="discord", group=str(guild_id)
        )}
        rows = await actions.feed_rows(self.bot.store, gazetteer)
        return [r for r in rows if r.state.kind == "managed" and r.state.managed_city in cities]

    @feeds.command(name="import", description="Import feeds from an OPML file (checked first).")
    @app_commands.checks.has_permissions(manage_guild=True)
    @app_commands.describe(file="An .opml file exported from a feed reader", city="Default city of the feeds")
    async def feeds_import(
        self, interaction: discord.Interaction, file: discord.Attachment, city: str | None = None
    ) -> None:
        assert interaction.guild_id is not None
        from bot.ingest.opml import MAX_BYTES, OpmlError

        if file.size > MAX_BYTES:  # refused before downloading it
            raise OpmlError(f"the file is {file.size:,} bytes; the limit is {MAX_BYTES:,}")
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await file.read()
        report = await actions.import_opml(
            self.bot.store,
            self.bot.settings,
            self.bot.require_gazetteer(),
            owner=feed_owner("discord", str(interaction.guild_id)),
            data=data,
            city=city,
            fetcher=self.bot.app.guild_fetcher if self.bot.app is not None else None,
            max_feeds=actions.MAX_GUILD_FEEDS,
        )
        lines = [E.inert(line)[:300] for line in report.lines[:25]]
        await interaction.followup.send(
            embed=E.info_embed(reader_messages(interaction)("discord.feeds_imported", n=len(report.added)),
                               "\n".join(lines)[:4000]),
            ephemeral=True,
            allowed_mentions=E.NO_MENTIONS,
        )

    @feeds.command(name="export", description="This server's feeds as an OPML file.")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feeds_export(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        text = await within_budget(
            interaction, actions.export_opml(self.bot.store, owner=feed_owner("discord", str(interaction.guild_id)))
        )
        await interaction.response.send_message(
            reader_messages(interaction)("discord.feeds_export"),
            file=discord.File(io.BytesIO(text.encode("utf-8")), filename="feeds.opml"),
            ephemeral=True,
            allowed_mentions=E.NO_MENTIONS,
        )

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
            owner=feed_owner("discord", str(interaction.guild_id)),
            url=url,
            # the service's guarded fetcher (allow_private_feeds, every redirect hop re-checked);
            # None in a bot without services → add_feed opens a one-off one with the same rule
            fetcher=self.bot.app.guild_fetcher if self.bot.app is not None else None,
        )
        m = reader_messages(interaction)
        lines = [
            m("discord.feed_added_url", url=E.clip(preview.feed.url, 300)),
            *([E.inert(preview.found_text(m))[:400]] if preview.found_key else []),
            m("discord.feed_title", title=E.inert(preview.title or m("discord.untitled"))),
            m("discord.feed_items", n=preview.item_count),
        ]
        if preview.newest_headline:
            lines.append(m("discord.feed_newest", headline=E.clip(E.inert(preview.newest_headline), 256)))
        lines.append(m("discord.feed_polled"))
        await interaction.followup.send(
            embed=E.info_embed(m("discord.feed_added"), "\n".join(lines)),
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
            interaction, actions.remove_feed(self.bot.store, owner=feed_owner("discord", str(interaction.guild_id)), url=url)
        )
        m = reader_messages(interaction)
        text = m("discord.feed_removed") if removed else m("discord.no_such_feed")
        await send(interaction, text)

    @feeds_remove.autocomplete("url")
    async def feeds_remove_url(
        self, interaction: discord.Interaction, current: str
    ) -> list[Choice[str]]:
        if interaction.guild_id is None:
            return []
        feeds = await actions.list_feeds(self.bot.store, owner=feed_owner("discord", str(interaction.guild_id)))
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
