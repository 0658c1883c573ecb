"""/search and /latest — reading the archive.

Why a View per result message: the page state (query, filters, page) lives in the View the
buttons belong to, so paging needs no server-side session table; custom ids are fixed
("civic:search:prev"/"next") and discord.py routes a click to the View stored for that
message. Searches defer first: FTS over a large archive can take longer than Discord's 3 s.
Only the person who searched may page (a public result is shared, its buttons are not).
Topic filters are autocompleted from the bot's TopicCatalog (config/topics.toml).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import actions
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.cogs.subscriptions import (
    city_autocomplete,
    topic_filter_autocomplete,
)
from bot.adapters.discordbot.replies import reader_messages, send, within_budget
from bot.messages import Messages, messages

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot

log = logging.getLogger(__name__)

PREV_ID = "civic:search:prev"
NEXT_ID = "civic:search:next"
VIEW_TIMEOUT = 600.0


def search_embed(
    result: actions.SearchPage, *, filters: str = "", msgs: Messages | None = None
) -> discord.Embed:
    """One page of results, worded in the searcher's language (``msgs``; English without one)."""
    m = msgs or messages()
    shown = E.clip(E.inert(result.query), 200)
    title = m("discord.search_title", query=shown)
    if not result.hits:
        text = m("discord.no_match") if result.page == 0 else m("discord.no_more")
        return E.info_embed(title, text + (f"\n{filters}" if filters else ""))
    lines = [E.hit_line(result.first_rank + i, hit) for i, hit in enumerate(result.hits)]
    if result.note_key:
        lines.insert(0, f"*{m(result.note_key)}*")
    embed = E.info_embed(title, "\n\n".join(lines))
    last = result.first_rank + len(result.hits) - 1
    footer = m("discord.results_footer", first=result.first_rank, last=last, page=result.page + 1)
    if filters:
        footer += f" · {filters}"
    embed.set_footer(text=E.clip(footer, 2048))
    return embed


class SearchView(discord.ui.View):
    """Prev/Next buttons over one search; remembers the query and filters."""

    def __init__(
        self,
        bot: CivicBot,
        *,
        owner_id: int,
        query: str,
        city: str | None,
        topic: str | None,
        days: int | None,
        page: actions.SearchPage,
        filters: str,
        msgs: Messages | None = None,
    ) -> None:
        super().__init__(timeout=getattr(bot, "search_view_timeout", VIEW_TIMEOUT))
        self.bot = bot
        self.owner_id = owner_id
        self.query = query
        self.city = city
        self.topic = topic
        self.days = days
        self.page = page
        self.filters = filters
        self.msgs = msgs or messages()
        self.message: discord.WebhookMessage | None = None  # set once sent; used on timeout
        self._sync_buttons()

    async def on_timeout(self) -> None:
        """Remove the buttons once they stop working (the follow-up token lasts 15 min)."""
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except (discord.HTTPException, OSError, TimeoutError) as exc:
                log.debug("could not remove expired search buttons: %s", exc)

    def _sync_buttons(self) -> None:
        self.prev_page.disabled = self.page.page == 0
        self.next_page.disabled = not self.page.has_more

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                reader_messages(interaction)("discord.not_your_search"),
                ephemeral=True,
            )
            return False
        return True

    async def _turn(self, interaction: discord.Interaction, delta: int) -> None:
        self.page = await actions.search(
            self.bot.store,
            self.bot.gazetteer,
            self.query,
            city=self.city,
            topic=self.topic,
            days=self.days,
            page=max(0, self.page.page + delta),
            page_size=self.bot.settings.search_page_size,
            catalog=self.bot.topics,
        )
        self._sync_buttons()
        await interaction.response.edit_message(
            embed=search_embed(self.page, filters=self.filters, msgs=self.msgs),
            view=self,
            allowed_mentions=E.NO_MENTIONS,
        )

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary, custom_id=PREV_ID)
    async def prev_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary, custom_id=NEXT_ID)
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        from bot.adapters.discordbot.client import error_text, reply_ephemeral

        text, ours = error_text(error)
        if ours:
            log.exception("search paging failed", exc_info=error)
        await reply_ephemeral(interaction, text)


class Search(commands.Cog):
    """Full-text search and the latest stories of a city."""

    def __init__(self, bot: CivicBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="search", description="Search the news archive (best matches first)."
    )
    @app_commands.guild_only()
    @app_commands.describe(
        query="Words to look for, e.g. ICE Pilsen (any text is fine)",
        city="Only stories about this city",
        topic="Only stories on this topic",
        days="Only stories from the last N days",
        public="Show the results to everyone in the channel (default: only you)",
    )
    @app_commands.autocomplete(city=city_autocomplete, topic=topic_filter_autocomplete)
    async def search(
        self,
        interaction: discord.Interaction,
        query: app_commands.Range[str, 1, 2000],
        city: app_commands.Range[str, 1, 100] | None = None,
        topic: app_commands.Range[str, 1, 100] | None = None,
        days: app_commands.Range[int, 1, 3650] | None = None,
        public: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=not public, thinking=True)
        page = await actions.search(
            self.bot.store,
            self.bot.gazetteer,
            query,
            city=city,
            topic=topic,
            days=days,
            page=0,
            page_size=self.bot.settings.search_page_size,
            catalog=self.bot.topics,
        )
        topic_id = actions.parse_topics(topic, self.bot.topics)[0] if topic else None
        if topic_id == "*":
            topic_id = None
        m = reader_messages(interaction)
        filters = self._filters_text(city, topic_id, days, m)
        embed = search_embed(page, filters=filters, msgs=m)
        if page.has_more:
            view = SearchView(
                self.bot,
                owner_id=interaction.user.id,
                query=page.query,
                city=city,
                topic=topic_id,
                days=days,
                page=page,
                filters=filters,
                msgs=m,
            )
            view.message = await interaction.followup.send(
                embed=embed,
                view=view,
                ephemeral=not public,
                allowed_mentions=E.NO_MENTIONS,
                wait=True,
            )
        else:
            await interaction.followup.send(
                embed=embed, ephemeral=not public, allowed_mentions=E.NO_MENTIONS
            )

    def _filters_text(
        self, city: str | None, topic: str | None, days: int | None, msgs: Messages | None = None
    ) -> str:
        parts = []
        if city:
            label = (
                actions.city_label(self.bot.gazetteer, city)
                if self.bot.gazetteer is not None
                else city
            )
            parts.append(E.plain(label)[:100])
        if topic is not None:
            parts.append(E.plain(self.bot.topics.label(topic))[:100])
        if days:
            parts.append((msgs or messages())("discord.last_days", n=days))
        return " · ".join(parts)

    @app_commands.command(name="latest", description="The latest stories about a city.")
    @app_commands.guild_only()
    @app_commands.describe(city="The city, e.g. Chicago, IL", topic="Only stories on this topic")
    @app_commands.autocomplete(city=city_autocomplete, topic=topic_filter_autocomplete)
    async def latest(
        self,
        interaction: discord.Interaction,
        city: app_commands.Range[str, 1, 100],
        topic: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        catalog = self.bot.topics
        label, stories = await within_budget(
            interaction,
            actions.latest(
                self.bot.store, self.bot.require_gazetteer(), city, topic=topic, limit=5, catalog=catalog
            ),
        )
        topic_id = actions.parse_topics(topic, catalog)[0] if topic else "*"
        m = reader_messages(interaction)
        topic_label = m.topic(topic_id) or catalog.label(topic_id)
        title = m("discord.latest_title", city=label) + (f" · {topic_label}" if topic_id != "*" else "")
        if not stories:
            embed = E.info_embed(title, m("discord.no_stories_yet"))
        else:
            embed = E.info_embed(title, "\n".join(E.story_line(s) for s in stories))
        await send(interaction, embed=embed)


async def setup(bot: CivicBot) -> None:
    await bot.add_cog(Search(bot))
