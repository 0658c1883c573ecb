"""bot.render: the platform-neutral pieces of an alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.models import Story
from bot.relevance import load_topics
from bot.render import (
    HEADLINE_MAX,
    STORY_REF_RE,
    SUMMARY_MAX,
    also_reported,
    clip,
    footer,
    headline,
    plain_text,
    plain_topic,
    summary,
    where_topics,
    why_short,
)

STORY = Story(
    id=42,
    title="ICE agents arrest 5 people in Pilsen raid",
    url="https://blockclubchicago.example/pilsen",
    source="Block Club Chicago",
    outlets=("WBEZ", "Block Club Chicago", "WTTW"),
    published=datetime(2025, 10, 4, 13, 5, tzinfo=UTC),
    topics=("immigration-enforcement", "national-guard"),
    cities=("chicago-il",),
    summary="Neighbors said agents arrived before dawn.",
    why=('topic:immigration-enforcement ← "ICE" + "arrest"', "city:chicago-il ← Pilsen"),
)


def test_headline_short_is_untouched_and_whitespace_collapsed() -> None:
    assert headline(replace(STORY, title="  ICE   raid\nin Pilsen ")) == "ICE raid in Pilsen"
    assert headline(replace(STORY, title="")) == "(untitled)"
    assert headline(replace(STORY, title=" \n\t ")) == "(untitled)"


@pytest.mark.parametrize(
    "title",
    [
        "word " * 100,  # cut at a word boundary
        "x" * 1000,  # no spaces at all
        "Agents " + "y" * 300,  # the only space is too early to cut at
        "é" * 257,
    ],
)
def test_headline_at_most_256_with_ellipsis(title: str) -> None:
    out = headline(replace(STORY, title=title))
    assert len(out) <= HEADLINE_MAX
    assert out.endswith("…")
    assert len(out) >= HEADLINE_MAX * 0.6


def test_headline_exactly_at_limit_is_not_cut() -> None:
    title = "a" * HEADLINE_MAX
    assert headline(replace(STORY, title=title)) == title


def test_clip_cuts_at_word_and_strips_trailing_punctuation() -> None:
    assert clip("alpha beta, gamma delta", 13) == "alpha beta…"
    assert clip("short", 10) == "short"


def test_summary_short_unchanged() -> None:
    assert summary(STORY) == STORY.summary


def test_summary_cut_at_late_sentence_boundary() -> None:
    first = "Federal agents arrived at the car wash before dawn and detained twelve workers. " * 3
    text = first + "Witnesses said the agents " + "stayed for hours " * 20
    out = summary(replace(STORY, summary=text))
    assert len(out) <= SUMMARY_MAX
    assert out == first.strip()  # ends at the last full sentence
    assert out.endswith(".")


def test_summary_sentence_end_must_be_followed_by_space() -> None:
    text = "It cost $3.50 per ticket." + " more words" * 60  # "3." inside a number is no boundary
    out = summary(replace(STORY, summary=text), limit=100)
    assert len(out) <= 100 and out.endswith("…")  # the only boundary (at 25) is too early


def test_summary_without_late_boundary_falls_back_to_word_clip() -> None:
    text = "Short one. " + "words without any stop " * 40
    out = summary(replace(STORY, summary=text))
    assert len(out) <= SUMMARY_MAX
    assert out.endswith("…")
    assert out.startswith("Short one. words")


def test_summary_quotes_after_the_stop_stay_with_the_sentence() -> None:
    text = 'The mayor said "we will not cooperate." ' * 6 + "and then " * 40
    out = summary(replace(STORY, summary=text), limit=300)
    assert out.endswith('cooperate."')
    assert len(out) <= 300


def test_where_topics() -> None:
    topic = load_topics().label  # labels come from config/topics.toml
    assert where_topics(STORY, topic_label=topic) == (
        "chicago-il · Immigration enforcement, National Guard / troops"
    )
    labels = {"chicago-il": "Chicago, IL"}
    assert where_topics(STORY, lambda c: labels.get(c, c), topic) == (
        "Chicago, IL · Immigration enforcement, National Guard / troops"
    )
    many = replace(STORY, cities=tuple(f"c{i}-il" for i in range(6)), topics=("sanctuary-policy",))
    assert where_topics(many, topic_label=topic) == "c0-il, c1-il, c2-il, c3-il +2 · Sanctuary policy"
    assert where_topics(replace(STORY, cities=(), topics=())) == ""
    assert where_topics(replace(STORY, cities=()), topic_label=topic) == (
        "Immigration enforcement, National Guard / troops"
    )
    # without a catalog (or for an id it no longer has), an id still reads as words
    assert where_topics(replace(STORY, cities=())) == "Immigration enforcement, National guard"
    assert plain_topic("new-topic-id") == "New topic id"


def test_also_reported() -> None:
    assert also_reported(STORY) == "Also reported by WBEZ, WTTW"
    assert also_reported(replace(STORY, outlets=("Block Club Chicago",))) is None
    assert also_reported(replace(STORY, outlets=("Block Club Chicago", ""))) is None
    many = replace(STORY, outlets=tuple(f"O{i}" for i in range(9)))
    assert also_reported(many) == "Also reported by O0, O1, O2, O3, O4, O5 and 3 more"


def test_why_short() -> None:
    # classify writes 'topic:x ← "ICE" + "arrest"': no stray quotes may reach the footer
    assert why_short(STORY) == "Matched: ICE, arrest, Pilsen"
    assert why_short(replace(STORY, why=())) == "Matched your subscription"
    assert why_short(replace(STORY, why=("plain evidence", "plain evidence"))) == "Matched: plain evidence"
    long = replace(STORY, why=tuple(f"topic:x ← term{i}" for i in range(60)))
    assert len(why_short(long)) <= 120 and why_short(long).endswith("…")


@pytest.mark.parametrize("story_id", [1, 42, 987654321])
def test_footer_ends_with_story_ref(story_id: int) -> None:
    text = footer(replace(STORY, id=story_id))
    assert text.endswith(f"story #{story_id}")
    found = STORY_REF_RE.search(text)
    assert found is not None and int(found.group(1)) == story_id
    long = replace(STORY, id=story_id, why=tuple(f"e ← evidence number {i} story #9" for i in range(40)))
    found = STORY_REF_RE.search(footer(long))
    assert found is not None and int(found.group(1)) == story_id


def test_plain_text_has_every_part() -> None:
    text = plain_text(STORY, lambda c: "Chicago, IL", load_topics().label)
    lines = text.splitlines()
    assert lines[0] == STORY.title and lines[1] == STORY.url
    assert "Chicago, IL · Immigration enforcement" in text
    assert "Source: Block Club Chicago · 2025-10-04 13:05 UTC" in text
    assert "Also reported by WBEZ, WTTW" in text
    assert lines[-1].endswith("story #42")
    assert STORY.summary not in plain_text(replace(STORY, summary=""))
