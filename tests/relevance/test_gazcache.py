"""The gazetteer's disk cache (bot/relevance/gazcache.py): same gazetteer, new entry on any
change of its inputs, a broken entry rebuilt."""

from __future__ import annotations

from pathlib import Path

from bot.lang import REPO_CONFIG_DIR
from bot.relevance.classify import Classifier
from bot.relevance.gazcache import cache_key, load_or_build
from bot.relevance.gazetteer import Gazetteer, load_places_config
from bot.relevance.topics import load_topic_rules

CITIES = REPO_CONFIG_DIR / "cities.toml"


def _build(path: Path) -> Gazetteer:
    return Gazetteer(load_places_config(path))


def test_second_load_comes_from_the_file_and_classifies_the_same(tmp_path: Path) -> None:
    builds: list[int] = []

    def build() -> Gazetteer:
        builds.append(1)
        return _build(CITIES)

    fresh = load_or_build(CITIES, build, tmp_path)
    entries = list(tmp_path.glob("gazetteer-*.pickle"))
    assert len(entries) == 1
    cached = load_or_build(CITIES, build, tmp_path)
    assert builds == [1]  # the second one was read, not built
    assert cached is not fresh
    assert [c.id for c in cached.cities] == [c.id for c in fresh.cities]
    assert cached._core == fresh._core
    assert sorted(cached.world.keys()) == sorted(fresh.world.keys())
    rules = load_topic_rules(REPO_CONFIG_DIR / "topics.toml", None)
    a, b = Classifier(rules, fresh), Classifier(rules, cached)
    for title, summary in [
        ("ICE agents detain workers outside a Home Depot in Cicero", "Witnesses in Cicero said."),
        ("National Guard troops deployed to Portland as protests grow", ""),
        ("Evanston council passes welcoming city ordinance", "The Evanston city council voted."),
        ("Deportation flights to Venezuela resume", "Flights left from Texas on Monday."),
    ]:
        assert a.classify(title, summary) == b.classify(title, summary)


def test_a_changed_config_file_is_a_new_entry(tmp_path: Path) -> None:
    copy = tmp_path / "cities.toml"
    copy.write_bytes(CITIES.read_bytes())
    before = cache_key(copy)
    assert before == cache_key(CITIES)  # content, not the path, decides
    copy.write_bytes(CITIES.read_bytes() + b"\n# changed\n")
    assert cache_key(copy) != before


def test_a_broken_entry_is_rebuilt(tmp_path: Path) -> None:
    load_or_build(CITIES, lambda: _build(CITIES), tmp_path)
    (entry,) = tmp_path.glob("gazetteer-*.pickle")
    entry.write_bytes(b"not a pickle")
    builds: list[int] = []

    def build() -> Gazetteer:
        builds.append(1)
        return _build(CITIES)

    again = load_or_build(CITIES, build, tmp_path)
    assert builds == [1]
    assert again.get("chicago-il") is not None
    assert load_or_build(CITIES, build, tmp_path).get("chicago-il") is not None
    assert builds == [1]  # the rebuilt entry replaced the broken one
