"""Slack in the subscription's language (issue 13): alerts, digests and "also reported by"
updates through the real slack_sdk client against the stand-in, and `/civic` help, refusals and
`subscribe … lang=es` through the real bot process (test_slack_spanish_e2e.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.adapters.slack.sink import SlackSink, destination
from bot.models import Alert, Story
from tests.slack_standin import BOT_TOKEN, BOT_USER, TEAM_ID, SlackStandIn

SPANISH_TOPIC = "Control migratorio"  # config/messages/es.toml's label of immigration-enforcement


def story(sid: int, *, known: bool = True, outlets: tuple[str, ...] = ("Tribune",)) -> Story:
    return Story(
        id=sid, title=f"ICE raid reported {sid}", url=f"https://news.example/{sid}", source=outlets[0],
        outlets=outlets, published=datetime(2026, 12, 1, 12, 30, tzinfo=UTC), topics=("immigration-enforcement",),
        cities=("chicago-il",), summary="Agents were seen near a school.", published_known=known,
    )


def alert(sid: int, channel: str, **kw: Any) -> Alert:
    return Alert(delivery_id=100 + sid, destination_id=1, destination=destination(TEAM_ID, channel),
                 story=kw.pop("story", None) or story(sid), **kw)


def sink_for(standin: SlackStandIn) -> SlackSink:
    return SlackSink(AsyncWebClient(token=BOT_TOKEN, base_url=standin.api_base), bot_user_id=BOT_USER)


async def test_a_spanish_alert_is_in_spanish_and_an_english_one_in_english(standin: SlackStandIn) -> None:
    es, en = standin.add_channel("alertas"), standin.add_channel("alerts")
    sink = sink_for(standin)
    two = ("Tribune", "Sun-Times")
    await sink.send(destination(TEAM_ID, es.id), [alert(1, es.id, lang="es", story=story(1, outlets=two))], "k1")
    await sink.send(destination(TEAM_ID, en.id), [alert(1, en.id, story=story(1, outlets=two))], "k2")
    es_text, en_text = str(es.messages[0]["blocks"]), str(en.messages[0]["blocks"])
    assert SPANISH_TOPIC in es_text and "También informaron Sun-Times" in es_text and "2 medios" in es_text
    assert "Coincide con" in es_text and "Also reported" not in es_text
    assert "Immigration" in en_text and "Also reported by Sun-Times" in en_text and "2 outlets" in en_text
    assert "2026-12-01 12:30 UTC" in es_text and "2026-12-01 12:30 UTC" in en_text
    for text in (es_text, en_text):  # crash reconciliation reads it in every language
        assert "story #1" in text
    assert es.messages[0]["text"].endswith("2 medios")
    assert standin.violations == []


async def test_an_undated_story_says_date_unknown_in_each_language(standin: SlackStandIn) -> None:
    es, en = standin.add_channel("alertas"), standin.add_channel("alerts")
    sink = sink_for(standin)
    await sink.send(destination(TEAM_ID, es.id), [alert(2, es.id, lang="es", story=story(2, known=False))], "k1")
    await sink.send(destination(TEAM_ID, en.id), [alert(2, en.id, story=story(2, known=False))], "k2")
    es_text, en_text = str(es.messages[0]["blocks"]), str(en.messages[0]["blocks"])
    assert "fecha desconocida" in es_text and "12:30" not in es_text
    assert "date unknown" in en_text and "12:30" not in en_text
    assert await sink.find_sent(destination(TEAM_ID, es.id), [2]) == {2: es.messages[0]["ts"]}


async def test_a_spanish_digest_and_thread_update(standin: SlackStandIn) -> None:
    channel = standin.add_channel("alertas")
    sink = sink_for(standin)
    dest = destination(TEAM_ID, channel.id)
    await sink.send(dest, [alert(3, channel.id, lang="es", digest=True), alert(4, channel.id, lang="es", digest=True)],
                    "k1")
    digest = channel.messages[0]
    assert "Resumen: 2 noticias" in str(digest["blocks"]) and digest["text"] == "Resumen: 2 noticias"
    ts = await sink.send(dest, [alert(5, channel.id, lang="es", thread=True)], "k2")
    more = story(5, outlets=("Tribune", "Sun-Times"))
    await sink.edit(dest, ts, [alert(5, channel.id, lang="es", story=more, kind="edit", message_ref=ts, thread=True)])
    [reply] = channel.replies(ts)
    assert reply["text"] == "También informaron Sun-Times"
    assert standin.violations == []
