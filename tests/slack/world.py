"""The real `python -m bot run` (Slack adapter) against the Slack stand-in and a loopback feed
server: what the e2e tests and the crash drill share."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.adapters.slack.blocks import story_ids_of
from tests.conftest import PROJECT_ROOT
from tests.faults.harness import BotProcess
from tests.feedserver import FeedServer
from tests.slack_standin import ADMIN, APP_TOKEN, BOT_TOKEN, Channel, SlackStandIn
from tests.store.helpers import raw_rows

CITY = "Chicago, IL"


def slack_env(standin: SlackStandIn, tmp: Path, feeds_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DISCORD_", "CIVIC_ALERTS_", "SLACK_", "TELEGRAM_", "MATRIX_"))}
    env.update({
        "DISCORD_TOKEN": "",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_BASE": standin.api_base,
        "CIVIC_ALERTS_DB": str(tmp / "bot.sqlite3"),
        "CIVIC_ALERTS_FEEDS": str(feeds_file),
        "CIVIC_ALERTS_CONFIG_DIR": str(PROJECT_ROOT / "config"),
        "CIVIC_ALERTS_TICK_SECONDS": "0.5",
        "CIVIC_ALERTS_DELIVERY_INTERVAL": "0.5",
        "CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS": "true",  # the loopback feed server is "private"
        "CIVIC_ALERTS_PARSE_WORKERS": "1",
        "CIVIC_ALERTS_CATCHUP": "0",
        "CIVIC_ALERTS_LOG_LEVEL": "INFO",
        "CIVIC_ALERTS_COVERAGE": os.environ["CIVIC_ALERTS_COVERAGE"],  # loopback (tests/conftest.py)
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.update(extra)
    return env


def items(tag: str, start: int, n: int) -> list[dict[str, Any]]:
    """`n` Chicago immigration-enforcement items, each its own story."""
    now = datetime.now(UTC)
    return [
        {
            "title": f"ICE agents detain {i + 3} workers at Chicago warehouse, case {tag} {i}",
            "guid": f"{tag}-{i}",
            "link": f"https://drill.example/{tag}/{i}",
            "pubDate": now - timedelta(minutes=1, seconds=i - start),
            "description": f"<p>Immigration agents detained {i + 3} workers at a Chicago warehouse; report {tag} {i}.</p>",
        }
        for i in range(start, start + n)
    ]


def write_feeds(path: Path, url: str) -> Path:
    path.write_text(f'[[feeds]]\nurl = "{url}"\nname = "Chicago Local"\ncity = "chicago-il"\ninterval = 30\n',
                    encoding="utf-8")
    return path


@dataclass
class World:
    standin: SlackStandIn
    feeds: FeedServer
    bot: BotProcess
    tmp: Path
    published: list[dict[str, Any]]

    @property
    def db(self) -> Path:
        return self.tmp / "bot.sqlite3"

    def publish(self, new: list[dict[str, Any]]) -> None:
        self.published.extend(new)
        self.feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=list(self.published))
        self.poll_now()

    def poll_now(self) -> None:
        """Every feed due at the next tick (the poller would wait out the 30 s interval)."""
        conn = sqlite3.connect(str(self.db), timeout=30)
        try:
            with conn:
                conn.execute("UPDATE feeds SET next_check = NULL")
        finally:
            conn.close()

    async def civic(self, channel: Channel, text: str, user: str = ADMIN) -> str:
        answer = await self.standin.slash(channel, user, text)
        return str(answer.get("text") or "")

    def story_counts(self, channel: Channel) -> Counter[int]:
        """How many top-level alert messages carry each story id in `channel`."""
        return Counter(sid for m in channel.top_level() for sid in story_ids_of(m))

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return raw_rows(self.db, sql, params)

    def paused(self, channel: Channel) -> int | None:
        rows = self.query("SELECT paused FROM destinations WHERE platform='slack' AND address=?", (channel.id,))
        return int(rows[0][0]) if rows else None  # type: ignore[call-overload]

    def subscriptions(self, channel: Channel) -> int:
        rows = self.query(
            "SELECT count(*) FROM subscriptions s JOIN destinations d ON d.id = s.destination_id "
            "WHERE d.platform='slack' AND d.address=?", (channel.id,))
        return int(rows[0][0])  # type: ignore[call-overload]

    def log_text(self) -> str:
        return self.bot.stdout() + self.bot.stderr()

    async def eventually(self, predicate: Callable[[], Any], seconds: float, what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            value = predicate()
            if value:
                return value
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {seconds}s waiting for {what}\n{self.log_text()[-4000:]}")
            await asyncio.sleep(0.05)

    async def ready(self, connections: int = 1) -> None:
        await self.eventually(lambda: self.standin.connections >= connections and self.standin.sockets,
                              60, "the bot's Socket Mode connection")
        # and the catalogue's first fetch is recorded: a publish() while that first cycle is in
        # flight has its "due now" overwritten by the cycle's record, and waits out the 30 s
        # interval instead (most of the e2e and crash tests' time before)
        await self.eventually(
            lambda: self.db.exists() and self.query("SELECT count(*) FROM feeds WHERE last_checked IS NULL")[0][0] == 0
            and self.query("SELECT count(*) FROM feeds")[0][0] > 0, 60, "the first poll of the feeds")

    def assert_clean(self) -> None:
        assert self.standin.violations == [], self.standin.violations
        text = self.log_text()
        for secret in (BOT_TOKEN, APP_TOKEN):
            assert secret[:24] not in text, "a token reached the bot's output"
