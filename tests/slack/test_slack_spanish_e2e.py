"""Slack in the reader's and the subscription's language (issue 13), through the real bot
process against the stand-in: `/civic help` and refusals in the person's Slack locale,
`subscribe … lang=es` (default: the locale), an unknown language refused in one line, and an
undated item alerted as "fecha desconocida" / "date unknown"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.faults.harness import BotProcess
from tests.feedserver import FeedServer
from tests.slack.world import CITY, World, slack_env, write_feeds
from tests.slack_standin import ADMIN, MEMBER, SlackStandIn

pytestmark = pytest.mark.asyncio(loop_scope="module")
SPANISH_TOPIC = "Control migratorio"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> AsyncIterator[World]:
    if not (shared_dir / "slack-openapi" / "slack_web_openapi_v2.json").exists():
        pytest.skip("../shared/slack-openapi is absent")
    tmp = tmp_path_factory.mktemp("slack-es")
    async with SlackStandIn() as standin, FeedServer() as feeds:
        url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
        env = slack_env(standin, tmp, write_feeds(tmp / "feeds.toml", url))
        with BotProcess(env, tmp) as bot:
            bot.start()
            w = World(standin, feeds, bot, tmp, [])
            await w.ready()
            yield w


async def test_subscribe_lang_es_help_and_refusals_in_the_readers_language(world: World) -> None:
    standin = world.standin
    standin.users[MEMBER] = dict(standin.users[MEMBER], locale="es-419")
    es, en, spanish_admin = standin.add_channel("alertas"), standin.add_channel("alerts"), standin.add_channel("dm-ish")

    # help and refusals follow the person's Slack locale (users.info include_locale)
    assert "`lang=` es el idioma de las alertas" in await world.civic(es, "help", user=MEMBER)
    assert "`lang=` is the alerts' language" in await world.civic(es, "help")
    refused = await world.civic(es, f"subscribe {CITY}", user=MEMBER)
    assert refused.startswith("Solo quien administra este canal"), refused
    unknown = await world.civic(es, f"subscribe {CITY} lang=klingon")
    assert unknown.startswith("Unknown language 'klingon'") and "en, es" in unknown, unknown
    assert world.subscriptions(es) == 0

    # lang=es: the confirmation (said in the channel) and the alerts are Spanish
    answer = await world.civic(es, f"subscribe {CITY} lang=es")
    assert "ahora recibe alertas de *Chicago, IL*" in answer and "en español" in answer, answer
    assert "now gets alerts for *Chicago, IL*" in await world.civic(en, f"subscribe {CITY}")
    # no lang=: the admin's own Spanish locale is the default of a new subscription, and
    # their refusals are Spanish too
    standin.users[ADMIN] = dict(standin.users[ADMIN], locale="es-ES")
    try:
        unknown_es = await world.civic(spanish_admin, f"subscribe {CITY} lang=klingon")
        assert unknown_es.startswith("Idioma desconocido 'klingon'"), unknown_es
        assert "ahora recibe alertas" in await world.civic(spanish_admin, f"subscribe {CITY}")
    finally:
        standin.users[ADMIN] = {k: v for k, v in standin.users[ADMIN].items() if k != "locale"}
    langs = dict(world.query("SELECT d.address, s.lang FROM subscriptions s JOIN destinations d "
                             "ON d.id = s.destination_id WHERE d.platform = 'slack'"))  # type: ignore[arg-type]
    assert langs == {es.id: "es", en.id: "en", spanish_admin.id: "es"}

    # an undated item: "fecha desconocida" / "date unknown", never a made-up time
    world.publish([{
        "title": "ICE agents detain workers at Chicago warehouse",
        "guid": "es-undated", "link": "https://drill.example/es/undated",
        "description": "<p>Immigration agents detained workers at a Chicago warehouse.</p>",
    }])
    for channel in (es, en, spanish_admin):
        await world.eventually(lambda c=channel: world.story_counts(c), 40, f"the alert in {channel.name}")
    es_text, en_text = str(es.top_level()[0]["blocks"]), str(en.top_level()[0]["blocks"])
    assert "fecha desconocida" in es_text and SPANISH_TOPIC in es_text and "sin confirmar" in es_text
    assert "date unknown" in en_text and "unconfirmed" in en_text and "fecha" not in en_text
    gone = await world.civic(es, f"unsubscribe {CITY}", user=MEMBER)
    assert gone.startswith("Solo quien administra"), gone
    world.assert_clean()

