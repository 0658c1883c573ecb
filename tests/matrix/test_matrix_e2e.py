"""End to end against a real Synapse: the real `civic-alerts run` process with MATRIX_* set,
a person driving `!alerts` commands over the client-server API, the loopback feed server.

subscribe → one alert (m.notice, escaped HTML, nobody pinged) → a second outlet edits it
(m.replace, no new alert) → search → a member without power is refused → unsubscribe; and no
token anywhere in the bot's output.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.matrix.conftest import POLL_WAIT, World
from tests.matrix_standin.synapse import invite_and_join, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

HOSTILE = "ICE agents detain two men in Chicago's Pilsen: 1<2 & <b>x</b> @room"


def item(guid: str, link: str, title: str = HOSTILE, minutes_ago: int = 5) -> dict[str, Any]:
    return {
        "title": title,
        "guid": guid,
        "link": link,
        "pubDate": datetime.now(UTC) - timedelta(minutes=minutes_ago),
        "description": "Federal immigration agents detained two men outside a Pilsen bakery in Chicago on Tuesday. "
        "<b>Neighbors</b> filmed the arrests.",
    }


async def test_commands_alert_edit_search_unsubscribe(world: World) -> None:
    room = await world.room("alerts")
    helped = await world.command(room, "!alerts help")
    assert "!alerts subscribe" in helped

    unknown = await world.command(room, "!alerts subscribe Chicagoo")
    assert unknown.startswith("Sorry:") and "Did you mean: Chicago, IL" in unknown, unknown
    reply = await world.command(room, "!alerts subscribe Chicago, IL")
    assert "Chicago, IL" in reply and "Subscription #" in reply, reply
    listed = await world.command(room, "!alerts list")
    assert "Chicago, IL" in listed

    url = world.feeds.set_feed("/dyn/pilsen.xml", title="Pilsen Post", items=[item("p-1", "https://pilsen.example/1")])
    added = await world.command(room, f"!alerts feeds add {url}")
    assert "Added" in added, added

    alerts = await wait_for(lambda: world.alerts(room), "the Chicago alert", POLL_WAIT)
    assert len(alerts) == 1
    content = alerts[0]["content"]
    assert content["msgtype"] == "m.notice"
    assert content["format"] == "org.matrix.custom.html"
    assert "1<2" in content["body"]
    assert "1&lt;2 &amp;" in content["formatted_body"]  # feed text is escaped, never markup
    assert "<b>x" not in content["formatted_body"]
    assert content["m.mentions"] == {}  # "@room" in a headline pings nobody
    assert not content["body"].startswith("@room")

    # a second outlet reports the same story: the alert is edited, not posted again
    url2 = world.feeds.set_feed(
        "/dyn/tribune.xml",
        title="Chicago Tribune",
        items=[item("t-1", "https://tribune.example/1", title=HOSTILE.replace("two men", "2 men"))],
    )
    assert "Added" in await world.command(room, f"!alerts feeds add {url2}")

    async def edited() -> list[dict[str, Any]]:
        return [
            e for e in await world.person.events(room, 500)
            if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"
            and "Also reported by" in str(e["content"].get("m.new_content", {}).get("body"))
        ]

    edits = await wait_for(edited, "the 'also reported by' edit", POLL_WAIT)
    assert edits[0]["content"]["m.relates_to"]["event_id"] == alerts[0]["event_id"]
    assert len(await world.alerts(room)) == 1

    found = await world.command(room, "!alerts search Pilsen")
    assert "Pilsen" in found and "1<2" in found  # the plain body: the text as published

    # a member with power level 0 may read but not change the room's subscriptions
    member = await world.synapse.register(f"member{secrets.token_hex(3)}", "member-pass-1")
    await invite_and_join(world.person, room, member)
    refused = await world.command(room, "!alerts unsubscribe Chicago, IL", who=member)
    assert "Only room moderators" in refused
    assert "Pilsen" in await world.command(room, "!alerts search Pilsen", who=member)

    bye = await world.command(room, "!alerts unsubscribe Chicago, IL")
    assert "Unsubscribed from Chicago, IL" in bye
    assert "no subscriptions" in await world.command(room, "!alerts list")

    out = world.log_text()
    assert world.bot_user.token not in out and world.password not in out


async def test_rule_options_room_mention_exclude_and_thread_updates(world: World) -> None:
    """exclude drops the Pilsen story; mention=@room pings the room (m.mentions.room) on this
    subscription only; threads=on posts the "also reported by" update into the alert's thread."""
    room = await world.room("rules")
    reply = await world.command(room, "!alerts subscribe Chicago, IL mention=@room threads=on exclude=Pilsen")
    assert "Subscription #" in reply, reply
    sub_id = reply.split("Subscription #")[1].split(".")[0]
    bad = await world.command(room, f"!alerts rules {sub_id} tz=Mars/Olympus")
    assert bad.startswith("Sorry:") and "\n" not in bad, bad
    assert "#" + sub_id in await world.command(room, "!alerts list")

    village = {
        **item("lv-1", "https://village.example/1", title="ICE agents raid Little Village home in Chicago"),
        "description": "Immigration agents arrested a father at his Little Village home in Chicago on Monday.",
    }
    pilsen = item("pl-1", "https://pilsen2.example/1", title="ICE agents raid Pilsen bakery in Chicago", minutes_ago=6)
    url = world.feeds.set_feed("/dyn/village.xml", title="Village Voice", items=[village, pilsen])
    assert "Added" in await world.command(room, f"!alerts feeds add {url}")

    alerts = await wait_for(lambda: world.alerts(room), "the Little Village alert", POLL_WAIT)
    assert len(alerts) == 1 and "Little Village" in alerts[0]["content"]["body"]
    content = alerts[0]["content"]
    assert content["body"].startswith("@room ") and content["m.mentions"] == {"room": True}

    copy = {**village, "guid": "lv-copy", "link": "https://sun-times.example/lv",
            "title": "ICE agents raid a Little Village home in Chicago"}
    url2 = world.feeds.set_feed("/dyn/suntimes.xml", title="Sun-Times", items=[copy])
    assert "Added" in await world.command(room, f"!alerts feeds add {url2}")

    async def thread_update() -> list[dict[str, Any]]:
        return [
            e for e in await world.person.events(room, 500)
            if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.thread"
        ]

    updates = await wait_for(thread_update, "the update in the alert's thread", POLL_WAIT)
    assert updates[0]["content"]["m.relates_to"]["event_id"] == alerts[0]["event_id"]
    assert "Also reported by" in updates[0]["content"]["body"]
    assert updates[0]["content"]["m.mentions"] == {}  # an update never pings the room again
    assert len(await world.alerts(room)) == 1
    assert not any("Pilsen bakery" in e["content"]["body"] for e in await world.alerts(room))
