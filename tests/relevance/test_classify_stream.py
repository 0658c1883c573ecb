from __future__ import annotations

import io
import json

from bot.models import Match
from bot.relevance import Classifier, classify_stream


def _run(classifier, text: str) -> tuple[int, list[dict]]:
    out = io.StringIO()
    n = classify_stream(io.StringIO(text), out, classifier)
    lines = out.getvalue().splitlines()
    return n, [json.loads(x) for x in lines]


def test_one_line_out_per_line_in_order(classifier: Classifier) -> None:
    items = [
        {"id": "a", "title": "ICE agents arrest 5 in Cicero", "summary": "", "extra": 1},
        {"id": 2, "title": "Ice storm hits Chicago", "summary": "Roads slick."},
        {"id": None, "title": "Troops deployed to Portland", "summary": "National Guard."},
    ]
    n, out = _run(classifier, "".join(json.dumps(i) + "\n" for i in items))
    assert n == 3
    assert [o["id"] for o in out] == ["a", 2, None]
    assert out[0]["topics"] == ["immigration-enforcement"]
    assert out[0]["cities"] == ["cicero-il", "chicago-il"]
    assert out[1]["topics"] == [] and out[1]["cities"] == ["chicago-il"]
    assert out[2]["topics"] == ["national-guard"] and out[2]["cities"] == ["portland-or"]
    assert set(out[0]) == {"id", "topics", "cities", "why", "lang"}
    assert all(isinstance(w, str) for w in out[0]["why"])


def test_bad_lines_get_errors_and_do_not_stop(classifier: Classifier) -> None:
    text = (
        "\n".join(
            [
                "{not json",
                "[1, 2]",
                json.dumps({"id": "t", "title": 5}),
                "",
                json.dumps({"id": "x"}),
                json.dumps({"id": {"a": 1}, "title": "ICE raid"}),
                json.dumps({"id": "ok", "title": "ICE raid in Chicago"}),
            ]
        )
        + "\n"
    )
    n, out = _run(classifier, text)
    assert n == 7 and len(out) == 7
    assert out[0]["id"] is None and "invalid JSON" in out[0]["error"]
    assert "object" in out[1]["error"]
    assert out[2]["id"] == "t" and "title" in out[2]["error"]
    assert "empty" in out[3]["error"]
    assert out[4]["id"] == "x" and "error" in out[4]
    assert out[5]["id"] is None and "error" in out[5]
    assert out[6] == {
        "id": "ok",
        "topics": ["immigration-enforcement"],
        "cities": ["chicago-il"],
        "why": out[6]["why"],
        "lang": "en",
    }


def test_classifier_failure_is_contained() -> None:
    class Boom:
        def classify(self, title: str, summary: str, *, default_city=None, lang=None) -> Match:
            if "boom" in title:
                raise RuntimeError("kaboom")
            return Match(topics=("national-guard",))

    text = (
        json.dumps({"id": 1, "title": "boom"}) + "\n" + json.dumps({"id": 2, "title": "ok"}) + "\n"
    )
    n, out = _run(Boom(), text)
    assert n == 2
    assert out[0] == {"id": 1, "error": "kaboom"}
    assert out[1]["topics"] == ["national-guard"]


def test_unicode_and_no_trailing_newline(classifier: Classifier) -> None:
    text = json.dumps(
        {"id": "u", "title": "Agentes de ICE detienen a trabajadores en Chicago — “redada”"},
        ensure_ascii=False,
    )
    n, out = _run(classifier, text)
    assert n == 1
    assert out[0]["cities"] == ["chicago-il"]


def test_feed_city_and_lang_per_line(classifier: Classifier) -> None:
    """Issue 13: a line may carry its feed's default city and declared language."""
    lines = [
        {"id": "a", "title": "ICE agents detain three at a car wash", "summary": "",
         "feed_city": "chicago-il"},
        {"id": "b", "title": "ICE agents detain three at a car wash", "summary": ""},
        {"id": "c", "title": "Agentes de ICE detienen a tres en un lavado de autos",
         "summary": "Los trabajadores fueron llevados a Broadview.", "lang": "es"},
        {"id": "d", "title": "Agentes de ICE detienen a tres en un lavado de autos en Cicero",
         "summary": "Los vecinos de la ciudad dijeron que los agentes llegaron temprano."},
        {"id": "e", "title": "x", "summary": "", "feed_city": 7},
    ]
    n, out = _run(classifier, "".join(json.dumps(x) + "\n" for x in lines))
    assert n == 5
    assert out[0]["cities"] == ["chicago-il"] and "feed city" in out[0]["why"][-1]
    assert out[1]["cities"] == []
    assert out[2]["lang"] == "es" and out[2]["topics"] == ["immigration-enforcement"]
    assert out[2]["cities"] == ["chicago-il"]
    # no declared language: detected
    assert out[3]["lang"] == "es" and out[3]["topics"] == ["immigration-enforcement"]
    assert "cicero-il" in out[3]["cities"]
    assert "feed_city must be a string" in out[4]["error"]
