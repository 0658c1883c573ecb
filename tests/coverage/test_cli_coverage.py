"""The acceptance through the CLI as a user runs it: a real `python -m bot` process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import run_cli


async def test_subscribing_portland_or_lists_managed_feeds_for_oregon_in_both_languages(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    code, _out, err = await run_cli("subscriptions", "add", "console", "--city", "portland-or", db=db)
    assert code == 0, err
    code, out, err = await run_cli("feeds", "coverage", "portland-or", "--json", db=db)
    assert code == 0, err
    view = json.loads(out)
    managed = [f for f in view["feeds"] if f["kind"] == "managed"]
    assert {f["lang"] for f in managed} == {"en", "es"}
    assert all(f["city"] == "portland-or" for f in managed)
    assert all("Portland%2C+Oregon" in f["url"] and "Maine" not in f["url"] for f in managed)
    assert view["subscribed"] is True and view["missing"] == []
    code, out, err = await run_cli("feeds", "list", "--json", db=db)
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["kind"] for r in rows} == {"managed"} and all(r["health"] == "never polled" for r in rows)
    # removing the only subscription starts the grace period (the feeds stay, marked)
    code, _out, err = await run_cli("subscriptions", "remove", "1", db=db)
    assert code == 0, err
    code, out, err = await run_cli("feeds", "list", "--json", db=db)
    assert all(json.loads(line)["needed_until"] for line in out.splitlines())


async def test_hostile_opml_import_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.opml"
    bad.write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><opml><body/></opml>')
    code, out, err = await run_cli("feeds", "import", str(bad), db=tmp_path / "db.sqlite3")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "OPML refused" in err
