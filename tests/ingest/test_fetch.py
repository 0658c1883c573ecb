"""Fetcher against the loopback FeedServer: real sockets, small limits, no mocks."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.ingest.fetch import Fetcher, FetchLimits, parse_max_age, parse_retry_after
from tests.feedserver import FeedServer

# --- plain fetches and conditional GET ---------------------------------------------------


def test_limits_defaults_match_contract() -> None:
    limits = FetchLimits()
    assert (limits.total_concurrency, limits.per_host) == (32, 4)
    assert (limits.connect_timeout, limits.read_timeout, limits.total_timeout) == (10, 20, 45)
    assert limits.max_bytes == 10 * 1024 * 1024 and limits.max_redirects == 5
    assert limits.user_agent.startswith("civic-alert-bot/0.1")
    with pytest.raises(FrozenInstanceError):
        limits.max_bytes = 1  # type: ignore[misc]


async def test_fetch_ok_sends_user_agent(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"))
    assert result.ok and result.status == 200 and not result.not_modified
    assert result.body is not None and b"Chicago Sample Outlet" in result.body
    assert result.headers["content-type"] == "application/rss+xml"
    assert result.etag and result.last_modified
    assert result.final_url == result.url
    assert result.elapsed >= 0
    sent = feed_server.last_headers["/data/chicago-sample.xml"]
    assert sent["User-Agent"] == fast_limits.user_agent
    assert "application/rss+xml" in sent["Accept"]
    assert "If-None-Match" not in sent


async def test_etag_gives_304(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    url = feed_server.url("/data/chicago-sample.xml")
    async with Fetcher(fast_limits) as fetcher:
        first = await fetcher.fetch(url)
        second = await fetcher.fetch(url, etag=first.etag)
    assert second.status == 304 and second.not_modified and second.ok
    assert second.body is None
    assert second.etag == first.etag
    assert feed_server.last_headers["/data/chicago-sample.xml"]["If-None-Match"] == first.etag


async def test_last_modified_gives_304(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    url = feed_server.url("/data/sample-atom.xml")
    async with Fetcher(fast_limits) as fetcher:
        first = await fetcher.fetch(url)
        second = await fetcher.fetch(url, last_modified=first.last_modified)
    assert first.headers["content-type"] == "application/atom+xml"
    assert second.not_modified and second.last_modified == first.last_modified
    sent = feed_server.last_headers["/data/sample-atom.xml"]
    assert sent["If-Modified-Since"] == first.last_modified


async def test_changed_feed_gives_200_again(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    url = feed_server.set_feed(
        "/dyn/chicago.xml", items=[{"title": "One", "link": "https://e.test/1"}], modified=old
    )
    async with Fetcher(fast_limits) as fetcher:
        first = await fetcher.fetch(url)
        feed_server.set_feed(
            "/dyn/chicago.xml", items=[{"title": "Two", "link": "https://e.test/2"}]
        )
        second = await fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.status == 200 and not second.not_modified
    assert second.body is not None and b"Two" in second.body
    assert second.etag != first.etag


async def test_stale_etag_gives_200(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"), etag='"stale"')
    assert result.status == 200 and result.body


# --- HTTP errors ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [404, 410, 500, 503])
async def test_http_errors_are_results(
    feed_server: FeedServer, fast_limits: FetchLimits, code: int
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url(f"/hostile/status/{code}"))
    assert result.status == code and not result.ok
    assert result.error is not None and result.error.startswith(f"HTTP {code}")
    assert result.body is None


async def test_429_retry_after_seconds(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/status/429?retry_after=120"))
    assert result.status == 429 and result.retry_after == 120.0 and result.error


async def test_503_retry_after_http_date(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    feed_server.fail("/data/chicago-sample.xml", 1, status=503, headers={"Retry-After": when})
    async with Fetcher(fast_limits) as fetcher:
        failed = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"))
        recovered = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"))
    assert failed.status == 503 and failed.retry_after is not None
    assert 80 <= failed.retry_after <= 91
    assert recovered.ok
    assert feed_server.requests["/data/chicago-sample.xml"] == 2


async def test_cache_control_max_age(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/cache?max_age=1800"))
    assert result.ok and result.max_age == 1800.0  # not the s-maxage=5 before it


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_dates() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 26 Nov 2026 12:02:00 GMT", now=now) == 120.0
    assert parse_retry_after("Thu, 26 Nov 2026 11:00:00 GMT", now=now) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=300", 300.0),
        ("public, max-age=60, must-revalidate", 60.0),
        ('max-age="90"', 90.0),
        ("s-maxage=10", None),
        ("s-maxage=10, max-age=20", 20.0),
        ("no-cache", None),
        (None, None),
    ],
)
def test_parse_max_age(value: str | None, expected: float | None) -> None:
    assert parse_max_age(value) == expected


# --- redirects --------------------------------------------------------------------------


async def test_redirect_chain_within_limit_followed(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/redirect-chain/5"))
    assert result.ok and result.final_url == feed_server.url("/data/chicago-sample.xml")
    assert result.url == feed_server.url("/hostile/redirect-chain/5")


async def test_redirect_limit(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/redirect-chain/6"))
    assert not result.ok and result.error == "too many redirects (> 5)"
    assert feed_server.requests["/data/chicago-sample.xml"] == 0


async def test_redirect_loop(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/redirect-loop/a"))
    assert result.error == "redirect loop"
    assert feed_server.requests["/hostile/redirect-loop/a"] == 1
    assert feed_server.requests["/hostile/redirect-loop/b"] == 1


async def test_redirect_to_other_scheme_refused(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/redirect?to=file:///etc/passwd"))
    assert result.error == "unsupported scheme file" and result.body is None


async def test_conditional_headers_survive_redirect(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        first = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"))
        again = await fetcher.fetch(feed_server.url("/hostile/redirect-chain/2"), etag=first.etag)
    assert again.not_modified and again.final_url.endswith("/data/chicago-sample.xml")


# --- size limits --------------------------------------------------------------------------


async def test_declared_oversize_body_refused_early(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(feed_server.url("/hostile/big?mb=50"))
    assert result.status == 200 and not result.ok and result.body is None
    assert result.error is not None and "too large" in result.error
    assert time.monotonic() - started < 8  # bounded, not hung (generous for loaded CI)


async def test_chunked_oversize_body_stops_at_max_bytes(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/big-chunked?mb=50"))
        endless = await fetcher.fetch(feed_server.url("/hostile/endless"))
    assert result.error == f"body too large (> {fast_limits.max_bytes} bytes)"
    assert endless.error == f"body too large (> {fast_limits.max_bytes} bytes)"


async def test_body_exactly_at_limit_is_accepted(feed_server: FeedServer) -> None:
    body = b"x" * 4096
    url = feed_server.set_body("/dyn/exact.xml", body)
    async with Fetcher(FetchLimits(max_bytes=4096)) as fetcher:
        ok = await fetcher.fetch(url)
    async with Fetcher(FetchLimits(max_bytes=4095)) as fetcher:
        too_big = await fetcher.fetch(url)
    assert ok.ok and ok.body == body
    assert too_big.error is not None and "too large" in too_big.error


async def test_gzip_bomb_stops_at_max_bytes(feed_server: FeedServer) -> None:
    """256 MB of zeros in ~256 KB of gzip: we must stop after ~1 MB of inflated data.

    Generous timeouts: under tracemalloc on a loaded machine inflating is slow, and what this
    test proves is the memory bound, not speed.
    """
    limits = FetchLimits(read_timeout=30.0, total_timeout=60.0, max_bytes=1024 * 1024)
    async with Fetcher(limits) as fetcher:
        await fetcher.fetch(feed_server.url("/hostile/gzip-bomb?mb=256"))  # warm the server cache
        tracemalloc.start()
        try:
            result = await fetcher.fetch(feed_server.url("/hostile/gzip-bomb?mb=256"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert result.status == 200 and result.body is None
    assert result.error == f"body too large (> {limits.max_bytes} bytes)"
    assert peak < 40 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB: inflated far past max_bytes"


async def test_gzip_small_body_is_decoded(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(FetchLimits(max_bytes=2 * 1024 * 1024)) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/gzip-bomb?mb=1"))
    assert result.ok and result.body == bytes(1024 * 1024)


# --- timeouts and broken connections ----------------------------------------------------------


async def test_trickle_hits_total_timeout(feed_server: FeedServer) -> None:
    limits = FetchLimits(connect_timeout=1, read_timeout=1, total_timeout=1.0)
    async with Fetcher(limits) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(feed_server.url("/hostile/trickle?interval=0.1"))
    assert result.error == "timed out after 1s" and result.status is None
    assert 0.9 <= time.monotonic() - started < 8


async def test_slow_headers_hit_read_timeout(feed_server: FeedServer) -> None:
    limits = FetchLimits(connect_timeout=1, read_timeout=0.5, total_timeout=5)
    async with Fetcher(limits) as fetcher:
        started = time.monotonic()
        result = await fetcher.fetch(feed_server.url("/hostile/slow-headers?delay=3"))
    assert result.error == "read timed out"
    assert time.monotonic() - started < 8  # bounded, not hung (generous for loaded CI)


async def test_connection_reset_mid_body_is_an_error_not_exception(
    feed_server: FeedServer, fast_limits: FetchLimits
) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(feed_server.url("/hostile/reset"))
        after = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"))
    assert result.error == "connection dropped mid-body" and result.body is None
    assert after.ok  # the session survives


async def test_connection_refused(fast_limits: FetchLimits) -> None:
    server = FeedServer()
    await server.start()
    url = server.url("/data/chicago-sample.xml")
    await server.close()  # the port is now closed
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(url)
    assert (
        result.status is None
        and result.error is not None
        and result.error.startswith("connect failed")
    )


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/feed", "", "http://"])
async def test_bad_urls_are_errors(fast_limits: FetchLimits, url: str) -> None:
    async with Fetcher(fast_limits) as fetcher:
        result = await fetcher.fetch(url)
    assert result.error and result.status is None and not result.ok


async def test_fetch_outside_context_manager_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError):
        await Fetcher().fetch("http://127.0.0.1/")


async def test_concurrent_fetches_share_one_session(feed_server: FeedServer) -> None:
    limits = FetchLimits(total_concurrency=4, per_host=2)
    paths = ("/data/chicago-sample.xml", "/data/sample-atom.xml", "/hostile/cache")
    urls = [feed_server.url(p) for p in paths]
    async with Fetcher(limits) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(u) for u in urls * 4))
    assert all(r.ok for r in results)
    assert sum(feed_server.requests.values()) == 12


async def test_fail_n_times_then_recover(feed_server: FeedServer, fast_limits: FetchLimits) -> None:
    url = feed_server.set_feed("/dyn/flaky.xml", items=[{"title": "x", "link": "https://e.test/x"}])
    feed_server.fail("/dyn/flaky.xml", 2, status=500)
    async with Fetcher(fast_limits) as fetcher:
        statuses = [(await fetcher.fetch(url)).status for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_queueing_for_a_host_does_not_eat_the_timeout(feed_server: FeedServer) -> None:
    """per_host=1: three 0.6 s fetches run one after another (1.8 s in all), yet each gets
    its own 1.2 s budget because waiting for a slot happens before the clock starts."""
    limits = FetchLimits(per_host=1, connect_timeout=1, read_timeout=2, total_timeout=1.2)
    url = feed_server.url("/hostile/slow-headers?delay=0.6")
    async with Fetcher(limits) as fetcher:
        started = time.monotonic()
        results = await asyncio.gather(*(fetcher.fetch(url) for _ in range(3)))
    assert [r.error for r in results] == [None, None, None]
    assert time.monotonic() - started >= 1.7  # really serialized
    assert all(r.elapsed < 1.2 for r in results)
