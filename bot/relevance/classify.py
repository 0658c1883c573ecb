"""The classifier: topics (topics.py) + places (gazetteer.py, places.py) → Match.

The words it needs come from the language file (config/lang/en.toml, bot/lang.py).

Items in Spanish (issue 13) are read by a second classifier of the same class, built on first
use from config/lang/es.toml: its word lists, its topic rules (same topic ids, the syntax of
topics.toml) and cities.toml's places plus the Spanish names of places (La Villita, Nueva
York, Pequeña Habana). An item's language is the feed's declared one, else detected
(bot/relevance/detect.py); ``Match.lang`` says which rules read it.

``classify_stream`` backs ``civic-alerts classify``: JSON Lines in, one JSON line out per
input line, in order; a bad line gets ``{"id": ..., "error": ...}`` and never stops the stream.
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
from pathlib import Path
from typing import Any, TextIO

from bot.errors import ConfigError
from bot.lang import (
    REPO_CONFIG_DIR,
    Language,
    default_language,
    language_file,
    load_language,
    primary_language,
)
from bot.models import Match
from bot.relevance.detect import SUPPORTED, detect_from_words
from bot.relevance.gazcache import load_or_build
from bot.relevance.gazetteer import STATE_NAMES, Gazetteer, load_places_config, parse_aliases
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
        self,
        rules: TopicRules,
        gazetteer: Gazetteer,
        lang: Language | None = None,
        *,
        config_dir: Path | None = None,
    ) -> None:
        self.rules = rules
        self.gazetteer = gazetteer
        self.lang = lang or default_language()
        # other languages' classifiers, built on first use (None: no rules for it)
        self._config_dir = config_dir
        self._others: dict[str, Classifier | None] = {}
        self._others_lock = threading.Lock()
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

    def for_language(self, code: str) -> Classifier | None:
        """The classifier reading ``code`` (this one for its own language); None without rules.

        Another language's classifier is built once, on the first item in it, from
        config/lang/<code>.toml: its words, its ``[[topic]]`` rules and its place names.
        """
        if code == self.lang.code:
            return self
        if code not in SUPPORTED:
            return None
        with self._others_lock:
            if code not in self._others:
                self._others[code] = _other_language(self, code)
            return self._others[code]

    def classify(
        self,
        title: str,
        summary: str,
        *,
        default_city: str | None = None,
        lang: str | None = None,
    ) -> Match:
        """Topics, cities and why for one item, read in ``lang`` (detected when None).

        A language without rules of its own (French, say) is read with this classifier's
        rules, as every item was before issue 13; ``Match.lang`` still says the language.
        """
        title = strip_source_suffix(title or "")
        summary = (summary or "")[:MAX_SUMMARY_CHARS]
        toks, title_end = tokens_for(title, summary)  # the same tokens in every language
        code = primary_language(lang) or detect_from_words(toks.lower, title, summary)
        clf = self.for_language(code) or self
        return clf._classify(toks, title_end, default_city, code)

    def _classify(
        self, toks: Tokens, title_end: int, default_city: str | None, code: str
    ) -> Match:
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
        found = self._places.find(toks, title_end, default, detail, on_topic=bool(topics))
        for place in found:
            cities.append(place.city)
            why.append(f"city:{place.city} ← {place.evidence}")
        if detail is not None:
            vetoed = self._us_frame(toks, framed, detail, found, why)
            if vetoed:
                topics = [t for t in topics if t not in vetoed]
                why = [w for w in why if not any(w.startswith(f"topic:{t} ") for t in vetoed)]
        return Match(topics=tuple(topics), cities=tuple(cities), why=tuple(why), lang=code)

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
        clf = Classifier(rules, gaz, lang, config_dir=key)
        _CACHE[key] = clf
        return clf


def _other_language(base: Classifier, code: str) -> Classifier | None:
    """A classifier for ``code`` from config/lang/<code>.toml; None when it has no rules.

    Its topic ids must be among the base classifier's (alerts, subscriptions and labels are
    keyed by them), else None; places are the base gazetteer's config plus the file's ``[[alias]]`` names,
    ``[world_aliases]`` and ``[gazetteer] not_places``.
    """
    path = language_file(base._config_dir, code)
    if not path.exists():
        return None
    lang = load_language(base._config_dir, code)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if not data.get("topic"):
        return None
    rules = load_topic_rules(path, lang)
    if not set(rules.ids) <= set(base.rules.ids):
        # a deployment with topics of its own and no language file of its own: the repo's
        # Spanish rules name topics it does not have, so its items are read with its rules
        return None
    extra = data.get("gazetteer", {})
    world_aliases: dict[str, tuple[str, ...]] = {}
    for iso, names in data.get("world_aliases", {}).items():
        if not isinstance(names, list):
            raise ConfigError(f"{path}: [world_aliases] {iso} must be a list of names")
        world_aliases[str(iso)] = tuple(map(str, names))
    try:
        gazetteer = base.gazetteer.with_places(
            parse_aliases(data.get("alias", []), path),
            [str(x) for x in extra.get("not_places", [])],
            world_aliases,
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return Classifier(rules, gazetteer, lang, config_dir=base._config_dir)


_GAZ_CACHE: dict[tuple[Path, float], Gazetteer] = {}


def _load_gazetteer(path: Path) -> Gazetteer:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    k = (path.resolve(), mtime)
    gaz = _GAZ_CACHE.get(k)
    if gaz is None:
        # built once per user and config on disk (bot/relevance/gazcache.py): every spawned
        # parse worker and every CLI run used to spend about a second building it again
        gaz = _GAZ_CACHE[k] = load_or_build(path, lambda: Gazetteer(load_places_config(path)))
    return gaz


def _text_field(obj: dict[str, Any], name: str) -> str:
    v = obj.get(name)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise ValueError(f"{name} must be a string")
    return v


def classify_stream(inp: TextIO, out: TextIO, classifier: Classifier) -> int:
    """JSON Lines {"id", "title", "summary"[, "feed_city", "lang"]} → {"id", "topics",
    "cities", "why", "lang"}; returns the count.

    ``feed_city`` is the default city of the item's feed (a city id or name), so a local
    outlet's items are evaluated as they arrive; ``lang`` the feed's declared language
    (detected when absent).
    """
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
            feed_city = _text_field(obj, "feed_city") or None
            lang = _text_field(obj, "lang") or None
            m = classifier.classify(title, summary, default_city=feed_city, lang=lang)
            result: dict[str, Any] = {
                "id": item_id,
                "topics": list(m.topics),
                "cities": list(m.cities),
                "why": list(m.why),
                "lang": m.lang,
            }
        except Exception as exc:
            result = {"id": item_id, "error": str(exc)[:300] or type(exc).__name__}
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    return count
