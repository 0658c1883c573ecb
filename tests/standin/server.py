"""DiscordStandIn: a local stand-in for Discord's REST API v10 and gateway, for tests.

One aiohttp app on 127.0.0.1:<random port> serves ``/api/v10/...`` (REST) and ``/gateway``
(websocket). Every REST body is validated against Discord's OpenAPI description plus Discord's
documented limits; a rejected body is answered like Discord does (400, code 50035) and recorded
in :attr:`DiscordStandIn.violations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from aiohttp import web

from .gateway import GUILD_MEMBERS, GUILD_MESSAGES, GUILDS, Gateway
from .models import (
    EPHEMERAL,
    GUILD_FORUM,
    GUILD_TEXT,
    LOADING,
    PUBLIC_THREAD,
    CallbackRecord,
    Channel,
    Guild,
    InteractionHandle,
    Member,
    Role,
    SnowflakeFactory,
    StoredMessage,
    User,
    iso_now,
    wait_until,
)
from .permissions import DEFAULT_BOT, DEFAULT_EVERYONE, Overwrite, Perm
from .ratelimit import RateLimitConfig, RateLimiter, global_429_headers, rate_limit_body
from .validation import (
    OpenAPISchemas,
    ValidationResult,
    Violation,
    check_autocomplete,
    check_command,
    check_message_limits,
    load_schemas,
)

log = logging.getLogger("standin")

API_PREFIX = "/api/v10"

# interaction types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
# callback types allowed per interaction type
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    APPLICATION_COMMAND: {4, 5, 9, 12},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 12},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
CALLBACK_SCHEMAS = {
    1: "PongInteractionCallbackRequest",
    4: "CreateMessageInteractionCallbackRequest",
    5: "CreateMessageInteractionCallbackRequest",
    6: "UpdateMessageInteractionCallbackRequest",
    7: "UpdateMessageInteractionCallbackRequest",
    8: "ApplicationCommandAutocompleteCallbackRequest",
    9: "ModalInteractionCallbackRequest",
    12: "LaunchActivityInteractionCallbackRequest",
}
# message flags a bot may set: SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2 (+ EPHEMERAL
# for interaction responses and follow-ups)
CHANNEL_MESSAGE_FLAGS = (1 << 2) | (1 << 12) | (1 << 15)
WEBHOOK_MESSAGE_FLAGS = CHANNEL_MESSAGE_FLAGS | EPHEMERAL
OPTION_TYPES = {3: "string", 4: "integer", 5: "boolean", 6: "user", 7: "channel", 8: "role", 9: "mentionable", 10: "number"}


def _default_openapi_path() -> Path:
    try:
        from tests.conftest import SHARED_DIR
    except ImportError:  # pragma: no cover - outside this repository's test tree
        SHARED_DIR = Path(__file__).resolve().parents[3] / "shared"
    return Path(SHARED_DIR) / "discord-openapi" / "openapi.json"


class RequestRecord(NamedTuple):
    """One REST request as the stand-in saw it (path relative to /api/v10, query dropped)."""

    method: str
    path: str
    status: int
    body: Any


class StandInError(Exception):
    """A test used the stand-in wrongly (unknown command, option, channel …)."""


@dataclass
class _Req:
    method: str
    path: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any
    files: list[dict[str, Any]]
    template: str | None


@dataclass
class _Resp:
    status: int
    data: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: int, message: str) -> _Resp:
    return _Resp(status, {"message": message, "code": code})


Handler = Callable[[_Req], Awaitable[_Resp]]


@dataclass
class _Route:
    method: str
    regex: re.Pattern[str]
    handler: Handler
    bucket: str
    major: str | None  # name of the major parameter
    token_route: bool = False  # interaction/webhook-token routes: no bot auth, no global limit


@dataclass
class FaultRule:
    method: str
    path_regex: re.Pattern[str]
    status: int
    count: int
    retry_after: float | None = None
    global_: bool = False
    code: int | None = None
    message: str | None = None
    delay: float = 0.0
    cloudflare: bool = False
    hits: int = 0


class Faults:
    """Fault injection for one stand-in (``standin.faults``)."""

    def __init__(self, hub: DiscordStandIn) -> None:
        self._hub = hub
        self.rules: list[FaultRule] = []
        self.storm_until = 0.0
        self.storm_retry_after: float | None = None
        self.storm_global = True

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        count: int = 1,
        *,
        retry_after: float | None = None,
        global_: bool = False,
        code: int | None = None,
        message: str | None = None,
        delay: float = 0.0,
        cloudflare: bool = False,
    ) -> FaultRule:
        """Answer the next `count` matching requests (method "*" = any; regex searched in the path
        relative to /api/v10) with `status`. A 429 gets Discord's rate-limit body and headers
        (incl. ``Via``) with `retry_after` (default 0.1 s); `delay` sleeps before answering (a 2xx
        status with a delay only slows the real answer down). ``cloudflare=True`` answers like
        Cloudflare's edge instead: a text/plain body and no ``Via`` (discord.py does not retry)."""
        rule = FaultRule(method.upper(), re.compile(path_regex), status, count, retry_after, global_, code, message,
                         delay, cloudflare)
        self.rules.append(rule)
        return rule

    def rate_limit_storm(self, seconds: float, *, retry_after: float | None = None, global_: bool = True) -> None:
        """Every bot-token request gets a 429 for `seconds` (interaction routes are exempt)."""
        self.storm_until = time.monotonic() + seconds
        self.storm_retry_after = retry_after
        self.storm_global = global_

    def drop_gateway(self, code: int = 4000) -> int:
        """Close every gateway connection with `code` (4000: the client RESUMEs)."""
        conns = [c for c in self._hub.gateway.connections if not c.closed]
        for c in conns:
            self._hub.gateway.close_codes.append(code)
            c.close_later(code)
        return len(conns)

    def send_reconnect(self) -> int:
        """Send op 7 RECONNECT; the client should reconnect and RESUME."""
        return self._hub.gateway.send_reconnect()

    def invalidate_session(self, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION; with resumable=False the session is gone (fresh IDENTIFY)."""
        return self._hub.gateway.invalidate(resumable)

    def expire_interaction_tokens(self) -> int:
        """Every interaction so far: callbacks → 404 10062, follow-ups/edits → 401 50027."""
        n = 0
        for h in self._hub.interactions.values():
            if not h.expired:
                h.expired = True
                n += 1
        return n

    def stop_heartbeat_acks(self, stop: bool = True) -> None:
        self._hub.gateway.ack_heartbeats = not stop

    def clear(self) -> None:
        self.rules.clear()
        self.storm_until = 0.0

    def _match(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.count > 0 and rule.method in ("*", method) and rule.path_regex.search(path):
                rule.count -= 1
                rule.hits += 1
                return rule
        return None


class DiscordStandIn:
    """A local Discord (REST v10 + gateway) for tests. Use as ``async with DiscordStandIn() as s``."""

    def __init__(
        self,
        token: str = "fake-token",
        app_id: int | None = None,
        bot_user_id: int | None = None,
        *,
        bot_username: str = "CivicAlerts",
        openapi_path: str | Path | None = None,
        validate: bool = True,
        heartbeat_interval: float = 5.0,
        interaction_ack_timeout: float = 3.0,
        interaction_token_ttl: float = 15 * 60.0,
        nonce_window: float = 300.0,
        rate_limits: RateLimitConfig | None = None,
        allowed_privileged_intents: int = 0,
        owner_id: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        recommended_shards: int = 1,
        identify_max_concurrency: int | None = None,
    ) -> None:
        self.snowflake = SnowflakeFactory()
        self.recommended_shards = recommended_shards  # GET /gateway/bot "shards"
        # None: IDENTIFYs are not rate limited (GET /gateway/bot says max_concurrency 1); N:
        # N per 5 s, one per shard_id % N, as Discord enforces (op 9 for one too soon)
        self.identify_max_concurrency = identify_max_concurrency
        self.token = token
        self.app_id = app_id or self.snowflake()
        self.bot_user_id = bot_user_id or self.app_id
        self.host, self._port = host, port
        self.heartbeat_interval = heartbeat_interval
        self.interaction_ack_timeout = interaction_ack_timeout
        self.interaction_token_ttl = interaction_token_ttl
        self.nonce_window = nonce_window
        self.allowed_privileged_intents = allowed_privileged_intents
        self.limiter = RateLimiter(rate_limits or RateLimitConfig())
        self.faults = Faults(self)
        self.gateway = Gateway(self)
        self.gateway_frames_sent = 0

        self.users: dict[int, User] = {}
        self.bot_user = self.user(self.bot_user_id, username=bot_username, bot=True)
        self.owner = self.user(owner_id, username="app-owner")
        self.guilds: dict[int, Guild] = {}
        self.removed_guilds: set[int] = set()
        self.deleted_channels: set[int] = set()
        self.commands: dict[int | None, dict[int, dict[str, Any]]] = {None: {}}
        self.interactions: dict[int, InteractionHandle] = {}
        self._by_token: dict[str, InteractionHandle] = {}
        self._messages: dict[int, list[StoredMessage]] = {}
        self._message_index: dict[int, StoredMessage] = {}
        self._nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        self.nonce_hits = 0

        self.requests: list[RequestRecord] = []
        # (time.monotonic() at arrival, record): request rates of all clients together
        self.timed_requests: list[tuple[float, RequestRecord]] = []
        self.in_flight = 0  # REST requests received and not yet answered (e.g. held by a delay fault)
        self.invalid_requests = 0
        self.violations: list[Violation] = []
        self.dm_channels: dict[int, int] = {}  # DM channel id -> recipient user id
        self.direct_messages: list[tuple[int, dict[str, Any]]] = []  # (recipient, message) the bot sent
        self.warnings: list[str] = []  # things Discord accepts but silently alters (dropped embeds)
        self.errors: list[str] = []  # unknown routes, stand-in exceptions
        self.unknown_routes: list[tuple[str, str]] = []

        self.validation_enabled = False
        self.validation_skipped_reason: str | None = None
        self.schemas: OpenAPISchemas | None = None
        path = Path(openapi_path) if openapi_path else _default_openapi_path()
        if not validate:
            self.validation_skipped_reason = "validation disabled by the test"
        else:
            self.schemas = load_schemas(str(path))
            if self.schemas is None:
                self.validation_skipped_reason = f"openapi.json not found at {path}; request bodies are NOT validated"
                log.warning("stand-in: %s", self.validation_skipped_reason)
            else:
                self.validation_enabled = True

        self._routes: list[_Route] = []
        self._build_routes()
        self._runner: web.AppRunner | None = None
        self._site_port: int | None = None

    # ================================================================ lifecycle / config

    @property
    def rate_limits(self) -> RateLimitConfig:
        """The live rate-limit settings (mutate fields, or assign a new RateLimitConfig)."""
        return self.limiter.config

    @rate_limits.setter
    def rate_limits(self, config: RateLimitConfig) -> None:
        self.limiter.config = config
        self.limiter.reset()

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/gateway/", self.gateway.handle)
        app.router.add_route("GET", "/gateway-resume", self.gateway.handle)
        app.router.add_route("GET", "/gateway-resume/", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        self._site_port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        for conn in list(self.gateway.connections):
            await conn.abort(1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._site_port is None:
            raise RuntimeError("stand-in not started")
        return self._site_port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for discord.http.Route.BASE (and the bot's DISCORD_API_BASE setting)."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        """Value for discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY (and GET /gateway/bot)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway-resume"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (in this process) at the stand-in; restores the originals on exit.

        discord.py's REST and webhook/interaction follow-ups both build URLs from
        ``discord.http.Route.BASE``; a non-sharded ``Client`` connects to
        ``DiscordWebSocket.DEFAULT_GATEWAY`` without asking ``GET /gateway/bot``.
        """
        import yarl
        from discord.gateway import DiscordWebSocket
        from discord.http import Route

        old_base, old_gw = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            Route.BASE = old_base
            DiscordWebSocket.DEFAULT_GATEWAY = old_gw

    # ================================================================ world building

    def user(self, user_id: int | None = None, *, username: str | None = None, bot: bool = False) -> User:
        """Get or create a user."""
        if user_id is not None and user_id in self.users:
            return self.users[user_id]
        uid = user_id or self.snowflake()
        u = User(id=uid, username=username or f"user{uid % 100000}", bot=bot, global_name=username)
        self.users[uid] = u
        return u

    def add_guild(
        self,
        name: str = "Test Guild",
        channels: Iterable[str | Mapping[str, Any]] = ("general",),
        *,
        bot_permissions: int = DEFAULT_BOT,
        everyone_permissions: int = DEFAULT_EVERYONE,
        owner_id: int | None = None,
        members: Iterable[int] = (),
        guild_id: int | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """Create a guild the bot is in: @everyone, the bot's managed role (`bot_permissions`),
        the owner, the bot member, extra `members`, and text channels. A channel is a name or a
        mapping with keys name, type, topic, overwrites (list of :class:`Overwrite`) and
        ``deny_bot``/``allow_bot`` (permission ints as a member overwrite for the bot).
        Dispatches GUILD_CREATE if a client (of the guild's shard) is connected. `shard`
        ``(shard_id, num_shards)`` picks an id whose guild lives on that shard."""
        gid = guild_id or (self.snowflake.on_shard(*shard) if shard else self.snowflake())
        owner = self.user(owner_id, username=f"owner-{name.lower().replace(' ', '-')}"[:32])
        guild = Guild(id=gid, name=name, owner_id=owner.id, _hub=self)
        guild.roles[gid] = Role(id=gid, name="@everyone", permissions=int(everyone_permissions), position=0)
        bot_role = Role(
            id=self.snowflake(), name=self.bot_user.username, permissions=int(bot_permissions), position=1,
            managed=True, bot_id=self.bot_user_id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        guild.members[owner.id] = Member(user=owner)
        guild.members[self.bot_user_id] = Member(user=self.bot_user, roles=[bot_role.id])
        for uid in members:
            guild.members[uid] = Member(user=self.user(uid))
        for i, spec in enumerate(channels):
            if isinstance(spec, str):
                spec = {"name": spec}
            cid = int(spec.get("id") or self.snowflake())
            ows = list(spec.get("overwrites", ()))
            if spec.get("deny_bot") or spec.get("allow_bot"):
                ows.append(Overwrite(self.bot_user_id, 1, allow=int(spec.get("allow_bot", 0)), deny=int(spec.get("deny_bot", 0))))
            guild.channels[cid] = Channel(
                id=cid, guild_id=gid, name=spec["name"], type=int(spec.get("type", GUILD_TEXT)), position=i,
                topic=spec.get("topic"), overwrites=ows, parent_id=spec.get("parent_id"),
            )
        self.guilds[gid] = guild
        self.commands.setdefault(gid, {})
        for session in self.gateway.live_sessions():  # the member list depends on each session's intents
            if not session.owns(gid):
                continue
            self.gateway._dispatch_to(session, "GUILD_CREATE", guild.create_payload(
                members_intent=bool(session.intents & GUILD_MEMBERS), me=self.bot_user_id))
        return guild

    def remove_guild(self, guild_id: int) -> None:
        """The bot was removed from a guild: GUILD_DELETE (not unavailable); REST → 404 10004."""
        self.guilds.pop(guild_id)
        self.removed_guilds.add(guild_id)
        self.dispatch("GUILD_DELETE", {"id": str(guild_id)})

    def delete_channel(self, channel_id: int) -> None:
        """Delete a channel: CHANNEL_DELETE; later REST on it → 404 10003."""
        guild, ch = self._find_channel(channel_id)
        if ch is None or guild is None:
            raise StandInError(f"no channel {channel_id}")
        del guild.channels[channel_id]
        self.deleted_channels.add(channel_id)
        self.dispatch("CHANNEL_DELETE", ch.payload())

    def guild_of(self, channel_id: int) -> Guild:
        guild, _ = self._find_channel(channel_id)
        if guild is None:
            raise StandInError(f"no channel {channel_id}")
        return guild

    def _find_channel(self, channel_id: int) -> tuple[Guild | None, Channel | None]:
        for g in self.guilds.values():
            ch = g.channels.get(channel_id)
            if ch is not None:
                return g, ch
        return None, None

    def dispatch(self, event: str, data: dict[str, Any], *, intent: int | None = None) -> int:
        """Send a gateway DISPATCH to every live session; returns how many sessions got it."""
        return self.gateway.dispatch(event, data, intent=intent)

    # ================================================================ observation

    def messages(self, channel_id: int, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Messages created in a channel, oldest first, edits applied (ephemeral ones excluded)."""
        return [m.view() for m in self._messages.get(channel_id, []) if include_deleted or not m.deleted]

    def message(self, message_id: int) -> dict[str, Any] | None:
        m = self._message_index.get(message_id)
        return m.view() if m else None

    async def wait_for_messages(self, channel_id: int, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        await wait_until(lambda: len(self.messages(channel_id)) >= count, timeout, f"{count} message(s) in {channel_id}")
        return self.messages(channel_id)

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Until some client identified and was sent READY (and its GUILD_CREATEs)."""
        await wait_until(lambda: any(s.connected for s in self.gateway.live_sessions()), timeout, "a gateway READY")

    async def wait_identifies(self, n: int, timeout: float = 10.0) -> None:
        await wait_until(lambda: self.gateway.ready_count >= n, timeout, f"{n} IDENTIFY/READY")

    async def wait_resumes(self, n: int = 1, timeout: float = 10.0) -> None:
        await wait_until(
            lambda: sum(s.resumes for s in self.gateway.sessions.values()) >= n, timeout, f"{n} RESUME(s)"
        )

    def registered_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return list(self.commands.get(guild_id, {}).values())

    def requests_to(self, method: str, path_regex: str) -> list[RequestRecord]:
        rx = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and rx.search(r.path)]

    @property
    def rate_limit_hits(self) -> list[tuple[str, str, float, bool]]:
        return self.limiter.hits

    def assert_clean(self) -> None:
        """Raise AssertionError listing violations, unknown routes and stand-in errors."""
        problems = [str(v) for v in self.violations] + self.errors
        assert not problems, "Discord stand-in saw problems:\n" + "\n".join(problems)

    # ================================================================ interactions (test side)

    def _require_gateway(self, guild_id: int | None = None) -> None:
        """An interaction goes only to the session of its guild's shard: that one must be up."""
        if not any(s.connected and s.owns(guild_id) for s in self.gateway.live_sessions()):
            where = f" for guild {guild_id}'s shard" if guild_id is not None else ""
            raise StandInError(f"no connected gateway session{where}: the interaction would be lost")

    def find_command(self, name: str, guild_id: int | None = None, type: int = 1) -> dict[str, Any]:
        for scope in ([guild_id] if guild_id is not None else []) + [None]:
            for cmd in self.commands.get(scope, {}).values():
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return cmd
        raise StandInError(f"command {name!r} is not registered (guild {guild_id} or global)")

    async def invoke_slash(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        member_permissions: int | None = None,
        locale: str = "en-US",
        check_default_permissions: bool = True,
    ) -> InteractionHandle:
        """Dispatch INTERACTION_CREATE (type 2) for a registered chat-input command.

        `command` may name a subcommand ("alerts subscribe"). Options are typed per the
        registered schema; unknown/missing-required/out-of-choices values raise StandInError
        (the Discord client would not send them). `member_permissions` overrides the invoking
        member's computed channel permissions."""
        self._require_gateway(guild_id)
        parts = command.split()
        cmd = self.find_command(parts[0], guild_id)
        guild = self.guilds[guild_id]
        perms = self._member_perms(guild, channel_id, user_id, member_permissions)
        dmp = cmd.get("default_member_permissions")
        if check_default_permissions and dmp is not None and not perms & Perm.ADMINISTRATOR:
            if int(dmp) & ~perms:
                raise StandInError(f"/{command} needs default_member_permissions={dmp}; the member has {perms}")
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._build_options(guild, cmd, parts[1:], dict(options or {}), resolved, focused=None)
        data: dict[str, Any] = {"id": str(cmd["id"]), "name": cmd["name"], "type": cmd.get("type", 1)}
        if opts:
            data["options"] = opts
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._new_interaction(APPLICATION_COMMAND, guild, channel_id, user_id, data, perms, locale=locale)

    async def invoke_autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        command: str,
        *,
        focused: str,
        value: Any = "",
        options: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
        member_permissions: int | None = None,
    ) -> list[dict[str, Any]]:
        """Dispatch an autocomplete interaction (type 4) and return the choices the bot answered."""
        handle = await self.start_autocomplete(
            guild_id, channel_id, user_id, command, focused=focused, value=value, options=options,
            member_permissions=member_permissions,
        )
        record = await handle.wait_response(timeout)
        return record.choices

    async def start_autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        command: str,
        *,
        focused: str,
        value: Any = "",
        options: Mapping[str, Any] | None = None,
        member_permissions: int | None = None,
    ) -> InteractionHandle:
        self._require_gateway(guild_id)
        parts = command.split()
        cmd = self.find_command(parts[0], guild_id)
        guild = self.guilds[guild_id]
        perms = self._member_perms(guild, channel_id, user_id, member_permissions)
        given = dict(options or {})
        given[focused] = value
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._build_options(guild, cmd, parts[1:], given, resolved, focused=focused)
        data: dict[str, Any] = {"id": str(cmd["id"]), "name": cmd["name"], "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return self._new_interaction(AUTOCOMPLETE, guild, channel_id, user_id, data, perms)

    async def press_button(
        self,
        message: Mapping[str, Any] | int,
        custom_id: str,
        *,
        user_id: int | None = None,
        component_type: int = 2,
        values: list[str] | None = None,
        member_permissions: int | None = None,
    ) -> InteractionHandle:
        """Dispatch a component interaction (type 3) on a message the bot sent."""
        self._require_gateway()
        mid = int(message["id"]) if isinstance(message, Mapping) else int(message)
        stored = self._message_index.get(mid)
        if stored is None:
            raise StandInError(f"unknown message {mid}")
        if not _has_custom_id(stored.payload.get("components") or [], custom_id):
            raise StandInError(f"message {mid} has no component with custom_id {custom_id!r}")
        channel_id = int(stored.payload["channel_id"])
        guild = self.guild_of(channel_id)
        uid = user_id or guild.owner_id
        perms = self._member_perms(guild, channel_id, uid, member_permissions)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = values
        return self._new_interaction(
            MESSAGE_COMPONENT, guild, channel_id, uid, data, perms, message=stored
        )

    def expire_interaction(self, handle: InteractionHandle) -> None:
        handle.expired = True

    def _member_perms(self, guild: Guild, channel_id: int, user_id: int, override: int | None) -> int:
        if user_id not in guild.members:
            guild.members[user_id] = Member(user=self.user(user_id))
        if override is not None:
            return int(override)
        return guild.permissions_for(user_id, channel_id)

    def _build_options(
        self,
        guild: Guild,
        cmd: Mapping[str, Any],
        path: list[str],
        given: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        schema = list(cmd.get("options") or [])
        if path:
            sub = next((o for o in schema if o["name"] == path[0] and o["type"] in (1, 2)), None)
            if sub is None:
                raise StandInError(f"/{cmd['name']} has no subcommand {path[0]!r}")
            inner = self._build_options(guild, sub, path[1:], given, resolved, focused)
            return [{"type": sub["type"], "name": sub["name"], "options": inner}]
        if any(o["type"] in (1, 2) for o in schema):
            raise StandInError(f"/{cmd['name']} needs a subcommand")
        known = {o["name"]: o for o in schema}
        for name in given:
            if name not in known:
                raise StandInError(f"/{cmd['name']} has no option {name!r} (has {sorted(known)})")
        out: list[dict[str, Any]] = []
        for opt in schema:
            name = opt["name"]
            if name not in given:
                if opt.get("required") and focused is None:
                    raise StandInError(f"/{cmd['name']}: required option {name!r} missing")
                continue
            value = given[name]
            entry: dict[str, Any] = {"name": name, "type": opt["type"]}
            if name == focused:
                entry["value"] = str(value)
                entry["focused"] = True
            else:
                entry["value"] = self._typed_value(guild, cmd["name"], opt, value, resolved)
            out.append(entry)
        return out

    def _typed_value(
        self, guild: Guild, cmd_name: str, opt: Mapping[str, Any], value: Any, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        t = opt["type"]
        name = opt["name"]
        if t == 3:
            v: Any = str(value)
            if ("min_length" in opt and len(v) < opt["min_length"]) or ("max_length" in opt and len(v) > opt["max_length"]):
                raise StandInError(f"/{cmd_name} {name}: length out of range")
        elif t == 4:
            v = int(value)
        elif t == 10:
            v = float(value)
        elif t == 5:
            v = bool(value)
        elif t in (6, 9):
            uid = int(value)
            user = self.user(uid)
            resolved.setdefault("users", {})[str(uid)] = user.payload()
            if uid in guild.members:
                m = guild.members[uid].payload()
                m.pop("user")
                m["permissions"] = str(guild.permissions_for(uid))
                resolved.setdefault("members", {})[str(uid)] = m
            v = str(uid)
        elif t == 7:
            cid = int(value)
            ch = guild.channels.get(cid)
            if ch is None:
                raise StandInError(f"/{cmd_name} {name}: no channel {cid} in guild")
            types = opt.get("channel_types")
            if types and ch.type not in types:
                raise StandInError(f"/{cmd_name} {name}: channel type {ch.type} not in {types}")
            resolved.setdefault("channels", {})[str(cid)] = {
                "id": str(cid), "name": ch.name, "type": ch.type, "permissions": str(guild.bot_permissions(cid)),
                "guild_id": str(guild.id), "parent_id": str(ch.parent_id) if ch.parent_id else None,
                "flags": 0, "nsfw": ch.nsfw, "position": ch.position, "topic": ch.topic, "rate_limit_per_user": 0,
                "last_message_id": None,
            }
            v = str(cid)
        elif t == 8:
            rid = int(value)
            role = guild.roles.get(rid)
            if role is None:
                raise StandInError(f"/{cmd_name} {name}: no role {rid}")
            resolved.setdefault("roles", {})[str(rid)] = role.payload()
            v = str(rid)
        else:
            v = value
        if t in (4, 10):
            if ("min_value" in opt and v < opt["min_value"]) or ("max_value" in opt and v > opt["max_value"]):
                raise StandInError(f"/{cmd_name} {name}: {v} out of range")
        choices = opt.get("choices")
        if choices and v not in [c["value"] for c in choices]:
            raise StandInError(f"/{cmd_name} {name}: {v!r} is not one of the choices")
        return v

    def _new_interaction(
        self,
        itype: int,
        guild: Guild,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        member_permissions: int,
        *,
        message: StoredMessage | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        ch = guild.channels.get(channel_id)
        if ch is None:
            raise StandInError(f"no channel {channel_id} in guild {guild.id}")
        iid = self.snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        member = guild.members[user_id].payload()
        member["permissions"] = str(member_permissions)
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.app_id),
            "type": itype,
            "data": data,
            "guild_id": str(guild.id),
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "channel_id": str(channel_id),
            "channel": {**ch.payload(), "permissions": str(member_permissions)},
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": str(guild.bot_permissions(channel_id)),
            "locale": locale,
            "guild_locale": "en-US",
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = copy.deepcopy(message.payload)
        handle = InteractionHandle(
            id=iid, token=token, type=itype, guild_id=guild.id, channel_id=channel_id, user_id=user_id,
            payload=payload, message_id=message.id if message else None,
        )
        self.interactions[iid] = handle
        self._by_token[token] = handle
        self.dispatch("INTERACTION_CREATE", payload)
        return handle

    # ================================================================ READY / users / app

    def _ready_payload(self, session: Any) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "email": None},
            # only the guilds of the session's shard (Discord: "Guilds that are not on your
            # shard will not appear")
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds if session.owns(g)],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "application": {"id": str(self.app_id), "flags": 0},
            "auth": {},
            **({"shard": session.identify["shard"]} if session.identify.get("shard") else {}),
            "_trace": ["standin-gateway"],
        }

    def _application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.app_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "is_monetized": False,
            "is_verified": False,
            "is_discoverable": False,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "hook": True,
            "storefront_available": False,
            "integration_types_config": {"0": {}},
            "rpc_origins": [],
            "redirect_uris": [],
            "tags": [],
            "team": None,
            "owner": self.owner.payload(),
            "bot": self.bot_user.payload(),
            "approximate_guild_count": len(self.guilds),
            "interactions_endpoint_url": None,
        }

    # ================================================================ HTTP plumbing

    def _record_error(self, text: str) -> None:
        log.error("stand-in: %s", text)
        self.errors.append(text)

    def _violation(self, req: _Req, kind: str, message: str, location: str = "") -> None:
        v = Violation(req.method, req.path, kind, message, location, req.body)
        log.warning("stand-in violation: %s", v)
        self.violations.append(v)

    def _route(self, method: str, pattern: str, handler: Handler, bucket: str, major: str | None = None,
               *, token_route: bool = False) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self._routes.append(_Route(method, regex, handler, bucket, major, token_route))

    def _build_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", self._get_me, "users.me")
        r("GET", "/users/{user_id}", self._get_user, "users.get")
        r("GET", "/oauth2/applications/@me", self._get_app, "oauth2.app")
        r("GET", "/applications/@me", self._get_app, "applications.me")
        r("GET", "/gateway", self._get_gateway, "gateway")
        r("GET", "/gateway/bot", self._get_gateway_bot, "gateway.bot")
        for scope in ("/applications/{application_id}/commands", "/applications/{application_id}/guilds/{guild_id}/commands"):
            major = "guild_id" if "guild_id" in scope else None
            r("GET", scope, self._list_commands, "commands", major)
            r("PUT", scope, self._put_commands, "commands.put", major)
            r("POST", scope, self._post_command, "commands.post", major)
            r("GET", scope + "/{command_id}", self._get_command, "commands", major)
            r("PATCH", scope + "/{command_id}", self._patch_command, "commands.patch", major)
            r("DELETE", scope + "/{command_id}", self._delete_command, "commands.delete", major)
        r("GET", "/guilds/{guild_id}", self._get_guild, "guilds.get", "guild_id")
        r("GET", "/guilds/{guild_id}/channels", self._get_guild_channels, "guilds.channels", "guild_id")
        r("GET", "/guilds/{guild_id}/roles", self._get_guild_roles, "guilds.roles", "guild_id")
        r("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, "guilds.member", "guild_id")
        r("POST", "/users/@me/channels", self._create_dm, "users.dm")
        r("GET", "/channels/{channel_id}", self._get_channel, "channels.get", "channel_id")
        r("POST", "/channels/{channel_id}/messages", self._post_message, "messages.create", "channel_id")
        r("GET", "/channels/{channel_id}/messages", self._list_messages, "messages.list", "channel_id")
        r("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, "messages.get", "channel_id")
        r("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._thread_from_message, "threads.create",
          "channel_id")
        r("POST", "/channels/{channel_id}/threads", self._forum_post, "threads.create", "channel_id")
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message, "messages.edit", "channel_id")
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, "messages.edit", "channel_id")
        r("POST", "/channels/{channel_id}/typing", self._typing, "typing", "channel_id")
        r("POST", "/interactions/{interaction_id}/{token}/callback", self._callback, "interactions.callback",
          "interaction_id", token_route=True)
        wh = "/webhooks/{application_id}/{token}"
        r("POST", wh, self._followup, "webhooks.interaction", "token", token_route=True)
        for mid in ("@original", "{message_id}"):
            p = wh + "/messages/" + mid
            r("GET", p, self._get_webhook_message, "webhooks.interaction", "token", token_route=True)
            r("PATCH", p, self._patch_webhook_message, "webhooks.interaction", "token", token_route=True)
            r("DELETE", p, self._delete_webhook_message, "webhooks.interaction", "token", token_route=True)

    def _match(self, method: str, path: str) -> tuple[_Route, dict[str, str]] | str | None:
        path_matched = False
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            path_matched = True
            if route.method == method:
                return route, m.groupdict()
        return "method" if path_matched else None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[dict[str, Any]], str | None]:
        ctype = request.content_type
        files: list[dict[str, Any]] = []
        if ctype == "multipart/form-data":
            body: Any = None
            reader = await request.multipart()
            async for part in reader:
                if part is None:
                    break
                name = getattr(part, "name", None)
                raw = await part.read()  # type: ignore[union-attr]
                if name == "payload_json":
                    try:
                        body = json.loads(raw)
                    except ValueError as e:
                        return None, files, f"payload_json: {e}"
                else:
                    files.append({"field": name, "filename": getattr(part, "filename", None), "size": len(raw)})
            return body, files, None
        raw = await request.read()
        if not raw:
            return None, files, None
        if ctype != "application/json":
            return None, files, f"unsupported Content-Type {ctype!r} with a body"
        try:
            return json.loads(raw), files, None
        except ValueError as e:
            return None, files, str(e)

    @staticmethod
    def _response(resp: _Resp) -> web.Response:
        headers = dict(resp.headers)
        if resp.data is None:
            return web.Response(status=resp.status, headers=headers)
        if isinstance(resp.data, str):
            headers["Content-Type"] = "text/plain; charset=UTF-8"
            return web.Response(status=resp.status, body=resp.data.encode(), headers=headers)
        headers["Content-Type"] = "application/json"  # exactly: discord.py compares the whole header
        return web.Response(status=resp.status, body=json.dumps(resp.data).encode(), headers=headers)

    def _log_request(self, record: RequestRecord, arrived: float) -> None:
        self.requests.append(record)
        self.timed_requests.append((arrived, record))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            return await self._handle_one(request)
        finally:
            self.in_flight -= 1

    async def _handle_one(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        full = request.path
        arrived = time.monotonic()
        rel = full[len(API_PREFIX):] if full.startswith(API_PREFIX + "/") else None
        body, files, parse_error = await self._read_body(request)
        if rel is None:
            self.unknown_routes.append((method, full))
            self._record_error(f"unknown route (not under {API_PREFIX}): {method} {full}")
            self._log_request(RequestRecord(method, full, 404, body), arrived)
            return self._response(_error(404, 0, "404: Not Found"))
        req = _Req(method, rel, {}, request.query, body, files, None)
        try:
            resp = await self._serve(request, req, parse_error)
        except Exception as e:  # a bug in the stand-in must fail tests, not hang them
            log.exception("stand-in crashed on %s %s", method, rel)
            self._record_error(f"stand-in exception on {method} {rel}: {e!r}")
            resp = _error(500, 0, "500: Internal Server Error")
        self._log_request(RequestRecord(method, rel, resp.status, body), arrived)
        if resp.status in (401, 403, 429):
            self.invalid_requests += 1  # Cloudflare bans an IP at 10,000 of these per 10 minutes
        return self._response(resp)

    async def _serve(self, request: web.Request, req: _Req, parse_error: str | None) -> _Resp:
        matched = self._match(req.method, req.path)
        route = matched[0] if isinstance(matched, tuple) else None
        token_route = route.token_route if route else req.path.startswith(("/interactions/", "/webhooks/"))
        if not token_route and request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        rule = self.faults._match(req.method, req.path)
        if rule is not None:
            if rule.delay:
                await asyncio.sleep(rule.delay)
            if rule.cloudflare:
                return _Resp(rule.status, f"error code: {1015 if rule.status == 429 else 1020}",
                             {"Retry-After": str(round(rule.retry_after or 1))})
            if rule.status == 429:
                retry = 0.1 if rule.retry_after is None else rule.retry_after
                headers = global_429_headers(retry) if rule.global_ else {
                    "X-RateLimit-Scope": "user", "Retry-After": str(max(1, round(retry))), "Via": "1.1 google",
                    "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry:.3f}", "X-RateLimit-Reset-After": f"{retry:.3f}",
                    "X-RateLimit-Bucket": "fault",
                }
                self.limiter.hits.append(("fault", req.path, retry, rule.global_))
                return _Resp(429, rate_limit_body(retry, rule.global_), headers)
            if rule.status >= 200 and rule.status < 300:
                pass  # a delay-only rule
            else:
                return _error(rule.status, rule.code or 0, rule.message or f"{rule.status}: injected by stand-in")
        if not token_route and time.monotonic() < self.faults.storm_until:
            retry = self.faults.storm_retry_after or max(self.faults.storm_until - time.monotonic(), 0.05)
            self.limiter.hits.append(("storm", req.path, retry, self.faults.storm_global))
            headers = global_429_headers(retry)
            if not self.faults.storm_global:
                headers = {**headers, "X-RateLimit-Scope": "shared"}
                del headers["X-RateLimit-Global"]
            return _Resp(429, rate_limit_body(retry, self.faults.storm_global), headers)
        if not token_route:
            decision = self.limiter.check_global()
            if decision is not None:
                return _Resp(429, rate_limit_body(decision.retry_after, True), decision.headers)
        if route is None:
            if matched == "method":
                self.unknown_routes.append((req.method, req.path))
                self._record_error(f"method not served by the stand-in: {req.method} {req.path}")
                return _error(405, 0, "405: Method Not Allowed")
            self.unknown_routes.append((req.method, req.path))
            self._record_error(f"unknown route: {req.method} {req.path}")
            return _error(404, 0, "404: Not Found")
        assert isinstance(matched, tuple)
        req.params = matched[1]
        major = req.params.get(route.major, "") if route.major else ""
        decision = self.limiter.check_route(route.bucket, major)
        if not decision.allowed:
            return _Resp(429, rate_limit_body(decision.retry_after, False), decision.headers)
        if parse_error is not None:
            self._violation(req, "json", parse_error)
            resp = _error(400, 50109, "The request body contains invalid JSON.")
        else:
            if self.schemas is not None:
                req.template = self.schemas.template_for(req.path)
            resp = await route.handler(req)
        resp.headers.update(decision.headers)
        return resp

    # ---- validation helpers ------------------------------------------------------------------

    def _schema_check(self, req: _Req, result: ValidationResult, *, component: str | None = None,
                      body: Any = None) -> None:
        if self.schemas is None or req.template is None:
            return
        validator = self.schemas.validator(req.method, req.template, component)
        if validator is not None:
            self.schemas.check(validator, req.body if body is None else body, result)

    def _reject(self, req: _Req, result: ValidationResult) -> _Resp:
        for p in result.problems:
            self._violation(req, p.source, f"{p.code}: {p.message}", ".".join(str(x) for x in p.path))
        body = result.error_body()
        if len(result.problems) == 1 and result.problems[0].code == "MESSAGE_EMPTY":
            return _error(400, 50006, "Cannot send an empty message")
        return _Resp(400, body)

    # ================================================================ REST handlers

    async def _get_me(self, req: _Req) -> _Resp:
        return _Resp(200, {**self.bot_user.payload(), "verified": True, "mfa_enabled": False, "locale": "en-US",
                           "email": None})

    async def _get_user(self, req: _Req) -> _Resp:
        u = self.users.get(int(req.params["user_id"]))
        return _Resp(200, u.payload()) if u else _error(404, 10013, "Unknown User")

    async def _get_app(self, req: _Req) -> _Resp:
        return _Resp(200, self._application_payload())

    async def _get_gateway(self, req: _Req) -> _Resp:
        return _Resp(200, {"url": self.gateway_url})

    async def _get_gateway_bot(self, req: _Req) -> _Resp:
        return _Resp(200, {
            "url": self.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000,
                                    "max_concurrency": self.identify_max_concurrency or 1},
        })

    # ---- commands ----------------------------------------------------------------------------

    def _command_scope(self, req: _Req) -> int | _Resp | None:
        if int(req.params["application_id"]) != self.app_id:
            return _error(403, 20012, "You are not authorized to perform this action on this application")
        gid = req.params.get("guild_id")
        if gid is None:
            return None
        g = int(gid)
        if g not in self.guilds:
            return _error(403, 50001, "Missing Access")
        return g

    def _command_object(self, body: Mapping[str, Any], scope: int | None, cid: int, version: int) -> dict[str, Any]:
        ctype = body.get("type") or 1
        cmd: dict[str, Any] = {
            "id": str(cid),
            "application_id": str(self.app_id),
            "version": str(version),
            "default_member_permissions": None if body.get("default_member_permissions") is None
            else str(body["default_member_permissions"]),
            "type": ctype,
            "name": body["name"],
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description") or "",
            "description_localizations": body.get("description_localizations"),
            "dm_permission": body.get("dm_permission", True),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
            "nsfw": bool(body.get("nsfw", False)),
        }
        if body.get("options"):
            cmd["options"] = body["options"]
        if scope is not None:
            cmd["guild_id"] = str(scope)
        return cmd

    def _check_commands(self, req: _Req, items: list[Any]) -> ValidationResult:
        result = ValidationResult()
        self._schema_check(req, result)
        for i, item in enumerate(items):
            check_command(item, result, (i,) if req.method == "PUT" else ())
        return result

    async def _list_commands(self, req: _Req) -> _Resp:
        scope = self._command_scope(req)
        if isinstance(scope, _Resp):
            return scope
        return _Resp(200, list(self.commands.get(scope, {}).values()))

    async def _put_commands(self, req: _Req) -> _Resp:
        scope = self._command_scope(req)
        if isinstance(scope, _Resp):
            return scope
        items = req.body if isinstance(req.body, list) else []
        result = self._check_commands(req, items)
        names = [(c.get("name"), c.get("type") or 1) for c in items if isinstance(c, dict)]
        if len(names) != len(set(names)):
            result.add((), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique")
        if not result.ok:
            return self._reject(req, result)
        existing = {(c["name"], c["type"]): c for c in self.commands.get(scope, {}).values()}
        new: dict[int, dict[str, Any]] = {}
        for item in items:
            old = existing.get((item["name"], item.get("type") or 1))
            cid = int(old["id"]) if old else self.snowflake()
            new[cid] = self._command_object(item, scope, cid, self.snowflake())
        self.commands[scope] = new
        return _Resp(200, list(new.values()))

    async def _post_command(self, req: _Req) -> _Resp:
        scope = self._command_scope(req)
        if isinstance(scope, _Resp):
            return scope
        result = self._check_commands(req, [req.body])
        if not result.ok:
            return self._reject(req, result)
        body = req.body
        cmds = self.commands.setdefault(scope, {})
        old = next((c for c in cmds.values() if c["name"] == body["name"] and c["type"] == (body.get("type") or 1)), None)
        cid = int(old["id"]) if old else self.snowflake()
        cmds[cid] = self._command_object(body, scope, cid, self.snowflake())
        return _Resp(200 if old else 201, cmds[cid])

    async def _get_command(self, req: _Req) -> _Resp:
        scope = self._command_scope(req)
        if isinstance(scope, _Resp):
            return scope
        cmd = self.commands.get(scope, {}).get(int(req.params["command_id"]))
        return _Resp(200, cmd) if cmd else _error(404, 10063, "Unknown application command")

    async def _patch_command(self, req: _Req) -> _Resp:
        scope = self._command_scope(req)
        if isinstance(scope, _Resp):
            return scope
        cid = int(req.params["command_id"])
        cmd = self.commands.get(scope, {}).get(cid)
        if cmd is None:
            return _error(404, 10063, "Unknown application command")
        merged = {**cmd, **(req.body or {})}
        result = ValidationResult()
        self._schema_check(req, result)
        check_command(merged, result)
        if not result.ok:
            return self._reject(req, result)
        self.commands[scope][cid] = self._command_object(merged, scope, cid, self.snowflake())
        return _Resp(200, self.commands[scope][cid])

    async def _delete_command(self, req: _Req) -> _Resp:
        scope = self._command_scope(req)
        if isinstance(scope, _Resp):
            return scope
        if self.commands.get(scope, {}).pop(int(req.params["command_id"]), None) is None:
            return _error(404, 10063, "Unknown application command")
        return _Resp(204)

    # ---- guilds / channels ---------------------------------------------------------------------

    def _guild_or_error(self, req: _Req) -> Guild | _Resp:
        g = self.guilds.get(int(req.params["guild_id"]))
        if g is None:
            return _error(404, 10004, "Unknown Guild")
        return g

    async def _get_guild(self, req: _Req) -> _Resp:
        g = self._guild_or_error(req)
        if isinstance(g, _Resp):
            return g
        with_counts = req.query.get("with_counts") in ("true", "1", "True")
        return _Resp(200, g.payload(with_counts=with_counts))

    async def _get_guild_channels(self, req: _Req) -> _Resp:
        g = self._guild_or_error(req)
        if isinstance(g, _Resp):
            return g
        return _Resp(200, [c.payload() for c in g.channels.values() if c.type != PUBLIC_THREAD])

    async def _get_guild_roles(self, req: _Req) -> _Resp:
        g = self._guild_or_error(req)
        if isinstance(g, _Resp):
            return g
        return _Resp(200, [r.payload() for r in g.roles.values()])

    async def _get_member(self, req: _Req) -> _Resp:
        g = self._guild_or_error(req)
        if isinstance(g, _Resp):
            return g
        m = g.members.get(int(req.params["user_id"]))
        return _Resp(200, m.payload()) if m else _error(404, 10007, "Unknown Member")

    def _channel_or_error(self, req: _Req, need: int = Perm.VIEW_CHANNEL) -> tuple[Guild, Channel, int] | _Resp:
        cid = int(req.params["channel_id"])
        guild, ch = self._find_channel(cid)
        if guild is None or ch is None:
            return _error(404, 10003, "Unknown Channel")
        perms = guild.bot_permissions(cid)
        if need and not perms & need:
            return _error(403, 50001, "Missing Access")
        return guild, ch, perms

    async def _get_channel(self, req: _Req) -> _Resp:
        found = self._channel_or_error(req)
        if isinstance(found, _Resp):
            return found
        return _Resp(200, found[1].payload())

    async def _typing(self, req: _Req) -> _Resp:
        found = self._channel_or_error(req)
        return found if isinstance(found, _Resp) else _Resp(204)

    # ---- messages ------------------------------------------------------------------------------

    def _message_payload(
        self,
        ch: Channel,
        body: Mapping[str, Any],
        *,
        files: Iterable[dict[str, Any]] = (),
        flags: int = 0,
        webhook_id: int | None = None,
        interaction: InteractionHandle | None = None,
        msg_type: int = 0,
    ) -> dict[str, Any]:
        mid = self.snowflake()
        embeds = []
        for e in body.get("embeds") or []:
            e = {k: v for k, v in e.items() if v is not None}
            e.setdefault("type", "rich")
            e["content_scan_version"] = 0
            embeds.append(e)
        payload: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(ch.id),
            "author": self.bot_user.payload(),
            "content": body.get("content") or "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "mention_channels": [],
            "attachments": [
                {"id": str(self.snowflake()), "filename": f.get("filename") or "file", "size": f["size"],
                 "url": f"https://cdn.invalid/{mid}/{f.get('filename')}", "proxy_url": f"https://media.invalid/{mid}",
                 "content_type": "application/octet-stream"}
                for f in files
            ],
            "embeds": embeds,
            "pinned": False,
            "type": msg_type,
            "flags": int(flags),
            "components": body.get("components") or [],
        }
        if body.get("nonce") is not None:
            payload["nonce"] = body["nonce"]
        if webhook_id is not None:
            payload["webhook_id"] = str(webhook_id)
            payload["application_id"] = str(self.app_id)
        if interaction is not None:
            user = self.users[interaction.user_id].payload()
            payload["interaction_metadata"] = {
                "id": str(interaction.id), "type": interaction.type, "user": user,
                "authorizing_integration_owners": {"0": str(interaction.guild_id)},
            }
            if interaction.type == APPLICATION_COMMAND:
                payload["interaction_metadata"]["name"] = interaction.payload["data"].get("name")
                payload["type"] = 20  # CHAT_INPUT_COMMAND
            elif interaction.type == MESSAGE_COMPONENT and interaction.message_id:
                payload["interaction_metadata"]["interacted_message_id"] = str(interaction.message_id)
        return payload

    def _store(self, ch: Channel, payload: dict[str, Any], request: Mapping[str, Any], *, ephemeral: bool = False) -> StoredMessage:
        stored = StoredMessage(payload=payload, request=dict(request), ephemeral=ephemeral)
        self._message_index[stored.id] = stored
        if not ephemeral:
            self._messages.setdefault(ch.id, []).append(stored)
            ch.last_message_id = stored.id
            guild = self.guilds.get(ch.guild_id)
            event = {**payload, "guild_id": str(ch.guild_id)}
            if guild is not None and self.bot_user_id in guild.members:
                m = guild.members[self.bot_user_id].payload()
                m.pop("user")
                event["member"] = m
            self.dispatch("MESSAGE_CREATE", event, intent=GUILD_MESSAGES)
        return stored

    def _check_message_body(self, req: _Req, *, component: str | None = None, require_content: bool = True,
                            allowed_flags: int = WEBHOOK_MESSAGE_FLAGS) -> ValidationResult:
        result = ValidationResult()
        self._schema_check(req, result, component=component)
        if req.body is None and require_content and not req.files:
            result.add((), "MESSAGE_EMPTY", "Cannot send an empty message")
        else:
            check_message_limits(req.body, result, require_content=require_content, has_files=bool(req.files),
                                 allowed_flags=allowed_flags)
        return result

    async def _thread_from_message(self, req: _Req) -> _Resp:
        """POST /channels/{id}/messages/{id}/threads: a public thread on a message; the thread's
        id is the message's id, as on Discord."""
        found = self._channel_message(req)
        if isinstance(found, _Resp):
            return found
        ch, stored = found
        guild = self.guilds[ch.guild_id]
        if not guild.bot_permissions(ch.id) & Perm.CREATE_PUBLIC_THREADS:
            return _error(403, 50013, "Missing Permissions")
        if ch.type == PUBLIC_THREAD:
            return _error(400, 50024, "Cannot execute action on this channel type")
        result = ValidationResult()
        self._schema_check(req, result)
        body = req.body if isinstance(req.body, dict) else {}
        if not isinstance(body.get("name"), str) or not 1 <= len(body["name"]) <= 100:
            result.add(("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if not result.ok:
            return self._reject(req, result)
        if stored.id in guild.channels:
            return _error(400, 160004, "A thread has already been created for this message")
        thread = Channel(id=stored.id, guild_id=guild.id, name=body["name"], type=PUBLIC_THREAD,
                         parent_id=ch.id, owner_id=self.bot_user_id,
                         auto_archive_duration=int(body.get("auto_archive_duration") or 1440))
        guild.channels[thread.id] = thread
        stored.payload["thread"] = thread.payload()
        self.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True}, intent=GUILDS)
        return _Resp(201, thread.payload())

    async def _forum_post(self, req: _Req) -> _Resp:
        """POST /channels/{forum}/threads: a forum post — a thread plus its starter message,
        whose id is the thread's id (as on Discord). Only forum channels are served."""
        found = self._channel_or_error(req, need=0)
        if isinstance(found, _Resp):
            return found
        guild, ch, perms = found
        if ch.type != GUILD_FORUM:
            self._record_error(f"POST {req.path}: only forum posts are modelled (channel type {ch.type})")
            return _error(400, 50024, "Cannot execute action on this channel type")
        if not perms & Perm.VIEW_CHANNEL:
            return _error(403, 50001, "Missing Access")
        if not perms & Perm.SEND_MESSAGES:
            return _error(403, 50013, "Missing Permissions")
        result = ValidationResult()
        self._schema_check(req, result)
        body = req.body if isinstance(req.body, dict) else {}
        message = body.get("message")
        if not isinstance(message, dict):
            result.add(("message",), "BASE_TYPE_REQUIRED", "This field is required")
        else:
            check_message_limits(message, result, prefix=("message",), allowed_flags=CHANNEL_MESSAGE_FLAGS)
        if not result.ok:
            return self._reject(req, result)
        assert isinstance(message, dict)
        thread = Channel(id=self.snowflake(), guild_id=guild.id, name=str(body["name"]), type=PUBLIC_THREAD,
                         parent_id=ch.id, owner_id=self.bot_user_id,
                         auto_archive_duration=int(body.get("auto_archive_duration") or 1440))
        guild.channels[thread.id] = thread
        payload = self._message_payload(thread, message, flags=int(message.get("flags") or 0))
        payload["id"] = str(thread.id)  # the starter message has the thread's id
        stored = self._store(thread, payload, message)
        self.dispatch("THREAD_CREATE", {**thread.payload(), "newly_created": True}, intent=GUILDS)
        return _Resp(201, {**thread.payload(), "message": _fetched(stored.payload)})

    async def _create_dm(self, req: _Req) -> _Resp:
        """POST /users/@me/channels: open (or reuse) the DM channel with a user."""
        result = ValidationResult()
        self._schema_check(req, result)
        if not result.ok:
            return self._reject(req, result)
        body = req.body if isinstance(req.body, dict) else {}
        try:
            uid = int(body.get("recipient_id") or 0)
        except (TypeError, ValueError):
            uid = 0
        if uid not in self.users:
            return _error(400, 50033, "Invalid Recipients")
        cid = next((c for c, u in self.dm_channels.items() if u == uid), None) or self.snowflake()
        self.dm_channels[cid] = uid
        return _Resp(200, {"id": str(cid), "type": 1, "last_message_id": None, "flags": 0,
                           "recipients": [self.users[uid].payload()]})

    async def _post_dm(self, req: _Req, cid: int) -> _Resp:
        result = self._check_message_body(req, allowed_flags=CHANNEL_MESSAGE_FLAGS)
        if not result.ok:
            return self._reject(req, result)
        body = dict(req.body or {})
        payload = {
            "id": str(self.snowflake()), "channel_id": str(cid), "type": 0, "author": self.bot_user.payload(),
            "content": body.get("content") or "", "embeds": body.get("embeds") or [], "attachments": [],
            "mentions": [], "mention_roles": [], "mention_everyone": False, "pinned": False, "tts": False,
            "timestamp": iso_now(), "edited_timestamp": None, "components": [], "flags": 0,
        }
        self.direct_messages.append((self.dm_channels[cid], payload))
        return _Resp(200, payload)

    async def _post_message(self, req: _Req) -> _Resp:
        if int(req.params["channel_id"]) in self.dm_channels:
            return await self._post_dm(req, int(req.params["channel_id"]))
        found = self._channel_or_error(req, need=0)
        if isinstance(found, _Resp):
            return found
        _, ch, perms = found
        if not perms & Perm.VIEW_CHANNEL:
            return _error(403, 50001, "Missing Access")
        need = Perm.SEND_MESSAGES_IN_THREADS if ch.type == PUBLIC_THREAD else Perm.SEND_MESSAGES
        if not perms & need:
            return _error(403, 50013, "Missing Permissions")
        if not ch.is_text:
            return _error(400, 50008, "Cannot send messages in a non-text channel")
        result = self._check_message_body(req, allowed_flags=CHANNEL_MESSAGE_FLAGS)
        if not result.ok:
            return self._reject(req, result)
        body: dict[str, Any] = dict(req.body or {})
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            key = (ch.id, self.bot_user_id, str(nonce))
            hit = self._nonces.get(key)
            if hit is not None and time.monotonic() - hit[1] <= self.nonce_window:
                original = self._message_index.get(hit[0])
                if original is not None and not original.deleted:
                    self.nonce_hits += 1
                    return _Resp(200, original.payload)
        if body.get("embeds") and not perms & Perm.EMBED_LINKS:
            # Discord: without EMBED_LINKS an embed-only message is refused (403 50013); with
            # content the message is sent and its embeds are silently dropped.
            if not body.get("content") and not req.files and not body.get("components"):
                return _error(403, 50013, "Missing Permissions")
            self.warnings.append(
                f"POST {req.path}: bot lacks EMBED_LINKS in channel {ch.id}; Discord drops the message's "
                f"{len(body['embeds'])} embed(s)"
            )
            body["embeds"] = []
        flags = int(body.get("flags") or 0)
        payload = self._message_payload(ch, body, files=req.files, flags=flags)
        stored = self._store(ch, payload, req.body or {})
        if nonce is not None and body.get("enforce_nonce"):
            self._nonces[(ch.id, self.bot_user_id, str(nonce))] = (stored.id, time.monotonic())
        return _Resp(200, payload)

    async def _list_messages(self, req: _Req) -> _Resp:
        found = self._channel_or_error(req)
        if isinstance(found, _Resp):
            return found
        _, ch, perms = found
        if not perms & Perm.READ_MESSAGE_HISTORY:
            return _Resp(200, [])
        try:
            limit = int(req.query.get("limit", 50))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 100:
            result = ValidationResult()
            result.add(("limit",), "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
            return self._reject(req, result)
        msgs = [m for m in self._messages.get(ch.id, []) if not m.deleted]
        before, after, around = (req.query.get(k) for k in ("before", "after", "around"))
        if before:
            msgs = [m for m in msgs if m.id < int(before)][-limit:]
        elif after:
            msgs = [m for m in msgs if m.id > int(after)][:limit]
        elif around:
            pivot = int(around)
            older = [m for m in msgs if m.id <= pivot][-(limit // 2 + limit % 2):]
            newer = [m for m in msgs if m.id > pivot][: limit // 2]
            msgs = older + newer
        else:
            msgs = msgs[-limit:]
        return _Resp(200, [_fetched(m.payload) for m in reversed(msgs)])  # newest first, like Discord

    def _channel_message(self, req: _Req) -> tuple[Channel, StoredMessage] | _Resp:
        found = self._channel_or_error(req)
        if isinstance(found, _Resp):
            return found
        ch = found[1]
        m = self._message_index.get(int(req.params["message_id"]))
        if m is None or m.deleted or m.ephemeral or int(m.payload["channel_id"]) != ch.id:
            return _error(404, 10008, "Unknown Message")
        return ch, m

    async def _get_message(self, req: _Req) -> _Resp:
        found = self._channel_message(req)
        return found if isinstance(found, _Resp) else _Resp(200, _fetched(found[1].payload))

    def _apply_edit(self, stored: StoredMessage, body: Mapping[str, Any], *, clear_loading: bool = False) -> None:
        p = stored.payload
        stored.edits.append(dict(body))
        if "content" in body:
            p["content"] = body["content"] or ""
        if "embeds" in body:
            p["embeds"] = [{**{k: v for k, v in e.items() if v is not None}, "type": "rich"} for e in body["embeds"] or []]
        if "components" in body:
            p["components"] = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            p["flags"] = (int(p.get("flags") or 0) & (EPHEMERAL | LOADING)) | int(body["flags"])
        if "allowed_mentions" in body:
            stored.request["allowed_mentions"] = body["allowed_mentions"]
        if clear_loading:
            p["flags"] = int(p.get("flags") or 0) & ~LOADING
        p["edited_timestamp"] = iso_now()
        guild, _ = self._find_channel(int(p["channel_id"]))
        if not stored.ephemeral and guild is not None:
            self.dispatch("MESSAGE_UPDATE", {**_fetched(p), "guild_id": str(guild.id)}, intent=GUILD_MESSAGES)

    async def _patch_message(self, req: _Req) -> _Resp:
        found = self._channel_message(req)
        if isinstance(found, _Resp):
            return found
        _, stored = found
        if stored.payload["author"]["id"] != str(self.bot_user_id):
            return _error(403, 50005, "Cannot edit a message authored by another user")
        result = self._check_message_body(req, require_content=False, allowed_flags=CHANNEL_MESSAGE_FLAGS)
        if not result.ok:
            return self._reject(req, result)
        self._apply_edit(stored, req.body or {})
        return _Resp(200, _fetched(stored.payload))

    async def _delete_message(self, req: _Req) -> _Resp:
        found = self._channel_message(req)
        if isinstance(found, _Resp):
            return found
        ch, stored = found
        stored.deleted = True
        self.dispatch("MESSAGE_DELETE", {"id": str(stored.id), "channel_id": str(ch.id), "guild_id": str(ch.guild_id)},
                      intent=GUILD_MESSAGES)
        return _Resp(204)

    # ---- interactions --------------------------------------------------------------------------

    async def _callback(self, req: _Req) -> _Resp:
        handle = self.interactions.get(int(req.params["interaction_id"])) if req.params["interaction_id"].isdigit() else None
        if handle is None or handle.token != req.params["token"]:
            self._violation(req, "interaction", "callback for an unknown interaction id/token")
            return _error(404, 10062, "Unknown interaction")
        age = time.monotonic() - handle.created
        if handle.callback is None and (handle.expired or age > self.interaction_ack_timeout):
            msg = f"initial response {age:.2f}s after the interaction (limit {self.interaction_ack_timeout}s)"
            self._violation(req, "interaction", msg)
            handle.rejected.append((404, {"code": 10062}))
            return _error(404, 10062, "Unknown interaction")
        if handle.callback is not None:
            self._violation(req, "interaction", "interaction already acknowledged")
            handle.rejected.append((400, {"code": 40060}))
            return _error(400, 40060, "Interaction has already been acknowledged.")
        body = req.body if isinstance(req.body, dict) else {}
        ctype = body.get("type")
        result = ValidationResult()
        if ctype not in CALLBACK_SCHEMAS:
            self._schema_check(req, result)
            if result.ok:
                result.add(("type",), "BASE_TYPE_CHOICES", f"Value must be one of {sorted(CALLBACK_SCHEMAS)}.")
        else:
            self._schema_check(req, result, component=CALLBACK_SCHEMAS[ctype])
            if ctype not in ALLOWED_CALLBACKS.get(handle.type, set()):
                result.add(("type",), "INTERACTION_RESPONSE_TYPE_INVALID",
                           f"callback type {ctype} is not valid for interaction type {handle.type}")
            data = body.get("data")
            if ctype == 4:
                check_message_limits(data or {}, result, prefix=("data",), allowed_flags=WEBHOOK_MESSAGE_FLAGS)
            elif ctype == 5 and isinstance(data, dict):
                check_message_limits(data, result, prefix=("data",), require_content=False, allowed_flags=EPHEMERAL)
            elif ctype == 7 and isinstance(data, dict):
                check_message_limits(data, result, prefix=("data",), require_content=False,
                                     allowed_flags=WEBHOOK_MESSAGE_FLAGS)
            elif ctype == 8:
                check_autocomplete(data, result)
        if not result.ok:
            handle.rejected.append((400, result.error_body()))
            return self._reject(req, result)
        data = body.get("data") if isinstance(body.get("data"), dict) else None
        guild = self.guilds.get(handle.guild_id or 0)
        ch = guild.channels.get(handle.channel_id) if guild else None
        resource: dict[str, Any] = {"type": ctype}
        message: StoredMessage | None = None
        if ctype in (4, 5) and ch is not None:
            flags = int((data or {}).get("flags") or 0)
            ephemeral = bool(flags & EPHEMERAL)
            if ctype == 5:
                flags |= LOADING
                msg_body: Mapping[str, Any] = {}
            else:
                msg_body = data or {}
            payload = self._message_payload(ch, msg_body, flags=flags, webhook_id=self.app_id, interaction=handle)
            message = handle.original = self._store(ch, payload, msg_body, ephemeral=ephemeral)
        elif ctype in (6, 7) and handle.message_id is not None:
            # for a component interaction, "@original" is the message the component is on
            message = handle.original = self._message_index.get(handle.message_id)
            if ctype == 7 and message is not None and data:
                self._apply_edit(message, data)
        handle.callback = CallbackRecord(type=ctype, data=copy.deepcopy(data))
        if req.query.get("with_response") not in ("1", "true", "True"):
            return _Resp(204)
        info: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        if message is not None:
            info.update(
                response_message_id=str(message.id),
                response_message_loading=ctype == 5,
                response_message_ephemeral=message.ephemeral,
            )
            resource["message"] = message.payload
        return _Resp(200, {"interaction": info, "resource": resource})

    def _webhook_interaction(self, req: _Req) -> InteractionHandle | _Resp:
        if req.params["application_id"] != str(self.app_id):
            self._violation(req, "interaction", "webhook id is not the application id")
            return _error(404, 10015, "Unknown Webhook")
        handle = self._by_token.get(req.params["token"])
        if handle is None:
            self._violation(req, "interaction", "unknown interaction token")
            return _error(401, 50027, "Invalid Webhook Token")
        if handle.expired or time.monotonic() - handle.created > self.interaction_token_ttl:
            self._violation(req, "interaction", "interaction token expired")
            return _error(401, 50027, "Invalid Webhook Token")
        if handle.callback is None:
            self._violation(req, "interaction", "follow-up/edit before the interaction was acknowledged")
            return _error(404, 10015, "Unknown Webhook")
        return handle

    def _webhook_target(self, req: _Req, handle: InteractionHandle) -> StoredMessage | _Resp:
        mid = req.path.rsplit("/", 1)[1]
        if mid == "@original":
            target = handle.original
        else:
            target = next((m for m in handle.followup_messages if str(m.id) == mid), None)
            if target is None and handle.original is not None and str(handle.original.id) == mid:
                target = handle.original
        if target is None or target.deleted:
            return _error(404, 10008, "Unknown Message")
        return target

    async def _followup(self, req: _Req) -> _Resp:
        handle = self._webhook_interaction(req)
        if isinstance(handle, _Resp):
            return handle
        result = self._check_message_body(req, component="IncomingWebhookRequestPartial")
        if not result.ok:
            return self._reject(req, result)
        body: dict[str, Any] = dict(req.body or {})
        guild = self.guilds.get(handle.guild_id or 0)
        ch = guild.channels.get(handle.channel_id) if guild else None
        if ch is None:
            return _error(404, 10003, "Unknown Channel")
        original = handle.original
        if original is not None and int(original.payload.get("flags") or 0) & LOADING:
            # the first follow-up after a deferred ("thinking") response edits that message
            self._apply_edit(original, body, clear_loading=True)
            stored = original
        else:
            flags = int(body.get("flags") or 0)
            payload = self._message_payload(ch, body, files=req.files, flags=flags, webhook_id=self.app_id,
                                            interaction=handle)
            stored = self._store(ch, payload, body, ephemeral=bool(flags & EPHEMERAL))
        handle.followup_messages.append(stored)
        if req.query.get("wait") in ("1", "true", "True"):
            return _Resp(200, stored.payload)
        return _Resp(204)

    async def _get_webhook_message(self, req: _Req) -> _Resp:
        handle = self._webhook_interaction(req)
        if isinstance(handle, _Resp):
            return handle
        target = self._webhook_target(req, handle)
        return target if isinstance(target, _Resp) else _Resp(200, target.payload)

    async def _patch_webhook_message(self, req: _Req) -> _Resp:
        handle = self._webhook_interaction(req)
        if isinstance(handle, _Resp):
            return handle
        target = self._webhook_target(req, handle)
        if isinstance(target, _Resp):
            return target
        result = self._check_message_body(req, require_content=False)
        if not result.ok:
            return self._reject(req, result)
        self._apply_edit(target, req.body or {}, clear_loading=True)
        return _Resp(200, target.payload)

    async def _delete_webhook_message(self, req: _Req) -> _Resp:
        handle = self._webhook_interaction(req)
        if isinstance(handle, _Resp):
            return handle
        target = self._webhook_target(req, handle)
        if isinstance(target, _Resp):
            return target
        target.deleted = True
        return _Resp(204)


def _fetched(payload: dict[str, Any]) -> dict[str, Any]:
    """A stored message as later reads return it: Discord does not persist the nonce; it is only
    echoed in the create response and the MESSAGE_CREATE event (discord.py issue #2451)."""
    if "nonce" not in payload:
        return payload
    return {k: v for k, v in payload.items() if k != "nonce"}


def _has_custom_id(components: list[Any], custom_id: str) -> bool:
    for c in components:
        if not isinstance(c, dict):
            continue
        if c.get("custom_id") == custom_id:
            return True
        if _has_custom_id(c.get("components") or [], custom_id):
            return True
        acc = c.get("accessory")
        if isinstance(acc, dict) and acc.get("custom_id") == custom_id:
            return True
    return False
