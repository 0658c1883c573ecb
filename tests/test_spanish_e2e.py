"""Issue 13 end to end: one raid, reported in Spanish and in English, is one story with one
alert per Chicago channel — in Spanish for a Spanish subscription, in English for an English
one.

Real parts only: two RSS feeds on a loopback HTTP server (the Spanish one declares
``es-419``; the English one declares nothing, so its language is detected), the real fetcher,
worker process, classifier, story assembly and SQLite store, the real actions for the
subscriptions and the real delivery worker with the console adapter writing to a buffer.
"""

from __future__ import annotations

import io
import multiprocessing
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import actions
from bot.adapters.console import ConsoleSink
from bot.delivery import DeliveryWorker
from bot.ingest.fetch import Fetcher
from bot.models import Destination, FeedConfig
from bot.poller import Poller
from bot.relevance import load_classifier
from bot.settings import Settings
from bot.store import Store
from tests.feedserver import FeedServer, rss_document
from tests.store.helpers import raw_rows


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(db_path)
    yield s
    await s.close()


def _with_language(body: bytes, tag: str) -> bytes:
    return body.replace(b"<channel>", f"<channel><language>{tag}</language>".encode(), 1)


async def test_raid_in_la_villita_and_little_village_is_one_story_alerted_in_each_language(
    store: Store, db_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    english = [
        {
            "title": "ICE agents detain 12 street vendors in Little Village",
            "link": "https://news.example/little-village-raid",
            "guid": "en-1",
            "description": "Witnesses said immigration agents arrived around 7 a.m. outside "
            "La Chiquita grocery on 26th Street in Chicago.",
            "pubDate": now - timedelta(hours=2),
        }
    ]
    spanish = [
        {
            "title": "Redada en La Villita: agentes detienen a 12 vendedores en la calle 26",
            "link": "https://laraza.example/redada-la-villita",
            "guid": "es-1",
            "description": "Testigos dicen que agentes de inmigración llegaron a las 7 de la "
            "mañana frente a la tienda La Chiquita.",
            "pubDate": now - timedelta(hours=1),
        }
    ]
    gazetteer = load_classifier().gazetteer
    es_channel = Destination(platform="console", address="canal-es", name="#alertas")
    en_channel = Destination(platform="console", address="channel-en", name="#alerts")
    await actions.subscribe(store, gazetteer, destination=es_channel, city="Chicago", lang="es", catchup_count=0)
    await actions.subscribe(store, gazetteer, destination=en_channel, city="Chicago", catchup_count=0)

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        async with FeedServer() as server:
            en_url = server.set_feed("/dyn/news.xml", items=english, title="Chicago News")
            es_url = server.set_body(
                "/dyn/laraza.xml", _with_language(rss_document("La Raza", spanish), "es-419")
            )
            feeds = [
                FeedConfig(url=en_url, name="Chicago News", city="chicago-il"),
                FeedConfig(url=es_url, name="La Raza", city="chicago-il"),
            ]
            async with Fetcher(allow_private=True) as fetcher:
                poller = Poller(store, fetcher, Settings(db_path=db_path, parse_workers=1), pool)
                await poller.poll_once(feeds)
    finally:
        pool.shutdown(wait=True)

    # both articles stored, with their languages (declared es-419 → es; detected en), in one story
    langs = dict(raw_rows(db_path, "SELECT guid, lang FROM articles"))
    assert langs == {"en-1": "en", "es-1": "es"}
    stories = raw_rows(db_path, "SELECT id, outlets, why FROM stories")
    assert len(stories) == 1, stories
    assert "La Raza" in str(stories[0][1]) and "Chicago News" in str(stories[0][1])
    assert "lang:es" in str(stories[0][2]) and "lang:en" in str(stories[0][2])

    out = io.StringIO()
    worker = DeliveryWorker(store, ConsoleSink(out=out, label=lambda c: gazetteer.city(c).label))
    sent = await worker.drain_until_idle()
    assert sent == 2
    # one alert per channel, for the one story
    rows = raw_rows(
        db_path,
        "SELECT dest.address, d.status FROM deliveries d JOIN destinations dest ON dest.id = d.destination_id",
    )
    assert sorted(rows) == [("canal-es", "sent"), ("channel-en", "sent")]

    alerts = [a for a in out.getvalue().split("\n🔔 ") if a.strip()]
    assert len(alerts) == 2, out.getvalue()
    spanish_alert = next(a for a in alerts if "Fuente:" in a)
    english_alert = next(a for a in alerts if "Source:" in a)
    # the lead is the earlier (English) report; each alert says who reported in Spanish
    assert "ICE agents detain 12 street vendors in Little Village" in english_alert
    assert "Also reported in Spanish by La Raza" in english_alert
    assert "Immigration enforcement" in english_alert and "Chicago, IL" in english_alert
    assert "También informado en español por La Raza" in spanish_alert
    assert "Control migratorio" in spanish_alert and "Coincide con:" in spanish_alert
    assert "Also reported" not in spanish_alert and "Fuente:" not in english_alert
