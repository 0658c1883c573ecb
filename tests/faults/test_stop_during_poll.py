"""Issue 10: a stop while the first poll cycle is still fetching is one line, not a traceback.

Before: SIGINT/SIGTERM during the first poll, or an adapter's ConfigError, ended with
APScheduler's "Job App._poll_job raised an exception" and a CancelledError traceback from
bot/app.py (the event loop's shutdown cancels the running job). The real `python -m bot run`
against a feed whose server holds the answer for a minute, so the cycle is surely in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT
from tests.faults.harness import BotProcess, console_env, write_feeds_file
from tests.feedserver import FeedServer

HELD = "/hostile/slow-headers"  # answers after `delay` seconds: the poll is mid-fetch until then


def _env(tmp: Path, feed_url: str, **extra: str) -> dict[str, str]:
    feeds = write_feeds_file(
        tmp / "feeds.toml", [{"url": feed_url, "name": "Held", "city": "chicago-il", "interval": 30}]
    )
    env = console_env(
        tmp / "bot.sqlite3",
        feeds,
        CIVIC_ALERTS_ALLOW_PRIVATE_FEEDS="true",
        CIVIC_ALERTS_FETCH_TIMEOUT="90",
        CIVIC_ALERTS_TICK_SECONDS="5",
        PYTHONPATH=str(PROJECT_ROOT),
    )
    for key in [k for k in env if k.startswith(("SLACK_", "TELEGRAM_", "MATRIX_"))]:
        del env[key]  # a developer's own credentials must not turn adapters on
    return {**env, **extra}


async def _until_fetching(server: FeedServer, bot: BotProcess) -> None:
    """Until the held feed's request reached the server (the poll cycle is in flight)."""
    deadline = asyncio.get_running_loop().time() + 90
    while server.requests[HELD] < 1:
        assert bot.running, f"the bot exited before polling:\n{bot.stderr()[-3000:]}"
        assert asyncio.get_running_loop().time() < deadline, f"no poll within 90 s:\n{bot.stderr()[-3000:]}"
        await asyncio.sleep(0.05)


def _assert_one_line_stop(err: str) -> None:
    assert "Traceback" not in err, err[-3000:]
    assert "CancelledError" not in err, err[-3000:]
    assert "raised an exception" not in err, err[-3000:]
    assert err.count("poll cycle interrupted by the stop") == 1, err[-3000:]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_during_the_first_poll_stops_without_a_traceback(
    tmp_path: Path, sig: signal.Signals
) -> None:
    async with FeedServer() as server:
        with BotProcess(_env(tmp_path, server.url(f"{HELD}?delay=120")), tmp_path) as bot:
            bot.start()
            await _until_fetching(server, bot)
            # SIGINT as a terminal's Ctrl-C sends it (to the group, parse worker included);
            # SIGTERM as systemd's stop sends it to the service
            if sig == signal.SIGINT:
                os.killpg(bot.pid, sig)
            else:
                os.kill(bot.pid, sig)
            code = await bot.wait(60)
    assert code in (0, 130), bot.stderr()[-3000:]
    _assert_one_line_stop(bot.stderr())


async def test_a_config_error_during_the_first_poll_is_its_one_line_without_a_traceback(
    shared_dir: Path, tmp_path: Path
) -> None:
    """Slack refuses the bot token while the first cycle waits on a feed: the service's last
    word is the configuration error, and nothing above it is a traceback."""
    if not (shared_dir / "slack-openapi" / "slack_web_openapi_v2.json").exists():
        pytest.skip("../shared/slack-openapi/slack_web_openapi_v2.json is absent")
    from aiohttp import web

    from tests.slack_standin import APP_TOKEN, SlackStandIn

    async with FeedServer() as server:

        class RefusesOncePolling(SlackStandIn):
            """Answers auth.test only once the held feed was requested: the refusal then
            surely lands while the first cycle is in flight, however busy the machine."""

            async def _api(self, request: web.Request) -> web.Response:
                if request.match_info["method"] == "auth.test":
                    deadline = asyncio.get_running_loop().time() + 90
                    while server.requests[HELD] < 1 and asyncio.get_running_loop().time() < deadline:
                        await asyncio.sleep(0.05)
                return await super()._api(request)

        async with RefusesOncePolling() as slack:
            env = _env(
                tmp_path,
                server.url(f"{HELD}?delay=120"),
                SLACK_BOT_TOKEN="xoxb-9999999999-8888888888-wrongtokenwrongtoken",
                SLACK_APP_TOKEN=APP_TOKEN,
                SLACK_API_BASE=slack.api_base,
            )
            with BotProcess(env, tmp_path) as bot:
                bot.start()
                code = await bot.wait(120)
            fetched = server.requests[HELD]
            violations = list(slack.violations)
    err = bot.stderr()
    assert fetched >= 1, f"the service stopped before its first poll:\n{err[-3000:]}"
    assert code != 0, err[-3000:]
    assert err.strip().splitlines()[-1].startswith("civic-alerts: configuration error: Slack refused"), err[-3000:]
    _assert_one_line_stop(err)
    assert violations == []
