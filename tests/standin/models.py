"""The stand-in's world: users, guilds, roles, channels, members, messages, interactions.

Payload builders follow Discord's object shapes closely enough that discord.py builds real
``Guild``/``TextChannel``/``Member``/``Message`` objects from them (see discord/types/*.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .permissions import (
    MEMBER_OVERWRITE,
    ROLE_OVERWRITE,
    Overwrite,
    base_permissions,
    channel_permissions,
)

if TYPE_CHECKING:
    from .server import DiscordStandIn

DISCORD_EPOCH_MS = 1420070400000

# channel types
GUILD_TEXT = 0
GUILD_VOICE = 2
GUILD_CATEGORY = 4
GUILD_ANNOUNCEMENT = 5
PUBLIC_THREAD = 11
GUILD_FORUM = 15

# message flags
EPHEMERAL = 1 << 6
LOADING = 1 << 7


class SnowflakeFactory:
    """Time-based, strictly increasing snowflakes (so ids sort like Discord's and carry a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._last = 0

    def __call__(self) -> int:
        with self._lock:
            ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
            value = (ms << 22) | (1 << 17) | (next(self._counter) & 0xFFF)
            if value <= self._last:
                value = self._last + 1
            self._last = value
            return value

    def on_shard(self, shard_id: int, shard_count: int) -> int:
        """A fresh snowflake of a guild that lives on `shard_id` of `shard_count`
        (Discord: shard_id = (guild_id >> 22) % num_shards): the time part is moved forward
        to the next millisecond that lands there; later ids still sort after it."""
        value = self()
        with self._lock:
            ms = value >> 22
            ms += (shard_id - ms) % shard_count
            value = (ms << 22) | (value & ((1 << 22) - 1))
            self._last = max(self._last, value)
            return value


def iso_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0" if not self.bot else "0001",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "bot": self.bot,
        }
        if self.bot:
            data["system"] = False
        return data


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            data["tags"] = {"bot_id": str(self.bot_id)}
        return data


@dataclass
class Channel:
    id: int
    guild_id: int
    name: str
    type: int = GUILD_TEXT
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    overwrites: list[Overwrite] = field(default_factory=list)
    last_message_id: int | None = None
    rate_limit_per_user: int = 0
    owner_id: int | None = None  # threads: who started it
    auto_archive_duration: int = 1440  # threads

    @property
    def is_text(self) -> bool:
        return self.type in (GUILD_TEXT, GUILD_ANNOUNCEMENT, PUBLIC_THREAD)

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "permission_overwrites": [ow.to_payload() for ow in self.overwrites],
            "nsfw": self.nsfw,
            "flags": 0,
        }
        if self.is_text:
            data.update(
                topic=self.topic,
                rate_limit_per_user=self.rate_limit_per_user,
                last_message_id=str(self.last_message_id) if self.last_message_id else None,
                default_auto_archive_duration=1440,
                last_pin_timestamp=None,
            )
        if self.type == GUILD_FORUM:
            data.update(topic=self.topic, rate_limit_per_user=0, last_message_id=None, available_tags=[],
                        default_reaction_emoji=None, default_thread_rate_limit_per_user=0,
                        default_auto_archive_duration=1440, default_sort_order=None, default_forum_layout=0)
        if self.type == PUBLIC_THREAD:
            # a thread: no overwrites of its own (its parent's apply), plus its metadata
            data.pop("permission_overwrites")
            data.pop("position")
            data.update(owner_id=str(self.owner_id or 0), message_count=0, member_count=1,
                        total_message_sent=0, thread_metadata={
                            "archived": False, "auto_archive_duration": self.auto_archive_duration,
                            "archive_timestamp": iso_now(), "locked": False})
        elif self.type == GUILD_VOICE:
            data.update(bitrate=64000, user_limit=0, rtc_region=None, rate_limit_per_user=0, last_message_id=None)
        return data


@dataclass
class Member:
    user: User
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    def payload(self) -> dict[str, Any]:
        return {
            "user": self.user.payload(),
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }


@dataclass
class Guild:
    """A guild in the stand-in. Mutating helpers dispatch the matching gateway events."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    bot_role_id: int = 0
    unavailable: bool = False
    _hub: DiscordStandIn | None = field(default=None, repr=False)

    # ---- lookups -----------------------------------------------------------------------------

    @property
    def everyone_role_id(self) -> int:
        return self.id

    def channel(self, name_or_id: str | int) -> int:
        """Id of a channel by name (or pass an id through after checking it exists)."""
        if isinstance(name_or_id, int):
            if name_or_id not in self.channels:
                raise KeyError(f"no channel {name_or_id} in guild {self.id}")
            return name_or_id
        for ch in self.channels.values():
            if ch.name == name_or_id:
                return ch.id
        raise KeyError(f"no channel named {name_or_id!r} in guild {self.name!r}")

    @property
    def channel_ids(self) -> dict[str, int]:
        return {ch.name: ch.id for ch in self.channels.values()}

    def role(self, name_or_id: str | int) -> int:
        if isinstance(name_or_id, int):
            return name_or_id
        for r in self.roles.values():
            if r.name == name_or_id:
                return r.id
        raise KeyError(f"no role named {name_or_id!r}")

    def permissions_for(self, user_id: int, channel_id: int | None = None) -> int:
        """Discord's algorithm: guild-level when channel_id is None, else with overwrites."""
        member = self.members.get(user_id)
        role_ids = member.roles if member else []
        base = base_permissions(
            is_owner=user_id == self.owner_id,
            everyone=self.roles[self.id].permissions,
            role_perms=(self.roles[r].permissions for r in role_ids if r in self.roles),
        )
        if channel_id is None:
            return base
        ch = self.channels[channel_id]
        text = ch.is_text or ch.type == GUILD_FORUM
        if ch.type == PUBLIC_THREAD and ch.parent_id in self.channels:
            ch = self.channels[ch.parent_id]  # a thread has its parent's permissions
        return channel_permissions(
            base,
            guild_id=self.id,
            member_id=user_id,
            member_role_ids=role_ids,
            overwrites=ch.overwrites,
            text_channel=text,
        )

    def bot_permissions(self, channel_id: int | None = None) -> int:
        assert self._hub is not None
        return self.permissions_for(self._hub.bot_user_id, channel_id)

    # ---- payloads ----------------------------------------------------------------------------

    def payload(self, *, with_counts: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }
        if with_counts:
            data["approximate_member_count"] = len(self.members)
            data["approximate_presence_count"] = 0
        return data

    def create_payload(self, *, members_intent: bool = True, me: int | None = None) -> dict[str, Any]:
        """GUILD_CREATE: the guild plus channels, members (incl. the bot's own), counts.

        Without the privileged GUILD_MEMBERS intent Discord lists only the bot's own member
        (`me`), so a client cannot find the owner (or anyone) in its cache.
        """
        data = self.payload()
        data.update(
            joined_at=iso_now(),
            large=False,
            unavailable=False,
            member_count=len(self.members),
            voice_states=[],
            members=[m.payload() for uid, m in self.members.items() if members_intent or uid == me],
            channels=[c.payload() for c in self.channels.values() if c.type != PUBLIC_THREAD],
            threads=[c.payload() for c in self.channels.values() if c.type == PUBLIC_THREAD],
            presences=[],
            stage_instances=[],
            guild_scheduled_events=[],
            soundboard_sounds=[],
            embedded_activities=[],
            lazy=True,
        )
        return data

    # ---- mutations (dispatch gateway events) -------------------------------------------------

    def _dispatch(self, event: str, data: dict[str, Any]) -> None:
        if self._hub is not None:
            self._hub.dispatch(event, data)

    def _next_id(self) -> int:
        assert self._hub is not None
        return self._hub.snowflake()

    def add_text_channel(
        self,
        name: str,
        *,
        overwrites: Iterable[Overwrite] = (),
        topic: str | None = None,
        type: int = GUILD_TEXT,
        parent_id: int | None = None,
        id: int | None = None,
    ) -> int:
        """Create a channel and dispatch CHANNEL_CREATE. Returns the channel id."""
        ch = Channel(
            id=id or self._next_id(),
            guild_id=self.id,
            name=name,
            type=type,
            position=len(self.channels),
            parent_id=parent_id,
            topic=topic,
            overwrites=list(overwrites),
        )
        self.channels[ch.id] = ch
        self._dispatch("CHANNEL_CREATE", ch.payload())
        return ch.id

    def add_role(self, name: str, permissions: int, *, members: Iterable[int] = (), id: int | None = None) -> int:
        """Create a role (GUILD_ROLE_CREATE) and give it to existing members (GUILD_MEMBER_UPDATE)."""
        role = Role(id=id or self._next_id(), name=name, permissions=int(permissions), position=len(self.roles))
        self.roles[role.id] = role
        self._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.payload()})
        for uid in members:
            self.set_member_roles(uid, [*self.members[uid].roles, role.id])
        return role.id

    def set_role_permissions(self, role: str | int, permissions: int) -> None:
        """Change a role's permissions (GUILD_ROLE_UPDATE). `role` may be "@everyone" or "bot"."""
        rid = self._role_id(role)
        r = self.roles[rid]
        r.permissions = int(permissions)
        self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(self.id), "role": r.payload()})

    def set_bot_permissions(self, permissions: int) -> None:
        self.set_role_permissions(self.bot_role_id, permissions)

    def add_member(
        self, user_id: int | None = None, *, username: str | None = None, roles: Iterable[int] = (), bot: bool = False
    ) -> int:
        """Add a (human) member (GUILD_MEMBER_ADD). Returns the user id."""
        assert self._hub is not None
        user = self._hub.user(user_id, username=username, bot=bot)
        member = Member(user=user, roles=list(roles))
        self.members[user.id] = member
        self._dispatch("GUILD_MEMBER_ADD", {**member.payload(), "guild_id": str(self.id)})
        return user.id

    def set_member_roles(self, user_id: int, roles: Iterable[int]) -> None:
        """Replace a member's roles (GUILD_MEMBER_UPDATE)."""
        member = self.members[user_id]
        member.roles = list(dict.fromkeys(roles))
        self._dispatch("GUILD_MEMBER_UPDATE", {**member.payload(), "guild_id": str(self.id)})

    def set_overwrite(
        self,
        channel: str | int,
        target: int,
        *,
        allow: int = 0,
        deny: int = 0,
        type: int | None = None,
    ) -> None:
        """Set a channel permission overwrite (CHANNEL_UPDATE). `type` defaults from the target."""
        cid = self.channel(channel)
        ch = self.channels[cid]
        if type is None:
            type = ROLE_OVERWRITE if target in self.roles else MEMBER_OVERWRITE
        ch.overwrites = [ow for ow in ch.overwrites if not (ow.id == target and ow.type == type)]
        if allow or deny:
            ch.overwrites.append(Overwrite(id=target, type=type, allow=int(allow), deny=int(deny)))
        self._dispatch("CHANNEL_UPDATE", ch.payload())

    def deny_bot(self, channel: str | int, permissions: int) -> None:
        """Member overwrite denying `permissions` to the bot in one channel."""
        assert self._hub is not None
        self.set_overwrite(channel, self._hub.bot_user_id, deny=permissions, type=MEMBER_OVERWRITE)

    def _role_id(self, role: str | int) -> int:
        if role == "@everyone":
            return self.id
        if role == "bot":
            return self.bot_role_id
        return self.role(role)


@dataclass
class StoredMessage:
    payload: dict[str, Any]
    request: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    deleted: bool = False
    ephemeral: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    def view(self) -> dict[str, Any]:
        """What tests see: the message as Discord stores it plus what the bot asked for."""
        out = dict(self.payload)
        out["nonce"] = self.request.get("nonce")
        out["enforce_nonce"] = self.request.get("enforce_nonce")
        out["allowed_mentions"] = self.request.get("allowed_mentions")
        out["edits"] = len(self.edits)
        return out


@dataclass
class CallbackRecord:
    """An accepted interaction callback (initial response)."""

    type: int
    data: dict[str, Any] | None

    @property
    def flags(self) -> int:
        return int((self.data or {}).get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def deferred(self) -> bool:
        return self.type in (5, 6)

    @property
    def content(self) -> str | None:
        return (self.data or {}).get("content")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list((self.data or {}).get("embeds") or [])

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list((self.data or {}).get("choices") or [])


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until truthy (returns it) or raise TimeoutError naming `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class InteractionHandle:
    """One interaction the stand-in dispatched; await its response and follow-ups."""

    id: int
    token: str
    type: int
    guild_id: int | None
    channel_id: int
    user_id: int
    payload: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    message_id: int | None = None  # the message a component belongs to
    callback: CallbackRecord | None = None
    original: StoredMessage | None = None
    followup_messages: list[StoredMessage] = field(default_factory=list)
    rejected: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (status, error body)
    expired: bool = False

    @property
    def followups(self) -> list[dict[str, Any]]:
        return [m.view() for m in self.followup_messages]

    @property
    def original_message(self) -> dict[str, Any] | None:
        return self.original.view() if self.original and not self.original.deleted else None

    async def wait_response(self, timeout: float = 5.0) -> CallbackRecord:
        """The accepted initial callback (type + data; `.ephemeral`, `.deferred`, `.choices`)."""
        return await wait_until(lambda: self.callback, timeout, f"a response to interaction {self.id}")

    async def wait_followups(self, n: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        await wait_until(lambda: len(self.followup_messages) >= n, timeout, f"{n} follow-up(s) to interaction {self.id}")
        return self.followups

    async def wait_original(self, timeout: float = 5.0) -> dict[str, Any]:
        """The original response message once it is no longer "thinking" (deferred then edited)."""

        def ready() -> dict[str, Any] | None:
            msg = self.original_message
            if msg is not None and not int(msg.get("flags") or 0) & LOADING:
                return msg
            return None

        return await wait_until(ready, timeout, f"the original response of interaction {self.id}")
