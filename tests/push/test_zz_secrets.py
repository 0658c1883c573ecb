"""Collected last in tests/push: no URL secret appears in any output any push test produced.

CAPTURED holds every push test's stdout, stderr and log records (at DEBUG, with their extra
fields) and every `python -m bot` process's output. Run alone, this module first produces some
output of its own — a failing send, a list and an error — so the search is never vacuous.
"""

from __future__ import annotations

from pathlib import Path

from tests.push.conftest import CAPTURED, JSON_PASSWORD, SECRETS, SIGNAL_FROM, SIGNAL_TO, run_cli


async def test_no_url_secret_appears_in_any_captured_output(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    for url in (f"json://user:{JSON_PASSWORD}@127.0.0.1:9/hook", f"signal://127.0.0.1:9/{SIGNAL_FROM}/{SIGNAL_TO}"):
        await run_cli("subscriptions", "add", url, "--city", "chicago-il", db=db)
    await run_cli("subscriptions", "test", "1", db=db)  # connection refused: an error line
    await run_cli("subscriptions", "list", db=db)
    await run_cli("status", db=db)
    texts = [text for _, text in CAPTURED]
    assert len(texts) >= 5
    found = [(name, secret) for name, text in CAPTURED for secret in SECRETS if secret in text]
    print(f"SECRET SEARCH: {len(CAPTURED)} captured outputs, {sum(map(len, texts))} characters, "
          f"{len(SECRETS)} secrets, {len(found)} hits")
    assert found == []
