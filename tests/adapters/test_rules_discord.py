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
