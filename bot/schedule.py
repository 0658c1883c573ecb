"""When held alerts go out: digest boundaries and the end of quiet hours, in a subscription's zone.

Why computed from the zone's calendar and not by adding 24 h: across a daylight-saving change
a day is 23 or 25 hours long, so "every 24 h from the last digest" drifts an hour off 08:00 twice
a year. Each boundary is the next local wall-clock time turned into UTC by `zoneinfo`, so a
daily digest happens exactly once per local date. Hourly digests use the instants where the
local minute is :00 (real elapsed hours), so the repeated hour of a fall-back still gets its own
digest and none is skipped in spring.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.rules import Digest, Quiet, Rules


@functools.lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _local_minute(at: float, tz: ZoneInfo) -> int:
    local = datetime.fromtimestamp(at, tz)
    return local.hour * 60 + local.minute


def _wall(day: datetime, minute: int, tz: ZoneInfo) -> float:
    """Local date `day` at `minute` after midnight, as epoch seconds (fold=0 in a repeat; a time
    in a spring-forward gap resolves to the instant an hour later, still that date)."""
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=tz)
    return local.astimezone(UTC).timestamp()


def next_digest(digest: Digest, tz_name: str, after: float) -> float:
    """The first digest boundary strictly after `after` (epoch seconds)."""
    tz = zone(tz_name)
    if digest.every == "hourly":
        t = (int(after) // 900 + 1) * 900  # every zone's offset is a multiple of 15 minutes
        while datetime.fromtimestamp(t, tz).minute != 0:
            t += 900
        return float(t)
    today = datetime.fromtimestamp(after, tz)
    for days in range(-1, 3):
        candidate = _wall(today + timedelta(days=days), digest.minute, tz)
        if candidate > after:
            return candidate
    raise AssertionError("unreachable: a daily time recurs within two days")


def in_quiet(quiet: Quiet, tz_name: str, at: float) -> bool:
    return quiet.contains(_local_minute(at, zone(tz_name)))


def quiet_end(quiet: Quiet, tz_name: str, at: float) -> float:
    """The first end of quiet hours after `at`."""
    tz = zone(tz_name)
    today = datetime.fromtimestamp(at, tz)
    for days in range(0, 3):
        candidate = _wall(today + timedelta(days=days), quiet.end, tz)
        if candidate > at:
            return candidate
    raise AssertionError("unreachable")


def release_time(rules: Rules, now: float, *, urgent: bool) -> tuple[float, bool]:
    """(when the alert is due, whether it goes out as part of a digest).

    A digest subscription collects until its next boundary; a boundary (or a plain alert)
    inside quiet hours moves to the end of the quiet period, where what was held goes out as
    one digest. An urgent alert ignores quiet hours (not the digest: a digest is a choice).
    """
    due, digest = now, False
    if rules.digest is not None:
        due, digest = next_digest(rules.digest, rules.tz, now), True
    if rules.quiet is not None and not urgent and in_quiet(rules.quiet, rules.tz, due):
        due, digest = quiet_end(rules.quiet, rules.tz, due), True
    return due, digest
