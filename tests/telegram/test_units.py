"""Fast checks of the adapter's pieces with real aiogram objects: how Telegram's answers are
classified, the command syntax, HTML that Telegram's parser accepts, and a refused token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage

from bot.adapters.telegram import fmt
from bot.adapters.telegram.commands import parse_args, split_command
from bot.adapters.telegram.service import TelegramAdapter
from bot.adapters.telegram.sink import chat_of, destination, translate
from bot.errors import (
    ChannelGoneError,
    ConfigError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
    UserInputError,
)
from bot.models import Alert, Story
from bot.settings import load_settings
from tests.telegram.helpers import bot_token, require_spec
from tests.telegram_standin import TelegramStandIn
from tests.telegram_standin.server import parse_html

METHOD = SendMessage(chat_id=1, text="x")


@pytest.mark.parametrize(("exc", "expected"), [
    (TelegramRetryAfter(METHOD, "Too Many Requests: retry after 7", 7), RateLimitedError),
    (TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"), ChannelGoneError),
    (TelegramForbiddenError(METHOD, "Forbidden: bot was kicked from the supergroup chat"), ChannelGoneError),
    (TelegramForbiddenError(METHOD, "Forbidden: user is deactivated"), ChannelGoneError),
    (TelegramBadRequest(METHOD, "Bad Request: chat not found"), ChannelGoneError),
    (TelegramBadRequest(METHOD, "Bad Request: message thread not found"), ChannelGoneError),
    (TelegramMigrateToChat(METHOD, "Bad Request: group chat was upgraded to a supergroup chat", -1001), TransientDeliveryError),
    (TelegramBadRequest(METHOD, "Bad Request: not enough rights to send text messages to the chat"), ForbiddenDeliveryError),
    (TelegramForbiddenError(METHOD, "Forbidden: CHAT_WRITE_FORBIDDEN"), ForbiddenDeliveryError),
    (TelegramBadRequest(METHOD, "Bad Request: can't parse entities"), TransientDeliveryError),
    (TelegramServerError(METHOD, "Internal Server Error"), TransientDeliveryError),
    (TelegramNetworkError(METHOD, "HTTP Client says - ClientConnectorError"), TransientDeliveryError),
])  # fmt: skip
def test_telegram_answers_are_classified(exc: Exception, expected: type[Exception]) -> None:
    out = translate(exc, "send to chat 1")
    assert type(out) is expected
    if isinstance(out, RateLimitedError):
        assert out.retry_after == 7


def test_destinations_round_trip_with_forum_topics() -> None:
    assert chat_of(destination(-100123)) == (-100123, None)
    assert chat_of(destination(-100123, 77)) == (-100123, 77)
    assert destination(-100123, 77).group == "-100123"


def test_command_syntax() -> None:
    assert split_command("/subscribe@Civic_Alerts_Test_Bot Chicago", "civic_alerts_test_bot") == ("subscribe", "Chicago")
    assert split_command("/subscribe@other_bot Chicago", "civic_alerts_test_bot") is None
    assert split_command("hello", "me") is None
    parsed = parse_args('New York include="city council, ice" min-outlets=2')
    assert parsed.rest == "New York"
    assert parsed.options == {"include": "city council, ice", "min_outlets": "2"}
    with pytest.raises(UserInputError):
        parse_args('Chicago include="open')


def _story(i: int, title: str, summary: str = "") -> Story:
    return Story(id=i, title=title, url=f"https://x.example/{i}?a=1&b=<2>", source="Desk & Co", outlets=("Desk & Co",),
                 published=datetime(2026, 1, 1, tzinfo=UTC), topics=("ice",), cities=("chicago-il",), summary=summary)


def test_alert_html_is_valid_and_within_the_limit() -> None:
    from bot.models import Destination

    dest = Destination("telegram", "-1", "-1")
    hostile = _story(1, 'A <script> & "quotes" </b> 5 > 3', summary="x & y < z " * 400)
    alerts = [Alert(i, 1, dest, _story(i, f"<b>{i}</b> & " + "long " * 40, "word " * 300)) for i in range(5)]
    for batch in ([Alert(1, 1, dest, hostile)], alerts, [Alert(9, 1, dest, hostile, mention="@all & <you>")]):
        html = fmt.alerts_message(batch)
        plain, problems = parse_html(html)
        assert problems == []
        assert fmt.visible_length(plain) <= fmt.TEXT_MAX
        assert plain.rstrip().endswith(f"story #{batch[-1].story.id}")
    digest = fmt.alerts_message([Alert(i, 1, dest, _story(i, "t & <u>" * 30), digest=True, mention="@desk")
                                 for i in range(60)])
    plain, problems = parse_html(digest)
    assert problems == [] and fmt.visible_length(plain) <= fmt.TEXT_MAX
    assert plain.startswith("@desk\n\nDigest: 60 stories") and "story #0" in plain


async def test_a_refused_token_is_a_config_error() -> None:
    require_spec()
    async with TelegramStandIn(bot_token()) as tg:
        settings = load_settings(env={"TELEGRAM_BOT_TOKEN": bot_token(), "TELEGRAM_API_BASE": tg.api_base})
        with pytest.raises(ConfigError, match="refused the token"):
            await TelegramAdapter(settings).run(cast(Any, None), asyncio.Event())
        settings = load_settings(env={"TELEGRAM_BOT_TOKEN": "not-a-token", "TELEGRAM_API_BASE": tg.api_base})
        with pytest.raises(ConfigError, match="not a bot token"):
            await TelegramAdapter(settings).run(cast(Any, None), asyncio.Event())


def test_help_is_valid_telegram_html_in_every_language() -> None:
    from bot.messages import messages, supported_languages

    for lang in supported_languages():
        plain, problems = parse_html(messages(lang)("telegram.help"))
        assert problems == [] and "/subscribe " in plain and "lang=" in plain, lang
    assert "/subscribe city" in parse_html(messages("en")("telegram.help"))[0]
    assert "/subscribe ciudad" in parse_html(messages("es")("telegram.help"))[0]
