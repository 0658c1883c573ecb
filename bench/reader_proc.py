"""`python -m bench.reader_proc DB WORKERS URLS_FILE`: reader's side of reader-compare, as one
whole process (imports, make_reader, add_feed for every URL, one update_feeds, close)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    db, workers, listing = argv[0], int(argv[1]), argv[2]
    import importlib.util

    if importlib.util.find_spec("sgmllib") is None:  # as bench.s_ingest._sgmllib_shim, without its imports
        import feedparser_sgmllib

        sys.modules["sgmllib"] = feedparser_sgmllib
    from reader import make_reader

    with open(listing, encoding="utf-8") as fh:
        urls = [u.strip() for u in fh if u.strip()]
    r = make_reader(db)
    try:
        for u in urls:
            r.add_feed(u, exist_ok=True)
        r.update_feeds(workers=workers)
        broken = sum(1 for f in r.get_feeds() if f.last_exception)
    finally:
        r.close()
    print(f"reader: {len(urls)} feeds, {broken} broken", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
