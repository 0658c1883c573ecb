"""The stand-in itself: a wrong call is caught (so the e2e tests' "zero violations" means
something), and the adapter's own HTML passes Telegram's parser rules."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest

from tests.telegram.helpers import GROUP_ID, bot_token, require_spec
from tests.telegram_standin import Chat, TelegramStandIn


async def test_wrong_payloads_are_violations() -> None:
    require_spec()
    async with TelegramStandIn(bot_token()) as tg, aiohttp.ClientSession() as http:
        tg.add_chat(Chat(GROUP_ID))
        base = f"{tg.api_base}/bot{tg.token}"
        async with http.post(f"{base}/sendMessage", data={"chat_id": str(GROUP_ID), "text": "hi", "colour": "red"}) as r:
            assert r.status == 400
        async with http.post(f"{base}/sendMessage", data={"chat_id": str(GROUP_ID), "text": "x" * 4097}) as r:
            assert r.status == 400
        async with http.post(f"{base}/sendMessage", data={"chat_id": str(GROUP_ID)}) as r:
            assert r.status == 400
        async with http.post(f"{base}/sendMessage", data={"chat_id": "[1]", "text": "hi"}) as r:
            assert r.status == 400
        async with http.post(f"{base}/sendMessage", data={"chat_id": str(GROUP_ID), "text": "a <b>b & c", "parse_mode": "HTML"}) as r:
            assert r.status == 400
        async with http.post(f"{base}/sendMesage", data={"chat_id": str(GROUP_ID), "text": "hi"}) as r:
            assert r.status == 400
        async with http.post(f"{base}/setMyCommands", data={"commands": '[{"command": "Sub-scribe", "description": ""}]'}) as r:
            assert r.status == 400
        async with http.post(f"{base}/sendMessage", data={"chat_id": str(GROUP_ID), "text": "&lt;fine&gt; <b>ok</b>", "parse_mode": "HTML"}) as r:
            assert r.status == 200, await r.text()
        text = "\n".join(tg.violations)
        assert "unknown parameter colour" in text
        assert "4097 characters" in text
        assert "missing required parameter text" in text
        assert "sendMessage.chat_id" in text
        assert "unescaped &" in text and "unclosed tags" in text
        assert "unknown method sendMesage" in text
        assert "Sub-scribe" in text and "description" in text
        assert len(tg.violations) >= 8


async def test_aiogram_reaches_the_standin_through_its_base_url() -> None:
    require_spec()
    async with TelegramStandIn(bot_token()) as tg:
        tg.add_chat(Chat(GROUP_ID))
        bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.api_base)))
        try:
            me = await bot.get_me()
            assert me.username == "civic_alerts_test_bot"
            sent = await bot.send_message(chat_id=GROUP_ID, text="<b>x</b> &amp; y", parse_mode="HTML")
            assert tg.posted[(GROUP_ID, sent.message_id)].plain == "x & y"
            with pytest.raises(TelegramBadRequest):
                await bot.send_message(chat_id=GROUP_ID, text="y" * 5000)
        finally:
            await bot.session.close()
        assert len(tg.violations) == 1 and "5000 characters" in tg.violations[0]
