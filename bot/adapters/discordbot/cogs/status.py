"""/status and /help.

Why /status exists: when alerts stop, an organizer's first question is "is it the bot, the
feeds, or our channel?" — polled feeds, failing feeds, the last cycle, the outbox depth and
this server's paused subscriptions answer that without anyone reading logs.
/help names the topics of the bot's TopicCatalog (config/topics.toml), so it never lists a
topic the bot does not have, or misses one the operator added.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import actions
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.cogs.subscriptions import subscription_line
from bot.adapters.discordbot.replies import send, within_budget
from bot.adapters.discordbot.sink import PLATFORM
from bot.messages import Messages, language_for_locale, messages

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot
    from bot.relevance import TopicCatalog

# the /help text is in the message catalogues (config/messages/<lang>.toml [help] body), in
# the language of the reader's Discord locale


def help_text(catalog: TopicCatalog, msgs: Messages | None = None) -> str:
    """The /help text, naming every topic of the config (label, and its description if any),
    in the language of ``msgs`` (English without one)."""
    m = msgs or messages()
    lines: list[str] = []
    for topic in catalog:
        line = f"• **{E.inert(m.topic(topic.id) or topic.label)}**"
        if topic.description and m.topic(topic.id) is None:
            line += f" — {E.inert(topic.description)}"
        lines.append(line)
    return m("help.body", topics="\n".join(lines))


def locale_messages(interaction: discord.Interaction) -> Messages:
    """The catalogue of the reader's language (their Discord locale, else the server's)."""
    return messages(language_for_locale(interaction.locale or interaction.guild_locale))


class Status(commands.Cog):
    """Health and help."""

    def __init__(self, bot: CivicBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="status",
        description="Feed health, the delivery queue and this server's subscriptions.",
    )
    @app_commands.guild_only()
    async def status(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        report = await within_budget(
            interaction,
            actions.status(
                self.bot.store,
                self.bot.require_gazetteer(),
                platform=PLATFORM,
                group=str(interaction.guild_id),
                catalog=self.bot.topics,
            ),
        )
        await send(interaction, embed=status_embed(report, locale_messages(interaction)))

    @app_commands.command(name="help", description="What this bot does and how to use it.")
    async def help(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            embed=E.info_embed("civic-alert-bot", help_text(self.bot.topics, locale_messages(interaction))),
            ephemeral=True,
            allowed_mentions=E.NO_MENTIONS,
        )


def status_embed(report: actions.StatusReport, msgs: Messages | None = None) -> discord.Embed:
    """Health in the reader's language (``msgs``; English without one). Feed errors and
    durations ("5 min ago") stay as the core words them."""
    m = msgs or messages()
    active = report.feeds_total - report.feeds_disabled
    lines = [
        m("discord.status_polled", n=active)
        + (m("discord.status_disabled", n=report.feeds_disabled) if report.feeds_disabled else ""),
        m("discord.status_failing", n=len(report.feeds_failing)),
        *([m("discord.status_kinds", kinds=kinds)] if (kinds := actions.kinds_text(report, m)) else []),
        m("discord.status_last_poll", ago=actions.ago(report.last_cycle, msgs=m)),
        m("discord.status_queue", n=report.queue_depth),
    ]
    for state in report.feeds_failing[:5]:
        name = E.inert(state.name or state.url)[:80]
        error = E.inert(state.last_error or f"HTTP {state.last_status}")[:120]
        lines.append(f"  • {name}: {error} (×{state.consecutive_errors})")
    if len(report.feeds_failing) > 5:
        lines.append("  • " + m("discord.and_more", n=len(report.feeds_failing) - 5))
    lines.append("")
    if report.subscriptions:
        lines.append(m("discord.status_subscriptions", n=len(report.subscriptions)))
        for view in report.subscriptions[:20]:
            lines.append(subscription_line(view, m))
        if len(report.subscriptions) > 20:
            lines.append(m("discord.status_more_subscriptions", n=len(report.subscriptions) - 20))
    else:
        lines.append(m("discord.status_no_subscriptions"))
    return E.info_embed(m("discord.status_title"), "\n".join(lines))


async def setup(bot: CivicBot) -> None:
    await bot.add_cog(Status(bot))
