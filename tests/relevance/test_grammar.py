"""The phrase grammar (bot/relevance/grammar.py) and stems inside phrases (bot/relevance/text.py).

Spanish inflects, contracts and moves clitics inside a phrase; one written topic term stands
for those forms, so a rule does not depend on the wording someone happened to list.
"""

from __future__ import annotations

import tomllib

import pytest

from bot.errors import ConfigError
from bot.relevance import Classifier
from bot.relevance.grammar import Grammar
from bot.relevance.text import Lexicon, tokenize

from .conftest import REPO_CONFIG

IE, NG, SP = "immigration-enforcement", "national-guard", "sanctuary-policy"


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    data = tomllib.loads((REPO_CONFIG / "lang" / "es.toml").read_text(encoding="utf-8"))
    return Grammar.from_data(data["grammar"])


@pytest.mark.parametrize(
    ("term", "forms", "not_forms"),
    [
        # agreement in number and gender in the head of the phrase
        (
            "operativo migratorio",
            {"operativos migratorios", "operativa migratoria"},
            {"operativos migratorio"},
        ),
        ("detenido por ICE", {"detenidas por ice", "detenidos por el ice"}, set()),
        ("Guardia Nacional", {"guardias nacionales"}, set()),
        ("orden de deportacion", {"ordenes de deportacion"}, {"orden de deportaciones"}),
        ("ley santuario", {"leyes santuarios"}, set()),
        # the equivalents: the adjective or "de" + the agency
        ("redada migratoria", {"redadas de inmigracion", "redada del ice"}, set()),
        ("agentes de inmigracion", {"agente migratorio", "agentes de ice"}, set()),
        # articles after a preposition: added, dropped, contracted
        (
            "agentes de la Patrulla Fronteriza",
            {"agentes de patrulla fronteriza", "agente de la patrulla fronteriza"},
            set(),
        ),
        # clitics after a reflexive
        ("se llevaron", {"se lo llevaron", "se las llevaron"}, set()),
        # the passive voice in any tense
        ("fue deportado", {"fueron deportados", "ha sido deportada", "sera deportado"}, set()),
    ],
)
def test_expansions(grammar: Grammar, term: str, forms: set[str], not_forms: set[str]) -> None:
    out = grammar.expand(term)
    assert out[0] == term
    assert forms <= set(out), forms - set(out)
    assert not (not_forms & set(out))


def test_what_is_never_expanded(grammar: Grammar) -> None:
    assert grammar.expand("=ICE detuvo") == ["=ICE detuvo"]  # case-sensitive: as written
    assert grammar.expand("{STATE} Guard") == ["{STATE} Guard"]
    out = grammar.expand("deport* a")
    assert all(o.startswith("deport*") for o in out)  # a stem is not inflected
    assert len(grammar.expand("centro de detencion de inmigrantes")) <= grammar.max_variants


def test_singular_and_plural_rules(grammar: Grammar) -> None:
    sg, pl = grammar._singular, grammar._plural
    assert [sg(w) for w in ("detenciones", "agentes", "leyes", "padres", "redadas", "luces")] == [
        "detencion", "agente", "ley", "padre", "redada", "luz",
    ]  # fmt: skip
    assert [pl(w) for w in ("redada", "agente", "detencion", "ley", "luz", "estatus")] == [
        "redadas", "agentes", "detenciones", "leyes", "luces", "estatus",
    ]  # fmt: skip


def test_bad_grammar_tables_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        Grammar.from_data({"gender": ["ado"]})
    with pytest.raises(ConfigError):
        Grammar.from_data({"equivalents": "migratorio"})
    with pytest.raises(ConfigError):
        Grammar.from_data([])


def test_a_stem_may_sit_anywhere_in_a_phrase() -> None:
    lex = Lexicon()
    lex.add("cooper* con ICE", "first")
    lex.add("agentes fronteriz* de", "second")
    lex.add("se lo llev*", "last")

    def found(text: str) -> list[str]:
        return [p for _, _, p in lex.scan(tokenize(text))]

    assert found("La ciudad no cooperará con ICE") == ["first"]
    assert found("la cooperación con ICE") == ["first"]
    assert found("coopera con la policía") == []
    assert found("agentes fronterizos de Texas") == ["second"]
    assert found("agentes de Texas") == []
    assert found("se lo llevaron ayer") == ["last"]
    with pytest.raises(ValueError):
        lex.add("co* con ICE", "too short")


def test_english_terms_are_used_as_written(classifier: Classifier) -> None:
    """topics.toml has no [grammar]: its lexicon holds exactly its own terms."""
    data = tomllib.loads((REPO_CONFIG / "topics.toml").read_text(encoding="utf-8"))
    assert "grammar" not in data
    m = classifier.classify("ICE agents detain man in Cicero", "")
    assert m.topics == (IE,)


@pytest.mark.parametrize(
    ("title", "topics"),
    [
        # forms no term lists as written
        ("Redadas del ICE en un barrio de Houston", (IE,)),
        ("Fueron deportadas dos hermanas de Tucson", (IE,)),
        ("Agentes fronterizos arrestaron a una familia en Yuma", (IE,)),
        ("Operativos de la migra en Phoenix: se los llevaron frente a sus hijos", (IE,)),
        ("Guardias nacionales detienen a indocumentados en la frontera de Arizona", (IE, NG)),
        # sanctuary: a government acting on a policy of cooperation, in any word order
        ("Dallas rechaza las solicitudes de detención de ICE", (SP,)),
        ("El concejo de Austin prohíbe que la policía pregunte el estatus migratorio", (SP,)),
        # an operation in the past is not a policy
        ("La policía estatal colaboró con ICE en los arrestos de la semana", (IE,)),
        # traps
        ("Honduras recibe a sus ciudadanos deportados", ()),
        ("El ICE de Costa Rica anuncia apagones programados", ()),
        ("Deportivo Toluca gana en Los Ángeles", ()),
    ],
)
def test_spanish_forms(classifier: Classifier, title: str, topics: tuple[str, ...]) -> None:
    m = classifier.classify(title, "", lang="es")
    assert set(m.topics) == set(topics), m.why

