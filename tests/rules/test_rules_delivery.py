"""Each rule through the real store, assembly and DeliveryWorker, with an injected ManualClock.

Acceptance (issue 14): `exclude = Pilsen` gets the Little Village raid but not the Pilsen one;
`min_outlets = 2` gets the raid only after the second outlet, marked "2 outlets"; a daily digest
at 08:00 America/Chicago arrives once per local day across both DST changes of a year.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.assembly import StoryAssembler
from bot.clock import ManualClock
from bot.corroboration import load_owners
from bot.delivery import DeliveryWorker
from bot.fanout import FanoutPolicy
from bot.models import Destination
from bot.rules import parse_rules
from bot.store import Store
from tests.rules.helpers import RecordingConsole
from tests.store.helpers import CHI, IMM, article, match

CHICAGO = ZoneInfo("America/Chicago")
CONSOLE = Destination(platform="console", address="stdout", name="console")
OWNERS = Path(__file__).resolve().parents[2] / "config" / "outlets_owners.toml"
START = datetime(2025, 1, 1, 6, 0, tzinfo=UTC).timestamp()


class Rig:
    def __init__(self, store: Store, clock: ManualClock) -> None:
        self.store = store
        self.clock = clock
        self.assembler = StoryAssembler(clock)
        self.sink = RecordingConsole(clock)
        self.worker = DeliveryWorker(store, self.sink, clock=clock)
        self.n = 0

    async def report(self, title: str, source: str, summary: str = "") -> None:
        self.n += 1
        published = datetime.fromtimestamp(self.clock.now() - 60, UTC)
        item = article(title, source=source, summary=summary, published=published)
        await self.assembler.save(self.store, f"https://{source.replace(' ', '').lower()}.example/feed", [(item, match((IMM,), (CHI,)))])

    async def drain(self) -> int:
        return await self.worker.drain_until_idle()

    def titles(self) -> list[str]:
        return [a.story.title for _, alerts in self.sink.sent for a in alerts]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = ManualClock(START)
    store = await Store.open(tmp_path / "rules.sqlite3", clock=clock, fanout=FanoutPolicy(owners=load_owners(OWNERS)))
    try:
        yield Rig(store, clock)
    finally:
        await store.close()


async def subscribe(rig: Rig, **options: object) -> None:
    await rig.store.subscribe(CONSOLE, CHI, ("*",), parse_rules(**options) if options else None)  # type: ignore[arg-type]


async def test_exclude_pilsen_gets_little_village_raid_only(rig: Rig) -> None:
    await subscribe(rig, exclude="Pilsen")
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    await rig.report("Immigration agents detain 3 at Pilsen bakery", "Borderless Magazine")
    assert await rig.drain() == 1
    assert rig.titles() == ["ICE raid reported in Little Village"]


async def test_min_outlets_two_holds_until_second_outlet_then_says_two_outlets(rig: Rig) -> None:
    await subscribe(rig, min_outlets=2)
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    assert await rig.drain() == 0
    rig.clock.advance(1800)
    assert await rig.drain() == 0  # still held: one outlet is a rumour
    await rig.report("ICE raids reported in Little Village", "Chicago Sun-Times")
    assert await rig.drain() == 1
    assert rig.titles() and "Little Village" in rig.titles()[0]
    assert "2 outlets" in rig.sink.texts[0]
    assert "unconfirmed" not in rig.sink.texts[0]


async def test_same_owner_and_syndicated_copies_count_once(rig: Rig) -> None:
    await subscribe(rig, min_outlets=2)
    wire = "Federal immigration agents detained several people early Tuesday in the Little Village neighborhood, officials said."
    await rig.report("ICE raid reported in Little Village", "WGN-TV")
    await rig.report("Reported ICE raid in Little Village", "WGN 9")  # same owner
    await rig.report("ICE raid in Little Village reported", "AP via Daily Herald", summary=wire)
    await rig.report("Little Village: ICE raid reported", "AP via Patch", summary=wire)  # copy of the wire
    assert await rig.drain() == 1  # WGN (one owner) + the wire story (one text) = 2
    story = rig.sink.sent[0][1][0].story
    assert story.independent == 2 and len(story.outlets) == 4


async def test_hold_times_out_unconfirmed_or_drops(rig: Rig) -> None:
    await subscribe(rig, min_outlets=2, max_hold_hours=2)
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    rig.clock.advance(2 * 3600 + 1)
    assert await rig.drain() == 1
    assert "1 outlet — unconfirmed" in rig.sink.texts[0]


async def test_hold_drop_never_sends(rig: Rig) -> None:
    await subscribe(rig, min_outlets=2, max_hold_hours=1, on_hold_timeout="drop")
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    rig.clock.advance(3 * 3600)
    await rig.report("ICE raids reported in Little Village", "Chicago Sun-Times")
    assert await rig.drain() == 0  # corroborated only after the hold: stays unsent
    assert await rig.store.queue_depth() == 0  # a hold is not work due


async def test_the_edit_that_adds_outlets_updates_the_count(rig: Rig) -> None:
    await subscribe(rig)
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    assert await rig.drain() == 1
    assert "1 outlet — unconfirmed" in rig.sink.texts[0]
    await rig.report("ICE raids reported in Little Village", "Chicago Sun-Times")
    await rig.drain()
    edited = rig.sink.buffer.getvalue().rsplit("↻", 1)[-1]
    assert "(2 outlets)" in edited


async def test_quiet_hours_hold_then_one_digest_and_urgent_breaks_through(rig: Rig) -> None:
    # 2025-01-01 06:00 UTC is 00:00 in Chicago: inside 22:00-07:00
    await subscribe(rig, quiet="22:00-07:00", tz="America/Chicago", urgent="outlets>=2")
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    await rig.report("Guard convoy seen near Cicero Avenue on 26th", "WBEZ")
    await rig.report("ICE raids reported in Little Village", "Chicago Sun-Times")  # 2 outlets
    assert await rig.drain() == 1  # the urgent one (2 outlets) breaks quiet hours
    rig.clock.advance(7 * 3600)  # 07:00 local
    assert await rig.drain() == 1
    when, alerts = rig.sink.sent[-1]
    assert datetime.fromtimestamp(when, CHICAGO).strftime("%H:%M") == "07:00"
    assert len(rig.sink.sent) == 2 and all(a.digest for a in alerts)


async def test_hourly_digest_lists_best_first_and_empty_hours_send_nothing(rig: Rig) -> None:
    await subscribe(rig, digest="hourly", tz="America/Chicago")
    await rig.report("Guard convoy seen near Cicero Avenue on 26th", "WBEZ")
    await rig.report("ICE raid reported in Little Village", "Block Club Chicago")
    await rig.report("ICE raids reported in Little Village", "Chicago Sun-Times")
    assert await rig.drain() == 0
    rig.clock.advance(3600)
    assert await rig.drain() == 2
    assert len(rig.sink.sent) == 1
    stories = [a.story for a in rig.sink.sent[0][1]]
    assert stories[0].independent == 2  # best first
    for _ in range(5):  # nothing new: no more messages
        rig.clock.advance(3600)
        await rig.drain()
    assert len(rig.sink.sent) == 1


async def test_daily_digest_at_0800_chicago_once_per_day_for_a_year(rig: Rig) -> None:
    """A story every 5 hours, delivery every hour, for 365 days of simulated time."""
    await subscribe(rig, digest="daily@08:00", tz="America/Chicago")
    hours = 365 * 24
    for h in range(hours):
        if h % 5 == 0:
            await rig.report(f"Immigration check number {h} reported downtown", "Block Club Chicago")
        rig.clock.advance(3600)
        await rig.worker.drain_once()
    per_day = collections.Counter(datetime.fromtimestamp(t, CHICAGO).date() for t, _ in rig.sink.sent)
    local_times = {datetime.fromtimestamp(t, CHICAGO).strftime("%H:%M") for t, _ in rig.sink.sent}
    assert local_times == {"08:00"}
    assert set(per_day.values()) == {1}
    first = datetime.fromtimestamp(START, CHICAGO).date()
    days = {first + timedelta(days=i) for i in range(365)}
    assert days - set(per_day) == set(), "a local day without its digest"
    for day in ("2025-03-09", "2025-03-10", "2025-11-02", "2025-11-03"):  # both DST changes
        assert per_day[datetime.fromisoformat(day).date()] == 1
    print(f"\ndaily digest: {len(rig.sink.sent)} digests over {len(per_day)} local days, max per day {max(per_day.values())}")
