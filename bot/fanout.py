"""Who gets a story: the one subscription-matching rule, alert age and the edit window.

Why here and not in the store: which destinations a story reaches is product policy. The
store persists and answers queries; inside its write transaction it asks this policy which of
the candidate subscriptions want a story, so the decision is made in one place, in Python,
for every backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.models import Subscription

ALL = "*"  # a subscription's city or topics wildcard: every city / every topic, now and later

DEFAULT_ALERT_MAX_AGE = 24 * 3600.0  # older news is stored and searchable but not pushed
DEFAULT_EDIT_WINDOW = 24 * 3600.0  # a later outlet edits an alert sent within this window


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
class FanoutPolicy:
    alert_max_age: float = DEFAULT_ALERT_MAX_AGE
    edit_window: float = DEFAULT_EDIT_WINDOW

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
