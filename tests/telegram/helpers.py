"""Shared pieces of the Telegram tests: the bot process environment and waiting helpers."""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT
from tests.telegram_standin import spec_path

GROUP_ID = -1001234567890
FORUM_ID = -1009876543210
ADMIN_ID = 5550001
MEMBER_ID = 5550002
TOPIC_ID = 77


def require_spec() -> Path:
    path = spec_path()
    if not path.is_file():
        if os.environ.get("CIVIC_ALERTS_REQUIRE_SHARED"):
            pytest.fail(f"CI requires ../shared but {path} is missing")
        pytest.skip(f"needs {path} (../shared); CI provides it")
    return path


def bot_token() -> str:
    """A fresh token shaped like Telegram's, so a leak into any output can be searched for."""
    return f"{secrets.randbelow(10**9) + 10**9}:AA{secrets.token_urlsafe(24)}"


def telegram_env(standin: Any, tmp: Path, feeds_file: Path, **extra: str) -> dict[str, str]:
    """Environment of `python -m bot run` against `standin` (only Telegram configured)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DISCORD_", "CIVIC_ALERTS_", "SLACK_", "TELEGRAM_", "MATRIX_", "DEV_GUILD"))}
    env.update({
        "DISCORD_TOKEN": "",
        "TELEGRAM_BOT_TOKEN": standin.token,
        "TELEGRAM_API_BASE": standin.api_base,
        "CIVIC_ALERTS_DB": str(tmp / "bot.sqlite3"),
        "CIVIC_ALERTS_FEEDS": str(feeds_file),
        "CIVIC_ALERTS_CONFIG_DIR": str(PROJECT_ROOT / "config"),
        "CIVIC_ALERTS_POLL_INTERVAL": "30",
        "CIVIC_ALERTS_TICK_SECONDS": "0.5",
        "CIVIC_ALERTS_DELIVERY_INTERVAL": "0.5",
        "CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS": "true",
        "CIVIC_ALERTS_PARSE_WORKERS": "1",
        "CIVIC_ALERTS_CATCHUP": "0",
        "CIVIC_ALERTS_LOG_LEVEL": "INFO",
        "CIVIC_ALERTS_COVERAGE": os.environ["CIVIC_ALERTS_COVERAGE"],
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.update(extra)
    return env


async def eventually(predicate: Callable[[], Any], seconds: float, what: str, tail: Callable[[], str] | None = None) -> Any:
    """Poll `predicate` until truthy; fail with `what` (and the bot's log tail) after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"\n{tail()[-4000:]}" if tail else ""))
        await asyncio.sleep(0.05)


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


def items(city: str, tag: str, start: int, n: int, *, outlet: str = "") -> list[dict[str, Any]]:
    """`n` matching items about `city` (immigration enforcement), each its own story."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return [
        {
            "title": f"ICE agents detain {i + 3} workers at {city} warehouse {tag}: 1 < 2 & more {i}",
            "guid": f"{tag}{outlet}-{i}",
            "link": f"https://{outlet or 'drill'}.example/{tag}/{i}?a=1&b=2",
            "pubDate": now - timedelta(minutes=1, seconds=i - start),
            "description": f"<p>Immigration agents detained {i + 3} workers at a {city} warehouse; report {i}.</p>",
        }
        for i in range(start, start + n)
    ]  # fmt: skip
