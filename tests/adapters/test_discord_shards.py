"""Discord across processes (issue 15 item 3), in one process: the shard options, the sharded
client against the stand-in's shard-aware gateway, and REST delivery to a guild on a shard
this process does not hold.

The two-process drill (two `run` processes on one PostgreSQL) is tests/pg/test_discord_shards.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest

from bot.adapters.discordbot.client import CivicBot, ShardedCivicBot, make_bot
from bot.adapters.discordbot.sink import destination
from bot.cli import main
from bot.errors import ConfigError
from bot.models import Alert, Story
from bot.relevance import load_classifier
from bot.settings import Settings, ShardPlan, load_settings, parse_shards
from bot.store import Store
from tests.adapters.conftest import CogApp
from tests.standin import DiscordStandIn
from tests.standin.fixtures import connected_client, require_openapi
from tests.standin.gateway import shard_of

# ------------------------------------------------------------------------------ the options


@pytest.mark.parametrize(
    ("ids", "count", "plan"),
    [
        (None, None, None),  # no options: one process, discord.py's plain client
        ("", "  ", None),
        ("0,1", "4", ShardPlan(ids=(0, 1), count=4)),
        (" 3 , 1 ", "4", ShardPlan(ids=(1, 3), count=4)),
        ("0", "auto", ShardPlan(ids=(0,), count=None)),
        ("2,0", None, ShardPlan(ids=(0, 2), count=None)),  # no count: Discord's recommended one
        (None, "4", ShardPlan(ids=None, count=4)),  # every shard of 4 in this process
        (None, "AUTO", ShardPlan(ids=None, count=None)),
    ],
)
def test_shard_options_parse(ids: str | None, count: str | None, plan: ShardPlan | None) -> None:
    assert parse_shards(ids, count) == plan


@pytest.mark.parametrize(
    ("ids", "count", "message"),
    [
        ("0,4", "4", "--shard-ids: shard 4 does not exist with --shard-count 4 (ids run 0 to 3)"),
        ("0,1,0", "4", "--shard-ids: shard 0 is given twice"),
        ("0,x", "4", "--shard-ids must be comma-separated whole numbers such as 0,1; got 'x'"),
        ("0,,1", "4", "--shard-ids must be comma-separated whole numbers such as 0,1; got ''"),
        ("1.5", "4", "--shard-ids must be comma-separated whole numbers such as 0,1; got '1.5'"),
        ("-1", "4", "--shard-ids: shard ids start at 0, got -1"),
        ("0", "0", "--shard-count must be at least 1, got 0"),
        ("0", "four", "--shard-count must be a whole number or 'auto', got 'four'"),
    ],
)
def test_bad_shard_options_fail_with_one_line(ids: str, count: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_shards(ids, count)
    assert info.value.user_message == message


def test_environment_names_its_variables_and_options_win() -> None:
    env = {"DISCORD_SHARD_IDS": "2,3", "DISCORD_SHARD_COUNT": "4"}
    assert load_settings(env=env).discord_shards == ShardPlan(ids=(2, 3), count=4)
    assert load_settings(env=env, shard_ids="0,1").discord_shards == ShardPlan(ids=(0, 1), count=4)
    assert load_settings(env={}).discord_shards is None
    with pytest.raises(ConfigError, match=r"^DISCORD_SHARD_IDS: shard 4 does not exist with DISCORD_SHARD_COUNT 4"):
        load_settings(env={"DISCORD_SHARD_IDS": "4", "DISCORD_SHARD_COUNT": "4"})
    with pytest.raises(ConfigError, match=r"^--shard-ids: shard 5 does not exist with DISCORD_SHARD_COUNT 4"):
        load_settings(env={"DISCORD_SHARD_COUNT": "4"}, shard_ids="5")


def test_run_refuses_bad_shards_with_one_line_and_no_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of a developer's
    monkeypatch.delenv("DISCORD_SHARD_IDS", raising=False)
    monkeypatch.delenv("DISCORD_SHARD_COUNT", raising=False)
    assert main(["run", "--shard-ids", "0,1,1", "--shard-count", "4"]) == 2
    err = capsys.readouterr().err
    assert err == "civic-alerts: configuration error: --shard-ids: shard 1 is given twice\n"


def test_without_options_the_client_is_the_plain_one() -> None:
    assert type(make_bot(Settings())) is CivicBot
    sharded = make_bot(Settings(discord_shards=ShardPlan(ids=(0, 1), count=4)))
    assert isinstance(sharded, ShardedCivicBot) and isinstance(sharded, discord.AutoShardedClient)
    assert sharded.shard_ids == [0, 1] and sharded.shard_count == 4


# ------------------------------------------------------------------------------ the stand-in


def test_guild_ids_land_on_the_asked_shard() -> None:
    from tests.standin.models import SnowflakeFactory

    make = SnowflakeFactory()
    ids = [make.on_shard(k % 4, 4) for k in range(12)]
    assert [shard_of(g, 4) for g in ids] == [k % 4 for k in range(12)]
    assert ids == sorted(ids) and make() > ids[-1]  # still strictly increasing


async def _identify(standin: DiscordStandIn, shard: Any) -> int | None:
    """One raw IDENTIFY with `shard`; the close code, or None if the stand-in sent READY."""
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{standin.gateway_url}?v=10&encoding=json") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["op"] == 10
        await ws.send_json({"op": 2, "d": {"token": standin.token, "intents": 1, "shard": shard,
                                           "properties": {"os": "linux", "browser": "t", "device": "t"}}})
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return None if json.loads(msg.data)["t"] == "READY" else -1
        return ws.close_code


async def test_standin_refuses_an_invalid_shard_with_4010() -> None:
    require_openapi()
    async with DiscordStandIn() as standin:
        assert await _identify(standin, [4, 4]) == 4010
        assert await _identify(standin, [0, 0]) == 4010
        assert await _identify(standin, "0,1") == 4010
        assert await _identify(standin, [3, 4]) is None
        assert await _identify(standin, None) is None  # no shard: [0, 1]


# ------------------------------------------------------------------------------ the sharded bot


def _story(n: int) -> Story:
    return Story(
        id=n, title=f"ICE agents detain {n} workers in Pilsen", url=f"https://news.example/{n}", source="WBEZ",
        outlets=("WBEZ",), published=datetime(2026, 11, 25, 12, 0, tzinfo=UTC), topics=("immigration-enforcement",),
        cities=("chicago-il",), summary="Agents came at dawn.", why=(),
    )  # fmt: skip


@pytest.fixture
async def sharded(tmp_path: Path) -> AsyncIterator[tuple[DiscordStandIn, ShardedCivicBot, dict[int, Any]]]:
    """A bot holding shard 1 of Discord's recommended 2 (`--shard-ids 1 --shard-count auto`)
    against a stand-in with one guild on each shard."""
    require_openapi()
    store = await Store.open(tmp_path / "bot.sqlite3")
    try:
        async with DiscordStandIn(recommended_shards=2, heartbeat_interval=1.0) as standin:
            guilds = {k: standin.add_guild(f"Shard {k}", channels=["alerts", "other"], shard=(k, 2)) for k in (0, 1)}
            settings = Settings(db_path=tmp_path / "bot.sqlite3", discord_token=standin.token,
                                discord_api_base=standin.api_base,
                                discord_shards=ShardPlan(ids=(1,), count=None))  # fmt: skip
            app = CogApp(settings=settings, store=store, classifier=load_classifier())

            def factory() -> Any:
                return make_bot(settings, app=app, open_resources=False)

            async with connected_client(standin, client_factory=factory) as bot:
                yield standin, bot, guilds
    finally:
        await store.close()


async def test_auto_count_comes_from_gateway_bot_and_only_own_guilds_are_cached(
    sharded: tuple[DiscordStandIn, ShardedCivicBot, dict[int, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    standin, bot, guilds = sharded
    # part of the shards on SQLite: nobody else can hold the rest; said once, at start
    warned = [r.getMessage() for r in caplog.get_records("setup") if r.levelname == "WARNING"]
    assert any(m.startswith("shards 1 of 2 on a SQLite database") for m in warned), warned
    assert bot.shard_count == 2 and bot.shard_ids == [1]
    assert [i["shard"] for i in standin.gateway.identifies] == [[1, 2]]
    assert {g.id for g in bot.guilds} == {guilds[1].id}
    assert bot.owns_guild(guilds[1].id) and not bot.owns_guild(guilds[0].id)
    assert bot.gateway_label() == "shards 1 of 2"
    # guild events of the other shard never reach this process; its own shard's do
    standin.delete_channel(guilds[0].channel("other"))
    standin.delete_channel(guilds[1].channel("other"))
    deletes = [(g, shard) for event, g, shard in standin.gateway.routed if event == "CHANNEL_DELETE"]
    assert deletes == [(guilds[1].id, (1, 2))]
    standin.assert_clean()


async def test_alerts_reach_a_guild_on_another_shard_over_rest(
    sharded: tuple[DiscordStandIn, ShardedCivicBot, dict[int, Any]],
) -> None:
    standin, bot, guilds = sharded
    foreign = guilds[0]
    channel_id = foreign.channel("alerts")
    assert bot.get_channel(channel_id) is None  # not connected to that shard
    dest = destination(foreign.id, channel_id)
    for n in (1, 2, 3):
        alert = Alert(delivery_id=n, destination_id=1, destination=dest, story=_story(n))
        await bot.sink.send(dest, [alert], f"key{n}")
    posted = standin.messages(channel_id)
    assert [m["embeds"][0]["title"] for m in posted] == [f"ICE agents detain {n} workers in Pilsen" for n in (1, 2, 3)]
    # one lookup of the foreign channel, not one per alert (each would spend the shared budget)
    assert len(standin.requests_to("GET", rf"^/channels/{channel_id}$")) == 1
    # a channel of the own shard comes from the gateway cache: no lookup at all
    own = guilds[1].channel("alerts")
    own_dest = destination(guilds[1].id, own)
    await bot.sink.send(own_dest, [Alert(delivery_id=9, destination_id=2, destination=own_dest, story=_story(9))], "k9")
    assert standin.requests_to("GET", rf"^/channels/{own}$") == []
    standin.assert_clean()


async def test_shard_ids_beyond_the_recommended_count_stop_with_one_line(tmp_path: Path) -> None:
    require_openapi()
    async with DiscordStandIn(recommended_shards=2) as standin:
        settings = Settings(db_path=tmp_path / "x.sqlite3", discord_token=standin.token,
                            discord_api_base=standin.api_base, discord_shards=ShardPlan(ids=(0, 2), count=None))
        bot = make_bot(settings, open_resources=False)
        with standin.patch_discord(), pytest.raises(ConfigError) as info:
            try:
                await asyncio.wait_for(bot.login(standin.token), 10)
            finally:
                await bot.close()
        assert info.value.user_message == (
            "shard 2 does not exist: Discord recommends 2 shards (ids 0 to 1); set --shard-count to run more"
        )
        assert standin.gateway.identifies == []
