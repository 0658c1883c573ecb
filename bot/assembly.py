"""Story assembly: which story an article joins, and what the story looks like afterwards.

Why out of the store: clustering and the choice of a story's lead are product decisions. The
store runs one transaction per group of feed batches (`StoryAssembler.save` groups the feeds
that queue behind a running save) and, inside it, asks an `AssemblyBatch` which
signature keys to read for each new article, where the article goes given the stored headlines
found under them, and what the joined story's fields become; the keys are stored with the
article in the same transaction (issue 15: candidates from the database, at a cost that does
not grow with the window, shared by every process).

A report that no headline of its own language joins may still join a story reported in
another language (bot/crosslang.py, issue 13): same city, topic and window, and shared
specific names and figures. The join adds a ``lang:`` line to the story's why (first, so it
is never cut), from which alerts say "also reported in Spanish by …".
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.clock import SYSTEM_CLOCK, Clock
from bot.crosslang import (
    CrossEntry,
    CrossLangIndex,
    CrossMatch,
    crosslang_why,
    load_crosslang_config,
)
from bot.errors import StoreError
from bot.models import Article, Match, Story
from bot.stories import (
    KEYS_VERSION,
    WINDOW_SECONDS,
    KeyLookup,
    StoredHeadline,
    link_rank,
    pick_story,
    signature_keys,
)

if TYPE_CHECKING:
    from bot.ports import StoryStore

log = logging.getLogger(__name__)

PRUNE_EVERY = 60.0  # seconds between sweeps of the cross-language index (O(index) each)
MAX_WHY = 12  # evidence lines kept per story
# Group commit (StoryAssembler.save): at most this many queued feeds, and this many of their
# items, in one transaction. Bounded so one transaction holds the store's thread (and the
# database's write lock) for a fraction of a second, not for a whole cold cycle.
GROUP_FEEDS = 8
GROUP_ITEMS = 400

FeedItems = tuple[str, Sequence[tuple[Article, Match]]]  # a feed's url and its classified items


def _merge(old: Sequence[str], new: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*old, *new]))


@dataclass(frozen=True, slots=True)
class StoryFields:
    """Every stored field of a story (a new one, or one after an article joined it)."""

    title: str
    url: str
    source: str
    summary: str
    image_url: str | None
    published: float
    link_rank: int  # 0 a publisher's own URL, 1 a Google News redirect
    outlets: tuple[str, ...]
    topics: tuple[str, ...]
    cities: tuple[str, ...]
    why: tuple[str, ...]
    lead_known: bool = True  # the lead's date came from its feed (False: first-seen, a guess)
    lead_key: str = ""  # the lead article's identity: the last, stable tie-break

    @property
    def lead_rank(self) -> tuple[int, int, float, str]:
        return (self.link_rank, 0 if self.lead_known else 1, self.published, self.lead_key)


@dataclass(frozen=True, slots=True)
class StoryChange:
    """A join's outcome: the story's new fields, and whether sent alerts should be edited."""

    fields: StoryFields
    new_outlet: bool
    lead_changed: bool

    @property
    def needs_edit(self) -> bool:
        return self.new_outlet or self.lead_changed


class SaveInterrupted(StoreError):
    """Another feed's save, which carried this one in its transaction, was cancelled."""


@dataclass(slots=True, eq=False)
class _Queued:
    """A feed batch waiting for the next transaction, and what became of it."""

    store: StoryStore
    feed_url: str
    items: Sequence[tuple[Article, Match]]
    report: SaveReport | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        return self.report is not None or self.error is not None


@dataclass(frozen=True, slots=True)
class SaveReport:
    new_stories: tuple[Story, ...] = ()
    updated_story_ids: tuple[int, ...] = ()
    new_articles: int = 0
    duplicates: int = 0
    alerts_queued: int = 0
    backlog_story_ids: tuple[int, ...] = ()  # new stories of undated first-fetch items (never alerted)


def outlet_key(feed_url: str, source: str) -> str:
    """One outlet's own items: the same feed *and* the same source. A Google News feed carries
    many publishers, whose look-alike headlines about one event must still join up."""
    return f"{feed_url}\n{source}"


def lead_rank(article: Article) -> tuple[int, int, float, str]:
    """Lower leads: a publisher's own URL before a Google News redirect, a dated item before an
    undated one (its time is only when we first saw it), the earliest, then the identity —
    one total order, so the lead never depends on which feed happened to arrive first."""
    published = article.published.timestamp()
    return (link_rank(article.url, published)[0], 0 if article.published_known else 1, published, article.identity)


def new_story(article: Article, match: Match) -> StoryFields:
    published = article.published.timestamp()
    return StoryFields(
        title=article.title,
        url=article.url or article.link,
        source=article.source,
        summary=article.summary,
        image_url=article.image_url,
        published=published,
        link_rank=link_rank(article.url, published)[0],
        outlets=(article.source,),
        topics=tuple(match.topics),
        cities=tuple(match.cities),
        why=tuple(match.why),
        lead_known=article.published_known,
        lead_key=article.identity,
    )


def join(
    current: StoryFields, article: Article, match: Match, cross: CrossMatch | None = None
) -> StoryChange:
    """An article joins a story: more outlets and tags; it becomes the lead when it ranks first.

    The lead (title, link, source, time, summary, image) is one article, chosen by `lead_rank`
    and re-evaluated at every join; the story's title, URL, source and time always come from it
    together. A summary or image the lead lacks is kept from the story.
    """
    candidate = new_story(article, match)
    better = lead_rank(article) < current.lead_rank
    new_outlet = article.source not in current.outlets
    lead = candidate if better else current
    fields = StoryFields(
        title=lead.title,
        url=lead.url,
        source=lead.source,
        summary=lead.summary or current.summary,
        image_url=lead.image_url or current.image_url,
        published=lead.published,
        link_rank=lead.link_rank,
        outlets=_merge(current.outlets, [article.source]),
        topics=_merge(current.topics, match.topics),
        cities=_merge(current.cities, match.cities),
        why=_why(current.why, match, article, cross),
        lead_known=lead.lead_known,
        lead_key=lead.lead_key,
    )
    return StoryChange(fields, new_outlet=new_outlet, lead_changed=better)


def _why(
    old: Sequence[str], match: Match, article: Article, cross: CrossMatch | None
) -> tuple[str, ...]:
    """The story's evidence after a join; cross-language lines first, so MAX_WHY never cuts
    them (alerts read them to say who reported in which language)."""
    merged = _merge(old, match.why)
    lang = match.lang or article.lang
    if cross is not None and lang:
        # both sides: the report joining and the one it matched ("La Raza" es, "WBEZ" en), so
        # an alert can say who reported in which language whichever report leads
        lines = [
            crosslang_why(cross.lang, cross.source, cross.shared),
            crosslang_why(lang, article.source, cross.shared),
        ]
        merged = _merge(lines, merged)
    first = [w for w in merged if w.startswith("lang:")]
    rest = [w for w in merged if not w.startswith("lang:")]
    return tuple([*first, *rest][:MAX_WHY])


@dataclass(slots=True)
class AssemblyBatch:
    """One feed batch's clustering decisions, inside the store's transaction.

    For each new article the store asks `lookup` which signature keys to read, reads the stored
    headlines under them (in the same transaction: it sees the batch's own earlier articles, and
    a rolled-back batch leaves no keys behind), asks `place` which story the article joins, and
    after writing it stores the keys `stored` returns. The candidates live in the database, so
    every process sees the same ones and memory does not grow with the window (issue 15).
    The cross-language index (bot/crosslang.py) is still in memory: its additions are taken
    back if the batch rolls back.
    """

    window: float = WINDOW_SECONDS
    crosslang: CrossLangIndex | None = None
    cross_added: list[CrossEntry] = field(default_factory=list)
    # article identity → the cross-language match place() found, read by join()
    _cross: dict[str, CrossMatch] = field(default_factory=dict)

    def lookup(self, article: Article) -> KeyLookup | None:
        """The keys to read for this article's headline (None: an empty headline, never joined)."""
        keys = signature_keys(article.title)
        if not keys:
            return None
        t = article.published.timestamp()
        return KeyLookup(keys, t - self.window, t + self.window)

    def place(
        self, article: Article, match: Match | None = None, candidates: Sequence[StoredHeadline] = ()
    ) -> int | None:
        """The story this article joins, or None for a new story: a headline of its own
        language among `candidates` (what the store read for `lookup`) first, else (with its
        match) a story in another language."""
        found = pick_story(
            article.title,
            article.published.timestamp(),
            outlet_key(article.feed_url, article.source),
            [(h.story_id, h.title, h.published, outlet_key(h.feed_url, h.source)) for h in candidates],
            self.window,
        )
        if found is not None or match is None or self.crosslang is None:
            return found
        cross = self.crosslang.find(article, match)
        if cross is None:
            return None
        self._cross[article.identity] = cross
        return cross.story_id

    def new_story(self, article: Article, match: Match) -> StoryFields:
        return new_story(article, match)

    def join(self, current: StoryFields, article: Article, match: Match) -> StoryChange:
        return join(current, article, match, self._cross.pop(article.identity, None))

    def stored(self, story_id: int, article: Article, match: Match | None = None) -> tuple[int, ...]:
        """The store wrote the article into `story_id` (inside its transaction); it stores the
        returned signature keys with the article."""
        if match is not None and self.crosslang is not None:
            entry = self.crosslang.add(story_id, article, match)
            if entry is not None:
                self.cross_added.append(entry)
        return signature_keys(article.title)

    def rollback(self) -> None:
        if self.crosslang is not None:
            for cross in reversed(self.cross_added):
                self.crosslang.discard(cross)
        self.cross_added.clear()
        self._cross.clear()


class StoryAssembler:
    """Clusters feed batches into stories; candidates come from keys in the database."""

    def __init__(
        self,
        clock: Clock = SYSTEM_CLOCK,
        *,
        window: float = WINDOW_SECONDS,
        crosslang: CrossLangIndex | None = None,
    ) -> None:
        self.clock = clock
        self.window = window
        # reports by city and topic, for one story across languages (config/crosslang.toml)
        self.crosslang = crosslang if crosslang is not None else CrossLangIndex(load_crosslang_config())
        self._last_prune = 0.0
        # One batch at a time in this process: the cross-language index is in memory and
        # follows the order of the transactions. (Headline candidates need no lock: they are
        # read inside each batch's transaction.)
        self._saving = asyncio.Lock()
        self._queue: deque[_Queued] = deque()  # feeds waiting for a transaction (group commit)

    async def load(self, store: StoryStore) -> None:
        """Key the window's headlines stored before migration 018 (or under older keys), and
        fill the cross-language index with recent reports."""
        now = self.clock.now()
        await store.key_headlines(now - self.window * 1.5, KEYS_VERSION, signature_keys)
        cross = CrossLangIndex(self.crosslang.config)
        for report in await store.recent_reports(now - cross.config.window * 1.5):
            cross.add_report(report)
        self.crosslang = cross

    def begin(self) -> AssemblyBatch:
        return AssemblyBatch(window=self.window, crosslang=self.crosslang)

    def commit(self, batch: AssemblyBatch) -> None:
        batch.cross_added.clear()
        batch._cross.clear()
        t = self.clock.now()
        # The sweep walks the whole cross-language index: once a minute, not per batch.
        if t - self._last_prune >= PRUNE_EVERY:
            self.crosslang.prune(t)
            self._last_prune = t

    async def save(
        self, store: StoryStore, feed_url: str, items: Sequence[tuple[Article, Match]]
    ) -> SaveReport:
        """Store one feed's items as stories and alerts; the index follows only on success.

        Group commit: feeds that arrive while a transaction runs wait, and the next one stores
        them together (up to GROUP_FEEDS / GROUP_ITEMS), each with its own report: a commit
        writes each page it dirtied once, however many feeds dirtied it (`StoryStore.save_feeds`).
        Nothing waits on purpose: a lone feed is stored at once. If a group fails, each of its
        feeds is stored alone, so one feed's failure is its own."""
        entry = _Queued(store, feed_url, items)
        self._queue.append(entry)
        try:
            async with self._saving:
                while not entry.settled:  # an earlier holder may have stored it already
                    await self._save_group(self._take_group())
        finally:
            if not entry.settled and entry in self._queue:  # cancelled while waiting
                self._queue.remove(entry)
        if entry.error is not None:
            raise entry.error
        assert entry.report is not None
        return entry.report

    def _take_group(self) -> list[_Queued]:
        """The oldest queued feed and those after it, within the group bounds (same store)."""
        group = [self._queue.popleft()]
        items = len(group[0].items)
        while self._queue and len(group) < GROUP_FEEDS:
            nxt = self._queue[0]
            if nxt.store is not group[0].store or items + len(nxt.items) > GROUP_ITEMS:
                break
            group.append(self._queue.popleft())
            items += len(nxt.items)
        return group

    async def _save_group(self, group: list[_Queued]) -> None:
        """Settle every feed of `group`, even when cancelled (the others then learn so)."""
        try:
            try:
                reports = await self._save_once(group)
            except Exception as exc:
                if len(group) == 1:
                    group[0].error = exc
                    return
                log.warning("group save failed; storing its feeds one by one",
                            extra={"feeds": len(group), "error": type(exc).__name__})
                for entry in group:
                    try:
                        (entry.report,) = await self._save_once([entry])
                    except Exception as one:
                        entry.error = one
                return
            for entry, report in zip(group, reports, strict=True):
                entry.report = report
        finally:
            for entry in group:
                if not entry.settled:
                    entry.error = SaveInterrupted(
                        "This feed's save was interrupted; it is fetched and stored again next cycle."
                    )

    async def _save_once(self, group: Sequence[_Queued]) -> tuple[SaveReport, ...]:
        batch = self.begin()
        try:
            reports = await group[0].store.save_feeds([(e.feed_url, e.items) for e in group], batch)
        except BaseException:
            batch.rollback()  # the index must not remember reports the database dropped
            raise
        self.commit(batch)
        return reports
