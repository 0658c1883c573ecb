"""Shared text helpers for ingest, relevance and stories: folding, tokens, titles, clipping.

Why one module: each stage used to carry its own copy of these (two folds, two
``strip_source_suffix``, two Google News detectors, two clips) that had drifted apart. The
copies did not do the same thing, and what they did is part of stored identities and
measured relevance numbers, so where they differed each caller keeps its behaviour through
a parameter (documented on each function) rather than being silently unified.

Everything here is pure, never raises on hostile text, and pickles (it runs in the poller's
worker processes).
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "GOOGLE_NEWS_HOSTS",
    "clip",
    "collapse_ws",
    "fold",
    "is_google_news_url",
    "normalize_title",
    "strip_source_suffix",
    "title_tokens",
    "unescape_fully",
    "words",
]

# --- folding ----------------------------------------------------------------------------

_PUNCT_FOLD = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": " - ",
        "\u00a0": " ",
    }
)


def fold(text: str, *, ascii_only: bool = True) -> str:
    """Fold accents away; cheap for ASCII text.

    ``ascii_only=True`` (relevance: phrase matching over ASCII tokens): curly quotes and
    dashes are straightened first, then every non-ASCII character is decomposed and dropped
    ("São Paulo" → "Sao Paulo", "東京" → "").
    ``ascii_only=False`` (stories: headline tokens): only combining marks are dropped
    ("São" → "Sao"); other characters (curly quotes, non-Latin letters) are kept.
    """
    if text.isascii():
        return text
    if not ascii_only:
        text = unicodedata.normalize("NFKD", text)
        return "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.translate(_PUNCT_FOLD)
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


_WS = re.compile(r"\s+")
_ESCAPED_ENTITY = re.compile(r"&(#\d{1,7}|#x[0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")


def collapse_ws(text: str) -> str:
    """Runs of whitespace become one space; leading and trailing whitespace is dropped."""
    return _WS.sub(" ", text).strip()


def unescape_fully(text: str) -> str:
    """Unescape HTML entities left after one unescape (feeds like kottke.org double-escape)."""
    for _ in range(2):
        if not _ESCAPED_ENTITY.search(text):
            break
        text = html.unescape(text)
    return text


# --- tokens -----------------------------------------------------------------------------

# a word: letters/digits (any script), joined by an apostrophe ("Chicago's", "O’Hare")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)


def words(text: str) -> list[str]:
    """The words of a text in order, apostrophes inside a word kept ("Chicago’s")."""
    return _WORD.findall(text)


def title_tokens(title: str) -> list[str]:
    """Lower-case word tokens of a headline with possessives dropped ("Chicago's" → "chicago").

    HTML entities are unescaped and accents folded (``fold(ascii_only=False)``) first.
    """
    out = []
    for word in _WORD.findall(fold(html.unescape(title), ascii_only=False).casefold()):
        word = word.replace("’", "'")
        if word.endswith("'s"):
            word = word[:-2]
        out.append(word)
    return out


# --- titles -----------------------------------------------------------------------------

_QUOTES = re.compile(r"[\"'`´‘’‚‛“”„‟«»‹›「」『』〝〞＂＇]")
_NON_WORD = re.compile(r"[\W_]+")

TitleMode = Literal["identity", "cluster"]


def normalize_title(title: str, *, mode: TitleMode = "identity") -> str:
    """Comparable form of a headline.

    ``mode="identity"`` (ingest: the exact-duplicate key of Google News items, stored in the
    database): entities unescaped (twice if needed), NFKC, casefolded, quotes removed,
    punctuation to spaces ("Chicago's" → "chicagos").
    ``mode="cluster"`` (stories: near-duplicate headlines): ``title_tokens`` joined by one
    space, possessives dropped ("Chicago's" → "chicago").
    The two differ on purpose; changing either would change stored keys or clusters.
    """
    if mode == "cluster":
        return " ".join(title_tokens(title))
    if not title:
        return ""
    text = unescape_fully(html.unescape(title))
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _QUOTES.sub("", text)
    text = _NON_WORD.sub(" ", text)
    return collapse_ws(text)


_SUFFIX_SEPARATORS = (" - ", " – ", " — ", " | ", " -- ")
_GUESSED_SUFFIX = re.compile(r"\s+[-\u2013\u2014|]\s+([^-\u2013\u2014|]{2,60})$")


def strip_source_suffix(title: str, source: str | None = None, *, guess: bool = False) -> str:
    """Drop a trailing " - Publisher" that Google News appends to every headline.

    Known publisher (``guess=False``, ingest): whitespace is collapsed and " - <source>" is
    removed, repeatedly — when the publisher's own headline already ends with its name,
    Google News appends it a second time ("… - Yahoo!ニュース - Yahoo!ニュース"). With no
    source the title is only whitespace-collapsed.
    Unknown publisher (``guess=True``, relevance: the outlet is not the place): one trailing
    " - Outlet Name" of at most six words after a headline of at least four words is cut;
    ``source`` is ignored and whitespace left as it is.
    """
    if guess:
        m = _GUESSED_SUFFIX.search(title)
        if m and len(m.group(1).split()) <= 6 and len(title[: m.start()].split()) >= 4:
            return title[: m.start()]
        return title
    clean = collapse_ws(title or "")
    src = collapse_ws(source or "")
    if not src:
        return clean
    changed = True
    while changed:
        changed = False
        lowered = clean.casefold()
        for sep in _SUFFIX_SEPARATORS:
            suffix = (sep + src).casefold()
            if lowered.endswith(suffix) and len(clean) > len(suffix):
                clean = clean[: -len(suffix)].rstrip()
                changed = True
                break
    return clean


# --- Google News --------------------------------------------------------------------------

GOOGLE_NEWS_HOSTS: frozenset[str] = frozenset({"news.google.com"})


def is_google_news_url(url: str, *, canonical: bool = False) -> bool:
    """True for news.google.com links (opaque redirects that cannot be decoded offline).

    Default (ingest, any link from a feed): the URL's host, case-insensitively.
    ``canonical=True`` (stories' ``link_rank``, over canonical URLs whose host is already
    lower-case): the historic substring test ``"://news.google.com/" in url``, kept because
    it decides which link leads a story.
    """
    if canonical:
        return "://news.google.com/" in url
    try:
        host = (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return False
    return host in GOOGLE_NEWS_HOSTS


# --- clipping ---------------------------------------------------------------------------

_CLIP_TRIM = " ,;:-—"


def clip(
    text: str,
    limit: int,
    *,
    word_floor: float = 0.6,
    collapse: bool = True,
    trim: str | None = _CLIP_TRIM,
) -> str:
    """Cut to at most ``limit`` characters, at a word boundary, with an ellipsis.

    The cut falls at the last space when that keeps more than ``word_floor`` × limit
    characters; ``trim`` characters (``None``: any whitespace) are then stripped from the end
    before "…".
    Defaults (render: headlines, summaries, "why" lines): whitespace collapsed first,
    floor 0.6, trailing " ,;:-—" trimmed. Ingest caps titles and summaries with
    ``collapse=False, word_floor=0.8, trim=None`` (its historic behaviour).
    """
    if collapse:
        text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * word_floor:
        cut = cut[:space]
    return cut.rstrip(trim) + "…"
