"""Issue 13: Spanish items are read with Spanish rules (config/lang/es.toml).

spanish.jsonl is a dev set written for this project (256 rows: 119 on-topic, 137 hard
negatives — ice weather, hockey, Guardia Costera, security guards, Mexico's own Guardia
Nacional, Latin American and Spanish immigration news, US immigration paperwork, religious
and bird sanctuaries, police and drug raids — 20+ cities, neighbourhood-only mentions).
The goal is topic precision and recall ≥ 0.95; docs/relevance.md has the measured numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.models import Match
from bot.relevance import Classifier
from bot.relevance.detect import detect_language

from .metrics import MetricsLog, evaluate, load_rows

IE, NG, SP = "immigration-enforcement", "national-guard", "sanctuary-policy"
GOAL = 0.95


class _AsSpanish:
    """The classifier with every row declared Spanish, as a Spanish feed declares it."""

    def __init__(self, clf: Classifier) -> None:
        self.clf = clf
        self.topics = clf.topics

    def classify(self, title: str, summary: str, *, default_city: str | None = None) -> Match:
        return self.clf.classify(title, summary, default_city=default_city, lang="es")


def test_spanish_dev_set(
    classifier: Classifier, relevance_data: Path, metrics_log: MetricsLog
) -> None:
    rows = load_rows(relevance_data / "spanish.jsonl")
    assert len(rows) >= 250
    negatives = [r for r in rows if not r["topics"]]
    assert len(negatives) >= 0.45 * len(rows)
    cities = {c for r in rows for c in r["cities"]}
    assert len(cities) >= 15
    rep = evaluate(_AsSpanish(classifier), rows)
    detected = evaluate(classifier, rows)  # no declared language: detection picks Spanish
    metrics_log.write(rep.lines("spanish") + detected.lines("spanish, detected"))
    detail = "\n".join(rep.errors[:30])
    for topic, (p, r) in rep.topics.items():
        assert p >= GOAL and r >= GOAL, f"{topic} P={p:.3f} R={r:.3f}\n{detail}"
    assert rep.alert[0] >= GOAL and rep.alert[1] >= GOAL, detail
    assert detected.topics == rep.topics


def test_every_row_is_detected_as_spanish(classifier: Classifier, relevance_data: Path) -> None:
    rows = load_rows(relevance_data / "spanish.jsonl")
    wrong = [r["id"] for r in rows if detect_language(r["title"], r["summary"]) != "es"]
    assert wrong == []
    english = load_rows(relevance_data / "labeled.jsonl")
    assert all(detect_language(r["title"], r["summary"]) == "en" for r in english)


@pytest.mark.parametrize(
    ("title", "summary", "topics", "cities"),
    [
        # the traps, one each
        ("Tormenta de hielo en Chicago", "El hielo cubre las calles.", (), ("chicago-il",)),
        ("Hockey sobre hielo: ganan los Blackhawks", "Partido en el United Center.", (), ("chicago-il",)),
        ("La Guardia Costera rescata a pescadores frente a Miami", "", (), ("miami-fl",)),
        ("Guardia de seguridad herido en Houston", "", (), ("houston-tx",)),
        ("Nuevo santuario de aves en Chicago", "Protegerá aves migratorias.", (), ("chicago-il",)),
        ("Peregrinos llegan al Santuario de Guadalupe", "Familias de inmigrantes rezan.", (), ()),
        (
            "Guardia Nacional de México despliega tropas en Sinaloa",
            "Sheinbaum envió 2,000 elementos a Culiacán.",
            (),
            (),
        ),
        (
            "México envía a la Guardia Nacional a la frontera con Estados Unidos",
            "Diez mil elementos llegan a Tijuana y Ciudad Juárez.",
            (),
            (),
        ),
        # US events in Spanish
        (
            "Redada de la migra en La Villita",
            "Agentes de inmigración detienen a vendedores.",
            (IE,),
            ("chicago-il",),
        ),
        ("Detienen a inmigrantes en la Pequeña Habana", "Agentes de ICE los arrestaron.", (IE,), ("miami-fl",)),
        ("Operativo migratorio en el Alto Manhattan", "La migra detuvo a tres.", (IE,), ("new-york-ny",)),
        ("Trump envía la Guardia Nacional a Filadelfia", "Soldados patrullan las calles.", (NG,), ("philadelphia-pa",)),
        ("Nueva York defiende su ley santuario", "", (SP,), ("new-york-ny",)),
        (
            "Guardia Nacional de Texas detiene a migrantes en la frontera con México",
            "Los soldados patrullan Eagle Pass.",
            (IE, NG),
            ("eagle-pass-tx",),
        ),
        # San Antonio, not "San Antonio de …"
        ("La migra detiene a jornaleros en San Antonio", "", (IE,), ("san-antonio-tx",)),
        ("Fiesta en San Antonio de los Altos", "Venezolanos celebran.", (), ()),
    ],
)
def test_spanish_rules(
    classifier: Classifier,
    title: str,
    summary: str,
    topics: tuple[str, ...],
    cities: tuple[str, ...],
) -> None:
    m = classifier.classify(title, summary, lang="es")
    assert m.lang == "es"
    assert set(m.topics) == set(topics), m.why
    assert set(m.cities) == set(cities), m.why


def test_declared_language_wins_and_unknown_languages_use_english(classifier: Classifier) -> None:
    # an English headline declared "en-US" is read in English even with a Spanish word
    m = classifier.classify("ICE agents detain man in La Villita", "", lang="en-US")
    assert m.lang == "en" and m.topics == (IE,)
    # a language without rules (French) is read with the English rules, as before issue 13
    m = classifier.classify("ICE agents arrest 5 in Cicero", "", lang="fr")
    assert m.lang == "fr" and m.topics == (IE,)
    # too little text to tell: English
    assert detect_language("x", "") == "en"


def test_bare_unique_suburb_routes_only_on_topic(classifier: Classifier) -> None:
    """Issue 13 item 5: a unique small place named bare routes when the item is on topic."""
    m = classifier.classify("ICE agents detain two brothers in Bridgeview", "")
    assert "bridgeview-il" in m.cities and "chicago-il" in m.cities
    m = classifier.classify(
        "Jornaleros detenidos en un Home Depot de Melrose Park",
        "Agentes de inmigración rodearon la tienda.",
        lang="es",
    )
    assert "melrose-park-il" in m.cities
    off = classifier.classify("Bridgeview library opens a new wing", "")
    assert "bridgeview-il" not in off.cities
    off = classifier.classify("New restaurant opens in Bridgeview", "")
    assert "bridgeview-il" not in off.cities


HELDOUT_FLOOR = 0.80


def test_spanish_heldout_numbers(
    classifier: Classifier, relevance_data: Path, metrics_log: MetricsLog
) -> None:
    """spanish_heldout.jsonl (60 rows) was written after the rules were frozen and never tuned
    on: its numbers are printed (not its rows) and held to a regression floor only."""
    rows = load_rows(relevance_data / "spanish_heldout.jsonl")
    rep = evaluate(_AsSpanish(classifier), rows)
    metrics_log.write(rep.lines("spanish held-out"))
    assert rep.alert[0] >= HELDOUT_FLOOR and rep.alert[1] >= HELDOUT_FLOOR


FRESH_ROUTING_FLOOR = 0.85


def test_spanish_fresh_set(
    classifier: Classifier, relevance_data: Path, metrics_log: MetricsLog
) -> None:
    """spanish_fresh.jsonl (218 rows) was written in other outlets' voice (Univision, Telemundo,
    La Opinión, El Diario, La Raza, EFE/AP, El Nuevo Herald, Al Día) and measured before any
    rule change (alert P 0.990 R 0.928); the phrase grammar and the general vocabulary of the
    next commits were written against it, so it is a second dev set now. Goal 0.95 P and R
    on alerts and on every topic; routing held to a floor (docs/relevance.md has the numbers)."""
    rows = load_rows(relevance_data / "spanish_fresh.jsonl")
    assert len(rows) >= 150
    assert len({r["id"] for r in rows}) == len(rows)
    negatives = [r for r in rows if not r["topics"]]
    assert len(negatives) >= 0.45 * len(rows)
    assert len({c for r in rows for c in r["cities"]}) >= 20
    for r in rows:
        assert set(r["topics"]) <= set(classifier.topics.ids), r["id"]
        for cid in [*r["cities"], *r["not_cities"]]:
            assert classifier.gazetteer.get(cid) is not None, f"{r['id']}: {cid}"
    rep = evaluate(_AsSpanish(classifier), rows)
    detected = evaluate(classifier, rows)
    metrics_log.write(rep.lines("spanish fresh"))
    detail = "\n".join(rep.errors[:30])
    assert rep.alert[0] >= GOAL and rep.alert[1] >= GOAL, detail
    for topic, (p, r) in rep.topics.items():
        assert p >= GOAL and r >= GOAL, f"{topic} P={p:.3f} R={r:.3f}\n{detail}"
    assert min(rep.routing) >= FRESH_ROUTING_FLOOR, detail
    assert detected.topics == rep.topics


def test_spanish_fresh2_numbers(
    classifier: Classifier, relevance_data: Path, metrics_log: MetricsLog
) -> None:
    """spanish_fresh2.jsonl (60 rows, 30 on topic) was written after the grammar rules were
    frozen and measured once (alert P 1.000 R 0.867; main's rules: P 0.963 R 0.867); nothing
    was changed after it. Its numbers are printed and held to the held-out floor only."""
    rows = load_rows(relevance_data / "spanish_fresh2.jsonl")
    assert len(rows) >= 60
    rep = evaluate(_AsSpanish(classifier), rows)
    metrics_log.write(rep.lines("spanish fresh2 (held-out)"))
    assert rep.alert[0] >= HELDOUT_FLOOR and rep.alert[1] >= HELDOUT_FLOOR
