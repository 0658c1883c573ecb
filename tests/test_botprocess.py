"""The shared process-test helpers (tests/botprocess.py) do what the four suites relied on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.botprocess import (
    eventually,
    feeds_due_now,
    find_secrets,
    read_rows,
    run_env,
    warehouse_items,
)


async def test_eventually_awaits_and_times_out_with_the_log_tail() -> None:
    calls = []

    async def later() -> int:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else 0

    assert await eventually(later, 30, "three calls") == 3
    with pytest.raises(AssertionError, match=r"waiting for nothing\n.*LOG END"):
        await eventually(lambda: False, 0.1, "nothing", lambda: "x" * 9000 + "LOG END")


def test_read_rows_is_empty_before_the_bot_made_its_database(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    assert read_rows(db, "SELECT 1 FROM feeds") == []
    sqlite3.connect(db).close()
    assert read_rows(db, "SELECT 1 FROM feeds") == []  # no schema yet
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE feeds (url TEXT, next_check REAL)")
        conn.execute("INSERT INTO feeds VALUES ('u', 5)")
    conn.close()
    feeds_due_now(db)
    assert read_rows(db, "SELECT url, next_check FROM feeds WHERE url = ?", "u") == [("u", None)]
    with pytest.raises(sqlite3.OperationalError):
        read_rows(db, "SELECT nonsense FROM feeds")  # a wrong query is not "not made yet"


def test_run_env_keeps_the_shells_platform_variables_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-shell")
    monkeypatch.setenv("CIVIC_ALERTS_DB", "/elsewhere.sqlite3")
    env = run_env(tmp_path, tmp_path / "feeds.toml", {"TELEGRAM_BOT_TOKEN": "1:A"}, poll_interval=None, X="y")
    assert "SLACK_BOT_TOKEN" not in env and "CIVIC_ALERTS_POLL_INTERVAL" not in env
    assert (env["CIVIC_ALERTS_DB"], env["DISCORD_TOKEN"], env["TELEGRAM_BOT_TOKEN"], env["X"]) == (
        str(tmp_path / "bot.sqlite3"), "", "1:A", "y")
    assert run_env(tmp_path, tmp_path / "f.toml", {})["CIVIC_ALERTS_POLL_INTERVAL"] == "30"


def test_warehouse_items_are_distinct_stories_and_secrets_are_found() -> None:
    made = warehouse_items("Dallas", "t", 3, 2, title=", drill {tag} {i}")
    assert [m["title"] for m in made] == ["ICE agents detain 6 workers at Dallas warehouse, drill t 3",
                                          "ICE agents detain 7 workers at Dallas warehouse, drill t 4"]
    assert [m["guid"] for m in made] == ["t-3", "t-4"] and made[0]["pubDate"] > made[1]["pubDate"]
    token = "A" * 30
    assert find_secrets({"log": "…" + token[:24] + "…"}, [token, "other"]) == ["log: AAAAAA…"]
    assert find_secrets({"log": token[:20]}, [token]) == []
    assert find_secrets({"log": token[:16]}, [token], probe=16) == ["log: AAAAAA…"]
