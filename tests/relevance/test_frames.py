"""Incidental places (bot/relevance/frames.py) and strong-evidence pruning, one rule at a time."""

from __future__ import annotations

import pytest

from bot.relevance import Classifier
from bot.relevance.frames import Frame, FrameKind, Frames, Side, frame_of
from bot.relevance.places import tokens_for


@pytest.mark.parametrize(
    ("title", "summary", "default", "want", "forbid"),
    [
        # sports opponent (only in a sports context)
        ("Bulls vs. Milwaukee: five takeaways", "Chicago lost its fourth straight game.", None,
         {"chicago-il"}, {"milwaukee-wi"}),
        ("Blazers open road trip at Denver", "Portland has lost four straight.", None,
         {"portland-or"}, {"denver-co"}),
        ("Guard troops at Chicago's Soldier Field for Bears game", "The season opener began.",
         None, {"chicago-il"}, set()),
        ("Guard troops arrive at Denver airport", "Portland officials objected.", None,
         {"denver-co"}, set()),  # no sports context: "at Denver" is a place
        # comparison / earlier event
        ("Guard patrols begin in Chicago", "Troops were deployed, as in Los Angeles last summer.",
         None, {"chicago-il"}, {"los-angeles-ca"}),
        ("Trump says Chicago is next after Los Angeles and Washington", "", None,
         {"chicago-il"}, {"los-angeles-ca", "washington-dc"}),
        ("Raids in Los Angeles and Chicago last summer left scars in Denver", "", None,
         {"denver-co"}, {"los-angeles-ca", "chicago-il"}),
        # court seat
        ("A judge in San Francisco ruled on Chicago's Guard lawsuit", "", None,
         {"chicago-il"}, {"san-francisco-ca"}),
        ("U.S. District Judge Karin Immergut in Portland blocked the deployment to Chicago", "",
         None, {"chicago-il"}, {"portland-or"}),
        ("Federal judge in Portland blocks Guard deployment", "", None, {"portland-or"}, set()),
        ("Judge in Chicago rules on Broadview protest limits", "", None, {"chicago-il"}, set()),
        # origin
        ("Chicago man detained by ICE in Milwaukee", "", None, {"milwaukee-wi"}, {"chicago-il"}),
        ("Marines from Twentynine Palms arrive", "The Marines will guard federal buildings.",
         "los-angeles-ca", {"los-angeles-ca"}, {"twentynine-palms-ca"}),
        ("Border Patrol moves from Charlotte to Raleigh", "", None,
         {"charlotte-nc", "raleigh-nc"}, set()),  # leaving X is about X
        # travel
        ("ICE detainee put on flight to Houston", "The man was arrested in Chicago on Monday.",
         None, {"chicago-il"}, {"houston-tx"}),
        # streets, beaches, parks
        ("Swimmer drowns at Columbus Park lagoon", "Police in Chicago investigate.", None,
         {"chicago-il"}, {"columbus-oh"}),
        ("Chicago Park District cancels events", "", None, {"chicago-il"}, set()),
        ("Crash closes Elston near Addison during rush hour", "Chicago police responded.", None,
         {"chicago-il"}, {"addison-il"}),
        ("Border Patrol agents descend on Cicero", "Chicago leaders condemned the raids.", None,
         {"cicero-il", "chicago-il"}, set()),
        # headline / dateline beat a lone incidental mention
        ("Tear gas fired at Portland ICE building", "Gov. Tina Kotek, speaking in Eugene, "
         "called for calm.", None, {"portland-or"}, {"eugene-or"}),
        ("Guard deployment", "CHICAGO (AP) — Troops arrived at the Elwood base on Sunday, "
         "officials in Springfield said.", None, {"chicago-il"}, set()),
        ("Advocates sue over Chicago raids", "NEW YORK (AP) — A coalition of immigrant "
         "groups filed suit on Monday.", None, {"chicago-il"}, {"new-york-ny"}),
        ("Agents sweep car washes", "CHICAGO (AP) — Border Patrol agents detained workers "
         "in Melrose Park.", None, {"chicago-il", "melrose-park-il"}, set()),
        # an event word keeps a second place named once
        ("Guard troops leave Los Angeles", "Some will be redeployed to Portland, officials "
         "said.", None, {"los-angeles-ca", "portland-or"}, set()),
        ("Guard troops arrive in Memphis", "A second contingent is scheduled to reach Chicago "
         "on Friday.", None, {"memphis-tn", "chicago-il"}, set()),
        # small suburbs need context: state, metro core or the feed's city
        ("Agents detain man in Melrose Park", "Illinois officials condemned it.", None,
         {"melrose-park-il", "chicago-il"}, set()),
        ("Agents detain man in Melrose Park", "Officials condemned it.", "chicago-il",
         {"melrose-park-il", "chicago-il"}, set()),
        # scene-setting names (anchor_only aliases) place small names but route nowhere
        ("Agents detain man in Melrose Park", "Gov. JB Pritzker condemned the arrest.", None,
         {"melrose-park-il", "chicago-il"}, set()),
        ("Pritzker signs budget", "The law takes effect Jan. 1.", None, set(), {"chicago-il"}),
        # seat of government, chancery court, comparisons in other words
        ("Washington funding freeze delays Denver bridge", "A freeze on federal grants in "
         "Washington has delayed the work in Denver.", None, {"denver-co"}, {"washington-dc"}),
        ("Nashville chancellor rules Memphis Guard mission unlawful", "", None,
         {"memphis-tn"}, {"nashville-tn"}),
        ("Charlotte sweep mirrors Chicago operation", "", None, {"charlotte-nc"},
         {"chicago-il"}),
        ("New Orleans officials fear a repeat of Chicago", "", None, {"new-orleans-la"},
         {"chicago-il"}),
        ("Unlike Chicago, Memphis welcomed the Guard", "", None, {"memphis-tn"},
         {"chicago-il"}),
        ("Portland protests smaller than those in Los Angeles", "", None, {"portland-or"},
         {"los-angeles-ca"}),
        # travel past another place; residents outrank a travel stop
        ("O'Hare adds nonstop service to Portland, Maine", "", None, {"chicago-il"},
         {"portland-me"}),
        ("Charlotte man deported on flight to Honduras", "ICE said the flight left from "
         "Alexandria, Louisiana.", None, {"charlotte-nc"}, {"alexandria-la"}),
        ("Lottery winner who moved from Phoenix claims prize", "A Houston nurse who moved to "
         "Texas from Phoenix won.", None, {"houston-tx"}, {"phoenix-az"}),
        # sports: "the" before the opponent, "where they face", venues are not opponents
        ("Blackhawks lose in shootout", "Chicago dropped a 3-2 shootout decision to the Los "
         "Angeles Kings.", None, {"chicago-il"}, {"los-angeles-ca"}),
        ("Panthers head out", "The Panthers left Charlotte on Friday for Seattle, where they "
         "face the Seahawks in a playoff game.", None, {"charlotte-nc"}, {"seattle-wa"}),
        # a capital named for its legislature is the government
        ("Lawmakers in Washington debate ICE funding", "Congress faces a deadline.", None,
         set(), {"washington-dc"}),
        ("Sacramento lawmakers weigh limits on ICE at schools", "", None, set(),
         {"sacramento-ca"}),
        ("Protesters march on the Capitol in Sacramento against ICE", "", None,
         {"sacramento-ca"}, set()),  # an event there
        ("Guard troops deployed to Washington as Congress debates", "", None,
         {"washington-dc"}, set()),
        # only framed places and a feed city: the feed city
        ("Aldermen cite arrests near a school in Los Angeles last spring", "", "chicago-il",
         {"chicago-il"}, {"los-angeles-ca"}),
    ],
)  # fmt: skip
def test_incidental_places(
    classifier: Classifier, title: str, summary: str, default: str | None, want: set, forbid: set
) -> None:
    m = classifier.classify(title, summary, default_city=default)
    got = set(m.cities)
    assert want <= got, m.why
    assert not (forbid & got), m.why


def _frame(text: str, name: str, *, sports: bool = False, small: bool = False):
    toks, _ = tokens_for(text, "")
    words = name.split()
    for i in range(len(toks.lower)):
        if toks.orig[i : i + len(words)] == words:
            return frame_of(Frames.from_config(None), toks, i, i + len(words), sports=sports,
                            small=small)  # fmt: skip
    raise AssertionError(name)


def test_frame_kinds() -> None:
    assert _frame("a judge in San Francisco ruled", "San Francisco") == Frame(FrameKind.COURT, Side.PRE)
    assert _frame("a San Francisco-based federal judge", "San Francisco") == Frame(FrameKind.COURT, Side.POST)
    assert _frame("flown to El Paso overnight", "El Paso") == Frame(FrameKind.TRAVEL, Side.PRE)
    assert _frame("Marines from Twentynine Palms", "Twentynine Palms") == Frame(FrameKind.ORIGIN, Side.PRE)
    assert _frame("a Milwaukee man", "Milwaukee") == Frame(FrameKind.ORIGIN, Side.POST)
    assert _frame("troops withdrawn from Portland", "Portland") is None
    assert _frame("just like Portland", "Portland") == Frame(FrameKind.CMP, Side.PRE)
    assert _frame("in Los Angeles last summer", "Los Angeles") == Frame(FrameKind.CMP, Side.POST)
    assert _frame("Bears beat Detroit", "Detroit", sports=True) == Frame(FrameKind.OPP, Side.PRE)
    assert _frame("Bears beat Detroit", "Detroit") is None
    assert _frame("crash on Montrose", "Montrose", small=True) == Frame(FrameKind.STREET, Side.PRE)
    assert _frame("agents descend on Cicero", "Cicero", small=True) is None
    assert _frame("Troops arrive in Chicago", "Chicago") is None
    assert _frame("federal grants in Washington", "Washington") == Frame(FrameKind.COURT, Side.PRE)
    assert _frame("a Nashville chancellor", "Nashville") == Frame(FrameKind.COURT, Side.POST)
    assert _frame("fell to the Los Angeles Lakers", "Los Angeles", sports=True) == Frame(FrameKind.OPP, Side.PRE)
    assert _frame("lost a road game in Columbus", "Columbus", sports=True) == Frame(FrameKind.OPP, Side.PRE)
    assert _frame("a nurse who moved from Phoenix", "Phoenix") == Frame(FrameKind.ORIGIN, Side.PRE)
    assert _frame("more than 1,500 in Houston", "Houston") is None


def test_frames_config_rejects_unknown_keys() -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="nope"):
        Frames.from_config({"nope": ["x"]})
    fr = Frames.from_config({"team_names": ["Bears"]})
    assert "Bears" in fr.team_names and "judge" in fr.court_nouns
