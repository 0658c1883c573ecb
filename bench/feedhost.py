"""The feed host: an aiohttp server on 127.0.0.1 in its own process, serving bench/feedgen.py feeds.

Why a separate process: the benchmark compares our asyncio poller with `reader` (synchronous,
threads); serving from either side's process would charge the server's CPU to that side.
Both sides talk to the same host, which neither owns.

Routes:
- ``GET /f/<i>.xml``  feed i (strong ETag, Last-Modified; 304 on a matching validator unless the
  feed is in "always 200" mode)
- ``POST /_ctl/mode?mode=conditional|steady``  steady: even feeds honour validators (304), odd
  feeds ignore them and send the same body again (200)
- ``POST /_ctl/publish?index=i&k=k``  put a new relevant item at the top of feed i; answers the
  publication time (time.time()) in JSON
- ``GET /_ctl/stats``  requests, 200s and 304s so far
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import time
import urllib.request
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from aiohttp import web

from bench import feedgen


class _Host:
    def __init__(self, n_feeds: int, seed: int, base_ts: float, items: int, style: str) -> None:
        self.n, self.seed, self.items, self.style = n_feeds, seed, items, style
        self.base = datetime.fromtimestamp(base_ts, UTC).replace(microsecond=0)
        self.docs: dict[int, tuple[bytes, str, datetime]] = {}
        self.extra: dict[int, list[feedgen.GenItem]] = {}
        self.mode = "conditional"
        self.stats = {"requests": 0, "200": 0, "304": 0, "bytes": 0}
        for i in range(n_feeds):
            self._render(i, self.base)

    def _render(self, i: int, modified: datetime) -> None:
        body = feedgen.feed_document(self.seed, i, self.base, self.items, self.extra.get(i),
                                      style=self.style)
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        self.docs[i] = (body, etag, modified.replace(microsecond=0))

    async def feed(self, request: web.Request) -> web.Response:
        self.stats["requests"] += 1
        try:
            i = int(request.match_info["i"])
            body, etag, modified = self.docs[i]
        except (KeyError, ValueError):
            raise web.HTTPNotFound() from None
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        honour = self.mode == "conditional" or (self.mode == "steady" and i % 2 == 0)
        if honour:
            inm = request.headers.get("If-None-Match")
            ims = request.headers.get("If-Modified-Since")
            hit = False
            if inm is not None:
                hit = etag in {t.strip().removeprefix("W/") for t in inm.split(",")}
            elif ims:
                with contextlib.suppress(TypeError, ValueError):
                    hit = parsedate_to_datetime(ims) >= modified
            if hit:
                self.stats["304"] += 1
                return web.Response(status=304, headers=headers)
        self.stats["200"] += 1
        self.stats["bytes"] += len(body)
        headers["Content-Type"] = "application/atom+xml" if feedgen.feed_kind(i) == "atom" else "application/rss+xml"
        return web.Response(body=body, headers=headers)

    async def set_mode(self, request: web.Request) -> web.Response:
        self.mode = request.query.get("mode", "conditional")
        return web.json_response({"mode": self.mode})

    async def publish(self, request: web.Request) -> web.Response:
        i, k = int(request.query["index"]), int(request.query.get("k", "0"))
        now = datetime.now(UTC)
        item = feedgen.relevant_item(self.seed, i, k, now)
        self.extra.setdefault(i, []).insert(0, item)
        self._render(i, now)
        return web.json_response({"t": time.time(), "title": item.title})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats)


async def _serve(conn: Any, n_feeds: int, seed: int, base_ts: float, items: int, style: str) -> None:
    host = _Host(n_feeds, seed, base_ts, items, style)
    app = web.Application()
    app.router.add_get("/f/{i}.xml", host.feed)
    app.router.add_post("/_ctl/mode", host.set_mode)
    app.router.add_post("/_ctl/publish", host.publish)
    app.router.add_get("/_ctl/stats", host.get_stats)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    conn.send(port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)  # the parent closed its end: shut down
    await stop.wait()
    await runner.cleanup()


def _main(conn: Any, n_feeds: int, seed: int, base_ts: float, items: int, style: str) -> None:
    asyncio.run(_serve(conn, n_feeds, seed, base_ts, items, style))


class FeedHost:
    """Start with ``with FeedHost(n) as host: host.url(i)``; the process ends on exit."""

    def __init__(self, n_feeds: int, *, seed: int = 1, items: int = feedgen.ITEMS_PER_FEED,
                 base_ts: float | None = None, style: str = "mixed") -> None:
        """`style`: "mixed" (news with relevant and wire items), "plain" (ordinary news only),
        "cluster" (headlines that share many words; see feedgen.feed_items)."""
        if style not in feedgen.STYLES:
            raise ValueError(f"unknown feed style {style!r}")
        self.n_feeds, self.seed, self.items, self.style = n_feeds, seed, items, style
        self.base_ts = base_ts if base_ts is not None else time.time() - 60
        self.port = 0
        self._proc: Any = None
        self._conn: Any = None

    def __enter__(self) -> FeedHost:
        feedgen.corpus()  # build the cache once, here, not in two processes at once
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_main, args=(child, self.n_feeds, self.seed, self.base_ts, self.items, self.style),
                                 name="bench-feedhost", daemon=True)
        self._proc.start()
        child.close()
        if not parent.poll(300):
            self.__exit__()
            raise RuntimeError("feed host did not start")
        self.port = parent.recv()
        self._conn = parent
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/f/{i}.xml"

    def urls(self) -> list[str]:
        return [self.url(i) for i in range(self.n_feeds)]

    def _post(self, path: str) -> dict[str, Any]:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def set_mode(self, mode: str) -> None:
        self._post(f"/_ctl/mode?mode={mode}")

    def publish(self, index: int, k: int) -> dict[str, Any]:
        return self._post(f"/_ctl/publish?index={index}&k={k}")

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_ctl/stats", timeout=30) as resp:
            return json.loads(resp.read())
