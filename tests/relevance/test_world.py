"""Issue 17: the topics mean US events; world news must not be tagged.

world.jsonl (dev, 214 rows) and world_heldout.jsonl (79 rows, written before any world rule
and never tuned on) mix US events with foreign events that use the same words. The goal is
P and R ≥ 0.95 on both; see docs/relevance.md for the measured numbers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.relevance import Classifier

from .metrics import MetricsLog, evaluate, load_rows

IE, NG, SP = "immigration-enforcement", "national-guard", "sanctuary-policy"
WORLD_GOAL = 0.95


@pytest.mark.parametrize("name", ["world.jsonl", "world_heldout.jsonl"])
def test_world_sets(classifier: Classifier, relevance_data: Path, metrics_log: MetricsLog, name: str) -> None:
    rows = load_rows(relevance_data / name)
    assert len(rows) >= (200 if name == "world.jsonl" else 75)
    us = sum(1 for r in rows if r["topics"])
    assert us >= 0.35 * len(rows)
    rep = evaluate(classifier, rows)
    metrics_log.write(rep.lines(name.removesuffix(".jsonl")))
    detail = "\n".join(rep.errors[:30])
    assert rep.alert[0] >= WORLD_GOAL, detail
    assert rep.alert[1] >= WORLD_GOAL, detail


@pytest.mark.parametrize(
    ("title", "summary", "topics"),
    [
        (
            "Suicide bomber and gunmen kill 11 soldiers and a child in northwestern Pakistan",
            "Officials say a suicide bomber attacked a military checkpoint in northwest Pakistan.",
            (),
        ),
        ("Nine arrested in France over death of student", "He was beaten by masked men.", ()),
        ("US soldiers arrive in Nigeria", "The troops landed at an airfield in Bauchi state.", ()),
        ("Migrants stranded at Greek border", "Police detained dozens trying to cross.", ()),
        ("Police arrest 20 in London raids on migrant hotels", "Officers detained men.", ()),
        (
            "Mexico's National Guard deploys troops to northern border",
            "The Guardia Nacional will patrol Ciudad Juarez.",
            (),
        ),
        # US enforcement abroad aimed at people in the US stays tagged
        (
            "ICE deportation flight lands in Guatemala City",
            "The plane carried 130 people deported from the U.S.",
            (IE,),
        ),
        (
            "Judge orders return of student deported to Honduras",
            "A federal judge said the Trump administration must bring her back.",
            (IE,),
        ),
        # US places that share world names
        ("Athens, Ga., man detained by ICE agents", "His family spoke Monday.", (IE,)),
        ("New Mexico governor sends Guard troops to Albuquerque", "Crime is up.", (NG,)),
        ("Paris, Texas, man detained by ICE", "Agents arrested him at work.", (IE,)),
    ],
)
def test_us_frame(classifier: Classifier, title: str, summary: str, topics: tuple) -> None:
    m = classifier.classify(title, summary)
    assert set(m.topics) >= set(topics), m.why
    if not topics:
        assert m.topics == (), m.why


def test_why_names_the_frame(classifier: Classifier) -> None:
    m = classifier.classify("Soldiers killed at checkpoint in northwestern Pakistan", "")
    assert m.topics == ()
    assert any(w.startswith('frame:national-guard vetoed ← abroad "Pakistan"') for w in m.why)
    m = classifier.classify("ICE deportation flight lands in Honduras", "")
    assert m.topics == (IE,)
    assert any(w.startswith("frame:immigration-enforcement kept ← US") for w in m.why), m.why
    assert all(len(w) <= 120 for w in m.why)


def test_bare_athens_is_greece(classifier: Classifier) -> None:
    """A bare US name that a far bigger foreign city shares no longer routes to the US."""
    m = classifier.classify("Police arrest 20 at Athens protest", "Greek riot police used tear gas.")
    assert "athens-ga" not in m.cities
    m = classifier.classify("Athens, Georgia, council meets", "")
    assert "athens-ga" in m.cities
