"""What the chat commands do, without any chat platform.

Why this module exists: the Discord cogs (and any future adapter, or the CLI) should only
read arguments, call one of these functions and show the result. Keeping the work here —
resolving a city, choosing catch-up stories, validating a server's feed URL, paging a search —
means it is tested against the real store without a Discord client, and a second platform
gets the same behaviour for free. Nothing here imports `discord`.

Every function takes the pieces it needs (store, gazetteer, settings) explicitly, so callers
and tests can see the dependencies; user mistakes are raised as `UserInputError` subclasses
whose `user_message` is safe to show.

Topics are data (config/topics.toml): functions that name topics take the `catalog`
(bot.relevance's TopicCatalog; None = the configured default). "All topics" is stored as the
wildcard ("*",), so a topic added to the config later reaches existing subscriptions.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from bot.errors import (
    ConfigError,
    FeedError,
    FeedExistsError,
    UnknownCityError,
    UnsafeURLError,
    UserInputError,
)
from bot.fanout import ALL, wants
from bot.messages import Messages, messages, parse_language, supported_languages
from bot.models import (
    Destination,
    DestinationConfig,
    DestinationState,
    FeedConfig,
    FeedState,
    SearchHit,
    Story,
    Subscription,
)
from bot.relevance.topics import ALL_TOPICS, TopicCatalog, load_topics
from bot.rules import Rules, check_condition_topics, parse_rules

if TYPE_CHECKING:
    from bot.coverage import Coverage
    from bot.ports import Storage
    from bot.settings import Settings

MAX_QUERY_CHARS = 200  # longer queries are cut: FTS cost grows with terms, meaning does not
MAX_GUILD_SUBSCRIPTIONS = 50  # each one multiplies outbox rows; a server needing more is unusual
MAX_GUILD_FEEDS = 20  # a server's own feeds are polled by us; keep one server from hogging it
MAX_SEARCH_DAYS = 3650


class CityLike(Protocol):
    id: str
    label: str


class GazetteerLike(Protocol):
    """The part of bot.relevance's gazetteer these actions use."""

    def get(self, city_id: str) -> Any: ...
    def resolve(self, text: str) -> Any: ...
    def suggest(self, text: str, limit: int = 25) -> Sequence[Any]: ...


# ---------------------------------------------------------------------------- cities, topics


def resolve_city(gazetteer: GazetteerLike, text: str) -> CityLike:
    """A city id ("chicago-il", what autocomplete sends) or free text ("Chicago, IL").

    Why both: autocomplete sends the id, but a user may type and submit before choosing.
    """
    text = (text or "").strip()
    if not text:
        raise UnknownCityError("")
    city = gazetteer.get(text) or gazetteer.resolve(text)
    if city is None:
        raise UnknownCityError(text)
    return city


def city_label(gazetteer: GazetteerLike, city_id: str) -> str:
    """ "Chicago, IL" for "chicago-il"; the id itself if the gazetteer no longer knows it."""
    city = gazetteer.get(city_id)
    return city.label if city is not None else city_id


def city_suggestions(
    gazetteer: GazetteerLike, current: str, *, limit: int = 25
) -> list[tuple[str, str]]:
    """(label, id) pairs for autocomplete: at most 25 (Discord's limit), labels ≤ 100 chars."""
    limit = max(0, min(limit, 25))
    try:
        cities = gazetteer.suggest((current or "")[:100], limit=limit)
    except Exception:  # autocomplete must answer; an odd input never breaks it
        return []
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for city in cities:
        if city.id in seen:
            continue
        seen.add(city.id)
        out.append((city.label[:100], city.id[:100]))
        if len(out) >= limit:
            break
    return out


def topic_catalog(catalog: TopicCatalog | None = None) -> TopicCatalog:
    """`catalog`, or the configured one ($CIVIC_ALERTS_CONFIG_DIR or the repo's topics.toml)."""
    return catalog if catalog is not None else load_topics()


def parse_topics(
    value: str | Sequence[str] | None, catalog: TopicCatalog | None = None
) -> tuple[str, ...]:
    """None / "" / "all" / "*" → ("*",) (every topic, also later ones); otherwise topic ids
    (an id or a label, any case) validated against the catalog, in the catalog's order."""
    if value is None:
        return (ALL_TOPICS,)
    items = [value] if isinstance(value, str) else list(value)
    wanted = {item.strip() for item in items if item and item.strip()}
    if not wanted or wanted & {"all", ALL_TOPICS}:
        return (ALL_TOPICS,)
    known = topic_catalog(catalog)
    ids = {known.resolve(item) for item in wanted}
    if None in ids:
        unknown = sorted(item for item in wanted if known.resolve(item) is None)
        choices = ", ".join(t.label for t in known)
        raise UserInputError(
            f"unknown topic(s) {unknown}",
            user_message=f"Unknown topic. Choose one of: {choices}.",
            key="errors.unknown_topic",
            fields={"choices": choices, "choices_topics": ",".join(known.ids)},
        )
    return tuple(t for t in known.ids if t in ids)


def topics_text(
    topics: Sequence[str], catalog: TopicCatalog | None = None, msgs: Messages | None = None
) -> str:
    """ "all topics" or the topics' labels, in the language of ``msgs`` (English without)."""
    m = msgs or messages()
    if ALL_TOPICS in topics:
        return m("common.all_topics")
    known = topic_catalog(catalog)
    return ", ".join(m.topic(t) or known.label(t) for t in topics)


# ---------------------------------------------------------------------------- subscriptions


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    subscription: Subscription
    city_label: str
    catchup_queued: int  # stories put in the outbox as catch-up (0 = none / off)


async def _destination_state(store: Storage, destination: Destination) -> DestinationState | None:
    for state in await store.destinations(platform=destination.platform, group=destination.group):
        if state.destination.address == destination.address:
            return state
    return None


async def subscribe(
    store: Storage,
    gazetteer: GazetteerLike,
    *,
    destination: Destination,
    city: str,
    topics: str | Sequence[str] | None = None,
    catchup_count: int = 3,
    catalog: TopicCatalog | None = None,
    coverage: Coverage | None = None,
    rules: Rules | None = None,
    lang: str | None = None,
    default_lang: str | None = None,
) -> SubscribeResult:
    """Save (upsert) a subscription and queue a short catch-up through the outbox.

    ``lang`` is the language its alerts are written in ("es", "Spanish", "español"; a
    language with a message catalogue); None keeps an existing subscription's ("en" for a
    new one, or ``default_lang``: the platform's locale).

    Why the outbox: the catch-up is delivered by the same worker as live alerts, so it is
    delivered exactly once, survives a restart, and obeys the same rate limits. With
    `coverage`, a city nobody followed gets its managed search feeds at once.
    """
    found = resolve_city(gazetteer, city)
    wanted = parse_topics(topics, catalog)
    code = check_language(lang) if lang is not None else None
    if destination.group:  # a server/workspace: the limit counts all its places
        existing = await store.subscriptions(platform=destination.platform, group=destination.group)
    else:
        existing = await store.subscriptions(platform=destination.platform, address=destination.address)
    is_update = any(s.destination.address == destination.address and s.city == found.id for s in existing)
    state = await _destination_state(store, destination)
    if not is_update and len(existing) >= MAX_GUILD_SUBSCRIPTIONS:
        raise UserInputError(
            "too many subscriptions",
            user_message=f"This server already has {len(existing)} subscriptions (the limit is "
            f"{MAX_GUILD_SUBSCRIPTIONS}); remove one first.",
            key="errors.too_many_subscriptions",
            fields={"n": str(len(existing)), "limit": str(MAX_GUILD_SUBSCRIPTIONS)},
        )
    if rules is not None:
        check_rules(rules, catalog)
    if code is None and not is_update and default_lang is not None:
        code = parse_language(default_lang)
    subscription = await store.subscribe(destination, found.id, wanted, rules, code)
    await _reconcile(coverage)
    if state is not None and state.paused:
        # the caller just checked the destination is deliverable again: resume it and make its
        # held alerts due now (they were backed off while forbidden)
        await store.resume_destination(state.id)
    queued = 0
    if catchup_count > 0:
        stories = await _latest_matching(store, found.id, wanted, catchup_count * 4)
        # the catch-up follows the keyword rules too (holds and digests are for live alerts)
        stories = [
            s for s in stories if subscription.rules.keywords_match(s.title, s.summary)
        ][:catchup_count]
        if stories:
            # oldest first, so the channel reads in order
            ids = [s.id for s in sorted(stories, key=lambda s: (s.published, s.id))]
            queued = await store.enqueue_catchup(subscription.id, ids)
    return SubscribeResult(subscription, found.label, queued)


async def _latest_matching(
    store: Storage, city_id: str, topics: Sequence[str], count: int
) -> list[Story]:
    """The newest `count` stories of the city on any of `topics` ("*": any topic)."""
    if len(topics) == 1 and topics[0] != ALL:
        return list(await store.latest(city_id, topic=topics[0], limit=count))
    pool = await store.latest(city_id, topic=None, limit=max(count * 4, 20))
    return [s for s in pool if wants(city_id, topics, s.cities, s.topics)][:count]


async def _reconcile(coverage: Coverage | None) -> None:
    """Coverage follows the subscriptions (bot/coverage.py); the app also reconciles every tick."""
    if coverage is not None:
        await coverage.reconcile()


async def unsubscribe(
    store: Storage,
    gazetteer: GazetteerLike,
    *,
    destination: Destination,
    city: str,
    coverage: Coverage | None = None,
) -> tuple[bool, str]:
    """Remove one city from one destination. Returns (removed?, city label)."""
    city_id = city.strip()
    found = gazetteer.get(city_id) or gazetteer.resolve(city_id)
    if found is not None:
        city_id = found.id
    removed = await store.unsubscribe(destination, city_id)
    if removed:
        await _reconcile(coverage)
    if not removed and found is None:
        raise UnknownCityError(city)
    return removed, found.label if found is not None else city_id


def check_rules(rules: Rules, catalog: TopicCatalog | None = None) -> None:
    """Topic ids inside conditions must exist (the rest was validated by parse_rules)."""
    known = topic_catalog(catalog).ids
    check_condition_topics(rules.mention_when, known, "mention when")
    check_condition_topics(rules.urgent, known, "urgent")


RuleOptions = Mapping[str, Any]
"""parse_rules keyword options as an adapter read them (None = unchanged, "" = clear)."""


async def edit_rules(
    store: Storage,
    subscription_id: int,
    options: RuleOptions,
    *,
    platform: str | None = None,
    group: str | None = None,
    catalog: TopicCatalog | None = None,
) -> Subscription:
    """Change one subscription's rules. `platform`/`group` confine it to the caller's place
    (a server cannot change another server's subscription); the whole change is validated
    before anything is saved."""
    sub = await store.subscription(subscription_id)
    if sub is None or (platform is not None and sub.destination.platform != platform) or (
        group is not None and sub.destination.group != group
    ):
        raise UserInputError(
            f"no subscription {subscription_id}",
            user_message=f"there is no subscription #{subscription_id} here (see the subscriptions list)",
            key="errors.no_subscription_here",
            fields={"id": str(subscription_id)},
        )
    rules = parse_rules(sub.rules, **dict(options))
    check_rules(rules, catalog)
    saved = await store.set_rules(subscription_id, rules)
    assert saved is not None
    return saved


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    city_label: str
    topics_text: str

    @property
    def rules_text(self) -> list[str]:
        return self.subscription.rules.describe()

    def topics_in(self, msgs: Messages) -> str:
        """``topics_text`` in the reader's language (the field itself is English, from the
        catalog the view was made with): kept when ``msgs`` names not every topic."""
        topics = self.subscription.topics
        if ALL_TOPICS in topics:
            return msgs("common.all_topics")
        labels = [msgs.topic(t) for t in topics]
        return ", ".join(str(label) for label in labels) if all(labels) else self.topics_text


async def list_subscriptions(
    store: Storage,
    gazetteer: GazetteerLike,
    *,
    platform: str | None = None,
    group: str | None = None,
    address: str | None = None,
    catalog: TopicCatalog | None = None,
) -> list[SubscriptionView]:
    subs = await store.subscriptions(platform=platform, group=group, address=address)
    catalog = topic_catalog(catalog)
    return [
        SubscriptionView(s, city_label(gazetteer, s.city), topics_text(s.topics, catalog))
        for s in subs
    ]


async def subscribed_cities(
    store: Storage, gazetteer: GazetteerLike, *, platform: str, group: str
) -> list[tuple[str, str]]:
    """(label, id) of the cities a server follows (autocomplete for unsubscribe)."""
    subs = await store.subscriptions(platform=platform, group=group)
    ids = sorted({s.city for s in subs})
    return [(city_label(gazetteer, c), c) for c in ids]


async def destination_gone(store: Storage, destination: Destination) -> int:
    """The place was deleted (or the bot lost it for good): its subscriptions end."""
    dest_id = await store.destination_id(destination)
    return await store.remove_destination(dest_id) if dest_id is not None else 0


async def group_removed(store: Storage, platform: str, group: str) -> int:
    """The bot was removed from a server/workspace: every subscription there ends."""
    return await store.remove_group(platform, group)


async def resume_destination(store: Storage, destination: Destination) -> int:
    """The owner fixed what paused the destination: held alerts become due now."""
    dest_id = await store.destination_id(destination)
    return await store.resume_destination(dest_id) if dest_id is not None else 0


async def paused_destinations(store: Storage, *, platform: str, group: str) -> list[DestinationState]:
    return [d for d in await store.destinations(platform=platform, group=group) if d.paused]


# ---------------------------------------------------------------------------- search, latest


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str
    hits: tuple[SearchHit, ...]
    page: int  # 0-based
    page_size: int
    has_more: bool
    # no story had every word, so these are stories with any of them (say so to the reader)
    fell_back: bool = False

    @property
    def first_rank(self) -> int:
        return self.page * self.page_size + 1

    @property
    def note_key(self) -> str | None:
        """The catalogue entry every adapter says above the results when the all-words search
        found nothing (a reader who sees loosely related stories must know why); a key, not
        words, so each adapter says it in its reader's language. None: nothing to say."""
        return FELL_BACK_KEY if self.fell_back and self.hits else None


FELL_BACK_KEY = "search.fell_back"


def clean_query(query: str) -> str:
    """Trim and cap user text; the store quotes every term, so no FTS syntax survives."""
    query = " ".join((query or "").split())
    return query[:MAX_QUERY_CHARS]


async def search(
    store: Storage,
    gazetteer: GazetteerLike | None,
    query: str,
    *,
    city: str | None = None,
    topic: str | None = None,
    days: float | None = None,
    page: int = 0,
    page_size: int = 5,
    max_page_size: int = 10,
    catalog: TopicCatalog | None = None,
) -> SearchPage:
    """One page of full-text results, best first. Asks for one extra row to know if more exist."""
    text = clean_query(query)
    if not text:
        raise UserInputError("empty query", user_message="Type a few words to search for.", key="errors.empty_query")
    city_id: str | None = None
    if city:
        city_id = resolve_city(gazetteer, city).id if gazetteer is not None else city
    if topic and topic not in ("all", ALL_TOPICS):
        topic = parse_topics(topic, catalog)[0]  # an id or a label → the id
    else:
        topic = None
    if days is not None:
        days = max(0.01, min(float(days), MAX_SEARCH_DAYS))
    page = max(0, page)
    page_size = max(1, min(page_size, max_page_size))
    terms = set(_SEARCH_WORD.findall(text.casefold()))
    # `search ICE`: when a word names a watched topic, that topic's stories rank first (bm25
    # alone put frozen-water stories above the agency). Ranked over the best 100 rows.
    named = {t.id for t in catalog or () if terms & t.names} if topic is None else set()
    want = page_size + 1
    window = (0, MAX_RANKED) if named else (page * page_size, want)
    fell_back = False
    rows = await store.search(
        text, city=city_id, topic=topic, since_days=days, limit=window[1], offset=window[0], words="all"
    )
    if not rows and len(terms) > 1:
        fell_back = True
        rows = await store.search(
            text, city=city_id, topic=topic, since_days=days, limit=window[1], offset=window[0], words="any"
        )
    if named:
        rows = sorted(rows, key=lambda hit: 0 if named & set(hit.topics) else 1)  # stable: bm25 within
        rows = rows[page * page_size : page * page_size + want]
    return SearchPage(text, tuple(rows[:page_size]), page, page_size, len(rows) > page_size, fell_back)


_SEARCH_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_RANKED = 100


async def latest(
    store: Storage,
    gazetteer: GazetteerLike,
    city: str,
    *,
    topic: str | None = None,
    limit: int = 5,
    catalog: TopicCatalog | None = None,
) -> tuple[str, list[Story]]:
    found = resolve_city(gazetteer, city)
    if topic and topic not in ("all", ALL_TOPICS):
        topic = parse_topics(topic, catalog)[0]
    else:
        topic = None
    return found.label, list(await store.latest(found.id, topic=topic, limit=limit))


# ---------------------------------------------------------------------------- a server's feeds


@dataclass(frozen=True, slots=True)
class FeedPreview:
    feed: FeedConfig
    title: str | None
    item_count: int
    newest_headline: str | None
    found_by: str = "given"  # "given" (the URL was a feed), "link" (the page named it), "path" (/feed, /rss)
    requested: str = ""  # the address the person gave

    @property
    def found_key(self) -> str | None:
        """The catalogue entry saying what discovery did (its field: ``url``); None when the
        address was the feed itself."""
        return {"link": "feeds.found_link", "path": "feeds.found_path"}.get(self.found_by)

    def found_text(self, msgs: Messages | None = None) -> str:
        """What discovery did, in the language of ``msgs`` ("" when nothing was discovered)."""
        key = self.found_key
        return (msgs or messages())(key, url=self.feed.url) if key else ""

    @property
    def found_line(self) -> str:
        """``found_text`` in English (the CLI's)."""
        return self.found_text()


def check_feed_scheme(url: str) -> str:
    """Refuse anything but http(s) with a host before any network work."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        hostname = parts.hostname  # may raise too ("http://[1:2/": invalid IPv6 URL)
    except ValueError:
        raise UnsafeURLError(
            f"unparsable URL: {url[:200]!r}",
            user_message="That isn't a valid http:// or https:// URL.",
            key="errors.bad_url",
        ) from None
    if parts.scheme.lower() not in {"http", "https"} or not hostname:
        raise UnsafeURLError(
            f"not an http(s) URL: {url[:200]!r}",
            user_message="Only http:// or https:// feed URLs can be added.",
            key="errors.not_http",
        )
    if len(url) > 2000:
        raise UserInputError("url too long", user_message="That URL is too long.", key="errors.url_too_long")
    return url


async def _check_public(url: str, resolver: Any = None) -> str:
    """Refuse internal addresses (SSRF): the resolved addresses must all be public."""
    from bot.ingest.urlsafety import check_public_url

    return await check_public_url(url, resolver=resolver)


def _fetcher_for(settings: Settings) -> Any:
    """A one-off Fetcher honouring allow_private_feeds (it re-checks every redirect hop).

    Why not the poller's fetcher: that one may fetch configured private feeds; a URL a
    server typed must be held to the public-only rule unless the operator allowed private.
    """
    from bot.ingest.fetch import Fetcher, fetch_limits

    return Fetcher(fetch_limits(settings), allow_private=settings.allow_private_feeds)


async def add_feed(
    store: Storage,
    settings: Settings,
    *,
    owner: str,
    url: str,
    fetcher: Any = None,
    resolver: Any = None,
) -> FeedPreview:
    """Validate, fetch once, parse, then store a server's own feed.

    Why fetch before saving: a typo or an HTML page should be refused now with a reason,
    not fail silently in the poller for weeks.

    `fetcher` (an open Fetcher) and `resolver` (host -> addresses, for the first check) are
    test hooks, like Fetcher's own: they let a drill give the first hop a public-looking
    name on loopback and prove that every redirect hop is still refused.
    """
    url = check_feed_scheme(url)
    if not settings.allow_private_feeds:
        url = await _check_public(url, resolver)
    existing = await store.guild_feeds(owner)
    if any(f.url == url for f in existing):
        raise FeedExistsError(url, user_message="This server already has that feed.", key="errors.feed_exists")
    if len(existing) >= MAX_GUILD_FEEDS:
        raise UserInputError(
            "too many feeds",
            user_message=f"A server can add at most {MAX_GUILD_FEEDS} feeds; remove one first.",
            key="errors.too_many_feeds",
            fields={"limit": str(MAX_GUILD_FEEDS)},
        )

    found = await _discover(settings, url, fetcher)
    feed_url = found.url
    if feed_url != url and any(f.url == feed_url for f in existing):
        raise FeedExistsError(
            feed_url, user_message=f"This server already has the feed that page names ({feed_url[:200]}).",
            key="errors.page_feed_exists", fields={"url": feed_url[:200]},
        )
    articles = sorted(found.parsed.articles, key=lambda a: a.published, reverse=True)
    title = (found.parsed.title or "").strip() or None
    feed = await store.add_guild_feed(owner, feed_url, title)
    return FeedPreview(
        feed, title, len(articles), articles[0].title if articles else None, found_by=found.how, requested=url
    )


async def _discover(settings: Settings, url: str, fetcher: Any = None) -> Any:
    """The feed at `url` or the one its page names (bot.ingest.discovery), through the guarded
    fetcher; a refusal raises the error fit to show."""
    from bot.ingest.discovery import NotFound, discover

    if fetcher is not None:
        found = await discover(fetcher, url)
    else:
        async with _fetcher_for(settings) as own:
            found = await discover(own, url)
    if isinstance(found, NotFound):
        reason = found.reason
        if "private" in reason.lower() or "internal" in reason.lower() or "unsafe" in reason.lower():
            raise UnsafeURLError(reason, user_message="That URL leads to a private or internal address; refused.",
                                 key="errors.private_address")
        if found.result is not None and found.result.ok:
            raise FeedError(
                "not a feed",
                user_message="That URL didn't return an RSS or Atom feed, and the page names none "
                f"({reason[:150]}).",
                key="errors.not_a_feed",
                fields={"reason": reason[:150]},
            )
        raise FeedError(f"fetch failed: {reason}", user_message=f"I couldn't fetch that URL ({reason[:150]}).",
                        key="errors.fetch_failed", fields={"reason": reason[:150]})
    return found


async def remove_feed(store: Storage, *, owner: str, url: str) -> bool:
    return await store.remove_guild_feed(owner, (url or "").strip())


async def list_feeds(store: Storage, *, owner: str) -> list[FeedConfig]:
    return list(await store.guild_feeds(owner))


# ---------------------------------------------------------------------------- status


@dataclass(frozen=True, slots=True)
class StatusReport:
    feeds_total: int
    feeds_failing: tuple[FeedState, ...]
    feeds_disabled: int
    last_cycle: datetime | None
    queue_depth: int
    subscriptions: tuple[SubscriptionView, ...]
    # delivery health per destination (last success, last error, pause): shown by /status and
    # `civic-alerts status`; a push URL appears only as its masked name
    destinations: tuple[DestinationHealth, ...] = ()
    # feeds per kind ("catalog", "server", "managed") and the cities managed feeds cover
    feed_kinds: tuple[tuple[str, int], ...] = ()
    managed_cities: int = 0


def kinds_text(report: StatusReport, msgs: Messages | None = None) -> str:
    """ "12 catalog, 2 server, 6 managed (3 cities)" for /status and `civic-alerts status`, in
    the language of ``msgs`` (English without); a kind the catalogue lacks is shown as is."""
    m = msgs or messages()
    parts = []
    for kind, n in report.feed_kinds:
        try:
            parts.append(m(f"status.kind_{kind}", n=n))
        except KeyError:
            parts.append(f"{n} {kind}")
    if report.managed_cities:
        parts[-1] += m("status.managed_cities", n=report.managed_cities) if parts and report.feed_kinds[-1][0] == "managed" else ""
    return ", ".join(parts)


async def status(
    store: Storage,
    gazetteer: GazetteerLike,
    *,
    platform: str | None = None,
    group: str | None = None,
    catalog: TopicCatalog | None = None,
) -> StatusReport:
    """Pipeline health as a server sees it: are feeds polled, is the queue draining."""
    states = await store.feed_states()
    failing = tuple(
        s for s in states if not s.disabled and (s.consecutive_errors > 0 or s.last_error)
    )
    checked = [s.last_checked for s in states if s.last_checked is not None]
    last_cycle = max(checked) if checked else None
    depth = await store.queue_depth()
    subs = await list_subscriptions(store, gazetteer, platform=platform, group=group, catalog=catalog)
    health = await destination_health(store, platform=platform, group=group)
    kinds: dict[str, int] = {}
    for s in states:
        kinds[s.kind] = kinds.get(s.kind, 0) + 1
    order = ("catalog", "server", "managed")
    return StatusReport(
        feed_kinds=tuple((k, kinds[k]) for k in sorted(kinds, key=lambda k: (k not in order, order.index(k) if k in order else 0, k))),
        managed_cities=len({s.managed_city for s in states if s.kind == "managed"}),
        feeds_total=len(states),
        feeds_failing=failing,
        feeds_disabled=sum(1 for s in states if s.disabled),
        last_cycle=last_cycle,
        queue_depth=depth,
        subscriptions=tuple(subs),
        destinations=tuple(health),
    )


_PAUSED_AFTER = re.compile(r"paused after (\d+) failed attempts; last error: (.*)", re.DOTALL)


def pause_reason_text(reason: str | None, msgs: Messages | None = None) -> str:
    """Why a destination is paused, in the language of ``msgs``. The store keeps the English
    line the delivery worker wrote (logs and the CLI read it); its own wording ("paused after N
    failed attempts") is said from the catalogue, while the platform's error it quotes (a Slack
    error code, Discord's missing permission) stays as the platform gave it."""
    if not reason:
        return ""
    found = _PAUSED_AFTER.fullmatch(reason)
    if found is None:
        return reason
    return (msgs or messages())("delivery.paused_after", n=found.group(1), error=found.group(2))


def ago(when: datetime | None, *, now: datetime | None = None, msgs: Messages | None = None) -> str:
    """ "3 min ago" — short, for status lines; in the language of ``msgs`` (English without)."""
    m = msgs or messages()
    if when is None:
        return m("time.never")
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 90:
        return m("time.seconds_ago", n=seconds)
    if seconds < 90 * 60:
        return m("time.minutes_ago", n=seconds // 60)
    if seconds < 36 * 3600:
        return m("time.hours_ago", n=seconds // 3600)
    return m("time.days_ago", n=seconds // 86400)


# ---------------------------------------------------------------------------- feed health, db


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One row of `feeds check`: a feed fetched and parsed once, now."""

    url: str
    name: str
    status: str  # HTTP status, or status and error
    items: str  # item count, "-" or "not a feed"
    bytes: int
    seconds: float

    @property
    def healthy(self) -> bool:
        return self.status.startswith(("2", "3")) and self.items != "not a feed"


async def check_feeds(
    settings: Settings,
    feeds: Sequence[FeedConfig],
    *,
    on_progress: Callable[[int, int, FeedConfig], None] | None = None,
) -> list[FeedHealth]:
    """Fetch and parse every feed once, concurrently (bounded by the fetch limits)."""
    from bot.ingest.fetch import Fetcher, fetch_limits
    from bot.ingest.parse import parse_feed

    total = len(feeds)
    done = 0
    rows: list[FeedHealth] = []
    async with Fetcher(fetch_limits(settings)) as fetcher:

        async def check(feed: FeedConfig) -> None:
            nonlocal done
            result = await fetcher.fetch(feed.url)
            items = "-"
            status = str(result.status or "-")
            body = result.body
            if result.error is None and body is not None and result.status and result.status < 400:
                parsed = await asyncio.to_thread(
                    parse_feed, body, feed_url=result.final_url, headers=result.headers
                )
                items = str(len(parsed.articles)) if parsed.is_feed else "not a feed"
            elif result.error:
                status = f"{status} {result.error}"[:40]
            done += 1
            if on_progress is not None:
                on_progress(done, total, feed)
            rows.append(FeedHealth(feed.url, feed.name or "", status, items, len(body or b""), result.elapsed))

        await asyncio.gather(*(check(f) for f in feeds))
    return sorted(rows, key=lambda r: r.url)


async def prune(store: Storage, older_than_days: float) -> int:
    # `not (x >= 0)` and isfinite: NaN compares false with everything, so `x < 0` let it through
    if not (older_than_days >= 0) or not math.isfinite(older_than_days):
        raise UserInputError("bad days", user_message="--older-than must be a number of days, 0 or more")
    return await store.prune(older_than_days)


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


async def backup(store: Storage, target: Path, *, database: Path, force: bool = False) -> None:
    """Copy the database to `target`; an existing file is only replaced with `force`
    (a mistyped path must not silently destroy an earlier backup)."""
    if _same_file(target, database):
        raise UserInputError("same file", user_message="the backup path is the database itself")
    if not force and await asyncio.to_thread(target.exists):
        raise UserInputError(
            "target exists", user_message=f"{target} already exists; use --force to overwrite it"
        )
    if force:  # replaced whole: SQLite's backup cannot write into a file that is not a database
        await asyncio.to_thread(target.unlink, missing_ok=True)
    await store.backup(target)


async def integrity_check(store: Storage) -> str:
    return await store.integrity_check()


# ---------------------------------------------------------------------------- destinations
# (the command line's `subscriptions add/list/remove/test` and config/destinations.toml)

MakeDestination = Callable[[str, "str | None"], Destination]
"""(target, name) → Destination: the caller's adapter validates a push URL (or "console") and
returns a destination whose `name` is safe to show. Passed in so this module imports no adapter."""

TestSender = Callable[[Destination, str, str], Awaitable[None]]
"""(destination, title, body) → sends now; raises a DeliveryError when the service refuses."""

def destination_label(destination: Destination) -> str:
    """How a destination is shown in lists and /status — never an address that may hold a
    secret. The adapter that made the destination gave it a safe `name` (a push URL's masked
    form); a place inside a server/workspace is shown by its id there; anything else is hidden."""
    if destination.name:
        return destination.name
    if destination.group:
        return f"{destination.platform} {destination.address} (in {destination.group})"
    return f"{destination.platform} destination (address hidden)"


@dataclass(frozen=True, slots=True)
class DestinationHealth:
    id: int
    platform: str
    label: str
    paused: bool
    pause_reason: str | None
    last_success: datetime | None
    last_error: str | None
    last_error_at: datetime | None


def _health(state: DestinationState) -> DestinationHealth:
    return DestinationHealth(
        id=state.id,
        platform=state.destination.platform,
        label=destination_label(state.destination),
        paused=state.paused,
        pause_reason=state.pause_reason,
        last_success=state.last_success,
        last_error=state.last_error,
        last_error_at=state.last_error_at,
    )


async def destination_health(
    store: Storage, *, platform: str | None = None, group: str | None = None
) -> list[DestinationHealth]:
    return [_health(d) for d in await store.destinations(platform=platform, group=group)]


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """One line of `subscriptions list`: the subscription, where it goes, and how that goes."""

    id: int
    platform: str
    destination: str  # destination_label(): masked for push
    city: str
    city_label: str
    topics: tuple[str, ...]
    topics_text: str
    source: str  # "" by hand, "config" from config/destinations.toml
    health: DestinationHealth
    rules: tuple[str, ...] = ()  # Rules.describe(): one line per rule that is not the default
    lang: str = "en"  # the language its alerts are written in

    def as_json(self) -> dict[str, object]:
        def when(value: datetime | None) -> str | None:
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

        return {
            "id": self.id,
            "platform": self.platform,
            "destination": self.destination,
            "destination_id": self.health.id,
            "city": self.city,
            "city_label": self.city_label,
            "topics": list(self.topics),
            "source": self.source or "manual",
            "paused": self.health.paused,
            "pause_reason": self.health.pause_reason,
            "last_success": when(self.health.last_success),
            "last_error": self.health.last_error,
            "last_error_at": when(self.health.last_error_at),
            "rules": list(self.rules),
            "lang": self.lang,
        }


async def subscription_rows(store: Storage, gazetteer: GazetteerLike) -> list[SubscriptionRow]:
    """Every subscription of every platform, with its destination's delivery health."""
    health = {h.id: h for h in await destination_health(store)}
    sources = await store.subscription_sources()
    rows = []
    for sub in sorted(await store.subscriptions(), key=lambda s: s.id):
        state = health.get(sub.destination_id) or DestinationHealth(
            sub.destination_id, sub.destination.platform, destination_label(sub.destination),
            sub.paused, sub.pause_reason, None, None, None,
        )
        rows.append(
            SubscriptionRow(
                id=sub.id,
                platform=sub.destination.platform,
                destination=destination_label(sub.destination),
                city=sub.city,
                city_label=city_label(gazetteer, sub.city) if sub.city != ALL else "every city",
                topics=sub.topics,
                topics_text=topics_text(sub.topics),
                source=sources.get(sub.id, ""),
                health=state,
                rules=tuple(sub.rules.describe()),
                lang=sub.lang,
            )
        )
    return rows


async def add_destination(
    store: Storage,
    gazetteer: GazetteerLike,
    *,
    target: str,
    city: str,
    topics: str | Sequence[str] | None,
    name: str | None,
    make_destination: MakeDestination,
    catchup_count: int = 3,
    coverage: Coverage | None = None,
    rules: RuleOptions | None = None,
    lang: str | None = None,
) -> SubscribeResult:
    """`subscriptions add`: a push URL (validated by the adapter) or "console" follows a city,
    with optional rules (validated before anything is saved) and language (``--lang es``)."""
    destination = make_destination(target, name)
    parsed = parse_rules(**dict(rules)) if rules else None
    if lang is not None:
        check_language(lang)  # before the destination is saved
    return await subscribe(
        store, gazetteer, destination=destination, city=city, topics=topics, catchup_count=catchup_count,
        coverage=coverage,
        rules=parsed,
        lang=lang,
    )


def check_language(lang: str) -> str:
    """A language a user typed ("es", "Spanish", "español") → its code; one clear line if none."""
    code = parse_language(lang)
    if code is None:
        choices = ", ".join(supported_languages())
        raise UserInputError(
            f"unknown language {lang!r}",
            user_message=messages()("errors.unknown_language", lang=lang[:40], choices=choices),
            key="errors.unknown_language", fields={"lang": lang[:40], "choices": choices},
        )
    return code


async def remove_subscription(
    store: Storage, subscription_id: int, *, coverage: Coverage | None = None
) -> Subscription:
    removed = await store.remove_subscription(subscription_id)
    if removed is not None:
        await _reconcile(coverage)
    if removed is None:
        raise UserInputError(
            f"no subscription {subscription_id}",
            user_message=f"there is no subscription #{subscription_id} (see `subscriptions list`)",
        )
    return removed


@dataclass(frozen=True, slots=True)
class TestResult:
    __test__ = False  # not a pytest test class, whatever its name

    ok: bool
    line: str  # one line for the operator; names the destination only by its label


async def test_destination(
    store: Storage, gazetteer: GazetteerLike, subscription_id: int, senders: Mapping[str, TestSender]
) -> TestResult:
    """Send a clearly marked test message now, through the platform's own sink.

    A success on a paused destination resumes it: the owner just showed it works again."""
    from bot.errors import DeliveryError

    sub = await store.subscription(subscription_id)
    if sub is None:
        raise UserInputError(
            f"no subscription {subscription_id}",
            user_message=f"there is no subscription #{subscription_id} (see `subscriptions list`)",
        )
    label = destination_label(sub.destination)
    sender = senders.get(sub.destination.platform)
    if sender is None:
        raise UserInputError(
            f"cannot test {sub.destination.platform}",
            user_message=f"subscription #{sub.id} is on {sub.destination.platform}; "
            "the command line can test push and console destinations only",
        )
    place = city_label(gazetteer, sub.city) if sub.city != ALL else "every city"
    title = "[TEST] civic-alerts test message"
    body = (
        f"[TEST] This is a test from civic-alerts for subscription #{sub.id} ({place}, "
        f"{topics_text(sub.topics)}). No action needed — real alerts will look different."
    )
    try:
        await sender(sub.destination, title, body)
    except DeliveryError as exc:
        return TestResult(False, f"test to {label} failed: {exc}")
    resumed = await store.resume_destination(sub.destination_id) if sub.paused else 0
    tail = " (it was paused; delivery resumed)" if resumed else ""
    return TestResult(True, f"test sent to {label}{tail}")


test_destination.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


async def sync_destinations(
    store: Storage,
    gazetteer: GazetteerLike,
    entries: Sequence[DestinationConfig],
    make_destination: MakeDestination,
    *,
    coverage: Coverage | None = None,
) -> tuple[int, int]:
    """Make config/destinations.toml's entries the file-managed subscriptions (add/update;
    remove the ones the file dropped). A bad entry stops the sync before anything is written:
    the error names the file, the entry number and the reason."""
    rows: list[tuple[Destination, str, Sequence[str]]] = []
    wanted_rules: list[tuple[Destination, str, Rules]] = []
    for entry in entries:
        try:
            destination = make_destination(entry.url, entry.name)
            city_id = ALL if entry.city == ALL else resolve_city(gazetteer, entry.city).id
            topics = parse_topics(entry.topics)
        except UserInputError as exc:
            raise ConfigError(f"{entry.where}: {exc.user_message}") from None
        try:
            rules = parse_rules(**{k: v for k, v in entry.rules})  # type: ignore[arg-type]
        except UserInputError as exc:
            raise ConfigError(f"{entry.where}: {exc.user_message}") from None
        rows.append((destination, city_id, topics))
        wanted_rules.append((destination, city_id, rules))
    result = await store.sync_config_subscriptions(rows)
    # the file says what a file-managed subscription's rules are (none given: the defaults)
    for destination, city_id, rules in wanted_rules:
        for sub in await store.subscriptions(platform=destination.platform, address=destination.address):
            if sub.city == city_id and sub.rules != rules:
                await store.set_rules(sub.id, rules)
    await _reconcile(coverage)
    return result


# ---------------------------------------------------------------------------- feeds of every kind
# (`civic-alerts feeds list / coverage / import / export`, `/feeds list|import|export`, /status)

OPERATOR_GROUP = "0"  # the feed owner key of feeds the operator imports from the command line
MAX_IMPORT_FEEDS = 200


def feed_health(state: FeedState) -> str:
    """ "ok", "never polled", "failing (×3): HTTP 503", "disabled: …" — one short word first."""
    if state.disabled:
        return f"disabled: {state.disabled_reason or 'by the poller'}"
    if state.consecutive_errors or state.last_error:
        return f"failing (×{state.consecutive_errors}): {state.last_error or f'HTTP {state.last_status}'}"
    if state.last_checked is None:
        return "never polled"
    return "ok"


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One line of `feeds list` / `feeds coverage`: a feed, where it came from, its health."""

    state: FeedState
    city_label: str | None

    @property
    def health(self) -> str:
        return feed_health(self.state)

    def as_json(self) -> dict[str, object]:
        s = self.state

        def when(value: datetime | None) -> str | None:
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

        return {
            "url": s.url,
            "name": s.name,
            "kind": s.kind,
            "city": s.managed_city or s.city,
            "city_label": self.city_label,
            "lang": s.lang,
            "health": self.health.split(":")[0].split(" (")[0],
            "detail": self.health,
            "last_checked": when(s.last_checked),
            "next_check": when(s.next_check),
            "items_seen": s.items_seen,
            "needed_until": when(s.needed_until),
        }


def _rows(states: Sequence[FeedState], gazetteer: GazetteerLike) -> list[FeedRow]:
    rows = []
    for s in states:
        city = s.managed_city or s.city
        rows.append(FeedRow(s, city_label(gazetteer, city) if city else None))
    return rows


async def feed_rows(store: Storage, gazetteer: GazetteerLike, *, city: str | None = None) -> list[FeedRow]:
    """Every polled feed — catalogue, server-added and managed — with kind, city and health."""
    return _rows(await store.feeds(city=city), gazetteer)


@dataclass(frozen=True, slots=True)
class CoverageView:
    city: str
    city_label: str
    feeds: tuple[FeedRow, ...]  # feeds covering the city now
    planned: tuple[FeedConfig, ...]  # the managed feeds the city gets (from config/coverage.toml)
    added: tuple[str, ...] = ()  # URLs added by --apply
    subscribed: bool = False

    def as_json(self) -> dict[str, object]:
        have = {r.state.url for r in self.feeds}
        return {
            "city": self.city,
            "city_label": self.city_label,
            "subscribed": self.subscribed,
            "feeds": [r.as_json() for r in self.feeds],
            "missing": [
                {"url": f.url, "name": f.name, "kind": "managed", "lang": f.lang} for f in self.planned if f.url not in have
            ],
            "added": list(self.added),
        }


async def feed_coverage(
    store: Storage, gazetteer: GazetteerLike, coverage: Coverage, city: str, *, apply: bool = False
) -> CoverageView:
    """The feeds that cover a city; with `apply`, add its managed feeds now."""
    found = resolve_city(gazetteer, city)
    added: list[str] = []
    if apply:
        added = await coverage.apply(found.id)
    rows = await feed_rows(store, gazetteer, city=found.id)
    subscribed = found.id in await store.subscribed_cities()
    return CoverageView(found.id, found.label, tuple(rows), tuple(coverage.feeds_for(found.id)), tuple(added), subscribed)


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: tuple[str, ...]
    lines: tuple[str, ...]  # one per feed: added (and how it was found), already followed, or why not


async def import_opml(
    store: Storage,
    settings: Settings,
    gazetteer: GazetteerLike,
    *,
    owner: str,
    data: bytes,
    city: str | None = None,
    fetcher: Any = None,
    max_feeds: int = MAX_IMPORT_FEEDS,
) -> ImportReport:
    """Import an OPML file's feeds for a server (or the operator, owner OPERATOR_GROUP).

    The file is checked whole first (bot.ingest.opml: size, DTD/entities, nesting, duplicates,
    schemes, limits): a bad file raises OpmlError and changes nothing. Then each address goes
    through the same guard and discovery as `/feeds add` (a home page finds its feed); the
    feeds that answered are added in one transaction, the others get a line saying why."""
    from bot.ingest.opml import OpmlError, parse_opml

    entries = parse_opml(data)
    default_city = resolve_city(gazetteer, city).id if city else None
    existing = {f.url for f in await store.guild_feeds(owner)}
    fresh = [e for e in entries if e.url not in existing]
    if len(existing) + len(fresh) > max_feeds:
        raise OpmlError(f"it would make {len(existing) + len(fresh)} feeds; the limit is {max_feeds}")
    for entry in entries:
        if entry.city is not None and gazetteer.get(entry.city) is None:
            raise OpmlError(f"feed {entry.url[:80]} names an unknown city {entry.city[:40]!r}")
    lines: list[str] = []
    to_add: list[FeedConfig] = []

    async def one(entry: Any) -> tuple[Any, FeedConfig | None, str]:
        try:
            url = check_feed_scheme(entry.url)
            if not settings.allow_private_feeds:
                url = await _check_public(url)
            found = await _discover(settings, url, fetcher)
        except UserInputError as exc:
            return entry, None, f"skipped {entry.url[:200]}: {exc.user_message}"
        except FeedError as exc:
            return entry, None, f"skipped {entry.url[:200]}: {exc.user_message}"
        title = entry.title or (found.parsed.title or "").strip() or None
        note = f" (found {found.url} via the page)" if found.url != entry.url else ""
        config = FeedConfig(url=found.url, name=title, city=entry.city or default_city, lang=entry.lang)
        return entry, config, f"added {found.url}{note}" if note else f"added {found.url}"

    for entry in entries:
        if entry.url in existing:
            lines.append(f"already followed: {entry.url[:200]}")
    results = await asyncio.gather(*(one(e) for e in fresh))
    seen: set[str] = set(existing)
    for _entry, config, line in results:
        if config is not None and config.url in seen:
            lines.append(f"already followed: {config.url[:200]}")
            continue
        if config is not None:
            seen.add(config.url)
            to_add.append(config)
        lines.append(line)
    added = await store.import_server_feeds(owner, to_add) if to_add else []
    return ImportReport(tuple(added), tuple(lines))


async def export_opml(
    store: Storage, *, owner: str | None = None, city: str | None = None, include_catalog: bool = False
) -> str:
    """OPML of server-added feeds (one owner's with `owner`; the command line's export adds
    the catalogue with `include_catalog`); managed feeds are derived, never exported."""
    from bot.ingest.opml import OpmlFeed, render_opml

    states = list(await store.server_feeds(owner))
    if include_catalog:
        known = {s.url for s in states}
        states += [s for s in await store.feeds() if s.kind == "catalog" and s.url not in known]
    if city is not None:
        states = [s for s in states if s.city == city]
    states.sort(key=lambda s: s.url)
    return render_opml([OpmlFeed(s.url, s.name, s.city, s.lang) for s in states])
