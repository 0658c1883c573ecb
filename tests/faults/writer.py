"""Child processes for the database drills (run as `python -m tests.faults.writer MODE DB`).

- `loop`: saves batches of BATCH articles forever through the real Store, one transaction per
  batch, printing the number of batches committed so far (a busy bot's write load).
- `fill`: saves batches until the store refuses (a full disk), then prints one JSON line
  `{"batches": n, "error": "..."}`. It runs as a child so that whatever the file system does
  when it is full (an I/O error, even a signal from a memory-mapped file) cannot take the test
  runner down with it.
- `lock`: takes an exclusive write lock and holds it until a line arrives on stdin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

from bot.assembly import StoryAssembler
from bot.errors import StoreError
from bot.models import Article, Destination, Match
from bot.store import Store

BATCH = 20
FEED = "https://writer.example/feed"
CHANNEL = 100
DESTINATION = Destination(platform="discord", address=str(CHANNEL), group="1")
_MATCH = Match(topics=("immigration-enforcement",), cities=("chicago-il",), why=("drill",))


def batches(start: int = 0, *, summary_chars: int = 500) -> Iterator[list[tuple[Article, Match]]]:
    numbers = itertools.count(start)
    while True:
        items = []
        for _ in range(BATCH):
            i = next(numbers)
            url = f"https://writer.example/{i}"
            article = Article(
                feed_url=FEED, guid=f"g{i}", url=url, link=url,
                # a distinct number and place per headline: never clustered together
                title=f"ICE detains {i} people near place number {i * 7919 % 100003}",
                summary="x" * summary_chars, published=datetime.now(UTC), published_known=True,
                source="Writer", source_url=None, image_url=None, identity=url,
            )  # fmt: skip
            items.append((article, _MATCH))
        yield items


async def loop(db: str) -> None:
    store = await Store.open(db)
    assembler = StoryAssembler(store.clock)
    await store.subscribe(DESTINATION, "chicago-il", ["immigration-enforcement"])
    for done, items in enumerate(batches(), 1):
        await assembler.save(store, FEED, items)
        print(done, flush=True)


async def fill(db: str) -> None:
    store = await Store.open(db)
    assembler = StoryAssembler(store.clock)
    done = 0
    error = ""
    try:
        await store.subscribe(DESTINATION, "chicago-il", ["immigration-enforcement"])
        for items in batches(summary_chars=2000):
            try:
                await assembler.save(store, FEED, items)
            except StoreError as exc:
                error = exc.user_message
                break
            done += 1
    finally:
        print(json.dumps({"batches": done, "error": error}), flush=True)
        try:
            await store.close()
        except Exception as exc:  # closing a store on a full disk may fail too; report it
            print(json.dumps({"close_error": str(exc)}), flush=True)


def lock(db: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("INSERT INTO meta(key, value) VALUES ('locker', 'holding') "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value")  # fmt: skip
    print("locked", flush=True)
    sys.stdin.readline()
    conn.execute("COMMIT")
    conn.close()
    print("released", flush=True)


def main() -> None:
    mode, db = sys.argv[1], sys.argv[2]
    if mode == "loop":
        asyncio.run(loop(db))
    elif mode == "fill":
        asyncio.run(fill(db))
    elif mode == "lock":
        lock(db)
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
