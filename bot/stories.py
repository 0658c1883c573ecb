"""Which articles are the same story.

Why these rules (see ../shared/GUIDE.md): `token_set_ratio` over-merges different stories, so a
near-duplicate needs an exact normalized-title hash, or `token_sort_ratio` ≥ 90, or a
character-3-gram Jaccard ≥ 0.6, within a 72-hour window. On top of that, two headlines that each
name something the other does not (a different number, a different place or person) are kept
apart: "ICE arrests 5 in Pilsen" and "ICE arrests 5 in Cicero" are different events even though
they look alike.
"""

from __future__ import annotations

import functools
import hashlib
import html
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.lang import default_language
from bot.text import fold, normalize_title
from bot.text import is_google_news_url as _is_gn
from bot.text import title_tokens as _title_tokens
from bot.text import words as _words

WINDOW_SECONDS = 72 * 3600
# One outlet's own look-alike headlines are one story only this close together (its rewrite of
# an update); further apart they are a new report of the same kind (see ClusterIndex.find).
SAME_OUTLET_WINDOW = 12 * 3600
TOKEN_SORT_MIN = 90.0
JACCARD_MIN = 0.6
# Signature keys stored with every headline (migration 018, see `signature_keys`).
KEYS_VERSION = "pairs5-v3"  # bump when the keys change: StoryAssembler.load re-keys the window
MAX_KEY_TOKENS = 5  # a longer headline keys its 5 tokens of lowest hash (10 pairs at most)
PER_KEY = 200  # rows read per key, the most recent first: bounds the cost of a common pair
CANDIDATES = 64  # headlines verified per lookup: those matching the most keys (most shared words)
KEY_RETENTION = WINDOW_SECONDS * 2  # keys older than this are never looked up again (prune)

# The stop words and generic capitalized words come from the language file
# (config/lang/en.toml [stories]), loaded once per process (these functions run in workers).


def _fold(text: str) -> str:
    return fold(html.unescape(text), ascii_only=False)


def title_tokens(title: str) -> list[str]:
    """Lower-case word tokens with possessives dropped ("Chicago's" → "chicago")."""
    return _title_tokens(title)


def normalized_title(title: str) -> str:
    return normalize_title(title, mode="cluster")


def title_fingerprint(title: str) -> str:
    """Stable hash of the normalized title: equal fingerprints are the same headline."""
    return hashlib.blake2b(normalized_title(title).encode(), digest_size=12).hexdigest()


def key_tokens(title: str) -> frozenset[str]:
    """Numbers and proper names in a headline: what makes one event differ from a look-alike."""
    keys: set[str] = set()
    lang = default_language()
    stop, generic = lang.stop_words, lang.generic_caps
    words = _words(_fold(title))
    for index, word in enumerate(words):
        clean = word.replace("’", "'")
        if clean.endswith(("'s", "'S")):
            clean = clean[:-2]
        low = clean.casefold()
        if any(ch.isdigit() for ch in clean):
            keys.add(low)
        elif index > 0 and clean[:1].isupper() and low not in stop and low not in generic:
            # Headline Case capitalizes every word; only count it when the headline is not all caps-case.
            keys.add(low)
    return frozenset(keys)


def lead_key(title: str) -> str | None:
    """The headline's first word when it may name something ("Evanston council passes …").

    `key_tokens` skips it because sentence case capitalizes it anyway; `same_story` still keeps
    two headlines apart when each starts with such a word that the other never mentions.
    """
    words = _words(_fold(title))
    if not words:
        return None
    lang = default_language()
    clean = words[0].replace("’", "'")
    if clean.endswith(("'s", "'S")):
        clean = clean[:-2]
    low = clean.casefold()
    if not clean[:1].isupper() or low in lang.stop_words or low in lang.generic_caps or any(ch.isdigit() for ch in low):
        return None
    return low


def _is_headline_case(title: str) -> bool:
    stop = default_language().stop_words
    words = [w for w in _words(title) if w.casefold() not in stop]
    if len(words) < 4:
        return False
    caps = sum(1 for w in words if w[:1].isupper())
    return caps / len(words) > 0.8


Trigram = tuple[str, str, str]


@functools.lru_cache(maxsize=256)
def _trigrams(text: str) -> frozenset[Trigram]:
    """A title's character trigrams, as 3-tuples: `zip` builds them without a Python-level
    loop, about half the cost of slicing; a trigram and its tuple are one-to-one, so the
    Jaccard is the same. Few are cached: a new headline's set serves its own candidates, and
    a candidate's is built only when the bound in `_jaccard_reaches` lets it through."""
    padded = f"  {text} "
    return frozenset(zip(padded, padded[1:], padded[2:], strict=False))  # shortest wins


def jaccard(a: frozenset[Any], b: frozenset[Any]) -> float:
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


@dataclass(frozen=True, slots=True)
class TitleSignature:
    """Everything clustering needs from a headline, computed once."""

    normalized: str
    keys: frozenset[str]
    headline_case: bool
    lead: str | None = None
    nums: frozenset[str] = frozenset()  # the keys that contain a digit

    # Derived on demand, not stored: the index keeps one signature per recent headline (tens of
    # thousands after a cold start), and these sets were most of a signature's memory.
    @property
    def fingerprint(self) -> str:
        return hashlib.blake2b(self.normalized.encode(), digest_size=12).hexdigest()

    @property
    def tokens(self) -> frozenset[str]:
        return _tokens(self.normalized)

    @property
    def trigrams(self) -> frozenset[Trigram]:
        return _trigrams(self.normalized)

    @classmethod
    def of(cls, title: str) -> TitleSignature:
        primed = _PRIMED_SIGNATURES.get(title)
        return primed if primed is not None else _signature(title)


def _token_set(normalized: str) -> frozenset[str]:
    stop = default_language().stop_words
    return frozenset(t for t in normalized.split() if t not in stop)


@functools.lru_cache(maxsize=4096)
def _tokens(normalized: str) -> frozenset[str]:
    return _token_set(normalized)


@functools.lru_cache(maxsize=1024)
def _signature(title: str) -> TitleSignature:
    """Cached: `ClusterIndex.find` and then `add` see the same headline back to back."""
    return _compute_signature(title, _normalized(title))


def _compute_signature(title: str, norm: str) -> TitleSignature:
    keys = frozenset(sys.intern(k) for k in key_tokens(title))  # shared strings
    lead = lead_key(title)
    return TitleSignature(
        normalized=norm,
        keys=keys,
        headline_case=_is_headline_case(title),
        lead=sys.intern(lead) if lead else None,
        nums=frozenset(k for k in keys if any(c.isdigit() for c in k)),
    )


def same_story(a: TitleSignature, b: TitleSignature) -> bool:
    """True when two headlines report the same event (see module docstring).

    An empty headline (no title, or only emoji/punctuation) is never the same as anything:
    the guard comes before the equality test, or every title-less item would be "equal".
    """
    if not a.normalized or not b.normalized:
        return False
    if a.normalized == b.normalized:  # what equal fingerprints mean
        return True
    if not (a.headline_case or b.headline_case):
        only_a, only_b = a.keys - b.keys, b.keys - a.keys
        if only_a and only_b:
            return False
    else:
        # Headline Case hides proper names; numbers still tell events apart.
        nums_a, nums_b = a.nums, b.nums
        if nums_a - nums_b and nums_b - nums_a:
            return False
    if a.lead and b.lead and a.lead != b.lead and a.lead not in b.tokens and b.lead not in a.tokens:
        return False  # "Chicago council passes …" vs "Evanston council passes …"
    from rapidfuzz import fuzz  # here: parse workers import this module and never compare

    if fuzz.token_sort_ratio(a.normalized, b.normalized) >= TOKEN_SORT_MIN:
        return True
    return jaccard(a.trigrams, b.trigrams) >= JACCARD_MIN


def is_google_news_url(url: str) -> bool:
    """Google News redirect? (substring test over canonical URLs; see ``bot.text``)."""
    return _is_gn(url, canonical=True)


def link_rank(url: str, published: float) -> tuple[int, float]:
    """Lower is better: a publisher's own URL beats a Google News redirect; then the earliest."""
    return (1 if (not url or is_google_news_url(url)) else 0, published)


@dataclass(slots=True)
class IndexEntry:
    story_id: int
    sig: TitleSignature
    published: float
    feed: str = ""  # the outlet key (assembly.outlet_key) it came from, "" unknown: see find


@dataclass(slots=True)
class ClusterIndex:
    """Recent stories (72 h) indexed by title token, so finding candidates is not a full scan."""

    window: float = WINDOW_SECONDS
    _entries: dict[int, list[IndexEntry]] = field(default_factory=dict)
    _by_token: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    # keyed by the normalized title itself (equal fingerprint ⇔ equal normalized title): the
    # string is already held by the signature, a hex digest per entry would not be
    # (lists: nearly every headline is its own, and a one-element set costs 216 bytes)
    _by_fingerprint: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    def add(self, story_id: int, title: str, published: float, feed: str = "") -> IndexEntry:
        entry = IndexEntry(story_id, TitleSignature.of(title), published, sys.intern(feed))
        self._entries.setdefault(story_id, []).append(entry)
        for token in entry.sig.tokens:
            self._by_token[token].add(story_id)
        if entry.sig.normalized:  # an empty headline is nobody's fingerprint (see find)
            same = self._by_fingerprint[entry.sig.normalized]
            if story_id not in same:
                same.append(story_id)
        return entry

    def discard(self, entry: IndexEntry) -> None:
        """Take back one `add` (a rolled-back batch): the story's other headlines stay."""
        entries = self._entries.get(entry.story_id)
        if not entries or entry not in entries:
            return
        entries.remove(entry)
        others = entries
        if not others:
            del self._entries[entry.story_id]
        for token in entry.sig.tokens:
            if any(token in e.sig.tokens for e in others):
                continue
            ids = self._by_token.get(token)
            if ids is not None:
                ids.discard(entry.story_id)
                if not ids:
                    del self._by_token[token]
        if not any(e.sig.normalized == entry.sig.normalized for e in others):
            fp = self._by_fingerprint.get(entry.sig.normalized)
            if fp is not None and entry.story_id in fp:
                fp.remove(entry.story_id)
                if not fp:
                    del self._by_fingerprint[entry.sig.normalized]

    def find(self, title: str, published: float, feed: str = "") -> int | None:
        """The story this headline belongs to, or None for a new story.

        Same-outlet rule (docs/architecture.md, "Same-feed items"): an identical headline joins
        within the whole window (a re-post under a new link); a *look-alike* headline of the same
        outlet (`feed`, see assembly.outlet_key) joins only within SAME_OUTLET_WINDOW — an
        outlet rewrites an update within hours ("… arrested 5 …, witnesses say"), while the
        same wording a day or more later ("Example entry, again") is a new report.
        """
        sig = TitleSignature.of(title)
        if not sig.normalized:
            # Title-less items (microblog posts, emoji-only titles) normalize to "": looking the
            # empty fingerprint up joined every such item of every feed into the first one.
            return None
        for story_id in sorted(self._by_fingerprint.get(sig.normalized, ())):
            if any(abs(e.published - published) <= self.window for e in self._entries[story_id]):
                return story_id
        counts: Counter[int] = Counter()
        for token in sig.tokens:
            ids = self._by_token.get(token)
            if ids is None or len(ids) > 500:
                continue  # a token in hundreds of headlines says nothing about identity
            counts.update(ids)  # counted in C; same order as a loop
        need = max(2, len(sig.tokens) // 3)
        best: tuple[int, int] | None = None
        for story_id, shared in counts.items():
            if shared < need:
                continue
            for entry in self._entries[story_id]:
                if abs(entry.published - published) > self.window:
                    continue
                if feed and entry.feed == feed and abs(entry.published - published) > SAME_OUTLET_WINDOW:
                    continue  # the same outlet's look-alike, a day later: a new report
                if same_story(sig, entry.sig) and (best is None or shared > best[0]):
                    best = (shared, story_id)
                    break
        return best[1] if best else None

    def prune(self, now: float) -> None:
        """Forget stories whose every headline is older than the window."""
        stale = [
            sid for sid, entries in self._entries.items() if all(now - e.published > self.window * 1.5 for e in entries)
        ]
        for story_id in stale:
            for entry in self._entries.pop(story_id):
                for token in entry.sig.tokens:
                    ids = self._by_token.get(token)
                    if ids is not None:
                        ids.discard(story_id)
                        if not ids:
                            del self._by_token[token]
                fp = self._by_fingerprint.get(entry.sig.normalized)
                if fp is not None:
                    if story_id in fp:
                        fp.remove(story_id)
                    if not fp:
                        del self._by_fingerprint[entry.sig.normalized]

    def remove(self, story_ids: Iterable[int]) -> None:
        for story_id in story_ids:
            for entry in self._entries.pop(story_id, []):
                for token in entry.sig.tokens:
                    self._by_token.get(token, set()).discard(story_id)
                fp = self._by_fingerprint.get(entry.sig.normalized)
                if fp is not None and story_id in fp:
                    fp.remove(story_id)

    def __len__(self) -> int:
        return len(self._entries)


# ----------------------------------------------------------------------------- keys in the database


def _key(text: str) -> int:
    """A signed 64-bit key (SQLite INTEGER, PostgreSQL BIGINT), stable across processes."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


_MASK64 = (1 << 64) - 1


def _token_hash_uncached(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "big")


@functools.lru_cache(maxsize=1 << 14)
def _token_hash(token: str) -> int:
    """A token's stable unsigned 64-bit hash; cached, so a headline's pair keys cost integer
    arithmetic rather than one blake2b per pair (most of `signature_keys`' cost before)."""
    return _token_hash_uncached(token)


def _pair_key(a: int, b: int) -> int:
    """Two token hashes (a from the token that sorts first) → one signed 64-bit key.

    splitmix64's finalizer over an ordered combination: well spread, stable across processes.
    A collision only adds a candidate, which `pick_story` then verifies."""
    x = (a ^ ((b << 17 | b >> 47) & _MASK64) ^ (b * 0x9E3779B97F4A7C15)) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return x - (1 << 64) if x >= 1 << 63 else x


def signature_keys(title: str) -> tuple[int, ...]:
    """The keys a headline is stored and looked up under (see `_signature_keys`); those a parse
    worker computed (`prime`) are taken as they are."""
    primed = _PRIMED_KEYS.get(title)
    return primed if primed is not None else _signature_keys(title)


@functools.lru_cache(maxsize=2048)
def _signature_keys(title: str) -> tuple[int, ...]:
    """The keys a headline is stored and looked up under: its fingerprint, and every pair of its
    tokens (`TitleSignature.tokens`).

    Why pairs: `ClusterIndex.find` only considers a story sharing at least two tokens with the
    headline (`need` ≥ 2), so any such story shares at least one pair — the pair keys find a
    superset of its candidates — while a pair is far rarer than a single word, so each key's rows
    stay few however many headlines the window holds (`PER_KEY` caps the rest). A headline with
    more than `MAX_KEY_TOKENS` tokens keys the ones of lowest hash: look-alike headlines share
    most of their tokens, so they pick nearly the same ones and still share a pair. Each key is
    a row written with the article and an index read per lookup, so the number of keys is the
    main lever on the cost (docs/benchmarks.md: 8 tokens → 6 took the store's time per article
    from about 1.0 to 0.73 ms on ingest-cold, for 1 join of 1,425 lost; 6 → 5 about 12 % more
    off the store thread, for 3 of 1,424 joins on the mixed corpus and 5 of 4,909 on the
    cluster-heavy one, and fewer weak candidates to reject; the replay in
    tests/test_clustering_db.py has 0 disagreements at 5, against 3 on feeds-real at 6). An
    empty headline has no keys.
    """
    sig = TitleSignature.of(title)
    return _keys_of(sig.normalized, sig.tokens, _token_hash)


def _keys_of(normalized: str, tokens: Iterable[str], token_hash: Callable[[str], int]) -> tuple[int, ...]:
    if not normalized:
        return ()
    keys = [_key("fp\n" + normalized)]
    hashed = sorted((token_hash(t), t) for t in tokens)[:MAX_KEY_TOKENS]
    hashed.sort(key=lambda p: p[1])  # pairs in token order: (a, b) and (b, a) are one key
    for i, (ha, _) in enumerate(hashed):
        for hb, _ in hashed[i + 1 :]:
            keys.append(_pair_key(ha, hb))
    return tuple(dict.fromkeys(keys))


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """What to read from the database for one headline: its keys, within [since, until]."""

    keys: tuple[int, ...]
    since: float
    until: float
    per_key: int = PER_KEY
    limit: int = CANDIDATES


@dataclass(frozen=True, slots=True)
class StoredHeadline:
    """A stored article's headline, as a candidate for a new one (store.headline_candidates)."""

    story_id: int
    title: str
    published: float
    feed_url: str
    source: str


def pick_story(
    title: str,
    published: float,
    outlet: str,
    candidates: Sequence[tuple[int, str, float, str]],
    window: float = WINDOW_SECONDS,
) -> int | None:
    """The story a headline joins among candidate headlines (story id, title, published,
    outlet key), or None for a new story: the decisions of `ClusterIndex.find` over the
    headlines the database found by `signature_keys`.

    An identical headline within the window wins (the lowest story id); otherwise the story
    sharing the most tokens (at least a third of the headline's, and two) whose headline is
    `same_story`, under the same-outlet rule (SAME_OUTLET_WINDOW). Ties go to the lowest story
    id, so every process decides alike.
    """
    sig = TitleSignature.of(title)
    if not sig.normalized:
        return None
    # Only the normalized title of every candidate (equality, shared tokens); the whole
    # signature (names, numbers, case, lead) only for the few that reach `same_story`. With
    # CANDIDATES rows per headline in a full window, whole signatures for all of them were
    # most of the decision's cost, and the part that grew with the window (issue 15 item 4).
    by_story: dict[int, list[tuple[str, str, float, str]]] = defaultdict(list)
    for story_id, other, when, their_outlet in candidates:
        by_story[story_id].append((other, _normalized(other), when, their_outlet))
    same = [
        sid for sid, entries in by_story.items()
        if any(e[1] == sig.normalized for e in entries)
        and any(abs(e[2] - published) <= window for e in entries)
    ]
    if same:
        return min(same)
    tokens = sig.tokens
    need = max(2, len(tokens) // 3)
    scored: list[tuple[int, int]] = []
    for story_id, entries in by_story.items():
        theirs: set[str] = set()
        for e in entries:
            theirs |= _tokens(e[1])
        shared = len(tokens & theirs)
        if shared >= need:
            scored.append((-shared, story_id))
    for _, story_id in sorted(scored):
        for their_title, their_norm, when, their_outlet in by_story[story_id]:
            gap = abs(when - published)
            if gap > window or (outlet and their_outlet == outlet and gap > SAME_OUTLET_WINDOW):
                continue
            # same_story needs the likeness below in any case: tested first, from the
            # normalized titles alone, it spares the whole signature of most candidates
            if _alike(sig, their_norm) and same_story(sig, TitleSignature.of(their_title)):
                return story_id
    return None


def _alike(sig: TitleSignature, their_normalized: str) -> bool:
    """The likeness `same_story` requires of two different headlines (token sort ratio or
    trigram Jaccard), from the other's normalized title only."""
    if sig.normalized == their_normalized:
        return True
    from rapidfuzz import fuzz  # see same_story

    if fuzz.token_sort_ratio(sig.normalized, their_normalized, score_cutoff=TOKEN_SORT_MIN):
        return True
    return _jaccard_reaches(sig.trigrams, their_normalized, JACCARD_MIN)


def _jaccard_reaches(ours: frozenset[Trigram], text: str, floor: float) -> bool:
    """`jaccard(ours, _trigrams(text)) >= floor`, without building the other set for most texts.

    The shared trigrams alone bound the Jaccard from above (the union is at least `ours`), and
    nearly every candidate `pick_story` checks falls below that bound: counting them while
    walking the text's windows costs about half of building, caching and intersecting its set
    (the likeness checks were a quarter of the store thread on ingest-cold). Exact: when the
    bound passes, the Jaccard is computed as before."""
    if not ours or not text or floor <= 0:
        return jaccard(ours, _trigrams(text)) >= floor
    padded = f"  {text} "
    shared = len(ours.intersection(zip(padded, padded[1:], padded[2:], strict=False)))
    if shared / len(ours) < floor:
        return False
    return jaccard(ours, _trigrams(text)) >= floor


@functools.lru_cache(maxsize=8192)
def _normalized_cached(title: str) -> str:
    return normalized_title(title)


def _normalized(title: str) -> str:
    """`TitleSignature.of(title).normalized` without the rest of the signature."""
    primed = _PRIMED_SIGNATURES.get(title)
    return primed.normalized if primed is not None else _normalized_cached(title)


# ----------------------------------------------------------------------------- worker-side signatures
#
# Why: the store's one thread is the serial step of a poll cycle (docs/benchmarks.md: on
# ingest-cold it is busy for the whole cycle while the parse workers idle about 40 % of it), and
# a new headline's signature and keys (normalizing, names and numbers, 16 pair keys) were about
# an eighth of its time per article. The parse workers compute them beside the articles
# (`headline_hints`); the poller `prime`s them before the batch reaches the store, which then
# only looks them up. Bounded: the newest PRIMED_MAX headlines (a batch is at most a feed's).

PRIMED_MAX = 4096
T = TypeVar("T")
_PRIMED_SIGNATURES: dict[str, TitleSignature] = {}
_PRIMED_KEYS: dict[str, tuple[int, ...]] = {}


@dataclass(frozen=True, slots=True)
class HeadlineHint:
    """A headline's clustering signature and keys, computed where the feed was parsed."""

    title: str
    signature: TitleSignature
    keys: tuple[int, ...]


def headline_hints(titles: Iterable[str]) -> tuple[HeadlineHint, ...]:
    """Computed without the module's caches: a worker sees each headline once, and filling the
    caches cost each worker about 10 MB of resident memory for nothing."""
    return tuple(_hint(t) for t in dict.fromkeys(titles))


def _hint(title: str) -> HeadlineHint:
    sig = _compute_signature(title, normalized_title(title))
    return HeadlineHint(title, sig, _keys_of(sig.normalized, _token_set(sig.normalized), _token_hash_uncached))


def prime(hints: Iterable[HeadlineHint]) -> None:
    """Remember signatures computed elsewhere (same functions, same version: the same values)."""
    for hint in hints:
        _remember(_PRIMED_SIGNATURES, hint.title, hint.signature)
        _remember(_PRIMED_KEYS, hint.title, hint.keys)


def _remember(table: dict[str, T], title: str, value: T) -> None:
    table.pop(title, None)  # re-inserted as the newest
    table[title] = value
    if len(table) > PRIMED_MAX:
        del table[next(iter(table))]
