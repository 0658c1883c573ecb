"""parse_feed against the 30 real captured feeds, our fixtures and hostile documents."""

from __future__ import annotations

import pickle
import re
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.ingest.fetch import Fetcher
from bot.ingest.normalize import canonical_url
from bot.ingest.parse import MAX_ENTRIES, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, ParsedFeed, parse_feed
from tests.conftest import SHARED_DIR
from tests.feedserver import FeedServer, hostile_items, rss_document

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REAL_FILES = sorted(p.name for p in (SHARED_DIR / "feeds-real").glob("*.xml"))


def provenance_items(real_feeds_dir: Path) -> dict[str, int]:
    """File -> "Items" column of PROVENANCE.md (feedparser 6.0.14 entry counts)."""
    counts: dict[str, int] = {}
    header: list[str] | None = None
    for line in (real_feeds_dir / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            header = None if not line.strip() else header
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "File":
            header = cells
            continue
        if header is None or set(cells[0]) <= {"-", ":"}:
            continue
        counts[cells[0]] = int(cells[header.index("Items")])
    return counts


def parse_real(real_feeds_dir: Path, name: str, **kwargs: object) -> ParsedFeed:
    return parse_feed(
        (real_feeds_dir / name).read_bytes(),
        feed_url=str(kwargs.pop("feed_url", f"https://feeds.example.org/{name}")),
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


# --- every real feed ---------------------------------------------------------------------


def test_provenance_lists_every_real_file(real_feeds_dir: Path) -> None:
    counts = provenance_items(real_feeds_dir)
    assert sorted(counts) == REAL_FILES
    assert len(counts) == 30


@pytest.mark.shared
@pytest.mark.parametrize("name", REAL_FILES)
def test_real_feed_parses_with_provenance_item_count(real_feeds_dir: Path, name: str) -> None:
    expected = provenance_items(real_feeds_dir)[name]
    parsed = parse_real(real_feeds_dir, name)
    assert parsed.is_feed
    assert len(parsed.articles) == expected  # dedup is not parse's job
    for article in parsed.articles:
        assert article.title, article
        assert len(article.title) <= MAX_TITLE_CHARS
        assert len(article.summary) <= MAX_SUMMARY_CHARS
        assert "<" not in article.summary or not re.search(r"<[a-zA-Z/]", article.summary)
        assert article.published.tzinfo is not None
        assert article.published <= NOW + timedelta(minutes=10)
        assert article.link.startswith(("http://", "https://")), article.link
        assert article.url == canonical_url(article.link)
        assert article.identity.startswith(("url:", "gnews:"))
        assert article.source
        assert article.feed_url == f"https://feeds.example.org/{name}"


@pytest.mark.shared
async def test_real_feeds_through_the_loopback_server(
    real_feeds_dir: Path, feed_server: FeedServer
) -> None:
    """Fetch + parse with real headers for all 30 files: counts still match."""
    counts = provenance_items(real_feeds_dir)
    async with Fetcher() as fetcher:
        for name in REAL_FILES:
            result = await fetcher.fetch(feed_server.url(f"/real/{name}"))
            assert result.ok and result.body is not None, result.error
            parsed = parse_feed(
                result.body, feed_url=result.final_url, headers=result.headers, now=NOW
            )
            assert len(parsed.articles) == counts[name], name
    assert feed_server.requests[f"/real/{REAL_FILES[0]}"] == 1


# --- oddities of specific real feeds ------------------------------------------------------


@pytest.mark.shared
def test_tpm_relative_links_resolved_against_feed_url(real_feeds_dir: Path) -> None:
    parsed = parse_real(
        real_feeds_dir, "tpm-news-atom.xml", feed_url="https://talkingpointsmemo.com/feed/all"
    )
    assert len(parsed.articles) == 20
    for article in parsed.articles:
        assert article.link.startswith("https://talkingpointsmemo.com/"), article.link
        assert article.url.startswith("https://talkingpointsmemo.com/")
    assert any("/livewire/" in a.link for a in parsed.articles)


@pytest.mark.shared
def test_reuters_feedburner_origlink_preferred(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "reuters-world-rss.xml")
    for article in parsed.articles:
        assert article.link.startswith("http://www.reuters.com/article/"), article.link
        assert "feeds.reuters.com/~r/" not in article.link
        assert "feedType" not in article.url and "feedName" not in article.url
        assert "feedburner" not in article.summary.lower()
    assert parsed.articles[0].summary.endswith("Iraqi state TV reported.")


@pytest.mark.shared
def test_uol_cp1252_decoded_and_portuguese_dates_unknown(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "uol-noticias-rss.xml")
    assert parsed.bozo and "CharacterEncodingOverride" in parsed.bozo
    assert len(parsed.articles) == 15
    text = " ".join(a.title + " " + a.summary for a in parsed.articles)
    assert "\ufffd" not in text
    assert re.search(r"[çãéíóúâê]", text)
    assert "simulação" in parsed.articles[0].title or "simula" in parsed.articles[0].title
    assert all(not a.published_known and a.published == NOW for a in parsed.articles)


@pytest.mark.shared
def test_japantimes_has_no_dates(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "japantimes-nodate-rss.xml")
    assert len(parsed.articles) == 118
    # undated items take the feed's own date (issue 16), still marked unknown
    feed_date = datetime(2017, 1, 7, 15, 10, 21, tzinfo=UTC)  # <pubDate> of the channel, +0900
    assert all(not a.published_known and a.published == feed_date for a in parsed.articles)
    assert not any("â€" in a.summary for a in parsed.articles)  # mojibake repaired


@pytest.mark.shared
def test_kottke_double_escaped_titles_fixed(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "kottke-atom.xml")
    assert not any(re.search(r"&#?\w+;", a.title) for a in parsed.articles)
    assert any("“Private..." in a.title for a in parsed.articles)
    assert any("’" in a.title for a in parsed.articles)


@pytest.mark.shared
def test_economist_cdata_padding_stripped(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "economist-asia-rss.xml")
    assert len(parsed.articles) == 300
    first = parsed.articles[0]
    assert first.title == "The flaws in India’s AI plans"
    assert first.summary.startswith("Despite hosting a global summit")
    assert all(a.title == a.title.strip() and "\n" not in a.title for a in parsed.articles)


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "publisher", "title"),
    [
        ("gnews-bearsears-rss.xml", "The Washington Post", "Trump again shrinks two national monuments in Utah"),
        ("gnews-brent-rss.xml", "Crude Oil Prices Today | OilPrice.com", "Middle East War Triggers New Global Refining Boom"),
        ("gnews-top2019-rss.xml", "The Washington Post", None),
        ("gnews-japan-rss.xml", "朝日新聞デジタル", "盛山文科相、旧統一教会系から選挙支援 21年衆院選 関係者が証言：朝日新聞デジタル"),
    ],
)  # fmt: skip
def test_google_news_publisher_from_source_and_suffix_removed(
    real_feeds_dir: Path, name: str, publisher: str, title: str | None
) -> None:
    parsed = parse_real(real_feeds_dir, name, feed_name="Google News: test")
    first = parsed.articles[0]
    assert first.source == publisher
    if title is not None:
        assert first.title == title
    for article in parsed.articles:
        assert article.is_google_news
        assert article.identity.startswith("gnews:")
        assert article.url.startswith("https://news.google.com/")
        assert article.source != "Google News: test"
        assert not article.title.endswith(" - " + article.source), article.title
        assert article.source_url is None or article.source_url.startswith("http")
    assert parsed.articles[0].source_url is not None


@pytest.mark.shared
def test_techcrunch_leading_blank_line_still_parsed(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "techcrunch-wp-rss.xml")
    assert parsed.bozo and "declaration" in parsed.bozo
    assert parsed.is_feed and len(parsed.articles) == 20


@pytest.mark.shared
def test_dailymail_odd_namespaces_still_give_images(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "dailymail-badns-rss.xml")
    assert len(parsed.articles) == 62
    assert parsed.title == "Articles | Mail Online"
    with_images = [a for a in parsed.articles if a.image_url]
    assert len(with_images) > 30
    assert all(a.image_url and a.image_url.startswith("http") for a in with_images)


@pytest.mark.shared
def test_guardian_widest_media_content_chosen(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "guardian-us-rss.xml")
    assert parsed.articles[0].image_url and "w=460" in parsed.articles[0].image_url
    assert not parsed.articles[0].summary.endswith("Continue reading...")


@pytest.mark.shared
def test_almonitor_duplicates_are_kept(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "almonitor-dupguid-rss.xml")
    assert len(parsed.articles) == 20
    assert len({a.guid for a in parsed.articles}) == 11


@pytest.mark.shared
def test_source_prefers_feed_name_then_feed_title(real_feeds_dir: Path) -> None:
    assert parse_real(real_feeds_dir, "npr-world-rss.xml").articles[0].source == "NPR Topics: World"
    named = parse_real(real_feeds_dir, "npr-world-rss.xml", feed_name="NPR")
    assert {a.source for a in named.articles} == {"NPR"}


@pytest.mark.shared
def test_cnn_items_without_pubdate_use_the_feeds_date(real_feeds_dir: Path) -> None:
    parsed = parse_real(real_feeds_dir, "cnn-intl-rss.xml")
    unknown = [a for a in parsed.articles if not a.published_known]
    assert len(unknown) == 3
    # the channel's pubDate, not "now" (issue 16): an undated item is at least that old
    assert all(a.published == datetime(2021, 10, 17, 12, 44, 25, tzinfo=UTC) for a in unknown)


# --- our fixtures ----------------------------------------------------------------------------


def test_chicago_fixture(data_dir: Path) -> None:
    body = (data_dir / "feeds" / "chicago-sample.xml").read_bytes()
    parsed = parse_feed(body, feed_url="https://chicago.example.test/feed/", now=NOW)
    assert parsed.title == "Chicago Sample Outlet"
    assert parsed.link == "https://chicago.example.test/"
    first, second, third = parsed.articles
    assert first.url == "https://chicago.example.test/2026/11/20/ice-little-village"
    assert first.identity == "url:https://chicago.example.test/2026/11/20/ice-little-village"
    assert first.published == datetime(2026, 11, 20, 21, 30, tzinfo=UTC) and first.published_known
    assert (
        first.summary
        == "Residents reported federal immigration agents near 26th Street on Friday morning."
    )
    assert first.image_url == "https://chicago.example.test/img/ice.jpg"
    assert first.source == "Chicago Sample Outlet" and first.guid == "chi-0001"
    assert second.summary == "Aldermen argued over sanctuary protections."
    assert third.link == "https://chicago.example.test/2026/11/18/guard-what-we-know"


def test_atom_html_titles_become_text(data_dir: Path) -> None:
    body = (data_dir / "feeds" / "sample-atom.xml").read_bytes()
    parsed = parse_feed(body, feed_url="https://atom.example.test/feed", now=NOW)
    assert parsed.title == "Sample Atom Outlet"
    (article,) = parsed.articles
    assert article.title == "Sanctuary policy vote delayed"
    assert article.summary == "The vote moved to December."
    assert article.url == "https://atom.example.test/news/sanctuary-vote"
    assert article.link.endswith("#comments")


# --- hostile documents --------------------------------------------------------------------


async def _fetch_body(server: FeedServer, path: str) -> tuple[bytes, dict[str, str], str]:
    async with Fetcher() as fetcher:
        result = await fetcher.fetch(server.url(path))
    assert result.ok and result.body is not None, result.error
    return result.body, result.headers, result.final_url


async def test_html_page_is_not_a_feed(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/page.html")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    assert not parsed.is_feed and parsed.articles == ()


@pytest.mark.parametrize("body", [b"", b"\x00\x01\x02garbage", b'{"json": true}', b"plain text"])
def test_garbage_is_not_a_feed(body: bytes) -> None:
    parsed = parse_feed(body, feed_url="https://example.test/x", now=NOW)
    assert not parsed.is_feed and parsed.articles == ()


async def test_billion_laughs_not_expanded(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/billion-laughs.xml")
    started = time.monotonic()
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    assert time.monotonic() - started < 10  # no exponential expansion
    for article in parsed.articles:
        assert "lollol" not in article.title + article.summary
        assert len(article.title) <= MAX_TITLE_CHARS


async def test_external_entity_not_resolved(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/xxe.xml")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    text = " ".join(a.title + a.summary for a in parsed.articles)
    assert "root:" not in text and "/bin/" not in text
    assert parsed.articles and parsed.articles[0].link == "https://example.test/xxe"


async def test_malformed_xml_is_contained(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/malformed.xml")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    assert parsed.bozo
    assert parsed.articles and parsed.articles[0].title == "First item & friends"


async def test_wrong_charset_declaration_decoded(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/wrong-charset.xml")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    assert parsed.articles[0].title == "Acción migratoria en São Paulo — niño"


async def test_ten_thousand_items_capped(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/many-items")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    assert len(parsed.articles) == MAX_ENTRIES
    assert parsed.articles[0].title == "Item 0"


async def test_huge_title_and_summary_capped(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/huge-title")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    huge, normal = parsed.articles
    assert len(huge.title) <= MAX_TITLE_CHARS and huge.title.startswith("ICE x")
    assert len(huge.summary) <= MAX_SUMMARY_CHARS
    assert normal.title == "Normal"
    assert len(pickle.dumps(parsed)) < 50_000


async def test_scripts_and_pixels_removed(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/scripts")
    (article,) = parse_feed(body, feed_url=url, headers=headers, now=NOW).articles
    assert article.summary == "Real text. click more text."
    assert article.image_url is None  # a 1x1 pixel in the summary is not an image


async def test_mentions_and_markdown_kept_as_plain_text(feed_server: FeedServer) -> None:
    """Parse keeps titles verbatim (escaping for Discord is the renderer's job)."""
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/mentions")
    titles = [a.title for a in parse_feed(body, feed_url=url, headers=headers, now=NOW).articles]
    assert titles[0] == "@everyone ICE raid reported"
    assert "@here" in titles[1]
    assert titles[2].startswith("[Totally official](https://evil.example/)")


async def test_duplicate_guids_kept(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/dup-guids")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    assert len(parsed.articles) == 6
    assert len({a.identity for a in parsed.articles}) == 3


async def test_items_without_guid_or_link_get_title_identity(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/no-guid-no-link")
    parsed = parse_feed(body, feed_url=url, headers=headers, now=NOW)
    identities = [a.identity for a in parsed.articles]
    assert identities[0] == f"title:{url}|untethered headline 0|2026-11-20"
    assert identities[3] == f"title:{url}|untethered and undated|"
    assert all(a.url == "" and a.link == "" for a in parsed.articles)
    assert len(set(identities)) == 4


async def test_missing_garbage_and_future_dates(feed_server: FeedServer) -> None:
    body, headers, url = await _fetch_body(feed_server, "/hostile/feed/bad-dates")
    by_title = {
        a.title: a for a in parse_feed(body, feed_url=url, headers=headers, now=NOW).articles
    }
    for title in ("No date", "Garbage date", "Far future", "Portuguese"):
        assert by_title[title].published == NOW and not by_title[title].published_known, title
    assert by_title["Good date"].published == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert by_title["Offset date"].published == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert by_title["Good date"].published_known


def test_slightly_future_date_within_tolerance_kept() -> None:
    soon = NOW + timedelta(minutes=5)
    body = rss_document("T", [{"title": "Soon", "link": "https://example.test/s", "pubDate": soon}])
    (article,) = parse_feed(body, feed_url="https://example.test/f", now=NOW).articles
    assert article.published == soon and article.published_known


def test_unsafe_links_dropped() -> None:
    items = [
        {"title": "JS", "link": "javascript:alert(1)", "guid": "js"},
        {"title": "Data", "link": "data:text/html,<b>x</b>", "guid": "data"},
    ]
    parsed = parse_feed(rss_document("T", items), feed_url="https://example.test/f", now=NOW)
    assert [a.link for a in parsed.articles] == ["", ""]
    assert [a.identity for a in parsed.articles] == [
        "guid:https://example.test/f|js",
        "guid:https://example.test/f|data",
    ]


def test_google_news_style_items_from_rss_document() -> None:
    items = [
        {
            "title": "Guard arrives in Chicago - Chicago Sun-Times",
            "link": "https://news.google.com/rss/articles/CBMiAAA?oc=5",
            "guid": "CBMiAAA",
            "source": "Chicago Sun-Times",
            "source_url": "https://chicago.suntimes.com",
            "description": '<a href="x">Guard arrives in Chicago</a>&nbsp;<font>Chicago Sun-Times</font>',
            "pubDate": "Fri, 20 Nov 2026 12:00:00 GMT",
        }
    ]
    (article,) = parse_feed(
        rss_document("Google News", items),
        feed_url="https://news.google.com/rss/search?q=x",
        now=NOW,
    ).articles
    assert article.is_google_news
    assert article.title == "Guard arrives in Chicago"
    assert article.source == "Chicago Sun-Times"
    assert article.source_url == "https://chicago.suntimes.com"
    assert article.identity == "gnews:chicago sun times|guard arrives in chicago"
    assert article.url == "https://news.google.com/rss/articles/CBMiAAA?oc=5"


def test_result_is_picklable_and_runs_in_a_process_pool(data_dir: Path) -> None:
    body = (data_dir / "feeds" / "chicago-sample.xml").read_bytes()
    expected = parse_feed(body, feed_url="https://chicago.example.test/feed/", now=NOW)
    assert pickle.loads(pickle.dumps(expected)) == expected
    with ProcessPoolExecutor(max_workers=1) as pool:
        got = pool.submit(
            parse_feed, body, feed_url="https://chicago.example.test/feed/", headers=None, now=NOW
        ).result(timeout=60)
    assert got == expected


def test_hostile_items_helper_kinds() -> None:
    for kind in ("dup-guids", "no-guid-no-link", "bad-dates", "scripts", "mentions"):
        assert hostile_items(kind)
    with pytest.raises(KeyError):
        hostile_items("nope")


def test_entries_without_title_or_text_are_dropped() -> None:
    """An entry with neither headline nor text (e.g. the wreck of malformed XML) can't be alerted."""
    items = [
        {"link": "https://example.test/only-link", "guid": "a"},
        {"description": "Text but no title", "link": "https://example.test/text", "guid": "b"},
        {"title": "Title only", "guid": "c"},
    ]
    parsed = parse_feed(rss_document("T", items), feed_url="https://example.test/f", now=NOW)
    assert [a.guid for a in parsed.articles] == ["b", "c"]


def test_google_news_item_without_source_element_uses_title_suffix() -> None:
    items = [
        {
            "title": "Sheriff responds to Guard plan - WBEZ Chicago",
            "link": "https://news.google.com/rss/articles/X",
        }
    ]
    (article,) = parse_feed(
        rss_document('"guard" - Google News', items),
        feed_url="https://news.google.com/rss/search?q=guard",
        now=NOW,
    ).articles
    assert article.source == "WBEZ Chicago" and article.title == "Sheriff responds to Guard plan"
    assert article.identity == "gnews:wbez chicago|sheriff responds to guard plan"


_xmlish = st.lists(
    st.sampled_from(
        ["<rss>", "</rss>", "<channel>", "<item>", "</item>", "<title>", "</title>", "<link>", "</link>",
         "<entry>", "<feed xmlns='http://www.w3.org/2005/Atom'>", "<!DOCTYPE x [<!ENTITY a 'b'>]>",
         "&a;", "&amp;", "<![CDATA[", "]]>", "<?xml version='1.0'?>", "http://x.test/a", "ICE", "\x00"]
    )
    | st.text(max_size=20),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.binary(max_size=2000), _xmlish.map(lambda t: t.encode("utf-8", "surrogatepass")))
)
def test_parse_feed_never_raises_on_junk(body: bytes) -> None:
    parsed = parse_feed(body, feed_url="https://example.test/feed", now=NOW)
    assert isinstance(parsed, ParsedFeed)
    assert len(parsed.articles) <= MAX_ENTRIES
    for article in parsed.articles:
        assert len(article.title) <= MAX_TITLE_CHARS and article.identity
        assert article.link == "" or article.link.startswith(("http://", "https://"))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
@pytest.mark.parametrize("name", ["billion-laughs.xml", "xxe.xml"])
async def test_entity_attacks_in_wide_encodings(
    feed_server: FeedServer, encoding: str, name: str
) -> None:
    """Our byte-level DTD strip can't see UTF-16/32 prologs; feedparser's own guard must hold."""
    body, _, url = await _fetch_body(feed_server, f"/hostile/{name}")
    text = re.sub(r'encoding="[^"]*"', "", body.decode("utf-8")).replace(
        "<?xml version", f'<?xml encoding="{encoding}" version', 1
    )
    text = text.replace(
        f'<?xml encoding="{encoding}" version="1.0"', f'<?xml version="1.0" encoding="{encoding}"'
    )
    started = time.monotonic()
    parsed = parse_feed(text.encode(encoding), feed_url=url, now=NOW)
    assert time.monotonic() - started < 10  # no exponential expansion
    joined = " ".join(a.title + a.summary for a in parsed.articles)
    assert "lollol" not in joined and "root:" not in joined


def _rss(language: str | None) -> bytes:
    lang = f"<language>{language}</language>" if language is not None else ""
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://a.example/</link>{lang}"
        "<item><title>ICE agents in Pilsen</title><link>https://a.example/1</link></item>"
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("declared", "configured", "expected"),
    [
        ("en-US", None, "en"),  # the feed's declaration, primary subtag only
        ("es-419", "en", "es"),  # the feed's declaration beats the config
        (None, "es", "es"),  # no declaration: the feed config's
        ("", "es", "es"),
        ("not a tag", None, None),
        (None, None, None),
    ],
)
def test_article_lang_from_feed_declaration_then_config(
    declared: str | None, configured: str | None, expected: str | None
) -> None:
    parsed = parse_feed(_rss(declared), feed_url="https://a.example/rss", lang=configured)
    assert [a.lang for a in parsed.articles] == [expected]


def test_article_lang_from_atom_xml_lang() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="es-MX">'
        b"<title>T</title><id>urn:x</id><updated>2025-01-01T00:00:00Z</updated>"
        b'<entry><title>Redadas de ICE</title><id>urn:1</id><link href="https://a.example/1"/>'
        b"<updated>2025-01-01T00:00:00Z</updated></entry></feed>"
    )
    parsed = parse_feed(body, feed_url="https://a.example/atom")
    assert [a.lang for a in parsed.articles] == ["es"]
