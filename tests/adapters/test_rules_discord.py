"""Alert rules on Discord, validated by the stand-in against Discord's OpenAPI: a mention rule
permits exactly its one role; digests post one embed; every other message permits nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from bot.adapters.discordbot.sink import destination
from bot.models import Alert, Story
from tests.adapters.test_standin_contract import clean, live  # noqa: F401  (the fixture)
from tests.standin.validation import MENTION_STATS

ROLE = "123456789012345678"


def _alert(i: int, rig: SimpleNamespace, *, mention: str | None = None, digest: bool = False) -> Alert:
    return Alert(
        delivery_id=i,
        destination_id=1,
        destination=destination(int(rig.guild.id), rig.channels["alerts"]),
        story=Story(
            id=i, title=f"ICE raid {i} reported in Little Village @everyone", url=f"https://news.example/{i}",
            source="Block Club Chicago", outlets=("Block Club Chicago", "WBEZ")[: 1 + i % 2],
            published=datetime(2026, 11, 25, tzinfo=UTC), topics=("immigration-enforcement",),
            cities=("chicago-il",), summary="Witnesses said agents arrived at dawn.", independent=1 + i % 2,
        ),
        mention=mention,
        digest=digest,
    )


async def test_mention_permits_exactly_the_one_role(live: SimpleNamespace) -> None:  # noqa: F811
    sink = live.bot.sink
    dest = _alert(1, live).destination
    await sink.send(dest, [_alert(1, live, mention=ROLE)], "nonce-mention-1")
    await sink.send(dest, [_alert(2, live)], "nonce-plain-2")
    await sink.send(dest, [_alert(3, live, digest=True), _alert(4, live, digest=True)], "nonce-digest-3")
    posted = live.standin.messages(live.channels["alerts"])
    allowed = [m["allowed_mentions"] for m in posted]
    assert [[str(r) for r in a.get("roles", [])] for a in allowed] == [[ROLE], [], []]
    assert all(a["parse"] == [] and not a.get("users") for a in allowed)
    assert posted[0]["content"] == f"<@&{ROLE}>"
    assert "2 outlets" in posted[0]["embeds"][0]["description"]
    assert posted[2]["embeds"][0]["title"] == "Digest: 2 stories"
    assert "1 outlet — unconfirmed" in posted[1]["embeds"][0]["description"]
    assert MENTION_STATS["max_roles_allowed"] == 1
    clean(live.standin)  # the OpenAPI schema and the one-role policy, for every message


async def test_a_digest_sent_before_a_crash_is_found_whole(live: SimpleNamespace) -> None:  # noqa: F811
    """Digest crash recovery (issue 14): the worker marks rows `sending`, the digest is posted,
    the process dies before `mark_sent`. On restart `reconcile()` asks `find_sent`; every story
    of that digest must be found in the one message — else the rest would go out again."""
    sink = live.bot.sink
    dest = _alert(1, live).destination
    digest = [_alert(i, live, digest=True) for i in (11, 12, 13)]
    await sink.send(dest, digest, "nonce-digest-crash")
    await sink.send(dest, [_alert(14, live)], "nonce-single-14")
    posted = live.standin.messages(live.channels["alerts"])
    found = await sink.find_sent(dest, [11, 12, 13, 14, 15])
    assert found == {11: posted[0]["id"], 12: posted[0]["id"], 13: posted[0]["id"], 14: posted[1]["id"]}
    clean(live.standin)


async def test_thread_rule_starts_a_thread_and_updates_go_into_it(live: SimpleNamespace) -> None:  # noqa: F811
    """Issue 14 threads: an alert with `thread` gets a public thread on its message (POST
    /channels/{id}/messages/{id}/threads, validated by the spec); an edit that adds outlets
    also posts "Also reported by …" into that thread, mentioning no one."""
    from dataclasses import replace

    sink = live.bot.sink
    assert sink.limits.threads
    first = replace(_alert(21, live), thread=True)
    dest = first.destination
    ref = await sink.send(dest, [first], "nonce-thread-21")
    thread = live.standin.guild_of(live.channels["alerts"]).channels.get(int(ref))
    assert thread is not None and thread.parent_id == live.channels["alerts"]
    assert thread.name.startswith("ICE raid 21 reported in Little Village")
    joined = replace(first, story=replace(first.story, outlets=("Block Club Chicago", "WBEZ", "Chicago Tribune")))
    await sink.edit(dest, ref, [joined])
    (update,) = live.standin.messages(int(ref))
    assert update["content"] == "Also reported by WBEZ, Chicago Tribune"
    assert live.standin.requests_to("POST", rf"^/channels/{live.channels['alerts']}/messages/{ref}/threads$")
    plain = await sink.send(dest, [_alert(22, live)], "nonce-plain-22")  # no thread rule: no thread
    assert int(plain) not in live.standin.guild_of(live.channels["alerts"]).channels
    clean(live.standin)
