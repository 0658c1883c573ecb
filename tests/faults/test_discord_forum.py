"""Issue 14 threads, forum side: a forum channel takes each alert as a post (POST
/channels/{forum}/threads with its starter message, validated against Discord's OpenAPI by the
stand-in); an edit that adds outlets updates the starter message and posts into the post; after
a crash `find_sent` finds the post (a forum has no history: it reads the bot's posts)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.discordbot.sink import destination
from bot.models import Alert, Story
from tests.faults.discord_helpers import in_process_bot

FORUM = 15


def _alert(i: int, dest: object, outlets: tuple[str, ...] = ("Block Club Chicago",)) -> Alert:
    return Alert(
        delivery_id=i, destination_id=1, destination=dest,  # type: ignore[arg-type]
        story=Story(
            id=i, title=f"ICE raid {i} reported in Little Village @everyone", url=f"https://news.example/{i}",
            source="Block Club Chicago", outlets=outlets, published=datetime(2026, 11, 25, tzinfo=UTC),
            topics=("immigration-enforcement",), cities=("chicago-il",), summary="Agents arrived at dawn.",
            independent=len(outlets),
        ),
    )  # fmt: skip


async def test_alerts_in_a_forum_are_posts_updated_in_place_and_found_after_a_crash(tmp_path: Path) -> None:
    async with in_process_bot(tmp_path, channels=({"name": "forum", "type": FORUM},)) as w:  # type: ignore[arg-type]
        forum_id = w.channels["forum"]
        dest = destination(w.guild_id, forum_id)
        ref = await w.bot.sink.send(dest, [_alert(31, dest)], "nonce-forum-31")
        post = w.standin.guild_of(forum_id).channels[int(ref)]
        assert post.parent_id == forum_id and post.name.startswith("ICE raid 31")
        (starter,) = w.standin.messages(int(ref))
        assert starter["id"] == ref and "story #31" in starter["embeds"][0]["footer"]["text"]
        assert starter["content"] == ""  # no mention rule: nothing pings
        await w.bot.sink.edit(dest, ref, [_alert(31, dest, ("Block Club Chicago", "WBEZ"))])
        starter, update = w.standin.messages(int(ref))
        assert "2 outlets" in starter["embeds"][0]["description"]
        assert update["content"] == "Also reported by WBEZ"
        assert await w.bot.sink.find_sent(dest, [31, 32]) == {31: ref}
        assert w.standin.requests_to("POST", rf"^/channels/{forum_id}/threads$")
        w.standin.assert_clean()
        assert w.standin.warnings == []


async def test_subscribe_takes_a_forum_channel(tmp_path: Path) -> None:
    from tests.faults.discord_helpers import answer

    async with in_process_bot(tmp_path, channels=("alerts", {"name": "forum", "type": FORUM})) as w:  # type: ignore[arg-type]
        reply = await answer(await w.slash("alerts", "subscribe", {"city": "chicago-il", "channel": w.channels["forum"]}))
        assert "will get alerts" in reply.text and f"<#{w.channels['forum']}>" in reply.text, reply.text
        (sub,) = await w.store.subscriptions(platform="discord")
        assert sub.destination.address == str(w.channels["forum"])
        reply = await answer(await w.slash("alerts", "unsubscribe", {"city": "chicago-il", "channel": w.channels["forum"]}))
        assert await w.store.subscriptions(platform="discord") == [], reply.text
        w.standin.assert_clean()
