"""Normalisation: canonical URLs (properties + table), HTML to text, titles, identity."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ingest.normalize import (
    TRACKING_PARAMS,
    article_identity,
    canonical_url,
    fix_mojibake,
    html_to_text,
    normalize_title,
    strip_source_suffix,
)

# --- canonical_url: properties ---------------------------------------------------------

_hosts = st.from_regex(
    r"[A-Za-z][A-Za-z0-9-]{0,10}(\.[A-Za-z][A-Za-z0-9-]{0,8}){1,2}", fullmatch=True
)
_segments = st.lists(st.from_regex(r"[A-Za-z0-9._~%-]{0,8}", fullmatch=True), max_size=4)
_keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_values = st.from_regex(r"[A-Za-z0-9._~-]{0,8}", fullmatch=True)
_tracking_keys = st.sampled_from(
    ["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid", "dclid", "mc_cid", "mc_eid",
     "igshid", "ocid", "cmpid", "_ga", "ref", "smid", "partner", "at_medium"]
)  # fmt: skip


@st.composite
def web_urls(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]], list[str]]:
    """A URL with real params, tracking params and a fragment; returns (url, real, tracking)."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(_hosts)
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/" + "/".join(draw(_segments)) + draw(st.sampled_from(["", "/"]))
    real = draw(st.lists(st.tuples(_keys, _values), max_size=3))
    real = [(k, v) for k, v in real if k.lower() not in TRACKING_PARAMS and not k.startswith("at_")]
    tracking = draw(st.lists(_tracking_keys, max_size=3))
    pairs = real + [(k, "x") for k in tracking]
    pairs = draw(st.permutations(pairs))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    fragment = draw(st.sampled_from(["", "#frag", "#utm_source=x"]))
    url = f"{scheme}://{host}{port}{path}{'?' + query if query else ''}{fragment}"
    return url, real, tracking


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=300))
def test_canonical_url_never_raises_and_is_idempotent_on_any_text(text: str) -> None:
    once = canonical_url(text)
    assert isinstance(once, str)
    assert canonical_url(once) == once
    assert canonical_url(text, base="https://example.com/feed/") == canonical_url(
        canonical_url(text, base="https://example.com/feed/")
    )


@settings(max_examples=300, deadline=None)
@given(web_urls())
def test_canonical_url_properties_on_web_urls(
    case: tuple[str, list[tuple[str, str]], list[str]],
) -> None:
    url, real, tracking = case
    canon = canonical_url(url)
    assert canon, url
    assert canonical_url(canon) == canon  # idempotent
    parts = urlsplit(canon)
    assert parts.fragment == "" and "#" not in canon
    assert parts.scheme in {"http", "https"}
    assert parts.netloc == parts.netloc.lower()  # host lower-case
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    assert not parts.netloc.endswith(default)  # default port dropped (the other one is kept)
    keys = [k for k, _ in parse_qsl(parts.query, keep_blank_values=True)]
    for key in tracking:
        assert key not in keys and key.lower() not in [k.lower() for k in keys]
    assert sorted(keys) == keys  # sorted
    assert {k for k, _ in real} <= set(keys)  # real params kept
    assert not parts.path.endswith("/")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), _hosts)
def test_relative_urls_resolve_against_base(path: str, host: str) -> None:
    canon = canonical_url("/" + path.lstrip("/"), base=f"https://{host}/feeds/rss.xml")
    if canon:
        assert urlsplit(canon).hostname == host.lower()
        assert canonical_url(canon) == canon


# --- canonical_url: table -----------------------------------------------------------------

CANONICAL_CASES = [
    ("HTTPS://WWW.Example.COM:443/News/Story/?b=2&a=1#top", None, "https://www.example.com/News/Story?a=1&b=2"),
    ("http://example.com:80/", None, "http://example.com"),
    ("http://example.com:8080/x/", None, "http://example.com:8080/x"),
    ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", None, "https://example.com/a?id=7"),
    ("https://example.com/a?fbclid=1&gclid=2&dclid=3&mc_cid=4&mc_eid=5&igshid=6&ocid=7&cmpid=8&_ga=9&ref=10&smid=11", None, "https://example.com/a"),
    ("https://www.bbc.com/news/articles/cp81?at_medium=RSS&at_campaign=rss", None, "https://www.bbc.com/news/articles/cp81"),
    ("http://www.reuters.com/article/idUSKBN14R0D4?feedType=RSS&feedName=worldNews", None, "http://www.reuters.com/article/idUSKBN14R0D4"),
    ("https://example.com/story/amp", None, "https://example.com/story"),
    ("https://example.com/story/amp/", None, "https://example.com/story"),
    ("https://example.com/story?amp", None, "https://example.com/story"),
    ("https://example.com/story?amp=1&page=2", None, "https://example.com/story?page=2"),
    ("https://example.com/story?outputType=amp", None, "https://example.com/story"),
    ("https://example.com/story?outputType=print", None, "https://example.com/story?outputType=print"),
    ("https://amp.example.com/story", None, "https://example.com/story"),
    ("https://example.com/2026/story.amp.html", None, "https://example.com/2026/story.html"),
    ("/news/local/1", "https://tpm.example.com/feed/all", "https://tpm.example.com/news/local/1"),
    ("story-2", "https://example.com/section/index.xml", "https://example.com/section/story-2"),
    ("https://user:pw@Example.com/x", None, "https://example.com/x"),
    ("  https://example.com/x  ", None, "https://example.com/x"),
    ("", None, ""),
    ("javascript:alert(1)", None, ""),
    ("mailto:someone@example.com", None, ""),
    ("ftp://example.com/x", None, ""),
    ("not a url", None, ""),
    ("http://", None, ""),
    ("http://exa mple.com/", None, ""),
    ("http://example.com:99999/", None, ""),
]  # fmt: skip


@pytest.mark.parametrize(("url", "base", "expected"), CANONICAL_CASES)
def test_canonical_url_table(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base) == expected
    assert canonical_url(expected) == expected


def test_amp_and_plain_variants_share_one_canonical_url() -> None:
    variants = [
        "https://www.example.com/2026/11/20/ice-raid/",
        "https://www.example.com/2026/11/20/ice-raid/amp/",
        "https://www.example.com/2026/11/20/ice-raid?outputType=amp",
        "https://amp.www.example.com/2026/11/20/ice-raid",
        "https://WWW.example.com/2026/11/20/ice-raid?utm_source=twitter#comments",
    ]
    assert len({canonical_url(v) for v in variants}) == 1


# --- html_to_text ---------------------------------------------------------------------------

HTML_CASES = [
    ("<p>Hello <b>world</b></p>", "Hello world"),
    ("<script>alert('x')</script>Text<style>p{}</style>", "Text"),
    ('Story<img src="https://feeds.feedburner.com/~r/x/~4/abc" width="1" height="1"/>', "Story"),
    ("Story text.<div class=\"feedflare\"><a href=\"x\"><img src=\"y\"/></a> Share</div>", "Story text."),
    ("Fish &amp; chips &#8212; &quot;good&quot;", 'Fish & chips — "good"'),
    ("From designer Beth Mathews, a free &#8220;Private...", "From designer Beth Mathews, a free “Private..."),
    ("&amp;#8220;double&amp;#8221; escaped", "“double” escaped"),
    ("&lt;p&gt;escaped markup&lt;/p&gt;", "escaped markup"),
    ("Body text. <p>The post <a href='#'>ICE raid in Chicago</a> appeared first on Example News.</p>", "Body text."),
    ("Body text. <a href='x'>Continue reading...</a>", "Body text."),
    ("Body text. Continue reading…", "Body text."),
    ("Body text. <a href='x'>Read more</a>", "Body text."),
    ("Body text. Read more »", "Body text."),
    ("Part one. after newsletter promotion Part two.", "Part one. Part two."),
    ('<ol><li><a href="x">Headline</a>&nbsp;&nbsp;<font color="#6f6f6f">Pub</font></li>'
     '<li><strong><a href="y">View full coverage on Google News</a></strong></li></ol>', "Headline Pub"),
    ("Lots\n\n of   \t space", "Lots of space"),
    ("<p>One</p><p>Two</p>", "One Two"),
    ("president-electâ€™s threats", "president-elect’s threats"),
    ("Unclosed <b>bold and <i>italic", "Unclosed bold and italic"),
    ("<iframe src='x'>hidden</iframe>shown", "shown"),
    ("a < b and c > d", "a < b and c > d"),
    ("", ""),
    ("zero\x00width\u200bjoiner", "zero width joiner"),
]  # fmt: skip


@pytest.mark.parametrize(("html", "expected"), HTML_CASES)
def test_html_to_text_table(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_html_to_text_keeps_boilerplate_words_when_asked() -> None:
    assert html_to_text("Read more about ICE", boilerplate=False) == "Read more about ICE"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_html_to_text_never_raises_and_has_no_tags(text: str) -> None:
    out = html_to_text(text)
    assert "<script" not in out.lower()
    assert out == out.strip()
    assert "  " not in out


def test_html_to_text_bounds_work_on_huge_input() -> None:
    out = html_to_text("<p>" + "word " * 400_000 + "</p>", max_input=100_000)
    assert len(out) <= 100_000


def test_fix_mojibake_leaves_real_text_alone() -> None:
    for text in ["für", "São Paulo", "Новости", "朝日新聞", "naïve café", "Â"]:
        assert fix_mojibake(text) == text
    assert fix_mojibake("Ã©tÃ© â€œquotedâ€\x9d") == "été “quoted”"


# --- titles and identity -----------------------------------------------------------------

TITLE_CASES = [
    ("ICE Raids in Chicago", "ice raids in chicago"),
    ("“ICE” raids: Chicago’s response!", "ice raids chicagos response"),
    ("&#8220;Quoted&#8221; &amp; escaped", "quoted escaped"),
    ("&amp;#8220;Double&amp;#8221;", "double"),
    ("  Extra   spaces\n", "extra spaces"),
    ("ＦＵＬＬＷＩＤＴＨ", "fullwidth"),
    ("National Guard — deployed (again)", "national guard deployed again"),
    ("", ""),
]


@pytest.mark.parametrize(("title", "expected"), TITLE_CASES)
def test_normalize_title(title: str, expected: str) -> None:
    assert normalize_title(title) == expected


SUFFIX_CASES = [
    ("Headline - Chicago Sun-Times", "Chicago Sun-Times", "Headline"),
    ("Headline – Chicago Sun-Times", "Chicago Sun-Times", "Headline"),
    ("Headline - chicago sun-times", "Chicago Sun-Times", "Headline"),
    ("Headline - Other Paper", "Chicago Sun-Times", "Headline - Other Paper"),
    ("Chicago Sun-Times", "Chicago Sun-Times", "Chicago Sun-Times"),
    ("Headline - Chicago Sun-Times", None, "Headline - Chicago Sun-Times"),
    ("Head - line - WBEZ", "WBEZ", "Head - line"),
    ("Story - Yahoo!ニュース - Yahoo!ニュース", "Yahoo!ニュース", "Story"),
    ("Story：朝日新聞 - 朝日新聞", "朝日新聞", "Story：朝日新聞"),
]


@pytest.mark.parametrize(("title", "source", "expected"), SUFFIX_CASES)
def test_strip_source_suffix(title: str, source: str | None, expected: str) -> None:
    assert strip_source_suffix(title, source) == expected


def test_article_identity_forms() -> None:
    feed = "https://feeds.example.com/rss"
    common = {"source": "Example", "feed_url": feed}
    assert (
        article_identity(
            url="https://Example.com/a/?utm_source=x",
            guid="g",
            title="T",
            is_google_news=False,
            **common,
        )
        == "url:https://example.com/a"
    )
    assert (
        article_identity(url="", guid=" g-1 ", title="T", is_google_news=False, **common)
        == f"guid:{feed}|g-1"
    )
    no_date = article_identity(
        url="", guid=None, title="Some Title!", is_google_news=False, **common
    )
    assert no_date == f"title:{feed}|some title|"
    dated = article_identity(
        url="", guid=None, title="Some Title!", is_google_news=False,
        published=datetime(2026, 11, 20, 23, 0, tzinfo=UTC), **common,
    )  # fmt: skip
    assert dated == f"title:{feed}|some title|2026-11-20"
    gnews = article_identity(
        url="https://news.google.com/rss/articles/CBMi1?oc=5",
        guid="CBMi1",
        title="ICE raid in Chicago",
        source="Chicago Sun-Times",
        is_google_news=True,
        feed_url=feed,
    )
    assert gnews == "gnews:chicago sun times|ice raid in chicago"


def test_google_news_identity_ignores_link_and_guid() -> None:
    kwargs = {"title": "Guard deployed", "source": "WBEZ", "is_google_news": True, "feed_url": "f"}
    a = article_identity(url="https://news.google.com/rss/articles/AAA", guid="AAA", **kwargs)
    b = article_identity(url="https://news.google.com/rss/articles/BBB", guid="BBB", **kwargs)
    assert a == b
