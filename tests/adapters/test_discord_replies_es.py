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
