"""The CLI as a user runs it: a real `python -m bot` process against a loopback feed server."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingest.parse import parse_feed
from tests.conftest import PROJECT_ROOT
from tests.feedserver import FeedServer

HOSTILE_QUERIES = [
    "ICE AND", "o'hare", "C++", "-ice", '"unbalanced', "NEAR(ice chicago)", "ice OR", "NOT", "*", "^ice",
    "title:ice", "ice:", "(", ")", "ice)(", "🚨🚨", "", "   ", "AND OR NOT", "'; DROP TABLE stories; --",
    "ice\x00guard", "x" * 2000, "ice -chicago +guard", "ice*", "“curly quotes”", "Little Village's raid",
    "{ice}", "[guard]", "ice\\", "%_%",
]


def write_feeds(path: Path, urls: list[tuple[str, str | None]]) -> Path:
    lines = []
    for url, city in urls:
        lines.append("[[feeds]]")
        lines.append(f'url = "{url}"')
        if city:
            lines.append(f'city = "{city}"')
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


async def run_cli(*args: str, db: Path, timeout: float = 120) -> tuple[int, str, str]:
    env = {**os.environ, "CIVIC_ALERTS_DB": str(db), "CIVIC_ALERTS_PARSE_WORKERS": "2"}
    env.pop("DISCORD_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=str(PROJECT_ROOT),
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(), err.decode()


def article_count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM articles").fetchone()[0]


async def test_poll_all_real_feeds_stores_every_item_and_second_run_is_silent(
    real_feeds_dir: Path, tmp_path: Path
) -> None:
    files = sorted(p for p in real_feeds_dir.glob("*.xml"))
    assert len(files) == 30
    db = tmp_path / "db.sqlite3"
    async with FeedServer() as server:
        feeds = write_feeds(tmp_path / "feeds.toml", [(server.url(f"/real/{p.name}"), None) for p in files])
        code, out, err = await run_cli("poll", "--once", "--json", "--all", "--feeds", str(feeds), db=db)
        assert code == 0, err
        assert "Traceback" not in err
        lines = [json.loads(line) for line in out.splitlines()]
        assert lines, "the first run prints the new stories"
        for line in lines:
            assert set(line) == {"id", "title", "url", "source", "outlets", "published", "topics", "cities", "summary"}
            assert line["published"].endswith("Z")
        # Every item feedparser can read is stored (exact duplicates collapse to one identity).
        expected: set[str] = set()
        for path in files:
            parsed = parse_feed(path.read_bytes(), feed_url=server.url(f"/real/{path.name}"))
            expected.update(a.identity for a in parsed.articles)
        with sqlite3.connect(db) as conn:
            stored = {row[0] for row in conn.execute("SELECT identity FROM articles")}
        assert expected <= stored
        assert len(stored) == len(expected)
        before = article_count(db)

        code, out2, err2 = await run_cli("poll", "--once", "--json", "--all", "--feeds", str(feeds), db=db)
        assert code == 0, err2
        assert out2 == ""
        assert article_count(db) == before


async def test_poll_second_run_stores_nothing_even_without_http_caching(tmp_path: Path) -> None:
    """Same body served again without ETag/Last-Modified: dedup is by identity, not by HTTP."""
    db = tmp_path / "db.sqlite3"
    now = datetime.now(UTC)
    items = [
        {"title": f"ICE agents detain {n} people in Pilsen, witnesses say", "link": f"https://suntimes.test/a{n}",
         "guid": f"a{n}", "description": "Federal immigration agents detained residents in Chicago's Pilsen.",
         "pubDate": now - timedelta(minutes=n)}
        for n in range(3, 6)
    ]
    async with FeedServer() as server:
        url = server.set_feed("/dyn/local.xml", items=items, title="Sun-Times")
        feeds = write_feeds(tmp_path / "feeds.toml", [(url, "chicago-il")])
        code, out, _ = await run_cli("poll", "--once", "--json", "--feeds", str(feeds), db=db)
        assert code == 0
        assert len(out.splitlines()) == 3
        with sqlite3.connect(db) as conn:  # forget the validators and the body hash
            conn.execute("UPDATE feeds SET etag = NULL, last_modified = NULL, body_hash = NULL")
        code, out, _ = await run_cli("poll", "--once", "--json", "--feeds", str(feeds), db=db)
        assert code == 0
        assert out == ""
        assert article_count(db) == 3


async def test_same_story_from_three_feeds_is_one_story_with_every_outlet(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    now = datetime.now(UTC)
    publisher = {
        "title": "Federal agents arrest 14 in Little Village raid as neighbors protest",
        "link": "https://chicago.suntimes.test/immigration/2026/11/25/little-village-raid?utm_source=rss&utm_medium=feed",
        "guid": "st-1",
        "description": "Immigration agents arrested 14 people in Chicago's Little Village on Tuesday.",
        "pubDate": now - timedelta(hours=2),
    }
    syndicated = {
        "title": "Federal agents arrest 14 in Little Village raid as neighbors protest, officials say",
        "link": "https://wbez.test/news/little-village-raid-arrests",
        "guid": "wbez-1",
        "description": "A syndicated copy: immigration agents arrested 14 people in Chicago.",
        "pubDate": now - timedelta(hours=1, minutes=30),
    }
    google = {
        "title": "Federal agents arrest 14 in Little Village raid as neighbors protest - Chicago Sun-Times",
        "link": "https://news.google.com/rss/articles/CBMiV2h0dHBzOi8vZXhhbXBsZQ?oc=5",
        "guid": "CBMiV2h0dHBzOi8vZXhhbXBsZQ",
        "description": "<ol><li>Federal agents arrest 14 in Little Village raid</li></ol>",
        "pubDate": now - timedelta(hours=1),
        "source": "Chicago Sun-Times",
        "source_url": "https://chicago.suntimes.test",
    }
    lookalike = {
        "title": "Federal agents arrest 14 in Cicero raid as neighbors protest",
        "link": "https://cicero.test/news/raid",
        "guid": "cic-1",
        "description": "Immigration agents arrested 14 people in Cicero, Illinois.",
        "pubDate": now - timedelta(minutes=50),
    }
    async with FeedServer() as server:
        urls = [
            (server.set_feed("/dyn/suntimes.xml", items=[publisher], title="Chicago Sun-Times"), "chicago-il"),
            (server.set_feed("/dyn/wbez.xml", items=[syndicated], title="WBEZ"), "chicago-il"),
            (server.set_feed("/dyn/gnews.xml", items=[google], title='"Little Village" - Google News'), None),
            (server.set_feed("/dyn/cicero.xml", items=[lookalike], title="Cicero Independiente"), None),
        ]
        feeds = write_feeds(tmp_path / "feeds.toml", urls)
        code, out, err = await run_cli("poll", "--once", "--json", "--feeds", str(feeds), db=db)
    assert code == 0, err
    stories = [json.loads(line) for line in out.splitlines()]
    raid = [s for s in stories if "Little Village" in s["title"]]
    assert len(raid) == 1, stories
    story = raid[0]
    assert story["url"] == "https://chicago.suntimes.test/immigration/2026/11/25/little-village-raid"
    assert set(story["outlets"]) == {"Chicago Sun-Times", "WBEZ"}, story["outlets"]
    assert "immigration-enforcement" in story["topics"]
    assert "chicago-il" in story["cities"]
    cicero = [s for s in stories if "Cicero" in s["title"]]
    assert len(cicero) == 1 and cicero[0]["id"] != story["id"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 4


async def test_search_answers_hostile_queries_and_finds_by_two_headline_words(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    now = datetime.now(UTC)
    items = [
        {"title": "Texas National Guard troops arrive at Elwood training center", "link": "https://x.test/guard",
         "guid": "g1", "description": "Federalized troops arrived near Chicago on Tuesday.", "pubDate": now},
        {"title": "Aldermen debate welcoming city ordinance amendments", "link": "https://x.test/sanctuary",
         "guid": "g2", "description": "Chicago's Welcoming City Ordinance faced new amendments.", "pubDate": now},
    ]
    async with FeedServer() as server:
        feeds = write_feeds(tmp_path / "feeds.toml", [(server.set_feed("/dyn/x.xml", items=items), "chicago-il")])
        code, _, err = await run_cli("poll", "--once", "--feeds", str(feeds), db=db)
        assert code == 0, err
    code, out, err = await run_cli("search", "Elwood troops", "--json", db=db)
    assert code == 0, err
    hits = [json.loads(line) for line in out.splitlines()]
    assert hits and hits[0]["title"].startswith("Texas National Guard troops")
    assert set(hits[0]) == {"id", "title", "url", "source", "published", "snippet"}
    code, out, err = await run_cli("search", "welcoming ordinance", "--city", "Chicago, IL", "--topic", "sanctuary-policy", db=db)
    assert code == 0, err
    assert "welcoming city ordinance" in out.lower()
    failures = []
    for query in HOSTILE_QUERIES:
        code, out, err = await run_cli("search", query.replace("\x00", " "), db=db)
        if code != 0 or "Traceback" in err:
            failures.append((query[:30], code, err[-200:]))
    assert failures == []
    assert len(HOSTILE_QUERIES) >= 30


async def test_bad_usage_and_config_exit_2_with_a_reason(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    bad = tmp_path / "bad.toml"
    bad.write_text('[[feeds]]\nurl = "ftp://example.test/feed"\n', encoding="utf-8")
    code, _, err = await run_cli("poll", "--once", "--feeds", str(bad), db=db)
    assert code == 2
    assert "feeds entry #1" in err and "http(s)" in err and "Traceback" not in err
    code, _, err = await run_cli("search", "ice", "--city", "Atlantis, ZZ", db=db)
    assert code == 2 and "unknown city" in err
    code, _, err = await run_cli("search", "ice", "--limit", "0", db=db)
    assert code == 2 and "--limit" in err


async def test_db_prune_and_backup(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    old = datetime.now(UTC) - timedelta(days=40)
    items = [{"title": "Old ICE story from Broadview", "link": "https://x.test/old", "guid": "o1",
              "description": "Agents at Broadview.", "pubDate": old}]
    async with FeedServer() as server:
        feeds = write_feeds(tmp_path / "feeds.toml", [(server.set_feed("/dyn/old.xml", items=items), None)])
        assert (await run_cli("poll", "--once", "--feeds", str(feeds), db=db))[0] == 0
    code, out, _ = await run_cli("db", "backup", str(tmp_path / "copy.sqlite3"), db=db)
    assert code == 0 and (tmp_path / "copy.sqlite3").exists()
    assert article_count(tmp_path / "copy.sqlite3") == 1
    code, out, _ = await run_cli("db", "prune", "--older-than", "30", db=db)
    assert code == 0 and "removed 1" in out
    assert article_count(db) == 0
    code, out, _ = await run_cli("db", "check", db=db)
    assert code == 0 and out.strip() == "ok"


async def test_feeds_check_prints_a_health_table(tmp_path: Path) -> None:
    async with FeedServer() as server:
        good = server.set_feed("/dyn/ok.xml", items=[{"title": "Hello", "link": "https://x.test/1", "guid": "1"}])
        feeds = write_feeds(tmp_path / "feeds.toml", [(good, None), (server.url("/hostile/status/404"), None)])
        code, out, err = await run_cli("feeds", "check", "--feeds", str(feeds), db=tmp_path / "db.sqlite3")
    assert code == 0, err
    assert "STATUS" in out and "ITEMS" in out
    assert "[2/2]" in err  # progress while it runs
    assert "1 healthy, 1 failing" in err
    rows = [line for line in out.splitlines() if "/dyn/ok.xml" in line]
    assert rows and rows[0].split()[0] == "200" and rows[0].split()[1] == "1"


@pytest.mark.parametrize("argv", [["--help"], ["poll", "--help"], ["search", "--help"]])
async def test_help_text(argv: list[str], tmp_path: Path) -> None:
    code, out, _ = await run_cli(*argv, db=tmp_path / "db.sqlite3")
    assert code == 0 and "usage: civic-alerts" in out
