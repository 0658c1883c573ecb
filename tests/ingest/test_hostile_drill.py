"""Fault drill: every hostile route through fetch + parse, as the poller would do it.

Why: each route stands for a way a real server misbehaves; whatever happens, the
ingest layer must answer with a bounded result (an error string or a ParsedFeed), in
bounded time, and never raise.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.parse import MAX_ENTRIES, ParsedFeed, parse_feed
from tests.feedserver import HOSTILE_ROUTES, FeedServer

# route -> concrete path used in the drill (parameters kept small so the drill is fast)
DRILL_PATHS = {
    "/hostile/endless": "/hostile/endless",
    "/hostile/trickle": "/hostile/trickle?interval=0.2",
    "/hostile/big": "/hostile/big?mb=50",
    "/hostile/big-chunked": "/hostile/big-chunked?mb=50",
    "/hostile/gzip-bomb": "/hostile/gzip-bomb?mb=100",
    "/hostile/billion-laughs.xml": "/hostile/billion-laughs.xml",
    "/hostile/xxe.xml": "/hostile/xxe.xml",
    "/hostile/malformed.xml": "/hostile/malformed.xml",
    "/hostile/page.html": "/hostile/page.html",
    "/hostile/wrong-charset.xml": "/hostile/wrong-charset.xml",
    "/hostile/redirect": "/hostile/redirect?to=/data/chicago-sample.xml&status=308",
    "/hostile/redirect-loop/a": "/hostile/redirect-loop/a",
    "/hostile/redirect-chain/{n}": "/hostile/redirect-chain/9",
    "/hostile/redirect-private": "/hostile/redirect-private",
    "/hostile/redirect-metadata": "/hostile/redirect-metadata",
    "/hostile/status/{code}": "/hostile/status/503?retry_after=30",
    "/hostile/reset": "/hostile/reset",
    "/hostile/cache": "/hostile/cache",
    "/hostile/slow-headers": "/hostile/slow-headers?delay=3",
    "/hostile/feed/{kind}": "/hostile/feed/many-items",
}
EXTRA_FEED_KINDS = [
    "dup-guids",
    "no-guid-no-link",
    "bad-dates",
    "huge-title",
    "scripts",
    "mentions",
]


def test_drill_covers_every_hostile_route() -> None:
    assert set(DRILL_PATHS) == set(HOSTILE_ROUTES)


TIMEOUTS = ("timed out", "read timed out")
# Routes that only end at a timeout or the size cap: the drill runs them under tight limits.
CLOCK_BOUNDED = (
    "/hostile/endless",
    "/hostile/trickle",
    "/hostile/big",
    "/hostile/gzip-bomb",
    "/hostile/slow-headers",
)


async def test_every_hostile_route_gives_a_bounded_result(feed_server: FeedServer) -> None:
    # The routes whose bound is the clock or the size cap run under tight limits; every other
    # route's expected result (a parse, a redirect verdict, a status) must not depend on how
    # busy the machine is, so it gets limits no loaded machine reaches (issue 16 item 11: with
    # one 2 s budget for all, a shared 2-core CI box could time out even the well-behaved feed).
    tight = FetchLimits(
        connect_timeout=1, read_timeout=1, total_timeout=2, max_bytes=2 * 1024 * 1024
    )
    roomy = FetchLimits(
        connect_timeout=60, read_timeout=60, total_timeout=120, max_bytes=2 * 1024 * 1024
    )
    paths = list(DRILL_PATHS.values()) + [f"/hostile/feed/{k}" for k in EXTRA_FEED_KINDS]
    # allowed_hosts lets the drill start on loopback while the guard still checks the next
    # hops, exactly as for a user-added feed (redirect-private/metadata must be refused).
    loopback = {"127.0.0.1"}
    async with (
        Fetcher(tight, allow_private=False, allowed_hosts=loopback) as timed,
        Fetcher(roomy, allow_private=False, allowed_hosts=loopback) as patient,
    ):
        # A hang guard, not a timing assertion: every fetch is bounded by total_timeout, and a
        # busy machine may take longer to get there (issue 16: this failed on loaded 2-core CI).
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    (timed if p.startswith(CLOCK_BOUNDED) else patient).fetch(feed_server.url(p))
                    for p in paths
                )
            ),
            240,
        )
    outcome: dict[str, str] = {}
    for path, result in zip(paths, results, strict=True):
        if result.error:
            outcome[path] = result.error
            assert result.body is None
            continue
        assert result.body is not None
        parsed = await asyncio.to_thread(
            parse_feed, result.body, feed_url=result.final_url, headers=result.headers
        )
        assert isinstance(parsed, ParsedFeed)
        assert len(parsed.articles) <= MAX_ENTRIES
        outcome[path] = f"parsed {len(parsed.articles)}"
    # On a loaded machine a streamed body can stall past read_timeout before it reaches the size
    # cap: a timeout is a bounded result too (issue 16 item 11).
    expected_errors: dict[str, str | tuple[str, ...]] = {
        # an endless body ends at the size cap, or at a timeout when a loaded machine streams slowly
        "/hostile/endless": ("body too large", "timed out", "read timed out"),
        # a bounded result of either kind: the read timeout fires first when a loaded machine
        # delays a byte past read_timeout, else the total timeout ends the trickle
        "/hostile/trickle?interval=0.2": ("timed out", "read timed out"),
        "/hostile/big?mb=50": ("body too large", *TIMEOUTS),
        "/hostile/big-chunked?mb=50": ("body too large", *TIMEOUTS),
        "/hostile/gzip-bomb?mb=100": ("body too large", *TIMEOUTS),
        "/hostile/redirect-loop/a": "redirect loop",
        "/hostile/redirect-chain/9": "too many redirects",
        "/hostile/redirect-private": "refused:",
        "/hostile/redirect-metadata": "refused:",
        "/hostile/status/503?retry_after=30": "HTTP 503",
        "/hostile/reset": "connection dropped",
        "/hostile/slow-headers?delay=3": ("read timed out", "timed out"),
    }
    for path, prefixes in expected_errors.items():
        assert outcome[path].startswith(prefixes), (path, outcome[path])
    assert outcome["/hostile/feed/many-items"] == f"parsed {MAX_ENTRIES}"
    assert outcome["/hostile/redirect?to=/data/chicago-sample.xml&status=308"] == "parsed 3"
    assert outcome["/hostile/page.html"] == "parsed 0"


@pytest.mark.parametrize("kind", ["nope", "../etc/passwd"])
async def test_unknown_routes_are_404(feed_server: FeedServer, kind: str) -> None:
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(feed_server.url(f"/hostile/feed/{kind}"))
        data = await fetcher.fetch(feed_server.url("/data/../../conftest.py"))
        real = await fetcher.fetch(feed_server.url("/real/..%2Fconftest.py"))
    assert result.status == 404
    assert data.status == 404
    assert real.status == 404
