"""Issue 16 item 8: servers that break HTTP in ways real feeds do, over a raw loopback socket.

aiohttp's own server will not send these responses, so a few lines of asyncio play the server.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest

from bot.ingest.fetch import MAX_ERROR_CHARS, Fetcher, FetchLimits, one_line
from bot.ingest.parse import parse_feed

RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
    b"<title>Council passes the budget</title><link>https://x.example/1</link></item></channel></rss>"
)


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = (await reader.readuntil(b"\r\n\r\n")).lower()
    path = request.split()[1]
    if path == b"/fake-gzip":  # says gzip, sends plain XML
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
        body = RSS
    elif path == b"/broken-gzip":  # a gzip header, then garbage
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\n"
        body = gzip.compress(RSS)[:10] + b"\xff" * 64
    elif b"if-none-match" in request:  # a 304 that carries a body
        head = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n'
        body = b"<html>Not Modified</html>"
    else:
        head = b'HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nETag: "v1"\r\n'
        body = RSS
    writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    await writer.drain()
    writer.close()


@pytest.fixture
async def raw_server() -> AsyncIterator[str]:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_body_falsely_labelled_gzip_is_read_as_sent(raw_server: str) -> None:
    """Before: failed as "connection dropped mid-body". After: the XML is parsed."""
    async with Fetcher(FetchLimits(total_timeout=10)) as fetcher:
        result = await fetcher.fetch(f"{raw_server}/fake-gzip")
    assert result.error is None and result.body == RSS
    assert [a.title for a in parse_feed(result.body, feed_url=result.final_url).articles] == ["Council passes the budget"]


async def test_real_but_broken_gzip_is_still_an_error(raw_server: str) -> None:
    async with Fetcher(FetchLimits(total_timeout=10)) as fetcher:
        result = await fetcher.fetch(f"{raw_server}/broken-gzip")
    assert result.error is not None and result.body is None


async def test_a_304_with_a_body_does_not_fail_the_feed(raw_server: str) -> None:
    """Before: "bad response: Bad status line …" over three lines. After: the feed is read."""
    async with Fetcher(FetchLimits(total_timeout=10)) as fetcher:
        result = await fetcher.fetch(f"{raw_server}/feed", etag='"v1"')
    assert result.error is None, result.error
    assert result.ok and result.etag == '"v1"'


def test_fetch_errors_are_one_short_line() -> None:
    text = "bad response: Bad status line:\n  Expected HTTP/:\n\n  b'" + "x" * 500 + "'\n    ^"
    line = one_line(text)
    assert "\n" not in line and len(line) <= MAX_ERROR_CHARS
    assert one_line("HTTP 404 Not Found") == "HTTP 404 Not Found"
