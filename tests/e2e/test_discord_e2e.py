"""End-to-end scenarios: the real bot process, the Discord stand-in, the loopback feed server.

One bot process serves the module (start-up costs seconds); tests use separate channels so
they do not see each other's alerts. The SIGKILL test runs last and restarts the process.
Every test asserts the stand-in saw no invalid request (`standin.violations == []`).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.conftest import MEMBER_ID, World

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

EPHEMERAL = 64
POLL_WAIT = 50.0  # the configured feed's interval is 30 s (the minimum); plus a tick and a send


def now_rfc822(minutes_ago: int = 0) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes_ago)


PLACES = [
    "car wash", "bakery", "construction site", "church", "school", "bus stop", "courthouse",
    "grocery store", "restaurant", "factory", "apartment complex", "gas station", "park",
    "hospital", "library",
]


def raid_items(city: str, n: int, *, who: str, guid: str, link: str) -> list[dict[str, Any]]:
    """n distinct matching items about `city`, newest first, one per place in PLACES."""
    return [
        {
            "title": f"ICE agents arrest {i + 2} {who} at {city} {PLACES[i]}",
            "guid": f"{guid}-{i}",
            "link": f"{link}/{i}",
            "pubDate": now_rfc822(i + 1),
            "description": f"Immigration agents arrested {i + 2} {who} at a {PLACES[i]} in {city}.",
        }
        for i in range(n)
    ]


def houston_items(n: int, path: str) -> list[dict[str, Any]]:
    return raid_items("Houston", n, who="people", guid=path, link=f"https://houston.example{path}")


def denver_items(n: int) -> list[dict[str, Any]]:
    return raid_items("Denver", n, who="workers", guid="den", link="https://denver.example")


async def eventually(predicate: Any, seconds: float, what: str, world: World) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(
                f"timed out after {seconds}s waiting for {what}; bot log:\n{world.bot.log_tail()}"
            )
        await asyncio.sleep(0.1)


async def answer(handle: Any) -> tuple[bool, str]:
    """(ephemeral?, text) of the bot's answer, whether it replied at once or deferred first."""
    record = await handle.wait_response(10)
    if not record.deferred:
        return record.ephemeral, (record.content or "") + str(record.embeds)
    followup = (await handle.wait_followups(1, 15))[0]
    return record.ephemeral, (followup.get("content") or "") + str(followup.get("embeds") or "")


async def add_feed(world: World, channel: str, url: str) -> Any:
    handle = await world.slash(channel, "feeds add", {"url": url})
    await handle.wait_response(10)
    followups = await handle.wait_followups(1, 15)
    assert "Feed added" in str(followups[0].get("embeds")), followups
    return handle


# ------------------------------------------------------------------ subscribe → publish → alert


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def first_cycle(world: World) -> dict[str, Any]:
    """Subscribe #alerts to Chicago, then the configured feed publishes three items:
    one matching (Chicago + immigration enforcement, with hostile markup), one with no topic,
    one about another city. Waits for the next poll to deliver."""
    handle = await world.slash("alerts", "subscribe", {"city": "chicago-il"})
    response = await answer(handle)
    world.feeds.set_feed(
        "/dyn/chicago.xml",
        title="Chicago Local",
        items=[
            {
                "title": "ICE agents detain two men in Chicago's Pilsen neighborhood @everyone [click](http://evil.example)",
                "guid": "chi-1",
                "link": "https://chicago.example/pilsen",
                "pubDate": now_rfc822(5),
                "description": "Federal immigration agents detained two men outside a Pilsen bakery on Tuesday. "
                "Neighbors filmed the arrests. <@&123456789012345678> was pinged.",
            },
            {
                "title": "Chicago Bears win on Sunday",
                "guid": "chi-2",
                "link": "https://chicago.example/bears",
                "pubDate": now_rfc822(4),
                "description": "The Bears beat the Packers at Soldier Field.",
            },
            {
                "title": "National Guard troops deployed to Portland",
                "guid": "chi-3",
                "link": "https://chicago.example/portland",
                "pubDate": now_rfc822(3),
                "description": "Governor says National Guard troops will arrive in Portland, Oregon.",
            },
        ],
    )
    alerts = world.channels["alerts"]
    await eventually(lambda: world.standin.messages(alerts), POLL_WAIT, "the Chicago alert", world)
    # the poll saved all three items (and queued their alerts) in one transaction before the
    # alert went out: once nothing is left to send anywhere, nothing else can arrive
    await world.outbox_idle()
    return {"response": response}


async def test_subscribe_confirms_ephemerally(world: World, first_cycle: dict[str, Any]) -> None:
    ephemeral, text = first_cycle["response"]
    assert ephemeral and "Chicago, IL" in text
    assert world.standin.registered_commands(world.guild_id)  # commands synced to DEV_GUILD_ID
    world.assert_clean()


async def test_matching_item_posts_exactly_one_alert(
    world: World, first_cycle: dict[str, Any]
) -> None:
    messages = world.standin.messages(world.channels["alerts"])
    assert len(messages) == 1, messages
    embeds = messages[0]["embeds"]
    assert len(embeds) == 1
    embed = embeds[0]
    assert "Pilsen" in embed["title"] and embed["url"] == "https://chicago.example/pilsen"
    assert "@everyone" not in embed["title"] and "@everyone" not in embed.get("description", "")
    assert "<@&123456789012345678>" not in embed.get("description", "")
    assert "Chicago, IL" in embed["description"]
    assert embed["footer"]["text"].split()[-2:][0] == "story"
    posts = world.standin.requests_to("POST", rf"/channels/{world.channels['alerts']}/messages$")
    assert posts and all(p.body.get("allowed_mentions") == {"parse": []} for p in posts)
    world.assert_clean()


async def test_non_matching_items_post_nothing(world: World, first_cycle: dict[str, Any]) -> None:
    for name, channel_id in world.channels.items():
        if name == "alerts":
            continue
        titles = [
            e.get("title", "")
            for m in world.standin.messages(channel_id)
            for e in m.get("embeds") or []
        ]
        assert not any("Bears" in t or "Portland" in t for t in titles), (name, titles)
    titles = [
        e["title"] for m in world.standin.messages(world.channels["alerts"]) for e in m["embeds"]
    ]
    assert not any("Bears" in t or "Portland" in t for t in titles)
    world.assert_clean()


# ------------------------------------------------------------------ refusals


async def test_member_without_manage_channels_is_refused(world: World) -> None:
    from tests.standin import Perm

    handle = await world.slash(
        "alerts",
        "subscribe",
        {"city": "boston-ma"},
        user_id=MEMBER_ID,
        member_permissions=int(
            Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.USE_APPLICATION_COMMANDS
        ),
        check_default_permissions=False,  # a server may override default permissions; the check must hold
    )
    ephemeral, text = await answer(handle)
    assert ephemeral and "Manage Channels" in text
    world.assert_clean()


async def test_bot_lacking_embed_links_is_named(world: World) -> None:
    handle = await world.slash("no-embeds", "subscribe", {"city": "chicago-il"})
    ephemeral, text = await answer(handle)
    assert ephemeral and "Embed Links" in text
    assert "Send Messages" not in text
    world.assert_clean()


async def test_search_with_hostile_text_answers_cleanly(world: World) -> None:
    query = "ICE\" AND -raid:* o'hare C++ NEAR( 🚨 @everyone " + "x" * 1500
    handle = await world.slash("search", "search", {"query": query})
    response = await handle.wait_response(10)
    assert response.deferred and response.ephemeral
    followups = await handle.wait_followups(1, 10)
    embed = followups[0]["embeds"][0]
    assert embed["title"].startswith("Search:")
    assert "@everyone" not in embed["title"]
    assert "Sorry" not in str(followups[0])
    world.assert_clean()


# ------------------------------------------------------------------ deleted channel


async def test_deleted_channel_loses_its_subscriptions(world: World) -> None:
    doomed = world.channels["doomed"]
    handle = await world.slash("doomed", "subscribe", {"city": "boston-ma"})
    assert "Boston" in (await answer(handle))[1]
    world.standin.delete_channel(doomed)

    async def listed() -> str:
        return (await answer(await world.slash("alerts", "subscriptions")))[1]

    deadline = time.monotonic() + 10
    text = await listed()
    while f"<#{doomed}>" in text and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        text = await listed()
    assert f"<#{doomed}>" not in text, text
    assert f"<#{world.channels['alerts']}>" in text  # the others stay
    world.assert_clean()


# ------------------------------------------------------------------ 429 storm


async def test_rate_limit_storm_delivers_every_alert_once(world: World) -> None:
    handle = await world.slash("storm", "subscribe", {"city": "denver-co"})
    await handle.wait_response(10)
    url = world.feeds.set_feed("/dyn/denver.xml", title="Denver Desk", items=denver_items(12))
    world.standin.faults.rate_limit_storm(4.0)  # every bot-token request → 429 (global) for 4 s
    await add_feed(world, "storm", url)  # interaction routes are exempt, like Discord's
    ids = await eventually(
        lambda: len(world.alert_story_ids("storm")) >= 12 and world.alert_story_ids("storm"),
        45,
        "12 Denver alerts after the storm",
        world,
    )
    await world.outbox_idle("storm")
    ids = world.alert_story_ids("storm")
    assert len(ids) == 12 and len(set(ids)) == 12, ids
    storm_posts = world.standin.requests_to(
        "POST", rf"/channels/{world.channels['storm']}/messages$"
    )
    assert any(r.status == 429 for r in storm_posts), "the storm never hit an alert send"
    assert sum(1 for r in storm_posts if r.status == 200) == len(
        world.standin.messages(world.channels["storm"])
    )
    world.assert_clean()


async def test_outlet_joining_a_story_edits_the_alert_instead_of_posting(world: World) -> None:
    """A second outlet reports Denver story #0: the posted alert is edited ("Also reported by")."""
    storm = world.channels["storm"]
    before_messages = len(world.standin.messages(storm))
    before_ids = world.alert_story_ids("storm")
    assert before_ids, "needs the storm test's Denver alerts"
    item = denver_items(1)[0]
    url = world.feeds.set_feed(
        "/dyn/denver-post.xml",
        title="Denver Post",
        items=[
            {
                **item,
                "guid": "dp-0",
                "link": "https://denverpost.example/0",
                "title": item["title"].replace("at Denver", "at a Denver"),
            }
        ],
    )
    await add_feed(world, "storm", url)

    def edited() -> bool:
        return any(
            "Also reported by Denver Post" in (e.get("description") or "")
            for m in world.standin.messages(storm)
            for e in m.get("embeds") or []
        )

    await eventually(edited, 20, "the alert to be edited with the new outlet", world)
    assert len(world.standin.messages(storm)) == before_messages  # edited, not re-posted
    assert sorted(world.alert_story_ids("storm")) == sorted(before_ids)
    edits = world.standin.requests_to("PATCH", rf"/channels/{storm}/messages/\d+$")
    assert edits and all(r.body.get("allowed_mentions") == {"parse": []} for r in edits)
    world.assert_clean()


async def test_original_arriving_after_its_copy_takes_over_the_alert(
    world: World, first_cycle: dict[str, Any]
) -> None:
    """Issue 18: a syndicated copy is alerted first; the publisher's own (earlier) report arrives
    a cycle later; the alert is edited to lead with the original — link and source."""
    alerts = world.channels["alerts"]
    title = "ICE agents raid Back of the Yards warehouse in Chicago, nine workers detained"
    copy_url = world.feeds.set_feed(
        "/dyn/lead-copy.xml",
        title="Syndicator",
        items=[{"title": title, "guid": "copy-1", "link": "https://syndicator.example/raid-copy",
                "pubDate": now_rfc822(30), "description": "Republished from the Chicago Reporter."}],
    )
    await add_feed(world, "alerts", copy_url)

    def alert_of(link: str) -> dict[str, Any] | None:
        for message in world.standin.messages(alerts):
            for embed in message.get("embeds") or []:
                if embed.get("url") == link:
                    return embed
        return None

    await eventually(lambda: alert_of("https://syndicator.example/raid-copy"), POLL_WAIT,
                     "the copy's alert", world)
    before = len(world.standin.messages(alerts))
    original_url = world.feeds.set_feed(
        "/dyn/lead-original.xml",
        title="Chicago Reporter",
        items=[{"title": title, "guid": "orig-1", "link": "https://chicagoreporter.example/raid",
                "pubDate": now_rfc822(60), "description": "Our reporters were at the warehouse."}],
    )
    await add_feed(world, "alerts", original_url)
    await eventually(lambda: alert_of("https://chicagoreporter.example/raid"), POLL_WAIT,
                     "the alert to be edited to lead with the original", world)
    assert alert_of("https://syndicator.example/raid-copy") is None  # the same message, now led by it
    assert len(world.standin.messages(alerts)) == before  # edited, never re-posted
    world.assert_clean()


async def test_subscribe_posts_a_catch_up_of_the_latest_three_once(world: World) -> None:
    """A late subscriber gets the 3 newest Denver stories through the outbox, exactly once."""
    handle = await world.slash("quiet", "subscribe", {"city": "denver-co"})
    ephemeral, text = await answer(handle)
    assert ephemeral and "catch-up" in text
    await eventually(lambda: len(world.alert_story_ids("quiet")) >= 3, 15, "the catch-up", world)
    await world.outbox_idle("quiet")
    ids = world.alert_story_ids("quiet")
    assert len(ids) == 3 and len(set(ids)) == 3, ids
    titles = [
        e["title"] for m in world.standin.messages(world.channels["quiet"]) for e in m["embeds"]
    ]
    # the three newest Denver items are numbered 2, 3, 4 (published 1, 2, 3 minutes ago)
    assert sorted(int(t.split()[3]) for t in titles) == [2, 3, 4], titles
    world.assert_clean()


async def test_server_error_is_retried_and_delivered_once(world: World) -> None:
    """A 503 on the alert POST: the worker backs off and retries; the channel gets each story once."""
    retry = world.channels["retry"]
    rule = world.standin.faults.fail_next(
        "POST", rf"/channels/{retry}/messages$", status=503, count=1
    )
    handle = await world.slash("retry", "subscribe", {"city": "denver-co"})  # 3 catch-up stories
    await answer(handle)
    ids = await eventually(
        lambda: len(world.alert_story_ids("retry")) >= 3 and world.alert_story_ids("retry"),
        30,
        "the catch-up after a 503",
        world,
    )
    await world.outbox_idle("retry")
    ids = world.alert_story_ids("retry")
    assert rule.hits == 1 and len(ids) == 3 and len(set(ids)) == 3, (rule.hits, ids)
    world.assert_clean()


async def test_unknown_channel_404_removes_its_subscriptions(world: World) -> None:
    """Discord answers 404 Unknown Channel (10003) to an alert POST: the channel's subscriptions go."""
    gone = world.channels["gone"]
    rule = world.standin.faults.fail_next(
        "POST",
        rf"/channels/{gone}/messages$",
        status=404,
        count=1,
        code=10003,
        message="Unknown Channel",
    )
    handle = await world.slash("gone", "subscribe", {"city": "denver-co"})
    assert "Denver" in (await answer(handle))[1]
    await eventually(lambda: rule.hits >= 1, 15, "the alert POST to #gone", world)

    async def listed() -> str:
        return (await answer(await world.slash("alerts", "subscriptions")))[1]

    deadline = time.monotonic() + 10
    text = await listed()
    while f"<#{gone}>" in text and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        text = await listed()
    assert f"<#{gone}>" not in text, text
    assert world.standin.messages(gone) == []
    world.assert_clean()


async def test_gateway_drop_resumes_and_commands_still_work(world: World) -> None:
    resumes = sum(s.resumes for s in world.standin.gateway.sessions.values())
    assert world.standin.faults.drop_gateway(4000) >= 1
    await world.standin.wait_resumes(resumes + 1, timeout=30)
    ephemeral, text = await answer(await world.slash("alerts", "help"))
    assert ephemeral and "/subscribe" in text
    world.assert_clean()


def notices(world: World) -> list[str]:
    """Texts of the bot's "needs attention" notices anywhere in the server."""
    out = []
    for channel_id in world.channels.values():
        if channel_id in world.standin.deleted_channels:
            continue
        for message in world.standin.messages(channel_id):
            for embed in message.get("embeds") or []:
                if embed.get("title") == "civic-alert-bot needs attention":
                    out.append(embed.get("description") or "")
    return out


async def test_lost_permission_pauses_notifies_once_then_resumes_when_fixed(world: World) -> None:
    from tests.standin import Perm

    handle = await world.slash("flaky", "subscribe", {"city": "phoenix-az"})
    assert "Phoenix" in (await answer(handle))[1]
    world.guild.deny_bot(
        "flaky", int(Perm.EMBED_LINKS)
    )  # an admin changes the channel (CHANNEL_UPDATE)
    items = [
        {
            "title": f"ICE agents arrest {i + 2} people at Phoenix {place}",
            "guid": f"phx-{i}",
            "link": f"https://phoenix.example/{i}",
            "pubDate": now_rfc822(i + 1),
            "description": f"Immigration agents arrested {i + 2} people at a {place} in Phoenix.",
        }
        for i, place in enumerate(["car wash", "bakery"])
    ]
    await add_feed(
        world, "alerts", world.feeds.set_feed("/dyn/phoenix.xml", title="Phoenix Desk", items=items)
    )

    await eventually(lambda: notices(world), 20, "a notice about the missing permission", world)
    # paused and marked notified, with no send in flight: a second notice could only come from a
    # second pause, which the notified flag turns into silence
    await eventually(
        lambda: world.destination_row("flaky") == (1, 1) and world.pending("flaky") == 2,
        10,
        "#flaky paused and marked notified, both alerts held",
        world,
    )
    assert len(notices(world)) == 1 and "Embed Links" in notices(world)[0], notices(world)
    assert world.alert_story_ids("flaky") == []
    listed = (await answer(await world.slash("alerts", "subscriptions")))[1]
    assert "paused" in listed

    # the admin fixes it: the bot resumes by itself and delivers what it held, once
    world.guild.set_overwrite("flaky", world.standin.bot_user_id, allow=0, deny=0, type=1)
    ids = await eventually(
        lambda: len(world.alert_story_ids("flaky")) >= 2 and world.alert_story_ids("flaky"),
        20,
        "the held Phoenix alerts after the fix",
        world,
    )
    await world.outbox_idle("flaky")
    ids = world.alert_story_ids("flaky")
    assert len(ids) == 2 and len(set(ids)) == 2, ids
    assert len(notices(world)) == 1
    world.assert_clean()


# ------------------------------------------------------------------ autocomplete, buttons, embed limits


async def test_oversized_items_autocomplete_and_paging_buttons_through_the_real_process(world: World) -> None:
    """Issue 16 item 10: traffic the other scenarios never sent — autocomplete, a button press
    and items long enough to hit Discord's embed limits — validated by the stand-in."""
    choices = await world.standin.invoke_autocomplete(
        world.guild_id, world.channels["oversized"], world.owner_id, "subscribe", focused="city", value="sacra"
    )
    assert 0 < len(choices) <= 25 and "sacramento-ca" in {c["value"] for c in choices}, choices
    handle = await world.slash("oversized", "subscribe", {"city": "sacramento-ca"})
    await handle.wait_response(10)
    items = [
        {
            "title": f"ICE agents arrest {i + 2} workers at Sacramento {PLACES[i]} " + "🚨 very long headline " * 40,
            "guid": f"sac-{i}",
            "link": f"https://sacramento.example/{i}?" + "q=" + "x" * 1500,
            "pubDate": now_rfc822(i + 1),
            "description": f"Immigration agents arrested {i + 2} workers in Sacramento. " + "Witnesses said. " * 1500,
        }
        for i in range(12)
    ]
    url = world.feeds.set_feed("/dyn/sacramento.xml", title="Sacramento Desk " + "S" * 300, items=items)
    await add_feed(world, "oversized", url)
    await eventually(lambda: len(world.alert_story_ids("oversized")) >= 12, 60, "12 oversized alerts", world)
    await world.outbox_idle("oversized")
    for message in world.standin.messages(world.channels["oversized"]):
        for embed in message.get("embeds") or []:
            assert len(embed.get("title") or "") <= 256 and len(embed.get("description") or "") <= 4096
    search = await world.slash("oversized", "search", {"query": "Sacramento workers", "public": True})
    await search.wait_response(10)
    page = (await search.wait_followups(1, 15))[0]
    assert "Results 1–5" in page["embeds"][0]["footer"]["text"], page
    click = await world.standin.press_button(page, "civic:search:next", user_id=world.owner_id)
    record = await click.wait_response(10)
    assert record.type == 7 and "Results 6–10" in record.embeds[0]["footer"]["text"]
    world.assert_clean()



# ------------------------------------------------------------------ SIGKILL mid-delivery (last)


async def test_sigkill_mid_delivery_then_restart_loses_and_doubles_nothing(world: World) -> None:
    handle = await world.slash("crash", "subscribe", {"city": "houston-tx"})
    await handle.wait_response(10)
    crash = world.channels["crash"]
    # the first alert POST to #crash is held 3 s inside the stand-in: we kill the bot meanwhile,
    # so the message may be created after the bot died (sent, but never recorded as sent)
    rule = world.standin.faults.fail_next(
        "POST", rf"/channels/{crash}/messages$", status=200, count=1, delay=3.0
    )
    url = world.feeds.set_feed(
        "/dyn/houston.xml", title="Houston Desk", items=houston_items(14, "/h")
    )
    await add_feed(world, "crash", url)
    await eventually(lambda: rule.hits >= 1, 30, "the first alert POST to #crash", world)
    world.bot.kill()
    assert await world.bot.wait_exit(10) is not None
    # the stand-in records a request when it has answered it: the held POST has finished
    await eventually(
        lambda: any(r.status == 200 for r in world.standin.requests_to("POST", rf"/channels/{crash}/messages$")),
        10,
        "the held POST to #crash to complete",
        world,
    )
    before = world.alert_story_ids("crash")
    # the hard case really happened: alerts stand in the channel that the dead bot never recorded
    assert before, (
        "the held POST did not complete after the kill; the crash window was not exercised"
    )

    await world.bot.start()
    await world.wait_ready(2)
    ids = await eventually(
        lambda: len(world.alert_story_ids("crash")) >= 14 and world.alert_story_ids("crash"),
        45,
        "14 Houston alerts after the restart",
        world,
    )
    await world.outbox_idle("crash")
    ids = world.alert_story_ids("crash")
    assert len(ids) == 14 and len(set(ids)) == 14, (before, ids)
    # no channel got anything twice across the restart
    for name in world.channels:
        if name != "doomed":
            posted = world.alert_story_ids(name)
            assert len(posted) == len(set(posted)), (name, posted)
    world.assert_clean()


async def test_sigterm_shuts_down_cleanly(world: World) -> None:
    code = await world.bot.stop()
    assert code == 0, world.bot.log_tail()
    log = world.bot.log_path.read_text("utf-8", "replace")
    assert "Traceback" not in log, world.bot.log_tail(120)
    # no secret in anything the bot printed: the bot token, nor any interaction token
    assert world.standin.token not in log
    leaked = [h.token for h in world.standin.interactions.values() if h.token in log]
    assert leaked == []
    world.assert_clean()


async def test_sync_commands_cli_registers_globally(world: World) -> None:
    """`civic-alerts sync-commands`: HTTP only, forced global upsert (+ the dev guild)."""
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "sync-commands",
        cwd=world.tmp,
        env=world.bot.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "synced 9 global commands" in out.decode()
    assert {c["name"] for c in world.standin.registered_commands(None)} >= {
        "subscribe",
        "search",
        "feeds",
    }
    world.assert_clean()

