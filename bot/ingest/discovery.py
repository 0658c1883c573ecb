"""Feed discovery: from a site's home page to its RSS/Atom feed.

Why: people paste the outlet's address, not its feed's. The page's
`<link rel="alternate" type="application/rss+xml|atom+xml" href=…>` names the feed (relative
hrefs resolved against the page); a page that names none is tried at the common `/feed` and
`/rss` paths. Every request goes through the caller's fetcher, so a server-added address gets
the same guard as `/feeds add` (every hop re-checked). Never a guessed feed beyond those two.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from bot.ingest.fetch import Fetcher
from bot.ingest.parse import ParsedFeed, parse_feed
from bot.models import FetchResult

FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
COMMON_PATHS = ("/feed", "/rss")
MAX_CANDIDATES = 5


class _LinkFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str | None]] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href") and self.base is None:
            self.base = a["href"]
        if tag != "link":
            return
        rels = a.get("rel", "").lower().split()
        kind = a.get("type", "").lower().split(";")[0].strip()
        if "alternate" in rels and kind in FEED_TYPES and a.get("href", "").strip():
            self.links.append((a["href"].strip(), a.get("title") or None))


def feed_links(html: str, page_url: str) -> list[str]:
    """Absolute feed URLs a page names in `<link rel="alternate">`, in page order, http(s) only."""
    finder = _LinkFinder()
    try:
        finder.feed(html)
        finder.close()
    except Exception:  # html.parser is lenient; anything odd means "no links"
        return []
    base = urljoin(page_url, finder.base) if finder.base else page_url
    out: list[str] = []
    for href, _title in finder.links:
        url = urljoin(base, href)
        if urlsplit(url).scheme in {"http", "https"} and url not in out:
            out.append(url)
    return out


@dataclass(frozen=True, slots=True)
class Discovered:
    """The feed found for an address: where, how, its fetch and its parse."""

    url: str  # the feed's address (the given one when it already was a feed)
    how: str  # "given" | "link" | "path"
    result: FetchResult
    parsed: ParsedFeed


@dataclass(frozen=True, slots=True)
class NotFound:
    reason: str  # one line, safe to show
    result: FetchResult | None = None


async def _try(fetcher: Fetcher, url: str) -> tuple[FetchResult, ParsedFeed | None]:
    result = await fetcher.fetch(url)
    if not result.ok or not result.body:
        return result, None
    parsed = await asyncio.to_thread(parse_feed, result.body, feed_url=result.final_url or url, headers=result.headers)
    return result, parsed


async def discover(fetcher: Fetcher, url: str) -> Discovered | NotFound:
    """The feed at `url`, or the one its page names, or one at /feed or /rss."""
    result, parsed = await _try(fetcher, url)
    if parsed is None:
        reason = result.error or (f"HTTP {result.status}" if result.status else "no response")
        return NotFound(reason, result)
    if parsed.is_feed:
        return Discovered(url, "given", result, parsed)
    page = (result.body or b"")[: 2 * 1024 * 1024].decode("utf-8", "replace")
    page_url = result.final_url or url
    candidates = feed_links(page, page_url)[:MAX_CANDIDATES]
    how = "link"
    if not candidates:
        how = "path"
        candidates = [urljoin(page_url, p) for p in COMMON_PATHS]
    for candidate in candidates:
        found, feed = await _try(fetcher, candidate)
        if feed is not None and feed.is_feed:
            return Discovered(candidate, how, found, feed)
    if how == "link":
        return NotFound("the page names a feed, but it did not answer with RSS or Atom", result)
    return NotFound("not a feed, and the page names none (tried /feed and /rss)", result)
