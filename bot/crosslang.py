"""One story across languages (issue 13): a Spanish report joins the English story of the
same event, and the other way round.

Why names and numbers: no translation model runs offline, and the headline clustering of
bot/stories.py compares words, which two languages do not share. What they do share is what
is specific to one event: the names of people, places and businesses ("Brighton Park",
"Silverio Villegas González", "Home Depot de la avenida Pulaski") and its figures ("37
detenidos" / "37 arrested"). So a report may join a story in another language only when
both agree on a city and a topic, fall within the window, and share enough of those
specifics (``config/crosslang.toml``: ``min_score``; one point more when only one of the two
names a city the place finder could resolve). City and topic alone never join; names
that recur across many events of one city and topic (the operation, officials, agencies, the
facility everyone protests at, weekdays) are ``recurring`` and count for nothing.

The index is in memory, by city and by topic, like the headline index; a batch's additions
are taken back if its transaction rolls back; at start it is rebuilt from the store's recent
reports (``store.recent_reports``; a reloaded report carries its story's topics and cities).
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bot.errors import ConfigError
from bot.lang import REPO_CONFIG_DIR
from bot.models import Article, Match
from bot.relevance.gazetteer import STATE_NAMES
from bot.text import fold

_TOKEN = re.compile(
    r"(\d+(?:[.,]\d{3})*(?:[.,]\d+)?)(st|nd|rd|th|º|ª)?\b|([^\W\d_]+(?:[’'][^\W\d_]+)?)",
    re.UNICODE,
)


@dataclass(frozen=True, slots=True)
class NumberRoles:
    """Words that give a figure its role (config/crosslang.toml ``[roles]``; these defaults
    are its English and Spanish words, folded)."""

    age_after: frozenset[str] = frozenset({"anos", "year", "years"})
    street_before: frozenset[str] = frozenset({"calle", "avenida"})
    street_after: frozenset[str] = frozenset({"street", "st", "avenue", "ave", "calle"})
    time_before: frozenset[str] = frozenset({"las", "la"})
    time_after: frozenset[str] = frozenset({"a", "p", "am", "pm", "h"})

    def role(self, before: str, after: str, *, ordinal: bool = False) -> str:
        """ "age", "street", "time" or "n" (a count or any other figure). "26th Street" is a
        street, "12 street vendors" a count: after the figure, a street word needs an ordinal."""
        if after in self.age_after:
            return "age"
        if before in self.street_before or (ordinal and after in self.street_after):
            return "street"
        if before in self.time_before or after in self.time_after:
            return "time"
        return "n"


@dataclass(frozen=True, slots=True)
class CrossLangConfig:
    """config/crosslang.toml: the window, the score needed and the recurring names."""

    window: float = 36 * 3600.0
    min_score: float = 2.0
    recurring: frozenset[str] = frozenset()
    roles: NumberRoles = field(default_factory=NumberRoles)


def load_crosslang_config(config_dir: Path | None = None) -> CrossLangConfig:
    """config_dir/crosslang.toml, else the repo's (defaults when neither exists)."""
    path = Path(config_dir) / "crosslang.toml" if config_dir else None
    if path is None or not path.exists():
        path = REPO_CONFIG_DIR / "crosslang.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return CrossLangConfig()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    recurring = data.get("recurring", [])
    if not isinstance(recurring, list) or not all(isinstance(x, str) for x in recurring):
        raise ConfigError(f"{path}: recurring must be a list of strings")
    raw_roles = data.get("roles", {})
    if not isinstance(raw_roles, dict):
        raise ConfigError(f"{path}: [roles] must be a table")
    roles: dict[str, frozenset[str]] = {}
    for key, words in raw_roles.items():
        if key not in NumberRoles.__dataclass_fields__:
            raise ConfigError(f"{path}: [roles] unknown key {key!r}")
        if not isinstance(words, list) or not all(isinstance(x, str) for x in words):
            raise ConfigError(f"{path}: [roles] {key} must be a list of strings")
        roles[key] = frozenset(fold(x, ascii_only=True).lower() for x in words)
    try:
        return CrossLangConfig(
            window=float(data.get("window_hours", 36)) * 3600.0,
            min_score=float(data.get("min_score", 2.0)),
            recurring=frozenset(fold(x, ascii_only=True).lower() for x in recurring),
            roles=NumberRoles(**roles),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Specifics:
    """What identifies one event in any language: its names and its figures.

    A name is a run of capitalized words ("Silverio Villegas González", "Boyle Heights"), kept
    as its set of folded words so "Bovino" matches "Greg Bovino" and "Martínez" "Martinez".
    """

    names: tuple[frozenset[str], ...]
    numbers: frozenset[str]
    # words of the places the place finder read ("Pilsen", "Logan Square") and of states: a
    # name made only of them locates the event, which many events of one city share
    places: frozenset[str] = frozenset()


_PARTICLES = frozenset({"de", "del", "la", "las", "los", "el", "y", "of", "the", "and"})
_CLOCK = re.compile(r"\b(\d{1,2}):(\d{2})\b")


def specifics(
    title: str,
    summary: str,
    ignore: frozenset[str] = frozenset(),
    places: frozenset[str] = frozenset(),
    roles: NumberRoles | None = None,
) -> Specifics:
    """The names (capitalized runs, folded, lower-case, words of 3+ letters not in
    ``ignore``; particles such as "de" may sit inside a run) and numbers of an item.

    Sentence-initial words are kept: a common word that starts a sentence is different in
    the other language ("Redada" / "Raid"), so it is never shared and costs nothing. A number
    is kept with its role, read from the word before or after it ("18 años" and
    "18-year-old" are an age, "calle 18" and "18th Street" a street): "Pilsen, calle 18" and
    "an 18-year-old in Pilsen" share no figure.
    """
    roles = roles or NumberRoles()
    names: list[frozenset[str]] = []
    numbers: set[str] = set()
    for text in (title or "", summary or ""):
        text = _CLOCK.sub(r"\1 h", text)  # "6:30" is a time of day: "6 h"
        toks = _TOKEN.findall(text)
        run: list[str] = []
        pending_particle = False
        for k, (num, suffix, tok) in enumerate(toks):
            if num:
                _close(run, names)
                value = re.sub(r"[.,](?=\d{3}\b)", "", num)  # 2,200 = 2.200 = 2200
                before = _word(toks, k - 1)
                after = _word(toks, k + 1)
                numbers.add(f"{roles.role(before, after, ordinal=bool(suffix))}:{value}")
                continue
            if not tok[0].isupper():
                if run and tok in _PARTICLES and not pending_particle:
                    pending_particle = True
                    continue
                _close(run, names)
                pending_particle = False
                continue
            pending_particle = False
            key = fold(tok, ascii_only=True).lower().replace("’", "'")
            if key.endswith("'s"):
                key = key[:-2]
            if len(key) < 3 or key in ignore:
                _close(run, names)
                continue
            run.append(key)
        _close(run, names)
    return Specifics(tuple(names), frozenset(numbers), places)


def _close(run: list[str], names: list[frozenset[str]]) -> None:
    """End a run of capitalized words: it becomes a name (once)."""
    if run:
        unit = _interned(frozenset(run))
        if unit not in names:
            names.append(unit)
        run.clear()


@functools.lru_cache(maxsize=16384)
def _interned(unit: frozenset[str]) -> frozenset[str]:
    """One object per distinct name: the index keeps every report's names, and the same
    people, places and agencies recur across thousands of reports (issue 15: memory)."""
    return unit


def _word(toks: list[tuple[str, str, str]], k: int) -> str:
    if 0 <= k < len(toks) and toks[k][2]:
        return fold(toks[k][2], ascii_only=True).lower()
    return ""


def _number_weight(n: str) -> float:
    """How telling a shared figure is. An age, street number, time of day, year or round
    figure ("300 soldiers": round figures recur across the stories of one deployment) half a
    point; a one-digit count a point, a two-digit count one and a half, an exact count of
    three or more digits ("130 detenidos", "475 detained") two — a coincidence of those in
    one city, topic and window is rare."""
    role, _, v = n.partition(":")
    if role != "n" or v.endswith("00") or (len(v) == 4 and v[:2] in ("19", "20")):
        return 0.5
    if len(v) == 1:
        return 1.0
    if len(v) == 2:
        return 1.5
    return 2.0


def shared_score(a: Specifics, b: Specifics) -> tuple[float, tuple[str, ...]]:
    """How much two reports share, and what. Each name of ``b`` matches once: a name that
    shares two or more words (a person's full name, a business) one and a half points, one
    word a point, a place name half a point; numbers by ``_number_weight``."""
    shared: list[str] = []
    used: set[int] = set()
    score = 0.0
    places = a.places | b.places
    for unit in a.names:
        for k, other in enumerate(b.names):
            if k in used:
                continue
            common = unit & other
            if common:
                used.add(k)
                shared.append(" ".join(sorted(common)))
                if common <= places:
                    score += 0.5  # where it happened: many events share a neighbourhood
                elif len(common) >= 2:
                    score += 1.5  # a full name: "Silverio Villegas González", "Rayito de Sol"
                else:
                    score += 1.0
                break
    # a figure matches when the roles agree or one side has none ("Ruben Torres, 70" and
    # "Rubén Torres, de 70 años"); the more specific role weighs
    numbers: list[str] = []
    theirs: dict[str, list[str]] = {}
    for n in b.numbers:
        role, _, value = n.partition(":")
        theirs.setdefault(value, []).append(role)
    for n in sorted(a.numbers):
        role, _, value = n.partition(":")
        for their_role in theirs.get(value, ()):
            if role == their_role or "n" in (role, their_role):
                best = role if role != "n" else their_role
                numbers.append(value)
                score += _number_weight(f"{best}:{value}")
                break
    return score, (*shared, *numbers)


def city_words(city_ids: Iterable[str]) -> frozenset[str]:
    """The words of city ids ("los-angeles-ca" → los, angeles): the city is already shared."""
    out: set[str] = set()
    for cid in city_ids:
        out.update(cid.split("-")[:-1])
    return frozenset(out)


_STATE_WORDS = frozenset(
    w
    for name in (*STATE_NAMES.values(), "Nueva York", "Carolina del Norte", "Carolina del Sur",
                 "Nuevo Mexico", "Luisiana", "Pensilvania", "Misisipi", "Misuri", "Virginia Occidental")
    for w in fold(name, ascii_only=True).lower().split()
    if len(w) >= 3 and w not in _PARTICLES
)
_QUOTED = re.compile(r'"([^"]+)"')


# Shared, not rebuilt per report: every entry of the index kept its own copy of the state
# words (about 80, several KB as a frozenset) and its own city and topic sets — most of the
# index's memory, which grew by ~7 KB per relevant report through a 1,000-feed cycle
# (issue 15: peak memory). Equal sets, same answers; the caches are bounded.
@functools.lru_cache(maxsize=4096)
def _with_states(words: frozenset[str]) -> frozenset[str]:
    """The state words plus `words` (a report's place words), one object per distinct set."""
    return _STATE_WORDS | words if words else _STATE_WORDS


@functools.lru_cache(maxsize=4096)
def _shared(items: tuple[str, ...]) -> frozenset[str]:
    return frozenset(items)


def place_words(why: Iterable[str]) -> frozenset[str]:
    """The words of the places the classifier read (``city:x ← "Pilsen"`` lines of why)."""
    out: set[str] = set()
    for line in why:
        if line.startswith("city:"):
            for surface in _QUOTED.findall(line):
                out.update(fold(surface, ascii_only=True).lower().split())
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class RecentReport:
    """A stored report the index reloads at start (store.recent_reports): the article's text,
    outlet, language and time, with its story's topics, cities and why."""

    story_id: int
    title: str
    summary: str
    source: str
    lang: str
    published: float
    topics: tuple[str, ...]
    cities: tuple[str, ...]
    why: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CrossMatch:
    """A story in another language that a report joins, and the evidence."""

    story_id: int
    lang: str  # the language of the story's report it was matched against
    source: str  # that report's outlet
    shared: tuple[str, ...]
    score: float


@dataclass(slots=True)
class CrossEntry:
    story_id: int
    lang: str
    source: str
    cities: frozenset[str]
    topics: frozenset[str]
    published: float
    spec: Specifics


@dataclass(slots=True)
class CrossLangIndex:
    """Recent reports by city and by topic, for joining across languages."""

    config: CrossLangConfig = field(default_factory=CrossLangConfig)
    _by_city: dict[str, list[CrossEntry]] = field(default_factory=lambda: defaultdict(list))
    _by_topic: dict[str, list[CrossEntry]] = field(default_factory=lambda: defaultdict(list))

    # The last report's specifics: a report that starts a story is looked up (`find`), then
    # added (`add`), with the same objects, and reading its names is most of either step.
    _last: tuple[Article, Match, Specifics] | None = field(default=None, repr=False)

    def _spec(self, article: Article, match: Match) -> Specifics:
        last = self._last
        if last is not None and last[0] is article and last[1] is match:
            return last[2]
        ignore = self.config.recurring | city_words(match.cities)
        places = _with_states(place_words(match.why))
        spec = specifics(article.title, article.summary, ignore, places, self.config.roles)
        self._last = (article, match, spec)
        return spec

    def _need(self, cities: frozenset[str], topics: frozenset[str], e: CrossEntry) -> float | None:
        """The score two reports need, or None when they cannot be one event.

        A shared city: ``min_score``. Cities on both sides but none shared: never. A city on
        one side only (the other report named none the finder could place): a shared topic
        and one point more. Topics on both sides but none shared: never.
        """
        if topics and e.topics and not topics & e.topics:
            return None
        if cities & e.cities:
            return self.config.min_score
        if cities and e.cities:
            return None
        if not topics & e.topics:
            return None
        return self.config.min_score + 1.0

    def find(self, article: Article, match: Match) -> CrossMatch | None:
        """The best story in another language this report is the same event as, or None."""
        lang = match.lang or article.lang
        if not lang or not (match.cities or match.topics):
            return None
        t = article.published.timestamp()
        spec = self._spec(article, match)
        if not spec.names and not spec.numbers:
            return None
        cities, topics = frozenset(match.cities), frozenset(match.topics)
        best: CrossMatch | None = None
        best_gap = 0.0
        seen: set[int] = set()
        buckets = [self._by_city.get(c, ()) for c in cities]
        buckets += [self._by_topic.get(x, ()) for x in topics]
        for bucket in buckets:
            for e in bucket:
                if e.lang == lang or id(e) in seen:
                    continue
                seen.add(id(e))
                need = self._need(cities, topics, e)
                gap = abs(e.published - t)
                if need is None or gap > self.config.window:
                    continue
                score, shared = shared_score(spec, e.spec)
                if score < need:
                    continue
                if best is None or (score, -gap) > (best.score, -best_gap):
                    best = CrossMatch(e.story_id, e.lang, e.source, shared, score)
                    best_gap = gap
        return best

    def add(self, story_id: int, article: Article, match: Match) -> CrossEntry | None:
        """Remember a report of a story (None: it names no city and has no topic)."""
        lang = match.lang or article.lang
        if not lang or not (match.cities or match.topics):
            return None
        entry = CrossEntry(
            story_id,
            lang,
            article.source,
            _shared(tuple(match.cities)),
            _shared(tuple(match.topics)),
            article.published.timestamp(),
            self._spec(article, match),
        )
        for c in entry.cities:
            self._by_city[c].append(entry)
        for x in entry.topics:
            self._by_topic[x].append(entry)
        return entry

    def add_report(self, r: RecentReport) -> CrossEntry | None:
        """Remember a stored report (at start: the index is rebuilt from the store)."""
        article = Article(
            feed_url="", guid=None, url="", link="", title=r.title, summary=r.summary,
            published=datetime.fromtimestamp(r.published, UTC), published_known=True,
            source=r.source, source_url=None, image_url=None, identity="", lang=r.lang,
        )
        return self.add(r.story_id, article, Match(r.topics, r.cities, r.why, r.lang))

    def discard(self, entry: CrossEntry) -> None:
        """Take back one ``add`` (a rolled-back batch)."""
        for index, keys in ((self._by_city, entry.cities), (self._by_topic, entry.topics)):
            for key in keys:
                lst = index.get(key)
                if lst and entry in lst:
                    lst.remove(entry)
                    if not lst:
                        del index[key]

    def prune(self, now: float) -> None:
        """Forget reports older than 1.5 windows."""
        horizon = now - self.config.window * 1.5
        for index in (self._by_city, self._by_topic):
            for key in list(index):
                kept = [e for e in index[key] if e.published >= horizon]
                if kept:
                    index[key] = kept
                else:
                    del index[key]

    def __len__(self) -> int:
        entries = [*self._by_city.values(), *self._by_topic.values()]
        return len({id(e) for lst in entries for e in lst})


def crosslang_why(lang: str, source: str, shared: Iterable[str]) -> str:
    """The evidence line a cross-language join adds to the story's why (render reads it):
    ``lang:es ← "La Raza" (shared "brighton", "37")``."""
    bits = ", ".join(f'"{s}"' for s in list(shared)[:4])
    return f'lang:{lang} ← "{source}" (shared {bits})'


_LANG_WHY = re.compile(r'^lang:([a-z]{2,3}) ← "(.*)" \(shared')


def reports_in_languages(why: Iterable[str]) -> list[tuple[str, str]]:
    """(language, outlet) of every cross-language report recorded in a story's why."""
    out: list[tuple[str, str]] = []
    for line in why:
        m = _LANG_WHY.match(line)
        if m and (m.group(1), m.group(2)) not in out:
            out.append((m.group(1), m.group(2)))
    return out
