"""Push tests: every byte our code prints or logs is kept, to be searched for URL secrets.

Why: the acceptance says no Apprise URL's secret part appears in any output of any test.
Each test's captured stdout/stderr and log records go into CAPTURED (subprocess tests add their
own), and tests/push/test_zz_secrets.py — collected last — searches all of it for SECRETS.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

# The secret parts of every URL the push tests use (passwords, tokens, phone numbers).
JSON_PASSWORD = "hunter22pw"
FORM_PASSWORD = "formPass55"
SMTP_PASSWORD = "smtpSecret99"
NTFY_PASSWORD = "ntfyPass77"
SIGNAL_FROM = "+15551234567"
SIGNAL_TO = "+15557654321"
SECRETS = (JSON_PASSWORD, FORM_PASSWORD, SMTP_PASSWORD, NTFY_PASSWORD, SIGNAL_FROM, SIGNAL_TO, "15551234567", "15557654321")

CAPTURED: list[tuple[str, str]] = []  # (test id, text)


@pytest.fixture(autouse=True)
def _keep_output(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    caplog.set_level("DEBUG")
    yield
    out, err = capsys.readouterr()
    logs = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.__dict__}" for r in caplog.records
    )
    CAPTURED.append((request.node.nodeid, out + err + logs))
    sys.stdout.write(out)
    sys.stderr.write(err)


async def run_cli(
    *args: str, db: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[int, str, str]:
    """`python -m bot …` as a user runs it; its output is kept for the secret search."""
    full = {**os.environ, "CIVIC_ALERTS_DB": str(db), "CIVIC_ALERTS_PARSE_WORKERS": "1",
            "PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    full.pop("DISCORD_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=full, cwd=str(PROJECT_ROOT),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    CAPTURED.append((f"cli {args[:2]}", out.decode() + err.decode()))
    return proc.returncode or 0, out.decode(), err.decode()
