"""Which stories in ../shared/feeds-real the classifier tags (issue 17's before/after list).

Why a script and not only a test: the list is what a reviewer reads (docs/relevance.md keeps
it with a right/wrong mark per story). The feeds are read in place from ../shared, parsed by
the production parser (``bot.ingest.parse.parse_feed``) and every item goes through the
production classifier, as ``poll --once --all`` would.

    PYTHONPATH=. python -m tests.relevance.feeds_real_tags [--why]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bot.ingest.parse import parse_feed
from bot.relevance import Classifier, load_classifier

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DIR = Path(os.environ.get("CIVIC_ALERTS_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
REAL_DIR = SHARED_DIR / "feeds-real"


@dataclass(frozen=True, slots=True)
class Tagged:
    """One tagged item: the feed file, its title, topics and the classifier's evidence."""

    feed: str
    title: str
    topics: tuple[str, ...]
    why: tuple[str, ...]


def tagged_items(clf: Classifier, real_dir: Path = REAL_DIR) -> list[Tagged]:
    """Every item of every feed file that gets at least one topic, in file order."""
    out: list[Tagged] = []
    for path in sorted(real_dir.glob("*.xml")):
        parsed = parse_feed(path.read_bytes(), feed_url=f"http://127.0.0.1/real/{path.name}")
        for art in parsed.articles:
            m = clf.classify(art.title, art.summary or "")
            if m.topics:
                out.append(Tagged(path.name, art.title, m.topics, m.why))
    return out


def main(argv: list[str]) -> int:
    show_why = "--why" in argv
    items = tagged_items(load_classifier())
    for t in items:
        print(f"{t.feed}\t{','.join(t.topics)}\t{t.title}")
        if show_why:
            for w in t.why:
                print(f"\t\t{w}")
    print(f"{len(items)} tagged")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
