"""Answering interactions inside Discord's 3-second window without always deferring.

Why: an interaction not answered within 3 s fails in the user's client ("The application did
not respond"). Most commands finish in milliseconds, and deferring every one costs an extra
request and a "thinking…" flash. But every command queues on the one SQLite connection, and a
big poll transaction can hold it for seconds. So: start the work, and only if it is not done
within a budget (2 s by default, `CivicBot.reply_budget`) defer; then answer through whichever
path is still open (the initial response or the follow-up webhook).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import discord

from bot.adapters.discordbot.embeds import NO_MENTIONS
from bot.messages import Messages, language_for_locale, messages

T = TypeVar("T")
DEFAULT_BUDGET = 2.0


async def within_budget(
    interaction: discord.Interaction, work: Awaitable[T], *, ephemeral: bool = True
) -> T:
    """Await `work`; defer the interaction first if it takes longer than the bot's budget."""
    budget = getattr(interaction.client, "reply_budget", DEFAULT_BUDGET)
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=budget)
    if not done and not interaction.response.is_done():
        await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    return await task


def reader_messages(interaction: discord.Interaction) -> Messages:
    """The catalogue of the person's Discord language (`interaction.locale`: es-ES and es-419
    are Spanish), else the server's; English for a locale without a catalogue (issue 13).
    Command replies and refusals are worded in it; alerts use their subscription's language."""
    return messages(language_for_locale(interaction.locale or interaction.guild_locale))


async def send(
    interaction: discord.Interaction,
    content: str | None = None,
    *,
    ephemeral: bool = True,
    **kwargs: Any,
) -> None:
    """Reply through the initial response, or the follow-up if the interaction was deferred."""
    kwargs.setdefault("allowed_mentions", NO_MENTIONS)
    if interaction.response.is_done():
        await interaction.followup.send(content or "", ephemeral=ephemeral, **kwargs)
    else:
        await interaction.response.send_message(content, ephemeral=ephemeral, **kwargs)
