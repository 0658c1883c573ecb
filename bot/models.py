"""Frozen records that flow through the pipeline.

Why frozen: every stage (ingest → relevance → stories → store → delivery → adapters)
hands these to the next and must not be surprised by a later stage mutating them.
Times are always timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.rules import DEFAULT_RULES, Rules


def feed_owner(platform: str, group: str) -> str:
    """The key a server's/chat's own feeds are filed under (guild_feeds.guild_id, TEXT-valued).

    Why Discord's is the bare guild id: that is how rows were keyed before other platforms
    existed, so existing servers keep their feeds; every other platform is prefixed so a Slack
    team id can never collide with a Discord snowflake or a Telegram chat id.
    """
    return group if platform == "discord" else f"{platform}:{group}"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    """One entry of config/feeds.toml (or a server's own feed when `owner` is set)."""

    url: str
    name: str | None = None
    city: str | None = None  # default city id for a local outlet, e.g. "chicago-il"
    interval: int | None = None  # seconds between polls; None = the global default
    owner: str | None = None  # feed_owner() of the server/chat that added it
    lang: str | None = None  # declared language ("en"); the feed's own declaration wins


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the poller remembers about a feed between cycles (its health)."""

    url: str
    name: str | None = None
    city: str | None = None
    interval: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_errors: int = 0
    last_checked: datetime | None = None
    next_check: datetime | None = None
    items_seen: int = 0
    disabled: bool = False
    disabled_reason: str | None = None
    lang: str | None = None  # the configured language, passed on to parse_feed
    # where the feed comes from: "catalog" (config/feeds.toml), "server" (a server added or
    # imported it), "managed" (a search feed kept for a subscribed city; bot/coverage.py)
    kind: str = "catalog"
    managed_city: str | None = None  # the city a managed feed covers
    needed_until: datetime | None = None  # managed and no longer needed: retired after this


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Outcome of one HTTP fetch. `error` set means the fetch failed (status may be None)."""

    url: str
    final_url: str
    status: int | None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    max_age: float | None = None  # Cache-Control max-age, seconds (uncapped; poller caps)
    retry_after: float | None = None  # seconds
    elapsed: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and self.status < 400


@dataclass(frozen=True, slots=True)
class Article:
    """One normalized feed item, before relevance and clustering.

    `identity` is the exact-duplicate key (see bot.ingest.normalize.article_identity):
    the canonical URL for ordinary items, "gnews:<source>|<normalized title>" for
    Google News items whose links cannot be decoded offline.
    """

    feed_url: str
    guid: str | None
    url: str  # canonical URL ("" when the item has no link)
    link: str  # the link as the feed gave it (resolved to absolute)
    title: str
    summary: str
    published: datetime
    published_known: bool  # False when the feed gave no usable date (first-seen used)
    source: str  # outlet name ("Chicago Sun-Times")
    source_url: str | None  # outlet home page when known
    image_url: str | None
    identity: str
    is_google_news: bool = False
    # primary language subtag ("en"): the feed's declared language, else the feed config's
    lang: str | None = None
    # undated and from a feed's first fetch: its age is unknown (it may be years old), so it is
    # stored and searchable but never alerted on its own (issue 16)
    backlog: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    """Relevance verdict: which topics and cities, and the evidence for each."""

    topics: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    why: tuple[str, ...] = ()
    # the language the rules read the item in ("en", "es"): the feed's, else detected
    lang: str | None = None

    @property
    def relevant(self) -> bool:
        return bool(self.topics)


@dataclass(frozen=True, slots=True)
class Story:
    """A cluster of articles about one event; the unit of alerting."""

    id: int
    title: str
    url: str
    source: str
    outlets: tuple[str, ...]
    published: datetime
    topics: tuple[str, ...]
    cities: tuple[str, ...]
    summary: str
    why: tuple[str, ...] = ()
    image_url: str | None = None
    # independent outlets behind it (owners and syndicated copies once; 0 = not counted yet)
    independent: int = 0
    # False when the lead's date is a guess (its feed gave none): shown as "date unknown"
    published_known: bool = True

    @property
    def corroboration(self) -> int:
        return self.independent or max(1, len({o for o in self.outlets if o}))


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: int
    title: str
    url: str
    source: str
    published: datetime
    snippet: str
    topics: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Destination:
    """Where alerts go: a platform and the platform's own address for the place.

    Why text and not integers: a Discord channel id, a Slack channel id, a Matrix room id and a
    push URL all fit a string; `group` is the server/workspace the place belongs to ('' when the
    platform has none) — where a problem is reported and per-server limits are counted. The
    address of a push destination may carry secrets: log the destination's row id, never this.
    """

    platform: str  # "discord", "console", "apprise", …
    address: str
    group: str = ""
    name: str | None = None  # how lists show it (a push URL's masked form); never a secret


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    """One `[[destinations]]` entry of config/destinations.toml (validated for shape only;
    the URL is checked by the push adapter when the file is synced)."""

    url: str  # an Apprise URL, or "console"
    city: str
    topics: tuple[str, ...] | None = None  # None = every topic
    name: str | None = None
    where: str = ""  # "config/destinations.toml: destinations entry #2", for error messages
    # alert-rule keys of the entry (bot.rules.parse_rules options, already validated), in file order
    rules: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True, slots=True)
class DestinationState:
    """A destination and its delivery health (what `subscriptions list` and /status show)."""

    id: int
    destination: Destination
    paused: bool = False
    pause_reason: str | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A destination follows a city on some topics ("*" = every topic, now and later)."""

    id: int
    destination_id: int
    destination: Destination
    city: str
    topics: tuple[str, ...]  # topic ids, or ("*",): every topic, also ones added later
    paused: bool = False
    pause_reason: str | None = None
    created: datetime | None = None
    rules: Rules = DEFAULT_RULES  # keywords, corroboration, mentions, digests, quiet, threads
    lang: str = "en"  # the language its alerts are written in (config/messages/<lang>.toml)


@dataclass(frozen=True, slots=True)
class Alert:
    """One (story, destination) delivery due: what the delivery worker hands an adapter.

    kind "new" posts a message; kind "edit" updates the message already sent (message_ref, the
    platform's own reference as text) because more outlets reported the story.
    """

    delivery_id: int
    destination_id: int
    destination: Destination
    story: Story
    kind: str = "new"  # "new" | "edit"
    message_ref: str | None = None
    digest: bool = False  # part of one digest message (a digest period or the end of quiet hours)
    mention: str | None = None  # the one role / group / "@room" this alert may ping (rules)
    thread: bool = False  # post the story so its discussion and updates stay in a thread
    lang: str = "en"  # the subscription's language: labels, "why", "also reported by"
