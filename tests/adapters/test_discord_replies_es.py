"""Discord command replies in the interaction's locale (issue 13): es-ES and es-419 get the
Spanish catalogue's confirmations and refusals; en-US keeps the English wording (the other
cog tests assert it). Through the real CommandTree, a real store, real HTTP to the fake API."""

from __future__ import annotations

from typing import Any

import pytest

from bot.adapters.discordbot.client import CivicBot
from bot.store import Store
from tests.adapters.conftest import (
    ALERTS,
    MEMBER_PERMS,
    NO_EMBEDS,
    article,
    chan,
    guild_subscriptions,
    interaction_payload,
    invoke,
    option,
    pause,
    seed_articles,
)
from tests.adapters.fakeapi import FakeDiscordAPI


def spanish(payload: dict[str, Any], locale: str = "es-ES") -> dict[str, Any]:
    """The person's Discord language is Spanish; the server's stays en-US."""
    payload["locale"] = locale
    return payload


def last_text(api: FakeDiscordAPI) -> str:
    reply = api.interaction_replies()[-1]
    parts = [reply.get("content") or ""]
    for embed in reply.get("embeds") or []:
        parts += [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text", "")]
    return "\n".join(parts)


async def seed(store: Store, n: int) -> None:
    await seed_articles(store, [article(i, f"ICE raid {i} in Pilsen", hours_ago=i) for i in range(1, n + 1)])


@pytest.mark.parametrize("locale", ["es-ES", "es-419"])
async def test_subscribe_and_unsubscribe_confirm_in_spanish(
    bot: CivicBot, api: FakeDiscordAPI, store: Store, locale: str
) -> None:
    await seed(store, 2)
    await invoke(bot, spanish(interaction_payload("subscribe", [option("city", "chicago-il")]), locale))
    text = last_text(api)
    assert text.startswith("✅ <#10> recibirá alertas de **Chicago, IL**"), text
    # the server's locale (en-US) is the alerts' default; the reply says so in Spanish
    assert "Las alertas estarán en inglés." in text
    assert "Las 2 noticias más recientes van en camino como resumen." in text
    await invoke(bot, spanish(interaction_payload("unsubscribe", [option("city", "chicago-il")]), locale))
    assert last_text(api) == "Listo: <#10> ya no recibe alertas de **Chicago, IL**."
    await invoke(bot, spanish(interaction_payload("unsubscribe", [option("city", "chicago-il")]), locale))
    assert last_text(api) == "<#10> no estaba suscrito a **Chicago, IL**: nada que quitar."


async def test_subscribe_language_es_and_the_english_wording_for_english(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(bot, spanish(interaction_payload("subscribe", [option("city", "chicago-il"), option("language", "es")])))
    text = last_text(api)
    assert text.startswith("✅ <#10> recibirá alertas de **Chicago, IL**") and "en español" in text, text
    assert "Las alertas estarán" not in text  # the reply's language is the alerts' language
    [sub] = await guild_subscriptions(store)
    assert sub.lang == "es"
    # an English reader updating it: English words, and the subscription keeps its Spanish
    await invoke(bot, interaction_payload("subscribe", [option("city", "chicago-il")]))
    assert last_text(api).startswith("✅ <#10> will get alerts for **Chicago, IL** (")
    assert "The alerts will be in Spanish." in last_text(api)
    await invoke(bot, interaction_payload("subscribe", [option("city", "los-angeles-ca")]))
    assert last_text(api).startswith("✅ <#10> will get alerts for **Los Angeles, CA** (")
    assert "The alerts will be" not in last_text(api)  # English wording unchanged for English
    assert sorted(s.lang for s in await guild_subscriptions(store)) == ["en", "es"]


async def test_refusals_in_spanish(bot: CivicBot, api: FakeDiscordAPI, store: Store) -> None:
    await invoke(bot, spanish(interaction_payload("subscribe", [option("city", "chicago-il")], user_perms=MEMBER_PERMS)))
    assert last_text(api).startswith("Necesitas el permiso **"), last_text(api)
    await invoke(bot, spanish(interaction_payload("subscribe", [option("city", "Atlantis, ZZ")])))
    assert last_text(api).startswith("No conozco la ciudad"), last_text(api)
    await invoke(bot, spanish(interaction_payload("rules", [option("subscription", 999, 4)])))
    assert last_text(api) == "No hay ninguna suscripción #999 en este servidor (ver /subscriptions)."
    assert await guild_subscriptions(store) == []


async def test_subscriptions_status_search_and_latest_in_spanish(
    bot: CivicBot, api: FakeDiscordAPI, store: Store
) -> None:
    await invoke(bot, spanish(interaction_payload("subscriptions"), "es-419"))
    assert last_text(api) == "Este servidor aún no tiene suscripciones. Usa `/subscribe` para agregar una."
    await store.subscribe(chan(ALERTS), "chicago-il", ("immigration-enforcement",), lang="es")
    await store.subscribe(chan(NO_EMBEDS), "los-angeles-ca", ("national-guard",))
    await pause(store, NO_EMBEDS, "missing Embed Links")
    await seed(store, 2)
    await invoke(bot, spanish(interaction_payload("subscriptions")))
    text = last_text(api)
    assert "Suscripciones (2)" in text and "✅ activa · español" in text and "⏸ en pausa — missing Embed Links" in text
    await invoke(bot, spanish(interaction_payload("status")))
    text = last_text(api)
    assert "**Fuentes consultadas:**" in text and "**Alertas en espera de publicarse:** 2" in text
    assert "**Suscripciones de este servidor (2):**" in text
    assert api.interaction_replies()[-1]["embeds"][0]["title"] == "Estado"
    await invoke(bot, spanish(interaction_payload("search", [option("query", "zzzzqqq")])))
    assert "Búsqueda: zzzzqqq" in last_text(api) and "Ninguna noticia coincide." in last_text(api)
    await invoke(bot, spanish(interaction_payload("search", [option("query", "ICE"), option("days", 7, 4)])))
    assert "Resultados 1–2 · página 1 · últimos 7 días" in last_text(api), last_text(api)
    await invoke(bot, spanish(interaction_payload("latest", [option("city", "chicago-il")])))
    assert api.interaction_replies()[-1]["embeds"][0]["title"] == "Lo último: Chicago, IL"
    await invoke(bot, spanish(interaction_payload("latest", [option("city", "boston-ma")])))
    assert "Aún no hay noticias." in last_text(api)
    # English readers keep the English words
    await invoke(bot, interaction_payload("status"))
    assert api.interaction_replies()[-1]["embeds"][0]["title"] == "Status"
    assert "**Feeds polled:**" in last_text(api) and "✅ active · Spanish" in last_text(api)


def feed_cmd(sub: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return interaction_payload("feeds", [{"name": sub, "type": 1, "options": options}])


async def test_feeds_rules_status_and_topics_in_spanish(bot: CivicBot, api: FakeDiscordAPI, store: Store) -> None:
    """Issue 13 item 3: /feeds list|remove, /rules lines, /status's "last poll" and feed
    kinds, and the topic labels of /subscriptions follow the reader's language; English
    readers keep the English words."""
    await invoke(bot, spanish(feed_cmd("list", [])))
    assert last_text(api) == "Este servidor no ha agregado fuentes. Usa `/feeds add url:` para agregar una."
    await invoke(bot, feed_cmd("list", []))
    assert last_text(api) == "This server hasn't added feeds. Use `/feeds add url:` to add one."
    await invoke(bot, spanish(feed_cmd("remove", [option("url", "https://example.org/rss")])))
    assert last_text(api) == "Este servidor no tiene esa fuente (consulta `/feeds list`)."
    await invoke(bot, feed_cmd("remove", [option("url", "https://example.org/rss")]))
    assert last_text(api) == "This server has no such feed (see `/feeds list`)."

    sub = await store.subscribe(chan(ALERTS), "chicago-il", ("immigration-enforcement",))
    await invoke(bot, spanish(interaction_payload(
        "rules", [option("subscription", sub.id, 4), option("digest", "daily@08:00"), option("include", "redada")]
    )))
    text = last_text(api)
    assert "• incluir: redada" in text and "• resumen: diario a las 08:00" in text and "• zona horaria: UTC" in text, text
    await invoke(bot, interaction_payload("rules", [option("subscription", sub.id, 4)]))
    text = last_text(api)
    assert "• include: redada" in text and "• digest: daily@08:00" in text and "• time zone: UTC" in text, text

    await invoke(bot, spanish(interaction_payload("subscriptions")))
    text = last_text(api)
    assert "· Control migratorio ·" in text and "incluir: redada" in text, text
    await invoke(bot, spanish(interaction_payload("status")))
    text = last_text(api)
    assert "**Última consulta:** nunca" in text or "**Última consulta:** hace" in text, text
    await invoke(bot, interaction_payload("subscriptions"))
    assert "· Immigration enforcement ·" in last_text(api) and "include: redada" in last_text(api)


def test_a_mention_rule_shows_the_role_in_each_language() -> None:
    from bot.adapters.discordbot.cogs.subscriptions import rule_text
    from bot.messages import messages
    from bot.rules import parse_rules

    rules = parse_rules(mention="123", mention_when="here")
    es, en = messages("es"), messages("en")
    assert [rule_text(line, es) for line in rules.describe(es)] == ["mencionar: <@&123> cuando here"]
    assert [rule_text(line, en) for line in rules.describe(en)] == ["mention: <@&123> when here"]
    assert rule_text(rules.describe()[0]) == "mention: <@&123> when here"
