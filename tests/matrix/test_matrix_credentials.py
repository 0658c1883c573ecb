"""Credentials against a real Synapse: MATRIX_PASSWORD logs in; a refused token or password
stops `civic-alerts run` with one clear line that never contains the secret."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.e2e.conftest import BotProcess
from tests.matrix.conftest import bot_env, make_world, write_feeds_file
from tests.matrix_standin.synapse import Synapse

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio]


async def test_password_login_serves_commands(synapse: Synapse, tmp_path: Path) -> None:
    world = await make_world(synapse, tmp_path, "pw", use_password=True)
    try:
        room = await world.room("pw")
        assert "!alerts subscribe" in await world.command(room, "!alerts help")
        assert world.password not in world.log_text()
    finally:
        await world.bot.stop()
        await world.feeds.close()


@pytest.mark.parametrize("secret_kind", ["access_token", "password"])
async def test_refused_credentials_stop_with_one_line(synapse: Synapse, tmp_path: Path, secret_kind: str) -> None:
    user = await synapse.register(f"refused{secrets.token_hex(3)}", "right-pass-1")
    secret = "wrong-" + secrets.token_hex(12)
    feeds = tmp_path / "feeds.toml"
    write_feeds_file(feeds, "http://127.0.0.1:9/none.xml")
    bot = BotProcess(bot_env(tmp_path, feeds, synapse.base, user.user_id, **{secret_kind: secret}), tmp_path, tmp_path / "bot.log")
    await bot.start()
    code = await bot.wait_exit(120)
    out = bot.log_path.read_text("utf-8", "replace")
    assert code not in (None, 0), out
    assert secret not in out
    refused = [line for line in out.splitlines() if "refused" in line and "MATRIX_" in line]
    assert len(refused) == 1, out
    assert out.rstrip().splitlines()[-1].startswith("civic-alerts: configuration error: the Matrix homeserver refused")
    # (a shutdown race of the core's poll job may print its own traceback; none is ours)
    assert "bot/adapters/matrix" not in out
