"""Discord-side drill 4: SIGKILL the real bot (`python -m bot run` against the Discord stand-in)
at random moments while it polls and delivers, restart it, repeat; then a clean run.

A subscribed channel (#alerts ← Chicago) and a loopback feed that publishes new matching items
every round (the feed keeps every item so far, so an item a killed poll never saw is still
there for the next). Each round makes the feed due, starts the bot if it is down and kills the
whole process group in one of four ways (each used equally often, in a seeded order):

- startup:   at a random moment 0–1.5 s after the process starts (login, gateway, first poll);
- random:    at a random moment 0–2 s after it is READY (poll, save, delivery);
- held-post: the stand-in holds the next alert POST for 0.3–1 s (a delay-only fault) and the
             bot is killed while it waits — the message is created after the bot died, so the
             outbox row stays 'sending' with the alert already in the channel;
- after-post: within 10 ms after the stand-in answered an alert POST (between Discord's 200 and
             mark_sent).

On every start `DeliveryWorker.reconcile()` must settle 'sending' rows from the channel itself
(the stand-in, like Discord, omits `nonce` from reads, so only the "story #<id>" footers in the
history can tell). At the end: every (story, channel) alert in #alerts exactly once, every outbox
row 'sent', `PRAGMA integrity_check` ok, no invalid request, and no secret in the bot's output.

Rounds: CIVIC_ALERTS_DISCORD_CRASH_DRILLS (default 8 in CI; 30+ for the full drill).
Seed: CIVIC_ALERTS_DISCORD_CRASH_SEED (printed) replays a sequence.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.faults.discord_helpers import (
    ProcessWorld,
    answer,
    discord_env,
    discord_like_token,
    drill_items,
    eventually,
    find_secrets,
    secrets_issued,
)
from tests.faults.harness import BotProcess, write_feeds_file

ROUNDS = int(os.environ.get("CIVIC_ALERTS_DISCORD_CRASH_DRILLS", "8"))
ITEMS_PER_ROUND = 12
MODES = ("startup", "random", "held-post", "after-post")


def posted_unrecorded(pw: ProcessWorld) -> set[int]:
    """Stories whose alert stands in the channel while their outbox row is not 'sent' (the
    crash window between Discord's 200 and mark_sent)."""
    status = dict(pw.query("SELECT story_id, status FROM deliveries"))
    return {sid for sid in pw.story_ids("alerts") if status.get(sid) != "sent"}


# The quick run kills once; the full drill (CIVIC_ALERTS_DISCORD_CRASH_DRILLS, default 8) is `slow`.
@pytest.mark.parametrize(
    "rounds", [pytest.param(1, id="1-kill"), pytest.param(ROUNDS, id="drill", marks=pytest.mark.slow)]
)
async def test_sigkill_during_polling_and_delivery_loses_and_doubles_nothing(tmp_path: Path, rounds: int) -> None:
    from tests.feedserver import FeedServer
    from tests.standin import DiscordStandIn
    from tests.standin.fixtures import require_openapi

    require_openapi()
    seed = int(os.environ.get("CIVIC_ALERTS_DISCORD_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    print(f"\ndiscord crash drill: seed {seed}, {rounds} rounds")
    modes: Counter[str] = Counter()
    unrecorded_after_kill: set[int] = set()
    items: list[dict[str, Any]] = []
    async with DiscordStandIn(token=discord_like_token(), heartbeat_interval=2.0) as standin, \
            FeedServer() as feeds:  # fmt: skip
        guild = standin.add_guild("Organizers", channels=["general", "alerts"])
        channels = {ch.name: int(cid) for cid, ch in guild.channels.items()}
        alerts = channels["alerts"]
        feed_url = feeds.set_feed("/dyn/crash.xml", title="Crash desk", items=[])
        feeds_file = write_feeds_file(tmp_path / "feeds.toml", [{"url": feed_url, "name": "Crash desk",
                                                                 "city": "chicago-il", "interval": 30}])
        bot = BotProcess(discord_env(standin, tmp_path, feeds_file, int(guild.id)), tmp_path / "bot")
        pw = ProcessWorld(standin, feeds, bot, guild, channels, tmp_path, tmp_path / "bot.sqlite3")
        context = f"seed {seed}"
        with bot:
            bot.start()
            await pw.ready(1)
            a = await answer(await pw.slash("alerts", "subscribe", {"city": "chicago-il"}), timeout=15)
            assert "will get alerts" in a.text, a.text
            # the first (empty) poll must be recorded before round 0 makes the feed due again
            await eventually(lambda: pw.query("SELECT count(*) FROM feeds WHERE last_checked IS NOT NULL")[0][0],
                             30, "the first poll", pw.log_tail)

            # every kind of kill, evenly, in a seeded order
            plan = [MODES[i % len(MODES)] for i in range(rounds)]
            rng.shuffle(plan)
            for round_no, mode in enumerate(plan):
                items += drill_items("Chicago", f"crash{round_no}", round_no * 100, ITEMS_PER_ROUND)
                feeds.set_feed("/dyn/crash.xml", title="Crash desk", items=items)
                pw.execute("UPDATE feeds SET next_check = NULL")
                modes[mode] += 1
                identifies = len(standin.gateway.identifies)
                if not bot.running:
                    bot.start()
                    identifies += 1
                if mode == "startup":
                    await asyncio.sleep(rng.uniform(0, 1.5))
                else:
                    await pw.ready(identifies)
                    if mode == "random":
                        await asyncio.sleep(rng.uniform(0, 2.0))
                    elif mode == "held-post":
                        delay = rng.uniform(0.3, 1.0)
                        rule = standin.faults.fail_next("POST", rf"/channels/{alerts}/messages$", 200, delay=delay)
                        await eventually(lambda r=rule: r.hits or not bot.running, 20, "an alert POST", pw.log_tail)
                        await asyncio.sleep(rng.uniform(0, 0.2))
                    else:  # after-post
                        ok = len([r for r in standin.requests_to("POST", rf"/channels/{alerts}/messages$")
                                  if r.status == 200])

                        def answered(before: int = ok) -> bool:
                            posts = standin.requests_to("POST", rf"/channels/{alerts}/messages$")
                            return sum(1 for r in posts if r.status == 200) > before or not bot.running

                        await eventually(answered, 20, "an answered alert POST", pw.log_tail)
                        await asyncio.sleep(rng.uniform(0, 0.01))
                assert bot.running, f"{context}: the bot exited by itself in round {round_no}:\n{pw.log_tail()}"
                bot.kill()
                # a held POST completes now, after the kill: wait until the stand-in answered it
                await eventually(lambda: standin.in_flight == 0, 10, "held requests to be answered", pw.log_tail)
                standin.faults.clear()
                unrecorded_after_kill |= posted_unrecorded(pw)

            # the final, clean run: new items, then until everything is delivered
            items += drill_items("Chicago", "final", 100_000, ITEMS_PER_ROUND)
            feeds.set_feed("/dyn/crash.xml", title="Crash desk", items=items)
            pw.execute("UPDATE feeds SET next_check = NULL")
            identifies = len(standin.gateway.identifies)
            bot.start()
            await pw.ready(identifies + 1)

            def settled() -> bool:
                stored = pw.query("SELECT count(*) FROM articles")[0][0]
                # the outbox is idle (store.queue_depth() == 0): nothing left to post or edit, and
                # no request of the bot's still on its way: no later message can appear
                queued = pw.query("SELECT count(*) FROM deliveries WHERE status <> 'sent' OR edit_pending = 1")[0][0]
                return (stored == len(items) and queued == 0 and standin.in_flight == 0
                        and len(pw.story_ids("alerts")) >= len(items))

            await eventually(settled, 120, f"{context}: everything delivered", pw.log_tail)
            # the bot still answers after all this
            a = await answer(await pw.slash("general", "subscriptions"), timeout=15)
            assert "Chicago" in a.text, a.text
            assert await bot.stop() == 0, pw.log_tail()

        context = f"seed {seed}, {rounds} kills {dict(modes)}"
        assert pw.query("PRAGMA integrity_check") == [("ok",)], context
        guids = Counter(g for (g,) in pw.query("SELECT guid FROM articles"))
        assert set(guids) == {item["guid"] for item in items} and max(guids.values()) == 1, context
        stories = {sid for (sid,) in pw.query("SELECT id FROM stories")}
        assert len(stories) == len(items), f"{context}: {len(stories)} stories for {len(items)} items"
        rows = pw.query("SELECT d.story_id, dest.address, d.status FROM deliveries d "
                        "JOIN destinations dest ON dest.id = d.destination_id")
        assert Counter((s, c) for s, c, _ in rows).most_common(1)[0][1] == 1, f"{context}: an outbox row twice"
        assert {c for _, c, _ in rows} == {str(alerts)} and {st for *_, st in rows} == {"sent"}, context
        posted = Counter(pw.story_ids("alerts"))
        lost = stories - set(posted)
        doubled = {sid: n for sid, n in posted.items() if n > 1}
        assert not lost, f"{context}: {len(lost)} alerts never posted"
        assert not doubled, f"{context}: alerts posted twice: {doubled}"
        assert set(posted) == stories, context
        assert standin.violations == [], [str(v)[:300] for v in standin.violations]
        assert standin.errors == [], standin.errors
        if modes["held-post"]:
            # the hard case really happened: alerts stood in the channel that the dead bot never recorded
            assert unrecorded_after_kill, f"{context}: no kill landed between a POST and mark_sent"
        leaks = find_secrets({"stdout": bot.stdout(), "stderr": bot.stderr()}, secrets_issued(standin))
        assert leaks == [], leaks
        print(f"discord crash drill: {context}; {bot.starts} starts, {len(items)} alerts, "
              f"{len(unrecorded_after_kill)} posted-but-unrecorded after kills (settled by reconcile), lost 0, doubled 0, "
              f"violations 0 ({time.strftime('%H:%M:%S')})")
