"""Drill 3: secrets never reach output — logs, console service, CLI errors.

Secrets: a bot token, a webhook URL's token, an interaction callback token, Authorization
headers, a configured secret that has no recognisable shape. Each check also asserts that the
line carrying the secret *was* written (with "[redacted]"), so a silent logger cannot pass.

TODO (docs/reliability.md): once tests/e2e lands, a drill searches all of its output (bot
process stdout/stderr, stand-in logs, pytest output) for the e2e token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from yarl import URL

from bot.logs import setup_logging
from tests.conftest import PROJECT_ROOT
from tests.faults.harness import BotProcess, console_env, write_feeds_file
from tests.feedserver import FeedServer

BOT_TOKEN = "MTE5OTk4ODc3NjY1NTQ0MzMyMQ.GqXyZw.Zk3vJq8sR1tU2wV3xY4zA5bC6dE7fG8hI9jK0"
WEBHOOK_TOKEN = "xQ9vR2sT4uV6wX8yZ0aB1cD3eF5gH7iJ9kL1mN3oP5qR7sT9uV1wX3yZ5aB7cD9eF1g"
WEBHOOK_URL = f"https://discord.com/api/webhooks/123456789012345678/{WEBHOOK_TOKEN}"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OlNlY3JldEludGVyYWN0aW9u"
CALLBACK_URL = f"https://discord.com/api/v10/interactions/123456789012345678/{INTERACTION_TOKEN}/callback"
OAUTH_TOKEN = "oAuThBeArErT0k3nV4lu3ZZZ"
SHAPELESS = "correct-horse-battery-staple"  # only known because it is passed in `secrets`

FRAGMENTS = (BOT_TOKEN, BOT_TOKEN.split(".")[2], WEBHOOK_TOKEN, INTERACTION_TOKEN, OAUTH_TOKEN, SHAPELESS)


def assert_clean(text: str, where: str) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in text, f"secret {fragment[:8]}… leaked into {where}:\n{text[-2000:]}"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _emit_everything() -> int:
    """Log every way a secret can travel; returns how many records were written."""
    log = logging.getLogger("bot.drill")
    log.info("token in the message: %s", BOT_TOKEN)
    log.info("a configured secret: %s", SHAPELESS)
    log.info("token in an extra", extra={"token": BOT_TOKEN})
    log.info("headers as a dict", extra={"headers": {"Authorization": f"Bot {BOT_TOKEN}"}})
    log.info("bearer header", extra={"headers": [("Authorization", f"Bearer {OAUTH_TOKEN}")]})
    log.info("a URL object", extra={"url": URL(WEBHOOK_URL)})
    log.info("Authorization: Bot %s", BOT_TOKEN)
    logging.getLogger("discord.webhook.async_").warning("POST %s failed", WEBHOOK_URL)
    logging.getLogger("aiohttp.client").debug("POST %s with %r", CALLBACK_URL, {"Authorization": f"Bot {BOT_TOKEN}"})
    try:
        raise RuntimeError(f"login failed for {BOT_TOKEN}")
    except RuntimeError:
        log.exception("exception whose message holds the token")
    try:
        try:
            raise ConnectionError(CALLBACK_URL)
        except ConnectionError as inner:
            raise ValueError({"webhook": WEBHOOK_URL}) from inner
    except ValueError as exc:
        log.error("chained exception", exc_info=exc)
    return 11


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_logging_layer_redacts_every_secret(
    restore_logging: None, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    setup_logging("DEBUG", as_json=as_json, secrets=[BOT_TOKEN, SHAPELESS])
    expected = _emit_everything()
    out, err = capsys.readouterr()
    assert_clean(out + err, "log output")
    records = [line for line in err.splitlines() if any(n in line for n in ("bot.drill", "discord.", "aiohttp."))]
    assert len(records) >= expected, err  # every record was written, just redacted
    assert err.count("[redacted]") >= expected
    if as_json:
        for line in err.splitlines():
            if line.startswith("{"):
                json.loads(line)  # redaction keeps JSON lines parseable


async def test_console_service_output_has_no_secrets(tmp_path: Path) -> None:
    """`python -m bot run` with DISCORD_TOKEN unset, polling feeds whose URLs carry secrets."""
    async with FeedServer() as server:
        feeds = write_feeds_file(tmp_path / "feeds.toml", [
            {"url": server.url(f"/hostile/status/500?hook=/api/webhooks/123456789012345678/{WEBHOOK_TOKEN}")},
            {"url": server.url(f"/hostile/status/503?cb=/interactions/123456789012345678/{INTERACTION_TOKEN}/callback")},
            {"url": server.url(f"/hostile/status/404?token={BOT_TOKEN}")},
        ])  # fmt: skip
        env = console_env(tmp_path / "db.sqlite3", feeds)
        with BotProcess(env, tmp_path / "run") as bot:
            bot.start()
            await bot.wait_for_stderr("no DISCORD_TOKEN set", timeout=30)
            deadline = asyncio.get_running_loop().time() + 30
            while bot.stderr().count("feed failed") < 3:
                assert asyncio.get_running_loop().time() < deadline, bot.stderr()[-3000:]
                await asyncio.sleep(0.1)
            assert await bot.stop() == 0
            output = bot.stdout() + bot.stderr()
    assert_clean(output, "console service output")
    assert output.count("[redacted]") >= 3  # the failing feeds were logged, URL and all


async def _cli(tmp_path: Path, *args: str) -> tuple[int, str]:
    env = console_env(tmp_path / "cli.sqlite3", tmp_path / "feeds.toml")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=str(tmp_path), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode() + err.decode()


async def test_cli_failure_paths_have_no_secrets(tmp_path: Path) -> None:
    # Discord-only command without a token: a clear one-liner, no traceback.
    code, output = await _cli(tmp_path, "sync-commands")
    assert code == 2 and "DISCORD_TOKEN is not set" in output and "Traceback" not in output
    # A config error that quotes the offending URL (an operator pasted a webhook twice).
    write_feeds_file(tmp_path / "feeds.toml", [{"url": WEBHOOK_URL}, {"url": WEBHOOK_URL}])
    code, output = await _cli(tmp_path, "poll", "--once")
    assert code == 2 and "duplicate url" in output and "[redacted]" in output
    assert_clean(output, "a configuration error")
    # A poll whose failing feed URL carries a token prints "feed failed: <url>: <why>".
    async with FeedServer() as server:
        write_feeds_file(tmp_path / "feeds.toml", [
            {"url": server.url(f"/hostile/status/500?hook=/webhooks/123456789012345678/{WEBHOOK_TOKEN}")},
        ])  # fmt: skip
        code, output = await _cli(tmp_path, "poll", "--once")
    assert code == 0 and "feed failed" in output and "[redacted]" in output
    assert_clean(output, "poll --once output")


def test_dotenv_is_git_ignored() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "-q", ".env"], cwd=str(PROJECT_ROOT), check=False, capture_output=True
    )
    assert result.returncode == 0, ".env (where DISCORD_TOKEN lives) is not git-ignored"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".env"], cwd=str(PROJECT_ROOT), check=False, capture_output=True
    )
    assert tracked.returncode != 0, ".env is tracked by git"
