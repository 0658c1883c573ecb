"""Issue 16 items 4 and 5 (Discord parts): Discord unreachable or refusing the token gives one
clear line, `run` keeps retrying with back-off, and discord.py's voice warnings are gone.

Each case runs the real entry point (`python -m bot …`) in a subprocess: only its real output
shows whether an operator sees one line or a 60-line traceback.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.faults.harness import write_feeds_file

UNRESOLVABLE = "http://discord.invalid/api/v10"  # RFC 6761: .invalid never resolves
REFUSED = "http://127.0.0.1:1/api/v10"  # nothing listens on port 1


def _env(tmp: Path, api_base: str, token: str = "MTIz.abc.defghijklmnop") -> dict[str, str]:
    feeds = tmp / "feeds.toml"
    write_feeds_file(feeds, [{"url": "http://127.0.0.1:1/feed.xml"}])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CIVIC_ALERTS_", "DEV_GUILD"))}
    env.update({
        "DISCORD_TOKEN": token,
        "DISCORD_API_BASE": api_base,
        "CIVIC_ALERTS_DB": str(tmp / "bot.sqlite3"),
        "CIVIC_ALERTS_FEEDS": str(feeds),
        "CIVIC_ALERTS_CONFIG_DIR": str(PROJECT_ROOT / "config"),
        "CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS": "true",
        "CIVIC_ALERTS_POLL_INTERVAL": "600",
        "CIVIC_ALERTS_COVERAGE": os.environ["CIVIC_ALERTS_COVERAGE"],
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    return env


async def _cli(tmp: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=str(tmp), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode() + err.decode()


def _one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


async def test_sync_commands_with_discord_unresolvable_says_one_line(tmp_path: Path) -> None:
    code, output = await _cli(tmp_path, _env(tmp_path, UNRESOLVABLE), "sync-commands")
    line = _one_line(output)
    assert code == 1
    assert "cannot reach Discord" in line and "discord.invalid" in line, line


async def test_sync_commands_with_connection_refused_says_one_line(tmp_path: Path) -> None:
    code, output = await _cli(tmp_path, _env(tmp_path, REFUSED), "sync-commands")
    line = _one_line(output)
    assert code == 1 and "cannot reach Discord at 127.0.0.1:1" in line, line


async def test_sync_commands_with_a_refused_token_says_one_line(tmp_path: Path) -> None:
    from tests.standin import DiscordStandIn

    async with DiscordStandIn() as standin:
        env = _env(tmp_path, standin.api_base, token="MTIz.wrong.tokentokentoken")
        code, output = await _cli(tmp_path, env, "sync-commands")
        assert standin.requests_to("GET", r"^/users/@me$"), "the CLI never asked Discord"
    line = _one_line(output)
    assert code == 2 and "Discord refused the token (DISCORD_TOKEN)" in line, line
    assert "wrong" not in output  # the token is not echoed


async def test_run_retries_an_unreachable_discord_with_one_line_each_and_no_voice_warnings(
    tmp_path: Path,
) -> None:
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=str(tmp_path), env=_env(tmp_path, UNRESOLVABLE),
            stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        # the first attempt, then the retry after the first back-off (5 s)
        while log_path.read_text("utf-8", "replace").count("discord adapter failed") < 2:
            assert proc.returncode is None, log_path.read_text("utf-8", "replace")
            assert loop.time() < deadline, log_path.read_text("utf-8", "replace")
            await asyncio.sleep(0.1)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    text = log_path.read_text("utf-8", "replace")
    failures = [line for line in text.splitlines() if "discord adapter failed" in line]
    assert all("does not resolve" in line and "retrying in" in line for line in failures), failures
    assert "ClientConnectorDNSError" not in text and "aiohttp" not in text, text
    assert "voice will NOT be supported" not in text, text
