"""What every test of a real `civic-alerts run` process shares, whatever chat it talks to.

Why one module: the Slack (tests/slack/world.py), Telegram (tests/telegram/helpers.py), Discord
(tests/faults/discord_helpers.py) and all-in-one (tests/test_all_adapters.py) tests each grew
their own copy of the process environment, the wait-for-a-condition loop, the read of the bot's
database and the drill items; a fix to one (a new settings variable, a longer log tail) then
missed the others. The process itself is `tests.faults.harness.BotProcess`.

- `run_env`: the environment of `python -m bot run` against loopback stand-ins: no variable of
  the developer's shell or .env reaches the bot, every platform not given is off.
- `eventually`: wait for a condition (never sleep-then-count), failing with the bot's log tail.
- `read_rows`, `feeds_due_now`: what a second process sees of the bot's SQLite file, and "poll
  every feed at the next tick" (the feeds' own interval would wait out 30 s).
- `warehouse_items`: matching items about one city, each its own story.
- `find_secrets`: which issued secrets reached some output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT

# every variable that selects or configures a platform or the bot: none may leak in from the shell
OWN_PREFIXES = ("DISCORD_", "CIVIC_ALERTS_", "SLACK_", "TELEGRAM_", "MATRIX_", "DEV_GUILD")
LOG_TAIL = 4000  # characters of the bot's log a timeout shows


def run_env(
    tmp: Path, feeds_file: Path, platforms: Mapping[str, str], *, poll_interval: int | None = 30, **extra: str
) -> dict[str, str]:
    """Environment of `python -m bot run` with the database in `tmp`, the catalogue `feeds_file`
    and the credentials/base URLs in `platforms` (Discord is off unless they give its token:
    an empty real variable beats any .env value). Fast ticks, one parse worker, no catch-up, the
    loopback feed server allowed; `poll_interval` None leaves the settings' default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update({
        "DISCORD_TOKEN": "",
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
    if poll_interval is not None:
        env["CIVIC_ALERTS_POLL_INTERVAL"] = str(poll_interval)
    env.update(platforms)
    env.update(extra)
    return env


async def eventually(
    predicate: Callable[[], Any], seconds: float, what: str, tail: Callable[[], str] | None = None
) -> Any:
    """Poll `predicate` (sync, or returning an awaitable) until truthy and return its value;
    after `seconds` fail with `what` and the end of `tail()` (the bot's log)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            log = f"\n{tail()[-LOG_TAIL:]}" if tail is not None else ""
            raise AssertionError(f"timed out after {seconds}s waiting for {what}{log}")
        await asyncio.sleep(0.05)


def read_rows(db: Path, sql: str, *args: Any, timeout: float = 10.0) -> list[tuple[Any, ...]]:
    """Rows of `sql` from the bot's database, read only (as a second process sees them); none
    while the bot has not made the file or its schema yet."""
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=timeout)) as conn:
        try:
            return list(conn.execute(sql, args))
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # the schema is not made yet
            raise


def feeds_due_now(db: Path, timeout: float = 30.0) -> None:
    """Every feed due at the bot's next tick (the poller would wait out each feed's interval)."""
    with contextlib.closing(sqlite3.connect(str(db), timeout=timeout)) as conn, conn:
        conn.execute("UPDATE feeds SET next_check = NULL")


def warehouse_items(
    city: str, tag: str, start: int, n: int, *, title: str, guid: str = "{tag}-{i}",
    link: str = "https://drill.example/{tag}/{i}", report: str = "{i}", minutes_ago: int = 1,
) -> list[dict[str, Any]]:
    """`n` immigration-enforcement items about `city`, each its own story (a distinct number of
    workers in every title), newest first by a second. `title` (what follows "warehouse"),
    `guid`, `link` and `report` (the description's last words) are formatted with `tag` and
    `i`, the item's number from `start`."""
    now = datetime.now(UTC)
    return [
        {
            "title": f"ICE agents detain {i + 3} workers at {city} warehouse" + title.format(tag=tag, i=i),
            "guid": guid.format(tag=tag, i=i),
            "link": link.format(tag=tag, i=i),
            "pubDate": now - timedelta(minutes=minutes_ago, seconds=i - start),
            "description": f"<p>Immigration agents detained {i + 3} workers at a {city} warehouse; "
                           f"report {report.format(tag=tag, i=i)}.</p>",
        }
        for i in range(start, start + n)
    ]  # fmt: skip


def find_secrets(texts: dict[str, str], secrets_: list[str], *, probe: int = 24) -> list[str]:
    """`where: secret…` for each secret found in any text (its first `probe` characters are
    enough: a log may cut a token, never shorten its start)."""
    found = []
    for where, text in texts.items():
        for secret in secrets_:
            if secret[:probe] in text:
                found.append(f"{where}: {secret[:6]}…")
    return found
