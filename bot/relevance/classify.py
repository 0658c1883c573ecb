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
from bot.relevance.gazetteer import STATE_NAMES, Gazetteer, load_places_config
from bot.relevance.places import FoundPlace, PlaceDetail, PlaceFinder, tokens_for
from bot.relevance.text import Tokens, norm_key
from bot.relevance.topics import TopicCatalog, TopicRules, load_topic_rules
from bot.relevance.world import WorldFinder
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
        self._world = WorldFinder(
            gazetteer.world, self.lang, frozenset(norm_key(n) for n in STATE_NAMES.values())
        )

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
        hits = self.rules.evaluate(toks)
        for tid, evidence in hits:
            topics.append(tid)
            why.append(f"topic:{tid} ← " + " + ".join(f'"{e}"' for e in evidence))
        default = None
        if default_city and isinstance(default_city, str):
            city = self.gazetteer.get(default_city) or self.gazetteer.resolve(default_city)
            default = city.id if city else None
        framed = [t for t in topics if t in self.rules.needs_us_frame]
        detail = PlaceDetail() if framed else None
        cities: list[str] = []
        found = self._places.find(toks, title_end, default, detail)
        for place in found:
            cities.append(place.city)
            why.append(f"city:{place.city} ← {place.evidence}")
        if detail is not None:
            vetoed = self._us_frame(toks, framed, detail, found, why)
            if vetoed:
                topics = [t for t in topics if t not in vetoed]
                why = [w for w in why if not any(w.startswith(f"topic:{t} ") for t in vetoed)]
        return Match(topics=tuple(topics), cities=tuple(cities), why=tuple(why))

    def _us_frame(
        self,
        toks: Tokens,
        framed: list[str],
        detail: PlaceDetail,
        found: list[FoundPlace],
        why: list[str],
    ) -> set[str]:
        """The topics vetoed because the item is placed abroad without a US frame (issue 17).

        A US frame is a US city or state named in the text, or one of the topic's
        ``us_frame`` terms (a US agency, "deported from the U.S.", "Insurrection Act"). Adds
        a ``frame:`` line to ``why`` for every topic the check kept or vetoed.
        """
        abroad = self._world.find(toks, detail.spans)
        if not abroad:
            return set()
        where = _clip(abroad[0].surface)
        us_place: str | None = None
        named = set(detail.cities)
        for p in found:
            if p.city in named and not p.evidence.endswith("(metro)"):
                us_place = p.evidence
                break
        if us_place is None and detail.states:
            us_place = f'"{STATE_NAMES[sorted(detail.states)[0]]}"'
        terms = self.rules.us_frames(toks) if us_place is None else {}
        vetoed: set[str] = set()
        for tid in framed:
            frame = us_place or (f'"{_clip(terms[tid])}"' if tid in terms else None)
            if frame is None:
                vetoed.add(tid)
                why.append(f'frame:{tid} vetoed ← abroad "{where}", no US place, agency or policy')
            else:
                why.append(f'frame:{tid} kept ← US {_clip(frame, 40)} (abroad "{where}")')
        return vetoed


def _clip(text: str, n: int = 30) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


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
