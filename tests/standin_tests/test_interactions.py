"""Slash commands through a real CommandTree: registration, responses, follow-ups, expiry."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.standin import LOADING, DiscordStandIn, Perm, StandInError
from tests.standin.fixtures import connected_client

from .conftest import World

CITIES = ["chicago-il", "chico-ca", "chicopee-ma", "cincinnati-oh"]


class Pager(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.page = 1

    @discord.ui.button(label="Next", custom_id="search:next")
    async def next_page(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        self.page += 1
        await interaction.response.edit_message(content=f"page {self.page}", view=self)


def build_tree(client: Any, guild_id: int) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = client.tree
    guild = discord.Object(guild_id)

    @tree.command(name="subscribe", description="Subscribe this channel to a city", guild=guild)
    @app_commands.describe(city="City", limit="How many")
    async def subscribe(interaction: discord.Interaction, city: str, limit: app_commands.Range[int, 1, 10] = 5) -> None:
        await interaction.response.send_message(f"subscribed to {city} ({limit})", ephemeral=True)

    @subscribe.autocomplete("city")
    async def city_autocomplete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=c, value=c) for c in CITIES if c.startswith(current)]

    @tree.command(name="search", description="Search stories", guild=guild)
    async def search(interaction: discord.Interaction, query: str) -> None:
        await interaction.response.defer(thinking=True)
        await asyncio.sleep(0.05)
        await interaction.followup.send(f"results for {query}", embed=discord.Embed(title="1 story"))
        await interaction.followup.send("second page follows", ephemeral=True)

    @tree.command(name="status", description="Bot status", guild=guild)
    @app_commands.default_permissions(manage_guild=True)
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("ok", view=Pager())

    @tree.command(name="slow", description="Answers too late", guild=guild)
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        await interaction.response.send_message("late")

    @tree.command(name="defer", description="Defers then edits", guild=guild)
    async def defer(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)
        client.deferred.set_result(interaction)

    return tree


@pytest.fixture
async def bot(world: World) -> Any:
    async with connected_client(world.standin) as client:
        client.deferred = asyncio.get_running_loop().create_future()
        tree = build_tree(client, world.guild.id)
        await tree.sync(guild=discord.Object(world.guild.id))
        yield client


async def test_sync_registers_guild_commands_with_ids(world: World, bot: Any) -> None:
    cmds = {c["name"]: c for c in world.standin.registered_commands(world.guild.id)}
    assert set(cmds) == {"subscribe", "search", "status", "slow", "defer"}
    assert cmds["status"]["default_member_permissions"] == str(Perm.MANAGE_GUILD.value)
    assert [o["name"] for o in cmds["subscribe"]["options"]] == ["city", "limit"]
    ids = {c["id"] for c in cmds.values()}
    await bot.tree.sync(guild=discord.Object(world.guild.id))  # bulk overwrite keeps ids
    assert {c["id"] for c in world.standin.registered_commands(world.guild.id)} == ids
    world.standin.assert_clean()


async def test_slash_ephemeral_response(world: World, bot: Any) -> None:
    s = world.standin
    owner = world.guild.owner_id
    h = await s.invoke_slash(world.guild.id, world.alerts, owner, "subscribe", {"city": "chicago-il", "limit": 3})
    assert h.payload["data"]["options"] == [
        {"name": "city", "type": 3, "value": "chicago-il"},
        {"name": "limit", "type": 4, "value": 3},
    ]
    assert int(h.payload["app_permissions"]) == world.guild.bot_permissions(world.alerts)
    r = await h.wait_response(timeout=5)
    assert r.type == 4 and r.ephemeral and r.content == "subscribed to chicago-il (3)"
    assert s.messages(world.alerts) == []  # ephemeral: not in the channel's history
    assert h.original_message is not None and h.original_message["flags"] & 64
    s.assert_clean()


async def test_autocomplete_returns_choices(world: World, bot: Any) -> None:
    choices = await world.standin.invoke_autocomplete(
        world.guild.id, world.alerts, world.guild.owner_id, "subscribe", focused="city", value="chi"
    )
    assert [c["value"] for c in choices] == ["chicago-il", "chico-ca", "chicopee-ma"]
    world.standin.assert_clean()


async def test_defer_then_followups(world: World, bot: Any) -> None:
    s = world.standin
    h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "search", {"query": "ice raid"})
    r = await h.wait_response()
    assert r.type == 5 and r.deferred
    followups = await h.wait_followups(2)
    # the first follow-up after a "thinking" defer replaces that message
    assert followups[0]["id"] == h.original_message["id"]
    assert followups[0]["content"] == "results for ice raid" and not followups[0]["flags"] & LOADING
    assert followups[1]["flags"] & 64
    assert [m["content"] for m in s.messages(world.alerts)] == ["results for ice raid"]
    s.assert_clean()


async def test_defer_then_edit_original(world: World, bot: Any) -> None:
    s = world.standin
    h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "defer")
    interaction = await asyncio.wait_for(bot.deferred, 5)
    await interaction.edit_original_response(content="done", embed=discord.Embed(title="x" * 256))
    original = await h.wait_original()
    assert original["content"] == "done" and original["flags"] & 64
    with pytest.raises(discord.HTTPException) as exc:
        await interaction.edit_original_response(embed=discord.Embed(title="x" * 257))
    assert exc.value.code == 50035
    assert [v.location for v in s.violations] == ["embeds.0.title"]


async def test_button_press_updates_message(world: World, bot: Any) -> None:
    s = world.standin
    h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "status")
    await h.wait_response()
    [msg] = s.messages(world.alerts)
    assert msg["components"][0]["components"][0]["custom_id"] == "search:next"
    press = await s.press_button(msg, "search:next")
    r = await press.wait_response()
    assert r.type == 7
    assert s.messages(world.alerts)[0]["content"] == "page 2"
    with pytest.raises(StandInError):
        await s.press_button(msg, "nope")
    s.assert_clean()


async def test_default_member_permissions_hide_command(world: World, bot: Any) -> None:
    s = world.standin
    member = world.guild.add_member(username="organizer")
    with pytest.raises(StandInError, match="default_member_permissions"):
        await s.invoke_slash(world.guild.id, world.alerts, member, "status")
    h = await s.invoke_slash(world.guild.id, world.alerts, member, "status",
                             member_permissions=Perm.VIEW_CHANNEL | Perm.MANAGE_GUILD)
    assert h.payload["member"]["permissions"] == str(Perm.VIEW_CHANNEL | Perm.MANAGE_GUILD)
    await h.wait_response()


async def test_bad_invocations_raise(world: World, bot: Any) -> None:
    s = world.standin
    args = (world.guild.id, world.alerts, world.guild.owner_id)
    with pytest.raises(StandInError, match="not registered"):
        await s.invoke_slash(*args, "nope")
    with pytest.raises(StandInError, match="no option"):
        await s.invoke_slash(*args, "subscribe", {"town": "x"})
    with pytest.raises(StandInError, match="required"):
        await s.invoke_slash(*args, "subscribe", {})
    with pytest.raises(StandInError, match="out of range"):
        await s.invoke_slash(*args, "subscribe", {"city": "x", "limit": 11})


async def test_late_response_and_double_ack(world: World, bot: Any) -> None:
    s = world.standin
    s.interaction_ack_timeout = 0.1
    h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "slow")
    await _until(lambda: h.rejected)
    assert h.rejected[0][0] == 404 and h.callback is None
    assert "initial response" in s.violations[0].message
    s.violations.clear()
    s.interaction_ack_timeout = 3.0
    h2 = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "subscribe", {"city": "chicago-il"})
    await h2.wait_response()
    route = discord.http.Route("POST", "/interactions/{i}/{t}/callback", i=h2.id, t=h2.token)
    with pytest.raises(discord.HTTPException) as exc:
        await bot.http.request(route, json={"type": 4, "data": {"content": "again"}})
    assert exc.value.code == 40060


async def test_expired_token_followup_is_401(world: World, bot: Any) -> None:
    s = world.standin
    h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "defer")
    interaction = await asyncio.wait_for(bot.deferred, 5)
    await h.wait_response()
    assert s.faults.expire_interaction_tokens() >= 1
    with pytest.raises(discord.HTTPException) as exc:
        await interaction.followup.send("too late")
    assert exc.value.status == 401 and exc.value.code == 50027
    assert any("expired" in v.message for v in s.violations)


async def test_wrong_callback_type_is_rejected(world: World, bot: Any, standin: DiscordStandIn) -> None:
    s = world.standin
    choices = await s.invoke_autocomplete(world.guild.id, world.alerts, world.guild.owner_id, "subscribe",
                                          focused="city", value="")
    assert len(choices) == 4
    h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "defer")
    await asyncio.wait_for(bot.deferred, 5)
    h3 = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "search", {"query": "q"})
    await h3.wait_followups(2)
    assert h.callback is not None
    # type 8 (autocomplete result) for a slash command, and > 25 choices
    import aiohttp

    h4 = s._new_interaction(2, world.guild, world.alerts, world.guild.owner_id, h3.payload["data"], 0)
    async with aiohttp.ClientSession() as http:
        url = f"{s.api_base}/interactions/{h4.id}/{h4.token}/callback"
        body = {"type": 8, "data": {"choices": [{"name": str(i), "value": str(i)} for i in range(26)]}}
        async with http.post(url, json=body) as resp:
            assert resp.status == 400
    assert {v.location for v in s.violations} >= {"type", "data.choices"}


async def _until(pred: Any) -> None:
    from tests.standin.models import wait_until

    await wait_until(pred, 5.0, "condition")


async def test_commands_bot_with_cog_and_global_sync(world: World) -> None:
    from discord.ext import commands

    class Alerts(commands.Cog):
        @app_commands.command(name="latest", description="Latest stories for a city")
        async def latest(self, interaction: discord.Interaction, city: str) -> None:
            await interaction.response.send_message(embed=discord.Embed(title=f"Latest: {city}"))

    class Bot(commands.Bot):
        async def setup_hook(self) -> None:
            await self.add_cog(Alerts())
            await self.tree.sync()  # global: PUT /applications/{id}/commands

    def factory() -> Bot:
        intents = discord.Intents.default()
        intents.message_content = False
        return Bot(command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.5)

    s = world.standin
    async with connected_client(s, client_factory=factory):
        assert [c["name"] for c in s.registered_commands()] == ["latest"]
        assert "guild_id" not in s.registered_commands()[0]
        h = await s.invoke_slash(world.guild.id, world.alerts, world.guild.owner_id, "latest", {"city": "chicago-il"})
        r = await h.wait_response()
        assert r.type == 4 and not r.ephemeral and r.embeds[0]["title"] == "Latest: chicago-il"
        [msg] = s.messages(world.alerts)
        assert msg["interaction_metadata"]["name"] == "latest" and msg["webhook_id"] == str(s.app_id)
    s.assert_clean()


async def test_followup_before_ack_and_foreign_webhook(world: World, bot: Any) -> None:
    import aiohttp

    s = world.standin
    h = s._new_interaction(2, world.guild, world.alerts, world.guild.owner_id,
                           {"id": "1", "name": "x", "type": 1}, 0)  # nobody answers this one
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{s.api_base}/webhooks/{s.app_id}/{h.token}", json={"content": "early"}) as resp:
            assert resp.status == 404 and (await resp.json())["code"] == 10015
        async with http.post(f"{s.api_base}/webhooks/{s.app_id}/not-a-token", json={"content": "x"}) as resp:
            assert resp.status == 401 and (await resp.json())["code"] == 50027
    assert len(s.violations) == 2


async def test_file_upload_is_multipart_validated(world: World, bot: Any) -> None:
    import io

    s = world.standin
    channel = bot.get_channel(world.alerts)
    msg = await channel.send("report", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), filename="report.csv"))
    assert msg.attachments[0].filename == "report.csv" and msg.attachments[0].size == 8
    with pytest.raises(discord.HTTPException):
        await channel.send("x" * 2001, file=discord.File(io.BytesIO(b"x"), filename="x.txt"))
    assert [v.location for v in s.violations] == ["content"]


async def test_deferred_update_then_edit_original_edits_the_component_message(world: World, bot: Any) -> None:
    s = world.standin

    class Later(discord.ui.View):
        @discord.ui.button(label="Refresh", custom_id="refresh")
        async def refresh(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
            await interaction.response.defer()  # type 6 for a component
            await interaction.edit_original_response(content="refreshed", view=None)

    msg = await bot.get_channel(world.alerts).send("stale", view=Later())
    press = await s.press_button({"id": str(msg.id)}, "refresh")
    assert (await press.wait_response()).type == 6
    await _until(lambda: s.message(msg.id)["content"] == "refreshed")
    assert s.message(msg.id)["components"] == []
    s.assert_clean()
