"""Issue 16 item 4: one clear line, never a traceback, when the user stops a command or the
database cannot be opened. Real `python -m bot` processes; Ctrl-C is SIGINT to the process
group, as a terminal sends it (workers included)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.feedserver import FeedServer
from tests.test_cli import write_feeds


def _children(pid: int) -> list[str]:
    out: list[str] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += (task / "children").read_text().split()
        except OSError:
            continue
    return out


def _env(db: Path) -> dict[str, str]:
    env = {**os.environ, "CIVIC_ALERTS_DB": str(db), "CIVIC_ALERTS_PARSE_WORKERS": "2"}
    env.pop("DISCORD_TOKEN", None)
    return env


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to see the workers")
@pytest.mark.parametrize("delay", [0.05, 0.3, 1.0])
async def test_ctrl_c_while_parse_workers_run_gives_no_traceback(
    real_feeds_dir: Path, tmp_path: Path, delay: float
) -> None:
    """Before: a KeyboardInterrupt traceback from a SpawnProcess worker. After: exit 130, silent."""
    async with FeedServer() as server:
        files = sorted(real_feeds_dir.glob("*.xml"))
        feeds = write_feeds(tmp_path / "feeds.toml", [(server.url(f"/real/{p.name}"), None) for p in files])
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "poll", "--once", "--all", "--feeds", str(feeds),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=_env(tmp_path / "db.sqlite3"),
            cwd=str(PROJECT_ROOT), start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while len(_children(proc.pid)) < 2:  # both parse workers are starting
            assert proc.returncode is None and time.monotonic() < deadline, "the workers never started"
            await asyncio.sleep(0.01)
        await asyncio.sleep(delay)  # a point during their start-up or their parsing
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.stderr is not None
        err = (await asyncio.wait_for(proc.stderr.read(), 120)).decode()
        code = await asyncio.wait_for(proc.wait(), 120)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert code in (0, 130), err[-500:]


async def test_a_database_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    """Before: the error line, then an "Event loop is closed" thread traceback (17 of 20 runs),
    and a FileNotFoundError traceback for a folder that cannot be made. After: one line, exit 1."""
    unopenable = tmp_path / "a-directory"
    unopenable.mkdir()
    for db, words in [(unopenable, "cannot be written"), (Path("/proc/no-such/db.sqlite3"), "cannot create")] * 2:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "status", "--db", str(db),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_env(db), cwd=str(PROJECT_ROOT),
        )
        _out, err_bytes = await asyncio.wait_for(proc.communicate(), 120)
        err = err_bytes.decode()
        assert proc.returncode == 1, err
        assert words in err and len(err.strip().splitlines()) == 1, err
