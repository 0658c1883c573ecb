"""Permission checks: what the bot needs in a channel, and how to name what is missing.

Why a module: /subscribe must refuse *before* saving when the bot could never deliver there
("I can't post in #news: missing Embed Links"), and the sink must name the same permissions
when Discord answers 403 — one table of names keeps the two consistent with what server
admins see in Discord's settings.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.messages import Messages, messages

# The permissions an alert channel needs, as Discord's UI names them.
ALERT_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
)
# Needed to recover after a crash (find_sent reads our recent messages); not fatal without it.
RECOVERY_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("read_message_history", "Read Message History"),
)

PERMISSION_LABELS: dict[str, str] = {
    "manage_channels": "Manage Channels",
    "manage_guild": "Manage Server",
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "send_messages_in_threads": "Send Messages in Threads",
    "embed_links": "Embed Links",
    "read_message_history": "Read Message History",
    "administrator": "Administrator",
}


def permission_label(name: str) -> str:
    return PERMISSION_LABELS.get(name, name.replace("_", " ").replace("guild", "server").title())


def missing_from(
    perms: discord.Permissions,
    *,
    in_thread: bool = False,
    wanted: tuple[tuple[str, str], ...] = ALERT_PERMISSIONS,
) -> tuple[str, ...]:
    """Labels of the wanted permissions that `perms` lacks (threads need their own send)."""
    missing = []
    for attr, label in wanted:
        if attr == "send_messages" and in_thread:
            if not perms.send_messages_in_threads:
                missing.append("Send Messages in Threads")
            continue
        if not getattr(perms, attr):
            missing.append(label)
    return tuple(missing)


def missing_alert_permissions(
    channel: Any, *, me: discord.Member | None = None, perms: discord.Permissions | None = None
) -> tuple[str, ...]:
    """What the bot lacks to post alerts in `channel` (computed from the cache).

    `perms` wins when given (an interaction's app_permissions are exact for its own channel).
    Returns () when nothing can be computed (channel not in cache): the caller decides.
    """
    in_thread = isinstance(channel, discord.Thread)
    if perms is None:
        guild = getattr(channel, "guild", None)
        me = me or (guild.me if guild is not None else None)
        if me is None or not hasattr(channel, "permissions_for"):
            return ()
        perms = channel.permissions_for(me)
    return missing_from(perms, in_thread=in_thread)


def describe_missing(missing: tuple[str, ...] | list[str], where: str, msgs: Messages | None = None) -> str:
    """One sentence an admin can act on, in the language of ``msgs`` (English without one;
    the permission names stay Discord's English ones)."""
    names = ", ".join(f"**{m}**" for m in missing)
    return (msgs or messages())("discord.missing_permissions", where=where, names=names)
