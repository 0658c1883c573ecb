"""OPML round trips and hostile files; feed discovery on generated home pages (loopback HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import actions
from bot.errors import FeedError
from bot.ingest.discovery import discover, feed_links
from bot.ingest.fetch import Fetcher
from bot.ingest.opml import MAX_BYTES, OpmlError
from bot.relevance import Gazetteer, load_classifier
from bot.settings import Settings
from bot.store import Store
from tests.feedserver import FeedServer

ITEM = [{"title": "ICE agents seen downtown", "link": "https://example.test/a", "guid": "a"}]
HEAD = '<?xml version="1.0"?>\n<opml version="2.0"><head><title>t</title></head><body>'
TAIL = "</body></opml>"


def opml(*outlines: str) -> bytes:
    return (HEAD + "".join(outlines) + TAIL).encode()


def hostile_files() -> dict[str, bytes]:
    ok = '<outline text="x" xmlUrl="https://example.test/feed"/>'
    nested = "".join('<outline text="f">' for _ in range(10)) + ok + "</outline>" * 10
    return {
        "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<opml><body><outline xmlUrl="https://e.test/&lol2;"/></body></opml>',
        "xxe": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<opml><body><outline xmlUrl="https://e.test/" text="&xxe;"/></body></opml>',
        "bare doctype": b'<?xml version="1.0"?><!DOCTYPE opml><opml><body>' + ok.encode() + b"</body></opml>",
        "truncated": opml(ok)[:-10],
        "not xml": b"this is not xml at all",
        "html page": b"<html><body><p>hello</p></body></html>",
        "empty": b"",
        "whitespace": b"   \n ",
        "huge": opml(ok) + b" " * (MAX_BYTES + 1),
        "nested too deep": opml(nested),
        "duplicate urls": opml(ok, ok),
        "javascript scheme": opml('<outline xmlUrl="javascript:alert(1)"/>'),
        "file scheme": opml('<outline xmlUrl="file:///etc/passwd"/>'),
        "ftp scheme": opml('<outline xmlUrl="ftp://example.test/feed"/>'),
        "no host": opml('<outline xmlUrl="http:///feed"/>'),
        "no feeds": opml('<outline text="folder only"/>'),
        "no body": b'<?xml version="1.0"?><opml version="2.0"><head/></opml>',
        "too many outlines": opml(*(f'<outline xmlUrl="https://e.test/{i}"/>' for i in range(501))),
        "unknown city": opml('<outline xmlns:civic="c" xmlUrl="https://e.test/f" civic:city="atlantis-zz"/>'),
        "bad encoding": b'<?xml version="1.0" encoding="UTF-8"?><opml><body><outline text="\xff\xfe" '
        b'xmlUrl="https://e.test/"/></body></opml>',
    }


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return load_classifier().gazetteer


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    yield s
    await s.close()


def loopback_settings(db_path: Path) -> Settings:
    return Settings(db_path=db_path, allow_private_feeds=True)


async def test_twenty_hostile_opml_files_change_nothing_and_each_gets_one_line(
    store: Store, gazetteer: Gazetteer, db_path: Path
) -> None:
    files = hostile_files()
    assert len(files) == 20
    before = await store.feeds()
    for name, data in files.items():
        with pytest.raises(OpmlError) as caught:
            await actions.import_opml(store, loopback_settings(db_path), gazetteer, owner="0", data=data)
        line = caught.value.user_message
        assert line.startswith("OPML refused: ") and "\n" not in line and len(line) < 200, (name, line)
    assert await store.feeds() == before == []
    assert await store.server_feeds() == []


async def test_round_trip_export_then_import_into_an_empty_database_is_lossless(
    tmp_path: Path, gazetteer: Gazetteer
) -> None:
    async with FeedServer() as server:
        urls = [server.set_feed(f"/dyn/f{i}.xml", items=ITEM, title=f"Feed {i}") for i in range(5)]
        first = await Store.open(tmp_path / "a.sqlite3")
        try:
            settings = loopback_settings(tmp_path / "a.sqlite3")
            data = "".join(
                f'<outline text="Feed {i} &amp; more" xmlns:civic="x" xmlUrl="{u}" '
                + ('civic:city="chicago-il" civic:lang="es"' if i % 2 else "")
                + "/>"
                for i, u in enumerate(urls)
            )
            report = await actions.import_opml(first, settings, gazetteer, owner="0", data=opml(data))
            assert len(report.added) == 5
            exported = await actions.export_opml(first)
            original = {(s.url, s.name, s.city, s.lang) for s in await first.server_feeds()}
        finally:
            await first.close()
        second = await Store.open(tmp_path / "b.sqlite3")
        try:
            report = await actions.import_opml(
                second, loopback_settings(tmp_path / "b.sqlite3"), gazetteer, owner="0", data=exported.encode()
            )
            assert len(report.added) == 5
            again = {(s.url, s.name, s.city, s.lang) for s in await second.server_feeds()}
            assert again == original
            assert ("Feed 1 & more" in {n for _u, n, _c, _l in again})
            assert await actions.export_opml(second) == exported
        finally:
            await second.close()


def test_feed_links_resolve_relative_hrefs_and_keep_page_order() -> None:
    html = (
        '<html><head><base href="/news/">'
        '<link rel="stylesheet" href="/s.css">'
        '<link rel="alternate" type="application/rss+xml" href="rss.xml" title="News">'
        '<link rel="alternate" type="application/atom+xml" href="https://other.test/atom">'
        '<link rel="alternate" type="text/html" href="/es/">'
        '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
        "</head></html>"
    )
    assert feed_links(html, "https://site.test/home") == ["https://site.test/news/rss.xml", "https://other.test/atom"]
    assert feed_links("<html>no links</html>", "https://site.test/") == []


async def test_discovery_on_generated_home_pages() -> None:
    async with FeedServer() as server, Fetcher() as fetcher:
        feed = server.set_feed("/dyn/site1/feed.xml", items=ITEM, title="Site one")
        page = '<html><head><link rel="alternate" type="application/rss+xml" href="feed.xml"></head></html>'
        home = server.set_body("/dyn/site1/index.html", page.encode(), content_type="text/html")
        found = await discover(fetcher, home)
        assert not isinstance(found, type(None)) and getattr(found, "url", None) == feed and found.how == "link"  # type: ignore[union-attr]

        # several feeds: the first that answers with a feed wins
        server.set_feed("/dyn/site2/comments.xml", items=ITEM, title="Comments")
        page2 = (
            '<link rel="alternate" type="application/rss+xml" href="/dyn/site2/missing.xml">'
            '<link rel="alternate" type="application/atom+xml" href="/dyn/site2/comments.xml">'
        )
        home2 = server.set_body("/dyn/site2/index.html", page2.encode(), content_type="text/html")
        found2 = await discover(fetcher, home2)
        assert getattr(found2, "url", "").endswith("/dyn/site2/comments.xml")

        # none named: /feed is tried (here the server's root has none, so nothing is found)
        home3 = server.set_body("/dyn/site3/index.html", b"<html><p>hi</p></html>", content_type="text/html")
        found3 = await discover(fetcher, home3)
        assert not hasattr(found3, "parsed") and "tried /feed and /rss" in found3.reason  # type: ignore[union-attr]

        # the feed itself
        found4 = await discover(fetcher, feed)
        assert getattr(found4, "how", "") == "given"


async def test_add_feed_accepts_a_home_page_and_says_which_feed_it_found(store: Store, db_path: Path) -> None:
    async with FeedServer() as server:
        feed = server.set_feed("/dyn/outlet/rss", items=ITEM, title="Outlet")
        page = b'<head><link rel="alternate" type="application/rss+xml" href="/dyn/outlet/rss"></head>'
        home = server.set_body("/dyn/outlet/", page, content_type="text/html")
        preview = await actions.add_feed(store, loopback_settings(db_path), owner="7", url=home)
        assert preview.feed.url == feed and preview.found_by == "link" and feed in preview.found_line
        assert [f.url for f in await store.guild_feeds("7")] == [feed]
        bare = server.set_body("/dyn/nothing/", b"<p>no feed</p>", content_type="text/html")
        with pytest.raises(FeedError) as caught:
            await actions.add_feed(store, loopback_settings(db_path), owner="7", url=bare)
        assert "RSS or Atom" in caught.value.user_message
