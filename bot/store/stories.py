"""Articles, stories, the search index and the outbox rows a story creates.

Why in one unit: a story and the deliveries it owes are written in the same transaction, so a
crash can never leave a stored story whose alerts were forgotten, or alerts for a story that
was rolled back.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.models import Article, Match, SearchHit, Story
from bot.store.db import Database, now, transaction
from bot.stories import ClusterIndex, link_rank

PRUNE_EVERY = 60.0  # seconds between sweeps of the in-memory cluster index (O(index) each)
EDIT_WINDOW = 24 * 3600  # a later outlet edits an alert sent within this window
DEFAULT_ALERT_MAX_AGE = 24 * 3600  # older news is stored and searchable but not pushed

_TIE_MARGIN = 64  # extra ranked rows read so that equal scores at the page edge are all seen
_QUERY_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_MAX_QUERY_TERMS = 12


@dataclass(frozen=True, slots=True)
class SaveReport:
    new_stories: tuple[Story, ...] = ()
    updated_story_ids: tuple[int, ...] = ()
    new_articles: int = 0
    duplicates: int = 0
    alerts_queued: int = 0


@dataclass(slots=True)
class _Batch:
    new_ids: list[int] = field(default_factory=list)
    updated: set[int] = field(default_factory=set)
    new_articles: int = 0
    duplicates: int = 0
    queued: int = 0


def fts_query(text: str) -> tuple[str, str] | None:
    """User text → (AND query, OR query) of quoted FTS5 terms, or None when nothing is searchable.

    Raw text is not a valid MATCH expression (`ICE AND`, `o'hare`, `C++`, `-ice` all raise), so
    every term is reduced to letters/digits and double-quoted: operators become plain words.
    """
    terms = [t for t in _QUERY_TOKEN.findall(text.casefold()) if t][:_MAX_QUERY_TERMS]
    if not terms:
        return None
    quoted = [f'"{t}"' for t in dict.fromkeys(terms)]
    return " ".join(quoted), " OR ".join(quoted)


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def story_from_row(row: sqlite3.Row) -> Story:
    return Story(
        id=row["id"],
        title=row["title"],
        url=row["url"],
        source=row["source"],
        outlets=tuple(json.loads(row["outlets"])),
        published=_dt(row["published"]),
        topics=tuple(json.loads(row["topics"])),
        cities=tuple(json.loads(row["cities"])),
        summary=row["summary"],
        why=tuple(json.loads(row["why"])),
        image_url=row["image_url"],
    )


_STORY_COLUMNS = "id, title, url, source, summary, image_url, published, outlets, topics, cities, why"


def _merge(old: Sequence[str], new: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*old, *new]))


class StoriesMixin(Database):
    _clusters: ClusterIndex

    def _load_clusters(self, c: sqlite3.Connection) -> None:
        self._clusters = ClusterIndex()
        horizon = now() - self._clusters.window * 1.5
        rows = c.execute(
            "SELECT a.story_id, a.title, a.published FROM articles a "
            "JOIN stories s ON s.id = a.story_id WHERE s.published >= :h",
            {"h": horizon},
        )
        for row in rows:
            self._clusters.add(row[0], row[1], row[2])

    async def save_articles(
        self,
        feed_url: str,
        items: Sequence[tuple[Article, Match]],
        *,
        alert_max_age: float = DEFAULT_ALERT_MAX_AGE,
    ) -> SaveReport:
        """Store one feed's items: exact duplicates dropped, near-duplicates joined to their story,
        outbox rows queued for every matching subscription — all in one transaction."""

        def fn(c: sqlite3.Connection) -> SaveReport:
            batch = _Batch()
            added: list[int] = []
            try:
                with transaction(c):
                    for article, match in items:
                        self._save_one(c, article, match, batch, added, alert_max_age)
                    stories = [
                        story_from_row(r)
                        for r in c.execute(
                            f"SELECT {_STORY_COLUMNS} FROM stories WHERE id IN "
                            f"(SELECT value FROM json_each(:ids)) ORDER BY id",
                            {"ids": json.dumps(batch.new_ids)},
                        )
                    ]
            except BaseException:
                self._clusters.remove(added)  # the index must not remember rolled-back stories
                raise
            t = now()
            # The sweep walks the whole index; once per feed batch made a cold cycle quadratic.
            # Stale entries are harmless meanwhile (find() checks the window of every candidate).
            if t - getattr(self, "_last_prune", 0.0) >= PRUNE_EVERY:
                self._clusters.prune(t)
                self._last_prune = t
            return SaveReport(
                new_stories=tuple(stories),
                updated_story_ids=tuple(sorted(batch.updated - set(batch.new_ids))),
                new_articles=batch.new_articles,
                duplicates=batch.duplicates,
                alerts_queued=batch.queued,
            )

        return await self._run(fn, action=f"saving articles from {feed_url}")

    def _save_one(
        self,
        c: sqlite3.Connection,
        a: Article,
        m: Match,
        batch: _Batch,
        added: list[int],
        alert_max_age: float,
    ) -> None:
        if c.execute("SELECT 1 FROM articles WHERE identity = :i", {"i": a.identity}).fetchone() or (
            a.guid
            and c.execute(
                "SELECT 1 FROM articles WHERE feed_url = :f AND guid = :g", {"f": a.feed_url, "g": a.guid}
            ).fetchone()
        ):
            batch.duplicates += 1
            return
        t = now()
        published = a.published.timestamp()
        story_id = self._clusters.find(a.title, published)
        rank = link_rank(a.url, published)[0]
        if story_id is None:
            story_id = c.execute(
                "INSERT INTO stories(title, url, source, summary, image_url, published, first_seen, "
                "updated, link_rank, outlets, topics, cities, why) VALUES (:title, :url, :source, "
                ":summary, :image, :pub, :t, :t, :rank, :outlets, :topics, :cities, :why)",
                {
                    "title": a.title,
                    "url": a.url or a.link,
                    "source": a.source,
                    "summary": a.summary,
                    "image": a.image_url,
                    "pub": published,
                    "t": t,
                    "rank": rank,
                    "outlets": json.dumps([a.source]),
                    "topics": json.dumps(list(m.topics)),
                    "cities": json.dumps(list(m.cities)),
                    "why": json.dumps(list(m.why)),
                },
            ).lastrowid
            assert story_id is not None
            self._clusters.add(story_id, a.title, published)
            added.append(story_id)
            batch.new_ids.append(story_id)
            self._index_tags(c, story_id, m.topics, m.cities)
            batch.queued += self._enqueue(c, story_id, m.topics, m.cities, published, alert_max_age)
        else:
            self._join(c, story_id, a, m, published, rank, alert_max_age, batch)
        c.execute(
            "INSERT INTO articles(identity, feed_url, guid, url, link, title, summary, published, "
            "published_known, source, source_url, image_url, is_google_news, story_id, fetched) "
            "VALUES (:identity, :feed, :guid, :url, :link, :title, :summary, :pub, :known, :source, "
            ":source_url, :image, :gn, :story, :t)",
            {
                "identity": a.identity,
                "feed": a.feed_url,
                "guid": a.guid,
                "url": a.url,
                "link": a.link,
                "title": a.title,
                "summary": a.summary,
                "pub": published,
                "known": int(a.published_known),
                "source": a.source,
                "source_url": a.source_url,
                "image": a.image_url,
                "gn": int(a.is_google_news),
                "story": story_id,
                "t": t,
            },
        )
        batch.new_articles += 1

    def _join(
        self,
        c: sqlite3.Connection,
        story_id: int,
        a: Article,
        m: Match,
        published: float,
        rank: int,
        alert_max_age: float,
        batch: _Batch,
    ) -> None:
        """An article joins an existing story: more outlets, maybe a better link, more tags."""
        row = c.execute(f"SELECT {_STORY_COLUMNS}, link_rank FROM stories WHERE id = :id", {"id": story_id}).fetchone()
        outlets = json.loads(row["outlets"])
        new_outlet = a.source not in outlets
        outlets = _merge(outlets, [a.source])
        topics = _merge(json.loads(row["topics"]), m.topics)
        cities = _merge(json.loads(row["cities"]), m.cities)
        why = _merge(json.loads(row["why"]), m.why)[:12]
        better = (rank, published) < (row["link_rank"], row["published"])
        fields = {
            "id": story_id,
            "outlets": json.dumps(outlets),
            "topics": json.dumps(topics),
            "cities": json.dumps(cities),
            "why": json.dumps(why),
            "pub": min(published, row["published"]),
            "t": now(),
        }
        if better:
            c.execute(
                "UPDATE stories SET title = :title, url = :url, source = :source, link_rank = :rank, "
                "summary = CASE WHEN :summary <> '' THEN :summary ELSE summary END, "
                "image_url = COALESCE(:image, image_url) WHERE id = :id",
                {
                    "id": story_id,
                    "title": a.title,
                    "url": a.url or a.link,
                    "source": a.source,
                    "rank": rank,
                    "summary": a.summary,
                    "image": a.image_url,
                },
            )
        c.execute(
            "UPDATE stories SET outlets = :outlets, topics = :topics, cities = :cities, why = :why, "
            "published = :pub, updated = :t WHERE id = :id",
            fields,
        )
        self._index_tags(c, story_id, m.topics, m.cities)
        self._clusters.add(story_id, a.title, published)
        batch.updated.add(story_id)
        if new_outlet or better:
            c.execute(
                "UPDATE deliveries SET edit_pending = 1 WHERE story_id = :id AND status = 'sent' "
                "AND message_id IS NOT NULL AND sent_at >= :since",
                {"id": story_id, "since": now() - EDIT_WINDOW},
            )
        batch.queued += self._enqueue(c, story_id, topics, cities, fields["pub"], alert_max_age)

    @staticmethod
    def _index_tags(c: sqlite3.Connection, story_id: int, topics: Sequence[str], cities: Sequence[str]) -> None:
        c.executemany(
            "INSERT OR IGNORE INTO story_topics(topic, story_id) VALUES (?, ?)", [(t, story_id) for t in topics]
        )
        c.executemany(
            "INSERT OR IGNORE INTO story_cities(city, story_id) VALUES (?, ?)", [(x, story_id) for x in cities]
        )

    @staticmethod
    def _enqueue(
        c: sqlite3.Connection,
        story_id: int,
        topics: Sequence[str],
        cities: Sequence[str],
        published: float,
        alert_max_age: float,
    ) -> int:
        """Queue one delivery per channel whose subscription matches (city and topic)."""
        t = now()
        if not topics or published < t - alert_max_age:
            return 0
        rows = c.execute(
            "SELECT id, guild_id, channel_id, topics, created FROM subscriptions "
            "WHERE city = '*' OR city IN (SELECT value FROM json_each(:cities))",
            {"cities": json.dumps(list(cities))},
        ).fetchall()
        wanted = set(topics)
        queued = 0
        for sub in rows:
            sub_topics = set(json.loads(sub["topics"]))
            if "*" not in sub_topics and not wanted & sub_topics:  # "*": every topic
                continue
            cur = c.execute(
                "INSERT OR IGNORE INTO deliveries(story_id, subscription_id, channel_id, guild_id, status, "
                "next_attempt, created) VALUES (:s, :sub, :ch, :g, 'pending', :t, :t)",
                {"s": story_id, "sub": sub["id"], "ch": sub["channel_id"], "g": sub["guild_id"], "t": t},
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
    ) -> list[SearchHit]:
        """Best first (bm25, title weighted 10× summary). Any text is safe; nothing matches → []."""
        parsed = fts_query(query)
        if parsed is None:
            return []
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
            params["since"] = now() - float(since_days) * 86400
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

        def ranked(c: sqlite3.Connection, q: str) -> list[sqlite3.Row] | None:
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
                    published=_dt(r["published"]),
                    snippet=r["snip"] or "",
                    topics=tuple(json.loads(r["topics"])),
                    cities=tuple(json.loads(r["cities"])),
                )
                for r in rows
            ]

        return await self._run(fn, action="searching")

    async def latest(self, city: str, *, topic: str | None = None, limit: int = 5) -> list[Story]:
        """The most recent stories for a city that match at least one topic (or the given one)."""
        topic_filter = (
            "AND s.id IN (SELECT story_id FROM story_topics WHERE topic = :topic)"
            if topic
            else "AND s.id IN (SELECT story_id FROM story_topics)"
        )

        def fn(c: sqlite3.Connection) -> list[Story]:
            rows = c.execute(
                f"SELECT {', '.join('s.' + col for col in _STORY_COLUMNS.split(', '))} FROM stories s "
                f"WHERE s.id IN (SELECT story_id FROM story_cities WHERE city = :city) {topic_filter} "
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
        cutoff = now() - float(older_than_days) * 86400

        def fn(c: sqlite3.Connection) -> int:
            with transaction(c):
                cur = c.execute(
                    "DELETE FROM stories WHERE published < :cut AND id NOT IN "
                    "(SELECT story_id FROM deliveries WHERE status <> 'sent')",
                    {"cut": cutoff},
                )
                return cur.rowcount

        removed = await self._run(fn, action="pruning")
        await self._run(lambda c: self._load_clusters(c), action="reloading recent stories")
        return removed
