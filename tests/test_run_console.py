"""`civic-alerts run` without a token: the same pipeline, alerts printed to the console."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.feedserver import FeedServer
from tests.store.helpers import raw_rows


async def _read_until(stream: asyncio.StreamReader, needle: str, timeout: float) -> str:
    seen = ""
    async with asyncio.timeout(timeout):
        while needle not in seen:
            line = await stream.readline()
            if not line:
                break
            seen += line.decode()
    return seen


async def _outbox_idle(db: Path, timeout: float) -> tuple[int, int]:
    """Wait until the running service has marked every queued alert sent; (sent, total) rows.

    Read with a separate connection, as any second process would: the service keeps running.
    """
    sql = "SELECT COALESCE(SUM(status = 'sent'), 0), COUNT(*) FROM deliveries"
    async with asyncio.timeout(timeout):
        while True:
            sent, total = raw_rows(db, sql)[0]
            if total and sent == total:
                return int(sent), int(total)
            await asyncio.sleep(0.1)


async def test_console_mode_prints_a_matching_alert_once_and_stops_cleanly(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    items = [
        {"title": "Border Patrol agents detain two in Brighton Park", "link": "https://bc.test/bp?utm_source=x",
         "guid": "bp", "description": "Federal immigration agents detained two men in Chicago's Brighton Park.",
         "pubDate": now},
        {"title": "Cubs announce spring training schedule", "link": "https://bc.test/cubs", "guid": "cubs",
         "description": "The Chicago Cubs released their schedule.", "pubDate": now},
    ]
    async with FeedServer() as server:
        url = server.set_feed("/dyn/blockclub.xml", items=items, title="Block Club Chicago")
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(f'[[feeds]]\nurl = "{url}"\ncity = "chicago-il"\n', encoding="utf-8")
        env = {**os.environ, "CIVIC_ALERTS_DB": str(tmp_path / "db.sqlite3"), "CIVIC_ALERTS_FEEDS": str(feeds),
               "CIVIC_ALERTS_TICK_SECONDS": "0.5", "CIVIC_ALERTS_DELIVERY_INTERVAL": "0.5",
               "CIVIC_ALERTS_PARSE_WORKERS": "1"}
        env.pop("DISCORD_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=str(PROJECT_ROOT), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            out = await _read_until(proc.stdout, "story #", 30)
            assert "Border Patrol agents detain two in Brighton Park" in out
            assert "https://bc.test/bp" in out and "utm_source" not in out
            assert "Chicago, IL" in out and "Immigration enforcement" in out
            assert "Matched:" in out
            # the alert's row is marked sent (not merely printed): no later drain may print it again
            assert await _outbox_idle(tmp_path / "db.sqlite3", 20) == (1, 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            rest, err = await asyncio.wait_for(proc.communicate(), 20)
    out += rest.decode()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out.count("Border Patrol agents detain two in Brighton Park") == 1
    assert "Cubs" not in out
    assert "Traceback" not in err.decode()


async def test_sigkilled_service_leaves_no_worker_processes_behind(tmp_path: Path) -> None:
    """The parse pool's processes must not outlive a bot killed with SIGKILL (no orphans)."""
    import psutil

    items = [{"title": f"ICE agents detain {n} in Pilsen", "link": f"https://x.test/{n}", "guid": str(n),
              "description": "Federal agents in Chicago.", "pubDate": datetime.now(UTC)} for n in range(5)]
    async with FeedServer() as server:
        url = server.set_feed("/dyn/k.xml", items=items)
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(f'[[feeds]]\nurl = "{url}"\n', encoding="utf-8")
        env = {**os.environ, "CIVIC_ALERTS_DB": str(tmp_path / "db.sqlite3"), "CIVIC_ALERTS_FEEDS": str(feeds),
               "CIVIC_ALERTS_TICK_SECONDS": "0.5", "CIVIC_ALERTS_PARSE_WORKERS": "2"}
        env.pop("DISCORD_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=str(PROJECT_ROOT), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        await _read_until(proc.stdout, "story #", 30)  # a cycle ran: the pool's workers exist
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2, children
        proc.kill()
        _, alive = psutil.wait_procs(children, timeout=10)
        for leftover in alive:  # orphans would also hold our pipe open and hang proc.wait()
            leftover.kill()
        await asyncio.wait_for(proc.wait(), 15)
    assert alive == [], f"orphaned processes: {alive}"
