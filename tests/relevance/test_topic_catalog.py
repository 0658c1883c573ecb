"""bot.relevance's TopicCatalog: the one registry of topic ids, labels and order (topics.toml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.relevance import ALL_TOPICS, load_classifier, load_topics

ONE_TOPIC = '[[topic]]\nid = "{id}"\nlabel = "Things"\nstrong = ["thing"]\n'


def test_catalog_follows_topics_toml_and_matches_the_classifier() -> None:
    catalog = load_topics()
    assert catalog.ids == load_classifier().topic_ids == load_classifier().topics.ids
    assert catalog.label("national-guard") == "National Guard / troops"
    assert catalog.label(ALL_TOPICS) == "All topics"
    assert catalog.label("retired-topic") == "Retired topic"  # an id the config no longer has
    assert catalog.resolve("Sanctuary Policy") == catalog.resolve("sanctuary-policy") == "sanctuary-policy"
    assert catalog.resolve("nope") is None
    assert [t.id for t in catalog.suggest("guard")] == ["national-guard"]
    assert len(catalog.suggest("", limit=2)) == 2 and catalog.suggest("", limit=-1) == []


@pytest.mark.parametrize("reserved", ["*", "all"])
def test_wildcard_ids_are_reserved(tmp_path: Path, reserved: str) -> None:
    (tmp_path / "topics.toml").write_text(ONE_TOPIC.format(id=reserved), encoding="utf-8")
    with pytest.raises(ConfigError, match="reserved"):
        load_topics(tmp_path)


def test_a_config_dir_without_topics_toml_uses_the_repos(tmp_path: Path) -> None:
    assert load_topics(tmp_path) == load_topics()
