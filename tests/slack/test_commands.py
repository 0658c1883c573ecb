"""`/civic` text → subcommand, arguments and options (the city keeps its comma)."""

from __future__ import annotations

import pytest

from bot.adapters.slack.commands import rule_options, split
from bot.errors import UserInputError


def test_city_keeps_its_comma_and_options_are_split_off() -> None:
    sub, args, options = split('subscribe Chicago, IL topics=immigration-enforcement include="rent strike" threads=on')
    assert sub == "subscribe" and " ".join(args) == "Chicago, IL"
    assert options == {"topics": "immigration-enforcement", "include": "rent strike", "threads": "on"}
    assert rule_options(options) == {"include": "rent strike", "threads": True}


def test_curly_quotes_from_slack_clients_group_words() -> None:
    assert split("search “ice raid” days=3") == ("search", ["ice raid"], {"days": "3"})


def test_empty_text_is_help_and_bad_input_is_one_clear_line() -> None:
    assert split("") == ("help", [], {})
    with pytest.raises(UserInputError) as unclosed:
        split('search "unclosed')
    assert unclosed.value.user_message == "An opening quote has no closing quote."
    with pytest.raises(UserInputError) as caught:
        rule_options({"threads": "maybe"})
    assert caught.value.user_message == "threads= takes on or off."


def test_an_equals_sign_in_a_search_is_not_an_option() -> None:
    assert split("search a=b") == ("search", ["a=b"], {})


def test_apostrophes_are_part_of_words() -> None:
    assert split("subscribe Coeur d'Alene, ID") == ("subscribe", ["Coeur", "d'Alene,", "ID"], {})
    assert split("search mayor's office") == ("search", ["mayor's", "office"], {})
