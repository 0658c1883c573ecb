"""End to end: the real `python -m bot run` (only TELEGRAM_BOT_TOKEN set) against the Bot API
stand-in and the loopback feed server. Every call the bot makes is checked against api.json by
the stand-in; each test asserts zero violations and no token in any output."""

from __future__ import annotations

import re
from pathlib import Path

from tests.faults.harness import BotProcess, write_feeds_file
from tests.feedserver import FeedServer
from tests.telegram.helpers import (
    ADMIN_ID,
    FORUM_ID,
    GROUP_ID,
    MEMBER_ID,
    TOPIC_ID,
    bot_token,
    eventually,
    items,
    query,
    require_spec,
    telegram_env,
)
from tests.telegram_standin import Chat, TelegramStandIn
from tests.telegram_standin.server import Posted

PRIVATE_ID = 5550009


def replies(tg: TelegramStandIn, chat_id: int, since: int, thread: int | None = None) -> list[Posted]:
    return [p for p in tg.messages(chat_id, thread_id=thread) if p.message_id > since and "story #" not in p.plain]


async def ask(tg: TelegramStandIn, bot: BotProcess, chat_id: int, user: int, text: str, *,
              thread: int | None = None, anonymous: bool = False) -> str:
    """Send a command as `user` and wait for the bot's answer in the same chat (and topic)."""
    since = tg._message_id
    tg.command(chat_id, user, text, thread_id=thread, anonymous_admin=anonymous)
    got = await eventually(lambda: replies(tg, chat_id, since, thread), 30, f"an answer to {text!r}",
                           bot.stderr)
    return got[0].plain


def no_token_anywhere(tg: TelegramStandIn, bot: BotProcess, db: Path) -> None:
    probe = tg.token.split(":")[1][:12]
    assert probe not in bot.stdout() and probe not in bot.stderr()
    assert tg.token not in db.read_bytes().decode("latin-1")


async def test_subscribe_alert_edit_search_unsubscribe(tmp_path: Path) -> None:
    require_spec()
    async with TelegramStandIn(bot_token()) as tg, FeedServer() as feeds:
        tg.add_chat(Chat(GROUP_ID, admins={ADMIN_ID}))
        tg.add_chat(Chat(FORUM_ID, title="Newsroom", is_forum=True, admins={ADMIN_ID}))
        tg.add_chat(Chat(PRIVATE_ID, type="private"))
        desk = feeds.set_feed("/dyn/desk.xml", title="Chicago Desk", items=[])
        lake = feeds.set_feed("/dyn/lake.xml", title="Lakefront Post", items=[])
        feeds_file = write_feeds_file(tmp_path / "feeds.toml", [
            {"url": desk, "name": "Chicago Desk", "city": "chicago-il", "interval": 30},
            {"url": lake, "name": "Lakefront Post", "city": "chicago-il", "interval": 30},
        ])  # fmt: skip
        db = tmp_path / "bot.sqlite3"
        with BotProcess(telegram_env(tg, tmp_path, feeds_file), tmp_path / "bot") as bot:
            bot.start()
            await eventually(lambda: len(tg.commands) == 3, 60, "setMyCommands for 3 scopes", bot.stderr)
            assert {c["command"] for c in tg.commands["default"]} >= {"search", "latest", "status", "help", "subscriptions"}
            assert {c["command"] for c in tg.commands["all_chat_administrators"]} >= {"subscribe", "unsubscribe", "feeds"}

            # only administrators may subscribe in a group
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/subscribe Chicago")
            assert "Only administrators" in text
            assert not query(db, "SELECT id FROM subscriptions")
            text = await ask(tg, bot, GROUP_ID, ADMIN_ID, f"/subscribe@{'civic_alerts_test_bot'} Chicago, IL include=ICE")
            assert "Subscribed this chat to Chicago" in text, text
            assert "include: ice" in text.casefold()
            # inside a forum topic: the subscription (and its alerts) belong to that topic
            text = await ask(tg, bot, FORUM_ID, ADMIN_ID, "/subscribe Chicago", thread=TOPIC_ID)
            assert "Subscribed this topic" in text, text
            # an anonymous administrator (posting as the group) may too; a private chat owns itself
            text = await ask(tg, bot, PRIVATE_ID, PRIVATE_ID, "/subscribe Chicago threads=on")
            assert "Subscribed this chat" in text and "threads: on" in text, text
            text = await ask(tg, bot, GROUP_ID, 0, "/subscriptions", anonymous=True)
            assert "Chicago" in text and "include: ICE" in text

            # one story → one alert per place, in HTML that survives hostile characters
            await eventually(lambda: query(db, "SELECT count(*) FROM feeds WHERE last_checked IS NOT NULL")[0][0] >= 2,
                             60, "the first polls", bot.stderr)
            first = items("Chicago", "e2e", 0, 1)
            feeds.set_feed("/dyn/desk.xml", title="Chicago Desk", items=first)
            _force_poll(db)

            def alerts(chat: int, thread: int | None = None) -> list[Posted]:
                return [p for p in tg.messages(chat, thread_id=thread) if "story #" in p.plain]

            await eventually(lambda: alerts(GROUP_ID) and alerts(FORUM_ID, TOPIC_ID) and alerts(PRIVATE_ID), 60,
                             "the alert in all three places", bot.stderr)
            alert = alerts(GROUP_ID)[0]
            assert "e2e: 1 < 2 & more 0" in alert.plain and "1 &lt; 2 &amp; more" in alert.text and "1 outlet — unconfirmed" in alert.plain
            assert 'href="https://drill.example/e2e/0?a=1&amp;b=2"' in alert.text
            assert alerts(FORUM_ID) == []  # not in the forum's general topic

            # a second outlet joins the story: the alert is edited, not posted again
            second = [{**first[0], "guid": "lake-0", "link": "https://lakefront.example/0",
                       "title": first[0]["title"].replace("at Chicago", "at a Chicago")}]
            feeds.set_feed("/dyn/lake.xml", title="Lakefront Post", items=second)
            _force_poll(db)
            await eventually(lambda: "Also reported by Lakefront Post" in alert.plain, 60, "the edit", bot.stderr)
            assert alert.edits == 1 and len(alerts(GROUP_ID)) == 1
            # threads=on (the private chat): the update also answers the alert in its reply thread
            threaded = alerts(PRIVATE_ID)[0]
            await eventually(lambda: [p for p in tg.messages(PRIVATE_ID) if p.reply_to == threaded.message_id], 30,
                             "the update as a reply", bot.stderr)
            assert not [p for p in tg.messages(GROUP_ID, any_thread=True) if p.reply_to is not None]
            await eventually(lambda: [c for c, _ in tg.calls].count("editMessageText") == 3, 30,
                             "the edit in all three places", bot.stderr)

            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/search warehouse workers")
            assert "Results for" in text and "ICE agents detain" in text
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/latest Chicago")
            assert "ICE agents detain" in text
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/status")
            assert "Feeds: " in text and "Subscriptions here: 1" in text
            own = feeds.set_feed("/dyn/own.xml", title="Our block club", items=items("Chicago", "own", 50, 2))
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, f"/feeds add {own}")
            assert "Only administrators" in text
            text = await ask(tg, bot, GROUP_ID, ADMIN_ID, f"/feeds add {own}")
            assert "Added" in text and "Our block club" in text, text
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/feeds list")
            assert own in text
            text = await ask(tg, bot, GROUP_ID, ADMIN_ID, f"/feeds remove {own}")
            assert "Feed removed" in text
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/help")
            assert "/subscribe city" in text
            text = await ask(tg, bot, GROUP_ID, MEMBER_ID, "/unsubscribe Chicago")
            assert "Only administrators" in text
            text = await ask(tg, bot, GROUP_ID, ADMIN_ID, "/unsubscribe Chicago")
            assert "Unsubscribed this chat from Chicago" in text
            text = await ask(tg, bot, GROUP_ID, ADMIN_ID, "/subscriptions")
            assert "follows no city" in text
            text = await ask(tg, bot, GROUP_ID, ADMIN_ID, "/subscribe Chicago min_outlets=nine")
            assert "not a whole number" in text
            code = await bot.stop()
            assert code == 0, f"exit status {code} after SIGTERM:\n{bot.stderr()[-3000:]}"
        assert tg.violations == []
        assert "Traceback" not in bot.stderr(), bot.stderr()[-3000:]
        no_token_anywhere(tg, bot, db)


def _force_poll(db: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(db, timeout=10)
    try:
        conn.execute("UPDATE feeds SET next_check = NULL")
        conn.commit()
    finally:
        conn.close()


def test_story_footer_pattern_matches_render() -> None:
    from datetime import UTC, datetime

    from bot import render
    from bot.adapters.telegram import fmt
    from bot.models import Story

    story = Story(id=12, title="A <b> & c", url="https://x.example/?a=1&b=2", source="S", outlets=("S",),
                  published=datetime(2026, 1, 1, tzinfo=UTC), summary="", topics=(), cities=())
    html, visible = fmt.alert_parts(story)
    assert re.search(r"story #12$", visible) and render.STORY_REF_RE.search(visible)
    assert "A &lt;b&gt; &amp; c" in html and "a=1&amp;b=2" in html
