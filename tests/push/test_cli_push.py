"""`civic-alerts subscriptions …`, `run --once` and config/destinations.toml as a user runs them:
real `python -m bot` processes against loopback feeds and receivers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.feedserver import FeedServer
from tests.push.conftest import CAPTURED, JSON_PASSWORD, SIGNAL_FROM, SIGNAL_TO, run_cli
from tests.push.receivers import HookReceiver

RAID = "ICE agents raid Little Village homes, neighbors say"
UNRELATED = "Cubs announce spring training schedule"


def feed_items(extra: int = 0) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    items: list[dict[str, object]] = [
        {"title": RAID, "link": "https://bc.test/raid", "guid": "raid", "pubDate": now,
         "description": "Federal immigration agents raided homes in Chicago's Little Village on Tuesday."},
        {"title": UNRELATED, "link": "https://bc.test/cubs", "guid": "cubs", "pubDate": now,
         "description": "The Chicago Cubs released their schedule."},
    ]
    for n in range(extra):
        items.append({"title": f"ICE detains worker number {n} at Pilsen {['bakery', 'garage', 'school', 'shop'][n % 4]} {n * 7919}",
                      "link": f"https://bc.test/x{n}", "guid": f"x{n}", "pubDate": now,
                      "description": f"Immigration agents detained a man in Chicago's Pilsen, case {n}."})
    return items


def write_feeds(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(f'[[feeds]]\nurl = "{url}"\ncity = "chicago-il"\n', encoding="utf-8")
    return path


async def test_acceptance_add_then_run_once_posts_exactly_one_and_a_second_run_posts_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with FeedServer() as server, HookReceiver() as hook:
        feeds = write_feeds(tmp_path, server.set_feed("/dyn/bc.xml", items=feed_items(), title="Block Club Chicago"))
        env = {"CIVIC_ALERTS_FEEDS": str(feeds)}
        code, out, err = await run_cli("subscriptions", "add", f"json://127.0.0.1:{hook.port}/hook",
                                       "--city", "chicago-il", db=db, env=env)
        assert code == 0, err
        assert "follows Chicago, IL" in out
        code, out, err = await run_cli("run", "--once", db=db, env=env)
        assert code == 0, err
        assert "Traceback" not in err
        first = len(hook.received)
        assert first == 1, f"run 1 posted {first}"
        payload = hook.received[0].json
        assert RAID in payload["message"] and "Cubs" not in payload["message"]
        assert "Chicago, IL" in payload["message"] and "https://bc.test/raid" in payload["message"]
        assert "1 delivered" in err
        code, out, err = await run_cli("run", "--once", db=db, env=env)
        assert code == 0, err
        second = len(hook.received) - first
        assert second == 0, f"run 2 posted {second}"
    print(f"ACCEPTANCE: run 1 posted {first}, run 2 posted {second}")
    CAPTURED.append(("acceptance numbers", f"run1={first} run2={second}"))


async def test_subscriptions_add_list_remove_never_show_a_secret(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    code, _, err = await run_cli("subscriptions", "add", "foo://token123456@host/x", "--city", "chicago-il", db=db)
    assert code == 2
    assert err.strip().count("\n") == 0 and "foo://" in err and "token123456" not in err
    signal_url = f"signal://127.0.0.1:8080/{SIGNAL_FROM}/{SIGNAL_TO}"
    json_url = f"json://user:{JSON_PASSWORD}@127.0.0.1:9/hook"
    for url, extra in ((signal_url, ["--name", "Rapid response"]), (json_url, ["--topics", "national-guard"])):
        code, out, err = await run_cli("subscriptions", "add", url, "--city", "chicago-il", *extra, db=db)
        assert code == 0, err
    code, _, err = await run_cli("subscriptions", "add", json_url, "--city", "nowhere-zz", db=db)
    assert code == 2 and "nowhere-zz" in err
    code, _, err = await run_cli("subscriptions", "add", json_url, "--city", "chicago-il", "--topics", "bogus", db=db)
    assert code == 2
    # a Discord subscription made elsewhere shows up too
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO destinations(platform, address, grp, created) VALUES ('discord', '555', '77', 0)")
        conn.execute("INSERT INTO subscriptions(destination_id, city, topics, created) "
                     "VALUES (last_insert_rowid(), 'chicago-il', '[\"*\"]', 0)")
    code, out, err = await run_cli("subscriptions", "list", "--json", db=db)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["platform"] for r in rows] == ["apprise", "apprise", "discord"]
    assert rows[0]["destination"].startswith("Rapid response · signal://127.0.0.1:8080/")
    assert rows[1]["topics"] == ["national-guard"] and rows[1]["destination"] == "json://user:****@127.0.0.1:9/hook"
    assert rows[2]["destination"] == "discord 555 (in 77)"
    assert {"last_success", "last_error", "paused", "pause_reason", "city"} <= set(rows[0])
    code, text, _ = await run_cli("subscriptions", "list", db=db)
    assert "#1 apprise Rapid response" in text and "last success: never" in text
    code, out, _ = await run_cli("subscriptions", "remove", "1", db=db)
    assert code == 0 and "removed subscription #1" in out
    code, _, err = await run_cli("subscriptions", "remove", "1", db=db)
    assert code == 2 and "no subscription #1" in err
    code, out, _ = await run_cli("status", db=db)
    assert code == 0 and "json://user:****@127.0.0.1:9/hook" in out and "last success never" in out


async def test_subscriptions_test_sends_a_marked_message_and_reports_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    async with HookReceiver() as hook:
        code, _, err = await run_cli("subscriptions", "add", hook.url("json", auth=f"u:{JSON_PASSWORD}"),
                                     "--city", "chicago-il", db=db)
        assert code == 0, err
        code, out, err = await run_cli("subscriptions", "test", "1", db=db)
        assert code == 0, err
        assert out.strip().startswith("test sent to json://u:****@127.0.0.1:") and out.count("\n") == 1
        [got] = hook.received
        assert got.json["title"].startswith("[TEST]") and "[TEST]" in got.json["message"]
        hook.plan = ["500"]
        code, out, err = await run_cli("subscriptions", "test", "1", db=db)
        assert code == 1
        assert err.count("\n") == 1 and "failed: push failed" in err and "500" in err
    code, _, err = await run_cli("subscriptions", "test", "9", db=db)
    assert code == 2 and "no subscription #9" in err


async def test_destinations_file_is_validated_and_synced_at_run_once(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "config"
    config.mkdir()
    for name in ("feeds.toml", "topics.toml", "cities.toml"):
        (config / name).write_bytes((PROJECT_ROOT / "config" / name).read_bytes())
    (config / "lang").mkdir(exist_ok=True)
    src_lang = PROJECT_ROOT / "config" / "lang"
    if src_lang.is_dir():
        for f in src_lang.iterdir():
            (config / "lang" / f.name).write_bytes(f.read_bytes())
    async with FeedServer() as server, HookReceiver() as hook:
        feeds = write_feeds(tmp_path, server.set_feed("/dyn/empty.xml", items=[], title="Quiet"))
        env = {"CIVIC_ALERTS_CONFIG_DIR": str(config), "CIVIC_ALERTS_FEEDS": str(feeds)}
        dest_file = config / "destinations.toml"
        dest_file.write_text(
            f'[[destinations]]\nurl = "{hook.url("json", "/a", auth="u:" + JSON_PASSWORD)}"\ncity = "chicago-il"\n'
            f'name = "Team A"\n\n[[destinations]]\nurl = "{hook.url("json", "/b")}"\ncity = "chicago-il"\n'
            'topics = ["national-guard"]\n', encoding="utf-8")
        code, _, err = await run_cli("subscriptions", "add", hook.url("json", "/hand"), "--city", "chicago-il",
                                     db=db, env=env)
        assert code == 0, err
        code, _, err = await run_cli("run", "--once", db=db, env=env)
        assert code == 0, err
        code, out, _ = await run_cli("subscriptions", "list", "--json", db=db, env=env)
        rows = {r["destination"]: r for r in map(json.loads, out.splitlines())}
        assert rows[f"Team A · json://u:****@127.0.0.1:{hook.port}/a"]["source"] == "config"
        assert rows[f"json://127.0.0.1:{hook.port}/b"]["topics"] == ["national-guard"]
        assert rows[f"json://127.0.0.1:{hook.port}/hand"]["source"] == "manual"
        # entry /b leaves the file: its subscription goes; the hand-made one stays
        dest_file.write_text(dest_file.read_text().split("\n\n")[0] + "\n", encoding="utf-8")
        code, _, err = await run_cli("run", "--once", db=db, env=env)
        assert code == 0, err
        code, out, _ = await run_cli("subscriptions", "list", "--json", db=db, env=env)
        names = sorted(json.loads(line)["destination"] for line in out.splitlines())
        assert names == sorted([f"Team A · json://u:****@127.0.0.1:{hook.port}/a", f"json://127.0.0.1:{hook.port}/hand"])
        # a bad entry: file, entry number, reason; exit 2; nothing printed of the URL's secret
        dest_file.write_text(
            dest_file.read_text() + f'\n[[destinations]]\nurl = "nope://x:{JSON_PASSWORD}@h/p"\ncity = "chicago-il"\n',
            encoding="utf-8")
        code, _, err = await run_cli("run", "--once", db=db, env=env)
        assert code == 2
        assert "destinations.toml: destinations entry #2" in err and "nope://" in err
        dest_file.write_text('[[destinations]]\nurl = "console"\ncity = "chicago-il"\ncolor = "red"\n', encoding="utf-8")
        code, _, err = await run_cli("run", "--once", db=db, env=env)
        assert code == 2 and "entry #1: unknown key(s) color" in err


async def test_sigkill_during_push_delivery_loses_nothing(tmp_path: Path) -> None:
    """kill -9 while the receiver holds a notification open (inside send→record), then rerun."""
    db = tmp_path / "db.sqlite3"
    async with FeedServer() as server, HookReceiver() as hook:
        feeds = write_feeds(tmp_path, server.set_feed("/dyn/many.xml", items=feed_items(extra=14)))
        env = {"CIVIC_ALERTS_FEEDS": str(feeds)}
        for n in range(6):
            code, _, err = await run_cli("subscriptions", "add", hook.url("json", f"/d{n}"), "--city", "chicago-il",
                                         db=db, env=env)
            assert code == 0, err
        hook.delay = 0.5
        full = {**os.environ, "CIVIC_ALERTS_DB": str(db), "CIVIC_ALERTS_PARSE_WORKERS": "1",
                "PYTHONPATH": str(PROJECT_ROOT), **env}
        full.pop("DISCORD_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "--once", cwd=str(PROJECT_ROOT), env=full,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(60):
            while len(hook.received) < 3:
                await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        killed_out, killed_err = await proc.communicate()
        CAPTURED.append(("sigkill run", killed_out.decode() + killed_err.decode()))
        at_kill = len(hook.received)
        hook.delay = 0
        for _ in range(2):
            code, _, err2 = await run_cli("run", "--once", db=db, env=env)
            assert code == 0, err2
    with sqlite3.connect(db) as conn:
        wanted = {(f"/d{n}", sid) for n in range(6) for (sid,) in conn.execute(
            "SELECT id FROM stories WHERE topics LIKE '%immigration%'")}
        not_sent = conn.execute("SELECT count(*) FROM deliveries WHERE status <> 'sent'").fetchone()[0]
    got = Counter((r.path, sid) for r in hook.received for sid in r.story_ids)
    assert len(wanted) == 6 * 15
    lost = wanted - set(got)
    doubled = sum(1 for count in got.values() if count > 1)
    doubled_messages = len(hook.received) - len(hook.delivered_once())
    print(f"SIGKILL DRILL: {len(hook.received)} notifications ({at_kill} at the kill), {len(wanted)} alerts, "
          f"lost {len(lost)}, doubled alerts {doubled}, doubled notifications {doubled_messages}")
    CAPTURED.append(("sigkill numbers", f"lost={len(lost)} doubled={doubled} doubled_messages={doubled_messages}"))
    assert not lost and not_sent == 0
    assert doubled_messages <= 6, "only the notifications in flight at the kill may repeat"


async def test_subscriptions_add_lang(tmp_path: Path) -> None:
    """Issue 13: `subscriptions add … --lang es`; an unknown language is one clear line."""
    db = tmp_path / "db.sqlite3"
    code, out, err = await run_cli("subscriptions", "add", "console", "--city", "chicago-il", "--lang", "es", db=db)
    assert code == 0, err
    assert "in es" in out
    code, _, err = await run_cli("subscriptions", "add", "console", "--city", "miami-fl", "--lang", "xx", db=db)
    assert code == 2 and err.strip().count("\n") == 0 and "xx" in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT city, lang FROM subscriptions").fetchall() == [("chicago-il", "es")]
    code, out, _ = await run_cli("subscriptions", "list", "--json", db=db)
    assert code == 0 and json.loads(out.splitlines()[0])["lang"] == "es"
