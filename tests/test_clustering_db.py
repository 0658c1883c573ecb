"""Issue 15 item 4: clustering from signature keys in the database decides as the in-memory index did.

The equivalence tests replay one corpus twice, in the same order and the same feed batches:
through `ClusterIndex` (today's in-memory decisions: `find`, then `add`) and through the real
store (`StoryAssembler.save` on SQLite, candidates read by key inside each save transaction).
Each item's decision is "a new story" or "the story item j started"; the disagreements are
counted and printed (`-s` shows them), and must stay a small fraction. Known sources of
disagreement, all rare: the old index skipped words found in more than 500 stories and broke
ties between equally good stories in hash order (it varies with PYTHONHASHSEED); the database
breaks them by the lowest story id, and reads at most `PER_KEY` rows per key.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.assembly import StoryAssembler, outlet_key
from bot.clock import ManualClock
from bot.ingest.parse import parse_feed
from bot.models import Article, Match
from bot.store import Store
from bot.stories import (
    KEYS_VERSION,
    ClusterIndex,
    TitleSignature,
    pick_story,
    same_story,
    signature_keys,
)
from tests.store.helpers import find_story, stored_headlines

DATA = Path(__file__).parent / "data" / "relevance"
BASE = datetime(2026, 11, 20, 12, tzinfo=UTC)
H = 3600.0
NO_MATCH = Match((), (), (), None)


@dataclass(frozen=True)
class Item:
    title: str
    published: datetime
    feed_url: str
    source: str


def _titles() -> list[str]:
    out: list[str] = []
    for name in ("labeled.jsonl", "labeled_extra.jsonl", "heldout.jsonl", "heldout2.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["title"])
    return list(dict.fromkeys(out))


_SUFFIXES = (", officials say", ": what we know", " as protests grow", " — live updates", ", report says")


def _variant(rng: random.Random, title: str, others: Sequence[str]) -> str:
    """A look-alike of `title` the way outlets write one: a suffix, a dropped or changed word,
    another number, headline case, or (a look-alike that is *not* the story) a splice."""
    words = title.split()
    r = rng.random()
    if r < 0.3:
        return title + rng.choice(_SUFFIXES)
    if r < 0.45 and len(words) > 4:
        del words[rng.randrange(1, len(words))]
        return " ".join(words)
    if r < 0.55:
        return " ".join(w if not any(c.isdigit() for c in w) else str(rng.randint(2, 99)) for w in words)
    if r < 0.7:
        return " ".join(w[:1].upper() + w[1:] for w in words)
    if r < 0.85:
        other = rng.choice(others).split()
        k = max(2, len(words) * 2 // 3)
        return " ".join(words[:k] + other[len(other) // 2 :])
    return title


def generated_corpus(seed: int = 15, n_titles: int = 400) -> list[list[Item]]:
    """Feed batches in arrival order: each base headline reported by 1–4 outlets (20 feeds, some
    Google News feeds carrying several sources) over five days, with look-alike rewrites."""
    rng = random.Random(seed)
    titles = _titles()
    picked = rng.sample(titles, min(n_titles, len(titles)))
    items: list[Item] = []
    for title in picked:
        start = rng.uniform(0, 120) * H
        for k in range(rng.choice((1, 1, 2, 3, 4))):
            feed = rng.randrange(20)
            source = f"Outlet {feed}" if feed >= 5 else f"Publisher {rng.randrange(8)}"
            text = title if k == 0 else _variant(rng, title, titles)
            when = BASE + timedelta(seconds=start + rng.uniform(0, 30) * H)
            items.append(Item(text, when, f"https://feed{feed}.example/rss", source))
    items.sort(key=lambda it: it.published)
    batches: list[list[Item]] = []
    while items:
        n = rng.randint(1, 12)
        batches.append(items[:n])
        items = items[n:]
    return batches


def _article(item: Item, n: int) -> Article:
    url = f"https://x.example/{n}"
    return Article(
        feed_url=item.feed_url, guid=f"g{n}", url=url, link=url, title=item.title, summary="",
        published=item.published, published_known=True, source=item.source, source_url=None,
        image_url=None, identity=f"id-{n}",
    )


def old_decisions(batches: Sequence[Sequence[Item]]) -> list[int | None]:
    """Today's in-memory decisions: per item None (a new story) or the item that started the
    story it joins."""
    index = ClusterIndex()
    first: dict[int, int] = {}
    out: list[int | None] = []
    n = 0
    for batch in batches:
        for item in batch:
            t = item.published.timestamp()
            outlet = outlet_key(item.feed_url, item.source)
            found = index.find(item.title, t, outlet)
            if found is None:
                found = len(first) + 1
                first[found] = n
                out.append(None)
            else:
                out.append(first[found])
            index.add(found, item.title, t, outlet)
            n += 1
    return out


async def db_decisions(batches: Sequence[Sequence[Item]], db: Path) -> list[int | None]:
    """The same corpus through the real store and assembler (keys in SQLite)."""
    end = max(it.published for b in batches for it in b) + timedelta(hours=1)
    store = await Store.open(db, clock=ManualClock(end.timestamp()))
    try:
        assembler = StoryAssembler(store.clock)
        await assembler.load(store)
        n = 0
        for batch in batches:
            arts = [_article(item, n + k) for k, item in enumerate(batch)]
            n += len(arts)
            report = await assembler.save(store, batch[0].feed_url, [(a, NO_MATCH) for a in arts])
            assert report.new_articles == len(arts)
        rows = await store._run(
            lambda c: c.execute("SELECT identity, story_id FROM articles ORDER BY id").fetchall()
        )
    finally:
        await store.close()
    first: dict[int, int] = {}
    out: list[int | None] = []
    for identity, story_id in rows:
        k = int(identity.removeprefix("id-"))
        assert k == len(out)
        if story_id in first:
            out.append(first[story_id])
        else:
            first[story_id] = k
            out.append(None)
    return out


def _compare(name: str, old: list[int | None], new: list[int | None]) -> int:
    diff = [k for k, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    joins_old = sum(1 for x in old if x is not None)
    joins_new = sum(1 for x in new if x is not None)
    print(f"\n[clustering equivalence] {name}: {len(old)} items, joins old {joins_old} / db {joins_new}, "
          f"disagreements {len(diff)}")
    return len(diff)


async def test_generated_corpus_decides_as_the_in_memory_index(tmp_path: Path) -> None:
    batches = generated_corpus()
    old = old_decisions(batches)
    new = await db_decisions(batches, tmp_path / "db.sqlite3")
    assert sum(1 for x in old if x is not None) > 200  # the corpus really clusters
    disagreements = _compare("generated (labeled headlines + look-alikes)", old, new)
    assert disagreements <= len(old) // 200  # ≤ 0.5 %


async def test_real_feeds_decide_as_the_in_memory_index(real_feeds_dir: Path, tmp_path: Path) -> None:
    batches: list[list[Item]] = []
    for path in sorted(real_feeds_dir.glob("*.xml")):
        parsed = parse_feed(path.read_bytes(), feed_url=f"https://{path.stem}.example/feed", now=BASE)
        batch = [Item(a.title, a.published, a.feed_url, a.source) for a in parsed.articles]
        if batch:
            batches.append(batch)
    old = old_decisions(batches)
    new = await db_decisions(batches, tmp_path / "db.sqlite3")
    assert len(old) > 500
    assert _compare("../shared/feeds-real", old, new) <= len(old) // 200


def test_signature_keys_cover_every_candidate_the_old_index_counted() -> None:
    """Two headlines sharing two tokens share a key (the pair), so the database finds every story
    `ClusterIndex.find` could join; an empty headline has no key."""
    a = "ICE agents arrest 5 people in Pilsen raid"
    b = "Pilsen raid: agents detain workers"
    assert set(signature_keys(a)) & set(signature_keys(b))
    assert not set(signature_keys(a)) & set(signature_keys("Guard convoy reaches Elwood"))
    assert signature_keys("") == () and signature_keys("🔥🔥") == ()
    long = " ".join(f"word{i}" for i in range(30))
    assert len(signature_keys(long)) == 1 + 10  # the fingerprint and the pairs of 5 tokens
    assert signature_keys(a) == signature_keys(a + " ")  # the normalized title decides


def test_pick_story_rules() -> None:
    """The decision rules over candidate rows: identical first, most shared words, same outlet."""
    rows = [
        (1, "ICE agents arrest 5 people in Pilsen", 0.0, "o1"),
        (2, "ICE agents arrest 5 people in Pilsen raid near church", 0.0, "o2"),
    ]
    assert pick_story("ICE agents arrest 5 people in Pilsen raid near the church", 0.0, "", rows) == 2
    assert pick_story("ICE agents arrest 5 people in Pilsen", 0.0, "", [*rows, (0, rows[0][1], 0.0, "x")]) == 0
    assert pick_story("ICE agents arrest 5 people in Pilsen", 80 * H, "", rows) is None  # outside the window
    again = "ICE agents arrested 5 people in Pilsen raid near church, witnesses say"
    assert same_story(TitleSignature.of(again), TitleSignature.of(rows[1][1]))
    assert pick_story(again, 11 * H, "o2", rows) == 2  # the outlet's rewrite within hours
    assert pick_story(again, 13 * H, "o2", rows) is None  # the same outlet a day later: new report
    assert pick_story(again, 13 * H, "o9", rows) == 2  # another outlet: the 72 h window
    assert pick_story("", 0.0, "", rows) is None


async def test_candidates_come_from_the_database_for_every_process(tmp_path: Path) -> None:
    """A second store (another process's view) on the same file finds the story at once: no
    index to load; a store opened on a database from before the keys keys its window."""
    db = tmp_path / "db.sqlite3"
    clock = ManualClock(BASE.timestamp())
    one = await Store.open(db, clock=clock)
    two = await Store.open(db, clock=clock)
    try:
        a = _article(Item("Federal agents detain 12 at Little Village car wash", BASE, "https://a.example/rss", "A"), 1)
        b = _article(Item("Federal agents detain 12 at Little Village car wash, witnesses say",
                          BASE + timedelta(hours=2), "https://b.example/rss", "B"), 2)
        (story,) = (await StoryAssembler(clock).save(one, a.feed_url, [(a, NO_MATCH)])).new_stories
        report = await StoryAssembler(clock).save(two, b.feed_url, [(b, NO_MATCH)])
        assert not report.new_stories and report.updated_story_ids == (story.id,)
        assert await find_story(one, b.title, b.published.timestamp()) == story.id
        assert {h.story_id for h in await stored_headlines(two, a.title)} == {story.id}
    finally:
        await one.close()
        await two.close()
    # an older database: the keys are gone (as before migration 018); load keys the window again
    store = await Store.open(db, clock=clock)
    try:
        await store._run(lambda c: c.execute("DELETE FROM headline_keys"))
        await store._run(lambda c: c.execute("DELETE FROM meta WHERE key = 'headline_keys'"))
        assert await stored_headlines(store, a.title) == []
        assembler = StoryAssembler(clock)
        await assembler.load(store)
        assert {h.story_id for h in await stored_headlines(store, a.title)} == {story.id}
        c = _article(Item("Federal agents detain 12 at Little Village car wash", BASE + timedelta(hours=3),
                          "https://c.example/rss", "C"), 3)
        report = await assembler.save(store, c.feed_url, [(c, NO_MATCH)])
        assert report.updated_story_ids == (story.id,)
        again = StoryAssembler(clock)
        await again.load(store)  # current keys: nothing to redo
        assert await store.key_headlines(0.0, KEYS_VERSION, signature_keys) == 0
    finally:
        await store.close()


async def test_per_key_limit_reads_the_latest_rows(tmp_path: Path) -> None:
    """A key shared by many headlines is read newest first and at most `per_key` rows."""
    store = await Store.open(tmp_path / "db.sqlite3", clock=ManualClock(BASE.timestamp()))
    try:
        assembler = StoryAssembler(store.clock)
        items = [_article(Item(f"Council meeting {i} agenda", BASE - timedelta(minutes=i), "https://f.example/rss",
                               f"S{i}"), i) for i in range(30)]
        await assembler.save(store, "https://f.example/rss", [(a, NO_MATCH) for a in items])
        (pair,) = signature_keys("council agenda")[1:]  # after the fingerprint: the one pair
        rows = await store.headline_candidates([pair], 0.0, BASE.timestamp() + 1, per_key=5)
        assert sorted(h.title for h in rows) == sorted(f"Council meeting {i} agenda" for i in range(5))
        assert await store.headline_candidates([pair], 0.0, BASE.timestamp() - 29 * 60 + 1, per_key=500) != []
        assert await store.headline_candidates([], 0.0, 1e12) == []
    finally:
        await store.close()


@pytest.mark.parametrize("seed", [1, 2])
def test_pick_story_matches_the_index_on_random_small_windows(seed: int) -> None:
    """Pure: the candidate rows the keys return, fed to pick_story, give ClusterIndex's answer."""
    batches = generated_corpus(seed=seed, n_titles=120)
    index = ClusterIndex()
    rows: list[tuple[int, str, float, str]] = []
    differ = 0
    total = 0
    next_id = 1
    for batch in batches:
        for item in batch:
            t = item.published.timestamp()
            outlet = outlet_key(item.feed_url, item.source)
            keys = set(signature_keys(item.title))
            cands = [r for r in rows if keys & set(signature_keys(r[1])) and abs(r[2] - t) <= 72 * H]
            old = index.find(item.title, t, outlet)
            new = pick_story(item.title, t, outlet, cands)
            differ += old != new
            total += 1
            sid = old if old is not None else next_id
            if old is None:
                next_id += 1
            index.add(sid, item.title, t, outlet)
            rows.append((sid, item.title, t, outlet))
    assert differ <= max(1, total // 200), f"{differ} of {total} decisions differ"


def test_worker_signatures_equal_the_store_threads(tmp_path: Path) -> None:
    """The parse workers' headline signatures and keys (bot.stories.prime) are what the store
    thread would compute itself: same keys in another interpreter (stored keys must agree
    across processes), and a primed headline reads the primed values."""
    import concurrent.futures
    import multiprocessing

    from bot import stories
    from bot.ingest.worker import process_feed_body

    doc = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>ICE agents arrest 5 people in Pilsen raid near church</title>"
        b"<link>https://t.example/1</link></item>"
        b"<item><title>National Guard convoy reaches Elwood, officials say</title>"
        b"<link>https://t.example/2</link></item>"
        b"<item><title>Raid, raid again: agents raid Pilsen homes in a third raid this week, raid watchers say</title>"
        b"<link>https://t.example/3</link></item></channel></rss>"
    )
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        processed = pool.submit(process_feed_body, doc, "https://t.example/feed", {}, None, None, None).result()
    assert [h.title for h in processed.headlines] == [a.title for a, _ in processed.items]
    for hint in processed.headlines:
        assert hint.keys and hint.keys == stories._signature_keys(hint.title)
        assert hint.signature == stories._signature(hint.title)
    stories.prime(processed.headlines)
    hint = processed.headlines[0]
    assert stories.signature_keys(hint.title) is hint.keys
    assert stories.TitleSignature.of(hint.title) is hint.signature
