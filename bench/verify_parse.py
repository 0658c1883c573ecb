"""``python -m bench.verify_parse``: do feedparser's cheaper options change any stored article?

bot/ingest/parse.py calls feedparser with ``sanitize_html=False, resolve_relative_uris=False``
(see the comment there and docs/benchmarks.md). This check runs `parse_feed` on every document
in ../shared/feeds-real, tests/data/feeds, the hostile documents of tests/feedserver.py and a few
synthetic benchmark feeds, once with the options feedparser defaults to (both on) and once as
shipped, and prints every field of every article that differs. Exit status 1 on a difference
outside the known one (an undefined entity keeps its ";").
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser

from bench import feedgen

NOW = datetime(2026, 11, 25, tzinfo=UTC)
KNOWN = {"hostile/billion-laughs.xml", "hostile/xxe.xml"}  # "&lol9;" vs "&lol9": undefined entities


def _parse(body: bytes, url: str, *, sanitize: bool) -> Any:
    import bot.ingest.parse as P

    original = feedparser.parse

    def forced(*args: Any, **kwargs: Any) -> Any:
        kwargs["sanitize_html"] = sanitize
        kwargs["resolve_relative_uris"] = sanitize
        return original(*args, **kwargs)

    P.feedparser.parse = forced  # type: ignore[attr-defined]
    try:
        return P.parse_feed(body, feed_url=url, headers={"Content-Type": "application/rss+xml"}, now=NOW)
    finally:
        P.feedparser.parse = original  # type: ignore[attr-defined]


def documents() -> list[tuple[str, bytes]]:
    docs: list[tuple[str, bytes]] = []
    for folder in (feedgen.REAL_DIR, feedgen.ROOT / "tests" / "data" / "feeds"):
        if folder.is_dir():
            docs += [(str(p.relative_to(folder.parent)), p.read_bytes()) for p in sorted(folder.rglob("*.xml"))]
    try:
        from tests import feedserver as fs
    except ImportError:  # pytest missing: the hostile documents live in the test helpers
        fs = None
    if fs is not None:
        docs += [(f"hostile/{name}", body) for name, (body, _) in fs._STATIC_HOSTILE.items()]
        for kind in ("dup-guids", "no-guid-no-link", "bad-dates", "huge-title", "scripts", "mentions",
                     "many-items"):
            docs.append((f"hostile-feed/{kind}", fs.rss_document(kind, fs.hostile_items(kind, n=300))))
    docs += [(f"synthetic/{i}", feedgen.feed_document(1, i, NOW)) for i in range(20)]
    return docs


def main() -> int:
    docs = documents()
    unexpected = 0
    for name, body in docs:
        url = "https://example.test/feeds/" + Path(name).name
        a, b = _parse(body, url, sanitize=True), _parse(body, url, sanitize=False)
        if a == b:
            continue
        unexpected += name not in KNOWN
        print(f"DIFF {name}{' (known)' if name in KNOWN else ''}")
        for x, y in zip(a.articles, b.articles, strict=False):
            for fld in x.__dataclass_fields__:
                if getattr(x, fld) != getattr(y, fld):
                    print(f"  {fld}: {getattr(x, fld)!r:.120} | {getattr(y, fld)!r:.120}")
        if len(a.articles) != len(b.articles):
            print(f"  articles: {len(a.articles)} | {len(b.articles)}")
    real = sum(1 for n, _ in docs if n.startswith("feeds-real"))
    print(f"{len(docs)} documents ({real} from feeds-real), {unexpected} unexpected difference(s)")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
