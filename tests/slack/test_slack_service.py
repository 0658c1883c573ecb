"""`civic-alerts run` with Slack credentials the workspace refuses: one clear line, exit ≠ 0,
and neither token anywhere in the output."""

from __future__ import annotations

from pathlib import Path

from tests.faults.harness import BotProcess
from tests.feedserver import FeedServer
from tests.slack.world import slack_env, write_feeds
from tests.slack_standin import APP_TOKEN, SlackStandIn


async def test_refused_bot_token_stops_with_one_line(standin: SlackStandIn, tmp_path: Path) -> None:
    wrong = "xoxb-9999999999-8888888888-wrongtokenwrongtoken"
    async with FeedServer() as feeds:
        url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
        env = slack_env(standin, tmp_path, write_feeds(tmp_path / "feeds.toml", url), SLACK_BOT_TOKEN=wrong)
        with BotProcess(env, tmp_path) as bot:
            bot.start()
            code = await bot.wait(90)
            output = bot.stdout() + bot.stderr()
            last = bot.stderr().strip().splitlines()[-1]
    assert code != 0
    # the service's last word is the one clear line (and no traceback before it:
    # tests/faults/test_stop_during_poll.py)
    assert "Traceback" not in output
    assert last == "civic-alerts: configuration error: Slack refused the bot token (SLACK_BOT_TOKEN): invalid_auth"
    assert wrong[:20] not in output and APP_TOKEN[:20] not in output
    assert standin.violations == []
