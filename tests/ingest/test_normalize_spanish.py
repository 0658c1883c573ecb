"""Spanish feed boilerplate is removed from summaries (config/lang/es.toml [text] boilerplate).

A summary is cleaned when its feed is parsed, before the item's language is known, so every
language's phrases apply to every summary; English text keeps its words."""

from __future__ import annotations

import pytest

from bot.ingest.normalize import boilerplate_patterns, html_to_text


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (
            "<p>Agentes detienen a tres en Pilsen.</p><p>La entrada <a href='/x'>Redada en "
            "Pilsen</a> apareció primero en La Raza.</p>",
            "Agentes detienen a tres en Pilsen.",
        ),
        (
            "Vecinos denuncian arrestos. La entrada Redada en Pilsen se publicó primero en "
            "Telemundo Chicago.",
            "Vecinos denuncian arrestos.",
        ),
        ("La familia pide ayuda. Continúa leyendo »", "La familia pide ayuda."),
        ("La familia pide ayuda. <a href='/n'>Leer más…</a>", "La familia pide ayuda."),
        (
            "El concejo votó el martes. Suscríbete a nuestro boletín para recibir noticias.",
            "El concejo votó el martes.",
        ),
        ("Marcha en Houston. Síguenos en Facebook y X.", "Marcha en Houston."),
        (
            "Detienen a un padre en Cicero.<h3>Noticias relacionadas</h3><ul><li>Guardia "
            "Nacional llega a Chicago</li><li>ICE detiene a 20 en Houston</li></ul>",
            "Detienen a un padre en Cicero.",
        ),
        (
            "Tormenta de hielo en Dallas. También te puede interesar: Redadas en Fort Worth",
            "Tormenta de hielo en Dallas.",
        ),
        ("Lee también: Guía de DACA", "Guía de DACA"),
    ],
)
def test_spanish_boilerplate_is_removed(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_spanish_phrases_do_not_touch_english_or_titles() -> None:
    english = "Related news from the council: the mayor continues reading the report."
    assert html_to_text(english) == english
    assert html_to_text("The post Raid in Pilsen appeared first on WBEZ.") == ""
    title = "Suscríbete: la migra en Pilsen"
    assert html_to_text(title, boilerplate=False) == title
    assert len(boilerplate_patterns()) > 10  # English and Spanish lists
