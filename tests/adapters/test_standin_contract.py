"""Every request the cogs and the sink make, validated by the Discord stand-in, in-process.

Why in addition to the recording fake: the fake shows *what* the bot said; the stand-in checks
that Discord would *accept* it — command registration payloads (names, descriptions, choices,
channel types), interaction callbacks, follow-ups, button updates and alert messages against
Discord's OpenAPI file and documented limits. Faster than e2e (no subprocess), and it caught a
real bug: an `AppCommandChannel` option advertised channel types Discord rejects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot.adapters.discordbot import sync
from bot.adapters.discordbot.client import CivicBot
from bot.adapters.discordbot.sink import destination
from bot.models import Alert, FeedConfig, Story
from bot.settings import Settings
from bot.store import Store
from tests.adapters.conftest import CogApp, article, seed_articles


@pytest.fixture
async def live(tmp_path: Path, classifier: Any) -> AsyncIterator[SimpleNamespace]:
    from tests.standin import DiscordStandIn, Perm
    from tests.standin.fixtures import connected_client, require_openapi

    require_openapi()
    store = await Store.open(tmp_path / "db.sqlite3")
    await store.sync_feeds([FeedConfig(url="http://127.0.0.1:1/test-feed.xml")])
    async with DiscordStandIn() as standin:
        guild = standin.add_guild(
            "Organizers",
            channels=["alerts", {"name": "no-embeds", "deny_bot": int(Perm.EMBED_LINKS)}],
        )
        channels = {ch.name: int(cid) for cid, ch in guild.channels.items()}
        settings = Settings(
            db_path=tmp_path / "db.sqlite3",
            discord_token=standin.token,
            discord_api_base=standin.api_base,
        )
        app = CogApp(settings=settings, store=store, classifier=classifier)

        def factory() -> CivicBot:
            return CivicBot(settings, app=app, open_resources=False)  # type: ignore[arg-type]

        async with connected_client(standin, client_factory=factory) as bot:
            await sync.sync_dev_guild(bot, int(guild.id))
            yield SimpleNamespace(
                standin=standin, guild=guild, channels=channels, bot=bot, store=store
            )
    await store.close()


def clean(standin: Any) -> None:
    assert standin.violations == [], [str(v) for v in standin.violations]
    assert standin.errors == [], standin.errors


async def test_command_registration_is_accepted(live: SimpleNamespace) -> None:
    names = {c["name"] for c in live.standin.registered_commands(int(live.guild.id))}
    assert names == {
        "subscribe",
        "unsubscribe",
        "subscriptions",
        "rules",
        "search",
        "latest",
        "feeds",
        "status",
        "help",
    }
    clean(live.standin)


async def test_every_command_answers_with_valid_bodies(live: SimpleNamespace) -> None:
    s, gid, owner = live.standin, int(live.guild.id), int(live.guild.owner_id)
    alerts = live.channels["alerts"]
    await seed_articles(
        live.store, [article(i, f"ICE raid {i} in Pilsen @everyone", hours_ago=i) for i in range(1, 13)]
    )
    calls: list[tuple[str, dict[str, Any]]] = [
        ("subscribe", {"city": "chicago-il", "topics": "all"}),
        ("subscribe", {"city": "chicago-il", "channel": live.channels["no-embeds"]}),
        ("subscriptions", {}),
        ("rules", {"subscription": 1, "exclude": "Pilsen", "timezone": "America/Chicgo"}),
        ("rules", {"subscription": 1, "exclude": "Pilsen", "digest": "daily@08:00", "timezone": "America/Chicago"}),
        ("unsubscribe", {"city": "chicago-il"}),
        ("latest", {"city": "chicago-il"}),
        ("latest", {"city": "nowhere at all"}),
        ("status", {}),
        ("help", {}),
        ("feeds list", {}),
        ("feeds add", {"url": "file:///etc/passwd"}),
        ("feeds remove", {"url": "https://example.com/none.xml"}),
        ("search", {"query": "ICE raid", "public": True}),
        ("search", {"query": '"; DROP -x:* C++ 🚨', "days": 7, "topic": "national-guard"}),
    ]
    for command, options in calls:
        handle = await s.invoke_slash(gid, alerts, owner, command, options)
        record = await handle.wait_response(5)
        if record.deferred:
            await handle.wait_followups(1, 5)
        assert not handle.rejected, (command, handle.rejected)
    choices = await s.invoke_autocomplete(
        gid, alerts, owner, "subscribe", focused="city", value="chi"
    )
    assert 0 < len(choices) <= 25 and {"name": "Chicago, IL", "value": "chicago-il"} in choices
    clean(s)


async def test_search_pages_through_buttons(live: SimpleNamespace) -> None:
    s, gid, owner = live.standin, int(live.guild.id), int(live.guild.owner_id)
    await seed_articles(live.store, [article(i, f"ICE raid {i} in Pilsen", hours_ago=i) for i in range(1, 13)])
    handle = await s.invoke_slash(
        gid, live.channels["alerts"], owner, "search", {"query": "ICE raid", "public": True}
    )
    await handle.wait_response(5)
    message = (await handle.wait_followups(1, 5))[0]
    assert "Results 1–5" in message["embeds"][0]["footer"]["text"]
    click = await s.press_button(message, "civic:search:next", user_id=owner)
    record = await click.wait_response(5)
    assert record.type == 7 and "Results 6–10" in record.embeds[0]["footer"]["text"]
    clean(s)


async def test_ten_huge_alerts_are_accepted_as_sent(live: SimpleNamespace) -> None:
    """The stand-in enforces 10 embeds / 6,000 characters / field limits on the real POST."""
    huge = [
        Alert(
            delivery_id=i,
            destination_id=1,  # not a stored row: the sink only reads `destination`
            destination=destination(int(live.guild.id), live.channels["alerts"]),
            story=Story(
                id=i,
                title="@everyone " + "T" * 600,
                url="https://news.example/" + "a" * 300,
                source="S" * 400,
                outlets=tuple(f"Outlet {n}" for n in range(40)),
                published=datetime(2026, 11, 25, tzinfo=UTC),
                topics=("immigration-enforcement",),
                cities=("chicago-il",),
                summary="Sentence. " * 700,
                why=("x ← y",) * 12,
            ),
        )
        for i in range(1, 13)
    ]
    sink = live.bot.sink
    remaining = huge
    while remaining:
        n = sink.batch_size(remaining)
        assert 1 <= n <= 10
        await sink.send(huge[0].destination, remaining[:n], f"nonce{len(remaining)}")
        remaining = remaining[n:]
    posted = [e for m in live.standin.messages(live.channels["alerts"]) for e in m["embeds"]]
    assert len(posted) == 12
    assert live.standin.warnings == []  # nothing silently dropped
    clean(live.standin)
