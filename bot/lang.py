"""Language files: the words of one language (config/lang/<code>.toml) as a frozen record.

Why data: the relevance rules, story clustering and feed text cleaning need word lists
(function words, frame words, negators, stop words, boilerplate phrases). Kept in one file
per language, a second language is a new file (config/lang/es.toml) with the same keys, not
new code. ``bot/lang.py`` sits beside ``bot/text.py`` rather than under ``bot/relevance``
because ingest and stories use it too, and they come before relevance in the flow.

``load_language(config_dir, code)`` is cached per file (and its mtime); a config dir
without ``lang/<code>.toml`` falls back to the repo's own. ``default_language()`` is what
pure functions running in worker processes use (stories, ingest): loaded lazily, once per
process. A ``Language`` holds only frozensets, tuples, dicts and compiled patterns, so it
pickles.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

REPO_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
DEFAULT_LANGUAGE = "en"
_CODE = re.compile(r"^[a-z]{2,3}$")
_TAG = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9-_]*)?\s*$")


def primary_language(tag: object) -> str | None:
    """The primary subtag of a language tag, lower-case: "en-US" → "en", "es_419" → "es".

    None for anything that is not a tag ("", "English", None).
    """
    if not isinstance(tag, str):
        return None
    m = _TAG.match(tag)
    return m.group(1).lower() if m else None


def is_language_code(code: object) -> bool:
    """A short lower-case language code as config files write it: "en", "es", "haw"."""
    return isinstance(code, str) and bool(_CODE.match(code))


@dataclass(frozen=True, slots=True)
class Language:
    """The word lists of one language; see config/lang/en.toml for what each is for."""

    code: str
    # places (bot.relevance.places)
    function_words: frozenset[str]
    not_a_city_after: frozenset[str]  # original casing
    landmark_after: frozenset[str]  # original casing
    name_particles: frozenset[str]
    place_nouns: frozenset[str]
    list_conjunctions: frozenset[str]
    # clauses (bot.relevance.frames)
    abbreviations: frozenset[str]
    # topics (bot.relevance.topics)
    negators: frozenset[str]
    negation_stops: frozenset[str]
    # stories (bot.stories)
    stop_words: frozenset[str]
    generic_caps: frozenset[str]
    # feed text (bot.ingest.normalize)
    boilerplate: tuple[re.Pattern[str], ...]
    # incidental-place frames (bot.relevance.frames): key → words, in file order
    frames: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # places abroad (bot.relevance.world): key → words; demonyms: ISO code → adjectives
    world: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    demonyms: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    # "the village OF Dolton", "la ciudad DE Kenner": the word between a place noun and a name
    place_of: frozenset[str] = frozenset({"of"})
    # function words that tell this language from the others (bot/relevance/detect.py), folded
    markers: frozenset[str] = frozenset()


def _words(data: dict[str, Any], table: str, key: str, path: Path) -> list[str]:
    section = data.get(table)
    if not isinstance(section, dict) or key not in section:
        raise ConfigError(f"{path}: [{table}] {key} is missing")
    value = section[key]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{path}: [{table}] {key} must be a list of strings")
    return value


def _optional_words(data: dict[str, Any], table: str, key: str, path: Path) -> list[str]:
    if key not in data.get(table, {}):
        return []
    return _words(data, table, key, path)


def _parse(path: Path, code: str) -> Language:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: language file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    declared = data.get("code", code)
    if declared != code:
        raise ConfigError(f"{path}: declares code {declared!r}, expected {code!r}")

    def words(table: str, key: str) -> frozenset[str]:
        return frozenset(_words(data, table, key, path))

    patterns: list[re.Pattern[str]] = []
    for p in _words(data, "text", "boilerplate", path):
        try:
            patterns.append(re.compile(p, re.IGNORECASE | re.DOTALL))
        except re.error as exc:
            raise ConfigError(f"{path}: [text] boilerplate {p!r}: {exc}") from None
    raw_frames = data.get("frames")
    if not isinstance(raw_frames, dict):
        raise ConfigError(f"{path}: [frames] is missing")
    frames = {k: tuple(_words(data, "frames", k, path)) for k in raw_frames}
    # [world] is optional: a language without it finds no demonyms or destinations
    raw_world = data.get("world", {})
    if not isinstance(raw_world, dict):
        raise ConfigError(f"{path}: [world] must be a table")
    world = {
        k: tuple(_words(data, "world", k, path)) for k in raw_world if k != "demonyms"
    }
    raw_dem = raw_world.get("demonyms", {})
    if not isinstance(raw_dem, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in raw_dem.values()
    ):
        raise ConfigError(f"{path}: [world.demonyms] must map country codes to lists of words")
    demonyms = {str(k): tuple(v) for k, v in raw_dem.items()}
    return Language(
        code=code,
        function_words=words("places", "function_words"),
        not_a_city_after=words("places", "not_a_city_after"),
        landmark_after=words("places", "landmark_after"),
        name_particles=words("places", "name_particles"),
        place_nouns=words("places", "place_nouns"),
        list_conjunctions=words("places", "list_conjunctions"),
        abbreviations=words("clauses", "abbreviations"),
        negators=words("topics", "negators"),
        negation_stops=words("topics", "negation_stops"),
        stop_words=words("stories", "stop_words"),
        generic_caps=words("stories", "generic_caps"),
        boilerplate=tuple(patterns),
        frames=frames,
        world=world,
        demonyms=demonyms,
        place_of=frozenset(data["places"].get("place_of", ["of"])),
        markers=frozenset(_optional_words(data, "detect", "markers", path)),
    )


_CACHE: dict[tuple[Path, float], Language] = {}
_LOCK = threading.Lock()


def language_file(config_dir: Path | None, code: str = DEFAULT_LANGUAGE) -> Path:
    """config_dir/lang/<code>.toml, or the repo's own when the config dir has none."""
    if not _CODE.match(code):
        raise ConfigError(f"language code {code!r}: expected two or three lower-case letters")
    name = Path("lang") / f"{code}.toml"
    if config_dir is not None:
        p = Path(config_dir) / name
        if p.exists():
            return p
    return REPO_CONFIG_DIR / name


def load_language(config_dir: Path | None = None, code: str = DEFAULT_LANGUAGE) -> Language:
    """The language ``code`` from ``config_dir`` (or the repo's config); cached per file."""
    path = language_file(config_dir, code).resolve()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    key = (path, mtime)
    with _LOCK:
        lang = _CACHE.get(key)
        if lang is None:
            lang = _CACHE[key] = _parse(path, code)
        return lang


_DEFAULT: Language | None = None


def default_language() -> Language:
    """English from $CIVIC_ALERTS_CONFIG_DIR (else the repo's config), loaded once per process.

    For pure functions that take no config (story clustering, feed text cleaning) and run in
    worker processes: each process loads the file on first use and keeps it.
    """
    global _DEFAULT
    if _DEFAULT is None:
        env = os.environ.get("CIVIC_ALERTS_CONFIG_DIR")
        _DEFAULT = load_language(Path(env) if env else None, DEFAULT_LANGUAGE)
    return _DEFAULT
