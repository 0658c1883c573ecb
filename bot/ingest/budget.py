"""Per-host request budgets: at most N fetches per period to one host, spread with jitter.

Why: managed coverage feeds are many searches on one host (news.google.com). Two hundred
cities subscribed at once must not become a burst of four hundred requests; the host is
asked at an even pace it can accept, and a poll that has no slot now simply moves its
next check to the slot it will get. `RequestSchedule` hands out slots; the poller waits for
a near slot and postpones a far one. Backoff after errors is the poller's and unchanged.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True, slots=True)
class HostBudget:
    """`requests` per `per_seconds` to `host`; each slot starts up to `jitter` of a slot late."""

    host: str
    requests: int
    per_seconds: float = 60.0
    jitter: float = 0.5

    @property
    def spacing(self) -> float:
        """Seconds between two requests' starts, at least."""
        return self.per_seconds / self.requests


def host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


class RequestSchedule:
    """Slots per budgeted host. Consecutive slots are at least `spacing` apart (jitter only
    ever adds), so no window of `per_seconds` holds more than `requests` starts."""

    def __init__(
        self, budgets: Iterable[HostBudget], *, clock: Clock = SYSTEM_CLOCK, rng: random.Random | None = None
    ) -> None:
        self.budgets = {b.host.lower(): b for b in budgets}
        self.clock = clock
        self._rng = rng or random.Random()
        self._next_free: dict[str, float] = {}

    def budget_for(self, url: str) -> HostBudget | None:
        return self.budgets.get(host_of(url))

    def reserve(self, url: str, *, within: float) -> float | None:
        """A slot time for one request to `url`'s host if one is free within `within` seconds
        from now (the slot is taken), else None (nothing taken). Unbudgeted hosts: now."""
        now = self.clock.now()
        budget = self.budget_for(url)
        if budget is None:
            return now
        host = budget.host.lower()
        start = max(now, self._next_free.get(host, now))
        slot = start + self._rng.uniform(0.0, budget.jitter * budget.spacing)
        if slot > now + within:
            return None
        self._next_free[host] = slot + budget.spacing
        return slot

    def estimate(self, url: str, position: int) -> float:
        """When the `position`-th (0-based) request waiting beyond the free slots could go:
        the next check of a postponed feed (an estimate, nothing is taken)."""
        now = self.clock.now()
        budget = self.budget_for(url)
        if budget is None:
            return now
        start = max(now, self._next_free.get(budget.host.lower(), now))
        return start + position * budget.spacing * (1 + budget.jitter / 2)

    def spread(self, url: str, count: int, window: float) -> list[float]:
        """First-check times for `count` new feeds on `url`'s host, in order: at the budget's
        pace (as soon as it allows, never a burst), or evenly over `window` for an unbudgeted
        host; each jittered within half its share."""
        now = self.clock.now()
        budget = self.budget_for(url)
        if count <= 0:
            return []
        step = window / count if budget is None else budget.spacing * (1 + budget.jitter / 2)
        return [now + i * step + self._rng.uniform(0.0, step * 0.5) for i in range(count)]
