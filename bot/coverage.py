"""Coverage follows subscriptions: managed Google News search feeds for every subscribed city.

Why: the catalogue (config/feeds.toml) is one metro's outlets plus national feeds; a channel in
Charlotte or El Paso that subscribes to its city would hear almost nothing. So the service keeps
search feeds per subscribed city — in English and Spanish, on the watched topics, from the
templates in config/coverage.toml — shared by all of that city's subscribers and retired a grace
period after the last one leaves (so an unsubscribe/resubscribe does not churn feeds).

The policy lives here; the records in the store (bot/store/coverage.py); the pace of requests in
bot/ingest/budget.py. `Coverage.reconcile()` is idempotent: it is called wherever subscriptions
change (actions), at app start and before every poll tick, so any path that changes a
subscription — a chat command, the CLI, config/destinations.toml — is covered within a tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from bot.clock import SYSTEM_CLOCK, Clock
from bot.ingest.budget import HostBudget, RequestSchedule
from bot.models import FeedConfig, FeedState
from bot.ports import Storage
from bot.relevance.gazetteer import STATE_NAMES, City, Gazetteer
from bot.relevance.text import norm_key

log = logging.getLogger(__name__)

GOOGLE_NEWS_SEARCH = "https://news.google.com/rss/search"


@dataclass(frozen=True, slots=True)
class LanguageQueries:
    """One language's search: Google News locale parameters and query templates ({place})."""

    code: str  # "en", "es": the managed feed's `lang`
    params: str  # "hl=en-US&gl=US&ceid=US:en"
    queries: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CoverageConfig:
    """config/coverage.toml (read by bot.settings.load_coverage)."""

    base_url: str = GOOGLE_NEWS_SEARCH
    interval: int = 1800
    grace_seconds: float = 7 * 86400
    max_neighbourhoods: int = 3
    languages: tuple[LanguageQueries, ...] = ()
    budgets: tuple[HostBudget, ...] = ()
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class CoverageChange:
    """What one reconcile did."""

    added: tuple[str, ...] = ()
    released: int = 0  # feeds whose grace period started
    retired: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()  # subscribed cities


def is_ambiguous(city: City, gazetteer: Gazetteer) -> bool:
    """More than one US city has this name, or cities.toml lists the name as ambiguous
    (a word, a person's name, a foreign city): search for "Name, State" then."""
    key = norm_key(city.name)
    return len(gazetteer.by_name(key)) > 1 or key in gazetteer.config.ambiguous_names


def neighbourhoods(city: City, gazetteer: Gazetteer, limit: int) -> tuple[str, ...]:
    """Well-known neighbourhood names of the city from cities.toml aliases: the plain ones
    (not context-only, not scene-setting names of people, not case-sensitive acronyms), in
    file order, that are not themselves another city's name. Demonyms and names built on the
    city's own name ("Chicagoans", "Chicagoland") add nothing to a search that names the city;
    counties reach past the city, and their news would be routed to it by default."""
    out: list[str] = []
    own = norm_key(city.name)
    for alias in gazetteer.config.aliases:
        key = norm_key(alias.name)
        if key.startswith(own) or key.endswith(" county") or key.endswith(" parish"):
            continue
        if len(out) >= limit:
            break
        if alias.city != city.id or alias.context or alias.anchor_only or alias.name.startswith("="):
            continue
        if gazetteer.is_name(norm_key(alias.name)) or alias.name in out:
            continue
        out.append(alias.name)
    return tuple(out)


def place_terms(city: City, gazetteer: Gazetteer, cfg: CoverageConfig) -> tuple[str, ...]:
    """The search terms for a city: "Portland, Oregon" (ambiguous) or "Charlotte", then
    neighbourhoods."""
    state = "D.C." if city.state == "DC" else STATE_NAMES.get(city.state, city.state)
    main = f"{city.name}, {state}" if is_ambiguous(city, gazetteer) else city.name
    return (main, *neighbourhoods(city, gazetteer, cfg.max_neighbourhoods))


def place_expression(terms: tuple[str, ...]) -> str:
    quoted = [f'"{t}"' for t in terms]
    return quoted[0] if len(quoted) == 1 else "(" + " OR ".join(quoted) + ")"


def search_url(base_url: str, query: str, params: str) -> str:
    return f"{base_url}?q={quote_plus(query)}&{params}"


def managed_feeds_for(city: City, gazetteer: Gazetteer, cfg: CoverageConfig) -> list[FeedConfig]:
    """The managed feeds a city gets: one per language × query template."""
    place = place_expression(place_terms(city, gazetteer, cfg))
    feeds: list[FeedConfig] = []
    for lang in cfg.languages:
        for n, template in enumerate(lang.queries, 1):
            query = template.replace("{place}", place)
            suffix = f" #{n}" if len(lang.queries) > 1 else ""
            feeds.append(
                FeedConfig(
                    url=search_url(cfg.base_url, query, lang.params),
                    name=f"Google News: {city.label} ({lang.code}){suffix}",
                    city=city.id,
                    interval=cfg.interval,
                    lang=lang.code,
                )
            )
    return feeds


@dataclass
class Coverage:
    """The policy over the store: add what subscribed cities need, release and retire the rest."""

    store: Storage
    gazetteer: Gazetteer
    config: CoverageConfig
    schedule: RequestSchedule | None = None
    clock: Clock = SYSTEM_CLOCK
    _known: set[str] = field(default_factory=set)

    def feeds_for(self, city_id: str) -> list[FeedConfig]:
        city = self.gazetteer.get(city_id)
        if city is None or not self.config.enabled:
            return []
        return managed_feeds_for(city, self.gazetteer, self.config)

    async def _ensure(self, city_id: str, *, needed_until: float | None) -> list[str]:
        feeds = self.feeds_for(city_id)
        if not feeds:
            return []
        existing = {s.url for s in await self.store.managed_feeds()} | {s.url for s in await self.store.feeds()}
        new = [f for f in feeds if f.url not in existing]
        schedule = self.schedule or RequestSchedule(self.config.budgets, clock=self.clock)
        first: dict[str, float] = {}
        if new:
            # spread over the interval (at the budget's pace), not all due at once
            times = schedule.spread(new[0].url, len(new), float(self.config.interval))
            first = {f.url: t for f, t in zip(new, times, strict=True)}
        return await self.store.ensure_managed_feeds(city_id, feeds, first, needed_until=needed_until)

    async def reconcile(self) -> CoverageChange:
        """Every subscribed city has its managed feeds; others start (or finish) their grace."""
        now = self.clock.now()
        cities = sorted(c for c in await self.store.subscribed_cities() if self.gazetteer.get(c) is not None)
        if not self.config.enabled:
            cities = []
        added: list[str] = []
        managed = await self.store.managed_feeds()
        have = {(s.managed_city, s.url) for s in managed if s.needed_until is None}
        # cities whose feeds already stand and are needed: nothing to write
        todo = [c for c in cities if not all((c, f.url) in have for f in self.feeds_for(c))]
        if todo:
            added_by_city = await self._ensure_many(todo)
            added.extend(added_by_city)
        released = await self.store.release_managed_feeds(cities, now + self.config.grace_seconds)
        retired = await self.store.retire_managed_feeds(now)
        if added or released or retired:
            log.info(
                "coverage reconciled",
                extra={"added": len(added), "released": released, "retired": len(retired), "cities": len(cities)},
            )
        return CoverageChange(tuple(added), released, tuple(retired), tuple(cities))

    async def _ensure_many(self, cities: list[str]) -> list[str]:
        """Add the feeds of many cities at once, their first polls spread as one group."""
        feeds_by_city = {c: self.feeds_for(c) for c in cities}
        existing = {s.url for s in await self.store.feeds()}
        new = [f for fs in feeds_by_city.values() for f in fs if f.url not in existing]
        schedule = self.schedule or RequestSchedule(self.config.budgets, clock=self.clock)
        first: dict[str, float] = {}
        if new:
            times = schedule.spread(new[0].url, len(new), float(self.config.interval))
            first = {f.url: t for f, t in zip(new, times, strict=True)}
        added: list[str] = []
        for city, feeds in feeds_by_city.items():
            added.extend(await self.store.ensure_managed_feeds(city, feeds, first))
        return added

    async def apply(self, city_id: str) -> list[str]:
        """`feeds coverage CITY --apply`: add the city's feeds now. Without a subscription they
        last one grace period (a subscription keeps them)."""
        subscribed = city_id in await self.store.subscribed_cities()
        until = None if subscribed else self.clock.now() + self.config.grace_seconds
        return await self._ensure(city_id, needed_until=until)

    async def covering(self, city_id: str) -> list[FeedState]:
        """Every feed that covers a city now: its local catalogue/server feeds and managed ones."""
        return await self.store.feeds(city=city_id)
