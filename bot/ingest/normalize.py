"""Pure text and URL normalisation for feed items.

Why this exists: the same story reaches us through many feeds with different
tracking parameters, AMP variants, HTML wrappers and boilerplate. Identity,
clustering and rendering all need one stable, plain form. Everything here is a
pure function that never raises on hostile input (a feed is untrusted text).
"""

from __future__ import annotations

import html
import os
import re
import unicodedata
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from bot.lang import default_language, is_language_code, language_file, load_language
from bot.text import (
    GOOGLE_NEWS_HOSTS,
    is_google_news_url,
    normalize_title,
    strip_source_suffix,
    unescape_fully,
)

__all__ = [
    "GOOGLE_NEWS_HOSTS",
    "TRACKING_PARAMS",
    "article_identity",
    "canonical_url",
    "fix_mojibake",
    "html_to_text",
    "is_google_news_url",
    "normalize_title",
    "strip_source_suffix",
]

#: Query parameters that only track the reader; dropping them makes the same article
#: from different feeds share one canonical URL. Compared case-insensitively.
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "yclid", "twclid", "wbraid", "gbraid",
        "mc_cid", "mc_eid", "igshid", "ocid", "cmpid", "cmp", "_ga", "_gl", "_hsenc",
        "_hsmi", "ref", "ref_src", "ref_url", "smid", "smtyp", "partner", "partnerid",
        "feedtype", "feedname", "spref", "s_cid", "ito", "cid_source", "rss", "source_rss",
        "dicbo", "sr_share", "share", "via", "mbid", "ncid", "soc_src", "soc_trk",
        "amp",
    }
)  # fmt: skip
#: Prefixes of tracking parameter families (utm_source, at_medium (BBC), pk_campaign, ...).
TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "at_", "pk_", "mtm_", "hsa_", "oly_", "vero_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_BAD_HOST_CHARS = re.compile(r"[\s<>\"{}|\\^`]")
_PCT = re.compile(r"%[0-9a-fA-F]{2}")
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_MAX_URL = 4096


def _fold_amp_host(host: str) -> str:
    while host.startswith("amp.") and host.count(".") >= 2:
        host = host[4:]
    return host


def _fold_amp_path(path: str) -> str:
    while True:
        before = path
        path = path.rstrip("/")
        if path.endswith("/amp"):
            path = path[: -len("/amp")]
        if path.endswith(".amp.html"):
            path = path[: -len(".amp.html")] + ".html"
        elif path.endswith(".amp"):
            path = path[: -len(".amp")]
        if path == before:
            return path


def _is_tracking(name: str, value: str) -> bool:
    n = name.strip().lower()
    if n == "outputtype":  # ?outputType=amp is an AMP variant; other values may matter
        return value.strip().lower() == "amp"
    return n in TRACKING_PARAMS or n.startswith(TRACKING_PREFIXES)


def _canonical_once(url: str, base: str | None) -> str:
    url = url.strip()
    if not url or len(url) > _MAX_URL:
        return ""
    if base:
        url = urljoin(base.strip(), url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        return ""
    host = (parts.hostname or "").rstrip(".")
    if not host or _BAD_HOST_CHARS.search(host):
        return ""
    host = _fold_amp_host(host.lower())
    try:
        port = parts.port
    except ValueError:
        return ""
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = quote(parts.path, safe=_PATH_SAFE)
    path = _PCT.sub(lambda m: m.group(0).upper(), path)
    path = re.sub(r"/{2,}", "/", path)
    path = _fold_amp_path(path)
    query_pairs = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k and not _is_tracking(k, v)
    ]
    query = urlencode(sorted(query_pairs))
    return urlunsplit((scheme, netloc, path, query, ""))


_CANON_CACHE: dict[str, str] = {}
_CANON_CACHE_MAX = 8192


def canonical_url(url: str, base: str | None = None) -> str:
    """Canonical form of an article URL, used as its identity; "" for junk.

    Absolute (resolved against `base`), lower-case scheme and host, no default port,
    no fragment, no userinfo, tracking parameters dropped, other parameters sorted,
    AMP variants folded, no trailing slash. Idempotent; never raises.

    Remembered per URL (without `base`): parse_feed canonicalizes each link and then
    `article_identity` canonicalizes the result again; since the result is a fixpoint it is
    remembered as its own answer too, so the second call is a lookup.
    """
    if base is None:
        hit = _CANON_CACHE.get(url)
        if hit is not None:
            return hit
    result, fixpoint = _canonical_url(url, base)
    if base is None:
        if len(_CANON_CACHE) >= _CANON_CACHE_MAX:
            _CANON_CACHE.clear()
        _CANON_CACHE[url] = result
        if fixpoint:
            _CANON_CACHE[result] = result
    return result


def _canonical_url(url: str, base: str | None) -> tuple[str, bool]:
    """(canonical form, whether it is known to be its own canonical form)."""
    try:
        first = _canonical_once(url, base)
        # A second pass settles the rare inputs whose first pass exposed new foldable
        # parts (e.g. percent-decoding by parse_qsl); the result is then a fixpoint.
        for _ in range(3):
            again = _canonical_once(first, None) if first else ""
            if again == first:
                return first, bool(first)
            first = again
        return first, False
    except Exception:  # hostile text must never break ingest
        return "", False


# --- HTML to text --------------------------------------------------------------------

_SKIP_TAGS = frozenset(
    {"script", "style", "noscript", "iframe", "object", "embed", "template", "svg", "head",
     "title", "form", "button", "select", "textarea", "video", "audio", "canvas", "math"}
)  # fmt: skip
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "td",
     "th", "table", "blockquote", "section", "article", "header", "footer", "figure",
     "figcaption", "hr", "pre", "dd", "dt", "dl", "aside", "nav"}
)  # fmt: skip
#: class names whose whole element is feed-service junk (FeedBurner share buttons, etc.)
_JUNK_CLASSES = frozenset({"feedflare", "mf-viral", "share", "sharedaddy", "jp-relatedposts"})


class _TextExtractor(HTMLParser):
    """Collects visible text; skips scripts/styles and junk containers entirely."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self._skip_stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID_TAGS:
            if tag in {"br", "hr"} and not self._skip_stack:
                self.parts.append("\n")
            return
        classes = set()
        for name, value in attrs:
            if name == "class" and value:
                classes.update(value.lower().split())
        if self._skip_stack or tag in _SKIP_TAGS or classes & _JUNK_CLASSES:
            self._skip_stack.append(tag)
            return
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "hr"} and not self._skip_stack:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID_TAGS:
            return
        if self._skip_stack:
            # close up to the matching open tag (HTML in feeds is often unbalanced)
            if tag in self._skip_stack:
                while self._skip_stack and self._skip_stack.pop() != tag:
                    pass
            return
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_stack or self.size > self.limit:
            return
        self.parts.append(data)
        self.size += len(data)


_WS = re.compile(r"\s+")
# boilerplate phrases ("The post … appeared first on …", "Read more", "Leer más") are language
# data: [text] boilerplate of every config/lang/<code>.toml, loaded once per process
_BOILERPLATE: tuple[re.Pattern[str], ...] | None = None


def boilerplate_patterns() -> tuple[re.Pattern[str], ...]:
    """Every language's boilerplate, English first (loaded once per process).

    Why every language: a summary is cleaned when the feed is parsed, before the item's
    language is detected, and a feed may mix languages; each language's phrases ("Continúa
    leyendo", "Noticias relacionadas") are no other language's words, so applying them all
    removes nothing from a text in another language."""
    global _BOILERPLATE
    if _BOILERPLATE is None:
        english = default_language()
        env = os.environ.get("CIVIC_ALERTS_CONFIG_DIR")
        config_dir = Path(env) if env else None
        codes = {english.code}
        patterns = list(english.boilerplate)
        for folder in (language_file(config_dir).parent, language_file(None).parent):
            for path in sorted(folder.glob("*.toml")):
                if path.stem not in codes and is_language_code(path.stem):
                    codes.add(path.stem)
                    patterns.extend(load_language(config_dir, path.stem).boilerplate)
        _BOILERPLATE = tuple(patterns)
    return _BOILERPLATE


_MOJIBAKE_RUN = re.compile(r"[ÂÃâ][\u0080-\u00ff\u0152-\u2122]+")


def _cp1252_byte(ch: str) -> int:
    code = ord(ch)
    return code if code < 256 else ch.encode("cp1252")[0]


def _unmojibake(match: re.Match[str]) -> str:
    run = match.group(0)
    try:
        return bytes(_cp1252_byte(ch) for ch in run).decode("utf-8")
    except (UnicodeError, ValueError):
        return run


def fix_mojibake(text: str) -> str:
    """Repair UTF-8 that was decoded as cp1252 ("â€™" -> "’", "Ã©" -> "é").

    Several real feeds (Japan Times, The Verge) serve such text. Only runs starting with
    the lead characters of that error are touched and only when they decode cleanly, so
    ordinary accented or non-Latin text is left alone.
    """
    if "Â" not in text and "Ã" not in text and "â" not in text:
        return text
    return _MOJIBAKE_RUN.sub(_unmojibake, text)


def _clean_char(ch: str) -> str:
    """Control characters become spaces; invisible format characters (soft hyphen,
    zero-width joiner, bidi marks) are dropped, except the zero-width space."""
    if ch in "\n\t" or ch.isprintable():
        return ch
    if ch == "\u200b":
        return " "
    category = unicodedata.category(ch)
    if category == "Cf":
        return ""
    return " " if category == "Cc" else ch


def _clean_chars(text: str) -> str:
    """`_clean_char` over every character, decided once per distinct character.

    Why: a per-character generator over a 100 KB summary was a quarter of parse_feed's own
    time; the distinct characters of a text are few, almost all printable, and str.translate
    applies the few replacements in C. Same result as ``"".join(map(_clean_char, text))``."""
    table: dict[int, str] = {}
    for ch in set(text):
        clean = _clean_char(ch)
        if clean != ch:
            table[ord(ch)] = clean
    return text.translate(table) if table else text


def html_to_text(html_text: str, *, boilerplate: bool = True, max_input: int = 500_000) -> str:
    """Visible plain text of an HTML fragment, one line, boilerplate removed.

    Scripts, styles, images (tracking pixels) and FeedBurner share blocks are dropped,
    entities are unescaped (twice when a feed double-escaped them), whitespace collapsed.
    `boilerplate=False` keeps phrases like "Read more" (used for titles).
    `max_input` bounds work on a hostile multi-megabyte summary.
    """
    if not html_text:
        return ""
    try:
        text = html_text[:max_input]
        if "<" in text:
            extractor = _TextExtractor(limit=max_input)
            extractor.feed(text)
            extractor.close()
            text = "".join(extractor.parts)
        else:
            text = html.unescape(text)
        text = unescape_fully(text)
        if "<" in text and re.search(r"<[a-zA-Z/!]", text):
            # entities that decoded into markup ("&lt;b&gt;") are still markup, not text
            extractor = _TextExtractor(limit=max_input)
            extractor.feed(text)
            extractor.close()
            text = "".join(extractor.parts)
        text = fix_mojibake(text)
        text = _clean_chars(text)
        if boilerplate:
            for pattern in boilerplate_patterns():
                text = pattern.sub(" ", text)
        return _WS.sub(" ", text).strip()
    except Exception:  # defensive: never let one bad summary break a feed
        return _WS.sub(" ", re.sub(r"<[^>]*>", " ", html_text[:max_input])).strip()


# --- titles and identity -------------------------------------------------------------

def article_identity(
    *,
    url: str,
    guid: str | None,
    title: str,
    source: str | None,
    is_google_news: bool,
    feed_url: str,
    published: datetime | None = None,
) -> str:
    """Exact-duplicate key of an item.

    Google News: "gnews:<source>|<title>" (its links are opaque per-request redirects).
    Otherwise "url:<canonical>", else "guid:<feed>|<guid>", else
    "title:<feed>|<title>|<date>" (`published` only when the feed gave a real date,
    so a dateless item keeps one identity across polls).
    """
    if is_google_news:
        return f"gnews:{normalize_title(source or '')}|{normalize_title(title)}"
    canon = canonical_url(url) if url else ""
    if canon:
        return f"url:{canon}"
    feed = canonical_url(feed_url) or feed_url
    if guid and guid.strip():
        return f"guid:{feed}|{guid.strip()}"
    day = published.date().isoformat() if published is not None else ""
    return f"title:{feed}|{normalize_title(title)}|{day}"
