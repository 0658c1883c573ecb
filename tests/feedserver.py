"""A loopback feed server for tests and benchmarks (real HTTP, no network).

Why: the ingest layer must be tested against real sockets (conditional GET, redirects,
resets, slow and huge bodies), and later layers (poller, benchmarks, fault drills) need
the same thing. Serves:

- ``/real/<file>``   every file in ../shared/feeds-real, read in place (never copied)
- ``/data/<path>``   files under tests/data/feeds (our own fixtures)
- ``/dyn/<path>``    feeds a test publishes at runtime: ``server.set_feed(path, items=[...])``
- ``/hostile/...``   misbehaving servers and documents (see HOSTILE_ROUTES below)

All static and dynamic feeds get a strong ETag and Last-Modified and answer 304 to a
matching If-None-Match / If-Modified-Since. Every request is counted per path
(``server.requests``) and its headers kept (``server.last_headers``);
``server.fail(path, times=N)`` makes a path fail N times before working again.

Usage::

    async with FeedServer() as server:
        url = server.url("/real/npr-world-rss.xml")

or the ``feed_server`` pytest fixture (import it into a conftest:
``from tests.feedserver import feed_server  # noqa: F401``).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from xml.sax.saxutils import escape, quoteattr

import pytest
from aiohttp import web

from tests.conftest import DATA_DIR, SHARED_DIR

__all__ = [
    "HOSTILE_ROUTES",
    "FeedServer",
    "feed_server",
    "gzip_bomb",
    "hostile_items",
    "rss_document",
]

REAL_DIR = SHARED_DIR / "feeds-real"
FEEDS_DATA_DIR = DATA_DIR / "feeds"
MB = 1024 * 1024

#: Every hostile route, for documentation and for tests that walk them all.
HOSTILE_ROUTES: dict[str, str] = {
    "/hostile/endless": "valid RSS start, then a chunked body that never ends",
    "/hostile/trickle": "one byte per `interval` seconds (default 1.0), forever",
    "/hostile/big": "a `mb` MB body (default 50) with Content-Length",
    "/hostile/big-chunked": "a `mb` MB body (default 50), chunked, no Content-Length",
    "/hostile/gzip-bomb": "Content-Encoding: gzip of `mb` MB of zeros (default 100)",
    "/hostile/billion-laughs.xml": "nested entity expansion",
    "/hostile/xxe.xml": "external entity naming file:///etc/passwd",
    "/hostile/malformed.xml": "truncated, unclosed XML",
    "/hostile/page.html": "an ordinary HTML page, not a feed",
    "/hostile/wrong-charset.xml": "declares UTF-8, bytes are cp1252",
    "/hostile/redirect": "redirect to ?to=<url> with ?status= (default 302)",
    "/hostile/redirect-loop/a": "a -> b -> a ...",
    "/hostile/redirect-chain/{n}": "n redirects, then /data/chicago-sample.xml",
    "/hostile/redirect-private": "redirect to http://10.0.0.1/feed.xml",
    "/hostile/redirect-metadata": "redirect to http://169.254.169.254/latest/meta-data/",
    "/hostile/status/{code}": "that status (404, 410, 429, 500, 503...); ?retry_after=",
    "/hostile/reset": "Content-Length 100000, 1000 bytes sent, then the connection is aborted",
    "/hostile/cache": "a feed with Cache-Control: max-age=`max_age` (default 300)",
    "/hostile/slow-headers": "sleeps `delay` seconds (default 5) before answering",
    "/hostile/feed/{kind}": "RSS built by hostile_items(kind): " + "many-items (?n=10000), "
    "dup-guids, no-guid-no-link, bad-dates, huge-title, scripts, mentions",
}


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _item_xml(item: Mapping[str, Any]) -> str:
    parts = ["<item>"]
    if item.get("title") is not None:
        parts.append(f"<title>{escape(str(item['title']))}</title>")
    if item.get("link"):
        parts.append(f"<link>{escape(str(item['link']))}</link>")
    if item.get("guid"):
        permalink = "true" if item.get("guid_is_permalink") else "false"
        parts.append(f'<guid isPermaLink="{permalink}">{escape(str(item["guid"]))}</guid>')
    if item.get("description") is not None:
        parts.append(f"<description>{escape(str(item['description']))}</description>")
    pub = item.get("pubDate")
    if isinstance(pub, datetime):
        pub = _http_date(pub)
    if pub:
        parts.append(f"<pubDate>{escape(str(pub))}</pubDate>")
    if item.get("source"):
        url_attr = f" url={quoteattr(str(item['source_url']))}" if item.get("source_url") else ""
        parts.append(f"<source{url_attr}>{escape(str(item['source']))}</source>")
    if item.get("image"):
        parts.append(f'<media:content url={quoteattr(str(item["image"]))} medium="image"/>')
    if item.get("extra"):
        parts.append(str(item["extra"]))  # raw XML, for tests that need odd elements
    parts.append("</item>")
    return "".join(parts)


def rss_document(
    title: str,
    items: Iterable[Mapping[str, Any]],
    *,
    link: str = "https://example.test/",
    description: str = "",
) -> bytes:
    """RSS 2.0 bytes from item dicts.

    Item keys: title, link, guid (+ guid_is_permalink), description (HTML allowed, it is
    escaped), pubDate (RFC 822 string or aware datetime), source + source_url (Google
    News style), image (media:content), extra (raw XML appended inside <item>).
    """
    body = "".join(_item_xml(item) for item in items)
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>{escape(description)}</description>{body}</channel></rss>\n"
    )
    return doc.encode("utf-8")


def hostile_items(kind: str, *, n: int = 10_000) -> list[dict[str, Any]]:
    """Items of a misbehaving feed, by kind (see HOSTILE_ROUTES "/hostile/feed/{kind}")."""
    base = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    if kind == "many-items":
        return [
            {
                "title": f"Item {i}",
                "link": f"https://example.test/many/{i}",
                "guid": f"many-{i}",
                "pubDate": base - timedelta(minutes=i),
            }
            for i in range(n)
        ]
    if kind == "dup-guids":
        return [
            {
                "title": f"Story {i % 3}",
                "link": f"https://example.test/story/{i % 3}",
                "guid": f"dup-{i % 3}",
                "pubDate": base,
            }
            for i in range(6)
        ]
    if kind == "no-guid-no-link":
        return [
            {"title": f"Untethered headline {i}", "description": f"Body {i}", "pubDate": base}
            for i in range(3)
        ] + [{"title": "Untethered and undated", "description": "No date"}]
    if kind == "bad-dates":
        return [
            {"title": "No date", "link": "https://example.test/d/none"},
            {"title": "Garbage date", "link": "https://example.test/d/garbage", "pubDate": "yesterday-ish"},
            {"title": "Far future", "link": "https://example.test/d/future", "pubDate": "Tue, 01 Jan 2999 00:00:00 GMT"},
            {"title": "Portuguese", "link": "https://example.test/d/pt", "pubDate": "Seg, 24 Set 2018 19:42:40 -0300"},
            {"title": "Good date", "link": "https://example.test/d/good", "pubDate": "Fri, 20 Nov 2026 12:00:00 GMT"},
            {"title": "Offset date", "link": "https://example.test/d/offset", "pubDate": "Fri, 20 Nov 2026 07:00:00 -0500"},
        ]  # fmt: skip
    if kind == "huge-title":
        return [
            {
                "title": "ICE " + "x" * MB,
                "link": "https://example.test/huge",
                "description": "y" * MB,
            },
            {"title": "Normal", "link": "https://example.test/normal"},
        ]
    if kind == "scripts":
        return [
            {
                "title": "Summary with scripts",
                "link": "https://example.test/scripts",
                "description": (
                    "<p>Real text.</p><script>alert('x')</script><style>p{color:red}</style>"
                    '<img src="https://tracker.example/pixel.gif" width="1" height="1">'
                    '<iframe src="https://evil.example/"></iframe>'
                    '<a href="javascript:alert(1)" onclick="steal()">click</a> more text.'
                ),
            }
        ]
    if kind == "mentions":
        return [
            {"title": "@everyone ICE raid reported", "link": "https://example.test/m/1"},
            {"title": "<@&123456789012345678> ping the role @here", "link": "https://example.test/m/2"},
            {"title": "[Totally official](https://evil.example/) **bold** __u__ ~~s~~ `code` ||spoiler||", "link": "https://example.test/m/3"},
            {"title": "<@123456789012345678> user mention and <#123> channel", "link": "https://example.test/m/4"},
        ]  # fmt: skip
    raise KeyError(kind)


_BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>Laughs</title><link>https://example.test/</link>
<item><title>&lol9;</title><link>https://example.test/lol</link><description>&lol9;</description></item>
</channel></rss>
"""

_XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE rss [
  <!ENTITY xxe SYSTEM "file:///etc/passwd">
  <!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd">
]>
<rss version="2.0"><channel><title>XXE</title><link>https://example.test/</link>
<item><title>Leak &xxe; here</title><link>https://example.test/xxe</link>
<description>&xxe;</description></item>
</channel></rss>
"""

_MALFORMED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Broken</title><link>https://example.test/</link>
<item><title>First item & friends</title><link>https://example.test/broken/1</link></item>
<item><title>Second item<title><link>https://example.test/broken/2</link>
"""

_HTML_PAGE = b"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Welcome to Example News</title>
<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>
<body><h1>Example News</h1><p>Top stories today.</p><a href="/story/1">Story one</a></body></html>
"""

_WRONG_CHARSET = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
    "<title>Noticias</title><link>https://example.test/</link>"
    "<item><title>Acción migratoria en São Paulo — niño</title>"
    "<link>https://example.test/charset</link></item></channel></rss>\n"
).encode("cp1252")

_STATIC_HOSTILE: dict[str, tuple[bytes, str]] = {
    "billion-laughs.xml": (_BILLION_LAUGHS, "application/rss+xml"),
    "xxe.xml": (_XXE, "application/rss+xml"),
    "malformed.xml": (_MALFORMED, "application/rss+xml"),
    "page.html": (_HTML_PAGE, "text/html; charset=utf-8"),
    "wrong-charset.xml": (_WRONG_CHARSET, "application/rss+xml"),
}


@functools.cache
def gzip_bomb(mb: int = 100) -> bytes:
    """gzip of `mb` MB of zeros (about 1/1000 of that on the wire); cached per size."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31 = gzip container
    chunk = bytes(MB)
    out = [compressor.compress(chunk) for _ in range(mb)]
    out.append(compressor.flush())
    return b"".join(out)


def _content_type(name: str) -> str:
    lower = name.lower()
    if lower.endswith((".html", ".htm")):
        return "text/html"
    if "atom" in lower:
        return "application/atom+xml"
    return "application/rss+xml"


@dataclass
class _Doc:
    body: bytes
    content_type: str
    modified: datetime
    status: int = 200
    headers: dict[str, str] | None = None

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:24] + '"'


@dataclass
class _Failure:
    remaining: int
    status: int
    headers: dict[str, str]


class FeedServer:
    """aiohttp app on 127.0.0.1 (random port). See the module docstring for routes."""

    def __init__(self, *, real_dir: Path = REAL_DIR, data_dir: Path = FEEDS_DATA_DIR) -> None:
        self.real_dir = real_dir
        self.data_dir = data_dir
        self.requests: Counter[str] = Counter()
        # (time.monotonic(), path with query) of every request: rate tests count per second
        self.request_log: list[tuple[float, str]] = []
        self.last_headers: dict[str, dict[str, str]] = {}
        self._dynamic: dict[str, _Doc] = {}
        self._failures: dict[str, _Failure] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/real/{name}", self._real)
        app.router.add_get("/data/{tail:.+}", self._data)
        app.router.add_get("/dyn/{tail:.+}", self._dyn)
        app.router.add_get("/gnews/rss/search", self._gnews)
        app.router.add_get("/hostile/endless", self._endless)
        app.router.add_get("/hostile/trickle", self._trickle)
        app.router.add_get("/hostile/big", self._big)
        app.router.add_get("/hostile/big-chunked", self._big_chunked)
        app.router.add_get("/hostile/gzip-bomb", self._gzip_bomb)
        app.router.add_get("/hostile/redirect", self._redirect)
        app.router.add_get("/hostile/redirect-loop/{which}", self._redirect_loop)
        app.router.add_get("/hostile/redirect-chain/{n}", self._redirect_chain)
        app.router.add_get("/hostile/redirect-private", self._redirect_private)
        app.router.add_get("/hostile/redirect-metadata", self._redirect_metadata)
        app.router.add_get("/hostile/status/{code}", self._status)
        app.router.add_get("/hostile/reset", self._reset)
        app.router.add_get("/hostile/cache", self._cache)
        app.router.add_get("/hostile/slow-headers", self._slow_headers)
        app.router.add_get("/hostile/feed/{kind}", self._hostile_feed)
        app.router.add_get("/hostile/{name}", self._static_hostile)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound port only here
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- test API ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of `path` on this server ("/real/npr-world-rss.xml")."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def set_feed(
        self,
        path: str,
        *,
        items: Iterable[Mapping[str, Any]],
        title: str = "Dynamic feed",
        link: str = "https://example.test/",
        modified: datetime | None = None,
    ) -> str:
        """Publish (or replace) an RSS feed at `path` (must start with /dyn/); returns its URL."""
        return self.set_body(
            path,
            rss_document(title, items, link=link),
            content_type="application/rss+xml",
            modified=modified,
        )

    def set_body(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml",
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        modified: datetime | None = None,
    ) -> str:
        """Serve arbitrary bytes at a /dyn/ path (status and extra headers optional)."""
        if not path.startswith("/dyn/"):
            raise ValueError("dynamic paths start with /dyn/")
        self._dynamic[path] = _Doc(
            body=body,
            content_type=content_type,
            modified=(modified or datetime.now(UTC)).replace(microsecond=0),
            status=status,
            headers=dict(headers or {}),
        )
        return self.url(path)

    def fail(
        self, path: str, times: int, *, status: int = 503, headers: Mapping[str, str] | None = None
    ) -> None:
        """Make the next `times` requests to `path` answer `status` (then work normally)."""
        self._failures[path] = _Failure(times, status, dict(headers or {}))

    # --- plumbing ------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        self.requests[path] += 1
        self.request_log.append((time.monotonic(), request.path_qs))
        self.last_headers[path] = dict(request.headers)
        failure = self._failures.get(path)
        if failure is not None and failure.remaining > 0:
            failure.remaining -= 1
            return web.Response(
                status=failure.status, text="injected failure", headers=failure.headers
            )
        response: web.StreamResponse = await handler(request)
        return response

    @staticmethod
    def _conditional(request: web.Request, doc: _Doc) -> web.Response:
        headers = {
            "ETag": doc.etag,
            "Last-Modified": _http_date(doc.modified),
            **(doc.headers or {}),
        }
        inm = request.headers.get("If-None-Match")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            if doc.etag in tags or "*" in tags:
                return web.Response(status=304, headers=headers)
        else:
            ims = request.headers.get("If-Modified-Since")
            if ims:
                try:
                    since = parsedate_to_datetime(ims)
                except (TypeError, ValueError):
                    since = None
                if since is not None and since.tzinfo is not None and doc.modified <= since:
                    return web.Response(status=304, headers=headers)
        headers["Content-Type"] = doc.content_type
        return web.Response(status=doc.status, body=doc.body, headers=headers)

    @staticmethod
    def _file_doc(path: Path) -> _Doc:
        stat = path.stat()
        return _Doc(
            body=path.read_bytes(),
            content_type=_content_type(path.name),
            modified=datetime.fromtimestamp(int(stat.st_mtime), tz=UTC),
        )

    async def _real(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        path = self.real_dir / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return self._conditional(request, self._file_doc(path))

    async def _data(self, request: web.Request) -> web.Response:
        root = self.data_dir.resolve()
        path = (root / request.match_info["tail"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise web.HTTPNotFound()
        return self._conditional(request, self._file_doc(path))

    async def _gnews(self, request: web.Request) -> web.Response:
        """A Google News-style search feed generated from the query: items whose titles end in
        " - Outlet", with <source url=…>, and opaque news.google.com links."""
        query = request.query.get("q", "")
        place = query.split('"')[1] if query.count('"') >= 2 else query[:40]
        digest = hashlib.sha256(request.path_qs.encode()).hexdigest()[:12]
        now = datetime.now(UTC).replace(microsecond=0)
        items = [
            {
                "title": f"ICE agents detain day laborers outside a hardware store {digest} - Local Outlet",
                "link": f"https://news.google.com/rss/articles/CBMi{digest}a?oc=5",
                "guid": f"gn-{digest}-a",
                "pubDate": now - timedelta(minutes=5),
                "source": "Local Outlet",
                "source_url": "https://local-outlet.example",
            },
            {
                "title": f"Immigration raid in {place} leaves families searching {digest} - Daily Paper",
                "link": f"https://news.google.com/rss/articles/CBMi{digest}b?oc=5",
                "guid": f"gn-{digest}-b",
                "pubDate": now - timedelta(minutes=9),
                "source": "Daily Paper",
                "source_url": "https://daily-paper.example",
            },
        ]
        body = rss_document(f'"{query}" - Google News', items, link="https://news.google.com/search")
        return web.Response(body=body, content_type="application/rss+xml")

    async def _dyn(self, request: web.Request) -> web.Response:
        doc = self._dynamic.get(request.path)
        if doc is None:
            raise web.HTTPNotFound()
        return self._conditional(request, doc)

    # --- hostile -------------------------------------------------------------------

    async def _stream(
        self, request: web.Request, chunks: AsyncIterator[bytes], headers: Mapping[str, str]
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers=dict(headers))
        await response.prepare(request)
        try:
            async for chunk in chunks:
                await response.write(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up, as it should
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>Endless</title>'
            i = 0
            while True:
                i += 1
                yield f"<item><title>Item {i}</title></item>".encode() * 50
                await asyncio.sleep(0.001)

        return await self._stream(request, chunks(), {"Content-Type": "application/rss+xml"})

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        interval = float(request.query.get("interval", "1.0"))

        async def chunks() -> AsyncIterator[bytes]:
            for byte in b'<?xml version="1.0"?><rss version="2.0"><channel>' * 1000:
                yield bytes([byte])
                await asyncio.sleep(interval)

        return await self._stream(request, chunks(), {"Content-Type": "application/rss+xml"})

    async def _big(self, request: web.Request) -> web.StreamResponse:
        size = int(float(request.query.get("mb", "50")) * MB)

        async def chunks() -> AsyncIterator[bytes]:
            block = b" " * (64 * 1024)
            sent = 0
            while sent < size:
                piece = block[: size - sent]
                sent += len(piece)
                yield piece

        headers = {"Content-Type": "application/rss+xml", "Content-Length": str(size)}
        return await self._stream(request, chunks(), headers)

    async def _big_chunked(self, request: web.Request) -> web.StreamResponse:
        size = int(float(request.query.get("mb", "50")) * MB)

        async def chunks() -> AsyncIterator[bytes]:
            block = b" " * (64 * 1024)
            for _ in range(size // len(block)):
                yield block

        return await self._stream(request, chunks(), {"Content-Type": "application/rss+xml"})

    async def _gzip_bomb(self, request: web.Request) -> web.Response:
        mb = int(request.query.get("mb", "100"))
        body = await asyncio.get_running_loop().run_in_executor(None, gzip_bomb, mb)
        headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers)

    async def _redirect(self, request: web.Request) -> web.Response:
        target = request.query.get("to", "/data/chicago-sample.xml")
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": target})

    async def _redirect_loop(self, request: web.Request) -> web.Response:
        other = "b" if request.match_info["which"] == "a" else "a"
        return web.Response(status=302, headers={"Location": f"/hostile/redirect-loop/{other}"})

    async def _redirect_chain(self, request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        target = "/data/chicago-sample.xml" if n <= 1 else f"/hostile/redirect-chain/{n - 1}"
        return web.Response(status=301, headers={"Location": target})

    async def _redirect_private(self, request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "http://10.0.0.1/feed.xml"})

    async def _redirect_metadata(self, request: web.Request) -> web.Response:
        location = "http://169.254.169.254/latest/meta-data/"
        return web.Response(status=302, headers={"Location": location})

    async def _status(self, request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        return web.Response(status=code, text=f"status {code}", headers=headers)

    async def _reset(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "application/rss+xml", "Content-Length": "100000"}
        )
        await response.prepare(request)
        await response.write(b'<?xml version="1.0"?><rss version="2.0"><channel>' + b" " * 950)
        await asyncio.sleep(0.05)
        transport = request.transport
        if transport is not None:
            transport.abort()
        return response

    async def _cache(self, request: web.Request) -> web.Response:
        max_age = request.query.get("max_age", "300")
        doc = _Doc(
            body=rss_document("Cached", [{"title": "One", "link": "https://example.test/1"}]),
            content_type="application/rss+xml",
            modified=datetime(2026, 11, 1, tzinfo=UTC),
            headers={"Cache-Control": f"public, s-maxage=5, max-age={max_age}"},
        )
        return self._conditional(request, doc)

    async def _slow_headers(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "5")))
        return web.Response(text="late")

    async def _hostile_feed(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        try:
            items = hostile_items(kind, n=int(request.query.get("n", "10000")))
        except KeyError:
            raise web.HTTPNotFound() from None
        doc = _Doc(
            body=rss_document(f"Hostile {kind}", items),
            content_type="application/rss+xml",
            modified=datetime(2026, 11, 1, tzinfo=UTC),
        )
        return self._conditional(request, doc)

    async def _static_hostile(self, request: web.Request) -> web.Response:
        entry = _STATIC_HOSTILE.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        body, content_type = entry
        return web.Response(body=body, headers={"Content-Type": content_type})


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    """A running FeedServer for one test."""
    async with FeedServer() as server:
        yield server
