"""Crash drill against a real Synapse: SIGKILL the real `civic-alerts run` mid-delivery, start
it again, count the alert events in the room. Goal: 0 lost, 0 doubled.

The bot talks to Synapse through tests/matrix_standin/proxy.py, which holds the answer of an
alert send for a few seconds after Synapse stored the event: each kill lands in that window
(stored in the room, never recorded as sent — the hard case), so the restart must settle the
row through the same transaction id or the room's history, never post it again. 3 kills
always; CIVIC_ALERTS_MATRIX_KILLS=30 for the long drill.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.matrix.conftest import POLL_WAIT, World, alert_items, db_rows, make_world
from tests.matrix_standin.proxy import HoldingProxy
from tests.matrix_standin.synapse import Synapse, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

KILLS = int(os.environ.get("CIVIC_ALERTS_MATRIX_KILLS", "3"))
N = max(8, KILLS + 5)
HOLD = 3.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def proxy(synapse: Synapse) -> AsyncIterator[HoldingProxy]:
    p = HoldingProxy(synapse.base)
    await p.start()
    try:
        yield p
    finally:
        await p.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    synapse: Synapse, proxy: HoldingProxy, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    w = await make_world(synapse, tmp_path_factory.mktemp("matrix-crash"), "crash", homeserver=proxy.base)
    try:
        yield w
    finally:
        await w.bot.stop()
        await w.feeds.close()


async def test_sigkill_mid_delivery_loses_and_doubles_nothing(world: World, proxy: HoldingProxy) -> None:
    room = await world.room("crash")
    assert "Subscription #" in await world.command(room, "!alerts subscribe Houston, TX threads=on")
    url = world.feeds.set_feed("/dyn/crash.xml", title="Houston Desk", items=[])
    assert "Added" in await world.command(room, f"!alerts feeds add {url}")
    proxy.hold = HOLD
    world.feeds.set_feed("/dyn/crash.xml", title="Houston Desk", items=alert_items("Houston", N, "crash"))

    in_window = 0
    for kill in range(KILLS):
        async def held(before: int = proxy.held) -> bool:
            return proxy.held > before

        await wait_for(held, f"an alert send held before kill {kill + 1}", POLL_WAIT + 30, every=0.05)
        world.bot.kill()
        assert await world.bot.wait_exit(20) is not None
        in_window += int(db_rows(world, "SELECT count(*) FROM deliveries WHERE status = 'sending'")[0][0])
        await world.bot.start()
    proxy.hold = 0.0
    assert in_window >= KILLS, "the kills missed the send→record window"

    async def all_in() -> list[int] | None:
        ids = await world.alert_story_ids(room)
        return ids if len(set(ids)) >= N else None

    await wait_for(all_in, f"all {N} alerts after {KILLS} kills", POLL_WAIT + N * 3)

    async def settled() -> bool:
        rows = db_rows(world, "SELECT count(*) FROM deliveries WHERE status != 'sent'")
        return int(rows[0][0]) == 0

    await wait_for(settled, "the outbox to settle", 60)
    ids = await world.alert_story_ids(room)
    lost = N - len(set(ids))
    doubled = len(ids) - len(set(ids))
    print(f"matrix crash drill: {KILLS} kills, {N} alerts, {in_window} rows caught in 'sending', "
          f"lost {lost}, doubled {doubled}")
    assert lost == 0 and doubled == 0, ids
    assert world.bot_user.token not in world.log_text()
