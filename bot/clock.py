"""The injectable clock: store, poller and delivery ask it for "now" instead of `time.time()`.

Why: rules that depend on time (alert age, edit window, retry times, grace periods, digests)
must be testable by moving a clock, not by monkeypatching a module's `time`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to (tests, simulations)."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def set(self, when: float) -> None:
        self.t = float(when)


SYSTEM_CLOCK = SystemClock()
