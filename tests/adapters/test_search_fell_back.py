"""Issue 16 item 6 in every chat: a search that found no story with all its words says it shows
stories with any of them (the CLI said so; Discord, Slack, Telegram and Matrix did not) — in the
reader's language (issue 16 follow-up: the note was an English literal in bot/actions.py).

A real App (store, gazetteer, classifier) over one stored story; each adapter's own search
command renders the page, for an English and a Spanish reader as each platform knows them:
Discord by the interaction's locale (the Messages its cog passes), Slack by the person's locale
(`Invocation.lang`), Telegram by the sender's `language_code`, Matrix by the room's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Chat, Message, User

from bot import actions
from bot.adapters.discordbot.cogs.search import search_embed
from bot.adapters.matrix.commands import Commands as MatrixCommands
from bot.adapters.matrix.commands import Parsed
from bot.adapters.slack.commands import Commands as SlackCommands
from bot.adapters.slack.commands import Invocation
from bot.adapters.slack.commands import error_text as slack_error_text
from bot.adapters.telegram.commands import Commands as TelegramCommands
from bot.adapters.telegram.commands import error_text as telegram_error_text
from bot.app import App
from bot.errors import UserInputError
from bot.messages import messages
from bot.settings import Settings
from tests.store.helpers import article, match, save

LOOSE = "pilsen bakery"  # no story has both words: the any-word fallback
EXACT = "pilsen agents"  # the story has both
NONE = "zebra bakery"  # no story has either


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    opened = await App.open(Settings(db_path=tmp_path / "bot.sqlite3", parse_workers=1), sync_catalogue=False)
    try:
        await save(opened.store, "https://chicago.example/feed.xml",
                   [(article("ICE agents detain two in Pilsen"), match())])
        yield opened
    finally:
        await opened.close()


async def _power(room_id: str, user_id: str) -> int:
    return 0


def _telegram_message(lang: str, query: str) -> Message:
    """A group message from a person whose Telegram app is in ``lang``."""
    return Message(
        message_id=1, date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), chat=Chat(id=-100, type="supergroup"),
        from_user=User(id=7, is_bot=False, first_name="Ana", language_code=lang), text=f"/search {query}",
    )


async def replies(app: App, query: str, lang: str) -> dict[str, str]:
    page = await actions.search(app.store, app.gazetteer, query, catalog=app.classifier.topics)
    words = tuple(query.split())
    inv = Invocation("T1", "C1", "U1", lang=lang)
    telegram: Any = TelegramCommands(None, app, "bot")  # type: ignore[arg-type]  # search sends nothing
    return {
        "discord": str(search_embed(page, msgs=messages(lang)).description),
        "slack": (await SlackCommands(app, None).cmd_search(inv, list(words), {})).text,  # type: ignore[arg-type]
        "telegram": await telegram.search(_telegram_message(lang, query), query),
        "matrix": await MatrixCommands(app, _power).cmd_search(
            "!room:civic.test", Parsed("search", words, {}), messages(lang)
        ),
    }


def _says(text: str, found: dict[str, str]) -> dict[str, bool]:
    return {k: text in v for k, v in found.items()}


@pytest.mark.parametrize("lang", ["en", "es"])
async def test_every_chat_says_when_search_fell_back_to_any_word(app: App, lang: str) -> None:
    note = messages(lang)(actions.FELL_BACK_KEY)
    other = messages("es" if lang == "en" else "en")(actions.FELL_BACK_KEY)
    assert note != other, "the Spanish catalogue must word the note itself"
    loose = await replies(app, LOOSE, lang)
    assert "Pilsen" in loose["slack"], loose  # the stored story is found either way
    assert _says(note, loose) == dict.fromkeys(loose, True), loose
    assert _says(other, loose) == dict.fromkeys(loose, False), loose
    exact = await replies(app, EXACT, lang)
    assert _says(note, exact) == dict.fromkeys(exact, False), exact


async def test_spanish_reader_gets_spanish_search_replies(app: App) -> None:
    """The words around the results (title, nothing found) follow the reader's language too."""
    found = await replies(app, EXACT, "es")
    assert found["slack"].startswith("*Búsqueda: pilsen agents*"), found["slack"]
    assert found["telegram"].startswith("<b>Resultados para “pilsen agents”</b>"), found["telegram"]
    assert found["matrix"].startswith("Noticias que coinciden con 'pilsen agents':"), found["matrix"]
    empty = await replies(app, NONE, "es")
    assert empty["slack"] == "Ninguna noticia coincide con “zebra bakery”.", empty
    assert empty["telegram"] == "No encontré nada para “zebra bakery”.", empty
    assert empty["matrix"] == "Ninguna noticia coincide con 'zebra bakery'.", empty
    assert empty["discord"].startswith("Ninguna noticia coincide."), empty
    english = await replies(app, NONE, "en")
    assert english["telegram"] == "Nothing found for “zebra bakery”.", english


async def test_spanish_reader_gets_latest_and_core_refusals_in_spanish(app: App) -> None:
    """The other replies the i18n work left in English: /latest's title on every platform but
    Discord (which had it), and the refusals bot/actions.py raises (said through each
    adapter's error_text with the reader's catalogue)."""
    es, en = messages("es"), messages("en")
    slack = SlackCommands(app, None)  # type: ignore[arg-type]
    telegram: Any = TelegramCommands(None, app, "bot")  # type: ignore[arg-type]
    matrix = MatrixCommands(app, _power)
    words = ["Chicago,", "IL"]
    said = {
        "slack": (await slack.cmd_latest(Invocation("T1", "C1", "U1", lang="es"), words, {})).text,
        "telegram": await telegram.latest(_telegram_message("es", "Chicago, IL"), "Chicago, IL"),
        "matrix": await matrix.cmd_latest("!room:civic.test", Parsed("latest", tuple(words), {}), es),
    }
    assert said["slack"].startswith("*Lo último de Chicago, IL*"), said
    assert said["telegram"].startswith("<b>Lo último de Chicago, IL</b>"), said
    assert said["matrix"].startswith("Lo último de Chicago, IL:"), said
    english = (await slack.cmd_latest(Invocation("T1", "C1", "U1"), words, {})).text
    assert english.startswith("*Latest for Chicago, IL*"), english

    with pytest.raises(UserInputError) as empty:
        await actions.search(app.store, app.gazetteer, "   ")
    with pytest.raises(UserInputError) as topic:
        actions.parse_topics("weather", app.classifier.topics)
    assert slack_error_text(empty.value, es) == "Escribe algunas palabras para buscar."
    assert slack_error_text(empty.value, en) == empty.value.user_message == "Type a few words to search for."
    assert telegram_error_text(topic.value, es).startswith("Tema desconocido. Elige uno de: "), topic.value.fields
    assert telegram_error_text(topic.value, en) == topic.value.user_message
