"""bot/text.py: the one copy of folding, tokens, titles, GN detection and clipping."""

from __future__ import annotations

import pytest

from bot.text import (
    clip,
    collapse_ws,
    fold,
    is_google_news_url,
    normalize_title,
    strip_source_suffix,
    title_tokens,
    unescape_fully,
    words,
)


def test_fold_ascii_only_straightens_and_drops_non_ascii() -> None:
    assert fold("plain") == "plain"
    assert fold("O’Hare — São Paulo") == "O'Hare  -  Sao Paulo"
    assert fold("東京 Chicago") == " Chicago"


def test_fold_keeping_letters_drops_only_combining_marks() -> None:
    assert fold("São Paulo’s", ascii_only=False) == "Sao Paulo’s"
    assert fold("東京", ascii_only=False) == "東京"


def test_words_and_title_tokens() -> None:
    assert words("Chicago’s mayor, O'Hare!") == ["Chicago’s", "mayor", "O'Hare"]
    assert title_tokens("Chicago’s  MAYOR: ICE-raid &amp; more") == [
        "chicago", "mayor", "ice", "raid", "more",
    ]  # fmt: skip


def test_normalize_title_modes_differ_on_purpose() -> None:
    title = "Chicago's “Mayor” &amp;amp; ICE"
    assert normalize_title(title) == "chicagos mayor ice"
    assert normalize_title(title, mode="cluster") == "chicago mayor amp ice"
    assert normalize_title("") == "" and normalize_title("", mode="cluster") == ""


def test_unescape_fully_and_collapse_ws() -> None:
    assert unescape_fully("&amp;#8220;x") == "“x"
    assert collapse_ws("  a \n\t b ") == "a b"


@pytest.mark.parametrize(
    ("title", "source", "expected"),
    [
        ("Raid in Pilsen - Sun-Times", "Sun-Times", "Raid in Pilsen"),
        ("Raid - Yahoo - Yahoo", "Yahoo", "Raid"),
        ("Raid  in   Pilsen", None, "Raid in Pilsen"),
        ("Sun-Times", "Sun-Times", "Sun-Times"),
    ],
)
def test_strip_known_source(title: str, source: str | None, expected: str) -> None:
    assert strip_source_suffix(title, source) == expected


def test_strip_guessed_source() -> None:
    title = "ICE raids in Charlotte continue - Chicago Tribune"
    assert strip_source_suffix(title, guess=True) == "ICE raids in Charlotte continue"
    assert strip_source_suffix("Short one - Tribune", guess=True) == "Short one - Tribune"
    long_tail = "ICE raids in Charlotte continue - a b c d e f g"
    assert strip_source_suffix(long_tail, guess=True) == long_tail


def test_google_news_detection() -> None:
    gn = "https://news.google.com/rss/articles/CBMi?oc=5"
    assert is_google_news_url(gn) and is_google_news_url(gn, canonical=True)
    assert is_google_news_url("HTTPS://NEWS.GOOGLE.COM/x")
    assert not is_google_news_url("https://suntimes.com/x")
    assert not is_google_news_url("https://suntimes.com/x", canonical=True)
    assert not is_google_news_url("http://[::1")  # junk never raises


def test_clip_defaults_and_ingest_style() -> None:
    assert clip("alpha beta, gamma delta", 13) == "alpha beta…"
    assert clip("short", 10) == "short"
    assert clip("a  b", 10) == "a b"
    # ingest: no collapsing, a later word floor, only whitespace trimmed
    assert clip("a  b", 10, collapse=False) == "a  b"
    text = "alpha beta, gamma delta"
    assert clip(text, 13, word_floor=0.8, collapse=False, trim=None) == "alpha beta,…"
