"""Telegram in the subscription's and the reader's language (issue 13).

The sink through the real aiogram client against the Bot API stand-in: a Spanish alert, digest
and reply-thread update in Spanish, an English one in English, an undated story as "fecha
desconocida" / "date unknown". Then the real bot process: `/help` and refusals in the sender's
`language_code`, `/subscribe … lang=es` (default: that language), an unknown language refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from bot.adapters.telegram.sink import TelegramSink, destination
from bot.models import Alert, Story
from tests.faults.harness import BotProcess, write_feeds_file
from tests.feedserver import FeedServer
from tests.telegram.helpers import (
    ADMIN_ID,
    GROUP_ID,
    MEMBER_ID,
    bot_token,
    eventually,
    query,
    require_spec,
    telegram_env,
)
from tests.telegram_standin import Chat, TelegramStandIn
from tests.telegram_standin.server import Posted

SPANISH_CHAT = -1005550000001
ENGLISH_CHAT = -1005550000002
SPANISH_TOPIC = "Control migratorio"


def story(sid: int, *, known: bool = True, outlets: tuple[str, ...] = ("Tribune",)) -> Story:
    return Story(
        id=sid, title=f"ICE raid reported {sid}", url=f"https://news.example/{sid}", source=outlets[0],
        outlets=outlets, published=datetime(2026, 12, 1, 12, 30, tzinfo=UTC), topics=("immigration-enforcement",),
        cities=("chicago-il",), summary="Agents were seen near a school.", published_known=known,
    )


def alert(sid: int, chat: int, **kw: Any) -> Alert:
    return Alert(delivery_id=100 + sid, destination_id=1, destination=destination(chat),
                 story=kw.pop("story", None) or story(sid), **kw)


@pytest_asyncio.fixture
async def tg() -> AsyncIterator[TelegramStandIn]:
    require_spec()
    async with TelegramStandIn(bot_token()) as standin:
        standin.add_chat(Chat(SPANISH_CHAT, admins={ADMIN_ID}))
        standin.add_chat(Chat(ENGLISH_CHAT, admins={ADMIN_ID}))
        yield standin


@pytest_asyncio.fixture
async def sink(tg: TelegramStandIn) -> AsyncIterator[TelegramSink]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(tg.api_base))
    bot = Bot(tg.token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    try:
        yield TelegramSink(bot)
    finally:
        await session.close()


async def test_a_spanish_alert_is_in_spanish_and_an_english_one_in_english(
    tg: TelegramStandIn, sink: TelegramSink
) -> None:
    two = ("Tribune", "Sun-Times")
    await sink.send(destination(SPANISH_CHAT), [alert(1, SPANISH_CHAT, lang="es", story=story(1, outlets=two))], "")
    await sink.send(destination(ENGLISH_CHAT), [alert(1, ENGLISH_CHAT, story=story(1, outlets=two))], "")
    [es], [en] = tg.messages(SPANISH_CHAT), tg.messages(ENGLISH_CHAT)
    assert SPANISH_TOPIC in es.plain and "También informaron Sun-Times" in es.plain and "2 medios" in es.plain
    assert "Coincide con" in es.plain and "Also reported" not in es.plain
    assert "Also reported by Sun-Times" in en.plain and "2 outlets" in en.plain and "Matched" in en.plain
    assert "2026-12-01 12:30 UTC" in es.plain and "2026-12-01 12:30 UTC" in en.plain
    assert tg.story_ids(SPANISH_CHAT) == [1] and tg.story_ids(ENGLISH_CHAT) == [1]  # "story #1" in both
    assert tg.violations == []


async def test_an_undated_story_says_date_unknown_in_each_language(tg: TelegramStandIn, sink: TelegramSink) -> None:
    await sink.send(destination(SPANISH_CHAT), [alert(2, SPANISH_CHAT, lang="es", story=story(2, known=False))], "")
    await sink.send(destination(ENGLISH_CHAT), [alert(2, ENGLISH_CHAT, story=story(2, known=False))], "")
    [es], [en] = tg.messages(SPANISH_CHAT), tg.messages(ENGLISH_CHAT)
    assert "fecha desconocida" in es.plain and "12:30" not in es.plain
    assert "date unknown" in en.plain and "12:30" not in en.plain


async def test_a_spanish_digest_and_reply_update(tg: TelegramStandIn, sink: TelegramSink) -> None:
    dest = destination(SPANISH_CHAT)
    await sink.send(dest, [alert(3, SPANISH_CHAT, lang="es", digest=True), alert(4, SPANISH_CHAT, lang="es", digest=True)], "")
    ref = await sink.send(dest, [alert(5, SPANISH_CHAT, lang="es", thread=True)], "")
    more = story(5, outlets=("Tribune", "Sun-Times"))
    await sink.edit(dest, ref, [alert(5, SPANISH_CHAT, lang="es", story=more, kind="edit", message_ref=ref, thread=True)])
    digest, first, reply = tg.messages(SPANISH_CHAT)
    assert digest.plain.startswith("Resumen: 2 noticias")
    assert "También informaron Sun-Times" in first.plain and first.edits == 1
    assert reply.reply_to == first.message_id
    assert reply.plain == "Actualización: También informaron Sun-Times (2 medios)"
    assert tg.violations == []


# ---------------------------------------------------------------- the real process
def force_poll(db: Path) -> None:
    """Every feed due at the next tick (the poller would wait out the 30 s interval)."""
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        with conn:
            conn.execute("UPDATE feeds SET next_check = NULL")
    finally:
        conn.close()


def answers(tg: TelegramStandIn, chat_id: int, since: int) -> list[Posted]:
    return [p for p in tg.messages(chat_id) if p.message_id > since and "story #" not in p.plain]


async def test_help_refusals_and_subscribe_in_the_senders_language(tmp_path: Path) -> None:
    require_spec()
    async with TelegramStandIn(bot_token()) as tg, FeedServer() as feeds:
        tg.add_chat(Chat(GROUP_ID, admins={ADMIN_ID}))
        tg.add_chat(Chat(ENGLISH_CHAT, admins={ADMIN_ID}))
        desk = feeds.set_feed("/dyn/desk.xml", title="Chicago Desk", items=[])
        feeds_file = write_feeds_file(tmp_path / "feeds.toml", [
            {"url": desk, "name": "Chicago Desk", "city": "chicago-il", "interval": 30},
        ])  # fmt: skip
        db = tmp_path / "bot.sqlite3"
        with BotProcess(telegram_env(tg, tmp_path, feeds_file), tmp_path / "bot") as bot:
            bot.start()

            async def ask(chat: int, user: int, text: str, language: str | None = None) -> str:
                since = tg._message_id
                tg.command(chat, user, text, language_code=language)
                got = await eventually(lambda: answers(tg, chat, since), 30, f"an answer to {text!r}", bot.stderr)
                return got[0].plain

            assert "/subscribe ciudad" in await ask(GROUP_ID, MEMBER_ID, "/help", "es-419")
            assert "/subscribe city" in await ask(GROUP_ID, MEMBER_ID, "/help", "en")
            assert "/subscribe city" in await ask(GROUP_ID, MEMBER_ID, "/help")  # none sent: English
            refused = await ask(GROUP_ID, MEMBER_ID, "/subscribe Chicago", "es")
            assert refused == "Solo los administradores de este chat pueden hacer eso.", refused
            unknown = await ask(GROUP_ID, ADMIN_ID, "/subscribe Chicago lang=klingon", "es-ES")
            assert unknown.startswith("Idioma desconocido 'klingon'") and "en, es" in unknown, unknown
            city = await ask(GROUP_ID, ADMIN_ID, "/subscribe Atlantis, ZZ", "es")
            assert city.startswith("No conozco la ciudad “Atlantis, ZZ”"), city  # a core error, by its key
            assert not query(db, "SELECT id FROM subscriptions")

            # the sender's language is the default; lang= overrides it
            text = await ask(GROUP_ID, ADMIN_ID, "/subscribe Chicago, IL", "es-419")
            assert "Este chat quedó suscrito a Chicago" in text and "en español" in text, text
            text = await ask(ENGLISH_CHAT, ADMIN_ID, "/subscribe Chicago, IL lang=en", "es")
            assert text.startswith("Subscribed this chat to Chicago"), text
            langs = dict(query(db, "SELECT d.address, s.lang FROM subscriptions s "
                                   "JOIN destinations d ON d.id = s.destination_id"))
            assert langs == {str(GROUP_ID): "es", str(ENGLISH_CHAT): "en"}

            # an undated item reaches both chats, each in its subscription's language
            await eventually(lambda: query(db, "SELECT count(*) FROM feeds WHERE last_checked IS NOT NULL")[0][0] >= 1,
                             60, "the first poll", bot.stderr)
            feeds.set_feed("/dyn/desk.xml", title="Chicago Desk", items=[{
                "title": "ICE agents detain workers at Chicago warehouse", "guid": "es-undated",
                "link": "https://drill.example/es/undated",
                "description": "<p>Immigration agents detained workers at a Chicago warehouse.</p>",
            }])
            force_poll(db)

            def alert_in(chat: int) -> list[Posted]:
                return [p for p in tg.messages(chat) if "story #" in p.plain]

            await eventually(lambda: alert_in(GROUP_ID) and alert_in(ENGLISH_CHAT), 60, "both alerts", bot.stderr)
            es, en = alert_in(GROUP_ID)[0].plain, alert_in(ENGLISH_CHAT)[0].plain
            assert "fecha desconocida" in es and SPANISH_TOPIC in es and "sin confirmar" in es, es
            assert "date unknown" in en and "unconfirmed" in en and "fecha" not in en, en
            code = await bot.stop()
            assert code == 0, bot.stderr()[-3000:]
        assert tg.violations == []
        assert "Traceback" not in bot.stderr(), bot.stderr()[-3000:]
