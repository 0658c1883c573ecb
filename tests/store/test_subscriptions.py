"""Subscriptions (upsert, unsubscribe, pause/resume, removal) and the outbox state machine."""

from __future__ import annotations

from pathlib import Path

from bot.store import Store
from tests.store.helpers import (
    CHI,
    CICERO,
    GUARD,
    IMM,
    SANCT,
    Clock,
    article,
    ch,
    channel_log,
    dest,
    dest_id,
    match,
    raw_rows,
    save,
)


async def test_subscribe_is_an_upsert(store: Store) -> None:
    first = await store.subscribe(dest(1, 100), CHI, [IMM])
    assert (int(first.destination.group), ch(first), first.city, first.topics, first.paused) == (1, 100, CHI, (IMM,), False)
    assert first.created is not None
    second = await store.subscribe(dest(1, 100), CHI, [GUARD, SANCT])
    assert second.id == first.id and second.topics == (GUARD, SANCT)
    other_city = await store.subscribe(dest(1, 100), CICERO, [IMM])
    assert other_city.id != first.id
    await store.subscribe(dest(2, 300), CHI, [IMM])
    assert [s.city for s in await store.subscriptions(address="100")] == [CHI, CICERO]
    assert [ch(s) for s in await store.subscriptions(group="2")] == [300]
    assert len(await store.subscriptions()) == 3


async def test_resubscribe_lifts_a_pause(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    assert await store.pause_destination(await dest_id(store, 100), "missing Embed Links") is True
    (sub,) = await store.subscriptions(address="100")
    assert sub.paused and sub.pause_reason == "missing Embed Links"
    await store.subscribe(dest(1, 100), CHI, [IMM])
    (sub,) = await store.subscriptions(address="100")
    assert not sub.paused and sub.pause_reason is None
    assert await store.pause_destination(await dest_id(store, 100), "again") is True  # notify again after a new pause


async def test_unsubscribe_removes_pending_deliveries_only(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await store.subscribe(dest(1, 200), CHI, [IMM])
    await save(store, "f", [(article("ICE story one"), match()), (article("Troops story two"), match())])
    alerts = await store.due_alerts()
    sent = next(a for a in alerts if ch(a) == 100)
    await store.mark_sending([sent.delivery_id], "n")
    await store.mark_sent([sent.delivery_id], "42")
    assert await store.unsubscribe(dest(1, 100), CICERO) is False
    assert await store.unsubscribe(dest(2, 100), CHI) is False  # another server cannot remove it
    assert await store.unsubscribe(dest(1, 100), CHI) is True
    assert await store.unsubscribe(dest(1, 100), CHI) is False
    assert {ch(a) for a in await store.due_alerts()} == {200}
    log = await channel_log(store, 100)
    assert log == [(sent.story.id, 100, "sent", 42)]  # history of what was sent is kept
    assert [ch(s) for s in await store.subscriptions()] == [200]


async def test_pause_notifies_once_and_holds_deliveries(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await store.subscribe(dest(1, 100), CICERO, [IMM])
    await store.subscribe(dest(1, 200), CHI, [IMM])
    await save(store, "f", [(article("ICE story"), match((IMM,), (CHI, CICERO)))])
    assert await store.pause_destination(await dest_id(store, 100), "403") is True
    assert await store.pause_destination(await dest_id(store, 100), "403 again") is False
    assert await store.pause_destination(await dest_id(store, 100), "and again") is False
    assert await store.pause_destination(99999, "no such destination") is False
    assert all(s.paused for s in await store.subscriptions(address="100"))
    assert [ch(a) for a in await store.due_alerts()] == [200]  # kept, but waiting
    assert len(await channel_log(store, 100)) == 1


async def test_resume_channel_reenables_and_makes_rows_due(store: Store, clock: Clock) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await save(store, "f", [(article("ICE story"), match())])
    (alert,) = await store.due_alerts()
    await store.mark_sending([alert.delivery_id], "n")
    await store.mark_retry([alert.delivery_id], at=clock.time() + 900, error="403")
    await store.pause_destination(await dest_id(store, 100), "403")
    assert await store.due_alerts() == []
    assert await store.resume_destination(await dest_id(store, 100)) == 1
    assert await store.resume_destination(await dest_id(store, 100)) == 0  # nothing paused any more
    (again,) = await store.due_alerts()  # due now, not in 900 s
    assert again.delivery_id == alert.delivery_id
    assert await store.pause_destination(await dest_id(store, 100), "403") is True  # the next pause is announced again


async def test_remove_channel_and_guild(store: Store, db_path: Path) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await store.subscribe(dest(1, 100), CICERO, [IMM])
    await store.subscribe(dest(1, 101), CHI, [IMM])
    await store.subscribe(dest(2, 200), CHI, [IMM])
    await store.add_guild_feed("1", "https://one.example/rss", "One")
    await store.add_guild_feed("2", "https://two.example/rss", "Two")
    await save(store, "f", [(article("ICE story"), match()), (article("Guard story"), match())])
    sent = [a for a in await store.due_alerts() if ch(a) == 101][:1]
    await store.mark_sending([sent[0].delivery_id], "n")
    await store.mark_sent([sent[0].delivery_id], "7")
    assert await store.remove_destination(await dest_id(store, 100)) == 2
    assert await store.remove_destination(await dest_id(store, 100)) == 0
    assert {ch(a) for a in await store.due_alerts()} == {101, 200}
    assert await store.remove_group("discord", str(1)) == 1
    assert {ch(a) for a in await store.due_alerts()} == {200}
    assert [int(s.destination.group) for s in await store.subscriptions()] == [2]
    assert await store.guild_feeds("1") == []
    assert [f.url for f in await store.guild_feeds("2")] == ["https://two.example/rss"]
    assert raw_rows(
        db_path,
        "SELECT d.status, d.message_ref FROM deliveries d JOIN destinations x ON x.id = d.destination_id "
        "WHERE x.address = '101'",
    ) == [("sent", "7")]


async def test_outbox_state_machine(store: Store, clock: Clock) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await save(store, "f", [(article("ICE detains baker in Pilsen"), match()), (article("Guard convoy reaches Elwood"), match())])
    alerts = await store.due_alerts()
    ids = [a.delivery_id for a in alerts]
    assert await store.queue_depth() == 2
    await store.mark_sending(ids, "ca-nonce")
    assert await store.due_alerts() == []
    assert [a.delivery_id for a in await store.sending_alerts()] == ids
    assert await store.attempts(ids) == 1
    await store.mark_retry(ids, at=clock.time() + 60, error="HTTP 503")
    assert await store.sending_alerts() == []
    assert await store.due_alerts() == []
    clock.advance(61)
    assert [a.delivery_id for a in await store.due_alerts()] == ids
    await store.mark_sending(ids, "ca-nonce")
    assert await store.attempts(ids) == 2
    await store.mark_sent(ids, "1234")
    assert await store.queue_depth() == 0
    assert [r[2:] for r in await channel_log(store)] == [("sent", 1234), ("sent", 1234)]
    # mark_sending never takes back a sent row
    await store.mark_sending(ids, "other")
    assert [r[2] for r in await channel_log(store)] == ["sent", "sent"]


async def test_due_alerts_limit_and_order(store: Store) -> None:
    await store.subscribe(dest(1, 200), CHI, [IMM])
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await save(store,
        "f",
        [(article(f"ICE story number {i} at site {i * 13}", hours_ago=10 - i), match()) for i in range(5)],
    )
    alerts = await store.due_alerts()
    # grouped by destination (in the order they were created), each in published order
    assert [ch(a) for a in alerts] == [200] * 5 + [100] * 5
    assert [a.story.title for a in alerts[5:]] == [f"ICE story number {i} at site {i * 13}" for i in range(5)]
    assert len(await store.due_alerts(limit=3)) == 3


async def test_enqueue_catchup(store: Store) -> None:
    r = await save(store, "f", [(article("Old ICE story"), match()), (article("Older guard"), match())])
    sub = await store.subscribe(dest(1, 100), CHI, [IMM])
    ids = [s.id for s in r.new_stories]
    assert await store.enqueue_catchup(sub.id, ids) == 2
    assert await store.enqueue_catchup(sub.id, ids) == 0  # never twice to one channel
    assert await store.enqueue_catchup(9999, ids) == 0
    assert sorted(a.story.id for a in await store.due_alerts()) == ids


async def test_unsubscribing_one_city_keeps_alerts_another_subscription_wants(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, [IMM])
    await store.subscribe(dest(1, 100), CICERO, [IMM])
    await store.subscribe(dest(1, 100), "berwyn-il", [GUARD])  # same channel, but not this topic
    await save(store,
        "f",
        [
            (article("ICE detains 3 on the Chicago-Cicero border"), match((IMM,), (CHI, CICERO))),
            (article("ICE detains 2 in Chicago bakery"), match((IMM,), (CHI,))),
            (article("ICE detains berwyn man"), match((IMM,), (CHI, "berwyn-il"))),
        ],
    )
    assert len(await store.due_alerts()) == 3
    assert await store.unsubscribe(dest(1, 100), CHI) is True
    # the border story is still wanted through the Cicero subscription; the others are not
    assert [a.story.title for a in await store.due_alerts()] == ["ICE detains 3 on the Chicago-Cicero border"]
    assert await store.unsubscribe(dest(1, 100), CICERO) is True
    assert await store.due_alerts() == []


async def test_wildcard_subscription_gets_every_topic_even_one_added_later(store: Store) -> None:
    """("*",) is "all topics": a topic the config gains later ("curfew") reaches it too."""
    await store.subscribe(dest(1, 100), CHI, ["*"])
    await store.subscribe(dest(1, 200), CHI, [IMM])
    await save(store,
        "f",
        [
            (article("ICE detains 2 in Chicago bakery"), match((IMM,), (CHI,))),
            (article("Chicago sets a youth curfew downtown"), match(("curfew",), (CHI,))),
        ],
    )
    due = await store.due_alerts()
    assert sorted(a.story.title for a in due if ch(a) == 100) == [
        "Chicago sets a youth curfew downtown",
        "ICE detains 2 in Chicago bakery",
    ]
    assert [a.story.title for a in due if ch(a) == 200] == ["ICE detains 2 in Chicago bakery"]


async def test_unsubscribing_keeps_alerts_a_wildcard_subscription_wants(store: Store) -> None:
    await store.subscribe(dest(1, 100), CHI, ["curfew"])
    await store.subscribe(dest(1, 100), CICERO, ["*"])
    await save(store,
        "f", [(article("Curfew on the Chicago-Cicero border"), match(("curfew",), (CHI, CICERO)))]
    )
    assert await store.unsubscribe(dest(1, 100), CHI) is True
    assert [a.story.title for a in await store.due_alerts()] == ["Curfew on the Chicago-Cicero border"]
