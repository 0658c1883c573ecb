"""Articles, stories, the search index and the outbox rows a story creates.

Why in one unit: a story and the deliveries it owes are written in the same transaction, so a
crash can never leave a stored story whose alerts were forgotten, or alerts for a story that
was rolled back.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.assembly import AssemblyBatch, FeedItems, SaveReport, StoryChange, StoryFields
from bot.crosslang import RecentReport
from bot.fanout import HELD_FOR_OUTLETS, HOLD_FOREVER, StoryFacts
from bot.models import Article, Match, SearchHit, Story, Subscription
from bot.store.db import Database, transaction
from bot.store.rows import STORY_COLUMNS, dt, save_report, story_from_row, subscriptions_where
from bot.stories import CANDIDATES, KEY_RETENTION, PER_KEY, KeyLookup, StoredHeadline

_TIE_MARGIN = 64  # extra ranked rows read so that equal scores at the page edge are all seen
_QUERY_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_QUERY_TERMS = 12
PREFIX_MIN = 5


@dataclass(slots=True)
class _Batch:
    new_ids: list[int] = field(default_factory=list)
    updated: set[int] = field(default_factory=set)
    new_articles: int = 0
    duplicates: int = 0
    queued: int = 0
    backlog_ids: list[int] = field(default_factory=list)
    # Known before the batch or stored by it: identities and (feed, guid) pairs. Read once per
    # batch (two statements) instead of one or two SELECTs per article.
    identities: set[str] = field(default_factory=set)
    guids: set[tuple[str, str]] = field(default_factory=set)
    # Subscriptions by the story's cities, read once per batch: the transaction holds the
    # write lock, so they cannot change before it ends.
    subscribers: dict[tuple[str, ...], list[Subscription]] = field(default_factory=dict)

    def is_duplicate(self, a: Article) -> bool:
        return a.identity in self.identities or bool(a.guid and (a.feed_url, a.guid) in self.guids)

    def remember(self, a: Article) -> None:
        self.identities.add(a.identity)
        if a.guid:
            self.guids.add((a.feed_url, a.guid))


def _known(c: sqlite3.Connection, items: Sequence[tuple[Article, Match]], batch: _Batch) -> None:
    """Which of the batch's identities and (feed, guid) pairs are stored already."""
    identities = sorted({a.identity for a, _ in items})
    batch.identities.update(
        r[0] for r in c.execute(
            "SELECT identity FROM articles WHERE identity IN (SELECT value FROM json_each(:ids))",
            {"ids": json.dumps(identities)},
        )
    )
    by_feed: dict[str, set[str]] = {}
    for a, _ in items:
        if a.guid:
            by_feed.setdefault(a.feed_url, set()).add(a.guid)
    for feed, guids in sorted(by_feed.items()):  # one feed per batch, in practice
        batch.guids.update(
            (feed, r[0]) for r in c.execute(
                "SELECT guid FROM articles WHERE feed_url = :f AND guid IN (SELECT value FROM json_each(:g))",
                {"f": feed, "g": json.dumps(sorted(guids))},
            )
        )


def fts_query(text: str) -> tuple[str, str] | None:
    """User text → (AND query, OR query) of quoted FTS5 terms, or None when nothing is searchable.

    Raw text is not a valid MATCH expression (`ICE AND`, `o'hare`, `C++`, `-ice` all raise), so
    every term is reduced to letters/digits and double-quoted: operators become plain words.
    """
    terms = [t for t in _QUERY_TOKEN.findall(text.casefold()) if t][:_MAX_QUERY_TERMS]
    if not terms:
        return None
    # A term of PREFIX_MIN letters or more also finds its longer forms ("deport" → deported,
    # deportation): the index has no stemmer, and shorter prefixes ("ice" → icebergs) say too little.
    quoted = [f'"{t}"*' if len(t) >= PREFIX_MIN else f'"{t}"' for t in dict.fromkeys(terms)]
    return " ".join(quoted), " OR ".join(quoted)


_STORY_COLUMNS = STORY_COLUMNS
_CANDIDATE_SQL: dict[int, str] = {}


def _candidate_sql(n_keys: int) -> str:
    """One statement for a headline's keys: per key an index range read (newest first, at most
    `per_key` rows); the `limit` articles matching the most keys (the most shared word pairs),
    ties by article id. Cached per key count (SQLite caches the plan)."""
    sql = _CANDIDATE_SQL.get(n_keys)
    if sql is None:
        arm = (
            "SELECT article_id FROM (SELECT article_id FROM headline_keys WHERE key = ? "
            "AND published BETWEEN ? AND ? ORDER BY published DESC LIMIT ?)"
        )
        sql = (
            "SELECT a.story_id, a.title, a.published, a.feed_url, a.source FROM articles a JOIN "
            f"(SELECT article_id, count(*) AS n FROM ({' UNION ALL '.join([arm] * n_keys)}) "
            "GROUP BY article_id ORDER BY n DESC, article_id LIMIT ?) k ON a.id = k.article_id"
        )
        _CANDIDATE_SQL[n_keys] = sql
    return sql


def _read_candidates(c: sqlite3.Connection, lookup: KeyLookup) -> list[StoredHeadline]:
    if not lookup.keys:
        return []
    params: list[object] = []
    for key in lookup.keys:
        params += (key, lookup.since, lookup.until, lookup.per_key)
    params.append(lookup.limit)
    return [
        StoredHeadline(r[0], r[1], r[2], r[3] or "", r[4] or "")
        for r in c.execute(_candidate_sql(len(lookup.keys)), params)
    ]


def _fields(row: sqlite3.Row) -> StoryFields:
    return StoryFields(
        title=row["title"],
        url=row["url"],
        source=row["source"],
        summary=row["summary"],
        image_url=row["image_url"],
        published=row["published"],
        link_rank=row["link_rank"],
        outlets=tuple(json.loads(row["outlets"])),
        topics=tuple(json.loads(row["topics"])),
        cities=tuple(json.loads(row["cities"])),
        why=tuple(json.loads(row["why"])),
        lead_known=bool(row["lead_known"]),
        lead_key=row["lead_key"],
    )


def _field_params(story_id: int | None, f: StoryFields, t: float) -> dict[str, object]:
    return {
        "id": story_id,
        "title": f.title,
        "url": f.url,
        "source": f.source,
        "summary": f.summary,
        "image": f.image_url,
        "pub": f.published,
        "t": t,
        "rank": f.link_rank,
        "outlets": json.dumps(list(f.outlets)),
        "topics": json.dumps(list(f.topics)),
        "cities": json.dumps(list(f.cities)),
        "why": json.dumps(list(f.why)),
        "known": int(f.lead_known),
        "key": f.lead_key,
    }


_UPDATE_SAME_TEXT = (
    "UPDATE stories SET url = :url, source = :source, "
    "image_url = :image, published = :pub, link_rank = :rank, outlets = :outlets, "
    "lead_known = :known, lead_key = :key, "
    "topics = :topics, cities = :cities, why = :why, updated = :t WHERE id = :id"
)
_UPDATE_WITH_TEXT = (
    "UPDATE stories SET title = :title, url = :url, source = :source, summary = :summary, "
    "image_url = :image, published = :pub, link_rank = :rank, outlets = :outlets, "
    "lead_known = :known, lead_key = :key, "
    "topics = :topics, cities = :cities, why = :why, updated = :t WHERE id = :id"
)


class StoriesMixin(Database):
    async def recent_headlines(self, since: float) -> list[tuple[int, str, float, str, str]]:
        """(story id, article title, article published, feed, source) of stories published since
        `since`."""

        def fn(c: sqlite3.Connection) -> list[tuple[int, str, float, str, str]]:
            rows = c.execute(
                "SELECT a.story_id, a.title, a.published, a.feed_url, a.source FROM articles a "
                "JOIN stories s ON s.id = a.story_id WHERE s.published >= :h",
                {"h": since},
            )
            return [(r[0], r[1], r[2], r[3] or "", r[4] or "") for r in rows]

        return await self._run(fn, action="loading recent stories")

    async def recent_reports(self, since: float) -> list[RecentReport]:
        """Articles with a language, of stories published since `since`, with their story's
        topics, cities and why: what the cross-language index holds (bot/crosslang.py)."""

        def fn(c: sqlite3.Connection) -> list[RecentReport]:
            rows = c.execute(
                "SELECT a.story_id, a.title, a.summary, a.source, a.lang, a.published, s.topics, "
                "s.cities, s.why FROM articles a JOIN stories s ON s.id = a.story_id "
                "WHERE s.published >= :h AND a.lang IS NOT NULL",
                {"h": since},
            )
            return [
                RecentReport(
                    story_id=r[0], title=r[1], summary=r[2], source=r[3], lang=r[4],
                    published=r[5], topics=tuple(json.loads(r[6])), cities=tuple(json.loads(r[7])),
                    why=tuple(json.loads(r[8])),
                )
                for r in rows
            ]

        return await self._run(fn, action="loading recent reports")

    async def headline_candidates(
        self, keys: Sequence[int], since: float, until: float, *, per_key: int = PER_KEY,
        limit: int = CANDIDATES,
    ) -> list[StoredHeadline]:
        lookup = KeyLookup(tuple(keys), since, until, per_key, limit)
        return await self._run(_read_candidates, lookup, action="reading story candidates")

    async def key_headlines(self, since: float, version: str, keys: Callable[[str], Sequence[int]]) -> int:
        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                row = c.execute("SELECT value FROM meta WHERE key = 'headline_keys'").fetchone()
                if row is not None and row[0] == version:
                    return 0
                c.execute("DELETE FROM headline_keys")
                n = 0
                # by index (articles have none on `published`): fetched since, or of a story since.
                # Read in chunks, not fetchall: the window of a large archive is tens of
                # thousands of rows, whose transient list the process kept as resident memory.
                rows = c.execute(
                    "SELECT id, title, published FROM articles WHERE (fetched >= :h OR story_id IN "
                    "(SELECT id FROM stories WHERE published >= :h)) AND published >= :h",
                    {"h": since},
                )
                while chunk := rows.fetchmany(1000):
                    c.executemany(
                        "INSERT OR IGNORE INTO headline_keys(key, published, article_id) VALUES (?, ?, ?)",
                        [(k, published, article_id) for article_id, title, published in chunk
                         for k in keys(title)],
                    )
                    n += len(chunk)
                c.execute(
                    "INSERT INTO meta(key, value) VALUES ('headline_keys', :v) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    {"v": version},
                )
                return n

        return await self._run(fn, action="indexing recent headlines")

    async def save_articles(
        self, feed_url: str, items: Sequence[tuple[Article, Match]], assembly: AssemblyBatch
    ) -> SaveReport:
        """Store one feed's items: exact duplicates dropped, the rest placed where `assembly`
        says, outbox rows queued for the subscriptions the fan-out policy names — all in one
        transaction."""
        (report,) = await self.save_feeds([(feed_url, items)], assembly)
        return report

    async def save_feeds(self, feeds: Sequence[FeedItems], assembly: AssemblyBatch) -> tuple[SaveReport, ...]:
        """Several feeds' items in one transaction, each as `save_articles` stores it.

        Why: each commit writes every page it dirtied, and a feed's 50 headlines × 11 keys land
        all over the key index; committing several queued feeds at once writes those pages once
        (docs/benchmarks.md: about a seventh of the store thread's time on ingest-cold)."""

        def fn(c: sqlite3.Connection) -> tuple[SaveReport, ...]:
            with transaction(c):
                return tuple(self._save_feed(c, items, assembly) for _, items in feeds)

        if not feeds:
            return ()
        label = feeds[0][0] if len(feeds) == 1 else f"{len(feeds)} feeds"
        return await self._run(fn, action=f"saving articles from {label}")

    def _save_feed(
        self, c: sqlite3.Connection, items: Sequence[tuple[Article, Match]], assembly: AssemblyBatch
    ) -> SaveReport:
        batch = _Batch()
        _known(c, items, batch)
        for article, match in items:
            self._save_one(c, article, match, batch, assembly)
        stories = [
            story_from_row(r)
            for r in c.execute(
                f"SELECT {_STORY_COLUMNS} FROM stories WHERE id IN "
                f"(SELECT value FROM json_each(:ids)) ORDER BY id",
                {"ids": json.dumps(batch.new_ids)},
            )
        ]
        return save_report(
            stories, new_ids=batch.new_ids, updated=batch.updated, new_articles=batch.new_articles,
            duplicates=batch.duplicates, queued=batch.queued, backlog_ids=batch.backlog_ids,
        )

    def _save_one(
        self, c: sqlite3.Connection, a: Article, m: Match, batch: _Batch, assembly: AssemblyBatch
    ) -> None:
        if batch.is_duplicate(a):
            batch.duplicates += 1
            return
        t = self.clock.now()
        change: StoryChange | None
        new_count: int | None = None
        lookup = assembly.lookup(a)
        story_id = assembly.place(a, m, _read_candidates(c, lookup) if lookup is not None else ())
        if story_id is None:
            f = assembly.new_story(a, m)
            # a new story's independent outlets are its one article's (as on PostgreSQL): no
            # recount of its articles after the insert
            new_count = self.fanout.independent([(a.source, a.title, a.summary)])
            story_id = c.execute(
                "INSERT INTO stories(title, url, source, summary, image_url, published, first_seen, "
                "updated, link_rank, outlets, topics, cities, why, lead_known, lead_key, independent) "
                "VALUES (:title, :url, :source, :summary, :image, :pub, :t, :t, :rank, :outlets, :topics, "
                ":cities, :why, :known, :key, :independent)",
                {**_field_params(None, f, t), "independent": new_count},
            ).lastrowid
            assert story_id is not None
            batch.new_ids.append(story_id)
            if a.backlog:
                batch.backlog_ids.append(story_id)
            self._index_tags(c, story_id, f.topics, f.cities)
            change = None
        else:
            row = c.execute(
                "SELECT title, url, source, summary, image_url, published, link_rank, outlets, topics, "
                "cities, why, lead_known, lead_key FROM stories WHERE id = :id",
                {"id": story_id},
            ).fetchone()
            change = assembly.join(_fields(row), a, m)
            f = change.fields
            # Naming title/summary in the SET fires the FTS trigger (delete + re-insert of the
            # story's index row) even when neither changed, which is most joins: leave them out then.
            text_changed = f.title != row["title"] or f.summary != row["summary"]
            c.execute(_UPDATE_WITH_TEXT if text_changed else _UPDATE_SAME_TEXT, _field_params(story_id, f, t))
            self._index_tags(c, story_id, m.topics, m.cities)
            batch.updated.add(story_id)
            if change.needs_edit:
                c.execute(
                    "UPDATE deliveries SET edit_pending = 1 WHERE story_id = :id AND status = 'sent' "
                    "AND message_ref IS NOT NULL AND sent_at >= :since",
                    {"id": story_id, "since": self.fanout.edit_since(t)},
                )
        article_id = c.execute(
            "INSERT INTO articles(identity, feed_url, guid, url, link, title, summary, published, "
            "published_known, source, source_url, image_url, is_google_news, story_id, fetched, lang) "
            "VALUES (:identity, :feed, :guid, :url, :link, :title, :summary, :pub, :known, :source, "
            ":source_url, :image, :gn, :story, :t, :lang)",
            {
                "identity": a.identity,
                "feed": a.feed_url,
                "guid": a.guid,
                "url": a.url,
                "link": a.link,
                "title": a.title,
                "summary": a.summary,
                "pub": a.published.timestamp(),
                "known": int(a.published_known),
                "source": a.source,
                "source_url": a.source_url,
                "image": a.image_url,
                "gn": int(a.is_google_news),
                "story": story_id,
                "t": t,
                "lang": a.lang,
            },
        ).lastrowid
        batch.remember(a)
        published = a.published.timestamp()
        c.executemany(
            "INSERT OR IGNORE INTO headline_keys(key, published, article_id) VALUES (?, ?, ?)",
            [(k, published, article_id) for k in assembly.stored(story_id, a, m)],
        )
        batch.new_articles += 1
        # with the article stored: count independent outlets, then queue / release alerts
        if new_count is not None:
            facts = StoryFacts(f.title, f.summary, f.topics, f.cities, new_count, f.published)
        else:
            facts = self._corroborate(c, story_id, f)
        if change is not None:
            self._release_held(c, story_id, facts, t)
        if a.backlog:
            return  # an undated item of a feed's first fetch: maybe years old, never alerted
        batch.queued += self._enqueue(c, story_id, f, facts, batch)

    @staticmethod
    def _index_tags(c: sqlite3.Connection, story_id: int, topics: Sequence[str], cities: Sequence[str]) -> None:
        c.executemany(
            "INSERT OR IGNORE INTO story_topics(topic, story_id) VALUES (?, ?)", [(t, story_id) for t in topics]
        )
        c.executemany(
            "INSERT OR IGNORE INTO story_cities(city, story_id) VALUES (?, ?)", [(x, story_id) for x in cities]
        )

    def _corroborate(self, c: sqlite3.Connection, story_id: int, f: StoryFields) -> StoryFacts:
        """Independent outlets of the story (policy: bot.corroboration), stored on the story."""
        articles = [
            (r[0], r[1], r[2])
            for r in c.execute(
                "SELECT source, title, summary FROM articles WHERE story_id = :id ORDER BY id", {"id": story_id}
            )
        ]
        count = self.fanout.independent(articles)
        c.execute("UPDATE stories SET independent = :n WHERE id = :id", {"n": count, "id": story_id})
        return StoryFacts(f.title, f.summary, f.topics, f.cities, count, f.published)

    def _release_held(self, c: sqlite3.Connection, story_id: int, facts: StoryFacts, t: float) -> None:
        """A later outlet joined: the policy decides which held alerts (for outlets, or by quiet
        hours when the story has become urgent) go out, and when."""
        held = c.execute(
            "SELECT id, subscription_id, created, hold, next_attempt FROM deliveries WHERE story_id = :id "
            "AND status = 'pending' AND (hold = :hold OR digest = 1)",
            {"id": story_id, "hold": HELD_FOR_OUTLETS},
        ).fetchall()
        if not held:
            return
        subs = {
            s.id: s
            for s in subscriptions_where(
                c, "s.id IN (SELECT value FROM json_each(:ids))",
                {"ids": json.dumps([r["subscription_id"] for r in held])},
            )
        }
        for row in held:
            sub = subs.get(row["subscription_id"])
            if sub is None:
                continue
            placed = self.fanout.release(sub, facts, t, held_since=row["created"], hold=row["hold"])
            if placed is not None and (row["hold"] or placed.due < row["next_attempt"]):
                c.execute(
                    "UPDATE deliveries SET hold = :h, digest = :dg, next_attempt = :due WHERE id = :id",
                    {"h": placed.hold, "dg": int(placed.digest), "due": placed.due, "id": row["id"]},
                )

    def _enqueue(
        self, c: sqlite3.Connection, story_id: int, f: StoryFields, facts: StoryFacts, batch: _Batch
    ) -> int:
        """Queue one delivery per destination the fan-out policy names, when it says."""
        t = self.clock.now()
        if not f.topics or not self.fanout.alertable(f.published, t):
            return 0
        cities = tuple(sorted(set(f.cities)))
        candidates = batch.subscribers.get(cities)
        if candidates is None:
            candidates = batch.subscribers[cities] = subscriptions_where(
                c, "s.city = '*' OR s.city IN (SELECT value FROM json_each(:cities))",
                {"cities": json.dumps(list(cities))},
            )
        queued = 0
        for sub, placed in self.fanout.placements(candidates, facts, t):
            cur = c.execute(
                "INSERT OR IGNORE INTO deliveries(story_id, subscription_id, destination_id, status, "
                "next_attempt, created, hold, digest) VALUES (:s, :sub, :dest, 'pending', :due, :t, :h, :dg)",
                {"s": story_id, "sub": sub.id, "dest": sub.destination_id, "t": t, "due": placed.due,
                 "h": placed.hold, "dg": int(placed.digest)},
            )
            queued += cur.rowcount
        return queued

    async def story(self, story_id: int) -> Story | None:
        def fn(c: sqlite3.Connection) -> Story | None:
            row = c.execute(f"SELECT {_STORY_COLUMNS} FROM stories WHERE id = :id", {"id": story_id}).fetchone()
            return story_from_row(row) if row else None

        return await self._run(fn, action="reading a story")

    async def stories(self, story_ids: Sequence[int]) -> list[Story]:
        def fn(c: sqlite3.Connection) -> list[Story]:
            rows = c.execute(
                f"SELECT {_STORY_COLUMNS} FROM stories WHERE id IN (SELECT value FROM json_each(:ids)) ORDER BY id",
                {"ids": json.dumps(list(story_ids))},
            )
            return [story_from_row(r) for r in rows]

        return await self._run(fn, action="reading stories")

    async def search(
        self,
        query: str,
        *,
        city: str | None = None,
        topic: str | None = None,
        since_days: float | None = None,
        limit: int = 10,
        offset: int = 0,
        words: str = "auto",
    ) -> list[SearchHit]:
        """Best first (bm25, title weighted 10× summary). Any text is safe; nothing matches → [].

        `words`: "all" (every term), "any" (one term is enough), "auto" (all, else any).
        """
        parsed = fts_query(query)
        if parsed is None:
            return []
        if words == "all":
            parsed = (parsed[0], parsed[0])
        elif words == "any":
            parsed = (parsed[1], parsed[1])
        limit = max(1, min(int(limit), 100))
        offset = max(0, int(offset))
        filters = []
        rank_filters = []
        params: dict[str, object] = {"limit": limit, "offset": offset}
        if city:
            filters.append("AND s.id IN (SELECT story_id FROM story_cities WHERE city = :city)")
            rank_filters.append("AND +rowid IN (SELECT story_id FROM story_cities WHERE city = :city)")
            params["city"] = city
        if topic:
            filters.append("AND s.id IN (SELECT story_id FROM story_topics WHERE topic = :topic)")
            rank_filters.append("AND +rowid IN (SELECT story_id FROM story_topics WHERE topic = :topic)")
            params["topic"] = topic
        if since_days is not None:
            filters.append("AND s.published >= :since")
            params["since"] = self.clock.now() - float(since_days) * 86400
        sql = (
            "SELECT s.id, s.title, s.url, s.source, s.published, s.topics, s.cities, "
            "snippet(stories_fts, 1, '', '', '…', 24) AS snip "
            "FROM stories_fts JOIN stories s ON s.id = stories_fts.rowid "
            f"WHERE stories_fts MATCH :q {' '.join(filters)} "
            "ORDER BY bm25(stories_fts, 10.0, 1.0), s.published DESC LIMIT :limit OFFSET :offset"
        )

        # Two phases when no date filter applies: rank inside the FTS index alone, then read only
        # the best rows from `stories`. Ordering by bm25 *and* s.published made SQLite join every
        # matching story (random reads across the whole table) before sorting; a common word
        # matches tens of thousands of stories in a large archive. Same order and ties as `sql`.
        # `+rowid`: a plain rowid IN (...) is handed to FTS5 as a per-row seek (one MATCH per
        # story of the city: hundreds of ms); with `+` it filters the one MATCH scan instead.
        rank_sql = (
            "SELECT rowid, bm25(stories_fts, 10.0, 1.0) AS score FROM stories_fts "
            f"WHERE stories_fts MATCH :q {' '.join(rank_filters)} ORDER BY score LIMIT :n"
        )
        want = offset + limit

        def ranked(c: sqlite3.Connection, q: str) -> list[dict[str, Any]] | None:
            """The page via the FTS index only; None when ties run past the margin (use `sql`)."""
            cand = c.execute(rank_sql, {**params, "q": q, "n": want + _TIE_MARGIN}).fetchall()
            if len(cand) > want:
                cut = cand[want - 1][1]
                if len(cand) == want + _TIE_MARGIN and cand[-1][1] == cut:
                    return None
                cand = [r for r in cand if r[1] <= cut]
            if not cand:
                return []
            score = {r[0]: r[1] for r in cand}
            rows = c.execute(
                "SELECT id, title, url, source, published, topics, cities FROM stories "
                "WHERE id IN (SELECT value FROM json_each(:ids))",
                {"ids": json.dumps(list(score))},
            ).fetchall()
            rows.sort(key=lambda r: (score[r["id"]], -r["published"]))
            page = rows[offset : offset + limit]
            snips = {
                r["id"]: (c.execute(
                    "SELECT snippet(stories_fts, 1, '', '', '…', 24) FROM stories_fts "
                    "WHERE stories_fts MATCH :q AND rowid = :id", {"q": q, "id": r["id"]},
                ).fetchone() or [""])[0]
                for r in page
            }
            return [{**dict(zip(r.keys(), r, strict=True)), "snip": snips.get(r["id"])} for r in page]

        def fn(c: sqlite3.Connection) -> list[SearchHit]:
            rows: list[Any] = []
            for q in dict.fromkeys(parsed):  # all terms first; any term when that finds nothing
                fast = None if since_days is not None else ranked(c, q)
                rows = fast if fast is not None else c.execute(sql, {**params, "q": q}).fetchall()
                if rows:
                    break
            return [
                SearchHit(
                    id=r["id"],
                    title=r["title"],
                    url=r["url"],
                    source=r["source"],
                    published=dt(r["published"]),
                    snippet=r["snip"] or "",
                    topics=tuple(json.loads(r["topics"])),
                    cities=tuple(json.loads(r["cities"])),
                )
                for r in rows
            ]

        return await self._run(fn, action="searching")

    async def latest(self, city: str | None, *, topic: str | None = None, limit: int = 5) -> list[Story]:
        """The most recent stories for a city (None: any city) that match at least one topic
        (or the given one)."""
        topic_filter = (
            "AND s.id IN (SELECT story_id FROM story_topics WHERE topic = :topic)"
            if topic
            else "AND s.id IN (SELECT story_id FROM story_topics)"
        )
        city_filter = "s.id IN (SELECT story_id FROM story_cities WHERE city = :city)" if city else "1"

        def fn(c: sqlite3.Connection) -> list[Story]:
            rows = c.execute(
                f"SELECT {', '.join('s.' + col for col in _STORY_COLUMNS.split(', '))} FROM stories s "
                f"WHERE {city_filter} {topic_filter} "
                "ORDER BY s.published DESC LIMIT :limit",
                {"city": city, "topic": topic, "limit": max(1, min(limit, 50))},
            )
            return [story_from_row(r) for r in rows]

        return await self._run(fn, action="reading the latest stories")

    async def counts(self) -> dict[str, int]:
        def fn(c: sqlite3.Connection) -> dict[str, int]:
            return {
                "articles": c.execute("SELECT count(*) FROM articles").fetchone()[0],
                "stories": c.execute("SELECT count(*) FROM stories").fetchone()[0],
                "feeds": c.execute("SELECT count(*) FROM feeds").fetchone()[0],
            }

        return await self._run(fn, action="counting")

    async def prune(self, older_than_days: float) -> int:
        """Delete stories (and their articles) older than the cutoff that owe no pending alert."""
        cutoff = self.clock.now() - float(older_than_days) * 86400

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                cur = c.execute(
                    "DELETE FROM stories WHERE published < :cut AND id NOT IN "
                    "(SELECT story_id FROM deliveries WHERE status <> 'sent' AND next_attempt < :forever)",
                    {"cut": cutoff, "forever": HOLD_FOREVER},
                )
                # signature keys are only read within the clustering window (bot.stories)
                c.execute(
                    "DELETE FROM headline_keys WHERE published < :h",
                    {"h": self.clock.now() - KEY_RETENTION},
                )
                return cur.rowcount

        return await self._run(fn, action="pruning")
