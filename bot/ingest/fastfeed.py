"""A stdlib (pyexpat) reader for the common RSS 2.0 and Atom 1.0 shapes, giving the same
entries feedparser would for the fields bot.ingest.parse reads.

Why: feedparser spent ~22 of the ~37 ms CPU a parse worker needs for a 100 KB news feed
(py-spy: its SAX mixin's pop/start/end machinery, a URL join per element for xml:base
tracking, deep copies of content parameters). Nearly every feed we poll is plain RSS 2.0
or Atom 1.0, where all that machinery reduces to a handful of rules; this module replays
those rules (feedparser 6.0's, calling its own helpers for encodings, dates and URL joins)
and returns None — "use feedparser" — on anything it has not replicated: a DOCTYPE or
entity declaration, an encoding feedparser would override or guess, XML errors, xml:base,
an unknown root, RDF, an element whose feedparser handler it does not replay, markup
inside a text element, a repeated field. Returning None is always correct; the
differential check (`python -m bench.verify_fastfeed`) is what makes the rest trustworthy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from xml.parsers import expat

from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from feedparser.util import FeedParserDict

__all__ = ["parse"]

_XML_ATTRS = [["http://www.w3.org/xml/1998/namespace", "lang"], ["http://www.w3.org/xml/1998/namespace", "base"]]
_ENCODINGS = {"utf-8", "us-ascii"}
_UNSAFE = re.compile(rb"<!\s*(?:doctype|entity)", re.IGNORECASE)
_ATOM_NS = "http://www.w3.org/2005/atom"
_NAMESPACES: dict[str, str] = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_STD_PREFIXES = {v.lower() for v in _NAMESPACES.values() if v}
_HANDLED = {a[len("_start_"):] for a in dir(_FeedParserMixin) if a.startswith("_start_")} | {
    a[len("_end_"):] for a in dir(_FeedParserMixin) if a.startswith("_end_")
}
#: Keys parse.py reads (or feedparser derives them from): a generic element storing one differs.
_RESERVED = {
    "title", "link", "links", "id", "guid", "summary", "content", "source", "description",
    "published", "updated", "created", "published_parsed", "updated_parsed", "created_parsed",
    "media_content", "media_thumbnail", "enclosures", "feedburner_origlink", "language",
}
#: Text elements whose value feedparser never resolves as a URI: an xml:base on one of them
#: (Atom content often has one) changes nothing we read, as the base reverts at its end.
_BASE_NEUTRAL = {
    ("", "title"), ("", "summary"), ("", "description"), ("", "content"), ("content", "encoded"),
    ("", "published"), ("", "updated"), ("", "pubdate"), ("", "category"),
}
#: Media RSS elements whose feedparser handlers only add tags (entry["tags"]), never read.
_TAG_ELEMENTS = {("media", "keywords"), ("media", "category")}
#: Content types (after feedparser's map_content_type) whose text feedparser keeps as is.
_PLAIN_TYPES = {"text/plain", "text/html"}
_HTML_TYPES = _FeedParserMixin.html_types

#: feedparser's date elements (after its prefix mapping) and the key each one sets.
_DATES: dict[tuple[str, str], str] = {
    ("", "pubdate"): "published_parsed", ("", "published"): "published_parsed",
    ("", "issued"): "published_parsed", ("", "updated"): "updated_parsed",
    ("", "modified"): "updated_parsed", ("", "lastbuilddate"): "updated_parsed",
    ("dc", "date"): "updated_parsed", ("", "created"): "created_parsed",
}


class _Fallback(Exception):
    """Something this reader does not replicate: let feedparser parse the document."""


def parse(body: bytes, headers: Mapping[str, str]) -> FeedParserDict | None:
    """feedparser.parse's result (feed, entries, version, bozo) for `body`, or None to fall back.

    `headers` are the response headers exactly as handed to feedparser (lower-case keys).
    """
    if _UNSAFE.search(body) or "content-language" in headers:
        return None
    result: dict[str, Any] = {}
    data = convert_to_utf8(dict(headers), body, result)
    # feedparser's own sniffing and header rules, kept only when they land on UTF-8 (or ASCII)
    # without complaint: an override, a guess or a legacy charset goes to feedparser whole
    if result.get("bozo") or str(result.get("encoding") or "").lower() not in _ENCODINGS:
        return None
    contentloc = headers.get("content-location", "")
    base = make_safe_absolute_uri("", contentloc) or make_safe_absolute_uri(contentloc) or ""
    reader = _Reader(base)
    parser = expat.ParserCreate(None, " ")
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.StartNamespaceDeclHandler = reader.namespace
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    try:
        parser.Parse(data, True)
    except Exception:  # ExpatError, _Fallback; and a shape mishandled here costs speed, not the feed
        return None
    if not reader.version:
        return None
    return FeedParserDict(
        bozo=False, entries=reader.entries, feed=reader.feed, version=reader.version, headers={}
    )


def _finish(pieces: list[str], *, uri: bool, base: str) -> str:
    """feedparser's pop() for a text element, with sanitizing and URI resolution in markup off."""
    out = "".join(pieces).strip()
    if uri and out:
        out = _urljoin(base, out)
    try:  # feedparser's "utf-8 read as iso-8859-1" repair, which the strict parser always runs
        out = out.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    return out.translate(_cp1252)


def _attrs(raw: dict[str, str], *, allow_ns: bool) -> dict[str, str]:
    """feedparser's normalized attributes: names lower-cased, rel/type values lower-cased."""
    out: dict[str, str] = {}
    for name, value in raw.items():
        if " " in name:
            # feedparser also files a namespaced attribute under its bare local name (SAX
            # qnames), where it could pose as type, mode, isPermaLink…: only xml:lang may pass,
            # and xml:base where start() found it harmless
            if not allow_ns or name.lower().split(" ")[:2] not in _XML_ATTRS:
                raise _Fallback(f"namespaced attribute {name}")
            continue
        key = name.lower()
        if key == "base":
            raise _Fallback("base attribute")
        out[key] = value.lower() if key in ("rel", "type") else value
    return out


def _content_type(attrs: dict[str, str], default: str) -> str:
    if "mode" in attrs:
        raise _Fallback("content mode")
    kind = _FeedParserMixin.map_content_type(attrs.get("type", default))
    if kind not in _PLAIN_TYPES:
        raise _Fallback(f"content type {kind}")
    return kind


class _Frame:
    """One open element: what to do at its end, and which children it admits."""

    __slots__ = ("children", "end", "pieces")

    def __init__(
        self,
        children: str,
        end: Callable[[list[str]], None] | None = None,
        pieces: list[str] | None = None,
    ) -> None:
        self.children = children  # "feed" | "entry" | "author" | "image" | "media" | "generic" | "none"
        self.end = end
        self.pieces = pieces


class _Reader:
    """The pyexpat handlers: a small state machine over the whitelisted element shapes."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.version = ""
        self.feed: FeedParserDict = FeedParserDict()
        self.entries: list[FeedParserDict] = []
        self.stack: list[_Frame] = []
        self.declared: set[str] = set()
        self.uri_prefixes: dict[str, set[str]] = {}
        self.seen: set[str] = set()
        self.feed_seen: set[str] = set()
        self.has_channel = False

    # -- namespaces and names -------------------------------------------------------------

    def namespace(self, prefix: str | None, uri: str | None) -> None:
        if not uri:
            return
        std = _NAMESPACES.get(uri.lower())
        if "backend.userland.com/rss" in uri.lower():
            std = ""
        if prefix is not None:
            self.uri_prefixes.setdefault(uri.lower(), set()).add(prefix.lower())
        if std is None or prefix is None:
            return
        given = prefix.lower()
        if given in _STD_PREFIXES and given != std.lower():
            raise _Fallback(f"prefix {prefix} bound to another known namespace")
        self.declared.add(given)

    def _name(self, raw: str) -> tuple[str, str, str]:
        """(namespace URI lower-cased, feedparser's prefix, local name lower-cased)."""
        parts = raw.split(" ")
        if len(parts) == 1:
            return "", "", raw.lower()
        uri = parts[0].lower()
        local = parts[1].lower()
        std = "" if "backend.userland.com/rss" in uri else _NAMESPACES.get(uri)
        if std is not None:
            return uri, std.lower(), local
        # feedparser names such an element by the first prefix declared for its URI (SAX gives
        # it no qname), which need not be the element's own: every one must be harmless
        given = parts[2].lower() if len(parts) > 2 else ""
        for candidate in self.uri_prefixes.get(uri, set()) | {given}:
            if not candidate or candidate in _STD_PREFIXES or candidate in self.declared:
                raise _Fallback(f"element {raw} in an unknown namespace")
        return uri, given, local

    # -- expat handlers -------------------------------------------------------------------

    def text(self, data: str) -> None:
        if self.stack and self.stack[-1].pieces is not None:
            self.stack[-1].pieces.append(data)

    def end(self, _name: str) -> None:
        frame = self.stack.pop()
        if frame.end is not None:
            frame.end(frame.pieces or [])

    def start(self, raw_name: str, raw_attrs: dict[str, str]) -> None:
        uri, prefix, local = self._name(raw_name)
        if not self.stack:
            self._root(uri, prefix, local, raw_attrs)
            return
        parent = self.stack[-1]
        if parent.pieces is not None and parent.children != "author":
            raise _Fallback(f"markup inside a text element: {local}")
        if (prefix, local) not in _BASE_NEUTRAL and any(
            name.lower().startswith("http://www.w3.org/xml/1998/namespace base") for name in raw_attrs
        ):
            raise _Fallback("xml:base")
        kind = parent.children
        if kind == "rss":
            if (prefix, local) != ("", "channel") or self.has_channel:
                raise _Fallback(f"{local} under rss")
            self.has_channel = True
            _attrs(raw_attrs, allow_ns=True)
            if raw_attrs:
                raise _Fallback("channel attributes")
            self.stack.append(_Frame("feed"))
        elif kind == "feed":
            self._feed_child(prefix, local, raw_attrs)
        elif kind == "entry" and (prefix, local) not in _TAG_ELEMENTS:
            self._entry_child(prefix, local, raw_attrs)
        elif kind == "author" and (prefix, local) in {("", "name"), ("", "email"), ("", "uri")}:
            _attrs(raw_attrs, allow_ns=True)
            self.stack.append(_Frame("none", pieces=[]))
        elif kind == "image" and prefix == "" and local in {"title", "link", "url", "width", "height", "description"}:
            if raw_attrs:
                raise _Fallback("attributes in image")
            self.stack.append(_Frame("none", pieces=[]))
        elif kind == "media" and (prefix, local) in {("media", "content"), ("media", "thumbnail"), ("media", "credit")}:
            self._media(local, raw_attrs)
        elif kind in ("media", "entry") and (prefix, local) in _TAG_ELEMENTS:
            _attrs(raw_attrs, allow_ns=True)
            self.stack.append(_Frame("none", pieces=[]))
        elif kind == "generic":
            self._generic(prefix, local, raw_attrs)
        else:
            raise _Fallback(f"{prefix}:{local} inside {kind}")

    # -- structure --------------------------------------------------------------------------

    def _root(self, uri: str, prefix: str, local: str, raw_attrs: dict[str, str]) -> None:
        attrs: dict[str, str] = {}
        for name, value in raw_attrs.items():
            parts = name.split(" ")
            if len(parts) == 1:
                attrs[name.lower()] = value
            elif parts[0] == "http://www.w3.org/XML/1998/namespace" and parts[1] in ("lang", "base"):
                attrs[f"xml:{parts[1]}"] = value
            else:
                raise _Fallback(f"root attribute {name}")
        if "base" in attrs:
            raise _Fallback("base attribute on root")
        if (uri, prefix, local) == ("", "", "rss"):
            self.version = "rss20" if attrs.get("version", "").startswith("2.") else "rss"
            children = "rss"
        elif (uri, prefix, local) == (_ATOM_NS, "", "feed"):
            if "version" in attrs:
                raise _Fallback("versioned atom")
            self.version = "atom10"
            children = "feed"
        else:
            raise _Fallback(f"root {uri} {local}")
        # feedparser re-derives its base URI at every element (unknown_starttag); an xml:base on
        # the root is joined once, and with no other xml:base every later join must be a no-op
        if "xml:base" in attrs:
            given = attrs["xml:base"] or self.base
            if self.base:
                self.base = make_safe_absolute_uri(self.base, given) or self.base
            else:
                self.base = _urljoin(self.base, given)
        elif self.base:
            self.base = make_safe_absolute_uri(self.base, self.base) or self.base
        if self.base and (make_safe_absolute_uri(self.base, self.base) or self.base) != self.base:
            raise _Fallback("base URI not stable")
        lang = attrs.get("xml:lang", attrs.get("lang"))
        if lang:
            self.feed["language"] = lang.replace("_", "-")
        self.stack.append(_Frame(children))

    def _once(self, key: str) -> None:
        seen = self.feed_seen if key.startswith("feed-") else self.seen
        if key in seen:
            raise _Fallback(f"repeated {key}")
        seen.add(key)

    def _feed_child(self, prefix: str, local: str, raw_attrs: dict[str, str]) -> None:
        feed = self.feed
        if (prefix, local) in {("", "item"), ("", "entry")}:
            if raw_attrs:
                raise _Fallback("item attributes")
            if (local == "entry") != (self.version == "atom10"):
                raise _Fallback("entry/item mismatch")
            self.entries.append(FeedParserDict())
            self.seen = set()
            self.stack.append(_Frame("entry", end=self._end_entry))
            return
        if (prefix, local) == ("", "title"):
            self._once("feed-title")
            _content_type(_attrs(raw_attrs, allow_ns=True), "text/plain")
            self.stack.append(_Frame("none", lambda p: feed.__setitem__("title", self._fin(p)), []))
        elif (prefix, local) == ("", "link"):
            self._link(feed, raw_attrs, entry=False)
        elif (prefix, local) in {("", "language"), ("dc", "language")}:
            _attrs(raw_attrs, allow_ns=True)
            self.stack.append(_Frame("none", lambda p: feed.__setitem__("language", self._fin(p)), []))
        elif (prefix, local) == ("", "id"):
            self._once("feed-id")
            self._guid(feed, raw_attrs)
        elif self._date(feed, prefix, local, raw_attrs):
            pass
        elif (prefix, local) == ("", "image"):
            if raw_attrs:
                raise _Fallback("image attributes")
            self.stack.append(_Frame("image"))
        elif (prefix, local) in {("", "author"), ("", "contributor"), ("", "managingeditor"), ("", "webmaster")}:
            _attrs(raw_attrs, allow_ns=True)
            self.stack.append(_Frame("author", pieces=[]))
        elif (prefix, local) in {
            ("", "description"), ("", "subtitle"), ("", "copyright"), ("", "rights"), ("", "generator"),
            ("", "category"), ("dc", "creator"), ("dc", "subject"), ("dc", "rights"), ("", "icon"), ("", "logo"),
        }:
            if local in {"description", "subtitle", "copyright", "rights"}:
                _content_type(_attrs(raw_attrs, allow_ns=True), "text/plain")
            self.stack.append(_Frame("none", pieces=[]))
        elif (prefix, local) == ("", "cloud"):
            self.stack.append(_Frame("none", pieces=[]))
        elif (prefix, local) in {("", "skiphours"), ("", "skipdays")}:
            self.stack.append(_Frame("generic"))
        else:
            self._generic(prefix, local, raw_attrs)

    def _entry_child(self, prefix: str, local: str, raw_attrs: dict[str, str]) -> None:
        entry = self.entries[-1]
        key = (prefix, local)
        if key == ("", "title"):
            self._once("title")
            _content_type(_attrs(raw_attrs, allow_ns=True), "text/plain")
            self.stack.append(_Frame("none", lambda p: entry.__setitem__("title", self._fin(p)), []))
        elif key == ("", "link"):
            self._link(entry, raw_attrs, entry=True)
        elif key in {("", "guid"), ("", "id")}:
            self._once("id")
            self._guid(entry, raw_attrs)
        elif key in {("", "description"), ("", "summary")}:
            self._once("summary")
            default = "text/html" if local == "description" else "text/plain"
            _content_type(_attrs(raw_attrs, allow_ns=True), default)
            self.stack.append(_Frame("none", lambda p: entry.__setitem__("summary", self._fin(p)), []))
        elif key in {("content", "encoded"), ("", "content")}:
            self._once("content")
            self._content(entry, local, raw_attrs)
        elif self._date(entry, prefix, local, raw_attrs):
            pass
        elif key == ("", "source"):
            self._once("source")
            self._source(entry, raw_attrs)
        elif key == ("", "enclosure"):
            attrs = _FeedParserMixin._enforce_href(_attrs(raw_attrs, allow_ns=False))
            attrs["rel"] = "enclosure"
            entry.setdefault("links", []).append(FeedParserDict(attrs))
            self.stack.append(_Frame("generic"))
        elif key in {("media", "content"), ("media", "thumbnail"), ("media", "credit")}:
            self._media(local, raw_attrs)
        elif key == ("media", "group"):
            self.stack.append(_Frame("media"))
        elif key == ("feedburner", "origlink"):
            self._once("origlink")
            _attrs(raw_attrs, allow_ns=False)
            if raw_attrs:
                raise _Fallback("origLink attributes")
            self.stack.append(
                _Frame("none", lambda p: entry.__setitem__("feedburner_origlink", self._fin(p)), [])
            )
        elif key in {("", "author"), ("", "contributor"), ("dc", "creator")}:
            _attrs(raw_attrs, allow_ns=True)
            self.stack.append(_Frame("author", pieces=[]))
        elif key in {
            ("", "category"), ("dc", "subject"), ("", "language"), ("dc", "language"), ("", "rights"), ("dc", "rights"),
        }:
            if local == "rights":
                _content_type(_attrs(raw_attrs, allow_ns=True), "text/plain")
            self.stack.append(_Frame("none", pieces=[]))
        else:
            self._generic(prefix, local, raw_attrs)

    def _generic(self, prefix: str, local: str, raw_attrs: dict[str, str]) -> None:
        """An element feedparser has no handler for: it stores it under a key nobody reads."""
        key = f"{prefix}_{local}" if prefix else local
        if key in _HANDLED or key in _RESERVED:
            raise _Fallback(f"element {key}")
        _attrs(raw_attrs, allow_ns=True)
        self.stack.append(_Frame("generic", pieces=None))

    def _end_entry(self, _pieces: list[str]) -> None:
        self.seen = set()

    # -- field handlers ----------------------------------------------------------------------

    def _fin(self, pieces: list[str], *, uri: bool = False) -> str:
        return _finish(pieces, uri=uri, base=self.base)

    def _link(self, context: FeedParserDict, raw_attrs: dict[str, str], *, entry: bool) -> None:
        attrs = _attrs(raw_attrs, allow_ns=False)
        attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
        attrs = _FeedParserMixin._enforce_href(attrs)
        if "href" in attrs:
            attrs["href"] = _urljoin(self.base, attrs["href"])
        context.setdefault("links", []).append(FeedParserDict(attrs))
        if "href" in attrs:
            if attrs.get("rel") == "alternate" and _FeedParserMixin.map_content_type(attrs.get("type")) in _HTML_TYPES:
                context["link"] = attrs["href"]
            self.stack.append(_Frame("generic"))
            return
        self._once("link-text" if entry else "feed-link-text")

        def done(pieces: list[str]) -> None:
            output = self._fin(pieces, uri=True)
            if entry:
                output = output.replace("&amp;", "&")
            output = re.sub("&([A-Za-z0-9_]+);", r"&\g<1>", output)
            context["link"] = output
            if output or not entry:
                context["links"][-1]["href"] = output

        self.stack.append(_Frame("none", done, []))

    def _guid(self, context: FeedParserDict, raw_attrs: dict[str, str]) -> None:
        attrs = _attrs(raw_attrs, allow_ns=True)
        is_link = attrs.get("ispermalink", "true") == "true"

        def done(pieces: list[str]) -> None:
            value = self._fin(pieces, uri=is_link)
            context["id"] = value
            if is_link:
                context.setdefault("link", value)

        self.stack.append(_Frame("none", done, []))

    def _date(self, context: FeedParserDict, prefix: str, local: str, raw_attrs: dict[str, str]) -> bool:
        key = _DATES.get((prefix, local))
        if key is None:
            return False
        _attrs(raw_attrs, allow_ns=True)
        self.stack.append(
            _Frame("none", lambda p: context.__setitem__(key, _parse_date(self._fin(p))), [])
        )
        return True

    def _content(self, entry: FeedParserDict, local: str, raw_attrs: dict[str, str]) -> None:
        attrs = _attrs(raw_attrs, allow_ns=True)
        if "src" in attrs:
            raise _Fallback("content src")
        kind = _content_type(attrs, "text/html" if local == "encoded" else "text/plain")

        def done(pieces: list[str]) -> None:
            value = self._fin(pieces)
            entry.setdefault("content", []).append(FeedParserDict(type=kind, value=value))
            entry.setdefault("summary", value)

        self.stack.append(_Frame("none", done, []))

    def _source(self, entry: FeedParserDict, raw_attrs: dict[str, str]) -> None:
        attrs = _attrs(raw_attrs, allow_ns=True)
        if self.version == "atom10":
            raise _Fallback("atom source")
        source = FeedParserDict()
        if "url" in attrs:
            source["href"] = attrs["url"]

        def done(pieces: list[str]) -> None:
            value = self._fin(pieces)
            if value:
                source["title"] = value
            entry["source"] = source

        self.stack.append(_Frame("none", done, []))

    def _media(self, local: str, raw_attrs: dict[str, str]) -> None:
        if not self.entries or self.stack[-1].children not in ("entry", "media"):
            raise _Fallback("media outside an item")
        entry = self.entries[-1]
        if local == "credit":
            _attrs(raw_attrs, allow_ns=True)
            self.stack.append(_Frame("none", pieces=[]))
            return
        attrs = _attrs(raw_attrs, allow_ns=False)
        entry.setdefault(f"media_{local}", []).append(attrs)
        if local == "content":
            self.stack.append(_Frame("media"))
            return

        def done(pieces: list[str]) -> None:
            if "".join(pieces).strip():
                raise _Fallback("media:thumbnail with text")

        self.stack.append(_Frame("none", done, []))
