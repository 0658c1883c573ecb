"""Issue 13 item 3, the last English literals: each platform's list, rules, status, feeds and
unsubscribe replies in the reader's language — Spanish for a Spanish reader, the English
wording unchanged for an English one — and the words the core gives them (``actions.ago``,
``kinds_text``, ``Rules.describe``, ``RuleError``, the urlsafety refusal, topic labels).

A real App (store, gazetteer, classifier); each adapter's own command handler renders the
reply, for a reader as each platform knows them: Slack by ``Invocation.lang``, Telegram by the
sender's ``language_code``, Matrix by the room's Messages (the ``m`` argument). Discord's cogs
are driven through the real CommandTree in tests/adapters/test_discord_replies_es.py.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from string import Formatter
from typing import Any

import pytest
from aiogram.types import Chat, Message, User

from bot import actions
from bot.adapters.matrix.commands import Commands as MatrixCommands
from bot.adapters.matrix.commands import Parsed
from bot.adapters.slack.commands import Commands as SlackCommands
from bot.adapters.slack.commands import Invocation
from bot.adapters.slack.commands import error_text as slack_error_text
from bot.adapters.slack.sink import destination as slack_destination
from bot.adapters.telegram.commands import Commands as TelegramCommands
from bot.adapters.telegram.commands import error_text as telegram_error_text
from bot.adapters.telegram.sink import destination as telegram_destination
from bot.app import App
from bot.errors import UnsafeURLError, UserInputError
from bot.ingest.urlsafety import check_url_syntax
from bot.messages import messages
from bot.models import Destination
from bot.rules import RuleError, parse_rules
from bot.settings import Settings

CONFIG = Path(__file__).resolve().parents[2] / "config" / "messages"
ROOM = "!room:civic.test"
CHAT = 4242  # a private Telegram chat: its sender is its administrator


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def _flat(path: Path) -> dict[str, str]:
    def walk(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in d.items():
            out.update(walk(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    return walk(tomllib.loads(path.read_text(encoding="utf-8")))


def test_english_and_spanish_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, es = _flat(CONFIG / "en.toml"), _flat(CONFIG / "es.toml")
    # topic labels: topics.toml's own labels are the English ones, so only es.toml names them
    skip = ("topics.",)
    en_keys = {k for k in en if not k.startswith(skip)}
    es_keys = {k for k in es if not k.startswith(skip)}
    assert en_keys - es_keys == set(), f"es.toml lacks {sorted(en_keys - es_keys)}"
    assert es_keys - en_keys == set(), f"en.toml lacks {sorted(es_keys - en_keys)}"
    # a subscription's confirmation is given {language} everywhere: Spanish names it, English
    # (whose alerts are English by default) does not — the one field a wording may leave out
    optional = {"language"}
    differ = {
        k: (_fields(en[k]), _fields(es[k])) for k in en_keys if _fields(en[k]) - optional != _fields(es[k]) - optional
    }
    assert differ == {}, differ
    assert {k for k in en_keys if _fields(es[k]) ^ _fields(en[k])} == {
        "discord.subscribed", "matrix.subscribed", "slack.subscribed", "telegram.subscribed_chat",
        "telegram.subscribed_topic",
    }


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    opened = await App.open(Settings(db_path=tmp_path / "bot.sqlite3", parse_workers=1), sync_catalogue=False)
    try:
        yield opened
    finally:
        await opened.close()


def _telegram(lang: str, text: str = "/status") -> Message:
    return Message(
        message_id=1, date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), chat=Chat(id=CHAT, type="private"),
        from_user=User(id=7, is_bot=False, first_name="Ana", language_code=lang), text=text,
    )


async def _power(room_id: str, user_id: str) -> int:
    return 100


RULES = parse_rules(include="redada", min_outlets="2", digest="daily@08:00", tz="America/Chicago")


async def _subscribe(app: App, dest: Destination) -> int:
    result = await actions.subscribe(
        app.store, app.gazetteer, destination=dest, city="Chicago, IL", topics="immigration-enforcement",
        catalog=app.classifier.topics, rules=RULES,
    )
    return result.subscription.id


async def test_slack_replies_in_the_readers_language(app: App) -> None:
    slack = SlackCommands(app, None)  # type: ignore[arg-type]  # a DM channel: no Slack call is made
    es, en = Invocation("T1", "D1", "U1", lang="es"), Invocation("T1", "D1", "U1", lang="en")
    assert (await slack.cmd_list(es, [], {})).text.startswith("Este espacio de trabajo aún no tiene suscripciones")
    assert (await slack.cmd_list(en, [], {})).text == (
        "This workspace has no subscriptions yet (`/civic subscribe Chicago, IL`)."
    )
    assert (await slack.cmd_feeds(es, ["list"], {})).text.startswith("Este espacio de trabajo no ha agregado fuentes")
    assert (await slack.cmd_feeds(en, ["list"], {})).text == "This workspace has added no feeds (`/civic feeds add <url>`)."
    assert (await slack.cmd_feeds(es, ["remove", "https://example.org/rss"], {})).text == (
        "Este espacio de trabajo no tiene esa fuente."
    )
    assert (await slack.cmd_feeds(en, ["remove", "https://example.org/rss"], {})).text == "This workspace has no such feed."

    sid = await _subscribe(app, slack_destination("T1", "D1", None))
    listed = (await slack.cmd_list(es, [], {})).text
    assert listed.startswith("*Suscripciones de este espacio de trabajo:*"), listed
    assert "(Control migratorio)" in listed, listed
    english = (await slack.cmd_list(en, [], {})).text
    assert english.startswith("*Subscriptions in this workspace:*") and "(Immigration enforcement)" in english

    rules = (await slack.cmd_rules(es, [str(sid)], {"threads": "on"})).text
    assert rules.splitlines()[0] == f"Reglas de la suscripción #{sid}:", rules
    assert "• incluir: redada" in rules and "• resumen: diario a las 08:00" in rules
    assert "• zona horaria: America/Chicago" in rules and "• hilos: sí" in rules
    rules_en = (await slack.cmd_rules(en, [str(sid)], {"threads": "on"})).text
    assert rules_en.splitlines()[0] == f"Subscription #{sid} rules:" and "• digest: daily@08:00" in rules_en
    assert "• min outlets: 2 (hold ≤ 6 h, then sent unconfirmed)" in rules_en

    status = (await slack.cmd_status(es, [], {})).text
    assert "*Fuentes consultadas:*" in status and "*Última consulta:* nunca" in status, status
    assert "*Alertas en espera:*" in status and "*Suscripciones aquí:* 1" in status
    status_en = (await slack.cmd_status(en, [], {})).text
    assert "*Feeds polled:*" in status_en and "*Last poll:* never" in status_en and "*Subscriptions here:* 1" in status_en

    # a refusal of bad rule syntax: each of the 24 RuleErrors carries its catalogue entry
    with pytest.raises(RuleError) as bad:
        parse_rules(digest="weekly")
    assert slack_error_text(bad.value, messages("es")).startswith("resumen (digest): 'weekly' — usa hourly o daily@HH:MM")
    assert slack_error_text(bad.value, messages("en")) == bad.value.user_message

    # a destination the delivery worker paused: its own words in the reader's language, the
    # platform's error as the platform gave it
    dest_id = await app.store.destination_id(slack_destination("T1", "D1", None))
    assert dest_id is not None
    await app.store.pause_destination(dest_id, "paused after 8 failed attempts; last error: Slack says fatal_error")
    paused = (await slack.cmd_status(es, [], {})).text
    assert paused.endswith(" — en pausa tras 8 intentos fallidos; último error: Slack says fatal_error"), paused
    assert "\n• en pausa: " in paused, paused
    paused_en = (await slack.cmd_status(en, [], {})).text
    assert paused_en.endswith(" — paused after 8 failed attempts; last error: Slack says fatal_error"), paused_en
    assert "\n• paused: " in paused_en, paused_en
    assert "(Control migratorio) — *en pausa*" in (await slack.cmd_list(es, [], {})).text

    unsub = (await slack.cmd_unsubscribe(es, ["Chicago,", "IL"], {})).text
    assert unsub == "Este canal ya no recibe alertas de *Chicago, IL*.", unsub


async def test_telegram_replies_in_the_senders_language(app: App) -> None:
    tg: Any = TelegramCommands(None, app, "bot")  # type: ignore[arg-type]  # handlers only return text
    es, en = _telegram("es"), _telegram("en")
    assert (await tg.subscriptions(es, "")).startswith("Este chat aún no sigue ninguna ciudad.")
    assert await tg.subscriptions(en, "") == (
        "This chat follows no city yet. An administrator can run /subscribe <i>city</i>."
    )
    assert (await tg.feeds(es, "list")).startswith("Este chat no tiene fuentes propias.")
    assert (await tg.feeds(en, "list")).startswith("This chat has no feeds of its own.")
    assert await tg.feeds(es, "remove https://example.org/rss") == "Este chat no tiene esa fuente (consulta /feeds list)."
    assert await tg.feeds(en, "remove https://example.org/rss") == "This chat has no such feed (see /feeds list)."
    assert await tg.unsubscribe(es, "Chicago, IL") == "Este chat no estaba suscrito a <b>Chicago, IL</b>."
    assert await tg.unsubscribe(en, "Chicago, IL") == "This chat was not subscribed to <b>Chicago, IL</b>."

    sid = await _subscribe(app, telegram_destination(CHAT, None))
    listed = await tg.subscriptions(es, "")
    assert listed.startswith("<b>Suscripciones de este chat</b>") and "Control migratorio" in listed, listed
    assert "incluir: redada" in listed and "mínimo de medios: 2" in listed
    assert "Immigration enforcement" in await tg.subscriptions(en, "")
    saved = await tg.rules(es, f"{sid} quiet=22:00-07:00")
    assert saved.startswith(f"Se guardaron las reglas de la suscripción #{sid}."), saved
    assert "• horas de silencio: 22:00-07:00" in saved
    saved_en = await tg.rules(en, f"{sid} quiet=22:00-07:00")
    assert saved_en.startswith(f"Rules of subscription #{sid} saved.") and "• quiet: 22:00-07:00" in saved_en

    status = await tg.status(es, "")
    assert status.startswith("<b>Estado</b>\nFuentes: ") and "Última consulta: nunca" in status, status
    assert "Suscripciones aquí: 1" in status
    status_en = await tg.status(en, "")
    assert status_en.startswith("<b>Status</b>\nFeeds: ") and "Last poll: never · queued alerts:" in status_en

    assert await tg.unsubscribe(es, "Chicago, IL") == "Este chat ya no está suscrito a <b>Chicago, IL</b>."

    # the unknown-topic refusal lists the topics in the reader's language
    with pytest.raises(UserInputError) as topic:
        actions.parse_topics("weather", app.classifier.topics)
    said = telegram_error_text(topic.value, messages("es"))
    assert "Control migratorio" in said and "Immigration enforcement" not in said, said
    assert telegram_error_text(topic.value, messages("en")) == topic.value.user_message


async def test_matrix_replies_in_the_rooms_language(app: App) -> None:
    matrix = MatrixCommands(app, _power)
    es, en = messages("es"), messages("en")

    async def cmd(name: str, m: Any, *words: str, **options: str) -> str:
        handler = getattr(matrix, f"cmd_{name}")
        return str(await handler(ROOM, Parsed(name, words, options), m))

    assert await cmd("list", es) == "Esta sala no tiene suscripciones. !alerts subscribe <ciudad> agrega una."
    assert await cmd("list", en) == "This room has no subscriptions. !alerts subscribe <city> adds one."
    assert await cmd("feeds", es, "list") == "Esta sala no ha agregado fuentes. !alerts feeds add <url> agrega una."
    assert await cmd("feeds", en, "list") == "This room has added no feeds. !alerts feeds add <url> adds one."
    assert await cmd("feeds", es, "remove", "https://example.org/rss") == "Esta sala no tiene esa fuente."
    assert await cmd("feeds", en, "remove", "https://example.org/rss") == "This room has no such feed."

    sid = await _subscribe(app, Destination("matrix", ROOM, ROOM))
    listed = await cmd("list", es)
    assert listed.startswith("Suscripciones de esta sala:\n") and "(Control migratorio)" in listed, listed
    assert "    excluir: " not in listed and "    incluir: redada" in listed
    assert "(Immigration enforcement)" in await cmd("list", en)
    assert await cmd("rules", es, str(sid), include="none", min_outlets="1", digest="none", tz="") == (
        f"Reglas de la suscripción #{sid}: las predeterminadas"
    )
    assert await cmd("rules", en, str(sid)) == f"Subscription #{sid} rules: defaults"
    status = await cmd("status", es)
    assert status.startswith("Fuentes: ") and "última consulta nunca" in status and "Suscripciones aquí: 1." in status
    status_en = await cmd("status", en)
    assert status_en.startswith("Feeds: ") and "last poll never" in status_en and "Subscriptions here: 1." in status_en


def test_core_words_in_each_language() -> None:
    now = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    es, en = messages("es"), messages("en")
    assert actions.ago(None) == "never" and actions.ago(None, msgs=es) == "nunca"
    assert actions.ago(now - dt.timedelta(seconds=5), now=now) == "5 s ago"
    assert actions.ago(now - dt.timedelta(seconds=5), now=now, msgs=es) == "hace 5 s"
    assert actions.ago(now - dt.timedelta(hours=3), now=now, msgs=es) == "hace 3 h"
    report = actions.StatusReport(
        feeds_total=20, feeds_failing=(), feeds_disabled=0, last_cycle=None, queue_depth=0, subscriptions=(),
        feed_kinds=(("catalog", 12), ("server", 2), ("managed", 6)), managed_cities=3,
    )
    assert actions.kinds_text(report) == "12 catalog, 2 server, 6 managed (3 cities)"
    assert actions.kinds_text(report, es) == "12 del catálogo, 2 del servidor, 6 administradas (3 ciudades)"
    assert actions.topics_text(("*",), None, es) == "todos los temas" and actions.topics_text(("*",)) == "all topics"
    rules = parse_rules(mention="@room", mention_when="topic:national-guard here", quiet="22:00-07:00",
                        urgent="outlets>=3", on_hold_timeout="drop", min_outlets="3")
    assert rules.describe() == [
        "min outlets: 3 (hold ≤ 6 h, else never sent)", "mention: @room when topic:national-guard here",
        "quiet: 22:00-07:00 (urgent: outlets>=3)", "time zone: UTC",
    ]
    assert rules.describe(es) == [
        "mínimo de medios: 3 (espera ≤ 6 h; si no, nunca se envía)",
        "mencionar: @room cuando topic:national-guard here",
        "horas de silencio: 22:00-07:00 (urgente: outlets>=3)", "zona horaria: UTC",
    ]
    assert actions.pause_reason_text(None, es) == ""
    assert actions.pause_reason_text("channel 1: forbidden (missing Embed Links)", es) == (
        "channel 1: forbidden (missing Embed Links)"
    )
    assert actions.pause_reason_text("paused after 3 failed attempts; last error: HTTP 500", es) == (
        "en pausa tras 3 intentos fallidos; último error: HTTP 500"
    )
    assert actions.pause_reason_text("paused after 3 failed attempts; last error: HTTP 500") == (
        "paused after 3 failed attempts; last error: HTTP 500"
    )
    with pytest.raises(RuleError) as bad:
        parse_rules(include="ab*")
    assert slack_error_text(bad.value, es) == "incluir (include): 'ab*': un prefijo necesita al menos 3 letras antes del *"
    assert slack_error_text(bad.value, en) == bad.value.user_message == (
        "include: 'ab*': a prefix needs at least 3 letters before the *"
    )
    with pytest.raises(UnsafeURLError) as unsafe:
        check_url_syntax("http://user:pw@example.org/feed")
    assert slack_error_text(unsafe.value, es) == (
        "No puedo usar esa dirección de fuente (no se permiten direcciones con usuario o contraseña): "
        "“http://user:pw@example.org/feed”. Indica una URL pública http:// o https://."
    )
    assert slack_error_text(unsafe.value, en) == unsafe.value.user_message
