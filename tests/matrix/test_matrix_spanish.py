"""Matrix in the room's language (issue 13), against a real Synapse and the real bot process:
`!alerts subscribe … lang=es` makes a Spanish room (its alerts, its help and refusals), a room
without lang= stays English, an unknown language is refused in one line, and an undated item is
alerted as "fecha desconocida" / "date unknown". The formatting of a Spanish digest and thread
update is checked directly on the content the sink sends."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from bot.adapters.matrix import format as fmt
from bot.messages import messages
from bot.models import Story
from tests.matrix.conftest import POLL_WAIT, World, db_rows, make_world
from tests.matrix_standin.synapse import Synapse, invite_and_join, wait_for

SPANISH_TOPIC = "Control migratorio"


def story(sid: int, outlets: tuple[str, ...] = ("Tribune",), known: bool = True) -> Story:
    return Story(
        id=sid, title=f"ICE raid reported {sid}", url=f"https://news.example/{sid}", source=outlets[0],
        outlets=outlets, published=datetime(2026, 12, 1, 12, 30, tzinfo=UTC), topics=("immigration-enforcement",),
        cities=("chicago-il",), summary="", published_known=known,
    )


def test_spanish_digest_and_thread_update_content() -> None:
    es = messages("es")
    update = fmt.thread_update("$root", [story(1, ("Tribune", "Sun-Times"))], es)
    assert update["body"] == "Actualización: También informaron Sun-Times"
    assert fmt.thread_update("$root", [story(1, ("Tribune", "Sun-Times"))])["body"] == (
        "Update: Also reported by Sun-Times"
    )
    html = fmt.digest_html([story(2), story(3)], es)
    assert "Resumen: 2 noticias" in html and "1 medio — sin confirmar · story #2" in html
    undated = fmt.story_html(story(4, known=False), lambda c: c, lambda t: t, es)
    assert "Fuente: Tribune · fecha desconocida" in undated and "12:30" not in undated


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(synapse: Synapse, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    w = await make_world(synapse, tmp_path_factory.mktemp("matrix-es"), "es")
    try:
        yield w
    finally:
        await w.bot.stop()
        await w.feeds.close()


def force_poll(world: World) -> None:
    conn = sqlite3.connect(str(world.tmp / "matrix.sqlite3"), timeout=30)
    try:
        with conn:
            conn.execute("UPDATE feeds SET next_check = NULL")
    finally:
        conn.close()


@pytest.mark.e2e
@pytest.mark.asyncio(loop_scope="module")
async def test_a_spanish_room_and_an_english_room(world: World) -> None:
    es_room, en_room = await world.room("alertas"), await world.room("alerts")
    assert "lang= es el idioma" in await world.command(es_room, "!alerts help lang=es")
    assert "lang= is the language" in await world.command(es_room, "!alerts help")  # no subscription yet
    unknown = await world.command(es_room, "!alerts subscribe Chicago, IL lang=klingon")
    assert unknown.startswith("Sorry: Unknown language 'klingon'") and "\n" not in unknown, unknown

    reply = await world.command(es_room, "!alerts subscribe Chicago, IL lang=es")
    assert "Esta sala recibirá alertas de Chicago, IL" in reply and "en español" in reply, reply
    reply = await world.command(en_room, "!alerts subscribe Chicago, IL")
    assert "This room will get alerts for Chicago, IL" in reply, reply
    rooms = dict(db_rows(world, "SELECT d.address, s.lang FROM subscriptions s JOIN destinations d "
                                "ON d.id = s.destination_id"))
    assert rooms == {es_room: "es", en_room: "en"}

    # the room's language now answers: help, unknown commands, refusals, unknown cities
    assert "!alerts subscribe <ciudad>" in await world.command(es_room, "!alerts help")
    assert (await world.command(es_room, "!alerts frobnicate")).startswith("Comando desconocido 'frobnicate'")
    city = await world.command(es_room, "!alerts latest Chicagoo")
    assert city.startswith("Perdón: no conozco la ciudad “Chicagoo”.") and "¿Quisiste decir: Chicago, IL;" in city
    member = await world.synapse.register(f"miembro{secrets.token_hex(3)}", "member-pass-1")
    await invite_and_join(world.person, es_room, member)
    refused = await world.command(es_room, "!alerts unsubscribe Chicago, IL", who=member)
    assert refused.startswith("Solo los moderadores de la sala"), refused
    assert (await world.command(en_room, "!alerts frobnicate")).startswith("Unknown command 'frobnicate'")

    # an undated item: each room's alert in its own language, with no made-up time
    world.feeds.set_feed("/dyn/chicago.xml", title="Chicago Local", items=[{
        "title": "ICE agents detain workers at Chicago warehouse", "guid": "es-undated",
        "link": "https://drill.example/es/undated",
        "description": "Immigration agents detained workers at a Chicago warehouse.",
    }])
    force_poll(world)
    [es_alert] = await wait_for(lambda: world.alerts(es_room), "the Spanish alert", POLL_WAIT)
    [en_alert] = await wait_for(lambda: world.alerts(en_room), "the English alert", POLL_WAIT)
    es_body, en_body = es_alert["content"]["body"], en_alert["content"]["body"]
    assert "fecha desconocida" in es_body and SPANISH_TOPIC in es_body and "Fuente: Chicago Local" in es_body
    assert "fecha desconocida" in es_alert["content"]["formatted_body"]
    assert "date unknown" in en_body and "Source: Chicago Local" in en_body and "fecha" not in en_body
    assert "story #" in es_body and "story #" in en_body
    out = world.log_text()
    assert world.bot_user.token not in out and world.password not in out
