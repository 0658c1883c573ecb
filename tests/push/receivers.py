"""Real local receivers for push tests: an HTTP endpoint (json://, form://, ntfy://) and SMTP.

Why real sockets: the Apprise plugins are the code under test as much as ours — their request
shapes, timeouts and error handling — so they talk to servers on 127.0.0.1, never to a mock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def fields(self) -> dict[str, Any]:
        """The payload as a dict, whether it came as JSON or as a form."""
        return self.form or self.json

    @property
    def story_ids(self) -> list[int]:
        raw = str(self.fields.get("story_ids", ""))
        return [int(x) for x in raw.split(",") if x]


class HookReceiver:
    """Records every request; `plan` decides each answer: 200, a status, 'delay:S', 'close'."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or 0
        self.received: list[Received] = []
        self.plan: list[str] = []  # consumed one per request; empty = 200
        self.delay = 0.0  # every request waits this long before its answer
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._raw: asyncio.Server | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        form: dict[str, str] = {}
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = {k: str(v) for k, v in (await request.post()).items()}
        self.received.append(Received(request.path, dict(request.headers), body, form))
        self.arrived.set()
        step = self.plan.pop(0) if self.plan else "200"
        if self.delay:
            await asyncio.sleep(self.delay)
        if step.startswith("delay:"):
            await asyncio.sleep(float(step.split(":", 1)[1]))
            step = "200"
        if step == "close":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=200)
        return web.json_response({"ok": step == "200"}, status=int(step))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def url(self, scheme: str, path: str = "/hook", auth: str = "", query: str = "") -> str:
        at = f"{auth}@" if auth else ""
        q = f"?{query}" if query else ""
        return f"{scheme}://{at}127.0.0.1:{self.port}{path}{q}"

    def keys(self) -> list[str]:
        return [str(r.fields.get("idempotency_key")) for r in self.received]

    def delivered_once(self) -> list[Received]:
        """What a receiver that drops repeats by idempotency key would keep."""
        seen: set[str] = set()
        out = []
        for r in self.received:
            key = str(r.fields.get("idempotency_key"))
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out


class AcceptThenClose:
    """A TCP server that reads the request and closes without answering (then can heal)."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.read(65536), 2)
        writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content or envelope.content))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 with LOGIN/PLAIN auth (no TLS), checking one user and password."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.mailbox = _Mailbox()
        self.logins: list[str] = []
        self.port = free_port()
        self._controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, authenticator=self._auth,
            auth_require_tls=False, auth_required=True,
        )

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == self.user and auth_data.password.decode() == self.password
        )
        self.logins.append("ok" if ok else "refused")
        return AuthResult(success=ok)

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
