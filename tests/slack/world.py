"""The real `python -m bot run` (Slack adapter) against the Slack stand-in and a loopback feed
server: what the e2e tests and the crash drill share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.adapters.slack.blocks import story_ids_of
from tests.botprocess import (
    eventually,
    feeds_due_now,
    find_secrets,
    read_rows,
    run_env,
    warehouse_items,
)
from tests.faults.harness import BotProcess, write_feeds_file
from tests.feedserver import FeedServer
from tests.slack_standin import ADMIN, APP_TOKEN, BOT_TOKEN, Channel, SlackStandIn

CITY = "Chicago, IL"


def slack_env(standin: SlackStandIn, tmp: Path, feeds_file: Path, **extra: str) -> dict[str, str]:
    """Only Slack configured, against `standin`; the settings' own poll interval."""
    slack = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_BASE": standin.api_base}
    return run_env(tmp, feeds_file, slack, poll_interval=None, **extra)


def items(tag: str, start: int, n: int) -> list[dict[str, Any]]:
    """`n` Chicago immigration-enforcement items, each its own story."""
    return warehouse_items("Chicago", tag, start, n, title=", case {tag} {i}", report="{tag} {i}")


def write_feeds(path: Path, url: str) -> Path:
    return write_feeds_file(path, [{"url": url, "name": "Chicago Local", "city": "chicago-il", "interval": 30}])


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
        feeds_due_now(self.db)

    async def civic(self, channel: Channel, text: str, user: str = ADMIN) -> str:
        answer = await self.standin.slash(channel, user, text)
        return str(answer.get("text") or "")

    def story_counts(self, channel: Channel) -> Counter[int]:
        """How many top-level alert messages carry each story id in `channel`."""
        return Counter(sid for m in channel.top_level() for sid in story_ids_of(m))

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        return read_rows(self.db, sql, *params)

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
        return await eventually(predicate, seconds, what, self.log_text)

    async def ready(self, connections: int = 1) -> None:
        await self.eventually(lambda: self.standin.connections >= connections and self.standin.sockets,
                              60, "the bot's Socket Mode connection")
        # and the catalogue's first fetch is recorded: a publish() while that first cycle is in
        # flight has its "due now" overwritten by the cycle's record, and waits out the 30 s
        # interval instead (most of the e2e and crash tests' time before)
        await self.eventually(
            lambda: self.query("SELECT count(*) FROM feeds WHERE last_checked IS NULL") == [(0,)]
            and self.query("SELECT count(*) > 0 FROM feeds") == [(1,)], 60, "the first poll of the feeds")

    def assert_clean(self) -> None:
        assert self.standin.violations == [], self.standin.violations
        leaked = find_secrets({"the bot's output": self.log_text()}, [BOT_TOKEN, APP_TOKEN])
        assert not leaked, f"a token reached the bot's output: {leaked}"
