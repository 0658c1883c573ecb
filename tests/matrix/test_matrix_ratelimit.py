"""A rate-limit storm against a real Synapse: the bot's own rc_message is cut to 1 message a
second with a burst of 1 (the admin API's per-user override, on this module's bot only) while
10 alerts go out one per message (the threads rule). Every alert arrives exactly once, and the
homeserver's 429s stay few: each M_LIMIT_EXCEEDED is waited out for its retry_after_ms before
the same batch is tried again, instead of hammering the homeserver."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.matrix.conftest import POLL_WAIT, World, alert_items
from tests.matrix_standin.synapse import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

N = 10


async def test_rate_limit_storm_delivers_every_alert_once(world: World) -> None:
    room = await world.room("storm")
    reply = await world.command(room, "!alerts subscribe Denver, CO threads=on")
    assert "threads" in reply.lower(), reply
    url = world.feeds.set_feed("/dyn/storm.xml", title="Denver Desk", items=[])
    assert "Added" in await world.command(room, f"!alerts feeds add {url}")

    await world.person.override_ratelimit(world.bot_user.user_id, 1, 1)
    world.feeds.set_feed("/dyn/storm.xml", title="Denver Desk", items=alert_items("Denver", N, "storm"))

    async def all_in() -> list[int] | None:
        ids = await world.alert_story_ids(room)
        return ids if len(ids) >= N else None

    await wait_for(all_in, f"{N} alerts through the rate limit", POLL_WAIT + 60)
    ids = await world.alert_story_ids(room)
    assert len(ids) == N and len(set(ids)) == N, ids

    access = (world.synapse.directory / "synapse.out").read_text(errors="replace")
    who = re.escape("{" + world.bot_user.user_id + "}")
    lines = re.findall(
        r"^(\S+ \S+) - .*?" + who + r' Processed request: .*? (\d{3}) "PUT /_matrix/client/v3/rooms/[^ ]*/send/',
        access,
        re.M,
    )
    sends = [(datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f"), status) for t, status in lines]
    limited = [i for i, (_, status) in enumerate(sends) if status == "429"]
    assert limited, "the storm never hit an alert send"
    # every 429 was read (retry_after_ms) and waited out before the next try
    waits = [float(w) for w in re.findall(r"waiting ([\d.]+) s as the homeserver asked", world.log_text())]
    assert len(waits) == len(limited), (waits, sends)
    for wait, i in zip(waits, limited, strict=True):
        assert i + 1 < len(sends), "a refused alert was never tried again"
        gap = (sends[i + 1][0] - sends[i][0]).total_seconds()
        assert gap >= wait - 0.01, (gap, wait)
    print(f"rate-limit storm: {N} alerts, {len(sends)} sends, {len(limited)} answered 429, 0 lost, 0 doubled")
