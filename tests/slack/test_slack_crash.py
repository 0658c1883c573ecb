"""SIGKILL drill: the real `python -m bot run` (Slack) killed again and again mid-delivery.

Slack has no idempotency key, so exactly-once rests on reconcile: every alert carries message
metadata with its story ids, and after a restart `DeliveryWorker.reconcile()` reads the
channel's history and settles the rows left in `sending` instead of posting them again.

Two kinds of kill, alternating: "held-post" — the stand-in holds chat.postMessage's answer
after the message already stands in the channel, and the bot dies inside that send→record
window (the case that doubles without reconcile); "random" — a kill at a random moment while
items are being polled and delivered. Counted at the end: lost (a story in the outbox never
posted) and doubled (a story posted twice). Goal and assertion: 0 and 0.

Kills: CIVIC_ALERTS_SLACK_CRASH_DRILLS (default 3, for CI; 30 for the full drill, as the Discord
drill is scaled); CIVIC_ALERTS_SLACK_CRASH_SEED replays a sequence.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from tests.faults.harness import BotProcess
from tests.feedserver import FeedServer
from tests.slack.world import CITY, World, items, slack_env, write_feeds
from tests.slack_standin import SlackStandIn

ITEMS_PER_ROUND = 6


async def drill(tmp: Path, shared_dir: Path, rounds: int) -> dict[str, int]:
    if not (shared_dir / "slack-openapi" / "slack_web_openapi_v2.json").exists():
        pytest.skip("../shared/slack-openapi is absent")
    seed = int(os.environ.get("CIVIC_ALERTS_SLACK_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    print(f"\nslack crash drill: seed {seed}, {rounds} kills")
    modes: Counter[str] = Counter()
    window_hits = 0
    async with SlackStandIn() as standin, FeedServer() as feeds:
        url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
        with BotProcess(slack_env(standin, tmp, write_feeds(tmp / "feeds.toml", url)), tmp) as bot:
            bot.start()
            w = World(standin, feeds, bot, tmp, [])
            await w.ready(1)
            channel = standin.add_channel("alerts")
            assert "now gets alerts" in await w.civic(channel, f"subscribe {CITY}")
            # publish only after the first cycle recorded its fetch of the empty feed: that
            # record would overwrite poll_now's "due now" and the items would wait out the 30 s
            # interval (most of this test's time before)
            await w.eventually(lambda: w.query("SELECT 1 FROM feeds WHERE url = ? AND last_checked IS NOT NULL", (url,)),
                               60, "the first poll of the feed")
            for round_no in range(rounds):
                mode = "held-post" if round_no % 2 == 0 else "random"
                modes[mode] += 1
                if not bot.running:
                    bot.start()
                    await w.ready(standin.connections + 1)
                standin.hold_posts = 5.0 if mode == "held-post" else 0.0
                w.publish(items(f"crash{round_no}", round_no * 100, ITEMS_PER_ROUND))
                if mode == "held-post":
                    await w.eventually(lambda: standin.posts_held > 0, 60, "an alert post held by the stand-in")
                    await asyncio.sleep(rng.uniform(0, 0.5))
                    window_hits += 1
                else:
                    await asyncio.sleep(rng.uniform(0.2, 2.5))
                bot.kill()
                standin.hold_posts = 0.0
            bot.start()
            await w.ready(standin.connections + 1)
            w.poll_now()

            def expected() -> set[int]:
                rows = w.query("SELECT story_id FROM deliveries d JOIN destinations t ON t.id = d.destination_id "
                               "WHERE t.address = ?", (channel.id,))
                return {int(r[0]) for r in rows}  # type: ignore[call-overload]

            def settled() -> bool:
                pending = w.query("SELECT count(*) FROM deliveries WHERE status <> 'sent'")[0][0]
                return len(expected()) >= rounds * ITEMS_PER_ROUND and pending == 0 \
                    and set(w.story_counts(channel)) >= expected()

            await w.eventually(settled, 120, "every alert delivered after the last restart")
            counts = w.story_counts(channel)
            lost = len(expected() - set(counts))
            doubled = sum(n - 1 for n in counts.values() if n > 1)
            result = {"kills": bot.kills, "stories": len(expected()), "lost": lost, "doubled": doubled,
                      "killed_in_send_record_window": window_hits}
            print(f"slack crash drill: {result} modes={dict(modes)}")
            w.assert_clean()
            return result


@pytest.mark.parametrize(
    "kills",
    [pytest.param(1, id="1-kill"),
     pytest.param(int(os.environ.get("CIVIC_ALERTS_SLACK_CRASH_DRILLS", "3")), id="drill", marks=pytest.mark.slow)],
)
async def test_sigkill_during_delivery_loses_and_doubles_nothing(tmp_path: Path, shared_dir: Path, kills: int) -> None:
    result = await drill(tmp_path, shared_dir, kills)
    assert result["lost"] == 0 and result["doubled"] == 0, result

