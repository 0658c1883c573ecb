"""Slash-command registration, on purpose and not on every start.

Why: a global bulk upsert is rate limited (about 200 creates a day) and takes a while to
propagate, so syncing on every start is wasteful and can lock a bot out of updates. We hash
the exact payload discord.py would send and upsert globally only when that hash changed
(stored in the meta table as `commands_hash`) or when an operator runs
`civic-alerts sync-commands`. A DEV_GUILD_ID gets the commands as guild commands on every
start, which appear instantly — the development loop.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.adapters.discordbot.client import CivicBot
    from bot.settings import Settings

log = logging.getLogger(__name__)

META_KEY = "commands_hash"


def commands_payload(tree: app_commands.CommandTree) -> list[dict[str, Any]]:
    """The global command payloads, sorted by name so the hash is stable."""
    payload = [cmd.to_dict(tree) for cmd in tree.get_commands(guild=None)]
    return sorted(payload, key=lambda item: (item.get("type", 1), item["name"]))


def commands_hash(tree: app_commands.CommandTree) -> str:
    blob = json.dumps(commands_payload(tree), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


async def sync_dev_guild(bot: CivicBot, guild_id: int) -> int:
    guild = discord.Object(id=guild_id)
    bot.tree.copy_global_to(guild=guild)
    synced = await bot.tree.sync(guild=guild)
    log.info("synced %d commands to dev guild %s", len(synced), guild_id)
    return len(synced)


async def sync_global(bot: CivicBot, store: Any, *, force: bool = False) -> int | None:
    """Upsert global commands if their definitions changed (or force). Returns count or None."""
    digest = commands_hash(bot.tree)
    if not force and await store.get_meta(META_KEY) == digest:
        log.info("global commands unchanged (hash %s…); not syncing", digest[:12])
        return None
    synced = await bot.tree.sync()
    await store.set_meta(META_KEY, digest)
    log.info("synced %d global commands (hash %s…)", len(synced), digest[:12])
    return len(synced)


async def sync_on_start(bot: CivicBot) -> None:
    """At start: the dev guild when DEV_GUILD_ID is set, else global only if definitions changed.

    With DEV_GUILD_ID set, global commands are left alone: a development bot would otherwise
    show every command twice in the dev guild (guild copy + global), and churn the global
    list on every code change. `civic-alerts sync-commands` updates global on purpose.
    Failures are logged, never fatal: a bot with stale commands still delivers alerts.
    """
    settings = bot.settings
    store = bot.store
    try:
        if settings.dev_guild_id:
            await sync_dev_guild(bot, settings.dev_guild_id)
        else:
            await sync_global(bot, store)
    except (discord.HTTPException, app_commands.AppCommandError, discord.ClientException) as exc:
        log.error("command sync failed (the bot keeps running with its old commands): %s", exc)


async def sync_commands(settings: Settings) -> str:
    """`civic-alerts sync-commands`: log in over HTTP only (no gateway), upsert, report.

    Syncs globally (forced), and also the dev guild when DEV_GUILD_ID is set.
    """
    from bot.adapters.discordbot.client import CivicBot, configure_api_base, unreachable_text
    from bot.errors import CivicAlertError, ConfigError
    from bot.store import open_store

    if not settings.discord_token:
        raise ConfigError("DISCORD_TOKEN is not set; cannot sync commands")
    configure_api_base(settings.discord_api_base)
    store = await open_store(settings)
    bot = CivicBot(settings, open_resources=False)
    try:
        bot.store_override = store
        try:
            await bot.login(settings.discord_token)  # runs setup_hook: loads the cogs, no jobs
            lines = []
            count = await sync_global(bot, store, force=True)
            lines.append(f"synced {count} global commands")
            if settings.dev_guild_id:
                n = await sync_dev_guild(bot, settings.dev_guild_id)
                lines.append(f"synced {n} commands to dev guild {settings.dev_guild_id}")
        except discord.LoginFailure:
            raise ConfigError("Discord refused the token (DISCORD_TOKEN); nothing was synced") from None
        except discord.HTTPException as exc:
            raise CivicAlertError(
                str(exc), user_message=f"Discord refused the command sync: {exc.status} {exc.text}"[:200]
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            text = unreachable_text(exc) or str(exc)
            raise CivicAlertError(text, user_message=f"{text}; nothing was synced") from None
        return "; ".join(lines)
    finally:
        await bot.close()
        await store.close()
