"""bot.ingest.fastfeed gives exactly feedparser's articles, and falls back where it must.

Every equality test first asserts the document took the fast path: a test where both sides
ran feedparser would pass whatever fastfeed did.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import feedgen
from bench.verify_fastfeed import CONTENT_TYPES, check, took_fast_path
from bot.ingest import fastfeed, parse
from bot.ingest.parse import ParsedFeed, parse_feed
from tests.feedserver import _STATIC_HOSTILE

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
URL = "https://outlet.example/feeds/news.xml"
RSS_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0"><channel>'
    "<title>Outlet</title><link>/</link><language>en-GB</language>"
)
ATOM_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
    'xml:lang="es"><title type="html">Outlet &amp;amp; Co</title>'
    '<link rel="self" href="/feed.atom"/><link href="/home"/><id>tag:outlet,2026:feed</id>'
    "<updated>2026-11-25T10:00:00Z</updated>"
)


def rss(items: str, head: str = RSS_HEAD) -> bytes:
    return (head + items + "</channel></rss>").encode("utf-8")


def atom(entries: str) -> bytes:
    return (ATOM_HEAD + entries + "</feed>").encode("utf-8")


def both(body: bytes, headers: dict[str, str] | None = None) -> tuple[ParsedFeed, ParsedFeed]:
    """(fast, slow) results; asserts the document really took the fast path."""
    headers = {"Content-Type": "application/rss+xml"} if headers is None else headers
    assert took_fast_path(body, URL, headers), "expected the fast path"
    saved = parse.FAST_PATH
    try:
        parse.FAST_PATH = True
        fast = parse_feed(body, feed_url=URL, headers=headers, now=NOW)
        parse.FAST_PATH = False
        slow = parse_feed(body, feed_url=URL, headers=headers, now=NOW)
    finally:
        parse.FAST_PATH = saved
    assert fast == slow
    return fast, slow


# -- the differential check over whole corpora ------------------------------------------------


@pytest.mark.shared
def test_real_feeds_are_identical_and_mostly_fast(real_feeds_dir: Path) -> None:
    fast = 0
    files = sorted(real_feeds_dir.glob("*.xml"))
    for path in files:
        for headers in CONTENT_TYPES:
            took, diffs = check(f"feeds-real/{path.name}", path.read_bytes(), headers)
            assert diffs == [], (path.name, headers, diffs[:5])
            fast += took
    assert fast >= len(files) * len(CONTENT_TYPES) // 2  # a fast path nobody takes saves nothing


@pytest.mark.parametrize("style", feedgen.STYLES)
def test_generated_feeds_are_identical_and_all_fast(style: str) -> None:
    for i in range(12):  # covers every feed_kind: gnews 0-4, atom 5-7, news 8-19 (mod 20)
        body = feedgen.feed_document(1, i * 7, NOW, style=style)
        for headers in CONTENT_TYPES:
            took, diffs = check(f"gen/{style}/{i}", body, headers)
            assert took, (style, i, headers)
            assert diffs == [], (style, i, diffs[:5])


def test_fixture_feeds_are_identical() -> None:
    folder = Path(__file__).parents[1] / "data" / "feeds"
    for path in sorted(folder.glob("*.xml")):
        took, diffs = check(path.name, path.read_bytes(), CONTENT_TYPES[0])
        assert took, path.name
        assert diffs == [], (path.name, diffs[:5])


def test_hostile_documents_are_identical() -> None:
    for name, (body, _) in _STATIC_HOSTILE.items():
        _, diffs = check(f"hostile/{name}", body, CONTENT_TYPES[0])
        assert diffs == [], (name, diffs[:5])


# -- targeted shapes that must stay on the fast path -------------------------------------------


def test_relative_links_and_permalink_guids_resolve_against_the_feed_url() -> None:
    fast, _ = both(rss(
        "<item><title>A</title><link>/news/a?x=1&amp;y=2</link></item>"
        "<item><title>B</title><guid>/news/b</guid></item>"
        '<item><title>C</title><guid isPermaLink="false">/news/c</guid><link>c.html</link></item>'
    ))
    assert fast.link == "https://outlet.example/"
    assert [a.link for a in fast.articles] == [
        "https://outlet.example/news/a?x=1&y=2",
        "https://outlet.example/news/b",
        "https://outlet.example/feeds/c.html",
    ]
    assert fast.articles[2].guid == "/news/c"
    assert fast.articles[0].lang == "en"


def test_atom_link_rel_variants() -> None:
    fast, _ = both(atom(
        '<entry><title>Self first</title><link rel="self" href="/self"/>'
        '<link rel="enclosure" type="image/jpeg" href="/pic.jpg"/>'
        '<link rel="alternate" type="text/html" href="/story-1"/><id>tag:1</id></entry>'
        '<entry><title>No rel</title><link href="story-2"/><id>tag:2</id></entry>'
        '<entry><title>PDF only</title><link rel="alternate" type="application/pdf" href="/x.pdf"/>'
        "<id>https://outlet.example/id-3</id></entry>"
    ))
    assert fast.title == "Outlet & Co"
    assert fast.link == "https://outlet.example/home"
    assert [a.link for a in fast.articles] == [
        "https://outlet.example/story-1",
        "https://outlet.example/feeds/story-2",
        "https://outlet.example/id-3",  # an Atom id is a permalink to feedparser
    ]
    assert fast.articles[0].image_url == "https://outlet.example/pic.jpg"
    assert {a.lang for a in fast.articles} == {"es"}


def test_root_xml_base_and_content_xml_base() -> None:
    body = atom(
        '<entry><title>Based</title><link href="story"/><id>tag:b</id>'
        '<content type="html" xml:base="https://elsewhere.example/deep/">&lt;p&gt;Text&lt;/p&gt;</content>'
        "</entry>"
    ).replace(b'xml:lang="es"', b'xml:lang="es" xml:base="https://base.example/dir/"')
    fast, _ = both(body)
    assert fast.link == "https://base.example/home"
    assert [(a.link, a.summary) for a in fast.articles] == [("https://base.example/dir/story", "Text")]


def test_media_keywords_and_categories_stay_on_the_fast_path() -> None:
    fast, _ = both(rss(
        '<item><title>K</title><link>/k</link><media:keywords>a, b</media:keywords>'
        '<media:group><media:category scheme="x">news</media:category>'
        '<media:content url="/k.jpg" medium="image"/></media:group></item>'
    ))
    assert fast.articles[0].image_url == "https://outlet.example/k.jpg"


def test_missing_dates_fall_back_to_the_feed_date() -> None:
    head = RSS_HEAD + "<lastBuildDate>Tue, 24 Nov 2026 08:00:00 GMT</lastBuildDate>"
    fast, _ = both(rss(
        "<item><title>Undated</title><link>/u</link></item>"
        "<item><title>Dated</title><link>/d</link><dc:date>2026-11-25T09:30:00Z</dc:date></item>"
        "<item><title>Garbage</title><link>/g</link><pubDate>not a date</pubDate></item>",
        head,
    ))
    undated, dated, garbage = fast.articles
    assert (undated.published, undated.published_known) == (datetime(2026, 11, 24, 8, tzinfo=UTC), False)
    assert (dated.published, dated.published_known) == (datetime(2026, 11, 25, 9, 30, tzinfo=UTC), True)
    assert garbage.published_known is False


def test_entities_cdata_html_titles_and_mojibake() -> None:
    fast, _ = both(rss(
        "<item><title>Caf&#233; &amp; bar&#8217;s &lt;b&gt;bold&lt;/b&gt;</title><link>/1</link></item>"
        "<item><title><![CDATA[<i>Quoted</i> & raw]]></title><link>/2</link>"
        "<description><![CDATA[<p>Para <a href='/x'>link</a></p>]]></description></item>"
        "<item><title>CafÃ© repaired</title><link>/3</link></item>"
    ))
    assert [a.title for a in fast.articles] == [
        "Café & bar’s bold", "Quoted & raw", "Café repaired",
    ]
    assert fast.articles[1].summary == "Para link"


def test_google_news_source_and_title_suffix() -> None:
    fast, _ = both(rss(
        "<item><title>Troops arrive in city - Daily Herald</title>"
        "<link>https://news.google.com/rss/articles/CBMiXyz?oc=5</link>"
        '<guid isPermaLink="false">CBMiXyz</guid><pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate>'
        "<description>&lt;a href=&quot;x&quot;&gt;Troops&lt;/a&gt;</description>"
        '<source url="https://www.dailyherald.example">Daily Herald</source></item>'
    ))
    (article,) = fast.articles
    assert article.is_google_news
    assert (article.title, article.source) == ("Troops arrive in city", "Daily Herald")
    assert article.source_url == "https://www.dailyherald.example"
    assert article.summary == ""


def test_media_thumbnails_enclosures_and_origlink() -> None:
    fast, _ = both(rss(
        '<item><title>M</title><link>/m</link><media:thumbnail url="/t.jpg" width="100"/>'
        '<media:content url="/big.jpg" medium="image" width="1200"/>'
        '<media:content url="/small.jpg" medium="image" width="300"/></item>'
        '<item><title>E</title><link>/e</link><enclosure url="/e.png" type="image/png" length="1"/>'
        "<feedburner:origLink>https://origin.example/e</feedburner:origLink></item>"
        '<item><title>G</title><link>/g</link><media:group><media:content url="/v.mp4" medium="video"/>'
        '<media:thumbnail url="https://cdn.example/g.jpg"/></media:group></item>'
    ))
    assert [a.image_url for a in fast.articles] == [
        "https://outlet.example/big.jpg",
        "https://outlet.example/e.png",
        "https://cdn.example/g.jpg",
    ]
    assert fast.articles[1].link == "https://origin.example/e"


def test_empty_titles_and_content_before_description() -> None:
    fast, _ = both(rss(
        "<item><title></title><link>/1</link><description>First sentence here. Then more.</description></item>"
        "<item><title>C</title><link>/2</link><content:encoded><![CDATA[<p>Full body</p>]]></content:encoded>"
        "<description>Short</description></item>"
        "<item><title>D</title><link>/3</link><description></description>"
        "<content:encoded>Only body</content:encoded></item>"
        "<item><link>/4</link></item>"
        "<item><title>\n   Spaced  \n</title><link>\n /5 \n</link><description>Lead</description>"
        "<content:encoded>Body after the description</content:encoded></item>"
    ))
    assert [(a.title, a.summary, a.link) for a in fast.articles] == [
        ("First sentence here.", "First sentence here. Then more.", "https://outlet.example/1"),
        ("C", "Short", "https://outlet.example/2"),
        ("D", "Only body", "https://outlet.example/3"),
        ("Spaced", "Lead", "https://outlet.example/5"),
    ]


# -- what must fall back -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "body", "headers"),
    [
        ("doctype", b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" '
         b'"http://my.netscape.com/publish/formats/rss-0.91.dtd">' + rss("<item><title>x</title></item>")[38:], None),
        ("entity", b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]>'
         + rss("<item><title>&a;</title></item>")[38:], None),
        ("bad utf-8", rss("<item><title>caf\xe9</title></item>").replace("é".encode(), b"\xe9"), None),
        ("declared cp1252", rss("<item><title>x</title></item>").replace(b"UTF-8", b"windows-1252"), None),
        ("charset mismatch", rss("<item><title>café</title></item>"),
         {"Content-Type": "text/xml; charset=iso-8859-1"}),
        ("html content-type", rss("<item><title>x</title></item>"), {"Content-Type": "text/html"}),
        ("malformed", rss("<item><title>x</item>"), None),
        ("undefined entity", rss("<item><title>&nbsp;x</title></item>"), None),
        ("xml:base", rss('<item xml:base="https://other.example/"><title>x</title><link>a</link></item>'), None),
        ("markup in description", rss("<item><title>x</title><description><p>raw</p></description></item>"), None),
        ("namespaced isPermaLink", rss('<item><title>x</title><guid xmlns:f="urn:f" f:isPermaLink="false">/g</guid>'
                                       "</item>"), None),
        ("unknown prefix shared with media", rss('<item><title>x</title><a:content xmlns:media="urn:m" '
                                                  'xmlns:a="urn:m" url="/a.jpg"/></item>'), None),
        ("repeated title", rss("<item><title>x</title><title>y</title></item>"), None),
        ("rdf", b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
         b'xmlns="http://purl.org/rss/1.0/"><channel><title>t</title></channel>'
         b"<item><title>x</title><link>https://a.example/</link></item></rdf:RDF>", None),
        ("unknown root", b"<html><body><p>not a feed</p></body></html>", None),
        ("media:description", rss('<item><title>x</title><media:content url="/a.jpg">'
                                  "<media:description>d</media:description></media:content></item>"), None),
        ("xhtml content", atom('<entry><title>x</title><content type="xhtml"><div xmlns='
                               '"http://www.w3.org/1999/xhtml">hi</div></content></entry>'), None),
    ],
)
def test_fallback_triggers(label: str, body: bytes, headers: dict[str, str] | None) -> None:
    headers = {"Content-Type": "application/rss+xml"} if headers is None else headers
    assert fastfeed.parse(parse._strip_dtd(body), parse._headers(headers, URL)) is None, label
    took, diffs = check(label, body, headers)
    assert not took
    assert diffs == []


def test_hostile_entity_documents_are_never_expanded_by_the_fast_path() -> None:
    for name in ("billion-laughs.xml", "xxe.xml"):
        body, _ = _STATIC_HOSTILE[name]
        assert fastfeed.parse(body, {"content-type": "application/xml"}) is None
        assert fastfeed.parse(parse._strip_dtd(body), {"content-type": "application/xml"}) is None


def test_flag_off_never_calls_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    monkeypatch.setattr(fastfeed, "parse", lambda body, headers: calls.append(body))
    monkeypatch.setattr(parse, "FAST_PATH", False)
    parse_feed(rss("<item><title>x</title></item>"), feed_url=URL, now=NOW)
    assert calls == []
    monkeypatch.setattr(parse, "FAST_PATH", True)
    parse_feed(rss("<item><title>x</title></item>"), feed_url=URL, now=NOW)
    assert len(calls) == 1


def test_a_bug_in_the_reader_falls_back_instead_of_failing_the_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, name: str, attrs: dict[str, str]) -> None:
        raise KeyError(name)

    monkeypatch.setattr(fastfeed._Reader, "start", broken)
    body = rss("<item><title>Still here</title><link>/s</link></item>")
    assert fastfeed.parse(body, {"content-type": "application/rss+xml"}) is None
    parsed = parse_feed(body, feed_url=URL, now=NOW)
    assert [a.title for a in parsed.articles] == ["Still here"]
    assert parsed.bozo is None
