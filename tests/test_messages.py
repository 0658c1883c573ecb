"""Issue 13: alerts, help and errors from message catalogues, in the subscription's language."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest

from bot import render
from bot.adapters.discordbot import embeds as E
from bot.adapters.discordbot.cogs.status import help_text
from bot.adapters.discordbot.cogs.subscriptions import default_language
from bot.crosslang import crosslang_why
from bot.messages import language_for_locale, messages, parse_language, supported_languages
from bot.models import Story
from bot.relevance import load_topics

CONFIG = Path(__file__).resolve().parents[1] / "config"


def _keys(path: Path) -> set[str]:
    def walk(d: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for k, v in d.items():
            out |= walk(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
        return out

    return walk(tomllib.loads(path.read_text(encoding="utf-8")))


def test_every_catalogue_has_every_english_key() -> None:
    english = _keys(CONFIG / "messages" / "en.toml") - {"code", "name"}
    for path in (CONFIG / "messages").glob("*.toml"):
        missing = {k for k in english if not k.startswith(("topics.", "languages."))} - _keys(path)
        assert not missing, f"{path.name} lacks {sorted(missing)}"
    # every topic of topics.toml has a Spanish label
    es = messages("es")
    assert all(es.topic(t.id) for t in load_topics())


def test_languages_and_locales() -> None:
    assert supported_languages() == ("en", "es")
    assert parse_language("Spanish") == parse_language("español") == parse_language("es-MX") == "es"
    assert parse_language("klingon") is None
    assert language_for_locale(discord.Locale.spain_spanish) == "es"
    assert language_for_locale("es-419") == "es"
    assert language_for_locale(discord.Locale.french) == "en"
    assert language_for_locale(None) == "en"
    # a language without a catalogue renders in English
    assert messages("fr")("alerts.matched", terms="ICE") == "Matched: ICE"


def _story(**kw: object) -> Story:
    base = dict(
        id=12, title="ICE agents detain 12 in Little Village", url="https://news.example/a",
        source="Chicago News", outlets=("Chicago News", "La Raza", "WBEZ"),
        published=datetime(2026, 1, 5, 14, 0, tzinfo=UTC), topics=("immigration-enforcement",),
        cities=("chicago-il",), summary="Agents arrived at 7 a.m.",
        why=(
            crosslang_why("en", "Chicago News", ["chiquita", "12"]),
            crosslang_why("es", "La Raza", ["chiquita", "12"]),
            'topic:immigration-enforcement ← "ICE agents"',
            'city:chicago-il ← "Little Village"',
        ),
    )
    base.update(kw)
    return Story(**base)  # type: ignore[arg-type]


def test_alert_text_in_each_language() -> None:
    story = _story()
    en = render.plain_text(story, msgs=messages("en"))
    assert "Also reported by WBEZ · Also reported in Spanish by La Raza" in en
    assert "Source: Chicago News" in en and "Matched: ICE agents, Little Village" in en
    es = render.plain_text(story, topic_label=lambda t: "Immigration enforcement", msgs=messages("es"))
    assert "También informaron WBEZ · También informado en español por La Raza" in es
    assert "Fuente: Chicago News" in es and "Control migratorio" in es
    assert "Coincide con: ICE agents, Little Village" in es
    assert es.rstrip().endswith("story #12")  # recognised after a crash in any language
    # the Spanish report leads: the English outlet is the one "in English"
    lead_es = _story(source="La Raza")
    assert "También informado en inglés por Chicago News" in render.plain_text(lead_es, msgs=messages("es"))
    assert render.digest_title(3, messages("es")) == "Resumen: 3 noticias"
    assert render.headline(_story(title=""), messages("es")) == "(sin título)"


def test_discord_alert_embed_and_help_in_spanish() -> None:
    embed = E.alert_embed(_story(), city_label=lambda c: "Chicago, IL", msgs=messages("es"))
    assert "Fuente: Chicago News" in (embed.description or "")
    assert "También informado en español por La Raza" in (embed.description or "")
    assert embed.footer.text and embed.footer.text.endswith("story #12")
    catalog = load_topics()
    assert "Control migratorio" in help_text(catalog, messages("es"))
    assert "**Set up**" in help_text(catalog) and "Immigration enforcement" in help_text(catalog)


@pytest.mark.parametrize(
    ("guild_locale", "locale", "expected"),
    [
        (discord.Locale.spain_spanish, discord.Locale.american_english, "es"),
        (None, discord.Locale.latin_american_spanish, "es"),
        (discord.Locale.american_english, discord.Locale.spain_spanish, "en"),
        (None, discord.Locale.japanese, "en"),
    ],
)
def test_discord_default_language_from_guild_locale_then_locale(
    guild_locale: discord.Locale | None, locale: discord.Locale, expected: str
) -> None:
    interaction = SimpleNamespace(guild_locale=guild_locale, locale=locale)
    assert default_language(interaction) == expected  # type: ignore[arg-type]


def test_push_message_in_spanish() -> None:
    from bot.adapters.push import format as fmt

    one = fmt.render([_story()], fmt.TEXT, body_max=1000, title_max=100, msgs=messages("es"))
    assert "3 medios" in one.body and "Control migratorio" in one.body
    md = fmt.render([_story()], fmt.MARKDOWN, body_max=5000, title_max=100, msgs=messages("es"))
    assert "Coincide con" in md.body and md.body.rstrip().endswith("story \\#12")
    two = fmt.render([_story(), _story(id=13)], fmt.TEXT, body_max=5000, title_max=100,
                     label=lambda c: "Chicago, IL", msgs=messages("es"))
    assert two.title == "2 alertas cívicas — Chicago, IL"
    assert fmt.render([_story(), _story(id=13)], fmt.TEXT, body_max=5000, title_max=100).title == "2 civic alerts — chicago-il"


def test_discord_errors_in_the_readers_language() -> None:
    from discord import app_commands

    from bot.adapters.discordbot.client import GENERIC_APOLOGY, error_text
    from bot.errors import UnknownCityError

    assert error_text(UnknownCityError("Springfeld"))[0] == error_text(
        UnknownCityError("Springfeld"), messages("en")
    )[0]
    text, ours = error_text(UnknownCityError("Springfeld"), messages("es"))
    assert text.startswith("No conozco la ciudad “Springfeld”") and not ours
    assert error_text(app_commands.NoPrivateMessage(), messages("es"))[0].startswith("Este comando")
    assert error_text(RuntimeError("x"))[0] == GENERIC_APOLOGY == messages("en")("errors.generic")
    assert error_text(RuntimeError("x"), messages("es"))[0].startswith("Perdón")
