"""/search (hostile text, paging buttons, public), /latest, /status, /help, /feeds, and the
global error handler — through the real CommandTree, real store, real HTTP to a fake API.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.adapters.discordbot.client import GENERIC_APOLOGY, CivicBot
from bot.store import Store
from tests.adapters.conftest import (
    GUILD_ID,
    MEMBER_PERMS,
    article,
    chan,
    interaction_payload,
    invoke,
    option,
    seed_articles,
)
from tests.adapters.fakeapi import FakeDiscordAPI, user_payload
from tests.feedserver import FeedServer

EPHEMERAL = 64
HOSTILE_QUERIES = [
    '"',
    'ICE "raid',
    "ICE AND",
    "AND OR NOT",
    "-ice",
    "ice:raid",
    "o'hare",
    "C++",
    "NEAR(ice raid)",
    "*",
    "🚨🧊 ICE",
    "🚨",
    "'; DROP TABLE stories; --",
    "@everyone",
    "x" * 2000,
    " ".join(["ice"] * 400)[:2000],
]


def texts(reply: dict[str, Any]) -> str:
    parts = [reply.get("content") or ""]
    for embed in reply.get("embeds") or []:
        parts += [
            embed.get("title") or "",
            embed.get("description") or "",
            (embed.get("footer") or {}).get("text", ""),
        ]
    return "\n".join(parts)


async def seed(store: Store, n: int) -> None:
    await seed_articles(
        store,
        [
            article(
                i,
                f"ICE raid {i} near O'Hare, agents {['detain', 'arrest', 'question'][i % 3]} workers #{i}",
                summary=f"Report {i}. Federal immigration agents were seen.",
                hours_ago=i,
            )
            for i in range(1, n + 1)
        ],
    )


async def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
async def test_search_with_hostile_text_answers_cleanly(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, query: str
) -> None:
    await seed(store, 3)
    await invoke(bot, interaction_payload("search", [option("query", query)]))
    callbacks = api.callbacks()
    assert callbacks[0]["type"] == 5 and callbacks[0]["data"]["flags"] & EPHEMERAL  # deferred first
    replies = api.interaction_replies()
    assert len(replies) == 1
    text = texts(replies[0])
    assert GENERIC_APOLOGY not in text
    assert replies[0]["embeds"], replies[0]
    assert replies[0]["allowed_mentions"] == {"parse": []}
    assert "@everyone" not in text


async def test_search_finds_best_first_and_pages_with_buttons(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await seed(store, 12)
    await invoke(bot, interaction_payload("search", [option("query", "ICE raid O'Hare")]))
    first = api.interaction_replies()[-1]
    assert "Results 1–5" in first["embeds"][0]["footer"]["text"]
    assert first["embeds"][0]["description"].count("**") >= 10  # five numbered results
    buttons = first["components"][0]["components"]
    by_id = {b["custom_id"]: b for b in buttons}
    assert by_id["civic:search:prev"].get("disabled") is True
    assert not by_id["civic:search:next"].get("disabled")

    sent = api.last_webhook_message_id
    await click(bot, api, sent, "civic:search:next", user_id=3)
    await wait_for(lambda: any(c["type"] == 7 for c in api.callbacks()))
    update = [c for c in api.callbacks() if c["type"] == 7][-1]["data"]
    assert "Results 6–10" in update["embeds"][0]["footer"]["text"]
    assert update["allowed_mentions"] == {"parse": []}
    assert not {b["custom_id"]: b for b in update["components"][0]["components"]}[
        "civic:search:prev"
    ].get("disabled")


async def test_only_the_searcher_can_turn_pages(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await seed(store, 8)
    await invoke(
        bot, interaction_payload("search", [option("query", "ICE"), option("public", True, 5)])
    )
    reply = api.interaction_replies()[-1]
    assert not (reply.get("flags") or 0) & EPHEMERAL  # public: true
    sent = api.last_webhook_message_id
    await click(bot, api, sent, "civic:search:next", user_id=99)
    await wait_for(lambda: any(c["type"] == 4 for c in api.callbacks()))
    refusal = [c for c in api.callbacks() if c["type"] == 4][-1]["data"]
    assert refusal["flags"] & EPHEMERAL and "Only the person who searched" in refusal["content"]


async def click(
    bot: CivicBot, api: FakeDiscordAPI, message_id: int, custom_id: str, *, user_id: int
) -> None:
    payload = interaction_payload("x", user_id=user_id)
    payload["type"] = 3
    payload["data"] = {"custom_id": custom_id, "component_type": 2}
    payload["message"] = {
        "id": str(message_id),
        "channel_id": payload["channel_id"],
        "author": user_payload(1000, "bot", bot=True),
        "content": "",
        "timestamp": "2026-11-26T04:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
    }
    bot._connection.parse_interaction_create(
        payload
    )  # what the gateway does with INTERACTION_CREATE


async def test_latest_lists_newest_stories(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await seed(store, 7)
    await invoke(bot, interaction_payload("latest", [option("city", "chicago-il")]))
    reply = api.interaction_replies()[-1]
    assert reply["flags"] & EPHEMERAL
    assert reply["embeds"][0]["title"] == "Latest: Chicago, IL"
    description = reply["embeds"][0]["description"]
    assert description.count("• ") == 5
    assert description.index("ICE raid 1 ") < description.index("ICE raid 2 ")  # newest first


async def test_status_shows_queue_and_this_servers_subscriptions(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await store.subscribe(chan(10), "chicago-il", ("immigration-enforcement",))
    await store.subscribe(chan(10_000, 999), "boston-ma", ("immigration-enforcement",))  # another server
    await seed(store, 2)
    await invoke(bot, interaction_payload("status"))
    text = texts(api.interaction_replies()[-1])
    assert "Feeds polled:** 1" in text
    assert "Alerts waiting to be posted:** 2" in text
    assert "Chicago, IL" in text and "Boston" not in text


async def test_help_is_available_everywhere(bot: CivicBot, api: FakeDiscordAPI) -> None:
    await invoke(bot, interaction_payload("help", guild=False))
    assert "/subscribe" in texts(api.interaction_replies()[-1])


async def test_unexpected_error_is_logged_and_apologised(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await store.close()  # the next query fails with a non-project exception
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discordbot.client"):
        await invoke(bot, interaction_payload("status"))
    reply = api.interaction_replies()[-1]
    assert reply["flags"] & EPHEMERAL
    assert reply["content"] == GENERIC_APOLOGY  # no internals shown to the user…
    assert any(
        "Traceback" in r.getMessage() and "/status" in r.getMessage() for r in caplog.records
    )  # …but logged


# ------------------------------------------------------------------------------------- /feeds


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


def feed_cmd(sub: str, options: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return interaction_payload("feeds", [{"name": sub, "type": 1, "options": options}], **kw)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", "http"),
        ("gopher://example.com/feed", "http"),
        ("javascript:alert(1)", "http"),
        ("http://127.0.0.1:8080/feed.xml", "feed address"),
        ("http://169.254.169.254/latest/meta-data/", "feed address"),
        ("http://[::1]/feed", "feed address"),
        ("http://10.0.0.1/rss", "feed address"),
        ("http://localhost/rss", "feed address"),
    ],
)
async def test_feeds_add_refuses_unsafe_urls(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, url: str, expected: str
) -> None:
    await invoke(bot, feed_cmd("add", [option("url", url)]))
    reply = api.interaction_replies()[-1]
    assert reply["flags"] & EPHEMERAL
    assert expected in reply["content"]
    assert GENERIC_APOLOGY not in reply["content"]
    assert await store.guild_feeds(str(GUILD_ID)) == []


async def test_feeds_need_manage_server(bot: CivicBot, api: FakeDiscordAPI, store: Store) -> None:
    await invoke(bot, feed_cmd("list", [], user_perms=MEMBER_PERMS))
    assert "Manage Server" in api.interaction_replies()[-1]["content"]


async def test_feeds_add_previews_then_lists_and_removes(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, feeds: FeedServer
) -> None:
    # loopback is private: only an operator's allow_private_feeds lets a test (or an intranet) add it
    bot.settings = type(bot.settings)(
        **{
            **{f: getattr(bot.settings, f) for f in bot.settings.__slots__},
            "allow_private_feeds": True,
        }
    )
    url = feeds.set_feed(
        "/dyn/local.xml",
        title="Pilsen Post",
        items=[
            {
                "title": "Older item",
                "link": "https://pilsen.example/1",
                "guid": "1",
                "pubDate": "Mon, 23 Nov 2026 10:00:00 GMT",
            },
            {
                "title": "ICE seen near 18th St @everyone",
                "link": "https://pilsen.example/2",
                "guid": "2",
                "pubDate": "Tue, 24 Nov 2026 10:00:00 GMT",
            },
        ],
    )
    await invoke(bot, feed_cmd("add", [option("url", url)]))
    text = texts(api.interaction_replies()[-1])
    assert "Pilsen Post" in text and "**Items:** 2" in text
    assert "ICE seen near 18th St" in text and "@everyone" not in text
    assert [f.url for f in await store.guild_feeds(str(GUILD_ID))] == [url]

    await invoke(bot, feed_cmd("add", [option("url", url)]))
    assert "already has that feed" in texts(api.interaction_replies()[-1])

    await invoke(bot, feed_cmd("list", []))
    assert "Pilsen Post" in texts(api.interaction_replies()[-1])
    await invoke(bot, feed_cmd("remove", [option("url", url)]))
    assert api.interaction_replies()[-1]["content"] == "Feed removed."
    assert await store.guild_feeds(str(GUILD_ID)) == []


async def test_feeds_add_refuses_a_web_page(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, feeds: FeedServer
) -> None:
    bot.settings = type(bot.settings)(
        **{
            **{f: getattr(bot.settings, f) for f in bot.settings.__slots__},
            "allow_private_feeds": True,
        }
    )
    await invoke(bot, feed_cmd("add", [option("url", feeds.url("/hostile/page.html"))]))
    assert "RSS or Atom" in texts(api.interaction_replies()[-1])
    assert await store.guild_feeds(str(GUILD_ID)) == []


async def test_expired_search_buttons_are_removed(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await seed(store, 8)
    bot.search_view_timeout = 0.3
    await invoke(bot, interaction_payload("search", [option("query", "ICE")]))
    assert api.interaction_replies()[-1]["components"]  # buttons while the view lives
    await wait_for(lambda: api.calls("PATCH", r"^/webhooks/\d+/tok\d+/messages/\d+$"))
    assert api.calls("PATCH", r"^/webhooks/\d+/tok\d+/messages/\d+$")[-1].body["components"] == []


async def test_feeds_import_takes_an_opml_attachment_and_export_returns_one(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, feeds: FeedServer
) -> None:
    """/feeds import reads the attached OPML (downloaded like any attachment), adds its feeds
    with the same checks as /feeds add; /feeds export answers with an OPML file of them."""
    bot.settings = type(bot.settings)(
        **{
            **{f: getattr(bot.settings, f) for f in bot.settings.__slots__},
            "allow_private_feeds": True,  # the loopback feed server is "private"
        }
    )
    url = feeds.set_feed(
        "/dyn/reporter.xml",
        title="Chicago Reporter",
        items=[{"title": "ICE in Pilsen", "link": "https://reporter.example/1", "guid": "1",
                "pubDate": "Tue, 24 Nov 2026 10:00:00 GMT"}],
    )
    opml = (
        '<?xml version="1.0"?><opml version="2.0"><head><title>mine</title></head><body>'
        f'<outline type="rss" text="Chicago Reporter" xmlUrl="{url}"/></body></opml>'
    ).encode()
    opml_url = feeds.set_body("/dyn/feeds.opml", opml, content_type="text/x-opml")
    attachment = {"id": "777", "filename": "feeds.opml", "size": len(opml), "url": opml_url,
                  "proxy_url": opml_url, "content_type": "text/x-opml"}
    await invoke(bot, feed_cmd(
        "import", [option("file", "777", 11)], resolved={"attachments": {"777": attachment}}
    ))
    assert "Imported 1 feeds" in texts(api.interaction_replies()[-1])
    assert [f.url for f in await store.guild_feeds(str(GUILD_ID))] == [url]

    await invoke(bot, feed_cmd("export", []))
    (callback,) = [r for r in api.requests if r.path.endswith("/callback")][-1:]
    body = callback.body if isinstance(callback.body, str) else json.dumps(callback.body)
    assert 'filename="feeds.opml"' in body and url in body and "<opml" in body
    assert '"flags": 64' in body or '"flags":64' in body  # only the admin who asked sees it
