"""Gateway protocol: zlib-stream framing, RESUME after a drop, op 7, op 9, intents, heartbeats."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

import aiohttp
import discord
import pytest

from tests.standin import DiscordStandIn
from tests.standin.fixtures import connected_client
from tests.standin.models import wait_until

from .conftest import World


async def _frames(ws: aiohttp.ClientWebSocketResponse, inflate: Any, n: int) -> list[dict[str, Any]]:
    out = []
    while len(out) < n:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.BINARY, msg
        assert msg.data.endswith(b"\x00\x00\xff\xff")  # every message is Z_SYNC_FLUSHed
        out.append(json.loads(inflate.decompress(msg.data)))
    return out


async def test_zlib_stream_identify_ready_guild_create(world: World) -> None:
    s = world.standin
    inflate = zlib.decompressobj()  # ONE context for the whole connection, as Discord expects
    async with aiohttp.ClientSession() as http, http.ws_connect(
        f"{s.gateway_url}?v=10&encoding=json&compress=zlib-stream"
    ) as ws:
        [hello] = await _frames(ws, inflate, 1)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 1000
        await ws.send_json({"op": 2, "d": {"token": s.token, "intents": 1 | (1 << 9), "properties": {"os": "linux"}}})
        ready, guild_create = await _frames(ws, inflate, 2)
        assert ready["t"] == "READY" and ready["s"] == 1
        d = ready["d"]
        assert d["user"]["id"] == str(s.bot_user_id) and d["application"] == {"id": str(s.app_id), "flags": 0}
        assert d["guilds"] == [{"id": str(world.guild.id), "unavailable": True}]
        assert d["resume_gateway_url"].startswith("ws://127.0.0.1")
        assert guild_create["t"] == "GUILD_CREATE" and guild_create["s"] == 2
        g = guild_create["d"]
        assert {m["user"]["id"] for m in g["members"]} >= {str(s.bot_user_id)}
        # without the GUILD_MEMBERS intent Discord lists only the bot itself (issue 16 item 9)
        assert [m["user"]["id"] for m in g["members"]] == [str(s.bot_user_id)]
        assert g["member_count"] == len(world.guild.members) > 1
        noembed = next(c for c in g["channels"] if c["name"] == "noembed")
        assert noembed["permission_overwrites"] == [
            {"id": str(s.bot_user_id), "type": 1, "allow": "0", "deny": str(1 << 14)}
        ]
        await ws.send_json({"op": 1, "d": 2})
        [ack] = await _frames(ws, inflate, 1)
        assert ack["op"] == 11


async def test_uncompressed_and_bad_token(standin: DiscordStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{standin.gateway_url}?v=10&encoding=json") as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello["op"] == 10
            await ws.send_json({"op": 2, "d": {"token": "nope", "intents": 1, "properties": {}}})
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4004
        async with http.ws_connect(f"{standin.gateway_url}?v=10&encoding=etf") as ws:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4002


async def test_drop_then_resume_replays_missed_events(world: World, client: Any) -> None:
    s = world.standin
    resumed: list[bool] = []
    client.event(_recorder("on_resumed", resumed))
    assert s.faults.drop_gateway() == 1
    s.delete_channel(world.noembed)  # dispatched while the client is away: buffered for RESUME
    await s.wait_resumes(1)
    assert s.gateway.resumes[-1]["session_id"] in s.gateway.sessions
    await wait_until(lambda: resumed, 5, "on_resumed")
    assert client.get_channel(world.noembed) is None  # the missed CHANNEL_DELETE was replayed
    assert s.gateway.ready_count == 1  # no second IDENTIFY
    # the client reconnected to the resume_gateway_url READY gave it
    assert s.gateway.connections[-1].path == "/gateway-resume"
    msg = await client.get_channel(world.alerts).send("still works")
    assert msg.id


async def test_op7_reconnect_resumes(world: World, client: Any) -> None:
    s = world.standin
    assert s.faults.send_reconnect() == 1
    await s.wait_resumes(1)
    assert s.gateway.ready_count == 1


async def test_invalid_session_forces_fresh_identify(world: World, client: Any) -> None:
    s = world.standin
    assert s.faults.invalidate_session(resumable=False) == 1
    await s.wait_identifies(2)
    assert len(s.gateway.sessions) == 2
    await wait_until(lambda: client.get_guild(world.guild.id) is not None, 5, "guild after re-IDENTIFY")
    # a RESUME of the invalidated session would have been refused
    assert sum(x.resumes for x in s.gateway.sessions.values()) == 0


async def test_resumable_invalid_session_resumes(world: World, client: Any) -> None:
    s = world.standin
    s.faults.invalidate_session(resumable=True)
    await s.wait_resumes(1)
    assert s.gateway.ready_count == 1


async def test_privileged_intent_without_approval_is_4014(standin: DiscordStandIn) -> None:
    standin.add_guild("G")
    intents = discord.Intents.default()
    intents.message_content = True

    def factory() -> discord.Client:
        return discord.Client(intents=intents, guild_ready_timeout=0.5)

    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with connected_client(standin, client_factory=factory):
            pass
    assert standin.gateway.close_codes == [4014]


async def test_bot_identifies_with_default_intents(world: World, client: Any) -> None:
    [identify] = world.standin.gateway.identifies
    intents = discord.Intents._from_value(identify["intents"])
    assert intents.guilds and not intents.message_content and not intents.members
    assert identify["properties"]["browser"] == "discord.py"


def _recorder(name: str, sink: list[bool]) -> Any:
    async def handler(*args: Any) -> None:
        sink.append(True)

    handler.__name__ = name
    return handler


async def test_autosharded_client_uses_gateway_bot(standin: DiscordStandIn) -> None:
    """AutoShardedClient asks GET /gateway/bot for the URL (a plain Client never does)."""
    from discord.gateway import DiscordWebSocket

    g = standin.add_guild("Sharded", channels=["a"])
    client = discord.AutoShardedClient(intents=discord.Intents.default(), guild_ready_timeout=0.5)
    with standin.patch_discord():
        DiscordWebSocket.DEFAULT_GATEWAY = discord.gateway.yarl.URL("wss://gateway.invalid/")  # not used
        await client.login(standin.token)
        task = asyncio.create_task(client.connect())
        try:
            await asyncio.wait_for(client.wait_until_ready(), 10)
            assert client.get_guild(g.id) is not None and client.shard_count == 1
            assert standin.requests_to("GET", r"^/gateway/bot$")
            assert standin.gateway.identifies[0]["shard"] == [0, 1]
        finally:
            await client.close()
            await asyncio.wait_for(task, 5)


async def test_gateway_send_rate_limit_closes_4008(standin: DiscordStandIn) -> None:
    standin.gateway.send_limit = (3, 60.0)
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{standin.gateway_url}?v=10&encoding=json") as ws:
        await ws.receive_json(timeout=5)  # HELLO
        for _ in range(4):
            await ws.send_json({"op": 1, "d": None})
        codes = []
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.CLOSE:
                codes.append(msg.data)
                break
    assert codes == [4008]
