"""``python -m bench.time_fastfeed [N]``: CPU per feed of the parse worker, FAST_PATH off vs on.

process_feed_body (parse + classify, what a parse worker runs) over the same N generated feeds
of the mixed and cluster styles and over ../shared/feeds-real, timed with process_time (the
machine is shared: wall time would measure the neighbours).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from bench import feedgen
from bot.ingest import parse
from bot.ingest.worker import process_feed_body

BASE = datetime(2026, 12, 1, tzinfo=UTC)


def cpu_ms_per_feed(docs: list[bytes], *, fast: bool) -> float:
    parse.FAST_PATH = fast
    process_feed_body(docs[0], "http://x/0", {}, None, None, None)  # classifier loaded
    start = time.process_time()
    for i, body in enumerate(docs):
        process_feed_body(body, f"http://127.0.0.1:1/feed/{i}", {}, None, None, None)
    return (time.process_time() - start) / len(docs) * 1000


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 100
    sets = {style: [feedgen.feed_document(1, i, BASE, style=style) for i in range(n)]
            for style in ("mixed", "cluster")}
    sets["feeds-real"] = [p.read_bytes() for p in sorted(feedgen.REAL_DIR.glob("*.xml"))]
    for name, docs in sets.items():
        before = cpu_ms_per_feed(docs, fast=False)
        after = cpu_ms_per_feed(docs, fast=True)
        print(f"{name:10} {len(docs):4} feeds: {before:5.1f} -> {after:5.1f} ms CPU per feed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
