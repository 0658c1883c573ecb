"""How many independent outlets stand behind a story.

Why not simply the number of outlet names: a raid rumour copied by five stations of one owner,
or one wire story run verbatim by five papers, is still one source. The rule:

1. outlets of one owner count once (config/outlets_owners.toml maps outlet → owner);
2. syndicated copies count once: two articles are copies when their headlines are the same
   after normalization (bot.text.normalize_title, "identity" mode: case, quotes, punctuation
   folded), or when their summaries are the same text of at least `SAME_TEXT_MIN` characters
   (whitespace and case folded) — a wire story reprinted, whatever each outlet titled it;
3. everything linked by 1 or 2 (transitively) is one group; the count is the number of groups.

Pure: the store hands in the story's articles (source, title, summary) inside its transaction.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from bot.text import fold, normalize_title

SAME_TEXT_MIN = 80  # shorter summaries ("Police said…") are too generic to prove a copy


def outlet_key(name: str) -> str:
    return " ".join(fold(name or "").casefold().split())


def load_owners(path: Path) -> dict[str, str]:
    """config/outlets_owners.toml: `[owners]` owner = ["Outlet", …] → {outlet key: owner}.

    A missing file means no owner groups; a malformed one raises ValueError naming the file."""
    if not path.exists():
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path.name}: {exc}") from None
    owners = doc.get("owners", {})
    if not isinstance(owners, dict):
        raise ValueError(f"{path.name}: [owners] must be a table of owner = [outlets]")
    out: dict[str, str] = {}
    for owner, outlets in owners.items():
        if not isinstance(outlets, list) or not all(isinstance(o, str) for o in outlets):
            raise ValueError(f"{path.name}: owners.{owner} must be a list of outlet names")
        for outlet in outlets:
            out[outlet_key(outlet)] = str(owner)
    return out


def _text_key(summary: str) -> str | None:
    text = " ".join(fold(summary or "").casefold().split())
    return text if len(text) >= SAME_TEXT_MIN else None


@lru_cache(maxsize=8192)
def _article_keys(source: str, title: str, summary: str) -> tuple[str, str, str | None]:
    """(outlet, headline, text) keys of one article, remembered.

    Why a cache: the store recounts a story's outlets each time an article joins it, over all of
    the story's articles, so a story of n articles normalizes its headlines n²/2 times without
    one (about 3 s of the store thread on the 200 × 50 cluster-heavy benchmark). 8,192 entries
    hold every article of a few hundred live stories for a few MB.
    """
    return outlet_key(source), normalize_title(title), _text_key(summary)


def independent_outlets(
    articles: Iterable[tuple[str, str, str]], owners: Mapping[str, str] | None = None
) -> int:
    """Groups of (source, title, summary) articles after merging owners and copies (≥ 1)."""
    rows = list(articles)
    if len(rows) <= 1:
        return 1  # nothing to merge: every new story is counted here (its first article)
    owners = owners or {}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    outlets: set[str] = set()
    by_title: dict[str, str] = {}
    by_text: dict[str, str] = {}
    for source, title, summary in rows:
        key, t, s = _article_keys(source or "", title or "", summary or "")
        node = "owner:" + owners[key] if key in owners else "outlet:" + key
        outlets.add(node)
        find(node)
        if t:
            union(node, by_title.setdefault(t, node))
        if s:
            union(node, by_text.setdefault(s, node))
    return max(1, len({find(n) for n in outlets}))
