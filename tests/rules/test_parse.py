"""Rules are parsed and validated in the core: hostile input is refused with one line each."""

from __future__ import annotations

import pytest

from bot.rules import DEFAULT_RULES, RuleError, parse_rules, rules_from_json, rules_to_json


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"include": ",".join(f"word{i}" for i in range(200))}, "at most 25"),
        ({"exclude": ",".join(f"w{i}x" for i in range(26))}, "at most 25"),
        ({"include": "🔥🔥"}, "letters, digits"),
        ({"include": "raid 🔥"}, "letters, digits"),
        ({"include": "x" * 61}, "longer than 60"),
        ({"include": "de*"}, "at least 3 letters"),
        ({"tz": "America/Chicgo"}, "did you mean America/Chicago"),
        ({"tz": "Mars/Olympus"}, "unknown zone"),
        ({"digest": "daily@25:00"}, "not a time of day"),
        ({"digest": "weekly"}, "hourly or daily@HH:MM"),
        ({"quiet": "22:00-25:00"}, "not a time of day"),
        ({"quiet": "22:00"}, "HH:MM-HH:MM"),
        ({"quiet": "07:00-07:00"}, "same time"),
        ({"min_outlets": "0"}, "from 1 to 10"),
        ({"min_outlets": "two"}, "whole number"),
        ({"max_hold_hours": "500"}, "up to 72"),
        ({"mention": "role one"}, "without spaces"),
        ({"mention_when": "topic:ice; drop table"}, "use topic:ID"),
        ({"urgent": "outlets>=99"}, "outlets>=N"),
        ({"on_hold_timeout": "maybe"}, "send"),
    ],
)
def test_hostile_rule_input_is_refused_with_one_line(options: dict[str, str], says: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rules(**options)  # type: ignore[arg-type]
    line = err.value.user_message
    assert says in line
    assert "\n" not in line and len(line) < 200


def test_rules_round_trip_through_json_and_clear() -> None:
    rules = parse_rules(
        include="raid, deport*", exclude="Pilsen", min_outlets="2", max_hold_hours="3", on_hold_timeout="drop",
        mention="123456789012345678", mention_when="topic:immigration-enforcement here outlets>=2",
        digest="daily@08:00", quiet="22:00-07:00", urgent="outlets>=3", tz="america/chicago", threads=True,
    )
    assert rules.tz == "America/Chicago"
    assert rules_from_json(rules_to_json(rules)) == rules
    cleared = parse_rules(rules, include="", exclude="none", min_outlets=1, mention="", mention_when="",
                          digest="", quiet="off", urgent="", tz="", threads=False, max_hold_hours=6,
                          on_hold_timeout="send")
    assert cleared == DEFAULT_RULES and rules_to_json(cleared) == "{}"
    assert rules_from_json("not json") == DEFAULT_RULES


def test_keywords_use_the_relevance_tokenizer() -> None:
    rules = parse_rules(include="deport*, Little Village", exclude="Pilsen")
    assert rules.keywords_match("Deportation flights resume", "")
    assert rules.keywords_match("ICE agents in LITTLE-VILLAGE", "")
    assert not rules.keywords_match("Deported father returns to Pilsén", "")  # accents folded
    assert not rules.keywords_match("City council budget", "")
