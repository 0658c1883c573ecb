"""Delivery faults against the real bot process: a 429 storm (retry_after honoured, nothing
lost or doubled), lost rights (paused, kept) and their return (resumed, delivered once), and
the ways a chat goes away (blocked by the user, kicked, chat not found, the bot removed) ending
the subscription. Every failure is one log line; no token anywhere in the output."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

from tests.faults.harness import BotProcess, write_feeds_file
from tests.feedserver import FeedServer
from tests.telegram.helpers import (
    ADMIN_ID,
    bot_token,
    eventually,
    items,
    query,
    require_spec,
    telegram_env,
)
from tests.telegram_standin import Chat, TelegramStandIn

STORM, RIGHTS, KICKED, GONE, LEFT = (-100111, -100222, -100333, -100444, -100555)
OLD_GROUP, SUPERGROUP = -4001, -1004001  # a basic group that is upgraded to a supergroup
BLOCKED = 5550123  # a private chat whose user blocked the bot
N_ITEMS = 6
RATE_LIMITED = 5
# Every wait is for a condition; this is only its deadline, generous because the machine may be
# busy (the 30 s deadlines this test had for seven subscriptions through the real process with
# coverage feeds made on the first one, and for the outbox to drain, flaked under load).
WAIT = 120.0


def subscribed(db: Path) -> set[int]:
    rows = query(db, "SELECT dest.grp FROM subscriptions s JOIN destinations dest ON dest.id = s.destination_id")
    return {int(g) for (g,) in rows}


async def test_rate_limits_rights_and_gone_chats(tmp_path: Path) -> None:
    require_spec()
    async with TelegramStandIn(bot_token()) as tg, FeedServer() as feeds:
        for chat_id in (STORM, RIGHTS, KICKED, GONE, LEFT):
            tg.add_chat(Chat(chat_id, title=f"chat {chat_id}", admins={ADMIN_ID}))
        tg.add_chat(Chat(BLOCKED, type="private"))
        tg.add_chat(Chat(OLD_GROUP, type="group", title="upgraded", admins={ADMIN_ID}))
        url = feeds.set_feed("/dyn/f.xml", title="Chicago Desk", items=[])
        feeds_file = write_feeds_file(tmp_path / "feeds.toml", [{"url": url, "name": "Chicago Desk",
                                                                 "city": "chicago-il", "interval": 30}])
        db = tmp_path / "bot.sqlite3"
        with BotProcess(telegram_env(tg, tmp_path, feeds_file), tmp_path / "bot") as bot:
            bot.start()
            await eventually(lambda: len(tg.commands) == 3, WAIT, "the bot to start", bot.stderr)
            for chat_id in (STORM, RIGHTS, KICKED, GONE, LEFT):
                tg.command(chat_id, ADMIN_ID, "/subscribe Chicago")
            tg.command(BLOCKED, BLOCKED, "/subscribe Chicago")
            tg.command(OLD_GROUP, ADMIN_ID, "/subscribe Chicago include=ICE")
            everyone = {STORM, RIGHTS, KICKED, GONE, LEFT, BLOCKED, OLD_GROUP}
            await eventually(lambda: subscribed(db) == everyone, WAIT, "seven subscriptions", bot.stderr)
            # The subscription row is written before the command's answer is sent: on a busy
            # machine an answer still in flight would meet the faults below (a 429 meant for
            # the alerts, with no retry on the answer's path, then an alert to that chat less
            # than retry_after later: a false "early retry"). Wait for every answer first.
            await eventually(lambda: all(tg.messages(c, any_thread=True) for c in everyone), WAIT,
                             "every /subscribe answered", bot.stderr)
            await eventually(lambda: query(db, "SELECT count(*) FROM feeds WHERE last_checked IS NOT NULL")[0][0],
                             WAIT, "the first poll", bot.stderr)

            # the faults: Telegram's own answers for each case
            tg.chats[RIGHTS].bot_status = "restricted"  # "not enough rights to send text messages"
            tg.chats[KICKED].bot_status = "kicked"  # "bot was kicked from the supergroup chat"
            tg.chats[BLOCKED].bot_status = "kicked"  # "bot was blocked by the user"
            tg.chats[GONE].bot_status = "gone"  # "chat not found"
            tg.member_update(LEFT, "member", "left")  # the bot was removed: told by my_chat_member
            await eventually(lambda: LEFT not in subscribed(db), WAIT, "the removed chat's subscription to end", bot.stderr)
            tg.migrate(OLD_GROUP, SUPERGROUP)  # the subscription (and its rules) moves to the new id
            await eventually(lambda: OLD_GROUP not in subscribed(db) and SUPERGROUP in subscribed(db), WAIT,
                             "the subscription to follow the upgrade", bot.stderr)
            rules = query(db, "SELECT s.rules FROM subscriptions s JOIN destinations d ON d.id = s.destination_id "
                              "WHERE d.grp = ?", str(SUPERGROUP))
            assert "ICE" in str(rules), rules
            tg.retry_after = 1
            tg.rate_limit_next = RATE_LIMITED
            feeds.set_feed("/dyn/f.xml", title="Chicago Desk", items=items("Chicago", "storm", 0, N_ITEMS))
            _force_poll(db)

            def stories() -> int:
                return int(query(db, "SELECT count(*) FROM stories")[0][0])

            await eventually(stories, WAIT, "the stories", bot.stderr)

            def storm_done() -> bool:
                return len(set(tg.story_ids(STORM))) == stories()

            await eventually(storm_done, WAIT, "every alert in the storm chat", bot.stderr)
            await eventually(lambda: subscribed(db) == {STORM, RIGHTS, SUPERGROUP}, WAIT, "gone chats to end", bot.stderr)
            await eventually(lambda: query(db, "SELECT paused FROM destinations WHERE grp = ?", str(RIGHTS)) == [(1,)],
                             WAIT, "the chat without rights to be paused", bot.stderr)
            assert tg.rate_limited == RATE_LIMITED
            assert tg.early_retries() == []  # retry_after honoured, per chat
            assert tg.messages(RIGHTS) == [] or all("story #" not in p.plain for p in tg.messages(RIGHTS))

            # rights restored: Telegram says so (my_chat_member) and the held alerts go out, once each
            tg.member_update(RIGHTS, "restricted", "administrator")
            await eventually(lambda: len(set(tg.story_ids(RIGHTS))) == stories(), WAIT, "the held alerts", bot.stderr)
            assert query(db, "SELECT paused FROM destinations WHERE grp = ?", str(RIGHTS)) == [(0,)]
            await eventually(lambda: query(db, "SELECT count(*) FROM deliveries WHERE status <> 'sent'")[0][0] == 0,
                             WAIT, "an idle outbox", bot.stderr)
            total = stories()
            code = await bot.stop(timeout=WAIT)
            assert code == 0, f"exit status {code} after SIGTERM:\n{bot.stderr()[-3000:]}"

        for chat_id in (STORM, RIGHTS, SUPERGROUP):
            counts = Counter(tg.story_ids(chat_id))
            assert len(counts) == total and max(counts.values()) == 1, (chat_id, counts)
        for chat_id in (KICKED, GONE, LEFT, BLOCKED, OLD_GROUP):
            assert tg.story_ids(chat_id) == []
        assert tg.violations == []
        err = bot.stderr()
        assert "Traceback" not in err, err[-3000:]
        paused_lines = [line for line in err.splitlines() if f"telegram chat {RIGHTS} paused" in line]
        assert len(paused_lines) == 1 and "not enough rights" in paused_lines[0]
        probe = tg.token.split(":")[1][:12]
        assert probe not in err and probe not in bot.stdout()


def _force_poll(db: Path) -> None:
    conn = sqlite3.connect(db, timeout=WAIT)
    try:
        conn.execute("UPDATE feeds SET next_check = NULL")
        conn.commit()
    finally:
        conn.close()
