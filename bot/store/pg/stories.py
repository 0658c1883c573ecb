"""Articles, stories, text search and the outbox rows a story creates, on PostgreSQL.

Why one advisory lock around every save: the same story reported through two feeds handled
by two worker processes at the same moment must still be one story. Clustering asks "which
stored story is this headline?" by reading candidates under the headline's signature keys
(headline_keys) and inserts the keys of what it stored; two transactions doing that at once
would not see each other's uncommitted rows, both answer "none" and insert two stories.
`pg_advisory_xact_lock(SAVE_LOCK)` makes lookup and insert one step across every process (as
SQLite's single writer does); the candidates are read from the database inside it, never from
memory. The cross-language index (bot/crosslang.py) is still in memory, so inside the lock it
is first brought up to date with the reports other processes committed since this one last
looked (`_refresh`). Fetching, parsing and classifying, the expensive part, stay parallel.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bot.assembly import AssemblyBatch, FeedItems, SaveReport, StoryChange, StoryFields
from bot.crosslang import RecentReport
from bot.fanout import HELD_FOR_OUTLETS, HOLD_FOREVER, StoryFacts
from bot.models import Article, Match, SearchHit, Story, Subscription
from bot.store.pg.db import SAVE_LOCK, PgDatabase, affected, q
from bot.store.rows import (
    STORY_COLUMNS,
    SUB_SELECT,
    dt,
    save_report,
    story_from_row,
    subscription_from_row,
)
from bot.store.stories import _MAX_QUERY_TERMS, _QUERY_TOKEN, PREFIX_MIN
from bot.stories import CANDIDATES, KEY_RETENTION, PER_KEY, KeyLookup, StoredHeadline

# Per key an index range read (newest first, at most `per_key` rows); of those, the `limit`
# articles found under the most keys, ties by article id — the SQLite store's statement.
_CANDIDATES_SQL = (
    "SELECT a.story_id, a.title, a.published, a.feed_url, a.source FROM articles a JOIN ("
    "SELECT hk.article_id, count(*) AS n FROM unnest($1::bigint[]) AS k(key) CROSS JOIN LATERAL ("
    "SELECT article_id FROM headline_keys WHERE key = k.key AND published BETWEEN $2 AND $3 "
    "ORDER BY published DESC LIMIT $4) hk GROUP BY hk.article_id ORDER BY n DESC, hk.article_id LIMIT $5"
    ") k ON a.id = k.article_id"
)


async def _read_candidates(c: asyncpg.Connection, lookup: KeyLookup) -> list[StoredHeadline]:
    if not lookup.keys:
        return []
    rows = await c.fetch(_CANDIDATES_SQL, list(lookup.keys), lookup.since, lookup.until, lookup.per_key,
                         lookup.limit)
    return [StoredHeadline(r[0], r[1], r[2], r[3] or "", r[4] or "") for r in rows]

_SNIPPET_WORDS = 24


def fold(text: str) -> str:
    """Casefold and drop diacritics (as SQLite's unicode61 remove_diacritics): "Détenu" → "detenu"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def index_text(text: str) -> str:
    """The words the index sees: the same tokens a query is cut into, so `o'hare`, `C++` and
    `café` find what they name whatever PostgreSQL's own parser would make of them."""
    return " ".join(_QUERY_TOKEN.findall(fold(text)))


def ts_query(text: str) -> tuple[str, str] | None:
    """User text → (AND, OR) tsquery text, or None when nothing is searchable.

    Same terms as bot.store.stories.fts_query (letters and digits only, at most twelve, a
    prefix match from PREFIX_MIN letters): no operator or quote of the user's reaches
    to_tsquery, so any text is safe."""
    terms = [t for t in _QUERY_TOKEN.findall(fold(text)) if t][:_MAX_QUERY_TERMS]
    if not terms:
        return None
    quoted = [f"{t}:*" if len(t) >= PREFIX_MIN else t for t in dict.fromkeys(terms)]
    return " & ".join(quoted), " | ".join(quoted)


def snippet(summary: str, query: str) -> str:
    """Up to 24 words of the summary around the first matching word ('…' where cut)."""
    words = summary.split()
    if not words:
        return ""
    terms = [t.removesuffix(":*") for t in re.split(r" [&|] ", query)]
    prefix = {t: len(t) >= PREFIX_MIN for t in terms}
    hit = 0
    for i, word in enumerate(words):
        tokens = _QUERY_TOKEN.findall(fold(word))
        if any(tok == t or (prefix[t] and tok.startswith(t)) for tok in tokens for t in terms):
            hit = i
            break
    start = max(0, min(hit - _SNIPPET_WORDS // 4, len(words) - _SNIPPET_WORDS))
    part = words[start : start + _SNIPPET_WORDS]
    return ("…" if start > 0 else "") + " ".join(part) + ("…" if start + _SNIPPET_WORDS < len(words) else "")


_FTS = (
    "setweight(to_tsvector(civic_ts_config(:lang), :ft_title), 'A') || "
    "setweight(to_tsvector(civic_ts_config(:lang), :ft_summary), 'D')"
)
RANK_WEIGHTS = [0.1, 0.0, 0.0, 1.0]  # {D, C, B, A}: a title word counts 10× a summary word


@dataclass(slots=True)
class _Batch:
    new_ids: list[int] = field(default_factory=list)
    updated: set[int] = field(default_factory=set)
    new_articles: int = 0
    duplicates: int = 0
    queued: int = 0
    backlog_ids: list[int] = field(default_factory=list)
    last_article_id: int = 0


def _fields(row: Any) -> StoryFields:
    return StoryFields(
        title=row["title"], url=row["url"], source=row["source"], summary=row["summary"],
        image_url=row["image_url"], published=row["published"], link_rank=row["link_rank"],
        outlets=tuple(json.loads(row["outlets"])), topics=tuple(json.loads(row["topics"])),
        cities=tuple(json.loads(row["cities"])), why=tuple(json.loads(row["why"])),
        lead_known=bool(row["lead_known"]), lead_key=row["lead_key"],
    )


def _field_params(story_id: int | None, f: StoryFields, t: float, lang: str | None) -> dict[str, object]:
    return {
        "id": story_id, "title": f.title, "url": f.url, "source": f.source, "summary": f.summary,
        "image": f.image_url, "pub": f.published, "t": t, "rank": f.link_rank,
        "outlets": json.dumps(list(f.outlets)), "topics": json.dumps(list(f.topics)),
        "cities": json.dumps(list(f.cities)), "why": json.dumps(list(f.why)), "known": int(f.lead_known),
        "key": f.lead_key, "lang": lang, "ft_title": index_text(f.title), "ft_summary": index_text(f.summary),
    }


async def subscriptions_where(c: asyncpg.Connection, where: str, params: dict[str, object]) -> list[Subscription]:
    sql, args = q(f"{SUB_SELECT} WHERE {where} ORDER BY s.id", params)
    return [subscription_from_row(r) for r in await c.fetch(sql, *args)]


async def _exec(c: asyncpg.Connection, sql: str, params: dict[str, object]) -> str:
    text, args = q(sql, params)
    return str(await c.execute(text, *args))


class PgStoriesMixin(PgDatabase):
    async def recent_headlines(self, since: float) -> list[tuple[int, str, float, str, str]]:
        async with self.conn("loading recent stories") as c:
            rows = await c.fetch(
                "SELECT a.story_id, a.title, a.published, a.feed_url, a.source FROM articles a "
                "JOIN stories s ON s.id = a.story_id WHERE s.published >= $1", since,
            )
        return [(r[0], r[1], r[2], r[3] or "", r[4] or "") for r in rows]

    async def headline_candidates(
        self, keys: Sequence[int], since: float, until: float, *, per_key: int = PER_KEY,
        limit: int = CANDIDATES,
    ) -> list[StoredHeadline]:
        async with self.conn("reading story candidates") as c:
            return await _read_candidates(c, KeyLookup(tuple(keys), since, until, per_key, limit))

    async def key_headlines(self, since: float, version: str, keys: Callable[[str], Sequence[int]]) -> int:
        """As SQLite's: re-key the window when the stored keys are not `version` (under the save
        lock, so workers starting together key it once)."""
        async with self.tx("indexing recent headlines") as c:
            await c.execute("SELECT pg_advisory_xact_lock($1)", SAVE_LOCK)
            if await c.fetchval("SELECT value FROM meta WHERE key = 'headline_keys'") == version:
                return 0
            await c.execute("DELETE FROM headline_keys")
            rows = await c.fetch(
                "SELECT id, title, published FROM articles WHERE (fetched >= $1 OR story_id IN "
                "(SELECT id FROM stories WHERE published >= $1)) AND published >= $1", since,
            )
            batch = [(k, r["published"], r["id"]) for r in rows for k in keys(r["title"])]
            if batch:
                await c.executemany(
                    "INSERT INTO headline_keys(key, published, article_id) VALUES ($1, $2, $3) "
                    "ON CONFLICT DO NOTHING", batch,
                )
            await c.execute(
                "INSERT INTO meta(key, value) VALUES ('headline_keys', $1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value", version,
            )
            return len(rows)

    async def _refresh(self, c: asyncpg.Connection, assembly: AssemblyBatch) -> int:
        """Inside the save lock: add to the in-memory cross-language index the reports other
        processes committed since this one last looked. Returns the newest article id seen."""
        top = int(await c.fetchval("SELECT COALESCE(max(id), 0) FROM articles"))
        seen = self._seen_article_id
        if assembly.crosslang is not None and seen is not None and top > seen:
            since = self.clock.now() - assembly.crosslang.config.window * 1.5
            for report in await self._reports(c, since, after=seen, upto=top):
                assembly.crosslang.add_report(report)
        return top

    @staticmethod
    async def _reports(
        c: asyncpg.Connection, since: float, *, after: int = 0, upto: int | None = None
    ) -> list[RecentReport]:
        rows = await c.fetch(
            "SELECT a.story_id, a.title, a.summary, a.source, a.lang, a.published, s.topics, s.cities, s.why "
            "FROM articles a JOIN stories s ON s.id = a.story_id WHERE s.published >= $1 AND a.lang IS NOT NULL "
            "AND a.id > $2 AND ($3::bigint IS NULL OR a.id <= $3) ORDER BY a.id", since, after, upto,
        )
        return [
            RecentReport(
                story_id=r[0], title=r[1], summary=r[2], source=r[3], lang=r[4], published=r[5],
                topics=tuple(json.loads(r[6])), cities=tuple(json.loads(r[7])), why=tuple(json.loads(r[8])),
            )
            for r in rows
        ]

    async def recent_reports(self, since: float) -> list[RecentReport]:
        """Articles with a language, of stories published since `since`, with their story's
        topics, cities and why: what the cross-language index holds (bot/crosslang.py). Also
        notes the newest article id, from which later saves refresh that index (`_refresh`)."""
        async with self.conn("loading recent reports") as c, c.transaction(isolation="repeatable_read", readonly=True):
            top = int(await c.fetchval("SELECT COALESCE(max(id), 0) FROM articles"))
            reports = await self._reports(c, since)
        self._seen_article_id = top
        return reports

    async def save_articles(
        self, feed_url: str, items: Sequence[tuple[Article, Match]], assembly: AssemblyBatch
    ) -> SaveReport:
        (report,) = await self.save_feeds([(feed_url, items)], assembly)
        return report

    async def save_feeds(self, feeds: Sequence[FeedItems], assembly: AssemblyBatch) -> tuple[SaveReport, ...]:
        """Several feeds' items in one transaction, each as `save_articles` stores it (the
        SQLite store's reason; here it also takes the save lock once for the group)."""
        if not feeds:
            return ()
        label = feeds[0][0] if len(feeds) == 1 else f"{len(feeds)} feeds"
        batches = [_Batch() for _ in feeds]
        async with self.tx(f"saving articles from {label}") as c:
            await c.execute("SELECT pg_advisory_xact_lock($1)", SAVE_LOCK)
            seen = await self._refresh(c, assembly)
            reports = []
            for (_, items), batch in zip(feeds, batches, strict=True):
                for article, match in items:
                    await self._save_one(c, article, match, batch, assembly)
                rows = await c.fetch(
                    f"SELECT {STORY_COLUMNS} FROM stories WHERE id = ANY($1::bigint[]) ORDER BY id", batch.new_ids
                )
                reports.append(save_report(
                    [story_from_row(r) for r in rows], new_ids=batch.new_ids, updated=batch.updated,
                    new_articles=batch.new_articles, duplicates=batch.duplicates, queued=batch.queued,
                    backlog_ids=batch.backlog_ids,
                ))
        # committed: everything up to our own last article is in the index (ours and theirs)
        if self._seen_article_id is not None:
            self._seen_article_id = max(seen, *(b.last_article_id for b in batches))
        return tuple(reports)

    async def _save_one(
        self, c: asyncpg.Connection, a: Article, m: Match, batch: _Batch, assembly: AssemblyBatch
    ) -> None:
        dup = await c.fetchval(
            "SELECT 1 FROM articles WHERE identity = $1 OR ($2::text IS NOT NULL AND feed_url = $3 AND guid = $2) LIMIT 1",
            a.identity, a.guid, a.feed_url,
        )
        if dup:
            batch.duplicates += 1
            return
        t = self.clock.now()
        change: StoryChange | None = None
        lookup = assembly.lookup(a)
        story_id = assembly.place(a, m, await _read_candidates(c, lookup) if lookup is not None else ())
        row = None
        if story_id is not None:
            row = await c.fetchrow(
                "SELECT title, url, source, summary, image_url, published, link_rank, outlets, topics, "
                "cities, why, lead_known, lead_key, lang FROM stories WHERE id = $1 FOR UPDATE", story_id,
            )
            # another process pruned it since it entered our index: this headline starts anew
        new_count: int | None = None  # a new story's independent outlets: its one article's
        if row is None:
            f = assembly.new_story(a, m)
            new_count = self.fanout.independent([(a.source, a.title, a.summary)])
            sql, args = q(
                "INSERT INTO stories(title, url, source, summary, image_url, published, first_seen, updated, "
                "link_rank, outlets, topics, cities, why, lead_known, lead_key, lang, independent, fts) VALUES "
                "(:title, :url, :source, :summary, :image, :pub, :t, :t, :rank, :outlets, :topics, :cities, :why, "
                f":known, :key, :lang, :independent, {_FTS}) RETURNING id",
                {**_field_params(None, f, t, a.lang), "independent": new_count},
            )
            story_id = int(await c.fetchval(sql, *args))
            batch.new_ids.append(story_id)
            if a.backlog:
                batch.backlog_ids.append(story_id)
            await self._index_tags(c, story_id, f.topics, f.cities)
        else:
            assert story_id is not None
            change = assembly.join(_fields(row), a, m)
            f = change.fields
            lang = a.lang if change.lead_changed and a.lang else row["lang"]
            await _exec(
                c,
                "UPDATE stories SET title = :title, url = :url, source = :source, summary = :summary, "
                "image_url = :image, published = :pub, link_rank = :rank, outlets = :outlets, "
                "lead_known = :known, lead_key = :key, topics = :topics, cities = :cities, why = :why, "
                f"updated = :t, lang = :lang, fts = {_FTS} WHERE id = :id",
                _field_params(story_id, f, t, lang),
            )
            await self._index_tags(c, story_id, m.topics, m.cities)
            batch.updated.add(story_id)
            if change.needs_edit:
                await c.execute(
                    "UPDATE deliveries SET edit_pending = 1 WHERE story_id = $1 AND status = 'sent' "
                    "AND message_ref IS NOT NULL AND sent_at >= $2", story_id, self.fanout.edit_since(t),
                )
        # The article and its signature keys in one statement (one round trip). `stored` is
        # asked first for the keys; if the insert fails the whole batch rolls back, and the
        # assembler takes back what `stored` added (AssemblyBatch.rollback).
        keys = assembly.stored(story_id, a, m)
        article_id = await c.fetchval(
            "WITH new AS (INSERT INTO articles(identity, feed_url, guid, url, link, title, summary, published, "
            "published_known, source, source_url, image_url, is_google_news, story_id, fetched, lang) "
            "VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::double precision, "
            "$9::integer, $10::text, $11::text, $12::text, $13::integer, $14::bigint, $15::double precision, "
            "$16::text) RETURNING id), "
            "keyed AS (INSERT INTO headline_keys(key, published, article_id) "
            "SELECT DISTINCT k, $8, (SELECT id FROM new) FROM unnest($17::bigint[]) AS k ON CONFLICT DO NOTHING) "
            "SELECT id FROM new",
            a.identity, a.feed_url, a.guid, a.url, a.link, a.title, a.summary, a.published.timestamp(),
            int(a.published_known), a.source, a.source_url, a.image_url, int(a.is_google_news), story_id, t, a.lang,
            list(keys),
        )
        batch.last_article_id = max(batch.last_article_id, int(article_id))
        batch.new_articles += 1
        if new_count is not None:
            facts = StoryFacts(f.title, f.summary, f.topics, f.cities, new_count, f.published)
        else:
            facts = await self._corroborate(c, story_id, f)
        if change is not None:
            await self._release_held(c, story_id, facts, t)
        if a.backlog:
            return
        batch.queued += await self._enqueue(c, story_id, f, facts)

    @staticmethod
    async def _index_tags(c: asyncpg.Connection, story_id: int, topics: Sequence[str], cities: Sequence[str]) -> None:
        if topics or cities:  # both tables in one statement (one round trip)
            await c.execute(
                "WITH t AS (INSERT INTO story_topics(topic, story_id) SELECT DISTINCT x, $3::bigint FROM unnest($1::text[]) "
                "AS x ON CONFLICT DO NOTHING) INSERT INTO story_cities(city, story_id) "
                "SELECT DISTINCT x, $3::bigint FROM unnest($2::text[]) AS x ON CONFLICT DO NOTHING",
                list(topics), list(cities), story_id,
            )

    async def _corroborate(self, c: asyncpg.Connection, story_id: int, f: StoryFields) -> StoryFacts:
        rows = await c.fetch("SELECT source, title, summary FROM articles WHERE story_id = $1 ORDER BY id", story_id)
        count = self.fanout.independent([(r[0], r[1], r[2]) for r in rows])
        await c.execute("UPDATE stories SET independent = $1 WHERE id = $2", count, story_id)
        return StoryFacts(f.title, f.summary, f.topics, f.cities, count, f.published)

    async def _release_held(self, c: asyncpg.Connection, story_id: int, facts: StoryFacts, t: float) -> None:
        held = await c.fetch(
            "SELECT id, subscription_id, created, hold, next_attempt FROM deliveries WHERE story_id = $1 "
            "AND status = 'pending' AND (hold = $2 OR digest = 1)", story_id, HELD_FOR_OUTLETS,
        )
        if not held:
            return
        subs = {
            s.id: s
            for s in await subscriptions_where(
                c, "s.id = ANY(:ids::bigint[])", {"ids": [r["subscription_id"] for r in held if r["subscription_id"]]}
            )
        }
        for row in held:
            sub = subs.get(row["subscription_id"])
            if sub is None:
                continue
            placed = self.fanout.release(sub, facts, t, held_since=row["created"], hold=row["hold"])
            if placed is not None and (row["hold"] or placed.due < row["next_attempt"]):
                await c.execute(
                    "UPDATE deliveries SET hold = $1, digest = $2, next_attempt = $3 WHERE id = $4",
                    placed.hold, int(placed.digest), placed.due, row["id"],
                )

    async def _enqueue(self, c: asyncpg.Connection, story_id: int, f: StoryFields, facts: StoryFacts) -> int:
        t = self.clock.now()
        if not f.topics or not self.fanout.alertable(f.published, t):
            return 0
        candidates = await subscriptions_where(
            c, "s.city = '*' OR s.city = ANY(:cities::text[])", {"cities": list(f.cities)}
        )
        queued = 0
        for sub, placed in self.fanout.placements(candidates, facts, t):
            status = await c.execute(
                "INSERT INTO deliveries(story_id, subscription_id, destination_id, status, next_attempt, created, "
                "hold, digest) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                story_id, sub.id, sub.destination_id, placed.due, t, placed.hold, int(placed.digest),
            )
            queued += affected(status)
        return queued

    async def story(self, story_id: int) -> Story | None:
        async with self.conn("reading a story") as c:
            row = await c.fetchrow(f"SELECT {STORY_COLUMNS} FROM stories WHERE id = $1", story_id)
            return story_from_row(row) if row else None

    async def stories(self, story_ids: Sequence[int]) -> list[Story]:
        async with self.conn("reading stories") as c:
            rows = await c.fetch(
                f"SELECT {STORY_COLUMNS} FROM stories WHERE id = ANY($1::bigint[]) ORDER BY id",
                [int(i) for i in story_ids],
            )
            return [story_from_row(r) for r in rows]

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
        """Best first (title weighted 10× summary, then newest). Any text is safe; nothing
        matches → []. `words`: "all", "any", or "auto" (all, else any) — as on SQLite."""
        parsed = ts_query(query)
        if parsed is None:
            return []
        if words == "all":
            parsed = (parsed[0], parsed[0])
        elif words == "any":
            parsed = (parsed[1], parsed[1])
        limit = max(1, min(int(limit), 100))
        offset = max(0, int(offset))
        filters = []
        params: dict[str, object] = {"limit": limit, "offset": offset, "w": RANK_WEIGHTS}
        if city:
            filters.append("AND s.id IN (SELECT story_id FROM story_cities WHERE city = :city)")
            params["city"] = city
        if topic:
            filters.append("AND s.id IN (SELECT story_id FROM story_topics WHERE topic = :topic)")
            params["topic"] = topic
        if since_days is not None:
            filters.append("AND s.published >= :since")
            params["since"] = self.clock.now() - float(since_days) * 86400
        sql_text = (
            "SELECT s.id, s.title, s.url, s.source, s.published, s.topics, s.cities, s.summary "
            "FROM stories s, civic_tsquery(:q) AS tq "
            f"WHERE s.fts @@ tq {' '.join(filters)} "
            "ORDER BY ts_rank(:w::real[], s.fts, tq) DESC, s.published DESC, s.id LIMIT :limit OFFSET :offset"
        )
        rows: list[Any] = []
        used = parsed[0]
        async with self.conn("searching") as c:
            for tq in dict.fromkeys(parsed):  # all terms first; any term when that finds nothing
                sql, args = q(sql_text, {**params, "q": tq})
                rows = await c.fetch(sql, *args)
                used = tq
                if rows:
                    break
        return [
            SearchHit(
                id=r["id"], title=r["title"], url=r["url"], source=r["source"], published=dt(r["published"]),
                snippet=snippet(r["summary"], used), topics=tuple(json.loads(r["topics"])),
                cities=tuple(json.loads(r["cities"])),
            )
            for r in rows
        ]

    async def latest(self, city: str | None, *, topic: str | None = None, limit: int = 5) -> list[Story]:
        topic_filter = (
            "AND s.id IN (SELECT story_id FROM story_topics WHERE topic = :topic)"
            if topic else "AND s.id IN (SELECT story_id FROM story_topics)"
        )
        city_filter = "s.id IN (SELECT story_id FROM story_cities WHERE city = :city)" if city else "TRUE"
        params: dict[str, object] = {"limit": max(1, min(limit, 50))}
        if city:
            params["city"] = city
        if topic:
            params["topic"] = topic
        sql, args = q(
            f"SELECT {', '.join('s.' + col for col in STORY_COLUMNS.split(', '))} FROM stories s "
            f"WHERE {city_filter} {topic_filter} ORDER BY s.published DESC LIMIT :limit", params,
        )
        async with self.conn("reading the latest stories") as c:
            return [story_from_row(r) for r in await c.fetch(sql, *args)]

    async def counts(self) -> dict[str, int]:
        async with self.conn("counting") as c:
            row = await c.fetchrow(
                "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM stories), (SELECT count(*) FROM feeds)"
            )
            return {"articles": int(row[0]), "stories": int(row[1]), "feeds": int(row[2])}

    async def prune(self, older_than_days: float) -> int:
        cutoff = self.clock.now() - float(older_than_days) * 86400
        async with self.tx("pruning") as c:
            n = affected(await c.execute(
                "DELETE FROM stories WHERE published < $1 AND id NOT IN "
                "(SELECT story_id FROM deliveries WHERE status <> 'sent' AND next_attempt < $2)",
                cutoff, HOLD_FOREVER,
            ))
            # signature keys are only read within the clustering window (bot.stories)
            await c.execute("DELETE FROM headline_keys WHERE published < $1", self.clock.now() - KEY_RETENTION)
            return n
