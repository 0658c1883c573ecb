"""Issue 16 item 6 in every chat: a search that found no story with all its words says it shows
stories with any of them (the CLI said so; Discord, Slack, Telegram and Matrix did not).

A real App (store, gazetteer, classifier) over one stored story; each adapter's own search
command renders the page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import actions
from bot.adapters.discordbot.cogs.search import search_embed
from bot.adapters.matrix.commands import Commands as MatrixCommands
from bot.adapters.matrix.commands import Parsed
from bot.adapters.slack.commands import Commands as SlackCommands
from bot.adapters.slack.commands import Invocation
from bot.adapters.telegram.commands import Commands as TelegramCommands
from bot.app import App
from bot.messages import messages
from bot.settings import Settings
from tests.store.helpers import article, match, save

LOOSE = "pilsen bakery"  # no story has both words: the any-word fallback
EXACT = "pilsen agents"  # the story has both


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


async def replies(app: App, query: str) -> dict[str, str]:
    page = await actions.search(app.store, app.gazetteer, query, catalog=app.classifier.topics)
    assert page.hits, "the stored story must be found either way"
    inv: Any = Invocation.__new__(Invocation)  # search reads nothing of the invocation
    words = tuple(query.split())
    return {
        "discord": str(search_embed(page).description),
        "slack": (await SlackCommands(app, None).cmd_search(inv, list(words), {})).text,  # type: ignore[arg-type]
        "telegram": await TelegramCommands(None, app, "bot").search(None, query),  # type: ignore[arg-type]
        "matrix": await MatrixCommands(app, _power).cmd_search(
            "!room:civic.test", Parsed("search", words, {}), messages("en")
        ),
    }


async def test_every_chat_says_when_search_fell_back_to_any_word(app: App) -> None:
    loose = await replies(app, LOOSE)
    assert {k: actions.FELL_BACK_NOTE in v for k, v in loose.items()} == dict.fromkeys(loose, True), loose
    exact = await replies(app, EXACT)
    assert {k: actions.FELL_BACK_NOTE in v for k, v in exact.items()} == dict.fromkeys(exact, False), exact
