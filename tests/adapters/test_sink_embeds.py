"""Alert embeds and the Discord AlertSink: limits, escaping, error mapping, crash recovery.

Why these matter: Discord rejects a whole message over any limit (so one long feed title
would block a channel's queue), feed text is untrusted (an "@everyone" in a headline must not
ping a server), and the DeliveryWorker's policy depends on the sink mapping each HTTP outcome
to the right exception.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import discord
import pytest

from bot import render
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.client import CivicBot
from bot.delivery import DeliveryProblem, ProblemKind
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.models import Alert, Story
from bot.relevance import load_topics
from tests.adapters.conftest import ALERTS, GUILD_ID, NO_EMBEDS, chan
from tests.adapters.fakeapi import FakeDiscordAPI

HOSTILE = "@everyone @here <@&123456789012345678> <@123456789012345678> [click](http://evil.example) **bold** `x`"


def story(
    n: int = 1,
    *,
    title: str = "ICE agents detain two in Pilsen",
    summary: str = "Agents came at dawn. Neighbors filmed.",
    outlets: tuple[str, ...] = ("WBEZ",),
    source: str = "WBEZ",
    url: str = "https://news.example/a",
) -> Story:
    return Story(
        id=n,
        title=title,
        url=url,
        source=source,
        outlets=outlets,
        published=datetime(2026, 11, 25, 12, 0, tzinfo=UTC),
        topics=("immigration-enforcement",),
        cities=("chicago-il",),
        summary=summary,
        why=('immigration-enforcement ← "ICE agents"',),
    )


def alert(n: int, s: Story | None = None, channel_id: int = ALERTS) -> Alert:
    # destination_id is the store's row id; the sink never reads it (these alerts have no row)
    return Alert(delivery_id=n, destination_id=channel_id, destination=chan(channel_id), story=s or story(n))


def test_alert_embed_shape() -> None:
    s = story(7, outlets=("WBEZ", "Block Club Chicago", "Chicago Sun-Times"))
    embed = E.alert_embed(
        s,
        city_label=lambda c: "Chicago, IL" if c == "chicago-il" else c,
        topic_label=load_topics().label,
    )
    assert embed.title == "ICE agents detain two in Pilsen"
    assert embed.url == "https://news.example/a"
    assert "Agents came at dawn." in (embed.description or "")
    assert "Chicago, IL · Immigration enforcement" in (embed.description or "")
    assert "Also reported by Block Club Chicago, Chicago Sun\\-Times" in (
        embed.description or ""
    ) or "Also reported by Block Club Chicago, Chicago Sun-Times" in (embed.description or "")
    assert embed.timestamp == s.published
    assert embed.footer.text and embed.footer.text.endswith("story #7")
    assert render.STORY_REF_RE.search(embed.footer.text).group(1) == "7"  # type: ignore[union-attr]


def test_huge_story_stays_within_embed_limits() -> None:
    s = story(
        3,
        title="Headline " * 200,
        summary="A sentence that goes on. " * 2000,
        outlets=tuple(f"Outlet {i}" for i in range(200)),
        source="S" * 1000,
    )
    embed = E.alert_embed(s)
    assert len(embed.title or "") <= 256
    assert len(embed.description or "") <= 4096
    assert len(embed.footer.text or "") <= 2048
    assert embed.footer.text.endswith("story #3")  # type: ignore[union-attr]
    assert len(embed) < E.MESSAGE_CHARS_MAX


def test_ten_big_alerts_fit_one_message_limit() -> None:
    alerts = [alert(i, story(i, title="T" * 400, summary="Word. " * 500)) for i in range(1, 13)]
    embeds = E.alert_embeds(alerts)
    n = E.batch_size(embeds)
    assert 1 <= n <= 10
    assert sum(len(e) for e in embeds[:n]) <= 6000
    if n < 10:  # the next one would not have fit
        assert sum(len(e) for e in embeds[: n + 1]) > 6000


def test_batch_size_caps_at_ten_small_alerts() -> None:
    embeds = E.alert_embeds([alert(i) for i in range(1, 15)])
    assert E.batch_size(embeds) == 10


def test_hostile_feed_text_renders_inert() -> None:
    s = story(
        5,
        title=HOSTILE,
        summary=HOSTILE + ". More.",
        source="@everyone news",
        outlets=("@everyone news", "<@&123456789012345678>"),
    )
    embed = E.alert_embed(s)
    for text in (embed.title or "", embed.description or "", embed.footer.text or ""):
        assert "@everyone" not in text and "@here" not in text
        assert "<@&123456789012345678>" not in text
        assert "<@123456789012345678>" not in text
        assert not re.search(
            r"(?<!\\)\[click\]\(http", text
        )  # the masked link's bracket is escaped
    assert "@\u200beveryone" in (embed.description or "")


def test_clip_never_leaves_a_dangling_escape() -> None:
    assert not E.clip("a" * 9 + "\\*" * 10, 12).rstrip("…").endswith("\\")


def test_non_http_story_url_is_dropped() -> None:
    assert E.alert_embed(story(url="javascript:alert(1)")).url is None


async def test_send_posts_one_message_with_nonce_and_no_mentions(
    bot: CivicBot, api: FakeDiscordAPI
) -> None:
    s = story(9, title=HOSTILE)
    message_ref = await bot.sink.send(
        chan(ALERTS), [alert(1, s), alert(2, story(10))], "ca0123456789abcdef"
    )
    posts = api.calls("POST", rf"/channels/{ALERTS}/messages$")
    assert len(posts) == 1
    body = posts[0].body
    assert body["allowed_mentions"] == {"parse": []}
    assert body["nonce"] == "ca0123456789abcdef" and body["enforce_nonce"] is True
    assert len(body["embeds"]) == 2
    assert "@everyone" not in body["embeds"][0]["title"]
    assert api.messages[ALERTS][0]["id"] == message_ref  # the reference is the message id, as text


async def test_edit_rerenders_every_embed_without_mentions(
    bot: CivicBot, api: FakeDiscordAPI
) -> None:
    message_ref = await bot.sink.send(chan(ALERTS), [alert(1), alert(2, story(2))], "n1")
    joined = story(2, outlets=("WBEZ", "Block Club Chicago"))
    await bot.sink.edit(chan(ALERTS), message_ref, [alert(1), alert(2, joined)])
    patch = api.calls("PATCH", rf"/channels/{ALERTS}/messages/{message_ref}$")[0].body
    assert patch["allowed_mentions"] == {"parse": []}
    assert len(patch["embeds"]) == 2
    assert "Also reported by Block Club Chicago" in patch["embeds"][1]["description"]


async def test_edit_of_a_deleted_message_is_not_an_error(
    bot: CivicBot, api: FakeDiscordAPI
) -> None:
    sent = await bot.sink.send(chan(ALERTS), [alert(2)], "n1")
    await bot.sink.edit(chan(ALERTS), "123456", [alert(1)])  # fake answers 404 code 10008: no raise
    patches = api.calls("PATCH", rf"/channels/{ALERTS}/messages/")
    assert [p.path for p in patches] == [f"/channels/{ALERTS}/messages/123456"]  # it did try
    assert [m["id"] for m in api.messages[ALERTS]] == [sent]  # nothing re-posted in its place
    assert len(api.calls("POST", r"/channels/\d+/messages$")) == 1

    # any other 404 on an edit is not swallowed: an unknown channel still reads as gone
    api.fail("PATCH", rf"/channels/{ALERTS}/messages/", 404, {"message": "Unknown Channel", "code": 10003})
    with pytest.raises(ChannelGoneError):
        await bot.sink.edit(chan(ALERTS), sent, [alert(2)])


async def test_find_sent_reads_story_ids_from_footers(bot: CivicBot, api: FakeDiscordAPI) -> None:
    first = await bot.sink.send(chan(ALERTS), [alert(1, story(21)), alert(2, story(22))], "n1")
    second = await bot.sink.send(chan(ALERTS), [alert(3, story(23))], "n2")
    found = await bot.sink.find_sent(chan(ALERTS), [21, 23, 99])
    assert found == {21: first, 23: second}


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (403, {"message": "Missing Permissions", "code": 50013}, {}, ForbiddenDeliveryError),
        (404, {"message": "Unknown Channel", "code": 10003}, {}, ChannelGoneError),
        (503, {"message": "unavailable", "code": 0}, {}, TransientDeliveryError),
        (
            429,
            {"message": "rate limited", "retry_after": 2.5, "global": False},
            {"Retry-After": "2.5"},
            RateLimitedError,
        ),
        (400, {"message": "Invalid Form Body", "code": 50035}, {}, TransientDeliveryError),
    ],
)
async def test_send_maps_http_outcomes(
    bot: CivicBot,
    api: FakeDiscordAPI,
    status: int,
    body: dict,
    headers: dict,
    expected: type[Exception],
) -> None:
    # a 429 without a Via header is what discord.py does not retry itself: the worker must wait
    api.fail("POST", r"/channels/\d+/messages$", status, body, headers=headers)
    with pytest.raises(expected) as info:
        await bot.sink.send(chan(ALERTS), [alert(1)], "n")
    if expected is RateLimitedError:
        assert info.value.retry_after == pytest.approx(2.5)


async def test_forbidden_names_the_missing_permission(bot: CivicBot, api: FakeDiscordAPI) -> None:
    api.fail(
        "POST",
        rf"/channels/{NO_EMBEDS}/messages$",
        403,
        {"message": "Missing Permissions", "code": 50013},
    )
    with pytest.raises(ForbiddenDeliveryError) as info:
        await bot.sink.send(chan(NO_EMBEDS), [alert(1, channel_id=NO_EMBEDS)], "n")
    assert info.value.missing == ("Embed Links",)


async def test_channel_not_in_cache_is_gone_once_discord_confirms(
    bot: CivicBot, api: FakeDiscordAPI
) -> None:
    with pytest.raises(ChannelGoneError):
        await bot.sink.send(chan(999_999), [alert(1, channel_id=999_999)], "n")
    assert [r.path for r in api.calls("GET", r"^/channels/")] == [
        "/channels/999999"
    ]  # asked, got 404 10003
    assert api.calls("POST") == []


async def test_unavailable_guild_is_transient_not_gone(bot: CivicBot, api: FakeDiscordAPI) -> None:
    """During an outage a guild's channels can vanish from the cache: retry, never unsubscribe."""
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None
    guild.unavailable = True
    with pytest.raises(TransientDeliveryError):
        await bot.sink.send(chan(999_999), [alert(1, channel_id=999_999)], "n")


async def test_notify_problem_posts_once_in_a_channel_the_bot_can_use(
    bot: CivicBot, api: FakeDiscordAPI
) -> None:
    # the missing names are words the adapter shows: even hostile ones must not ping anyone
    problem = DeliveryProblem(ProblemKind.FORBIDDEN, ("Embed Links @everyone",), "forbidden")
    await bot.sink.notify_problem(chan(NO_EMBEDS), problem)
    posts = api.calls("POST", r"/channels/\d+/messages$")
    assert len(posts) == 1
    assert (
        posts[0].path == f"/channels/{ALERTS}/messages"
    )  # not the broken channel, not the hidden one
    assert posts[0].body["allowed_mentions"] == {"parse": []}
    description = posts[0].body["embeds"][0]["description"]
    assert f"<#{NO_EMBEDS}>" in description and "missing Embed Links" in description  # the adapter words it
    assert "@everyone" not in description


def test_no_mentions_object_is_none() -> None:
    assert E.NO_MENTIONS.to_dict() == discord.AllowedMentions.none().to_dict()
