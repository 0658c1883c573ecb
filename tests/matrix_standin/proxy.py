"""A loopback reverse proxy in front of Synapse that can hold the answer of an alert send.

Why: the hard crash case is "the homeserver stored the event, the bot died before recording
it". The proxy forwards a `PUT …/send/…` to the real Synapse (which stores the event) and then
holds the answer for `hold` seconds, so the drill can SIGKILL the bot inside that window every
time instead of hoping to hit a few milliseconds. Everything else passes straight through.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.matrix_standin.synapse import free_port

HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class HoldingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.hold = 0.0  # seconds a successful send's answer is held (0: none)
        self.held = 0  # sends whose answer was held (Synapse had stored the event)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None), auto_decompress=False)
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        body = await request.read()
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body or None
        ) as upstream:
            data = await upstream.read()
            status = upstream.status
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_HEADERS}
        if self.hold and request.method == "PUT" and "/send/" in request.path and status == 200:
            self.held += 1
            await asyncio.sleep(self.hold)
        return web.Response(status=status, body=data, headers=out_headers)
