"""Fixtures for cog tests: a real CivicBot, a real SQLite store, a recording REST endpoint.

How a command runs here: build the interaction payload Discord would send, wrap it in
`discord.Interaction(data=payload, state=bot._connection)` and hand it to the real
`CommandTree._call` — so checks, transformers, autocomplete and the tree's error handler all
run as in production. What the bot answers goes over real HTTP (discord.py's own webhook
adapter) to tests/adapters/fakeapi.py, where the test reads it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.adapters.discordbot.client import CivicBot, configure_api_base
from bot.adapters.discordbot.sink import PLATFORM, destination
from bot.models import Article, Destination, FeedConfig, Match, Subscription
from bot.settings import Settings
from bot.store import Store
from tests.adapters.fakeapi import APP_ID, BOT_ID, OWNER_ID, FakeDiscordAPI, user_payload
from tests.store.helpers import save

GUILD_ID = 1
ALERTS = 10  # the bot can post here
NO_EMBEDS = 11  # a role overwrite denies the bot Embed Links
HIDDEN = 12  # the bot cannot view this one
BOT_ROLE = 50
ADMIN_ID = 3
MEMBER_ID = 4
FEED_URL = "http://127.0.0.1:1/test-feed.xml"

P = discord.Permissions
EVERYONE_PERMS = P(
    view_channel=True, send_messages=True, read_message_history=True, embed_links=True
)
BOT_PERMS = P(view_channel=True, send_messages=True, embed_links=True, read_message_history=True)
ADMIN_PERMS = P(manage_channels=True, manage_guild=True, view_channel=True, send_messages=True)
MEMBER_PERMS = P(view_channel=True, send_messages=True, read_message_history=True)

_ids = itertools.count(500_000_000_000_000_001)


def chan(channel_id: int, guild_id: int = GUILD_ID) -> Destination:
    """The store's destination for a channel of the test guild."""
    return destination(guild_id, channel_id)


async def guild_subscriptions(store: Store, guild_id: int = GUILD_ID) -> list[Subscription]:
    """The subscriptions of one test server, as the cogs see them."""
    return await store.subscriptions(platform=PLATFORM, group=str(guild_id))


def channel_ids(subs: Sequence[Subscription]) -> list[int]:
    return [int(s.destination.address) for s in subs]


async def pause(store: Store, channel_id: int, reason: str) -> None:
    """What the delivery worker does on a 403: pause the channel's destination."""
    dest_id = await store.destination_id(chan(channel_id))
    assert dest_id is not None, f"channel {channel_id} has no destination row"
    await store.pause_destination(dest_id, reason)


async def seed_articles(store: Store, items: Sequence[tuple[Article, Match]]) -> None:
    """Save articles through the story assembler, as the poller does."""
    await save(store, FEED_URL, items)


@dataclass
class CogApp:
    """What the cogs use of `bot.app.App`, over the test's real store and classifier.

    Why not a full App: the cog tests drive no poller, scheduler or worker pool; the store,
    the gazetteer and the delivery wake-up are the whole surface the cogs touch. `wakes`
    counts wake-ups so a test can check that queued alerts were pushed out.
    """

    settings: Settings
    store: Store
    classifier: Any
    guild_fetcher: Any = None  # None: /feeds add opens a one-off fetcher with the same rule
    wakes: int = 0

    @property
    def gazetteer(self) -> Any:
        return self.classifier.gazetteer

    def wake_delivery(self) -> None:
        self.wakes += 1


def channel_payload(
    channel_id: int, name: str, overwrites: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(GUILD_ID),
        "name": name,
        "position": channel_id,
        "permission_overwrites": list(overwrites),
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }


def guild_payload() -> dict[str, Any]:
    role = {
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
        "icon": None,
        "unicode_emoji": None,
    }
    return {
        "id": str(GUILD_ID),
        "name": "Organizers",
        "owner_id": str(OWNER_ID),
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "features": [],
        "emojis": [],
        "stickers": [],
        "member_count": 3,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "roles": [
            {
                **role,
                "id": str(GUILD_ID),
                "name": "@everyone",
                "position": 0,
                "permissions": str(EVERYONE_PERMS.value),
            },
            {
                **role,
                "id": str(BOT_ROLE),
                "name": "civic-alerts",
                "position": 1,
                "permissions": str(BOT_PERMS.value),
                "managed": True,
            },
        ],
        "channels": [
            channel_payload(ALERTS, "alerts"),
            channel_payload(
                NO_EMBEDS,
                "no-embeds",
                [
                    {
                        "id": str(BOT_ROLE),
                        "type": 0,
                        "allow": "0",
                        "deny": str(P(embed_links=True).value),
                    }
                ],
            ),
            channel_payload(
                HIDDEN,
                "hidden",
                [
                    {
                        "id": str(GUILD_ID),
                        "type": 0,
                        "allow": "0",
                        "deny": str(P(view_channel=True).value),
                    }
                ],
            ),
        ],
        "members": [
            {
                "user": user_payload(BOT_ID, "civic-alerts", bot=True),
                "roles": [str(BOT_ROLE)],
                "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
            },
        ],
        "threads": [],
        "voice_states": [],
        "presences": [],
        "large": False,
        "unavailable": False,
    }


def option(name: str, value: Any, type_: int = 3, *, focused: bool = False) -> dict[str, Any]:
    opt: dict[str, Any] = {"name": name, "type": type_, "value": value}
    if focused:
        opt["focused"] = True
    return opt


def interaction_payload(
    name: str,
    options: Sequence[dict[str, Any]] = (),
    *,
    kind: int = 2,
    channel_id: int = ALERTS,
    user_id: int = ADMIN_ID,
    user_perms: discord.Permissions = ADMIN_PERMS,
    app_perms: discord.Permissions = BOT_PERMS,
    resolved: dict[str, Any] | None = None,
    guild: bool = True,
) -> dict[str, Any]:
    """What Discord sends as INTERACTION_CREATE for a slash command (kind 2) or autocomplete (4)."""
    iid = next(_ids)
    data: dict[str, Any] = {"id": "42", "name": name, "type": 1, "options": list(options)}
    if resolved:
        data["resolved"] = resolved
    payload: dict[str, Any] = {
        "id": str(iid),
        "application_id": str(APP_ID),
        "type": kind,
        "token": f"tok{iid}",
        "version": 1,
        "channel_id": str(channel_id),
        "locale": "en-US",
        "app_permissions": str(app_perms.value),
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "authorizing_integration_owners": {"0": str(GUILD_ID)} if guild else {"1": str(user_id)},
        "context": 0 if guild else 1,
        "data": data,
    }
    if guild:
        payload["guild_id"] = str(GUILD_ID)
        payload["guild_locale"] = "en-US"
        payload["channel"] = {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": "alerts",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        }
        payload["member"] = {
            "user": user_payload(user_id, f"user{user_id}"),
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(user_perms.value),
        }
    else:
        payload["channel"] = {"id": str(channel_id), "type": 1}
        payload["user"] = user_payload(user_id, f"user{user_id}")
    return payload


def channel_option(
    name: str, channel_id: int, channel_name: str = "chan"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(option, resolved) for a channel argument."""
    resolved = {
        "channels": {
            str(channel_id): {
                "id": str(channel_id),
                "name": channel_name,
                "type": 0,
                "permissions": str(ADMIN_PERMS.value),
                "parent_id": None,
            }
        }
    }
    return option(name, str(channel_id), 7), resolved


async def invoke(bot: CivicBot, payload: dict[str, Any]) -> discord.Interaction:
    """Run one interaction through the real CommandTree (checks, transformers, on_error)."""
    interaction = discord.Interaction(data=payload, state=bot._connection)  # type: ignore[arg-type]
    await bot.tree._call(interaction)
    return interaction


def article(
    n: int,
    title: str,
    *,
    summary: str = "",
    city: str = "chicago-il",
    topics: Sequence[str] = ("immigration-enforcement",),
    source: str = "Block Club Chicago",
    hours_ago: float = 1.0,
    url: str | None = None,
) -> tuple[Article, Match]:
    published = datetime.now(UTC) - timedelta(hours=hours_ago)
    link = url or f"https://news.example/story-{n}"
    return (
        Article(
            feed_url=FEED_URL,
            guid=f"g{n}",
            url=link,
            link=link,
            title=title,
            summary=summary or f"Summary of story {n}. It has two sentences.",
            published=published,
            published_known=True,
            source=source,
            source_url=None,
            image_url=None,
            identity=link,
        ),
        Match(
            topics=tuple(topics),
            cities=(city,) if city else (),
            why=(f'topic ← "{title.split()[0]}"',),
        ),
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeDiscordAPI]:
    fake = await FakeDiscordAPI().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_path)
    await opened.sync_feeds([FeedConfig(url=FEED_URL, name="Test feed")])
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
def classifier() -> Any:
    """The real classifier (the cogs use its gazetteer), loaded once per session."""
    from bot.relevance import load_classifier

    return load_classifier()


@pytest.fixture
def settings(db_path: Path, api: FakeDiscordAPI) -> Settings:
    return Settings(
        db_path=db_path,
        discord_token="fake",
        discord_api_base=api.base,
        catchup_count=3,
        search_page_size=5,
    )


@pytest.fixture
async def bot(
    api: FakeDiscordAPI, store: Store, settings: Settings, classifier: Any
) -> AsyncIterator[CivicBot]:
    """A logged-in CivicBot (HTTP only, no gateway) with the test guild in its cache."""
    old_base = discord.http.Route.BASE
    configure_api_base(api.base)
    app = CogApp(settings=settings, store=store, classifier=classifier)
    client = CivicBot(settings, app=app, open_resources=False)  # type: ignore[arg-type]
    await client.login(
        "fake"
    )  # GET /users/@me, /oauth2/applications/@me; runs setup_hook (loads cogs)
    client._connection._add_guild_from_data(guild_payload())  # what GUILD_CREATE would cache
    client._ready.set()  # as after READY: the sink waits for it before touching the cache
    try:
        yield client
    finally:
        await client.close()
        discord.http.Route.BASE = old_base
