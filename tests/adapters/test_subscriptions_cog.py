"""/subscribe, /unsubscribe, /subscriptions through the real CommandTree and a real store.

Why through the tree: the permission check, the channel transformer and the global error
handler are where a refusal is produced; calling the callback directly would skip them.
"""

from __future__ import annotations

import discord

from bot.adapters.discordbot.client import CivicBot
from bot.store import Store
from tests.adapters.conftest import (
    ALERTS,
    BOT_PERMS,
    GUILD_ID,
    HIDDEN,
    MEMBER_PERMS,
    NO_EMBEDS,
    article,
    chan,
    channel_ids,
    channel_option,
    guild_subscriptions,
    interaction_payload,
    invoke,
    option,
    pause,
    seed_articles,
)
from tests.adapters.fakeapi import FakeDiscordAPI

EPHEMERAL = 64


def only_reply(api: FakeDiscordAPI) -> dict:
    replies = api.interaction_replies()
    assert len(replies) == 1, replies
    return replies[0]


def reply_text(reply: dict) -> str:
    parts = [reply.get("content") or ""]
    for embed in reply.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or ""]
    return "\n".join(parts)


async def seed(store: Store, n: int = 5) -> None:
    await seed_articles(store, [article(i, f"ICE raid number {i} in Pilsen", hours_ago=i) for i in range(1, n + 1)])


async def test_subscribe_saves_confirms_ephemerally_and_queues_catchup(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await seed(store, 5)
    before = await store.queue_depth()
    await invoke(bot, interaction_payload("subscribe", [option("city", "chicago-il")]))
    reply = only_reply(api)
    assert reply["flags"] & EPHEMERAL
    assert "Chicago, IL" in reply["content"] and "<#10>" in reply["content"]
    assert reply["allowed_mentions"] == {"parse": []}
    subs = await guild_subscriptions(store)
    assert [(s.destination, s.city) for s in subs] == [(chan(ALERTS), "chicago-il")]
    assert subs[0].topics == ("*",)  # all topics by default, also ones added later
    assert await store.queue_depth() - before == 3  # catch-up through the outbox, capped at 3


async def test_subscribe_with_one_topic_and_free_text_city(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(
        bot,
        interaction_payload(
            "subscribe", [option("city", "Chicago, IL"), option("topics", "national-guard")]
        ),
    )
    subs = await guild_subscriptions(store)
    assert subs[0].city == "chicago-il" and subs[0].topics == ("national-guard",)
    assert "National Guard" in only_reply(api)["content"]


async def test_member_without_manage_channels_is_refused(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(
        bot,
        interaction_payload("subscribe", [option("city", "chicago-il")], user_perms=MEMBER_PERMS),
    )
    reply = only_reply(api)
    assert reply["flags"] & EPHEMERAL
    assert "Manage Channels" in reply["content"]
    assert await guild_subscriptions(store) == []


async def test_missing_embed_links_in_current_channel_is_named(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    perms = discord.Permissions(BOT_PERMS.value)
    perms.embed_links = False
    await invoke(
        bot, interaction_payload("subscribe", [option("city", "chicago-il")], app_perms=perms)
    )
    reply = only_reply(api)
    assert reply["flags"] & EPHEMERAL
    assert "Embed Links" in reply["content"] and "Send Messages" not in reply["content"]
    assert await guild_subscriptions(store) == []


async def test_missing_permissions_in_another_channel_are_computed_from_cache(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    opt, resolved = channel_option("channel", NO_EMBEDS, "no-embeds")
    await invoke(
        bot,
        interaction_payload("subscribe", [option("city", "chicago-il"), opt], resolved=resolved),
    )
    assert "Embed Links" in only_reply(api)["content"]
    assert "<#11>" in only_reply(api)["content"]
    assert await guild_subscriptions(store) == []


async def test_hidden_channel_names_view_channel(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    opt, resolved = channel_option("channel", HIDDEN, "hidden")
    await invoke(
        bot,
        interaction_payload("subscribe", [option("city", "chicago-il"), opt], resolved=resolved),
    )
    assert "View Channel" in only_reply(api)["content"]


async def test_subscribe_to_another_channel(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    opt, resolved = channel_option("channel", ALERTS, "alerts")
    await invoke(
        bot,
        interaction_payload(
            "subscribe",
            [option("city", "chicago-il"), opt],
            channel_id=NO_EMBEDS,
            resolved=resolved,
        ),
    )
    subs = await guild_subscriptions(store)
    assert channel_ids(subs) == [ALERTS]


async def test_unknown_city_gets_its_user_message(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(bot, interaction_payload("subscribe", [option("city", "Atlantis @everyone")]))
    reply = only_reply(api)
    assert reply["flags"] & EPHEMERAL
    assert "I don't know the city" in reply["content"]
    assert reply["allowed_mentions"] == {"parse": []}


async def test_outside_a_server_is_refused(bot: CivicBot, api: FakeDiscordAPI) -> None:
    await invoke(bot, interaction_payload("subscribe", [option("city", "chicago-il")], guild=False))
    assert "only works inside a server" in only_reply(api)["content"]


async def test_city_autocomplete_returns_at_most_25_labelled_choices(
    bot: CivicBot, api: FakeDiscordAPI
) -> None:
    for text in ("", "chi", "Chicgo", "San", "x" * 100, "'; DROP TABLE--", "🚨"):
        api.requests.clear()
        await invoke(
            bot, interaction_payload("subscribe", [option("city", text, focused=True)], kind=4)
        )
        callbacks = api.callbacks()
        assert len(callbacks) == 1 and callbacks[0]["type"] == 8
        choices = callbacks[0]["data"]["choices"]
        assert len(choices) <= 25
        for choice in choices:
            assert 1 <= len(choice["name"]) <= 100 and len(choice["value"]) <= 100
        if text in ("chi", "Chicgo"):
            assert {"name": "Chicago, IL", "value": "chicago-il"} in choices


async def test_unsubscribe_and_list(bot: CivicBot, api: FakeDiscordAPI, store: Store) -> None:
    await store.subscribe(chan(ALERTS), "chicago-il", ("immigration-enforcement",))
    await store.subscribe(chan(NO_EMBEDS), "los-angeles-ca", ("national-guard",))
    await pause(store, NO_EMBEDS, "missing Embed Links")
    await invoke(bot, interaction_payload("subscriptions"))
    text = reply_text(only_reply(api))
    assert "Chicago, IL" in text and "Los Angeles, CA" in text
    assert "paused" in text and "missing Embed Links" in text

    api.requests.clear()
    await invoke(bot, interaction_payload("unsubscribe", [option("city", "chicago-il")]))
    assert "no longer gets alerts" in only_reply(api)["content"]
    assert [s.city for s in await guild_subscriptions(store)] == ["los-angeles-ca"]

    api.requests.clear()
    await invoke(bot, interaction_payload("unsubscribe", [option("city", "chicago-il")]))
    assert "wasn't subscribed" in only_reply(api)["content"]


async def test_unsubscribe_needs_manage_channels(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await store.subscribe(chan(ALERTS), "chicago-il", ("immigration-enforcement",))
    await invoke(
        bot,
        interaction_payload("unsubscribe", [option("city", "chicago-il")], user_perms=MEMBER_PERMS),
    )
    assert "Manage Channels" in only_reply(api)["content"]
    assert len(await guild_subscriptions(store)) == 1


async def test_paused_channel_resumes_when_permissions_are_fixed(
    bot: CivicBot, store: Store
) -> None:
    """A role/channel update event re-checks paused channels: fixed ones resume, others stay."""
    await store.subscribe(chan(ALERTS), "chicago-il", ("immigration-enforcement",))
    await store.subscribe(chan(NO_EMBEDS), "chicago-il", ("immigration-enforcement",))
    await pause(store, ALERTS, "missing Embed Links")
    await pause(store, NO_EMBEDS, "missing Embed Links")
    events = bot.get_cog("GuildEvents")
    guild = bot.get_guild(GUILD_ID)
    assert events is not None and guild is not None
    assert await events.resume_if_fixed(guild, None) == 1  # type: ignore[attr-defined]
    paused = {int(s.destination.address): s.paused for s in await guild_subscriptions(store)}
    assert paused == {
        ALERTS: False,
        NO_EMBEDS: True,
    }  # the bot still lacks Embed Links in #no-embeds


async def test_channel_delete_event_removes_its_subscriptions(bot: CivicBot, store: Store) -> None:
    await store.subscribe(chan(ALERTS), "chicago-il", ("immigration-enforcement",))
    await store.subscribe(chan(NO_EMBEDS), "chicago-il", ("immigration-enforcement",))
    channel = bot.get_channel(NO_EMBEDS)
    events = bot.get_cog("GuildEvents")
    await events.on_guild_channel_delete(channel)  # type: ignore[union-attr]
    assert channel_ids(await guild_subscriptions(store)) == [ALERTS]


async def test_slow_work_is_deferred_then_answered_by_follow_up(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    """Past the reply budget the bot defers (ephemeral, "thinking") and answers by follow-up."""
    bot.reply_budget = 0.0  # every piece of work counts as slow
    await invoke(bot, interaction_payload("subscribe", [option("city", "chicago-il")]))
    callbacks = api.callbacks()
    assert [c["type"] for c in callbacks] == [5] and callbacks[0]["data"]["flags"] & EPHEMERAL
    followups = api.calls("POST", r"^/webhooks/\d+/tok\d+$")
    assert len(followups) == 1 and "Chicago, IL" in followups[0].body["content"]
    assert followups[0].body["allowed_mentions"] == {"parse": []}
    assert len(await guild_subscriptions(store)) == 1


async def test_fast_work_answers_without_deferring(bot: CivicBot, api: FakeDiscordAPI) -> None:
    await invoke(bot, interaction_payload("subscriptions"))
    assert [c["type"] for c in api.callbacks()] == [4]


async def test_subscription_cap_refuses_new_but_allows_updates(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    from bot.actions import MAX_GUILD_SUBSCRIPTIONS

    cities = [c.id for c in bot.gazetteer.cities[:MAX_GUILD_SUBSCRIPTIONS]]
    for city in cities:
        await store.subscribe(chan(ALERTS), city, ("national-guard",))
    await invoke(bot, interaction_payload("subscribe", [option("city", "boise-id")]))
    assert "the limit is" in only_reply(api)["content"]
    api.requests.clear()
    await invoke(
        bot, interaction_payload("subscribe", [option("city", cities[0])])
    )  # an update is fine
    assert "will get alerts" in only_reply(api)["content"]
    assert len(await guild_subscriptions(store)) == MAX_GUILD_SUBSCRIPTIONS


async def test_resubscribing_a_paused_channel_resumes_its_held_alerts(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await seed(store, 2)
    await invoke(
        bot, interaction_payload("subscribe", [option("city", "chicago-il")])
    )  # 2 catch-up rows
    held = [a.delivery_id for a in await store.due_alerts()]
    assert len(held) == 2
    await pause(store, ALERTS, "forbidden: missing Embed Links")
    await store.mark_retry(held, at=store.clock.now() + 900, error="403")  # what the worker does on 403
    assert await store.due_alerts() == []

    wakes = bot.app.wakes  # type: ignore[union-attr]
    await invoke(
        bot, interaction_payload("subscribe", [option("city", "chicago-il")])
    )  # perms fixed
    assert not (await guild_subscriptions(store))[0].paused
    assert bot.app.wakes > wakes  # type: ignore[union-attr]  # the worker is told: no wait for the interval
    assert sorted(a.delivery_id for a in await store.due_alerts()) == sorted(
        held
    )  # due now, not in 15 min
