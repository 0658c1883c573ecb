"""Feed bytes -> ParsedFeed of normalized Articles.

Why a pure, sync, top-level function: feedparser is CPU-bound and blocking, so the
poller runs `parse_feed` in a ProcessPoolExecutor; everything it takes and returns must
pickle, and it must not touch the network or the event loop. Feed content is untrusted:
entity declarations are stripped before parsing (billion laughs, XXE), HTML is
sanitized by feedparser and reduced to text here, and counts and sizes are capped so a
hostile feed cannot blow memory downstream.
"""

from __future__ import annotations

import calendar
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bot.ingest import fastfeed
from bot.ingest.normalize import article_identity, canonical_url, html_to_text
from bot.lang import primary_language
from bot.models import Article
from bot.text import clip, is_google_news_url, normalize_title, strip_source_suffix

__all__ = [
    "FUTURE_TOLERANCE",
    "MAX_ENTRIES",
    "MAX_SUMMARY_CHARS",
    "MAX_TITLE_CHARS",
    "ParsedFeed",
    "parse_feed",
]

#: Only the first MAX_ENTRIES entries become Articles (a 10,000-item feed is hostile or broken).
MAX_ENTRIES = 2000
MAX_TITLE_CHARS = 500
MAX_SUMMARY_CHARS = 2000
MAX_GUID_CHARS = 1000
MAX_URL_CHARS = 2048
MAX_SOURCE_CHARS = 200
#: Dates later than now + this are clamped to now (and marked unknown).
FUTURE_TOLERANCE = timedelta(minutes=10)
#: Read the common RSS 2.0 / Atom 1.0 shapes with bot.ingest.fastfeed (pyexpat) instead of
#: feedparser: same articles (`python -m bench.verify_fastfeed`), about half the CPU per feed.
FAST_PATH = True
#: HTML we hand to html_to_text for one summary; more cannot survive the 2,000-char cap.
_MAX_SUMMARY_HTML = 100_000


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document yielded. `is_feed` False means "not a feed at all"."""

    title: str | None
    link: str | None
    articles: tuple[Article, ...]
    bozo: str | None
    is_feed: bool


_DOCTYPE_WITH_SUBSET = re.compile(rb"<!DOCTYPE[^\[>]*\[.*?\]\s*>", re.DOTALL | re.IGNORECASE)
_DOCTYPE_ANY = re.compile(rb"<!DOCTYPE[^>]*>", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY[^>]*>", re.IGNORECASE)


def _strip_dtd(body: bytes) -> bytes:
    """Remove DOCTYPE internal subsets and ENTITY declarations from the prolog.

    feedparser already drops "unsafe" entities, but only those its line-anchored regex
    sees; removing every internal subset before the XML parser runs closes the
    billion-laughs and external-entity (file:///etc/passwd) doors outright. Plain
    DOCTYPEs (no subset) are left for feedparser, which replaces them itself.
    """
    first_element = re.search(rb"<[A-Za-z]", body)
    cut = first_element.start() if first_element else len(body)
    head = body[:cut]
    if b"<!" not in head:
        return body
    head = _DOCTYPE_WITH_SUBSET.sub(b"", head)
    head = _ENTITY_DECL.sub(b"", head)
    if re.search(rb"(?i)<!DOCTYPE[^>]*\[", head):  # an unterminated subset: drop it all
        head = _DOCTYPE_ANY.sub(b"", head)
    return head + body[cut:]


def _text(value: Any, limit: int) -> str:
    return str(value or "").strip()[:limit] if value else ""


def _cap(text: str, limit: int) -> str:
    """Ingest's cap on titles and summaries: a word cut, no whitespace collapsing."""
    return clip(text, limit, word_floor=0.8, collapse=False, trim=None)


def _http_url(value: Any, base: str) -> str:
    """An absolute http(s) URL from a feed field, or "" (javascript:, data:, junk)."""
    if not value or not isinstance(value, str):
        return ""
    raw = value.strip()[:MAX_URL_CHARS]
    try:
        absolute = urljoin(base, raw) if base else raw
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:
        return ""
    return absolute if scheme in {"http", "https"} else ""


def _date(entry: Mapping[str, Any], now: datetime, fallback: datetime | None = None) -> tuple[datetime, bool]:
    """The item's date and whether the feed gave it. Without one: the feed's own date when it
    has one (a channel's pubDate/lastBuildDate, an Atom feed's updated — an undated item is at
    least that old), else `now`; either way marked unknown (False)."""
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get("updated_parsed") falls back to published_parsed
        # with a DeprecationWarning; we want each field on its own.
        parsed = dict.get(entry, key) if isinstance(entry, dict) else entry.get(key)
        if not parsed:
            continue
        try:
            when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
        except (OverflowError, ValueError, OSError, TypeError):
            continue
        if when > now + FUTURE_TOLERANCE:
            return now, False  # far-future dates are garbage; treat as first seen
        return when, True
    return (fallback if fallback is not None and fallback <= now else now), False


_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|avif)(?:$|\?)", re.IGNORECASE)


def _is_image(item: Mapping[str, Any]) -> bool:
    kind = str(item.get("type") or "").lower()
    medium = str(item.get("medium") or "").lower()
    url = str(item.get("url") or item.get("href") or "")
    if kind.startswith("image/") or medium == "image":
        return True
    if kind or medium:
        return False
    return bool(_IMAGE_EXT.search(url))


def _width(item: Mapping[str, Any]) -> int:
    try:
        return int(str(item.get("width") or 0))
    except ValueError:
        return 0


def _image(entry: Mapping[str, Any], base: str) -> str | None:
    candidates: list[Mapping[str, Any]] = []
    media = [m for m in entry.get("media_content") or [] if isinstance(m, Mapping) and _is_image(m)]
    candidates.extend(sorted(media, key=_width, reverse=True))
    candidates.extend(m for m in entry.get("media_thumbnail") or [] if isinstance(m, Mapping))
    candidates.extend(
        e
        for e in entry.get("enclosures") or []
        if isinstance(e, Mapping) and str(e.get("type") or "").lower().startswith("image/")
    )
    for item in candidates:
        url = _http_url(item.get("url") or item.get("href"), base)
        if url:
            return url
    return None


def _summary_html(entry: Mapping[str, Any]) -> str:
    summary = entry.get("summary") or ""
    if not summary:
        for content in entry.get("content") or []:
            if isinstance(content, Mapping) and content.get("value"):
                summary = content["value"]
                break
    return str(summary)[:_MAX_SUMMARY_HTML]


def _headers(headers: Mapping[str, str] | None, feed_url: str) -> dict[str, str]:
    out = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    # feedparser resolves relative links against content-location; with bytes input it
    # has no URL of its own, so the feed's (final) URL stands in unless the server sent one.
    if feed_url:
        out["content-location"] = urljoin(feed_url, out.get("content-location", "").strip())
    # Once there are headers feedparser expects a content-type; without one it reports
    # NonXMLContentType and hides the real bozo reason. application/xml defers the
    # charset to the XML declaration / sniffing, as a missing header should.
    out.setdefault("content-type", "application/xml")
    out.pop("content-encoding", None)  # the body is already decoded
    out.pop("content-length", None)
    return out


def _entry_to_article(
    entry: Mapping[str, Any],
    *,
    feed_url: str,
    base: str,
    default_source: str,
    now: datetime,
    lang: str | None = None,
    feed_date: datetime | None = None,
) -> Article:
    origlink = entry.get("feedburner_origlink")
    link = _http_url(origlink, base) or _http_url(entry.get("link"), base)
    if not link:
        for alt in entry.get("links") or []:
            if isinstance(alt, Mapping) and alt.get("rel", "alternate") == "alternate":
                link = _http_url(alt.get("href"), base)
                if link:
                    break
    guid = _text(entry.get("id") or entry.get("guid"), MAX_GUID_CHARS) or None
    is_gnews = is_google_news_url(link)

    source = default_source
    source_url: str | None = None
    src = entry.get("source")
    if isinstance(src, Mapping):
        src_title = html_to_text(str(src.get("title") or ""), boilerplate=False)
        if src_title:
            source = src_title[:MAX_SOURCE_CHARS]
        source_url = _http_url(src.get("href") or src.get("url"), base) or None

    title_raw = str(entry.get("title") or "")[: MAX_TITLE_CHARS * 20]
    title = html_to_text(title_raw, boilerplate=False)
    if is_gnews:
        if source_url is None and " - " in title:
            # no <source> element: the publisher is only in the " - Publisher" suffix
            head, _, tail = title.rpartition(" - ")
            if head and 0 < len(tail) <= 80:
                source = tail.strip()[:MAX_SOURCE_CHARS]
        title = strip_source_suffix(title, source)
    title = _cap(title, MAX_TITLE_CHARS)
    # GN descriptions repeat the headline and publisher (and cluster siblings): no information
    # beyond the title, so they are kept out of the summary — and not even reduced to text,
    # which was most of a Google News feed's own conversion time (a 2–3 KB <ol> per item).
    summary = "" if is_gnews else _cap(html_to_text(_summary_html(entry)), MAX_SUMMARY_CHARS)
    if not normalize_title(title, mode="cluster") and summary:
        # No title (Mastodon and other microblog feeds) or one of emoji/punctuation only: the
        # text's opening is the headline people see and the one stories cluster on.
        title = derived_headline(summary, title)
    published, known = _date(entry, now, feed_date)
    url = canonical_url(link) if link else ""
    identity = article_identity(
        url=url,
        guid=guid,
        title=title,
        source=source,
        is_google_news=is_gnews,
        feed_url=feed_url,
        published=published if known else None,
    )
    return Article(
        feed_url=feed_url,
        guid=guid,
        url=url,
        link=link,
        title=title,
        summary=summary,
        published=published,
        published_known=known,
        source=source,
        source_url=source_url,
        image_url=_image(entry, base),
        identity=identity,
        is_google_news=is_gnews,
        lang=lang,
    )


DERIVED_HEADLINE_CHARS = 120


def derived_headline(text: str, title: str = "") -> str:
    """A headline for a title-less item: its text's first sentence, at most 120 characters.

    An emoji-only title is kept in front of it ("🚨 Police close …") since it is what the
    author wrote; it never clusters on its own (its cluster form is empty).
    """
    flat = " ".join(text.split())
    sentence = re.split(r"(?<=[.!?])\s", flat, maxsplit=1)[0]
    head = clip(sentence, DERIVED_HEADLINE_CHARS)
    return f"{title.strip()} {head}".strip() if title.strip() else head


def _bozo_text(result: Mapping[str, Any]) -> str | None:
    if not result.get("bozo"):
        return None
    exc = result.get("bozo_exception")
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"
    return " ".join(text.split())[:300]


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    headers: Mapping[str, str] | None = None,
    feed_name: str | None = None,
    now: datetime | None = None,
    lang: str | None = None,
) -> ParsedFeed:
    """Parse one feed document into Articles (no dedup: that is the store's job).

    `headers` are the HTTP response headers (content-type gives the charset);
    `feed_url` is the URL the body came from (the final URL after redirects), used to
    resolve relative links; `feed_name` (configured outlet name) beats the feed's title
    as `source`; `now` is the first-seen time for items without a usable date (and
    for dates more than 10 minutes in the future, which are garbage: published_known
    is False for both).

    Never raises on hostile bytes: if the parser itself fails the result is
    `is_feed=False` with the reason in `bozo`.

    Each article's `lang` is the feed's declared language (RSS <language>, Atom xml:lang)
    reduced to its primary subtag ("en-US" → "en"), else `lang` (the feed config's), else None.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        return _parse(
            body, feed_url=feed_url, headers=headers, feed_name=feed_name, now=now, lang=lang
        )
    except Exception as exc:  # a parser bug must cost one feed, not the poll cycle
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return ParsedFeed(
            title=None, link=None, articles=(), bozo=f"parser failed: {reason}", is_feed=False
        )


def _parse(
    body: bytes,
    *,
    feed_url: str,
    headers: Mapping[str, str] | None,
    feed_name: str | None,
    now: datetime,
    lang: str | None = None,
) -> ParsedFeed:
    safe_body = _strip_dtd(body or b"")
    # sanitize_html / resolve_relative_uris rewrite every HTML field through sgmllib (more than
    # half of feedparser's time on a news feed), but nothing here keeps HTML: titles and
    # summaries go through html_to_text, which drops scripts, styles and markup itself, and links
    # come from link elements, which feedparser resolves either way. Checked to give the same
    # articles on all of ../shared/feeds-real, tests/data and the hostile documents
    # (`python -m bench.verify_parse`; docs/benchmarks.md); the only difference: an undefined entity
    # keeps its ";" ("&xxe;" instead of "&xxe").
    response_headers = _headers(headers, feed_url)
    result = fastfeed.parse(safe_body, response_headers) if FAST_PATH else None
    if result is None:
        result = feedparser.parse(
            io.BytesIO(safe_body),
            response_headers=response_headers,
            resolve_relative_uris=False,
            sanitize_html=False,
        )
    feed = result.get("feed") or {}
    entries = result.get("entries") or []
    version = result.get("version") or ""
    feed_title = html_to_text(str(feed.get("title") or ""), boilerplate=False)[:MAX_TITLE_CHARS]
    feed_link = _http_url(feed.get("link"), feed_url) or None
    # Links in the document resolve against the feed's own URL (feedparser already used
    # content-location); a relative <link> at channel level is resolved the same way.
    base = feed_url
    default_source = (
        (feed_name or "").strip()
        or feed_title
        or (urlsplit(feed_url).hostname or "")
        or "unknown source"
    )[:MAX_SOURCE_CHARS]
    article_lang = primary_language(feed.get("language")) or lang
    feed_date, feed_date_known = _date(feed, now)
    converted = (
        _entry_to_article(
            entry,
            feed_url=feed_url,
            base=base,
            default_source=default_source,
            now=now,
            lang=article_lang,
            feed_date=feed_date if feed_date_known else None,
        )
        for entry in entries[:MAX_ENTRIES]
    )
    # An entry with neither headline nor text (e.g. the wreck of malformed XML) would become
    # a story with an empty headline: nothing to show, search or alert on.
    articles = tuple(a for a in converted if a.title or a.summary)
    return ParsedFeed(
        title=feed_title or None,
        link=feed_link,
        articles=articles,
        bozo=_bozo_text(result),
        is_feed=bool(version) or bool(entries),
    )
