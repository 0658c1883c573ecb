"""The classifier: topics (topics.py) + places (gazetteer.py, places.py) → Match.

The words it needs come from the language file (config/lang/en.toml, bot/lang.py).

``classify_stream`` backs ``civic-alerts classify``: JSON Lines in, one JSON line out per
input line, in order; a bad line gets ``{"id": ..., "error": ...}`` and never stops the stream.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, TextIO

from bot.lang import REPO_CONFIG_DIR, Language, default_language, load_language
from bot.models import Match
from bot.relevance.gazetteer import Gazetteer, load_places_config
from bot.relevance.places import PlaceFinder, tokens_for
from bot.relevance.topics import TopicCatalog, TopicRules, load_topic_rules
from bot.text import strip_source_suffix as _strip_suffix

DEFAULT_CONFIG_DIR = REPO_CONFIG_DIR
MAX_SUMMARY_CHARS = 4000


def strip_source_suffix(title: str) -> str:
    """Drop a trailing " - Outlet Name" (Google News titles): the outlet is not the place."""
    return _strip_suffix(title, guess=True)


class Classifier:
    """Decides which topics and cities an item is about, with the evidence ("why")."""

    def __init__(
        self, rules: TopicRules, gazetteer: Gazetteer, lang: Language | None = None
    ) -> None:
        self.rules = rules
        self.gazetteer = gazetteer
        self.lang = lang or default_language()
        self._places = PlaceFinder(gazetteer, self.lang)

    @property
    def topic_ids(self) -> tuple[str, ...]:
        return self.rules.ids

    @property
    def topics(self) -> TopicCatalog:
        """The topics this classifier assigns: ids, labels, order (from topics.toml)."""
        return self.rules.catalog

    def classify(self, title: str, summary: str, *, default_city: str | None = None) -> Match:
        title = strip_source_suffix(title or "")
        summary = (summary or "")[:MAX_SUMMARY_CHARS]
        toks, title_end = tokens_for(title, summary)
        why: list[str] = []
        topics: list[str] = []
        for tid, evidence in self.rules.evaluate(toks):
            topics.append(tid)
            why.append(f"topic:{tid} ← " + " + ".join(f'"{e}"' for e in evidence))
        default = None
        if default_city and isinstance(default_city, str):
            city = self.gazetteer.get(default_city) or self.gazetteer.resolve(default_city)
            default = city.id if city else None
        cities: list[str] = []
        for place in self._places.find(toks, title_end, default):
            cities.append(place.city)
            why.append(f"city:{place.city} ← {place.evidence}")
        return Match(topics=tuple(topics), cities=tuple(cities), why=tuple(why))


_CACHE: dict[Path, Classifier] = {}
_LOCK = threading.Lock()


def _config_file(config_dir: Path, name: str) -> Path:
    p = config_dir / name
    return p if p.exists() else DEFAULT_CONFIG_DIR / name


def load_classifier(config_dir: Path | None = None) -> Classifier:
    """The classifier for a config dir (cached). Default: $CIVIC_ALERTS_CONFIG_DIR or <repo>/config.

    A config dir without topics.toml / cities.toml / lang/en.toml falls back to the repo's
    own files.
    """
    if config_dir is None:
        env = os.environ.get("CIVIC_ALERTS_CONFIG_DIR")
        config_dir = Path(env) if env else DEFAULT_CONFIG_DIR
    key = Path(config_dir).resolve()
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        lang = load_language(key, "en")
        rules = load_topic_rules(_config_file(key, "topics.toml"), lang)
        gaz = _load_gazetteer(_config_file(key, "cities.toml"))
        clf = Classifier(rules, gaz, lang)
        _CACHE[key] = clf
        return clf


_GAZ_CACHE: dict[tuple[Path, float], Gazetteer] = {}


def _load_gazetteer(path: Path) -> Gazetteer:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    k = (path.resolve(), mtime)
    gaz = _GAZ_CACHE.get(k)
    if gaz is None:
        gaz = _GAZ_CACHE[k] = Gazetteer(load_places_config(path))
    return gaz


def _text_field(obj: dict[str, Any], name: str) -> str:
    v = obj.get(name)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ValueError(f"{name} must be a string")
    return v


def classify_stream(inp: TextIO, out: TextIO, classifier: Classifier) -> int:
    """JSON Lines {"id", "title", "summary"} → {"id", "topics", "cities", "why"}; returns count."""
    count = 0
    for line in inp:
        count += 1
        item_id: Any = None
        try:
            text = line.strip()
            if not text:
                raise ValueError("empty line")
            try:
                obj = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ValueError(f"invalid JSON: {exc}") from None
            if not isinstance(obj, dict):
                raise ValueError("expected a JSON object")
            item_id = obj.get("id")
            if isinstance(item_id, (dict, list)):
                item_id = None
                raise ValueError("id must be a string, number or null")
            title = _text_field(obj, "title")
            summary = _text_field(obj, "summary")
            if not title and not summary:
                raise ValueError("no title or summary")
            m = classifier.classify(title, summary)
            result: dict[str, Any] = {
                "id": item_id,
                "topics": list(m.topics),
                "cities": list(m.cities),
                "why": list(m.why),
            }
        except Exception as exc:
            result = {"id": item_id, "error": str(exc)[:300] or type(exc).__name__}
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    return count
