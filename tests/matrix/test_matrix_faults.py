"""Faults against a real Synapse: the sink's reading of real error answers, lost power (paused,
then resumed when restored), the bot kicked (the room's subscriptions end)."""

from __future__ import annotations

import secrets

import pytest

from bot.adapters.matrix.client import MatrixClient
from bot.adapters.matrix.sink import MatrixSink
from bot.errors import ChannelGoneError, ForbiddenDeliveryError, RateLimitedError
from bot.models import Destination
from tests.matrix.conftest import POLL_WAIT, World, alert_items, db_rows
from tests.matrix_standin.synapse import Synapse, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


async def test_sink_reads_real_synapse_errors(synapse: Synapse) -> None:
    """The same txn id is the same event; M_LIMIT_EXCEEDED carries retry_after_ms; a room the
    bot is not in is gone; a room where it lacks power is forbidden (paused, not gone)."""
    owner = await synapse.register(f"owner{secrets.token_hex(3)}", "owner-pass-1", admin=True)
    bot = await synapse.register(f"sinkbot{secrets.token_hex(3)}", "sinkbot-pass-1")
    room = await owner.create_room("sink", [bot.user_id])
    client = MatrixClient(synapse.base, bot.user_id, bot.token)
    await client.open()
    try:
        await client.join(room)
        sink = MatrixSink(client)
        dest = Destination("matrix", room, room)
        content = {"msgtype": "m.notice", "body": "hello · story #1"}
        first = await client.send(room, content, txn_id="ca-same-key")
        again = await client.send(room, content, txn_id="ca-same-key")
        assert first == again
        assert await sink.find_sent(dest, [1, 2]) == {1: first}

        await owner.override_ratelimit(bot.user_id, 1, 1)
        with pytest.raises(RateLimitedError) as limited:
            for i in range(10):
                try:
                    await client.send(room, content, txn_id=f"ca-burst-{i}")
                except Exception as exc:
                    raise await sink.translate(exc, room, "send") from None
        assert 0 < limited.value.retry_after <= 5
        await owner.override_ratelimit(bot.user_id, 0, 0)  # 0/0: no limit for this user

        levels = await owner.power_levels(room)
        levels["events"] = {**levels.get("events", {}), "m.room.message": 50}
        await owner.set_power_levels(room, levels)
        with pytest.raises(ForbiddenDeliveryError):
            try:
                await client.send(room, content, txn_id="ca-forbidden")
            except Exception as exc:
                raise await sink.translate(exc, room, "send") from None

        await owner.kick(room, bot.user_id)
        with pytest.raises(ChannelGoneError):
            try:
                await client.send(room, content, txn_id="ca-gone")
            except Exception as exc:
                raise await sink.translate(exc, room, "send") from None
    finally:
        await client.close()


async def test_lost_power_pauses_then_resumes_when_restored(world: World) -> None:
    room = await world.room("perm")
    assert "Subscription #" in await world.command(room, "!alerts subscribe Denver, CO")
    url = world.feeds.set_feed("/dyn/perm.xml", title="Denver Desk", items=[])
    assert "Added" in await world.command(room, f"!alerts feeds add {url}")

    levels = await world.person.power_levels(room)
    restricted = {**levels, "events": {**levels.get("events", {}), "m.room.message": 50}}
    await world.person.set_power_levels(room, restricted)
    world.feeds.set_feed("/dyn/perm.xml", title="Denver Desk", items=alert_items("Denver", 2, "perm"))

    async def paused() -> bool:
        rows = db_rows(world, "SELECT paused FROM destinations WHERE address = ?", room)
        return bool(rows and rows[0][0])

    await wait_for(paused, "the room to be paused after M_FORBIDDEN", POLL_WAIT)
    assert await world.alert_story_ids(room) == []

    await world.person.set_power_levels(room, levels)  # the bot may post again
    ids = await wait_for(
        lambda: _at_least(world, room, 2), "the held alerts after the power came back", POLL_WAIT
    )
    assert len(ids) == 2 and len(set(ids)) == 2, ids
    assert not (await paused())
    assert "alerts paused" in world.log_text()


async def _at_least(world: World, room: str, n: int) -> list[int] | None:
    ids = await world.alert_story_ids(room)
    return ids if len(ids) >= n else None


async def test_kicked_bot_ends_the_rooms_subscriptions(world: World) -> None:
    room = await world.room("doomed")
    assert "Subscription #" in await world.command(room, "!alerts subscribe Houston, TX")

    def subscriptions() -> int:
        return int(db_rows(
            world,
            "SELECT count(*) FROM subscriptions s JOIN destinations d ON d.id = s.destination_id "
            "WHERE d.address = ?",
            room,
        )[0][0])

    assert subscriptions() == 1
    await world.person.kick(room, world.bot_user.user_id)

    async def ended() -> bool:
        return subscriptions() == 0

    await wait_for(ended, "the kicked room's subscriptions to end", 60)
    out = world.log_text()
    assert world.bot_user.token not in out
