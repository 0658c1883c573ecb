"""Who gets a story: the one subscription-matching rule, alert age and the edit window.

Why here and not in the store: which destinations a story reaches is product policy. The
store persists and answers queries; inside its write transaction it asks this policy which of
the candidate subscriptions want a story, so the decision is made in one place, in Python,
for every backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.corroboration import independent_outlets
from bot.models import Story, Subscription
from bot.rules import Rules
from bot.schedule import release_time

ALL = "*"  # a subscription's city or topics wildcard: every city / every topic, now and later

DEFAULT_ALERT_MAX_AGE = 24 * 3600.0  # older news is stored and searchable but not pushed
DEFAULT_EDIT_WINDOW = 24 * 3600.0  # a later outlet edits an alert sent within this window
HOLD_FOREVER = 1e15  # next_attempt of an alert held for outlets with "drop" after the hold
HELD_FOR_OUTLETS = "outlets"


def wants(sub_city: str, sub_topics: Iterable[str], cities: Iterable[str], topics: Iterable[str]) -> bool:
    """The rule: the subscription's city is among the story's (or '*') and a topic overlaps.

    A story with no topic reaches nobody, even an all-topics subscription: untagged news is
    stored for search, never pushed.
    """
    story_topics = set(topics)
    if not story_topics:
        return False
    if sub_city != ALL and sub_city not in set(cities):
        return False
    wanted = set(sub_topics)
    return ALL in wanted or bool(wanted & story_topics)


@dataclass(frozen=True, slots=True)
class StoryFacts:
    """What the rules look at: the text, the tags and the independent outlets (after a save)."""

    title: str
    summary: str
    topics: tuple[str, ...]
    cities: tuple[str, ...]
    outlets: int  # independent outlets (bot.corroboration)
    published: float


@dataclass(frozen=True, slots=True)
class Placement:
    """An outbox row's schedule: due at `due`; `hold` '' or "outlets"; `digest` joins a digest."""

    due: float
    hold: str = ""
    digest: bool = False


def urgent(rules: Rules, facts: StoryFacts, city: str) -> bool:
    """Meets the subscription's urgent condition (breaks quiet hours); no condition → not urgent."""
    return rules.urgent is not None and rules.urgent.met(
        topics=facts.topics, cities=facts.cities, outlets=facts.outlets, city=city
    )


@dataclass(frozen=True, slots=True)
class FanoutPolicy:
    alert_max_age: float = DEFAULT_ALERT_MAX_AGE
    edit_window: float = DEFAULT_EDIT_WINDOW
    # outlet key → owner (config/outlets_owners.toml): one owner's outlets corroborate once
    owners: Mapping[str, str] = field(default_factory=dict)

    def independent(self, articles: Iterable[tuple[str, str, str]]) -> int:
        """Independent outlets among a story's (source, title, summary) articles."""
        return independent_outlets(articles, self.owners)

    def place(self, sub: Subscription, facts: StoryFacts, now: float) -> Placement | None:
        """Whether (None: no) and when this subscription's alert of the story goes out.

        Keywords filter; too few independent outlets hold the alert (until the maximum hold,
        then it goes out marked unconfirmed, or never); a digest or quiet hours schedule it.
        """
        rules = sub.rules
        if not wants(sub.city, sub.topics, facts.cities, facts.topics):
            return None
        if not rules.keywords_match(facts.title, facts.summary):
            return None
        if facts.outlets < rules.min_outlets:
            if rules.on_hold_timeout == "drop":
                return Placement(HOLD_FOREVER, HELD_FOR_OUTLETS)
            timeout = now + rules.max_hold_hours * 3600
            due, digest = release_time(rules, timeout, urgent=urgent(rules, facts, sub.city))
            return Placement(due, HELD_FOR_OUTLETS, digest)
        due, digest = release_time(rules, now, urgent=urgent(rules, facts, sub.city))
        return Placement(due, "", digest)

    def placements(
        self, subscriptions: Sequence[Subscription], facts: StoryFacts, now: float
    ) -> list[tuple[Subscription, Placement]]:
        """Per destination, the oldest subscription whose rules take the story, and when."""
        if not self.alertable(facts.published, now):
            return []
        out: dict[int, tuple[Subscription, Placement]] = {}
        for sub in sorted(subscriptions, key=lambda s: s.id):
            if sub.destination_id in out:
                continue
            placed = self.place(sub, facts, now)
            if placed is not None:
                out[sub.destination_id] = (sub, placed)
        return list(out.values())

    def release(
        self, sub: Subscription, facts: StoryFacts, now: float, *, held_since: float, hold: str = HELD_FOR_OUTLETS
    ) -> Placement | None:
        """A held alert's story gained an outlet: its new schedule, or None to keep it as it is.

        Held for outlets: released when the independent outlets reach `min_outlets` within the
        maximum hold; with "drop", a story corroborated only after the hold stays unsent.
        Held by quiet hours: released now when the story has become urgent."""
        rules = sub.rules
        if hold != HELD_FOR_OUTLETS:
            if not urgent(rules, facts, sub.city):
                return None
            due, digest = release_time(rules, now, urgent=True)
            return Placement(due, "", digest)
        if facts.outlets < rules.min_outlets:
            return None
        if rules.on_hold_timeout == "drop" and now > held_since + rules.max_hold_hours * 3600:
            return None
        due, digest = release_time(rules, now, urgent=urgent(rules, facts, sub.city))
        return Placement(due, "", digest)

    @staticmethod
    def mention(rules: Rules, city: str, story: Story) -> str | None:
        """The one mention an alert may carry: the subscription's, when its condition holds."""
        if not rules.mention:
            return None
        if rules.mention_when is not None and not rules.mention_when.met(
            topics=story.topics, cities=story.cities, outlets=story.corroboration, city=city
        ):
            return None
        return rules.mention

    def alertable(self, published: float, now: float) -> bool:
        """Fresh enough to push (older stories are stored and searchable only)."""
        return published >= now - self.alert_max_age

    def recipients(
        self,
        subscriptions: Sequence[Subscription],
        *,
        cities: Sequence[str],
        topics: Sequence[str],
        published: float,
        now: float,
    ) -> list[Subscription]:
        """The subscriptions a story is owed to, at most one per destination (the oldest)."""
        if not self.alertable(published, now):
            return []
        out: dict[int, Subscription] = {}
        for sub in sorted(subscriptions, key=lambda s: s.id):
            if sub.destination_id not in out and wants(sub.city, sub.topics, cities, topics):
                out[sub.destination_id] = sub
        return list(out.values())

    def rehome(
        self, others: Sequence[Subscription], *, cities: Sequence[str], topics: Sequence[str]
    ) -> Subscription | None:
        """After an unsubscribe: another subscription of the destination that still wants it."""
        for sub in sorted(others, key=lambda s: s.id):
            if wants(sub.city, sub.topics, cities, topics):
                return sub
        return None

    def edit_since(self, now: float) -> float:
        """Alerts sent at or after this moment are edited when the story gains an outlet."""
        return now - self.edit_window
