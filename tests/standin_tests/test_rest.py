"""A real discord.py client against the stand-in: login, READY/GUILD_CREATE, sends, validation."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord.http import Route

from tests.standin import DiscordStandIn, Perm

from .conftest import World


async def test_login_ready_guild_create_builds_real_objects(world: World, client: Any) -> None:
    s = world.standin
    assert Route.BASE == s.api_base  # patched for the client's lifetime (restored after: see below)
    guild = client.get_guild(world.guild.id)
    assert isinstance(guild, discord.Guild)
    assert {c.name for c in guild.text_channels} == {"alerts", "noembed", "readonly", "hidden"}
    assert guild.me is not None and guild.me.id == s.bot_user_id
    assert any(r.is_bot_managed() for r in guild.me.roles)
    alerts = guild.get_channel(world.alerts)
    assert isinstance(alerts, discord.TextChannel)
    me = guild.me
    assert alerts.permissions_for(me).send_messages and alerts.permissions_for(me).embed_links
    assert not guild.get_channel(world.noembed).permissions_for(me).embed_links
    assert not guild.get_channel(world.readonly).permissions_for(me).send_messages
    assert not guild.get_channel(world.hidden).permissions_for(me).view_channel
    # the stand-in computes what discord.py does (discord.py also strips voice bits in text channels)
    voice = discord.Permissions.voice().value
    for cid in (world.alerts, world.noembed, world.readonly, world.hidden):
        assert world.guild.bot_permissions(cid) & ~voice == guild.get_channel(cid).permissions_for(me).value
    assert client.application_id == s.app_id
    assert client.application is not None and client.application.owner.id == s.owner.id
    # zlib-stream transport compression was asked for and served
    assert s.gateway.connections[0].compress == "zlib-stream"
    assert [r.path for r in s.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]


async def test_send_with_embeds_is_recorded_and_valid(world: World, client: Any) -> None:
    s = world.standin
    channel = client.get_channel(world.alerts)
    embed = discord.Embed(title="ICE raid reported", description="Details…", url="https://example.org/a", color=0x3366FF)
    embed.add_field(name="Where", value="Chicago, IL").set_footer(text="why: immigration")
    msg = await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
    [stored] = s.messages(world.alerts)
    assert int(stored["id"]) == msg.id
    assert stored["embeds"][0]["title"] == "ICE raid reported"
    assert stored["embeds"][0]["fields"] == [{"name": "Where", "value": "Chicago, IL", "inline": True}]
    assert stored["nonce"] and stored["enforce_nonce"] is True  # discord.py 2.7 always sends one
    assert stored["allowed_mentions"] == {"parse": [], "replied_user": False} or stored["allowed_mentions"]["parse"] == []
    assert msg.embeds[0].title == "ICE raid reported"
    s.assert_clean()


async def test_nonce_dedupe_returns_the_original_message(world: World, client: Any) -> None:
    s = world.standin
    s.rate_limits.enabled = False  # five sends to one channel would otherwise wait out the 5/5 s bucket
    channel = client.get_channel(world.alerts)
    first = await channel.send("alert batch 1", nonce="deliv-17-18")
    second = await channel.send("alert batch 1", nonce="deliv-17-18")
    assert second.id == first.id
    assert len(s.messages(world.alerts)) == 1 and s.nonce_hits == 1
    third = await channel.send("alert batch 2", nonce="deliv-19")
    assert third.id != first.id
    # without enforce_nonce Discord does not deduplicate
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.alerts)
    a = await client.http.request(route, json={"content": "x", "nonce": "n1"})
    b = await client.http.request(route, json={"content": "x", "nonce": "n1"})
    assert a["id"] != b["id"]


async def test_schema_violation_is_400_and_recorded(world: World, client: Any) -> None:
    s = world.standin
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.alerts)
    with pytest.raises(discord.HTTPException) as exc:
        await client.http.request(route, json={"embeds": [{"title": "t", "color": "red"}]})
    assert exc.value.status == 400 and exc.value.code == 50035
    assert "embeds.0.color" in str(exc.value)  # discord.py flattens Discord's error tree
    assert [v.location for v in s.violations] == ["embeds.0.color"]
    assert s.violations[0].kind == "schema"
    assert s.messages(world.alerts) == []


async def test_embed_total_over_6000_is_rejected(world: World, client: Any) -> None:
    s = world.standin
    channel = client.get_channel(world.alerts)
    embeds = [discord.Embed(title=f"story {i}", description="x" * 1500) for i in range(5)]  # each valid alone
    with pytest.raises(discord.HTTPException) as exc:
        await channel.send(embeds=embeds)
    assert exc.value.status == 400 and exc.value.code == 50035
    assert any("MAX_EMBED_SIZE_EXCEEDED" in v.message and v.kind == "limit" for v in s.violations)
    s.violations.clear()
    await channel.send(embeds=embeds[:3])  # 4,5xx characters: fine
    s.assert_clean()


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"content": "x" * 2001}, "content"),
        ({"embeds": [{"title": "x" * 257}]}, "embeds.0.title"),
        ({"embeds": [{"description": "x" * 4097}]}, "embeds.0.description"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, "embeds.0.fields"),
        ({"embeds": [{"title": "t"}] * 11}, "embeds"),
        ({"embeds": [{"footer": {"text": "x" * 2049}}]}, "embeds.0.footer.text"),
        ({"embeds": [{"author": {"name": "x" * 257}}]}, "embeds.0.author.name"),
        ({"embeds": [{"title": "t", "url": "javascript:alert(1)"}]}, "embeds.0.url"),
        ({"content": "x", "nonce": "n" * 26}, "nonce"),
        ({"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}}, "allowed_mentions"),
    ],
)
async def test_limits(standin: DiscordStandIn, payload: dict[str, Any], where: str) -> None:
    import aiohttp

    guild = standin.add_guild("G", channels=["c"])
    url = f"{standin.api_base}/channels/{guild.channel('c')}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {standin.token}"}) as http:
        async with http.post(url, json=payload) as resp:
            body = await resp.json()
            assert resp.status == 400 and resp.headers["Content-Type"] == "application/json"
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    assert where in {v.location for v in standin.violations}, standin.violations


async def test_empty_message_is_50006(world: World, client: Any) -> None:
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.alerts)
    with pytest.raises(discord.HTTPException) as exc:
        await client.http.request(route, json={"content": ""})
    assert exc.value.code == 50006


async def test_permissions_and_missing_channels(world: World, client: Any) -> None:
    s = world.standin
    with pytest.raises(discord.Forbidden) as exc:
        await client.get_channel(world.readonly).send("hi")
    assert exc.value.code == 50013
    with pytest.raises(discord.Forbidden) as exc:
        await client.http.send_message(world.hidden, params=discord.http.handle_message_parameters(content="hi"))
    assert exc.value.code == 50001
    # embed-only without EMBED_LINKS → 403; with content the embeds are dropped (and noted)
    noembed = client.get_channel(world.noembed)
    with pytest.raises(discord.Forbidden):
        await noembed.send(embed=discord.Embed(title="t"))
    msg = await noembed.send("text", embed=discord.Embed(title="t"))
    assert msg.embeds == [] and len(s.warnings) == 1 and "EMBED_LINKS" in s.warnings[0]
    # deleted channel → 404 10003, and the client saw CHANNEL_DELETE
    s.delete_channel(world.alerts)
    with pytest.raises(discord.NotFound) as exc:
        await client.http.send_message(world.alerts, params=discord.http.handle_message_parameters(content="hi"))
    assert exc.value.code == 10003
    await _eventually(lambda: client.get_channel(world.alerts) is None)
    s.assert_clean()


async def test_permission_changes_dispatch_to_the_client(world: World, client: Any) -> None:
    g = world.guild
    guild = client.get_guild(g.id)
    g.set_role_permissions("@everyone", Perm.VIEW_CHANNEL)  # GUILD_ROLE_UPDATE
    g.set_bot_permissions(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    await _eventually(lambda: not guild.get_channel(world.alerts).permissions_for(guild.me).embed_links)
    role = g.add_role("alerts-bot", Perm.EMBED_LINKS, members=[world.standin.bot_user_id])  # MEMBER_UPDATE
    await _eventually(lambda: guild.get_channel(world.alerts).permissions_for(guild.me).embed_links)
    assert role in [r.id for r in guild.me.roles]
    g.set_overwrite("alerts", g.everyone_role_id, deny=Perm.SEND_MESSAGES)  # CHANNEL_UPDATE
    await _eventually(lambda: not guild.get_channel(world.alerts).permissions_for(guild.me).send_messages)
    voice = discord.Permissions.voice().value
    assert g.bot_permissions(world.alerts) & ~voice == guild.get_channel(world.alerts).permissions_for(guild.me).value
    new_id = g.add_text_channel("late")  # CHANNEL_CREATE
    await _eventually(lambda: guild.get_channel(new_id) is not None)
    world.standin.remove_guild(g.id)  # GUILD_DELETE
    await _eventually(lambda: client.get_guild(g.id) is None)
    with pytest.raises(discord.NotFound) as exc:
        await client.fetch_guild(g.id)
    assert exc.value.code == 10004


async def test_history_before_after_limit(world: World, client: Any) -> None:
    world.standin.rate_limits.enabled = False
    channel = client.get_channel(world.alerts)
    sent = [await channel.send(f"m{i}") for i in range(7)]
    newest_first = [m.id async for m in channel.history(limit=5)]
    assert newest_first == [m.id for m in reversed(sent)][:5]
    after = [m.content async for m in channel.history(after=sent[2], limit=10, oldest_first=True)]
    assert after == ["m3", "m4", "m5", "m6"]
    before = [m.content async for m in channel.history(before=sent[2], limit=10)]
    assert before == ["m1", "m0"]
    edited = await sent[0].edit(content="m0 (edited)")
    assert edited.edited_at is not None
    assert world.standin.messages(world.alerts)[0]["content"] == "m0 (edited)"
    fetched = await channel.fetch_message(sent[0].id)
    assert fetched.content == "m0 (edited)"
    assert sent[0].nonce is not None and fetched.nonce is None  # Discord does not store nonces


async def test_unknown_route_is_recorded(world: World, client: Any) -> None:
    with pytest.raises(discord.NotFound):
        await client.http.request(Route("GET", "/channels/{channel_id}/pins", channel_id=world.alerts))
    assert world.standin.unknown_routes == [("GET", f"/channels/{world.alerts}/pins")]
    with pytest.raises(AssertionError, match="unknown route"):
        world.standin.assert_clean()


async def test_bad_token_is_login_failure(standin: DiscordStandIn) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with standin.patch_discord(), pytest.raises(discord.LoginFailure):
        await client.login("wrong-token")
    await client.close()
    assert Route.BASE == "https://discord.com/api/v10"  # patch_discord restored it


async def _eventually(pred: Any) -> None:
    from tests.standin.models import wait_until

    await wait_until(pred, 5.0, "condition")


async def test_flags_and_component_rules(world: World, client: Any) -> None:
    s = world.standin
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.alerts)
    with pytest.raises(discord.HTTPException) as exc:  # EPHEMERAL only exists for interaction responses
        await client.http.request(route, json={"content": "x", "flags": 64})
    assert exc.value.code == 50035
    button = {"type": 2, "style": 1, "label": "Next", "custom_id": "page:next"}
    with pytest.raises(discord.HTTPException):
        await client.http.request(route, json={"content": "x", "components": [{"type": 1, "components": [button, button]}]})
    assert {v.location for v in s.violations} == {"flags", "components"}
    s.violations.clear()
    await client.http.request(route, json={"content": "x", "flags": 4096})  # SUPPRESS_NOTIFICATIONS is fine
    s.assert_clean()


async def test_missing_openapi_disables_validation_and_says_so(tmp_path: Any) -> None:
    async with DiscordStandIn(openapi_path=tmp_path / "absent.json") as s:
        assert not s.validation_enabled
        assert "not found" in (s.validation_skipped_reason or "")
        g = s.add_guild("G", channels=["c"])
        import aiohttp

        url = f"{s.api_base}/channels/{g.channel('c')}/messages"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bot {s.token}"}) as http:
            async with http.post(url, json={"embeds": [{"title": "t", "color": "red"}]}) as resp:
                assert resp.status == 200  # schema not checked…
            async with http.post(url, json={"content": "x" * 2001}) as resp:
                assert resp.status == 400  # …Discord's documented limits still are


async def test_request_log_and_auth(world: World, client: Any) -> None:
    s = world.standin
    await client.get_channel(world.alerts).send("logged")
    method, path, status, body = s.requests[-1]
    assert (method, path, status) == ("POST", f"/channels/{world.alerts}/messages", 200)
    assert body["content"] == "logged"
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{s.api_base}/users/@me") as resp:
            assert resp.status == 401 and (await resp.json())["message"] == "401: Unauthorized"
    assert s.invalid_requests == 1


async def test_remaining_rest_reads_and_command_crud(world: World, client: Any) -> None:
    s = world.standin
    g = world.guild
    guild = client.get_guild(g.id)
    member = await guild.fetch_member(s.bot_user_id)
    assert member.id == s.bot_user_id and g.bot_role_id in [r.id for r in member.roles]
    with pytest.raises(discord.NotFound):
        await guild.fetch_member(1234)
    assert {r.name for r in await guild.fetch_roles()} >= {"@everyone", s.bot_user.username}
    assert {c.name for c in await guild.fetch_channels()} == {"alerts", "noembed", "readonly", "hidden"}
    fetched = await client.fetch_guild(g.id, with_counts=True)
    assert fetched.approximate_member_count == len(g.members)
    user = await client.fetch_user(g.owner_id)
    assert user.id == g.owner_id
    channel = client.get_channel(world.alerts)
    async with channel.typing():
        pass
    s.rate_limits.enabled = False
    msgs = [await channel.send(f"m{i}") for i in range(5)]
    around = [m.content async for m in channel.history(around=msgs[2], limit=3)]
    assert sorted(around) == ["m1", "m2", "m3"]
    await msgs[4].delete()
    assert [m["content"] for m in s.messages(world.alerts)] == ["m0", "m1", "m2", "m3"]
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(msgs[4].id)
    # command CRUD through discord.py's HTTP client
    created = await client.http.upsert_guild_command(s.app_id, g.id, {"name": "ping", "description": "Ping", "type": 1})
    cid = int(created["id"])
    assert (await client.http.get_guild_command(s.app_id, g.id, cid))["name"] == "ping"
    edited = await client.http.edit_guild_command(s.app_id, g.id, cid, {"description": "Pong"})
    assert edited["description"] == "Pong" and edited["id"] == created["id"]
    with pytest.raises(discord.HTTPException) as exc:
        await client.http.upsert_guild_command(s.app_id, g.id, {"name": "Bad Name", "description": "x", "type": 1})
    assert exc.value.code == 50035
    await client.http.delete_guild_command(s.app_id, g.id, cid)
    assert s.registered_commands(g.id) == []
    assert [v.location for v in s.violations] == ["name"]


async def test_in_flight_counts_a_held_request_until_it_is_answered(world: World, client: Any) -> None:
    """A delay fault holds a POST inside the stand-in: `in_flight` shows it until the answer."""
    import asyncio

    s = world.standin
    assert s.in_flight == 0
    rule = s.faults.fail_next("POST", rf"/channels/{world.alerts}/messages$", 200, delay=0.5)
    send = asyncio.create_task(client.get_channel(world.alerts).send("held"))
    async with asyncio.timeout(5):
        while not rule.hits:
            await asyncio.sleep(0.01)
    assert s.in_flight == 1 and s.requests_to("POST", rf"/channels/{world.alerts}/messages$") == []
    message = await send
    assert s.in_flight == 0
    assert [r.status for r in s.requests_to("POST", rf"/channels/{world.alerts}/messages$")] == [200]
    assert s.messages(world.alerts)[0]["id"] == str(message.id)
