"""A tiny recording Discord REST endpoint on 127.0.0.1 for the fast cog tests.

Why not the full stand-in here: cog tests should run in milliseconds and check *what the bot
said* (the interaction callback, follow-ups, channel messages); the e2e suite runs the real
bot process against tests/standin, which also validates bodies against Discord's OpenAPI file.
This fake answers just the routes discord.py uses for login, interaction responses, webhook
follow-ups and channel messages, with `Content-Type: application/json` exactly (discord.py
parses JSON only then), and can be told to fail the next request on a route.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 1000
APP_ID = 1000
OWNER_ID = 2


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name,
        "avatar": None,
        "bot": bot,
        "flags": 0,
        "public_flags": 0,
    }


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int


@dataclass
class FakeDiscordAPI:
    requests: list[Recorded] = field(default_factory=list)
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # channel → messages
    failures: list[Failure] = field(default_factory=list)
    base: str = ""
    last_webhook_message_id: int = 0  # id of the last follow-up message the fake created
    _ids: Any = field(default_factory=lambda: itertools.count(900_000_000_000_000_001))
    _runner: web.AppRunner | None = None

    # ---------------------------------------------------------------- control
    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        self.failures.append(
            Failure(
                method,
                re.compile(path_regex),
                status,
                body if body is not None else {"message": "fail", "code": 0},
                headers or {},
                times,
            )
        )

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method)
            and (path_regex is None or re.search(path_regex, r.path))
        ]

    def interaction_replies(self) -> list[dict[str, Any]]:
        """Every message body the bot produced in answer to interactions, in order.

        Callback type 4 (message) and 7 (update) data, follow-ups, and edits of @original.
        """
        out = []
        for r in self.requests:
            if (
                r.path.endswith("/callback")
                and isinstance(r.body, dict)
                and r.body.get("type") in (4, 7)
            ):
                out.append(r.body.get("data") or {})
            elif (
                r.path.startswith("/webhooks/")
                and r.method in ("POST", "PATCH")
                and isinstance(r.body, dict)
            ):
                out.append(r.body)
        return out

    def callbacks(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path.endswith("/callback")]

    # ---------------------------------------------------------------- server
    async def start(self) -> FakeDiscordAPI:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}/api/v10"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _json(
        self, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    def _message(
        self,
        channel_id: int,
        body: dict[str, Any],
        *,
        author_id: int = BOT_ID,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "id": str(message_id or next(self._ids)),
            "channel_id": str(channel_id),
            "author": user_payload(author_id, "civic-alerts", bot=True),
            "content": body.get("content") or "",
            "timestamp": "2026-11-26T04:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags") or 0,
            "nonce": body.get("nonce"),
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.removeprefix("/api/v10")
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(Recorded(request.method, path, dict(request.query), body))
        if isinstance(body, str) and request.content_type == "multipart/form-data":
            # a message with files: Discord reads the JSON part named payload_json
            found = re.search(r'name="payload_json"[^\n]*\r?\n(?:[^\r\n]+\r?\n)*\r?\n(.*?)\r?\n--', body, re.S)
            body = json.loads(found.group(1)) if found else None
        for failure in self.failures:
            if (
                failure.times > 0
                and failure.method == request.method
                and failure.pattern.search(path)
            ):
                failure.times -= 1
                return self._json(failure.body, failure.status, failure.headers)
        m = request.method
        if m == "GET" and path == "/users/@me":
            return self._json(user_payload(BOT_ID, "civic-alerts", bot=True))
        if m == "GET" and path == "/oauth2/applications/@me":
            return self._json(
                {
                    "id": str(APP_ID),
                    "name": "civic-alerts",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "owner": user_payload(OWNER_ID, "owner"),
                    "flags": 0,
                    "team": None,
                }
            )
        if m == "PUT" and re.fullmatch(r"/applications/\d+(/guilds/\d+)?/commands", path):
            return self._json(
                [
                    {**c, "id": str(next(self._ids)), "application_id": str(APP_ID), "version": "1"}
                    for c in (body or [])
                ]
            )
        if m == "POST" and path.endswith("/callback"):
            interaction_id = path.split("/")[2]
            kind = (body or {}).get("type")
            data: dict[str, Any] = {"interaction": {"id": interaction_id, "type": 2}}
            if kind in (4, 5, 7):
                msg = self._message(0, (body or {}).get("data") or {})
                data["resource"] = {"type": kind, "message": msg}
            return self._json(data)
        wh = re.fullmatch(r"/webhooks/(\d+)/([^/]+)(/messages/(@original|\d+))?", path)
        if wh:
            if m == "DELETE":
                return web.Response(status=204)
            msg = self._message(0, body if isinstance(body, dict) else {})
            if m == "POST":
                self.last_webhook_message_id = int(msg["id"])
            return self._json(msg)
        if m == "GET" and re.fullmatch(r"/channels/\d+", path):
            return self._json({"message": "Unknown Channel", "code": 10003}, 404)
        ch = re.fullmatch(r"/channels/(\d+)/messages(?:/(\d+))?", path)
        if ch:
            channel_id = int(ch.group(1))
            box = self.messages.setdefault(channel_id, [])
            if m == "POST":
                msg = self._message(channel_id, body or {})
                box.append(msg)
                return self._json(msg)
            if m == "PATCH" and ch.group(2):
                for msg in box:
                    if msg["id"] == ch.group(2):
                        msg.update(
                            {k: v for k, v in (body or {}).items() if k in ("embeds", "content")}
                        )
                        return self._json(msg)
                return self._json({"message": "Unknown Message", "code": 10008}, 404)
            if m == "GET":
                limit = int(request.query.get("limit", "50"))
                return self._json(list(reversed(box))[:limit])
        if m == "POST" and path == "/users/@me/channels":
            return self._json(
                {
                    "id": "777",
                    "type": 1,
                    "recipients": [user_payload(OWNER_ID, "owner")],
                    "last_message_id": None,
                }
            )
        return self._json({"message": f"fake api: no route {m} {path}", "code": 0}, 404)
