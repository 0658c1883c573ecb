"""Topic rules, defined as data in config/topics.toml.

A topic fires when its score reaches its ``threshold`` (default 2) and it is not blocked:

- ``strong`` terms: one hit reaches the threshold ("Border Patrol", "Insurrection Act");
- ``weak`` terms: one point per distinct term;
- ``[[topic.combo]]``: fires (``weight`` points, default the threshold) when every one of its
  ``groups`` has a hit — "federal agents" + "detained" + "immigrants";
- ``[[topic.rule]]``: ambiguous terms ("=ICE", "=Ice", "sanctuary") that count ``weight``
  points only when the text agrees: a ``context`` hit confirms them, an ``unless`` hit
  vetoes them (when no context hit), ``require_context`` makes a context hit mandatory;
- ``block`` terms zero the topic unless an ``unblock`` or ``strong`` term also hits
  (wildfire response, overseas deployments for the national-guard topic);
- ``mask`` phrases (top level: all topics) hide their words from every rule: "Ice Cube",
  "ice cream", "bird sanctuary".

Lists may name shared lists defined under ``[lists]`` with ``"@name"``; a term containing
``{STATE}`` expands to one term per US state name ("{STATE} Guard" → "Texas Guard", …).
Term syntax: see bot.relevance.text.

Topic ids, labels and their order are data too: ``TopicCatalog`` (``load_topics(config_dir)``,
or ``Classifier.topics``) is the one registry every command, help text and alert label reads,
so a topic added to topics.toml reaches ``/subscribe``, ``/help`` and alerts without code. A
subscription to every topic stores the wildcard ``ALL_TOPICS`` ("*"), not today's ids, so a
topic added later reaches it too.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.lang import Language, default_language
from bot.relevance.grammar import Grammar
from bot.relevance.text import Lexicon, Tokens, parse_phrase

US_STATE_NAMES: tuple[str, ...] = (
    "Alabama", "Alaska", "Arizona", "Arkansas", "California", "Colorado", "Connecticut",
    "Delaware", "Florida", "Georgia", "Hawaii", "Idaho", "Illinois", "Indiana", "Iowa",
    "Kansas", "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts", "Michigan",
    "Minnesota", "Mississippi", "Missouri", "Montana", "Nebraska", "Nevada", "New Hampshire",
    "New Jersey", "New Mexico", "New York", "North Carolina", "North Dakota", "Ohio",
    "Oklahoma", "Oregon", "Pennsylvania", "Rhode Island", "South Carolina", "South Dakota",
    "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "Washington", "West Virginia",
    "Wisconsin", "Wyoming", "D.C.",
)  # fmt: skip

MASK = "mask"
ALL_TOPICS = "*"  # a subscription's topics == (ALL_TOPICS,): every topic, today's and later ones
_REPO_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """What users see of a topic: its id (stored), label (shown) and optional description."""

    id: str
    label: str
    description: str = ""
    # lower-cased words that by themselves name the topic in a search ("ice", "deport"): the
    # topic's one-word strong terms and the acronyms of its strong phrases (see `_names`)
    names: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TopicCatalog:
    """The topics of one config, in topics.toml order. Unknown ids still get a readable label."""

    topics: tuple[TopicInfo, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.topics)

    def __iter__(self) -> Iterator[TopicInfo]:
        return iter(self.topics)

    def __len__(self) -> int:
        return len(self.topics)

    def __contains__(self, topic_id: object) -> bool:
        return any(t.id == topic_id for t in self.topics)

    def get(self, topic_id: str) -> TopicInfo | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def label(self, topic_id: str) -> str:
        """ "Immigration enforcement"; "All topics" for the wildcard; a removed id readably."""
        if topic_id == ALL_TOPICS:
            return "All topics"
        info = self.get(topic_id)
        return info.label if info is not None else topic_id.replace("-", " ").capitalize()

    def resolve(self, text: str) -> str | None:
        """A topic id from its id or its label, case-insensitively (what a user may type)."""
        needle = " ".join((text or "").split()).casefold()
        for t in self.topics:
            if needle in (t.id.casefold(), t.label.casefold()):
                return t.id
        return None

    def suggest(self, current: str, limit: int = 25) -> list[TopicInfo]:
        """Topics whose id or label contains `current` (all of them for ""), at most `limit`."""
        needle = (current or "").casefold().strip()
        found = [
            t for t in self.topics if needle in t.id.casefold() or needle in t.label.casefold()
        ]
        return found[: max(0, limit)]


def _names(strong: Sequence[str]) -> frozenset[str]:
    """Search words that name a topic: a one-word strong term ("deport*", "Bovino") or an
    all-capitals word of a strong phrase ("=ICE agent*" → "ice"). Why: `search ICE` should rank
    the agency's stories above frozen water's, and ICE alone is not enough to classify."""
    out: set[str] = set()
    for term in strong:
        words = term.lstrip("=").replace("*", "").split()
        if len(words) == 1 and words[0].isalpha():
            out.add(words[0].casefold())
        out.update(w.casefold() for w in words if len(w) >= 2 and w.isalpha() and w.isupper())
    return frozenset(out)


def _catalog(specs: list[TopicSpec]) -> TopicCatalog:
    return TopicCatalog(tuple(TopicInfo(s.id, s.label, s.description, _names(s.strong)) for s in specs))


_TOPICS_CACHE: dict[tuple[Path, float], TopicCatalog] = {}
_TOPICS_LOCK = threading.Lock()


def topics_file(config_dir: Path | None = None) -> Path:
    """config_dir/topics.toml, else the repo's (as load_classifier falls back)."""
    if config_dir is None:
        env = os.environ.get("CIVIC_ALERTS_CONFIG_DIR")
        config_dir = Path(env) if env else _REPO_CONFIG_DIR
    path = Path(config_dir) / "topics.toml"
    return path if path.exists() else _REPO_CONFIG_DIR / "topics.toml"


def load_topics(config_dir: Path | None = None) -> TopicCatalog:
    """The topic catalog of a config dir (cached per file and mtime; the same rules as the
    classifier's, so ids and labels always agree). Default: $CIVIC_ALERTS_CONFIG_DIR or the repo's."""
    path = topics_file(config_dir).resolve()
    try:
        key = (path, path.stat().st_mtime)
    except OSError:
        key = (path, 0.0)
    with _TOPICS_LOCK:
        cached = _TOPICS_CACHE.get(key)
        if cached is None:
            cached = _TOPICS_CACHE[key] = load_topic_rules(path).catalog
        return cached


@dataclass(slots=True)
class _Rule:
    weight: int
    require_context: bool
    terms: list[str]


@dataclass(slots=True)
class TopicSpec:
    id: str
    label: str
    threshold: int
    description: str = ""
    strong: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    block: list[str] = field(default_factory=list)
    unblock: list[str] = field(default_factory=list)
    combos: list[tuple[str, int, list[list[str]], list[str]]] = field(default_factory=list)
    yields_to: list[str] = field(default_factory=list)
    keep_if: list[str] = field(default_factory=list)
    rules: list[tuple[_Rule, list[str], list[str]]] = field(default_factory=list)
    # None: the topic is not limited to the US; a list (maybe empty): an item placed abroad
    # keeps the topic only with a US place or one of these terms (issue 17)
    us_frame: list[str] | None = None


class TermKind(IntEnum):
    """What a term does for its topic (the lexicon payload's ``kind``)."""

    STRONG = 0
    WEAK = 1
    BLOCK = 2
    UNBLOCK = 3
    COMBO = 4  # key: (combo index, group index)
    RULE = 5  # key: rule index
    CTX = 6  # key: rule index
    UNLESS = 7  # key: rule index
    COMBO_UNLESS = 8  # key: combo index
    KEEP = 9


@dataclass(frozen=True, slots=True)
class TopicTerm:
    """A lexicon payload: which topic (index), what the term does, and its key."""

    topic: int
    kind: TermKind
    key: Hashable


_STRONG, _WEAK, _BLOCK, _UNBLOCK = TermKind.STRONG, TermKind.WEAK, TermKind.BLOCK, TermKind.UNBLOCK
_COMBO, _RULE, _CTX, _UNLESS = TermKind.COMBO, TermKind.RULE, TermKind.CTX, TermKind.UNLESS
_COMBO_UNLESS, _KEEP = TermKind.COMBO_UNLESS, TermKind.KEEP


class TopicRules:
    """Compiled topic rules: ``evaluate(tokens)`` → [(topic_id, evidence surfaces)]."""

    def __init__(
        self, specs: list[TopicSpec], masks: list[str], lang: Language | None = None
    ) -> None:
        lang = lang or default_language()
        self.negators = lang.negators
        self.negation_stops = lang.negation_stops
        self.specs = specs
        self.ids = tuple(s.id for s in specs)
        self.catalog = _catalog(specs)
        self._index = {s.id: i for i, s in enumerate(specs)}
        self.lexicon = Lexicon()
        for m in masks:
            self.lexicon.add(m, MASK)
        for ti, s in enumerate(specs):
            for t in s.strong:
                self._add(t, TopicTerm(ti, _STRONG, t))
            for t in s.weak:
                self._add(t, TopicTerm(ti, _WEAK, t))
            for t in s.block:
                self._add(t, TopicTerm(ti, _BLOCK, 0))
            for t in s.unblock:
                self._add(t, TopicTerm(ti, _UNBLOCK, 0))
            for ci, (_name, _w, groups, unless) in enumerate(s.combos):
                for gi, g in enumerate(groups):
                    for t in g:
                        self._add(t, TopicTerm(ti, _COMBO, (ci, gi)))
                for t in unless:
                    self._add(t, TopicTerm(ti, _COMBO_UNLESS, ci))
            for t in s.keep_if:
                self._add(t, TopicTerm(ti, _KEEP, t))
            for ri, (rule, ctx, unless) in enumerate(s.rules):
                for t in rule.terms:
                    self._add(t, TopicTerm(ti, _RULE, ri))
                for t in ctx:
                    self._add(t, TopicTerm(ti, _CTX, ri))
                for t in unless:
                    self._add(t, TopicTerm(ti, _UNLESS, ri))

        # US-frame terms sit in a lexicon of their own: they are read only for the few items
        # that have a topic and a place abroad, so the common path pays nothing for them
        self.us_frame_lexicon = Lexicon()
        self.needs_us_frame = frozenset(s.id for s in specs if s.us_frame is not None)
        for s in specs:
            for t in s.us_frame or ():
                try:
                    self.us_frame_lexicon.add(t, s.id)
                except ValueError as exc:
                    raise ConfigError(f"topics: {exc}") from None

    def us_frames(self, toks: Tokens) -> dict[str, str]:
        """topic id → the first US-frame term found for it ("ICE", "from the U.S.")."""
        out: dict[str, str] = {}
        for i, j, tid in sorted(self.us_frame_lexicon.scan(toks), key=lambda h: h[0]):
            out.setdefault(tid, toks.surface(i, j))
        return out

    def _add(self, spec: str, payload: TopicTerm) -> None:
        try:
            self.lexicon.add(spec, payload)
        except ValueError as exc:
            raise ConfigError(f"topics: {exc}") from None

    def evaluate(self, toks: Tokens) -> list[tuple[str, list[str]]]:
        hits = self.lexicon.scan(toks)
        if not hits:
            return []
        masked: set[int] | None = None
        for i, j, p in hits:
            if p is MASK:
                if masked is None:
                    masked = set()
                masked.update(range(i, j))
        state: dict[int, dict[TermKind, Any]] = {}
        for i, j, p in hits:
            if p is MASK:
                continue
            if masked is not None and not masked.isdisjoint(range(i, j)):
                continue
            ti, kind, key = p.topic, p.kind, p.key
            if kind == _KEEP and self._negated(toks, i):
                continue  # "will not detain people on immigration holds": policy, no action
            st = state.get(ti)
            if st is None:
                st = state[ti] = {}
            bucket = st.get(kind)
            if bucket is None:
                bucket = st[kind] = {}
            if key not in bucket:
                bucket[key] = (i, j)
        out: list[tuple[str, list[str]]] = []
        for ti, st in sorted(state.items()):
            spec = self.specs[ti]
            thr = spec.threshold
            score = 0
            ev: list[tuple[int, int]] = []
            strong = st.get(_STRONG)
            if strong:
                score += thr
                ev.extend(sorted(strong.values())[:2])
            combo = st.get(_COMBO)
            if combo:
                combo_unless = st.get(_COMBO_UNLESS, {})
                for ci, (_name, weight, groups, _unless) in enumerate(spec.combos):
                    spans = [combo.get((ci, gi)) for gi in range(len(groups))]
                    if all(spans) and ci not in combo_unless:
                        score += weight
                        if not ev:  # in group order: "National Guard" + "deployed"
                            ev.extend(spans[:2])
            rule_hits = st.get(_RULE)
            if rule_hits:
                ctx = st.get(_CTX, {})
                unless = st.get(_UNLESS, {})
                for ri, span in rule_hits.items():
                    rule = spec.rules[ri][0]
                    if ri in ctx or (not rule.require_context and ri not in unless):
                        score += rule.weight
                        ev.append(span)
            weak = st.get(_WEAK)
            if weak:
                score += len(weak)
                if not ev:
                    ev.extend(sorted(weak.values())[:2])
            if score < thr:
                continue
            if st.get(_BLOCK) and not strong and not st.get(_UNBLOCK):
                continue
            ev = [s for s in ev if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in ev)]
            seen: list[str] = []
            for i, j in ev:
                s = toks.surface(i, j)
                if s and s not in seen:
                    seen.append(s)
                if len(seen) == 2:
                    break
            out.append((spec.id, seen))
        if any(self.specs[self._index[o[0]]].yields_to for o in out):
            fired = {o[0] for o in out}
            out = [
                o
                for o in out
                if not (
                    (yielded := fired.intersection(self.specs[self._index[o[0]]].yields_to))
                    and not self._kept(state, self._index[o[0]], yielded)
                )
            ]
        return out

    def _kept(self, state: dict[int, dict[TermKind, Any]], ti: int, yielded: set[str]) -> bool:
        """A ``keep_if`` word of topic ``ti`` outside the strong phrases of the topics it
        yields to: "solicitudes de **detención** de ICE" names a policy (sanctuary), not a
        detention, so its "detención" keeps no enforcement topic."""
        keeps = state.get(ti, {}).get(_KEEP)
        if not keeps:
            return False
        covers = [
            span
            for tid in yielded
            for span in state.get(self._index[tid], {}).get(_STRONG, {}).values()
        ]
        return any(not any(a <= i and j <= b for a, b in covers) for i, j in keeps.values())

    def _negated(self, toks: Tokens, i: int) -> bool:
        """A negation ("not", "n't", "refuse(s)", "without") a few words before token i, same
        clause; a ``negation_stops`` word ("but") ends the search."""
        low = toks.lower
        seps = toks.seps
        negators = self.negators
        stops = self.negation_stops
        k = i
        lo = max(0, i - NEGATION_WINDOW)
        while k > lo:
            if _NEG_BREAK.search(seps[k]):
                return False
            k -= 1
            t = low[k]
            if t in negators or (t == "t" and "'" in seps[k]):
                return True
            if t in stops:
                return False
        return False


_NEG_BREAK = re.compile(r"[.!?;:\n]")
NEGATION_WINDOW = 6


def _expand(
    items: Any, lists: dict[str, list[str]], where: str, grammar: Grammar | None = None
) -> list[str]:
    """A term list with its "@list" names and {STATE} expanded, and each written term's other
    forms when the file has a ``[grammar]`` (bot/relevance/grammar.py; lists are expanded once,
    where they are defined)."""
    if items is None:
        return []
    if isinstance(items, str):  # a single "@list" or term
        items = [items]
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise ConfigError(f"topics.toml: {where} must be a list of strings")
    out: list[str] = []
    for x in items:
        if x.startswith("@"):
            name = x[1:]
            if name not in lists:
                raise ConfigError(f"topics.toml: {where} names unknown list {x!r}")
            out.extend(lists[name])
        elif "{STATE}" in x:
            out.extend(x.replace("{STATE}", st) for st in US_STATE_NAMES)
        else:
            try:
                ok = parse_phrase(x, None) is not None
            except ValueError as exc:
                raise ConfigError(f"topics.toml: {where}: {exc}") from None
            if not ok:
                raise ConfigError(f"topics.toml: {where} has an empty term {x!r}")
            if grammar is None:
                out.append(x)
            else:
                out.extend(grammar.expand(x))
    return out


def load_topic_rules(path: Path, lang: Language | None = None) -> TopicRules:
    """config/topics.toml → compiled rules (negation words from ``lang``, default English)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: topics file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    gram = Grammar.from_data(data["grammar"], f"{path}: [grammar]") if "grammar" in data else None
    raw_lists = data.get("lists", {})
    lists: dict[str, list[str]] = {}
    for name, items in raw_lists.items():
        lists[name] = _expand(items, lists, f"lists.{name}", gram)
    masks = _expand(data.get("mask"), lists, "mask", gram)
    specs: list[TopicSpec] = []
    seen: set[str] = set()
    for n, t in enumerate(data.get("topic", [])):
        tid = t.get("id")
        if not isinstance(tid, str) or not tid:
            raise ConfigError(f"{path}: topic #{n + 1} has no id")
        if tid in seen:
            raise ConfigError(f"{path}: topic {tid!r} defined twice")
        if tid == ALL_TOPICS or tid == "all":
            raise ConfigError(f"{path}: topic id {tid!r} is reserved (it means every topic)")
        seen.add(tid)
        where = f"topic {tid!r}"
        thr = int(t.get("threshold", 2))
        spec = TopicSpec(
            id=tid,
            label=str(t.get("label", tid)),
            threshold=thr,
            description=str(t.get("description", "")),
            strong=_expand(t.get("strong"), lists, f"{where}.strong", gram),
            weak=_expand(t.get("weak"), lists, f"{where}.weak", gram),
            block=_expand(t.get("block"), lists, f"{where}.block", gram),
            unblock=_expand(t.get("unblock"), lists, f"{where}.unblock", gram),
            yields_to=[str(x) for x in t.get("yields_to", [])],
            keep_if=_expand(t.get("keep_if"), lists, f"{where}.keep_if", gram),
            us_frame=(
                _expand(t["us_frame"], lists, f"{where}.us_frame", gram)
                if "us_frame" in t
                else None
            ),
        )
        masks.extend(_expand(t.get("mask"), lists, f"{where}.mask", gram))
        for k, c in enumerate(t.get("combo", [])):
            groups = c.get("groups")
            if not isinstance(groups, list) or not groups:
                raise ConfigError(f"{path}: {where} combo #{k + 1} needs groups")
            spec.combos.append(
                (
                    str(c.get("name", f"combo{k + 1}")),
                    int(c.get("weight", thr)),
                    [_expand(grp, lists, f"{where}.combo[{k}]", gram) for grp in groups],
                    _expand(c.get("unless"), lists, f"{where}.combo[{k}].unless", gram),
                )
            )
        for k, r in enumerate(t.get("rule", [])):
            terms = _expand(r.get("terms"), lists, f"{where}.rule[{k}].terms", gram)
            if not terms:
                raise ConfigError(f"{path}: {where} rule #{k + 1} has no terms")
            rule = _Rule(
                weight=int(r.get("weight", thr)),
                require_context=bool(r.get("require_context", False)),
                terms=terms,
            )
            spec.rules.append(
                (
                    rule,
                    _expand(r.get("context"), lists, f"{where}.rule[{k}].context", gram),
                    _expand(r.get("unless"), lists, f"{where}.rule[{k}].unless", gram),
                )
            )
        specs.append(spec)
    if not specs:
        raise ConfigError(f"{path}: no [[topic]] defined")
    for spec in specs:
        for other in spec.yields_to:
            if other not in seen:
                raise ConfigError(f"{path}: topic {spec.id!r} yields to unknown topic {other!r}")
    return TopicRules(specs, masks, lang)
