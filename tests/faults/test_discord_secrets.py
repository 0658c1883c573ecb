"""Discord-side drill 6: the end-to-end scenarios' output holds no secret.

The drills in this package search their own bot output for the exact tokens their stand-ins
issued (test_discord_faults.py's last test, test_discord_crash.py). This one covers
tests/e2e: every byte the e2e bot process printed (its bot.log: stdout and stderr of every
start, SIGKILL and restart included), plus — when it runs the scenarios itself — pytest's
own output, searched for the e2e bot token and for any interaction / follow-up webhook token
the stand-in issued. Interaction tokens are random, but every one the stand-in issues starts
with the same 16 characters (tests/standin/server.py), so searching for that prefix finds
any of them, whole or cut.

When the e2e suite already ran in this pytest session (the full suite: tests/e2e sorts before
tests/faults), its output is reused from the session's temporary directory; otherwise the
scenarios are run here in a child pytest (about a minute).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

E2E_TOKEN = "fake-token"  # tests/e2e/conftest.py: DiscordStandIn() with its default token
INTERACTION_TOKEN_PREFIX = "aW50ZXJhY3Rpb246"  # base64("interaction:"), tests/standin/server.py


def e2e_logs(base: Path) -> list[Path]:
    return sorted(p for p in base.glob("e2e*/*") if p.is_file() and p.suffix in {".log", ".txt"})


def test_e2e_output_holds_no_token(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from tests.standin.fixtures import require_openapi

    require_openapi()
    texts: dict[str, str] = {}
    logs = e2e_logs(tmp_path_factory.getbasetemp())
    source = "reused from this session"
    if not logs or "===== start #2" not in "".join(p.read_text("utf-8", "replace") for p in logs):
        source = "run here"
        base = tmp_path / "e2e-run"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rA", "--log-level=INFO", "-p", "no:cacheprovider", f"--basetemp={base}",
             "tests/e2e"],
            cwd=PROJECT_ROOT, capture_output=True, timeout=600,
        )
        texts["e2e pytest stdout"] = proc.stdout.decode("utf-8", "replace")
        texts["e2e pytest stderr"] = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 0, texts["e2e pytest stdout"][-3000:]
        logs = e2e_logs(base)
    for path in logs:
        texts[str(path)] = path.read_text("utf-8", "replace")
    bot_output = "".join(t for k, t in texts.items() if k.endswith(".log"))
    # the search means something: the bot's whole life is in there, restart included
    assert "connected as" in bot_output and "===== start #2" in bot_output, sorted(texts)
    assert "interaction" in bot_output.lower() or "/subscribe" in bot_output or "subscri" in bot_output
    leaks = [
        f"{where}: {what}"
        for where, text in texts.items()
        for what in (E2E_TOKEN, INTERACTION_TOKEN_PREFIX)
        if what in text
    ]
    assert leaks == [], leaks
    print(f"\ne2e secrets drill ({source}): {len(texts)} outputs, {sum(map(len, texts.values()))} characters; "
          f"no bot token, no interaction/webhook token")
