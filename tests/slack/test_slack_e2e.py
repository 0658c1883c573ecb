"""End to end: the real `python -m bot run` with SLACK_* set, against the Slack stand-in (every
Web API call judged by Slack's OpenAPI file) and a loopback feed server.

subscribe (refused to a plain member) → one alert → "also reported by" edit → search →
unsubscribe; a 429 storm; the bot removed from a channel and invited back; a deleted channel.
Every test ends with zero spec violations and no token anywhere in the bot's output.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.faults.harness import BotProcess
from tests.feedserver import FeedServer
from tests.slack.world import CITY, World, items, slack_env, write_feeds
from tests.slack_standin import BOT_USER, MEMBER, TEAM_ID, SlackStandIn

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> AsyncIterator[World]:
    if not (shared_dir / "slack-openapi" / "slack_web_openapi_v2.json").exists():
        pytest.skip("../shared/slack-openapi is absent")
    tmp = tmp_path_factory.mktemp("slack-e2e")
    async with SlackStandIn() as standin, FeedServer() as feeds:
        url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
        env = slack_env(standin, tmp, write_feeds(tmp / "feeds.toml", url))
        with BotProcess(env, tmp) as bot:
            bot.start()
            w = World(standin, feeds, bot, tmp, [])
            await w.ready()
            yield w


async def test_subscribe_alert_edit_search_unsubscribe(world: World) -> None:
    channel = world.standin.add_channel("alerts")
    refused = await world.civic(channel, f"subscribe {CITY}", user=MEMBER)
    assert "Only this channel's manager" in refused
    assert world.subscriptions(channel) == 0
    answer = await world.civic(channel, f"subscribe {CITY}")
    assert "now gets alerts for *Chicago, IL*" in answer, answer

    world.publish(items("basic", 0, 1))
    await world.eventually(lambda: world.story_counts(channel), 40, "the first alert")
    [message] = channel.top_level()
    assert message["unfurl_links"] is False and message["unfurl_media"] is False
    assert message["metadata"]["event_type"] == "civic_alert"
    [story_id] = world.story_counts(channel)

    # a second outlet reports the same story: the alert is edited, not posted again
    same = dict(items("basic", 0, 1)[0], guid="other-0", link="https://other.example/0")
    other = world.feeds.set_feed("/dyn/other.xml", title="Chicago Other", items=[same])
    added = await world.civic(channel, f"feeds add {other}")
    assert "Added" in added, added
    await world.eventually(lambda: "Also reported by" in str(channel.top_level()[0]["blocks"]), 40,
                           "the also-reported-by edit")
    assert world.story_counts(channel) == {story_id: 1}
    assert world.standin.count("chat.update", ok=True) >= 1

    found = await world.civic(channel, "search warehouse", user=MEMBER)
    assert "ICE agents detain 3 workers" in found, found
    gone = await world.civic(channel, f"unsubscribe {CITY}")
    assert "no longer gets alerts" in gone
    assert world.subscriptions(channel) == 0
    world.assert_clean()


async def test_rate_limit_storm_loses_and_doubles_nothing(world: World) -> None:
    channel = world.standin.add_channel("storm")
    assert "now gets alerts" in await world.civic(channel, f"subscribe {CITY}")
    world.standin.rate_limit("chat.postMessage", 4, retry_after=1)
    new = items("storm", 100, 6)
    world.publish(new)
    want = 6
    await world.eventually(lambda: len(world.story_counts(channel)) >= want, 60, "every storm alert")
    counts = world.story_counts(channel)
    assert len(counts) == want and set(counts.values()) == {1}, counts
    assert any(c.status == 429 for c in world.standin.calls if c.method == "chat.postMessage")
    await world.civic(channel, f"unsubscribe {CITY}")
    world.assert_clean()


async def test_removed_from_channel_pauses_and_invite_resumes(world: World) -> None:
    channel = world.standin.add_channel("perm")
    assert "now gets alerts" in await world.civic(channel, f"subscribe {CITY}")
    channel.is_member = False
    world.publish(items("perm", 200, 1))
    await world.eventually(lambda: world.paused(channel) == 1, 40, "the channel to be paused")
    assert not channel.top_level()
    assert "paused" in await world.civic(channel, "status", user=MEMBER)
    channel.is_member = True
    await world.standin.event({"type": "member_joined_channel", "user": BOT_USER, "channel": channel.id,
                               "channel_type": "C", "team": TEAM_ID})
    await world.eventually(lambda: world.story_counts(channel), 40, "the held alert after the invite")
    assert world.paused(channel) == 0
    assert set(world.story_counts(channel).values()) == {1}
    await world.civic(channel, f"unsubscribe {CITY}")
    world.assert_clean()


async def test_deleted_channel_ends_the_subscription(world: World) -> None:
    channel = world.standin.add_channel("doomed")
    assert "now gets alerts" in await world.civic(channel, f"subscribe {CITY}")
    assert world.subscriptions(channel) == 1
    channel.deleted = True
    world.publish(items("doomed", 300, 1))
    await world.eventually(lambda: world.subscriptions(channel) == 0, 40, "the subscription to end")
    lines = [line for line in world.log_text().splitlines() if "destination gone" in line]
    assert lines, "the ended subscription is logged"
    world.assert_clean()


async def test_rule_options_and_thread_replies(world: World) -> None:
    """`threads=on` (and other rule options) from the command line; the "also reported by"
    update edits the alert and replies in its thread."""
    channel = world.standin.add_channel("threads")
    answer = await world.civic(channel, f'subscribe {CITY} threads=on include="warehouse" min_outlets=1')
    assert "now gets alerts" in answer, answer
    sub_id = answer.split("subscription #")[1].split(".")[0]
    bad = await world.civic(channel, f"rules {sub_id} min_outlets=lots")
    assert "\n" not in bad.strip() and "min" in bad.lower(), bad
    assert "only this channel's manager" in (await world.civic(channel, f"rules {sub_id} digest=daily", user=MEMBER)).lower()

    first = items("thread", 400, 1)
    world.publish(first)
    await world.eventually(lambda: world.story_counts(channel), 40, "the threaded alert")
    [message] = channel.top_level()
    same = dict(first[0], guid="thread-other", link="https://third.example/0")
    other = world.feeds.set_feed("/dyn/third.xml", title="Chicago Third", items=[same])
    assert "Added" in await world.civic(channel, f"feeds add {other}")
    await world.eventually(lambda: channel.replies(message["ts"]), 40, "the thread reply")
    assert "Also reported by" in channel.replies(message["ts"])[0]["text"]
    assert len(channel.top_level()) == 1
    listing = await world.civic(channel, "list", user=MEMBER)
    assert f"#{sub_id}" in listing
    assert "/civic subscribe" in await world.civic(channel, "help", user=MEMBER)
    assert "don't know" in await world.civic(channel, "frobnicate", user=MEMBER)
    await world.civic(channel, f"unsubscribe {CITY}")
    world.assert_clean()


async def test_slow_command_is_acked_at_once_and_answered_later(world: World) -> None:
    """Slack wants an ack within 3 s: a feed that takes 4 s to answer gets "Working on it…"
    first, then the real answer through the command's response_url."""
    channel = world.standin.add_channel("slow")
    slow = world.feeds.url("/hostile/slow-headers?delay=4")
    answered_late = len(world.standin.responses)
    answer = await world.civic(channel, f"feeds add {slow}")
    assert len(world.standin.responses) == answered_late + 1, "the answer did not come by response_url"
    assert answer and "\n" not in answer.strip() and "Working on it" not in answer, answer
    world.assert_clean()


async def test_channel_deleted_event_ends_the_subscription_at_once(world: World) -> None:
    channel = world.standin.add_channel("evented")
    assert "now gets alerts" in await world.civic(channel, f"subscribe {CITY}")
    channel.deleted = True
    await world.standin.event({"type": "channel_deleted", "channel": channel.id})
    await world.eventually(lambda: world.subscriptions(channel) == 0, 20, "the subscription to end")
    world.assert_clean()
