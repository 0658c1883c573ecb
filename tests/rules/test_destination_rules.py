"""Issue 14: rule keys in config/destinations.toml. Valid keys become the file-managed
subscription's rules (and leaving the file resets them); a bad key stops start-up with one line
naming the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import actions
from bot.app import make_destination
from bot.errors import ConfigError
from bot.relevance import load_classifier
from bot.settings import load_destinations
from bot.store import Store


def _write(tmp: Path, body: str) -> Path:
    path = tmp / "destinations.toml"
    path.write_text('[[destinations]]\nurl = "console"\ncity = "chicago-il"\n' + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('digest = "daily@25:00"\n', "25:00"),
        ('tz = "America/Chicgo"\n', "America/Chicago"),
        ("min_outlets = 0\n", "min outlets"),
        ('quiet = "22:00"\n', "quiet"),
        ("exclude = [1, 2]\n", "exclude"),
    ],
)
def test_a_bad_rule_key_is_one_line_naming_the_entry(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_destinations(_write(tmp_path, body))
    text = caught.value.user_message
    assert "destinations entry #1" in text and expected in text and "\n" not in text, text


async def test_rule_keys_become_the_subscriptions_rules_and_leaving_the_file_resets_them(tmp_path: Path) -> None:
    gazetteer = load_classifier().gazetteer
    store = await Store.open(tmp_path / "db.sqlite3")
    try:
        path = _write(tmp_path, 'exclude = ["Pilsen"]\nmin_outlets = 2\ndigest = "daily@08:00"\ntz = "America/Chicago"\n')
        await actions.sync_destinations(store, gazetteer, load_destinations(path), make_destination)
        (sub,) = await store.subscriptions(platform="console")
        assert sub.rules.min_outlets == 2 and sub.rules.tz == "America/Chicago"
        assert any("Pilsen" in line for line in sub.rules.describe()), sub.rules.describe()
        assert any("08:00" in line for line in sub.rules.describe()), sub.rules.describe()
        await actions.sync_destinations(store, gazetteer, load_destinations(_write(tmp_path, "")), make_destination)
        (sub,) = await store.subscriptions(platform="console")
        assert sub.rules.describe() == []
    finally:
        await store.close()
