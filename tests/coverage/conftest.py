"""Coverage tests: a config/coverage.toml written per test, pointing Google News at loopback."""

from __future__ import annotations

from pathlib import Path

from tests.feedserver import feed_server  # noqa: F401


def write_coverage(
    path: Path,
    base_url: str,
    *,
    interval: int = 1800,
    grace_days: float = 7,
    budget_host: str = "127.0.0.1",
    requests: int = 30,
    per_seconds: float = 60,
    languages: tuple[str, ...] = ("en", "es"),
) -> Path:
    params = {"en": "hl=en-US&gl=US&ceid=US:en", "es": "hl=es-419&gl=US&ceid=US:es-419"}
    queries = {
        "en": "'{place} (ICE OR immigration OR deportation)'",
        "es": "'{place} (ICE OR inmigración OR deportación)'",
    }
    lines = [
        "[google_news]",
        f'base_url = "{base_url}"',
        f"interval = {interval}",
        f"grace_days = {grace_days}",
        "max_neighbourhoods = 2",
    ]
    for code in languages:
        lines += ["[[google_news.language]]", f'code = "{code}"', f'params = "{params[code]}"', f"queries = [{queries[code]}]"]
    lines += ["[[budget]]", f'host = "{budget_host}"', f"requests = {requests}", f"per_seconds = {per_seconds}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
