"""Relevance tokens and phrase lexicons, shared by the topic rules and the place finder.

Folding comes from ``bot.text`` (shared with ingest and stories); what is here is the
relevance-specific part: ASCII tokens with their separators, and phrase lookup.

Why tokens and dicts instead of one regex per term: classify must handle thousands of
items a second against a few hundred topic terms and ~3,500 city names. The text is
tokenized once (one C-level ``findall``); every phrase is indexed by its first token, so a
token that starts no phrase costs two dict look-ups and nothing else.

Phrase syntax (used in config/topics.toml and config/cities.toml):
- words are matched as whole tokens, case-insensitively: ``"Border Patrol"``;
- a trailing ``*`` makes a word a prefix: ``"deport*"`` matches deported, deportation; any word
  of a phrase may be one (``"cooper* con ICE"`` matches "cooperará con ICE", "cooperación con
  ICE"): Spanish verbs and nouns inflect inside a phrase, not only at its end;
- a leading ``=`` makes the phrase case-sensitive: ``"=ICE"`` matches ICE, not ice;
- punctuation and spacing are ignored: ``"ICE-free zone*"`` == ``"ICE free zones"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.text import fold

# ASCII tokens after ``bot.text.fold``: (separator before, token)
_TOKEN_RE = re.compile(r"([^A-Za-z0-9]*)([A-Za-z0-9]+)")


@dataclass(slots=True)
class Tokens:
    """A tokenized text: original tokens, lower-cased tokens and the separator before each."""

    orig: list[str]
    lower: list[str]
    seps: list[str]

    def surface(self, i: int, j: int) -> str:
        """The original text of tokens [i, j), punctuation between them kept."""
        if i >= j:
            return ""
        parts = [self.orig[i]]
        for k in range(i + 1, j):
            parts.append(self.seps[k])
            parts.append(self.orig[k])
        return "".join(parts).strip()


def tokenize(text: str) -> Tokens:
    pairs = _TOKEN_RE.findall(fold(text))
    orig = [p[1] for p in pairs]
    return Tokens(orig=orig, lower=[t.lower() for t in orig], seps=[p[0] for p in pairs])


def norm_key(text: str) -> str:
    """Canonical lookup key of a name: lower-case tokens joined by one space."""
    return " ".join(t.lower() for _, t in _TOKEN_RE.findall(fold(text)))


@dataclass(frozen=True, slots=True)
class Phrase:
    lower: tuple[str, ...]
    orig: tuple[str, ...]
    case_sensitive: bool
    last_prefix: bool
    payload: Any
    text: str
    # one flag per token: that token is a prefix (``*`` after its word in the spec)
    prefixes: tuple[bool, ...] = ()


def parse_phrase(spec: str, payload: Any) -> Phrase | None:
    """Compile one phrase spec (see module doc). Returns None for an empty spec."""
    s = spec.strip()
    case = s.startswith("=")
    if case:
        s = s[1:]
    toks: list[str] = []
    prefixes: list[bool] = []
    for chunk in s.split():
        star = chunk.endswith("*")
        words = [t for _, t in _TOKEN_RE.findall(fold(chunk.rstrip("*")))]
        if not words:
            continue
        if star and len(words[-1]) < 3:
            raise ValueError(f"wildcard term {spec!r}: the prefix needs at least 3 letters")
        toks.extend(words)
        prefixes.extend([False] * (len(words) - 1) + [star])
    if not toks:
        return None
    return Phrase(
        lower=tuple(t.lower() for t in toks),
        orig=tuple(toks),
        case_sensitive=case,
        last_prefix=prefixes[-1],
        payload=payload,
        text=spec,
        prefixes=tuple(prefixes),
    )


class _Second:
    """Phrases sharing their first two tokens: two-word ones, longer ones by the 3rd token.

    Why a third level: a Spanish term expands to many forms that share their first two words
    ("agentes de inmigracion", "agentes de la Patrulla…", "agentes del ICE"); keyed by the
    third token, a text pays for the forms that can still match, not for all of them."""

    __slots__ = ("by_third", "loose", "pairs")

    def __init__(self) -> None:
        self.pairs: list[Phrase] = []
        self.by_third: dict[str, list[Phrase]] = {}
        self.loose: list[Phrase] = []  # 3+ words whose 3rd word is a prefix


class _Slot:
    """Phrases sharing a first token: one-word ones, and longer ones keyed by the 2nd token."""

    __slots__ = ("by_second", "prefix_second", "singles")

    def __init__(self) -> None:
        self.singles: list[Phrase] = []
        self.by_second: dict[str, _Second] = {}
        self.prefix_second: list[Phrase] = []  # phrases whose 2nd word is a prefix


class Lexicon:
    """Phrases indexed by their first two tokens; ``scan`` returns every (start, end, payload)."""

    _PREFIX_LEN = 3

    def __init__(self) -> None:
        self._exact: dict[str, _Slot] = {}
        self._prefix: dict[str, list[Phrase]] = {}
        # phrases of 2+ words whose first word is a prefix, by its first 3 letters
        self._prefix_multi: dict[str, list[Phrase]] = {}
        self.size = 0

    def add(self, spec: str, payload: Any) -> None:
        p = parse_phrase(spec, payload)
        if p is None:
            return
        self.add_phrase(p)

    def add_phrase(self, p: Phrase) -> None:
        prefixes = p.prefixes or (False,) * (len(p.lower) - 1) + (p.last_prefix,)
        if len(p.lower) == 1 and p.last_prefix:
            self._prefix.setdefault(p.lower[0][: self._PREFIX_LEN], []).append(p)
        elif prefixes[0]:
            self._prefix_multi.setdefault(p.lower[0][: self._PREFIX_LEN], []).append(p)
        else:
            slot = self._exact.get(p.lower[0])
            if slot is None:
                slot = self._exact[p.lower[0]] = _Slot()
            if len(p.lower) == 1:
                slot.singles.append(p)
            elif prefixes[1]:
                slot.prefix_second.append(p)
            else:
                sec = slot.by_second.get(p.lower[1])
                if sec is None:
                    sec = slot.by_second[p.lower[1]] = _Second()
                if len(p.lower) == 2:
                    sec.pairs.append(p)
                elif prefixes[2]:
                    sec.loose.append(p)
                else:
                    sec.by_third.setdefault(p.lower[2], []).append(p)
        self.size += 1

    def add_all(self, specs: Iterable[str], payload: Any) -> None:
        for s in specs:
            self.add(s, payload)

    def scan(self, toks: Tokens) -> list[tuple[int, int, Any]]:
        lower = toks.lower
        orig = toks.orig
        n = len(lower)
        exact = self._exact
        prefix = self._prefix
        multi = self._prefix_multi
        pl = self._PREFIX_LEN
        out: list[tuple[int, int, Any]] = []
        for i in range(n):
            t = lower[i]
            slot = exact.get(t)
            if slot is not None:
                for p in slot.singles:
                    if p.case_sensitive and orig[i] != p.orig[0]:
                        continue
                    out.append((i, i + 1, p.payload))
                if i + 1 < n:
                    sec = slot.by_second.get(lower[i + 1])
                    if sec is not None:
                        for p in sec.pairs:
                            if not p.case_sensitive or _match_rest(p, lower, orig, i, n):
                                out.append((i, i + 2, p.payload))
                        if i + 2 < n:
                            cands = sec.by_third.get(lower[i + 2])
                            if cands is not None:
                                for p in cands:
                                    if _match_rest(p, lower, orig, i, n):
                                        out.append((i, i + len(p.lower), p.payload))
                            for p in sec.loose:
                                if _match_rest(p, lower, orig, i, n):
                                    out.append((i, i + len(p.lower), p.payload))
                    for p in slot.prefix_second:
                        if _match_rest(p, lower, orig, i, n):
                            out.append((i, i + len(p.lower), p.payload))
            if prefix:
                cands = prefix.get(t[:pl])
                if cands is not None:
                    for p in cands:
                        if t.startswith(p.lower[0]) and (
                            not p.case_sensitive or orig[i].startswith(p.orig[0])
                        ):
                            out.append((i, i + 1, p.payload))
            if multi:
                cands = multi.get(t[:pl])
                if cands is not None:
                    for p in cands:
                        if t.startswith(p.lower[0]) and _match_rest(p, lower, orig, i, n):
                            out.append((i, i + len(p.lower), p.payload))
        return out


def _match_rest(p: Phrase, lower: list[str], orig: list[str], i: int, n: int) -> bool:
    """Tokens i+1… match the phrase's words 1…; the first token was matched by the caller
    (exactly, or as a prefix), and here only its case is checked."""
    m = len(p.lower)
    if i + m > n:
        return False
    prefixes = p.prefixes or (False,) * (m - 1) + (p.last_prefix,)
    for k in range(1, m):
        t = lower[i + k]
        w = p.lower[k]
        if prefixes[k]:
            if not t.startswith(w):
                return False
        elif t != w:
            return False
    if p.case_sensitive:
        for k in range(m):
            t = orig[i + k]
            w = p.orig[k]
            if prefixes[k]:
                if not t.startswith(w):
                    return False
            elif t != w:
                return False
    return True
