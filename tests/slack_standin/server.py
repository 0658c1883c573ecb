"""A Slack stand-in on 127.0.0.1: the Web API over HTTP and Socket Mode over a websocket.

Every Web API call is checked against Slack's OpenAPI file (tests/slack_standin/spec.py);
`violations` lists what was wrong and every test asserts it stays empty. The workspace is
small and scripted: one team, the bot, an admin and a member, channels a test creates, and
faults a test switches on (429 storms, the bot removed from a channel, a channel archived or
deleted). Slash commands and events go to the bot as Socket Mode envelopes that it must ack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import WSMsgType, web

from tests.slack_standin import spec

TEAM_ID = "T0STANDIN1"
BOT_USER = "U0BOTUSER1"
BOT_ID = "B0BOTID001"
ADMIN = "U0ADMIN001"
MEMBER = "U0MEMBER01"
BOT_TOKEN = "xoxb-1111111111-2222222222-standinbottokensecret"
APP_TOKEN = "xapp-1-A0STANDIN1-3333333333-standinapptokensecret"


@dataclass
class Channel:
    id: str
    name: str
    creator: str = ADMIN
    is_member: bool = True
    archived: bool = False
    deleted: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)

    def top_level(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if not m.get("thread_ts") or m.get("thread_ts") == m["ts"]]

    def replies(self, ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("thread_ts") == ts and m["ts"] != ts]


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    error: str | None


class SlackStandIn:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self.calls: list[Call] = []
        self.channels: dict[str, Channel] = {}
        self.users = {
            ADMIN: {"id": ADMIN, "name": "admin", "is_admin": True, "is_owner": False},
            MEMBER: {"id": MEMBER, "name": "member", "is_admin": False, "is_owner": False},
        }
        self.rate_limits: dict[str, list[float]] = {}  # method → Retry-After of the next 429s
        self.failures: dict[str, list[tuple[int, str]]] = {}  # method → (HTTP status, error) of next calls
        self.responses: dict[str, list[dict[str, Any]]] = {}  # response_url posts per envelope
        self.acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.connected = asyncio.Event()
        self.connections = 0
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.hold_posts = 0.0  # seconds chat.postMessage answers wait after the message stands
        self.posts_held = 0  # how many answers are being held right now

    # -- lifecycle ----------------------------------------------------------------
    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/_response/{envelope}", self._response)
        app.router.add_get("/ws", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # -- the workspace ----------------------------------------------------------------
    def add_channel(self, name: str, **kw: Any) -> Channel:
        channel = Channel(id=f"C{next(self._ids):09d}", name=name, **kw)
        self.channels[channel.id] = channel
        return channel

    def channel(self, name: str) -> Channel:
        return next(c for c in self.channels.values() if c.name == name)

    def rate_limit(self, method: str, times: int, retry_after: float = 1.0) -> None:
        self.rate_limits.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str, *, status: int = 200, times: int = 1) -> None:
        """The next `times` calls of `method` answer {"ok": false, "error": error} with `status`."""
        self.failures.setdefault(method, []).extend([(status, error)] * times)

    def count(self, method: str, *, ok: bool | None = None) -> int:
        return sum(1 for c in self.calls if c.method == method and (ok is None or (c.error is None) == ok))

    def _new_ts(self) -> str:
        return f"{int(time.time()):10d}.{next(self._ts):06d}"

    # -- Web API ----------------------------------------------------------------
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if (request.content_type or "").startswith("application/json"):
                body = await request.json()
                params.update(body if isinstance(body, dict) else {})
            else:
                params.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        problems = spec.check(method, params)
        self.violations.extend(problems)
        status, answer = self._answer(method, params, auth)
        error = None if answer.get("ok") else str(answer.get("error"))
        self.calls.append(Call(method, params, status, error))
        if method == "chat.postMessage" and error is None and self.hold_posts > 0:
            self.posts_held += 1  # the message stands in the channel; the bot hears of it later
            try:
                await asyncio.sleep(self.hold_posts)
            finally:
                self.posts_held -= 1
        headers = {}
        if status == 429:
            headers["Retry-After"] = str(answer.pop("_retry_after"))
        return web.json_response(answer, status=status, headers=headers)

    def _answer(self, method: str, params: dict[str, Any], auth: str) -> tuple[int, dict[str, Any]]:
        token = auth.removeprefix("Bearer ").strip()
        if method == "apps.connections.open":
            if token != APP_TOKEN:
                return 200, {"ok": False, "error": "invalid_auth"}
            return 200, {"ok": True, "url": f"ws://127.0.0.1:{self.port}/ws"}
        if token != BOT_TOKEN:
            return 200, {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        waits = self.rate_limits.get(method)
        if waits:
            return 429, {"ok": False, "error": "ratelimited", "_retry_after": waits.pop(0)}
        failures = self.failures.get(method)
        if failures:
            status, error = failures.pop(0)
            return status, {"ok": False, "error": error}
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {"ok": True}
        result: tuple[int, dict[str, Any]] = handler(params)
        return result

    def _find(self, params: dict[str, Any], *, post: bool) -> Channel | dict[str, Any]:
        channel = self.channels.get(str(params.get("channel") or ""))
        if channel is None or channel.deleted:
            return {"ok": False, "error": "channel_not_found"}
        if post and channel.archived:
            return {"ok": False, "error": "is_archived"}
        if not channel.is_member:
            return {"ok": False, "error": "not_in_channel"}
        return channel

    def _m_auth_test(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "url": "https://standin.slack.com/", "team": "Stand-in", "user": "civic",
                     "team_id": TEAM_ID, "user_id": BOT_USER, "bot_id": BOT_ID}

    def _m_users_info(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        user = self.users.get(str(params.get("user") or ""))
        if user is None:
            return 200, {"ok": False, "error": "user_not_found"}
        # Slack answers a user's `locale` only when asked (include_locale), en-US by default
        shown = {k: v for k, v in user.items() if k != "locale"}
        if str(params.get("include_locale") or "").lower() in {"1", "true"}:
            shown["locale"] = user.get("locale", "en-US")
        return 200, {"ok": True, "user": shown}

    def _m_conversations_info(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        channel = self.channels.get(str(params.get("channel") or ""))
        if channel is None or channel.deleted:
            return 200, {"ok": False, "error": "channel_not_found"}
        return 200, {"ok": True, "channel": {"id": channel.id, "name": channel.name, "creator": channel.creator,
                                             "is_member": channel.is_member, "is_archived": channel.archived}}

    def _m_chat_postMessage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = self._find(params, post=True)
        if isinstance(found, dict):
            return 200, found
        blocks = params.get("blocks")
        message = {
            "type": "message", "ts": self._new_ts(), "user": BOT_USER, "bot_id": BOT_ID,
            "text": params.get("text", ""), "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
            "metadata": params.get("metadata"), "thread_ts": params.get("thread_ts"),
            "unfurl_links": params.get("unfurl_links"), "unfurl_media": params.get("unfurl_media"),
        }
        if message["thread_ts"] and not any(m["ts"] == message["thread_ts"] for m in found.messages):
            return 200, {"ok": False, "error": "thread_not_found"}
        found.messages.append(message)
        shown = {k: v for k, v in message.items() if v is not None and k not in {"metadata", "unfurl_links", "unfurl_media"}}
        return 200, {"ok": True, "channel": found.id, "ts": message["ts"], "message": shown}

    def _m_chat_update(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = self._find(params, post=True)
        if isinstance(found, dict):
            return 200, found
        for message in found.messages:
            if message["ts"] == params.get("ts"):
                if "text" in params:
                    message["text"] = params["text"]
                if "blocks" in params:
                    blocks = params["blocks"]
                    message["blocks"] = json.loads(blocks) if isinstance(blocks, str) else blocks
                message["edited"] = message.get("edited", 0) + 1
                return 200, {"ok": True, "channel": found.id, "ts": message["ts"], "text": message["text"]}
        return 200, {"ok": False, "error": "message_not_found"}

    def _m_conversations_history(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        found = self._find(params, post=False)
        if isinstance(found, dict):
            return 200, found
        limit = int(params.get("limit") or 100)
        with_meta = str(params.get("include_all_metadata", "")).lower() in {"1", "true"}
        out = []
        for m in reversed(found.top_level()):
            shown = {k: v for k, v in m.items() if v is not None and k not in {"unfurl_links", "unfurl_media"}}
            if not with_meta:
                shown.pop("metadata", None)
            out.append(shown)
        return 200, {"ok": True, "messages": out[:limit], "has_more": len(out) > limit}

    async def _response(self, request: web.Request) -> web.Response:
        self.responses.setdefault(request.match_info["envelope"], []).append(await request.json())
        return web.json_response({"ok": True})

    # -- Socket Mode ----------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.sockets.append(ws)
        self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"host": "standin"}, "connection_info": {"app_id": "A0STANDIN1"}})
        self.connected.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                future = self.acks.get(str(data.get("envelope_id")))
                if future is not None and not future.done():
                    future.set_result(data.get("payload") or {})
        finally:
            self.sockets.remove(ws)
            if not self.sockets:
                self.connected.clear()
        return ws

    async def _push(self, envelope: dict[str, Any], timeout: float) -> dict[str, Any]:
        await asyncio.wait_for(self.connected.wait(), timeout)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.acks[envelope["envelope_id"]] = future
        await self.sockets[-1].send_json(envelope)
        return await asyncio.wait_for(future, timeout)

    async def slash(self, channel: Channel, user: str, text: str, *, timeout: float = 20.0) -> dict[str, Any]:
        """`/civic <text>` typed by `user` in `channel`; the answer the person sees (the ack's
        payload, or the response_url post that follows a "Working on it…" ack)."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id, "type": "slash_commands", "accepts_response_payload": True,
            "payload": {
                "token": "legacy-verification", "team_id": TEAM_ID, "team_domain": "standin",
                "channel_id": channel.id, "channel_name": channel.name, "user_id": user,
                "user_name": self.users.get(user, {}).get("name", "someone"), "command": "/civic",
                "text": text, "api_app_id": "A0STANDIN1", "is_enterprise_install": "false",
                "response_url": f"http://127.0.0.1:{self.port}/_response/{envelope_id}",
                "trigger_id": f"{next(self._ids)}.trigger",
            },
        }
        payload = await self._push(envelope, timeout)
        if payload.get("text") == "Working on it…":
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not self.responses.get(envelope_id):
                if loop.time() > deadline:
                    raise TimeoutError("no response_url answer")
                await asyncio.sleep(0.05)
            return self.responses[envelope_id][0]
        return payload

    async def event(self, event: dict[str, Any], *, timeout: float = 20.0) -> None:
        """An Events API event over Socket Mode (acked, answered with nothing)."""
        envelope = {
            "envelope_id": str(uuid.uuid4()), "type": "events_api", "accepts_response_payload": False,
            "payload": {"token": "legacy-verification", "team_id": TEAM_ID, "api_app_id": "A0STANDIN1",
                        "event": event, "type": "event_callback", "event_id": f"Ev{next(self._ids):08d}",
                        "event_time": int(time.time()),
                        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True}]},
        }
        await self._push(envelope, timeout)
