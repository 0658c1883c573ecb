"""bot/lang.py: the words of a language come from config/lang/<code>.toml."""

from __future__ import annotations

import pickle
import shutil
import tomllib
from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.lang import (
    REPO_CONFIG_DIR,
    default_language,
    is_language_code,
    language_file,
    load_language,
    primary_language,
)
from bot.relevance import load_classifier
from bot.relevance.frames import Frames

EN = REPO_CONFIG_DIR / "lang" / "en.toml"


def _config_with_en(tmp_path: Path, old: str, new: str) -> Path:
    """A config dir whose lang/en.toml is the repo's with one edit (nothing else in it)."""
    (tmp_path / "lang").mkdir()
    text = EN.read_text(encoding="utf-8")
    assert old in text
    (tmp_path / "lang" / "en.toml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


def test_english_lists_come_from_the_repo_file() -> None:
    data = tomllib.loads(EN.read_text(encoding="utf-8"))
    en = load_language(None, "en")
    assert en.code == "en"
    assert en.function_words == frozenset(data["places"]["function_words"])
    assert en.negators == frozenset(data["topics"]["negators"])
    assert en.stop_words == frozenset(data["stories"]["stop_words"])
    assert [p.pattern for p in en.boilerplate] == data["text"]["boilerplate"]
    assert en.frames["cmp_after"] == tuple(data["frames"]["cmp_after"])
    assert default_language().code == "en"


def test_edited_language_file_changes_classification(tmp_path: Path) -> None:
    title = "Aldermen cite arrests near a school in Los Angeles last spring"
    stock = load_classifier()
    assert "los-angeles-ca" not in stock.classify(title, "", default_city="chicago-il").cities
    # without "last spring" as an earlier-event phrase, Los Angeles is where the story is
    cfg = _config_with_en(tmp_path, '"last spring", ', "")
    edited = load_classifier(cfg)
    assert edited.lang.frames["cmp_after"] != stock.lang.frames["cmp_after"]
    assert "los-angeles-ca" in edited.classify(title, "", default_city="chicago-il").cities


def test_edited_negators_change_topic_rules(tmp_path: Path) -> None:
    cfg = _config_with_en(tmp_path, 'negators = [', 'negators = [\n    "nunca", ')
    assert "nunca" in load_classifier(cfg).rules.negators
    assert "nunca" not in load_classifier().rules.negators


def test_config_dir_without_lang_falls_back_to_the_repo(tmp_path: Path) -> None:
    assert language_file(tmp_path, "en") == EN
    assert load_language(tmp_path, "en") == load_language(None, "en")


def test_frames_overrides_are_checked_against_the_language() -> None:
    en = load_language(None, "en")
    fr = Frames.from_config({"team_names": ["Bears"]}, en)
    assert "Bears" in fr.team_names and "judge" in fr.court_nouns
    with pytest.raises(ConfigError, match="nope"):
        Frames.from_config({"nope": ["x"]}, en)


def test_bad_language_files_name_the_problem(tmp_path: Path) -> None:
    cfg = _config_with_en(tmp_path, 'negators = [', 'negatorz = [')
    with pytest.raises(ConfigError, match=r"\[topics\] negators is missing"):
        load_language(cfg, "en")
    with pytest.raises(ConfigError, match="language code"):
        load_language(None, "../en")
    with pytest.raises(ConfigError, match="not found"):
        load_language(None, "zz")


def test_a_second_language_is_just_a_file(tmp_path: Path) -> None:
    (tmp_path / "lang").mkdir()
    shutil.copy(EN, tmp_path / "lang" / "es.toml")
    text = (tmp_path / "lang" / "es.toml").read_text(encoding="utf-8")
    (tmp_path / "lang" / "es.toml").write_text(text.replace('code = "en"', 'code = "es"'))
    es = load_language(tmp_path, "es")
    assert es.code == "es" and es.function_words == load_language(None, "en").function_words


def test_language_pickles_for_worker_processes() -> None:
    en = load_language(None, "en")
    again = pickle.loads(pickle.dumps(en))
    assert again == en and again.boilerplate[0].pattern == en.boilerplate[0].pattern


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("en-US", "en"), ("EN", "en"), ("es_419", "es"), ("haw", "haw"), ("", None),
     ("English", None), (None, None), (3, None)],
)  # fmt: skip
def test_primary_language(tag: object, expected: str | None) -> None:
    assert primary_language(tag) == expected


def test_is_language_code() -> None:
    assert is_language_code("en") and is_language_code("haw")
    assert not is_language_code("en-US") and not is_language_code("EN") and not is_language_code(1)
