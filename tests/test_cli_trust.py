"""Issue 16 items 6 and 7: search people can use, configuration and files that do not surprise.

The CLI runs in-process (`bot.cli.main`) against a real SQLite file filled through the real
store and assembler.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import Store
from tests.store.helpers import CHI, IMM, Clock, article, match, save

Captured = pytest.CaptureFixture[str]


def _fill(db: Path) -> None:
    async def go() -> None:
        store = await Store.open(db, clock=Clock())
        try:
            water = [
                article(f"Ice storm {n}: ice on ice", source="Weather Desk", hours_ago=2)
                for n in range(3)
            ]
            for n, item in enumerate(water):
                await save(store, f"https://weather.example/{n}", [(item, match(topics=(), cities=(CHI,)))])
            agency = article("ICE agents detain two in Pilsen", source="WBEZ", hours_ago=30)
            await save(store, "https://wbez.example/feed", [(agency, match())])
            deported = dataclasses.replace(
                article("Chicago man deported after check-in", source="Tribune", hours_ago=5),
            )
            await save(store, "https://trib.example/feed", [(deported, match())])
        finally:
            await store.close()

    asyncio.run(go())


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "db.sqlite3"
    monkeypatch.setenv("CIVIC_ALERTS_DB", str(path))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    return path


def _titles(out: str) -> list[str]:
    return [line.split(". ", 1)[1].split(" — ")[0] for line in out.splitlines() if line[:1].isdigit()]


def test_search_ice_ranks_the_topic_above_frozen_water(db: Path, capsys: Captured) -> None:
    """Before: three frozen-lake stories first. After: the agency's story first."""
    _fill(db)
    assert main(["search", "ICE"]) == 0
    titles = _titles(capsys.readouterr().out)
    assert titles[0] == "ICE agents detain two in Pilsen", titles
    assert len(titles) == 4


def test_search_finds_longer_forms_of_a_word(db: Path, capsys: Captured) -> None:
    """Before: `deport` found nothing (no stemming). After: it finds "deported"."""
    _fill(db)
    assert main(["search", "deport"]) == 0
    assert _titles(capsys.readouterr().out) == ["Chicago man deported after check-in"]


def test_search_says_when_it_fell_back_to_any_word(db: Path, capsys: Captured) -> None:
    """Before: any-word results with no word about it. After: one line on stderr says so."""
    _fill(db)
    assert main(["search", "Pilsen", "zebra"]) == 0
    captured = capsys.readouterr()
    assert _titles(captured.out) == ["ICE agents detain two in Pilsen"]
    assert "any of them" in captured.err
    assert main(["search", "ICE", "Pilsen"]) == 0
    assert "any of them" not in capsys.readouterr().err


def test_city_or_topic_without_words_lists_the_latest(db: Path, capsys: Captured) -> None:
    """Before: nothing printed ("no stories match"). After: the newest matching stories."""
    _fill(db)
    assert main(["search", "--city", "chicago-il"]) == 0
    assert _titles(capsys.readouterr().out) == ["Chicago man deported after check-in", "ICE agents detain two in Pilsen"]
    assert main(["search", "--topic", IMM, "--limit", "1"]) == 0
    assert _titles(capsys.readouterr().out) == ["Chicago man deported after check-in"]


def test_an_unknown_flag_is_a_usage_error(db: Path, capsys: Captured) -> None:
    """Before: `--cty` became two search words. After: exit 2 naming the flag."""
    with pytest.raises(SystemExit) as exc:
        main(["search", "ice", "--cty", "chicago-il"])
    assert exc.value.code == 2
    assert "--cty" in capsys.readouterr().err
    _fill(db)
    assert main(["search", "-ice"]) == 0  # a leading single dash is still a word


def test_read_only_commands_never_create_a_database(db: Path, capsys: Captured) -> None:
    """Before: `search`/`db check` created an empty database. After: no file; search is an
    empty result that says why (exit 0), `db check` has nothing to check (exit 1)."""
    assert main(["search", "ice"]) == 0
    err = capsys.readouterr().err
    assert "no stories match: no database at" in err and len(err.strip().splitlines()) == 1
    assert main(["db", "check"]) == 1
    assert not db.exists()


def test_backup_does_not_overwrite_without_force(db: Path, tmp_path: Path, capsys: Captured) -> None:
    """Before: an existing file was overwritten. After: refused unless --force."""
    _fill(db)
    target = tmp_path / "precious.sqlite3"
    target.write_bytes(b"an earlier backup")
    assert main(["db", "backup", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_bytes() == b"an earlier backup"
    assert main(["db", "backup", "--force", str(target)]) == 0
    assert target.read_bytes().startswith(b"SQLite format 3")


@pytest.mark.parametrize("days", ["nan", "inf", "-1"])
def test_prune_refuses_days_that_are_not_a_number(db: Path, days: str, capsys: Captured) -> None:
    """Before: `--older-than nan` ran. After: exit 2 with the reason."""
    _fill(db)
    assert main(["db", "prune", "--older-than", days]) == 2
    assert "--older-than" in capsys.readouterr().err


def test_an_unknown_feed_city_stops_start_up_with_suggestions(
    db: Path, tmp_path: Path, capsys: Captured
) -> None:
    """Before: `chicgo-il` was silently ignored. After: exit 2 suggesting chicago-il."""
    feeds = tmp_path / "feeds.toml"
    feeds.write_text('[[feeds]]\nurl = "http://127.0.0.1:9/feed.xml"\ncity = "chicgo-il"\n', encoding="utf-8")
    assert main(["poll", "--once", "--feeds", str(feeds)]) == 2
    err = capsys.readouterr().err
    assert "chicgo-il" in err and "chicago-il" in err
    assert main(["run", "--once", "--feeds", str(feeds)]) == 2
    assert "chicago-il" in capsys.readouterr().err


# --- item 5: say what happened -----------------------------------------------------------


def test_poll_summary_says_why_nothing_was_printed() -> None:
    """Before: stories older than 7 days gave no output at all. After: one summary line."""
    from datetime import UTC, datetime

    from bot.cli import poll_summary
    from bot.models import Story
    from bot.poller import CycleReport, FeedOutcome

    old = Story(id=1, title="t", url="u", source="s", outlets=("s",), published=datetime(2020, 1, 1, tzinfo=UTC),
                topics=(IMM,), cities=(CHI,), summary="")
    report = CycleReport(started=0.0, feeds=[FeedOutcome("https://a.example", None, 200),
                                             FeedOutcome("https://b.example", None, None, error="HTTP 500")])
    report.new_stories = [old, dataclasses.replace(old, id=2, topics=())]
    line = poll_summary(report, shown=0, off_topic=1, old=1, undated=0)
    assert line == (
        "civic-alerts: 2 new stories stored, 1 on a watched topic, 0 shown; not shown: 1 older than 7 days, "
        "1 on no watched topic (--all shows them); 1 of 2 feeds failed"
    )


def test_a_failing_feed_is_reported_once(db: Path, tmp_path: Path, capsys: Captured) -> None:
    """Before: a log warning and the CLI's own line (twice). After: one line."""
    feeds = tmp_path / "feeds.toml"
    feeds.write_text('[[feeds]]\nurl = "http://127.0.0.1:9/feed.xml"\n', encoding="utf-8")
    assert main(["poll", "--once", "--feeds", str(feeds)]) == 0
    err = capsys.readouterr().err
    assert err.count("127.0.0.1:9") == 1, err
    assert "1 of 1 feeds failed" in err


async def test_run_after_a_restart_says_when_the_next_poll_is_due(tmp_path: Path) -> None:
    """Before: silence until the first feed was due again. After: a line naming the time."""
    import time

    from bot.cli import next_poll_line
    from bot.models import FeedConfig

    store = await Store.open(tmp_path / "db.sqlite3")
    try:
        await store.sync_feeds([FeedConfig(url="https://a.example/rss"), FeedConfig(url="https://b.example/rss")])
        now = time.time()
        assert await next_poll_line(store, now) is None  # never polled: polling starts at once
        await store.record_fetch("https://a.example/rss", status=200, error=None, next_check=now + 600)
        await store.record_fetch("https://b.example/rss", status=200, error=None, next_check=now + 900)
        line = await next_poll_line(store, now)
        assert line is not None and "next poll due" in line and "(in 10 min)" in line
        await store.record_fetch("https://b.example/rss", status=200, error=None, next_check=now - 1)
        assert await next_poll_line(store, now) is None
    finally:
        await store.close()
