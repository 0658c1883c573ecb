"""Issue 10 "One service": ONE `civic-alerts run` process with Discord, Slack, Telegram and
Matrix credentials all set, each platform pointed at its stand-in (Matrix at a real Synapse).

One subscription per platform to the same city, one loopback feed publishing one matching
item: each platform receives that alert exactly once, no stand-in records a spec violation,
and SIGTERM stops the whole process cleanly (exit 0, no traceback, no token in the output).

Matrix needs a Synapse python (CIVIC_ALERTS_SYNAPSE_PYTHON or .ci/synapse-venv). Without one
the other three platforms still run in the one process and are checked; the test then ends
as skipped, saying Matrix was not part of it (a failure when CIVIC_ALERTS_REQUIRE_SYNAPSE=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.botprocess import eventually, feeds_due_now, find_secrets, read_rows, run_env
from tests.faults.harness import BotProcess, write_feeds_file
from tests.feedserver import FeedServer

WAIT = 120.0  # a deadline for conditions, generous: the machine may be busy
TG_GROUP, TG_ADMIN = -1001234567890, 5550001
SYNAPSE_MISSING = (
    "Matrix not run: no Synapse python (set CIVIC_ALERTS_SYNAPSE_PYTHON to a python with "
    "matrix-synapse, or create .ci/synapse-venv); Discord, Slack and Telegram passed in one process"
)


async def until(predicate: Callable[[], Any], what: str, bot: BotProcess) -> Any:
    """Poll `predicate` (sync or async) until truthy; fail with the bot's log tail after WAIT."""
    return await eventually(predicate, WAIT, what, bot.stderr)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    return read_rows(db, sql, timeout=WAIT)  # none until the bot made the file and its schema


@contextlib.asynccontextmanager
async def matrix_side(tmp: Path) -> AsyncIterator[dict[str, Any] | None]:
    """A real Synapse with a bot account and a person (a server admin), or None without Synapse."""
    from tests.matrix_standin.synapse import Synapse, synapse_python

    python = synapse_python()
    if python is None:
        if os.environ.get("CIVIC_ALERTS_REQUIRE_SYNAPSE") == "1":
            pytest.fail(SYNAPSE_MISSING)
        yield None
        return
    server = Synapse(python, tmp / "synapse")
    await asyncio.to_thread(server.start)
    try:
        person = await server.register(f"person{secrets.token_hex(3)}", "pw-" + secrets.token_hex(8), admin=True)
        bot_user = await server.register(f"allbot{secrets.token_hex(3)}", "pw-" + secrets.token_hex(8))
        yield {"server": server, "person": person, "bot": bot_user}
    finally:
        await asyncio.to_thread(server.stop)


def service_env(tmp: Path, feeds_file: Path, platforms: dict[str, str]) -> dict[str, str]:
    return run_env(tmp, feeds_file, platforms)


def one_item() -> list[dict[str, Any]]:
    return [{
        "title": "ICE agents detain 4 workers at a Chicago warehouse in Pilsen",
        "guid": "all-1",
        "link": "https://chicago.example/pilsen-warehouse",
        "pubDate": datetime.now(UTC) - timedelta(minutes=2),
        "description": "<p>Federal immigration agents detained four workers at a Pilsen warehouse in Chicago.</p>",
    }]  # fmt: skip


async def test_every_adapter_in_one_process_gets_the_alert_exactly_once(shared_dir: Path, tmp_path: Path) -> None:
    from tests.standin import DiscordStandIn
    from tests.standin.fixtures import require_openapi

    require_openapi()
    if not (shared_dir / "slack-openapi" / "slack_web_openapi_v2.json").exists():
        pytest.skip("../shared/slack-openapi/slack_web_openapi_v2.json is absent")
    from bot.adapters.slack.blocks import story_ids_of
    from bot.render import STORY_REF_RE
    from tests.slack_standin import ADMIN, APP_TOKEN, BOT_TOKEN, SlackStandIn
    from tests.telegram.helpers import bot_token, require_spec
    from tests.telegram_standin import Chat, TelegramStandIn

    require_spec()
    db = tmp_path / "bot.sqlite3"
    discord = DiscordStandIn()
    await discord.start()
    try:
        async with (
            matrix_side(tmp_path) as matrix,
            SlackStandIn() as slack,
            TelegramStandIn(bot_token()) as tg,
            FeedServer() as feeds,
        ):
            guild = discord.add_guild("Organizers", channels=["alerts"])
            [discord_channel] = [int(cid) for cid in guild.channels]
            slack_channel = slack.add_channel("alerts")
            tg.add_chat(Chat(TG_GROUP, admins={TG_ADMIN}))
            url = feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[])
            feeds_file = write_feeds_file(
                tmp_path / "feeds.toml", [{"url": url, "name": "Chicago Local", "city": "chicago-il", "interval": 30}]
            )
            platforms = {
                "DISCORD_TOKEN": discord.token, "DISCORD_API_BASE": discord.api_base, "DEV_GUILD_ID": str(guild.id),
                "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_BASE": slack.api_base,
                "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE": tg.api_base,
            }  # fmt: skip
            if matrix is not None:
                platforms.update({
                    "MATRIX_HOMESERVER": matrix["server"].base,
                    "MATRIX_USER_ID": matrix["bot"].user_id,
                    "MATRIX_ACCESS_TOKEN": matrix["bot"].token,
                })  # fmt: skip
            with BotProcess(service_env(tmp_path, feeds_file, platforms), tmp_path) as bot:
                bot.start()
                # every adapter connected and registered its commands
                await until(lambda: discord.registered_commands(int(guild.id)), "Discord's commands", bot)
                await until(lambda: slack.connections >= 1 and slack.sockets, "Slack's Socket Mode", bot)
                await until(lambda: len(tg.commands) == 3, "Telegram's setMyCommands", bot)
                room = None
                if matrix is not None:
                    person, bot_user = matrix["person"], matrix["bot"]
                    room = await person.create_room("alerts", [bot_user.user_id])

                    async def joined() -> bool:
                        return bot_user.user_id in await person.joined(room)

                    await until(joined, "the Matrix bot to join the room", bot)

                # one subscription per platform, to the same city
                handle = await discord.invoke_slash(
                    int(guild.id), discord_channel, int(guild.owner_id), "subscribe", {"city": "chicago-il"}
                )
                await handle.wait_response(WAIT)
                answer = await slack.slash(slack_channel, ADMIN, "subscribe Chicago, IL", timeout=WAIT)
                assert "now gets alerts" in str(answer.get("text")), answer
                tg.command(TG_GROUP, TG_ADMIN, "/subscribe Chicago, IL")
                if room is not None:
                    await matrix["person"].say(room, "!alerts subscribe Chicago, IL")
                wanted = {"discord", "slack", "telegram"} | ({"matrix"} if room else set())
                sql = ("SELECT d.platform FROM subscriptions s JOIN destinations d ON d.id = s.destination_id "
                       "WHERE s.city = 'chicago-il'")
                await until(lambda: Counter(p for (p,) in rows(db, sql)) == Counter(wanted),
                            "one Chicago subscription per platform", bot)

                # one item, polled now (the feed's interval would wait 30 s) — once the first
                # cycle recorded its fetch of the empty feed, which would overwrite the "now"
                await until(lambda: rows(db, f"SELECT 1 FROM feeds WHERE url = '{url}' AND last_checked IS NOT NULL"),
                            "the first poll of the feed", bot)
                feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=one_item())
                feeds_due_now(db, timeout=WAIT)
                await until(lambda: rows(db, "SELECT id FROM stories"), "the story", bot)
                pending = "SELECT count(*) FROM deliveries WHERE status <> 'sent' OR edit_pending = 1"
                await until(lambda: rows(db, "SELECT count(*) FROM deliveries") == [(len(wanted),)]
                            and rows(db, pending) == [(0,)], "every platform's alert sent", bot)
                [(story_id,)] = rows(db, "SELECT id FROM stories")

                # what each platform shows
                seen: dict[str, list[int]] = {
                    "discord": [
                        int(m.group(1))
                        for message in discord.messages(discord_channel)
                        for embed in message.get("embeds") or []
                        if (m := STORY_REF_RE.search((embed.get("footer") or {}).get("text", "")))
                    ],
                    "slack": [sid for m in slack_channel.top_level() for sid in story_ids_of(m)],
                    "telegram": tg.story_ids(TG_GROUP),
                }
                if room is not None and matrix is not None:
                    person, bot_user = matrix["person"], matrix["bot"]
                    seen["matrix"] = [
                        int(sid)
                        for e in await person.events(room, 500)
                        if e.get("sender") == bot_user.user_id and "m.relates_to" not in (e.get("content") or {})
                        for sid in re.findall(r"story #(\d+)", str((e.get("content") or {}).get("body") or ""))
                    ]
                code = await bot.stop(timeout=WAIT)
            err, out = bot.stderr(), bot.stdout()
            violations = {"discord": list(discord.violations), "slack": list(slack.violations),
                          "telegram": list(tg.violations)}  # fmt: skip
    finally:
        await discord.stop()

    assert seen == {platform: [story_id] for platform in wanted}, seen
    assert violations == {"discord": [], "slack": [], "telegram": []}, violations
    assert code == 0, f"exit status {code} after SIGTERM:\n{err[-3000:]}"
    assert "Traceback" not in err, err[-4000:]
    leaked = find_secrets({"the bot's output": err + out}, [discord.token, BOT_TOKEN, APP_TOKEN, tg.token.split(":")[1]],
                          probe=16)
    assert not leaked, f"a token reached the bot's output: {leaked}"
    if "matrix" not in wanted:
        pytest.skip(SYNAPSE_MISSING)
