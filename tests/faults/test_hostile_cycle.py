"""Drill 1: every hostile feed at once, in ONE poll cycle, next to healthy feeds.

Real poller, real store (SQLite file), real fetcher, real parser worker processes, real HTTP
on loopback. Nothing of ours is mocked. What must hold for the whole cycle:

- it finishes within its time budget (Settings.job_timeout), whatever the servers do;
- the healthy feeds of the same cycle are stored and queue their alerts as usual;
- memory (this process + children) grows by less than 200 MB;
- no local file named by an external entity shows up anywhere (DB, logs, stdout/stderr);
- nothing stored holds a raw <script> tag;
- each failing feed's health says why and its next check is not sooner than its interval;
  a second cycle doubles the delay (consecutive_errors 2);
- server-added feeds are fetched with the private-address guard (allow_private_feeds=False).

"Nothing pings anyone" is the Discord adapter's job (escaping mentions and markdown when it
renders): here the stored titles keep the raw text, and a Discord-side drill checks the rest.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.parse import MAX_ENTRIES, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS
from bot.models import Destination, FeedConfig, FeedState
from bot.poller import Poller, make_executor, process_feed_body
from bot.settings import Settings
from bot.store import Store
from tests.faults.harness import RssSampler, db_text_values
from tests.feedserver import FeedServer, rss_document

MB = 1024 * 1024
BUDGET = 30.0  # Settings.job_timeout for the drill: the whole cycle must end well inside it
FETCH_TIMEOUT = 5.0
INTERVAL = 300
MEMORY_LIMIT = 200 * MB
GUILD = 1
CHANNEL = 100
DESTINATION = Destination(platform="discord", address=str(CHANNEL), group=str(GUILD))
RETRY_AFTER = 450  # above one interval (honoured), below two (so the 2nd backoff is larger)


@dataclass(frozen=True)
class Fault:
    path: str
    error: str | None  # regex the feed's last_error must match; None = the feed is stored
    guild_only: bool = False


FAULTS: tuple[Fault, ...] = (
    Fault("/hostile/endless", r"timed out|too large"),
    Fault("/hostile/trickle?interval=1.0", r"timed out after 5s"),
    Fault("/hostile/big?mb=50", r"body too large"),
    Fault("/hostile/big-chunked?mb=50", r"body too large"),
    Fault("/hostile/gzip-bomb?mb=100", r"body too large"),
    Fault("/hostile/billion-laughs.xml", None),
    Fault("/hostile/xxe.xml", None),
    Fault("/dyn/xxe-canary.xml", None),
    Fault("/dyn/xxe-canary-after-comment.xml", None),
    Fault("/dyn/xxe-canary-parameter.xml", None),
    Fault("/dyn/laughs-after-comment.xml", None),
    Fault("/hostile/malformed.xml", None),
    Fault("/hostile/page.html", r"not a feed"),
    Fault("/hostile/wrong-charset.xml", None),
    Fault("/hostile/redirect-loop/a", r"redirect loop"),
    Fault("/hostile/redirect-chain/7", r"too many redirects"),
    Fault("/hostile/slow-headers?delay=8", r"timed out"),
    Fault("/hostile/redirect-private", r"refused", guild_only=True),
    Fault("/hostile/redirect-metadata", r"refused", guild_only=True),
    Fault("/hostile/status/404", r"HTTP 404"),
    Fault("/hostile/status/410", r"HTTP 410"),
    Fault(f"/hostile/status/429?retry_after={RETRY_AFTER}", r"HTTP 429"),
    Fault("/hostile/status/500", r"HTTP 500"),
    Fault("/hostile/status/503", r"HTTP 503"),
    Fault("/hostile/reset", r"dropped|disconnected"),
    Fault("/hostile/feed/many-items?n=10000", None),
    Fault("/hostile/feed/dup-guids", None),
    Fault("/hostile/feed/no-guid-no-link", None),
    Fault("/hostile/feed/bad-dates", None),
    Fault("/hostile/feed/huge-title", None),
    Fault("/hostile/feed/scripts", None),
    Fault("/hostile/feed/mentions", None),
)

HEALTHY_TITLES = (
    "ICE agents detain 4 in Pilsen raid",
    "National Guard troops arrive at Broadview facility",
    "City Council votes to strengthen Welcoming City sanctuary ordinance",
)


def _xxe(canary_file: Path, *, prefix: str = "", parameter: bool = False) -> bytes:
    entity = (
        f'<!ENTITY % p SYSTEM "file://{canary_file}"> %p;'
        if parameter
        else f'<!ENTITY xxe SYSTEM "file://{canary_file}">'
    )
    ref = "" if parameter else "&xxe;"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prefix}<!DOCTYPE rss [{entity}]>'
        '<rss version="2.0"><channel><title>XXE</title><link>https://example.test/</link>'
        f"<item><title>Leak {ref} here</title><link>https://example.test/xxe-canary</link>"
        f"<description>{ref}</description></item></channel></rss>"
    ).encode()


def _laughs_after_comment() -> bytes:
    levels = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    return (
        '<?xml version="1.0"?><!-- <a> hides the DOCTYPE from a naive prolog scan -->'
        f'<!DOCTYPE lolz [<!ENTITY lol0 "lol">{levels}]>'
        '<rss version="2.0"><channel><title>Laughs</title><link>https://example.test/</link>'
        "<item><title>&lol9;</title><link>https://example.test/lol2</link></item></channel></rss>"
    ).encode()


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.buffer = io.StringIO()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # every attribute too: `extra` values are where feed URLs and errors travel
        self.buffer.write(self.format(record) + " " + repr(vars(record)) + "\n")


@pytest.fixture
def log_capture() -> Iterator[_Capture]:
    handler = _Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    try:
        yield s
    finally:
        await s.close()


def _delay(state: FeedState) -> float:
    assert state.next_check is not None and state.last_checked is not None
    return state.next_check.timestamp() - state.last_checked.timestamp()


async def test_hostile_feeds_in_one_cycle_with_healthy_feeds(
    store: Store, db_path: Path, tmp_path: Path, log_capture: _Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = "canary" + uuid.uuid4().hex  # one FTS token, so the index could not hide it either
    canary_file = tmp_path / "secret-local-file.txt"
    canary_file.write_text(f"{canary}\nroot-like line of a local file\n", encoding="utf-8")
    passwd_marker = "root:x:0:0"

    settings = Settings(
        db_path=db_path, parse_workers=2, poll_interval=INTERVAL, job_timeout=BUDGET,
        fetch_timeout=FETCH_TIMEOUT, allow_private_feeds=False,
    )  # fmt: skip
    limits = FetchLimits(total_timeout=FETCH_TIMEOUT, read_timeout=3, connect_timeout=2)
    now = datetime.now(UTC)

    async with FeedServer() as hostile, FeedServer() as healthy:
        hostile.set_body("/dyn/xxe-canary.xml", _xxe(canary_file))
        hostile.set_body("/dyn/xxe-canary-after-comment.xml", _xxe(canary_file, prefix="<!-- <a> -->"))
        hostile.set_body("/dyn/xxe-canary-parameter.xml", _xxe(canary_file, parameter=True))
        hostile.set_body("/dyn/laughs-after-comment.xml", _laughs_after_comment())
        fresh = healthy.set_feed(
            "/dyn/chicago-now.xml",
            title="Chicago desk",
            items=[
                {"title": t, "link": f"https://news.example/chicago/{i}", "guid": f"chi-{i}",
                 "pubDate": now - timedelta(minutes=5 + i), "description": "<p>Reported this morning.</p>"}
                for i, t in enumerate(HEALTHY_TITLES)
            ],
        )  # fmt: skip
        sample = healthy.url("/data/chicago-sample.xml")
        url_of = {f.path: hostile.url(f.path) for f in FAULTS}
        configured = [FeedConfig(url=fresh, name="Chicago desk", city="chicago-il"), FeedConfig(url=sample)]
        configured += [FeedConfig(url=url_of[f.path]) for f in FAULTS if not f.guild_only]
        for fault in FAULTS:
            if fault.guild_only:
                await store.add_guild_feed(str(GUILD), url_of[fault.path], None)
        await store.subscribe(DESTINATION, "chicago-il", ["*"])  # all topics

        executor = make_executor(settings)
        try:
            # Warm the worker pool first: the drill measures the cycle, not interpreter start-up.
            body = rss_document("warm", [{"title": "warm-up", "link": "https://example.test/w"}])
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(
                loop.run_in_executor(executor, process_feed_body, body, "https://example.test/", {}, None,
                                     None, str(settings.config_dir))
                for _ in range(4)
            ))  # fmt: skip
            async with (
                Fetcher(limits, allow_private=True) as fetcher,
                # The test server is on loopback, so the guard must exempt exactly that host to
                # prove that the *redirect* to a private address is what gets refused.
                Fetcher(limits, allow_private=False, allowed_hosts={"127.0.0.1"}) as guild_fetcher,
            ):
                poller = Poller(store, fetcher, settings, executor, guild_fetcher=guild_fetcher)
                async with RssSampler() as memory:
                    started = time.monotonic()
                    report = await asyncio.wait_for(poller.poll_once(configured), BUDGET)
                    elapsed = time.monotonic() - started
                first = {s.url: s for s in await store.feed_states()}
                alerts = await store.due_alerts(limit=5000)
                second_started = time.monotonic()
                report2 = await asyncio.wait_for(poller.poll_once(), BUDGET)
                second_elapsed = time.monotonic() - second_started
                second = {s.url: s for s in await store.feed_states()}
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        requests_410 = hostile.requests["/hostile/status/410"]

    outcomes = {o.url: o for o in report.feeds}
    # -- every feed was polled in the one cycle, within the budget ---------------------------
    assert set(outcomes) == {c.url for c in configured} | {url_of[f.path] for f in FAULTS if f.guild_only}
    assert elapsed < BUDGET, f"cycle took {elapsed:.1f}s (budget {BUDGET}s)"
    assert second_elapsed < BUDGET
    slowest = max(o.elapsed for o in report.feeds if o.error and "timed out" in o.error)
    assert slowest < FETCH_TIMEOUT + 2, "a trickling server held its fetch past the total timeout"

    # -- healthy feeds stored and alerting as usual ----------------------------------------------
    assert outcomes[fresh].error is None and outcomes[fresh].new_articles == len(HEALTHY_TITLES)
    assert outcomes[sample].error is None and outcomes[sample].items > 0
    alerted = {a.story.title for a in alerts if a.destination == DESTINATION}
    assert set(HEALTHY_TITLES) <= alerted, alerted

    # -- memory ------------------------------------------------------------------------------------
    assert memory.growth < MEMORY_LIMIT, f"RSS grew by {memory.growth / MB:.0f} MB"
    # printed into the captured output: shown with -s or -rP, and with a failure, not in -q
    print(f"hostile cycle: {len(report.feeds)} feeds, {len(report.failed)} failed, {elapsed:.1f}s "
          f"(2nd {second_elapsed:.1f}s), RSS +{memory.growth / MB:.0f} MB")  # fmt: skip

    # -- failing feeds: health says why, backed off, and further on the second cycle -------------
    for fault in FAULTS:
        url = url_of[fault.path]
        state, again = first[url], second[url]
        if fault.error is None:
            assert outcomes[url].error is None, (fault.path, outcomes[url].error)
            assert state.last_error is None and state.consecutive_errors == 0
            continue
        assert outcomes[url].error, fault.path
        assert state.last_error and re.search(fault.error, state.last_error), (fault.path, state.last_error)
        assert state.consecutive_errors == 1, fault.path
        assert _delay(state) >= INTERVAL - 1, (fault.path, _delay(state))  # never a hot retry loop
        if fault.path == "/hostile/status/410":
            assert state.disabled and "410" in (state.disabled_reason or "")
            assert again.consecutive_errors == 1 and requests_410 == 1  # not polled again
            continue
        assert again.consecutive_errors == 2, fault.path
        assert _delay(again) > _delay(state) + 60, (fault.path, _delay(state), _delay(again))
    limited = first[url_of[f"/hostile/status/429?retry_after={RETRY_AFTER}"]]
    assert _delay(limited) >= RETRY_AFTER - 1  # Retry-After honoured
    assert {o.url for o in report2.failed} >= {url_of[f.path] for f in FAULTS if f.error and "410" not in f.path}

    # -- what was stored from the odd-but-valid documents -----------------------------------------
    values = list(db_text_values(db_path))
    titles = await _titles_by_feed(db_path)
    assert len(titles[url_of["/hostile/feed/many-items?n=10000"]]) == MAX_ENTRIES
    assert sorted(titles[url_of["/hostile/feed/dup-guids"]]) == ["Story 0", "Story 1", "Story 2"]
    assert len(titles[url_of["/hostile/feed/no-guid-no-link"]]) == 4
    assert titles[url_of["/hostile/wrong-charset.xml"]] == ["Acción migratoria en São Paulo — niño"]
    assert all(len(t) <= MAX_TITLE_CHARS for ts in titles.values() for t in ts)
    assert all(t for ts in titles.values() for t in ts), "a story with an empty headline was stored"
    for url in (url_of["/hostile/billion-laughs.xml"], url_of["/dyn/laughs-after-comment.xml"]):
        assert all(len(t) < 100 and "lollol" not in t for t in titles[url])  # never expanded
    assert "@everyone ICE raid reported" in titles[url_of["/hostile/feed/mentions"]]  # escaping: adapter
    future_cutoff = time.time() + 3600
    assert await _max_published(db_path) < future_cutoff, "a far-future date was stored as is"
    assert max(len(v) for t, c, v in values if t == "articles" and c == "summary") <= MAX_SUMMARY_CHARS

    # -- no local file content anywhere; no raw script tag stored ---------------------------------
    out, err = capsys.readouterr()
    logs = log_capture.buffer.getvalue()
    for where, text in [("stdout", out), ("stderr", err), ("logs", logs)]:
        assert canary not in text.lower(), f"local file content in {where}"
        assert passwd_marker not in text, f"/etc/passwd content in {where}"
    for table, column, value in values:
        assert canary not in value.lower(), f"local file content in {table}.{column}"
        assert passwd_marker not in value, f"/etc/passwd content in {table}.{column}"
        assert "<script" not in value.lower(), f"raw script tag in {table}.{column}"
        if table in {"articles", "stories"} and column == "summary":
            assert "javascript:" not in value and "tracker.example" not in value


async def _titles_by_feed(db: Path) -> dict[str, list[str]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        out: dict[str, list[str]] = {}
        for feed, title in conn.execute("SELECT feed_url, title FROM articles ORDER BY id"):
            out.setdefault(feed, []).append(title)
        return out


async def _max_published(db: Path) -> float:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return float(conn.execute("SELECT max(published) FROM articles").fetchone()[0])


async def test_guild_added_feeds_refuse_private_addresses_by_default(store: Store, db_path: Path) -> None:
    """Without a guard passed in, the poller builds one: a server-added loopback feed is refused
    while the very same server, listed in the operator's catalogue, is fetched."""
    async with FeedServer() as server:
        item = {"title": "ICE raid in Pilsen", "link": "https://x.test/1", "guid": "1",
                "pubDate": datetime.now(UTC)}  # fmt: skip
        catalogue = server.set_feed("/dyn/operator.xml", items=[item])
        added = server.set_feed("/dyn/added-by-a-server.xml", items=[item])
        await store.add_guild_feed(str(GUILD), added, "added")
        async with Fetcher(FetchLimits(total_timeout=5)) as fetcher:
            strict = Poller(store, fetcher, Settings(db_path=db_path, allow_private_feeds=False))
            report = await strict.poll_once([FeedConfig(url=catalogue)])
            assert server.requests["/dyn/added-by-a-server.xml"] == 0
            state = await store.feed_state(added)
            lenient = Poller(store, fetcher, Settings(db_path=db_path, allow_private_feeds=True))
            report2 = await lenient.poll_once()
    by_url = {o.url: o for o in report.feeds}
    assert by_url[catalogue].error is None
    assert by_url[added].error and "refused" in by_url[added].error
    assert state is not None and state.consecutive_errors == 1 and "refused" in (state.last_error or "")
    # An operator who allows private feeds (an intranet) gets them fetched.
    assert {o.url: o for o in report2.feeds}[added].error is None
    assert server.requests["/dyn/added-by-a-server.xml"] == 1
