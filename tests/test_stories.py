"""bot.stories: which headlines are the same event, the candidate index, link ranking."""

from __future__ import annotations

import random

import pytest

from bot.stories import (
    WINDOW_SECONDS,
    ClusterIndex,
    TitleSignature,
    _jaccard_reaches,
    _trigrams,
    is_google_news_url,
    jaccard,
    key_tokens,
    link_rank,
    normalized_title,
    same_story,
    title_fingerprint,
)

H = 3600.0

SAME = [
    # syndicated rewording
    ("ICE agents arrest 5 people in Pilsen raid", "ICE agents arrested 5 people in Pilsen raid, witnesses say"),
    ("Federal agents detain 12 at Little Village car wash", "Federal agents detain 12 at a Little Village car wash"),
    ("Trump shrinks Bears Ears, Grand Staircase-Escalante national monuments again",
     "Trump shrinks sizes of Bears Ears, Grand Staircase-Escalante monuments — again"),
    ("Chicago council passes sanctuary ordinance", "City council in Chicago passes sanctuary ordinance"),
    # case, punctuation, entities, accents, possessives
    ("Mayor's office: ICE   raid in Pilsen", "mayor office ice raid in pilsen"),
    ("Guard &amp; troops reach Broadview", "Guard & troops reach Broadview"),
    ("Café owner détenu par ICE", "Cafe owner detenu par ICE"),
    ("Chicago’s mayor condemns raid", "Chicago's mayor condemns raid"),
    # Headline Case against sentence case: capitals alone do not make names
    ("National Guard Troops Arrive At Broadview Facility", "National Guard troops arrive at Broadview facility"),
    ("Judge Blocks Trump Plan To Send 300 Guard Troops To Chicago",
     "Judge blocks Trump plan to send 300 Guard troops to Chicago"),
]

APART = [
    # a different place
    ("ICE arrests 5 in Pilsen", "ICE arrests 5 in Cicero"),
    ("Chicago city council passes sanctuary ordinance", "Evanston city council passes sanctuary ordinance"),
    ("Chicago City Council Passes Sanctuary Ordinance", "Evanston City Council Passes Sanctuary Ordinance"),
    # a different number
    ("ICE arrests 5 in Pilsen", "ICE arrests 7 in Pilsen"),
    ("Judge Blocks Plan To Send 300 Guard Troops To Chicago", "Judge Blocks Plan To Send 500 Guard Troops To Chicago"),
    # a different person
    ("Agents detain Maria Lopez outside school", "Agents detain Jose Ramirez outside school"),
    # simply different news
    ("Guard convoy reaches Elwood", "Sanctuary ordinance vote delayed"),
    ("", "ICE arrests 5 in Pilsen"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_same_story(a: str, b: str) -> None:
    assert same_story(TitleSignature.of(a), TitleSignature.of(b))
    assert same_story(TitleSignature.of(b), TitleSignature.of(a))


@pytest.mark.parametrize(("a", "b"), APART)
def test_different_stories(a: str, b: str) -> None:
    assert not same_story(TitleSignature.of(a), TitleSignature.of(b))
    assert not same_story(TitleSignature.of(b), TitleSignature.of(a))


def test_fingerprint_and_normalized_title() -> None:
    assert normalized_title("Chicago’s  MAYOR: ICE-raid!") == "chicago mayor ice raid"
    assert title_fingerprint("ICE raid in Pilsen") == title_fingerprint("ice RAID  in pilsen!")
    assert title_fingerprint("ICE raid in Pilsen") != title_fingerprint("ICE raid in Cicero")
    assert len(title_fingerprint("x")) == 24


def test_key_tokens_are_numbers_and_names() -> None:
    assert key_tokens("ICE arrests 5 in Pilsen") == {"5", "pilsen"}
    assert key_tokens("Mayor Johnson's order on ICE") == {"johnson"}  # first word and generic caps skipped


def test_link_rank_prefers_publisher_then_earliest() -> None:
    gn = "https://news.google.com/rss/articles/CBMiabc"
    assert is_google_news_url(gn) and not is_google_news_url("https://suntimes.com/x")
    assert link_rank("https://suntimes.com/x", 200.0) < link_rank(gn, 100.0)
    assert link_rank("https://a.com/x", 100.0) < link_rank("https://b.com/y", 200.0)
    assert link_rank("", 1.0)[0] == 1  # no link is no better than a redirect
    assert link_rank(gn, 5.0) == (1, 5.0)


def test_cluster_index_find_joins_within_window() -> None:
    idx = ClusterIndex()
    idx.add(1, "ICE agents arrest 5 people in Pilsen raid", 1000 * H)
    idx.add(2, "Guard convoy reaches Elwood", 1000 * H)
    assert idx.find("ICE agents arrested 5 people in Pilsen raid, witnesses say", 1001 * H) == 1
    assert idx.find("ICE agents arrest 5 people in Pilsen raid", 1000 * H - 71 * H) == 1  # exact, inside
    assert idx.find("ICE agents arrest 5 people in Pilsen raid", 1000 * H + 73 * H) is None  # exact, outside
    assert idx.find("ICE arrests 5 people in Cicero raid", 1000 * H) is None
    assert idx.find("Guard convoy reaches Elwood", 1000 * H) == 2
    assert idx.find("Something else entirely", 1000 * H) is None
    assert len(idx) == 2


def test_cluster_index_matches_any_headline_of_a_story() -> None:
    idx = ClusterIndex()
    idx.add(1, "Federal agents detain 12 at Little Village car wash", 0.0)
    idx.add(1, "Dozen detained in Little Village immigration sweep", 10 * H)
    assert idx.find("Dozen detained in Little Village immigration sweep, activists say", 70 * H) == 1
    assert len(idx) == 1


def test_cluster_index_prefers_the_story_sharing_more_words() -> None:
    idx = ClusterIndex()
    idx.add(1, "ICE agents arrest 5 people in Pilsen", 0.0)
    idx.add(2, "ICE agents arrest 5 people in Pilsen raid near church", 0.0)
    assert idx.find("ICE agents arrest 5 people in Pilsen raid near the church", 0.0) == 2


def test_cluster_index_prune_forgets_old_stories() -> None:
    idx = ClusterIndex()
    idx.add(1, "ICE agents arrest 5 people in Pilsen raid", 0.0)
    idx.add(2, "Guard convoy reaches Elwood", 100 * H)
    idx.add(3, "Sanctuary ordinance vote delayed", 0.0)
    idx.add(3, "Sanctuary ordinance vote delayed again", 100 * H)  # one recent headline keeps it
    idx.prune(0.0 + WINDOW_SECONDS * 1.5 + 1)
    assert len(idx) == 2
    assert idx.find("ICE agents arrest 5 people in Pilsen raid", 0.0) is None
    assert idx.find("Guard convoy reaches Elwood", 100 * H) == 2
    assert idx.find("Sanctuary ordinance vote delayed", 100 * H) == 3
    assert not any(1 in ids for ids in idx._by_token.values())
    assert not any(1 in ids for ids in idx._by_fingerprint.values())


def test_cluster_index_remove() -> None:
    idx = ClusterIndex()
    idx.add(1, "ICE agents arrest 5 people in Pilsen raid", 0.0)
    idx.add(2, "Guard convoy reaches Elwood", 0.0)
    idx.remove([1, 99])
    assert len(idx) == 1
    assert idx.find("ICE agents arrest 5 people in Pilsen raid", 0.0) is None
    assert idx.find("Guard convoy reaches Elwood", 0.0) == 2
    idx.add(1, "ICE agents arrest 5 people in Pilsen raid", 0.0)  # a reused id works again
    assert idx.find("ICE agents arrest 5 people in Pilsen raid", 0.0) == 1


def test_cluster_index_discard_takes_back_exactly_one_headline() -> None:
    """A rolled-back batch's headlines leave the index; the story's other headlines stay."""
    index = ClusterIndex()
    kept = index.add(7, "Federal agents detain 12 at Little Village car wash", 1000.0)
    joined = index.add(7, "Immigration agents raid taco stand on 26th Street in Little Village", 1000.0)
    assert index.find("Immigration agents raid taco stand on 26th Street in Little Village", 1000.0) == 7
    index.discard(joined)
    assert index.find("Immigration agents raid taco stand on 26th Street in Little Village", 1000.0) is None
    assert index.find("Federal agents detain 12 at Little Village car wash", 1000.0) == 7
    index.discard(kept)
    assert len(index) == 0 and index.find("Federal agents detain 12 at Little Village car wash", 1000.0) is None
    index.discard(kept)  # twice is harmless


def test_the_likeness_bound_decides_as_the_whole_jaccard() -> None:
    """`_jaccard_reaches` skips building the other trigram set when the shared trigrams alone
    rule it out; it must answer exactly as the Jaccard it stands for, at the floor too."""
    ab = _trigrams("ab")
    edge = frozenset(ab | {("x", "y", "z"), ("z", "y", "x")})  # "ab" inside it: 3 / 5 = 0.6 exactly
    assert jaccard(edge, _trigrams("ab")) == 0.6
    assert _jaccard_reaches(edge, "ab", 0.6)
    assert not _jaccard_reaches(edge, "", 0.6) and not _jaccard_reaches(frozenset(), "ab", 0.6)
    rng = random.Random(7)
    words = "ice agents raid chicago pilsen guard troops city council vote sanctuary law".split()
    checked = 0
    for _ in range(3000):
        a = " ".join(rng.choices(words, k=rng.randint(1, 9)))
        b = " ".join(rng.choices(words, k=rng.randint(0, 9)))
        for floor in (0.3, 0.6, 0.8):
            ours = _trigrams(a)
            assert _jaccard_reaches(ours, b, floor) == (jaccard(ours, _trigrams(b)) >= floor), (a, b, floor)
            checked += _jaccard_reaches(ours, b, floor)
    assert checked > 100  # both answers were exercised
