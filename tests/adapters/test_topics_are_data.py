"""Acceptance: a topic that exists only in a config dir works end to end, with no code change.

Why one test module across layers: the promise is "topics are data" — a `curfew` topic added
to a copy of config/topics.toml must be classified, printed by `poll --once --json` (a real
process with CIVIC_ALERTS_CONFIG_DIR), offered by `/subscribe` (the real CommandTree and its
autocomplete), labelled "Curfews" in alerts (Discord embed and console text) and listed by
`/help`. It lives with the adapter tests because the Discord fixtures (fake API, real store)
are here.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import pytest

from bot import actions
from bot.adapters.console import CONSOLE, ConsoleSink
from bot.adapters.discordbot.client import CivicBot, configure_api_base
from bot.relevance import Classifier, load_classifier, load_topics
from bot.settings import Settings
from bot.store import Store
from tests.adapters.conftest import (
    ALERTS,
    CogApp,
    article,
    chan,
    guild_payload,
    guild_subscriptions,
    interaction_payload,
    invoke,
    option,
    seed_articles,
)
from tests.adapters.fakeapi import FakeDiscordAPI
from tests.conftest import PROJECT_ROOT
from tests.feedserver import FeedServer

CURFEW_TOPIC = """

# --- added only in this test's config dir ---------------------------------------------------
[[topic]]
id = "curfew"
label = "Curfews"
description = "Curfews ordered for a city"
threshold = 2
strong = ["curfew", "curfews"]
"""
CURFEW_HEADLINE = "Chicago orders a downtown curfew after weekend unrest"


@pytest.fixture(scope="module")
def curfew_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of config/ whose topics.toml gains a `curfew` topic."""
    config = tmp_path_factory.mktemp("config") / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    with (config / "topics.toml").open("a", encoding="utf-8") as f:
        f.write(CURFEW_TOPIC)
    return config


@pytest.fixture(scope="module")
def curfew_classifier(curfew_config: Path) -> Classifier:
    return load_classifier(curfew_config)


@pytest.fixture
async def curfew_bot(
    api: FakeDiscordAPI, store: Store, settings: Settings, curfew_classifier: Classifier
) -> AsyncIterator[CivicBot]:
    """Like the `bot` fixture, but its app carries the classifier of the curfew config."""
    old_base = discord.http.Route.BASE
    configure_api_base(api.base)
    app = CogApp(settings=settings, store=store, classifier=curfew_classifier)
    client = CivicBot(settings, app=app, open_resources=False)  # type: ignore[arg-type]
    await client.login("fake")
    client._connection._add_guild_from_data(guild_payload())
    client._ready.set()
    try:
        yield client
    finally:
        await client.close()
        discord.http.Route.BASE = old_base


def test_the_new_topic_is_only_in_the_temporary_config(curfew_config: Path) -> None:
    assert "curfew" not in load_topics().ids  # the repo's config does not have it
    catalog = load_topics(curfew_config)
    assert catalog.ids[-1] == "curfew" and catalog.label("curfew") == "Curfews"
    assert catalog.ids[:3] == load_topics().ids  # order is the file's


def test_classifier_assigns_the_new_topic(curfew_classifier: Classifier) -> None:
    match = curfew_classifier.classify(CURFEW_HEADLINE, "The mayor announced the curfew on Sunday.")
    assert "curfew" in match.topics and "chicago-il" in match.cities
    assert curfew_classifier.topics.label("curfew") == "Curfews"
    assert "curfew" not in load_classifier().classify(CURFEW_HEADLINE, "").topics


async def test_poll_once_json_prints_the_new_topic(curfew_config: Path, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    items = [
        {
            "title": CURFEW_HEADLINE,
            "link": "https://news.test/curfew",
            "guid": "curfew-1",
            "description": "The mayor announced the curfew on Sunday.",
            "pubDate": now - timedelta(hours=1),
        },
        {
            "title": "Cubs announce spring training schedule",
            "link": "https://news.test/cubs",
            "guid": "cubs-1",
            "description": "Baseball.",
            "pubDate": now - timedelta(hours=1),
        },
    ]
    async with FeedServer() as server:
        url = server.set_feed("/dyn/curfew.xml", items=items, title="Chicago News")
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(f'[[feeds]]\nurl = "{url}"\ncity = "chicago-il"\n', encoding="utf-8")
        env = {
            **os.environ,
            "CIVIC_ALERTS_CONFIG_DIR": str(curfew_config),
            "CIVIC_ALERTS_DB": str(tmp_path / "db.sqlite3"),
            "CIVIC_ALERTS_PARSE_WORKERS": "1",
        }
        env.pop("DISCORD_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "poll",
            "--once",
            "--json",
            "--feeds",
            str(feeds),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(PROJECT_ROOT),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    stories = [json.loads(line) for line in out.decode().splitlines()]
    assert [s["title"] for s in stories] == [CURFEW_HEADLINE], stories
    assert stories[0]["topics"] == ["curfew"] and "chicago-il" in stories[0]["cities"]


async def test_subscribe_offers_the_new_topic_and_alerts_are_labelled(
    curfew_bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    # offered: /subscribe's topic autocomplete, through the real CommandTree
    for typed, expect in (("", True), ("cur", True), ("Curf", True), ("sanctuary", False)):
        api.requests.clear()
        await invoke(
            curfew_bot,
            interaction_payload(
                "subscribe",
                [option("city", "chicago-il"), option("topics", typed, focused=True)],
                kind=4,
            ),
        )
        (callback,) = api.callbacks()
        choices = callback["data"]["choices"]
        assert callback["type"] == 8 and 0 < len(choices) <= 25
        assert ({"name": "Curfews", "value": "curfew"} in choices) is expect, (typed, choices)
    # subscribing to it by its id (what the choice sends) or its label (what a user may type)
    api.requests.clear()
    await invoke(
        curfew_bot,
        interaction_payload(
            "subscribe", [option("city", "chicago-il"), option("topics", "curfew")]
        ),
    )
    assert "(Curfews)" in api.interaction_replies()[-1]["content"]
    await invoke(
        curfew_bot,
        interaction_payload(
            "subscribe", [option("city", "evanston-il"), option("topics", "curfews")]
        ),
    )
    subs = {s.city: s.topics for s in await guild_subscriptions(store)}
    assert subs == {"chicago-il": ("curfew",), "evanston-il": ("curfew",)}

    # labelled: a curfew story reaches the subscription; the embed and the console say "Curfews"
    await seed_articles(store, [article(1, CURFEW_HEADLINE, topics=("curfew",))])
    alerts = [a for a in await store.due_alerts() if a.destination == chan(ALERTS)]
    assert [a.story.title for a in alerts] == [CURFEW_HEADLINE]
    (embed,) = curfew_bot.sink.render(alerts)
    assert "Chicago, IL · Curfews" in (embed.description or "")
    out = io.StringIO()
    console = ConsoleSink(out, label=lambda c: "Chicago, IL", topic_label=curfew_bot.topics.label)
    await console.send(CONSOLE, alerts, "key")
    assert "Chicago, IL · Curfews" in out.getvalue()


async def test_all_topics_subscription_gets_the_new_topic(
    curfew_bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(curfew_bot, interaction_payload("subscribe", [option("city", "chicago-il")]))
    assert "(all topics)" in api.interaction_replies()[-1]["content"]
    (sub,) = await guild_subscriptions(store)
    assert sub.topics == ("*",)
    await seed_articles(store, [article(1, CURFEW_HEADLINE, topics=("curfew",))])
    assert [a.story.title for a in await store.due_alerts()] == [CURFEW_HEADLINE]


async def test_help_search_and_latest_list_the_new_topic(
    curfew_bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(curfew_bot, interaction_payload("help", guild=False))
    help_text = api.interaction_replies()[-1]["embeds"][0]["description"]
    assert "Curfews" in help_text and "Curfews ordered for a city" in help_text
    assert "Immigration enforcement" in help_text

    for command, extra in (
        ("search", [option("query", "curfew")]),
        ("latest", [option("city", "chicago-il")]),
    ):
        api.requests.clear()
        await invoke(
            curfew_bot,
            interaction_payload(command, [*extra, option("topic", "Cur", focused=True)], kind=4),
        )
        (callback,) = api.callbacks()
        assert callback["data"]["choices"] == [{"name": "Curfews", "value": "curfew"}]

    await seed_articles(store, [article(1, CURFEW_HEADLINE, topics=("curfew",))])
    api.requests.clear()
    await invoke(
        curfew_bot,
        interaction_payload("latest", [option("city", "chicago-il"), option("topic", "curfew")]),
    )
    embed = api.interaction_replies()[-1]["embeds"][0]
    assert (
        embed["title"] == "Latest: Chicago, IL · Curfews"
        and "downtown curfew" in embed["description"]
    )


def test_actions_parse_topics_reads_the_catalog(curfew_config: Path) -> None:
    catalog = load_topics(curfew_config)
    assert actions.parse_topics(None, catalog) == ("*",)
    assert actions.parse_topics("all", catalog) == ("*",)
    assert actions.parse_topics(["curfew", "national-guard"], catalog) == (
        "national-guard",
        "curfew",
    )
    assert actions.parse_topics("CURFEWS", catalog) == ("curfew",)
    assert actions.topics_text(("*",), catalog) == "all topics"
    assert actions.topics_text(("curfew",), catalog) == "Curfews"
    with pytest.raises(actions.UserInputError) as refused:
        actions.parse_topics("curfew", load_topics())  # the repo's config has no such topic
    assert (
        "Curfews" not in refused.value.user_message
        and "Sanctuary policy" in refused.value.user_message
    )
