"""Relevance tokens and phrase lexicons, shared by the topic rules and the place finder.

Folding comes from ``bot.text`` (shared with ingest and stories); what is here is the
relevance-specific part: ASCII tokens with their separators, and phrase lookup.

Why tokens and dicts instead of one regex per term: classify must handle thousands of
items a second against a few hundred topic terms and ~3,500 city names. The text is
tokenized once (one C-level ``findall``); every phrase is indexed by its first token, so a
token that starts no phrase costs two dict look-ups and nothing else.

Phrase syntax (used in config/topics.toml and config/cities.toml):
- words are matched as whole tokens, case-insensitively: ``"Border Patrol"``;
- a trailing ``*`` makes the last word a prefix: ``"deport*"`` matches deported, deportation;
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


def parse_phrase(spec: str, payload: Any) -> Phrase | None:
    """Compile one phrase spec (see module doc). Returns None for an empty spec."""
    s = spec.strip()
    case = s.startswith("=")
    if case:
        s = s[1:]
    prefix = s.endswith("*")
    if prefix:
        s = s[:-1]
    toks = [t for _, t in _TOKEN_RE.findall(fold(s))]
    if not toks:
        return None
    if prefix and len(toks[-1]) < 3:
        raise ValueError(f"wildcard term {spec!r}: the prefix needs at least 3 letters")
    return Phrase(
        lower=tuple(t.lower() for t in toks),
        orig=tuple(toks),
        case_sensitive=case,
        last_prefix=prefix,
        payload=payload,
        text=spec,
    )


class _Slot:
    """Phrases sharing a first token: one-word ones, and longer ones keyed by the 2nd token."""

    __slots__ = ("by_second", "prefix_second", "singles")

    def __init__(self) -> None:
        self.singles: list[Phrase] = []
        self.by_second: dict[str, list[Phrase]] = {}
        self.prefix_second: list[Phrase] = []  # two-word phrases whose 2nd word is a prefix


class Lexicon:
    """Phrases indexed by their first two tokens; ``scan`` returns every (start, end, payload)."""

    _PREFIX_LEN = 3

    def __init__(self) -> None:
        self._exact: dict[str, _Slot] = {}
        self._prefix: dict[str, list[Phrase]] = {}
        self.size = 0

    def add(self, spec: str, payload: Any) -> None:
        p = parse_phrase(spec, payload)
        if p is None:
            return
        self.add_phrase(p)

    def add_phrase(self, p: Phrase) -> None:
        if len(p.lower) == 1 and p.last_prefix:
            self._prefix.setdefault(p.lower[0][: self._PREFIX_LEN], []).append(p)
        else:
            slot = self._exact.get(p.lower[0])
            if slot is None:
                slot = self._exact[p.lower[0]] = _Slot()
            if len(p.lower) == 1:
                slot.singles.append(p)
            elif len(p.lower) == 2 and p.last_prefix:
                slot.prefix_second.append(p)
            else:
                slot.by_second.setdefault(p.lower[1], []).append(p)
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
                    cands = slot.by_second.get(lower[i + 1])
                    if cands is not None:
                        for p in cands:
                            if _match_rest(p, lower, orig, i, n):
                                out.append((i, i + len(p.lower), p.payload))
                    for p in slot.prefix_second:
                        if _match_rest(p, lower, orig, i, n):
                            out.append((i, i + 2, p.payload))
            if prefix:
                cands = prefix.get(t[:pl])
                if cands is not None:
                    for p in cands:
                        if t.startswith(p.lower[0]) and (
                            not p.case_sensitive or orig[i].startswith(p.orig[0])
                        ):
                            out.append((i, i + 1, p.payload))
        return out


def _match_rest(p: Phrase, lower: list[str], orig: list[str], i: int, n: int) -> bool:
    m = len(p.lower)
    if i + m > n:
        return False
    last = m - 1
    for k in range(1, m):
        t = lower[i + k]
        w = p.lower[k]
        if k == last and p.last_prefix:
            if not t.startswith(w):
                return False
        elif t != w:
            return False
    if p.case_sensitive:
        for k in range(m):
            t = orig[i + k]
            w = p.orig[k]
            if k == last and p.last_prefix:
                if not t.startswith(w):
                    return False
            elif t != w:
                return False
    return True
