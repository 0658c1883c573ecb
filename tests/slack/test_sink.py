"""SlackSink through the real slack_sdk AsyncWebClient against the stand-in: what Slack is
sent (Block Kit, fallback, no unfurls, metadata), and how each Slack answer becomes the
delivery worker's outcome. The stand-in judges every call by Slack's OpenAPI file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack import blocks as B
from bot.adapters.slack.sink import SlackSink, destination
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.models import Alert, Story
from tests.slack_standin import BOT_TOKEN, BOT_USER, TEAM_ID, SlackStandIn


def story(sid: int, title: str = "ICE raid reported", outlets: tuple[str, ...] = ("Tribune",)) -> Story:
    return Story(
        id=sid, title=title, url=f"https://news.example/{sid}", source=outlets[0], outlets=outlets,
        published=datetime(2026, 12, 1, 12, sid % 60, tzinfo=UTC), topics=("immigration-enforcement",),
        cities=("chicago-il",), summary="Agents were seen near a school. Parents gathered.",
    )


def alert(sid: int, channel: str, **kw: Any) -> Alert:
    return Alert(delivery_id=100 + sid, destination_id=1, destination=destination(TEAM_ID, channel),
                 story=kw.pop("story", None) or story(sid), **kw)


def sink_for(standin: SlackStandIn) -> SlackSink:
    return SlackSink(AsyncWebClient(token=BOT_TOKEN, base_url=standin.api_base), bot_user_id=BOT_USER)


async def test_send_posts_block_kit_without_unfurls_tagged_with_metadata(standin: SlackStandIn) -> None:
    channel = standin.add_channel("alerts")
    sink = sink_for(standin)
    alerts = [alert(1, channel.id), alert(2, channel.id, story=story(2, "<!channel> & <b>court</b>"))]
    ts = await sink.send(alerts[0].destination, alerts, "ca-key")
    [message] = channel.messages
    assert message["ts"] == ts
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert message["metadata"]["event_type"] == "civic_alert"
    assert message["metadata"]["event_payload"]["story_ids"] == "1,2"
    text = str(message["blocks"])
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text  # outside text is inert
    assert "story #2" in text and message["text"].startswith("2 civic alerts")
    assert standin.violations == []


async def test_find_sent_reads_the_metadata_back_from_history(standin: SlackStandIn) -> None:
    channel = standin.add_channel("alerts")
    sink = sink_for(standin)
    ts1 = await sink.send(destination(TEAM_ID, channel.id), [alert(1, channel.id), alert(2, channel.id)], "k1")
    ts3 = await sink.send(destination(TEAM_ID, channel.id), [alert(3, channel.id)], "k2")
    found = await sink.find_sent(destination(TEAM_ID, channel.id), [1, 2, 3, 4])
    assert found == {1: ts1, 2: ts1, 3: ts3}
    assert standin.violations == []


async def test_edit_updates_the_message_and_replies_in_its_thread(standin: SlackStandIn) -> None:
    channel = standin.add_channel("alerts")
    sink = sink_for(standin)
    dest = destination(TEAM_ID, channel.id)
    ts = await sink.send(dest, [alert(5, channel.id, thread=True)], "k")
    more = story(5, outlets=("Tribune", "Sun-Times", "WBEZ"))
    await sink.edit(dest, ts, [alert(5, channel.id, story=more, kind="edit", message_ref=ts, thread=True)])
    top = channel.top_level()
    assert len(top) == 1 and top[0]["edited"] == 1 and "Sun-Times" in str(top[0]["blocks"])
    [reply] = channel.replies(ts)
    assert reply["text"].startswith("Also reported by Sun-Times")
    assert standin.violations == []


async def test_slack_answers_become_delivery_outcomes(standin: SlackStandIn) -> None:
    sink = sink_for(standin)
    limited = standin.add_channel("storm")
    standin.rate_limit("chat.postMessage", 1, retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        await sink.send(destination(TEAM_ID, limited.id), [alert(1, limited.id)], "k")
    assert caught.value.retry_after == 7
    outside = standin.add_channel("outside", is_member=False)
    with pytest.raises(ForbiddenDeliveryError, match="not_in_channel"):
        await sink.send(destination(TEAM_ID, outside.id), [alert(1, outside.id)], "k")
    archived = standin.add_channel("old", archived=True)
    with pytest.raises(ChannelGoneError, match="is_archived"):
        await sink.send(destination(TEAM_ID, archived.id), [alert(1, archived.id)], "k")
    with pytest.raises(ChannelGoneError, match="channel_not_found"):
        await sink.send(destination(TEAM_ID, "C999999999"), [alert(1, "C999999999")], "k")
    assert standin.violations == []


def test_ten_long_stories_stay_inside_block_kit_limits() -> None:
    long = [alert(i, "C000000001", story=story(i, "x" * 400)) for i in range(12)]
    blocks = B.alert_blocks(long[: B.MAX_STORIES], str, str)
    assert len(blocks) <= B.MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= B.SECTION_MAX for b in blocks if b["type"] == "section")
    digest = B.alert_blocks([alert(i, "C000000001", story=story(i, "y" * 250), digest=True) for i in range(25)], str, str)
    assert all(len(b["text"]["text"]) <= B.SECTION_MAX for b in digest if b["type"] == "section")


@pytest.mark.parametrize(
    ("error", "status", "outcome"),
    [
        ("account_inactive", 200, ChannelGoneError),  # the app was uninstalled: subscriptions end
        ("token_revoked", 200, ChannelGoneError),
        ("invalid_auth", 200, TransientDeliveryError),  # a mistyped token never ends subscriptions
        ("restricted_action", 200, ForbiddenDeliveryError),
        ("missing_scope", 200, ForbiddenDeliveryError),
        ("internal_error", 500, TransientDeliveryError),
    ],
)
async def test_every_slack_error_has_one_outcome(
    standin: SlackStandIn, error: str, status: int, outcome: type[Exception]
) -> None:
    channel = standin.add_channel("alerts")
    standin.fail("chat.postMessage", error, status=status)
    with pytest.raises(outcome) as caught:
        await sink_for(standin).send(destination(TEAM_ID, channel.id), [alert(1, channel.id)], "k")
    assert "\n" not in str(caught.value) and BOT_TOKEN[:12] not in str(caught.value)
    assert standin.violations == []


async def test_a_deleted_alert_is_not_an_edit_failure(standin: SlackStandIn) -> None:
    channel = standin.add_channel("alerts")
    sink = sink_for(standin)
    await sink.edit(destination(TEAM_ID, channel.id), "1700000000.000001", [alert(1, channel.id, kind="edit")])
    assert standin.count("chat.update", ok=False) == 1 and standin.violations == []
