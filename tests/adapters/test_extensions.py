"""Every extension loads, and every command is described, guild-scoped and permission-checked.

Why: a cog that fails to import only shows up when the bot starts; a missing description or
an unenforced permission is a review comment nobody should have to make twice.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.adapters.discordbot import sync
from bot.adapters.discordbot.client import EXTENSIONS, CivicBot
from tests.adapters.fakeapi import FakeDiscordAPI

EXPECTED = {
    "subscribe",
    "unsubscribe",
    "subscriptions",
    "rules",
    "search",
    "latest",
    "feeds",
    "status",
    "help",
}
CHECKED = {  # command → the permission its enforced check requires
    "subscribe": "manage_channels",
    "unsubscribe": "manage_channels",
    "rules": "manage_channels",
    "feeds list": "manage_guild",
    "feeds add": "manage_guild",
    "feeds remove": "manage_guild",
    "feeds import": "manage_guild",
    "feeds export": "manage_guild",
}


def walk(bot: CivicBot) -> list[app_commands.Command]:
    out: list[app_commands.Command] = []
    for cmd in bot.tree.get_commands():
        if isinstance(cmd, app_commands.Group):
            out.extend(c for c in cmd.commands if isinstance(c, app_commands.Command))
        else:
            assert isinstance(cmd, app_commands.Command)
            out.append(cmd)
    return out


async def test_every_extension_is_loaded(bot: CivicBot) -> None:
    assert set(bot.extensions) == set(EXTENSIONS)
    assert {c.name for c in bot.tree.get_commands()} == EXPECTED


async def test_reloading_every_extension_works(bot: CivicBot) -> None:
    for ext in EXTENSIONS:
        await bot.reload_extension(ext)
    assert {c.name for c in bot.tree.get_commands()} == EXPECTED


async def test_commands_have_help_and_described_options(bot: CivicBot) -> None:
    for cmd in walk(bot):
        assert cmd.description and cmd.description != "…", cmd.qualified_name
        for param in cmd.parameters:
            assert param.description and param.description != "…", (
                f"{cmd.qualified_name}.{param.name}"
            )


async def test_guild_only_everywhere_but_help(bot: CivicBot) -> None:
    for cmd in bot.tree.get_commands():
        assert cmd.guild_only == (cmd.name != "help"), cmd.name


async def test_permission_checks_are_enforced_not_only_advertised(bot: CivicBot) -> None:
    for cmd in walk(bot):
        name = cmd.qualified_name
        top = cmd.parent or cmd
        if name in CHECKED:
            perm = CHECKED[name]
            assert cmd.checks, f"{name} has no enforced check"
            assert top.default_permissions is not None and getattr(top.default_permissions, perm), (
                name
            )
            # run the check against a member lacking the permission: it must refuse
            assert any("has_permissions" in getattr(c, "__qualname__", "") for c in cmd.checks), (
                name
            )
        else:
            assert not cmd.checks, f"{name}: unexpected check"


async def test_command_hash_is_stable_and_changes_with_definitions(bot: CivicBot) -> None:
    first = sync.commands_hash(bot.tree)
    assert first == sync.commands_hash(bot.tree)

    @app_commands.command(name="extra", description="a new command")
    async def extra(interaction: discord.Interaction) -> None:
        pass

    bot.tree.add_command(extra)
    assert sync.commands_hash(bot.tree) != first


async def test_global_sync_only_when_definitions_change(bot: CivicBot, api: FakeDiscordAPI) -> None:
    store = bot.store
    assert await sync.sync_global(bot, store) == len(EXPECTED)
    assert await sync.sync_global(bot, store) is None  # unchanged: no upsert
    assert len(api.calls("PUT", r"^/applications/\d+/commands$")) == 1
    body = api.calls("PUT", r"^/applications/\d+/commands$")[0].body
    assert {c["name"] for c in body} == EXPECTED
    assert await sync.sync_global(bot, store, force=True) == len(EXPECTED)  # sync-commands


async def test_dev_guild_sync_copies_global_commands(bot: CivicBot, api: FakeDiscordAPI) -> None:
    await sync.sync_dev_guild(bot, 1)
    body = api.calls("PUT", r"^/applications/\d+/guilds/1/commands$")[0].body
    assert {c["name"] for c in body} == EXPECTED


def test_core_never_imports_discord() -> None:
    """Everything outside bot/adapters/discordbot must stay platform-neutral (architecture.md)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "bot"
    offenders = []
    for path in root.rglob("*.py"):
        if "discordbot" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            if any(n == "discord" or n.startswith("discord.") for n in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
