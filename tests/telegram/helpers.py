"""Shared pieces of the Telegram tests: the bot process environment and the drill items
(waiting and reading the database: tests/botprocess.py, re-exported here)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests import botprocess
from tests.botprocess import run_env, warehouse_items
from tests.telegram_standin import spec_path

# the Telegram tests import these from here
eventually = botprocess.eventually
query = botprocess.read_rows  # a read of the bot's database

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
    telegram = {"TELEGRAM_BOT_TOKEN": standin.token, "TELEGRAM_API_BASE": standin.api_base}
    return run_env(tmp, feeds_file, telegram, **extra)


def items(city: str, tag: str, start: int, n: int, *, outlet: str = "") -> list[dict[str, Any]]:
    """`n` matching items about `city` (immigration enforcement), each its own story; titles
    and links carry HTML's special characters (Telegram's HTML parse mode must escape them)."""
    return warehouse_items(
        city, tag, start, n, title=" {tag}: 1 < 2 & more {i}", guid=f"{{tag}}{outlet}-{{i}}",
        link=f"https://{outlet or 'drill'}.example/{{tag}}/{{i}}?a=1&b=2",
    )
