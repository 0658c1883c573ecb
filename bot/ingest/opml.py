"""OPML import and export, with a parser that refuses what a hostile file could do.

Why not plain `xml.etree`: an OPML file comes from anyone (a Discord attachment). A DTD with
entities can expand to gigabytes (billion laughs) or name local files (XXE). This parser
runs expat directly and refuses any DOCTYPE or entity declaration, caps the size, the number
of outlines and their nesting, and checks every feed address before anything is written —
a bad file changes nothing and gets one line saying why (`OpmlError.user_message`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from bot.errors import UserInputError

MAX_BYTES = 512 * 1024
MAX_OUTLINES = 500
MAX_DEPTH = 3  # body → folder → feed; deeper nesting is refused
NS_ATTR = "civic:"  # our own attributes: civic:city, civic:lang (lossless round trip)


class OpmlError(UserInputError):
    """An OPML file that cannot be imported; `user_message` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"OPML refused: {reason}", user_message=f"OPML refused: {reason}")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None = None
    city: str | None = None
    lang: str | None = None


class _Refuse(Exception):
    pass


def parse_opml(data: bytes, *, max_bytes: int = MAX_BYTES) -> list[OpmlFeed]:
    """Feeds of an OPML document, in order; raises OpmlError (one line) for any problem."""
    if len(data) > max_bytes:
        raise OpmlError(f"the file is {len(data):,} bytes; the limit is {max_bytes:,}")
    if not data.strip():
        raise OpmlError("the file is empty")
    parser = expat.ParserCreate()
    feeds: list[OpmlFeed] = []
    stack: list[str] = []
    seen: set[str] = set()
    state = {"body": False}
    counts = {"outlines": 0}

    def refuse(*_args: object) -> None:
        raise _Refuse("it declares a DTD or entities (not allowed)")

    def start(name: str, attrs: dict[str, str]) -> None:
        if not stack:
            if name != "opml":
                raise _Refuse(f"the root element is <{name[:40]}>, not <opml>")
        if name == "body":
            state["body"] = True
        if name == "outline":
            depth = stack.count("outline") + 1
            if depth > MAX_DEPTH:
                raise _Refuse(f"outlines are nested {depth} deep (at most {MAX_DEPTH})")
            counts["outlines"] += 1
            if counts["outlines"] > MAX_OUTLINES:
                raise _Refuse(f"more than {MAX_OUTLINES} outlines")
            url = (attrs.get("xmlUrl") or "").strip()
            if url:
                parts = urlsplit(url)
                try:
                    host = parts.hostname
                except ValueError:
                    host = None
                if parts.scheme.lower() not in {"http", "https"} or not host:
                    raise _Refuse(f"feed {url[:80]!r} is not an http(s) address")
                if len(url) > 2000:
                    raise _Refuse("a feed address is longer than 2,000 characters")
                if url in seen:
                    raise _Refuse(f"feed {url[:80]} appears twice")
                seen.add(url)
                title = (attrs.get("title") or attrs.get("text") or "").strip()[:200] or None
                title = None if title == url else title
                feeds.append(
                    OpmlFeed(url, title, attrs.get(NS_ATTR + "city") or None, attrs.get(NS_ATTR + "lang") or None)
                )
        stack.append(name)

    def end(name: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    try:
        parser.Parse(data, True)
    except _Refuse as exc:
        raise OpmlError(str(exc)) from None
    except expat.ExpatError as exc:
        raise OpmlError(f"not well-formed XML ({expat.errors.messages[exc.code]}, line {exc.lineno})") from None
    if not state["body"]:
        raise OpmlError("there is no <body>")
    if not feeds:
        raise OpmlError("it lists no feeds (no outline has an xmlUrl)")
    return feeds


def render_opml(feeds: Sequence[OpmlFeed], *, title: str = "civic-alerts feeds") -> str:
    """OPML 2.0 text; our city and language ride along as civic:city / civic:lang."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0" xmlns:civic="https://github.com/civic-alert-bot/opml">',
        f"  <head><title>{_text(title)}</title></head>",
        "  <body>",
    ]
    for feed in feeds:
        attrs = [f"type={quoteattr('rss')}", f"xmlUrl={quoteattr(feed.url)}"]
        if feed.title:
            attrs += [f"text={quoteattr(feed.title)}", f"title={quoteattr(feed.title)}"]
        else:
            attrs.append(f"text={quoteattr(feed.url)}")
        if feed.city:
            attrs.append(f"civic:city={quoteattr(feed.city)}")
        if feed.lang:
            attrs.append(f"civic:lang={quoteattr(feed.lang)}")
        lines.append(f"    <outline {' '.join(attrs)}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)


def _text(value: str) -> str:
    return quoteattr(value)[1:-1]
