"""Incidental-place frames: is a place mention where the story happens, or only mentioned?

A news item names places that are not where the event happens: a sports opponent ("Bears beat
Detroit"), a flight destination ("flown to El Paso"), an origin ("Marines from Twentynine
Palms", "a Milwaukee man"), the court that ruled ("a judge in San Francisco ruled on
Portland's…"), an earlier event ("as in Los Angeles last summer"), a street or beach
("on Montrose", "Montrose Beach" is handled earlier). ``frame_of`` looks at the few words
around one mention, inside its clause, and returns the frame's kind or None.

Kinds (what ``PlaceFinder`` does with them, see places.py):
- ``cmp``    comparison / earlier event: dropped when any unframed place (or the feed's city)
             is found;
- ``opp``    sports opponent (only in a sports context): dropped the same way;
- ``street`` a small city's name right after "on/along/down" (a street): dropped the same way;
- ``legis``  a state or national capital named for its legislature ("lawmakers in
             Springfield", "Sacramento lawmakers"): always dropped, like ``cmp``;
- ``court``, ``origin``, ``travel``: dropped when an unframed place (or the feed's city)
             in another metro is found; kept next to a place of the same metro
             ("a judge in Chicago ruled on Broadview").

The word lists come from the language file (config/lang/<lang>.toml ``[frames]`` and
``[clauses]``); config/cities.toml ``[frames]`` may replace any of them for one deployment.
A frame is a ``Frame(kind, side)``: the ``FrameKind`` above and whether the framing words
come before (``Side.PRE``) or after (``Side.POST``) the place.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.errors import ConfigError
from bot.lang import Language, default_language
from bot.relevance.text import Tokens

# a clause ends at these separators; commas do not end it (lists, appositions)
_CLAUSE_BREAK = re.compile(r"[.!?:;\n\"()\[\]]| - ")
_ONLY_PERIOD = re.compile(r"^\.\s*$")
WINDOW = 6


class FrameKind(StrEnum):
    """Why a mention is incidental (see the module docstring for what each one drops)."""

    CMP = "cmp"
    OPP = "opp"
    STREET = "street"
    LEGIS = "legis"
    COURT = "court"
    ORIGIN = "origin"
    TRAVEL = "travel"
    LANDMARK = "landmark"


class Side(StrEnum):
    """Where the framing words are: before the place or after it."""

    PRE = "pre"
    POST = "post"


@dataclass(frozen=True, slots=True)
class Frame:
    """A mention's frame: what kind, and on which side of the place its words are."""

    kind: FrameKind
    side: Side


_FRAMES = {(k, s): Frame(k, s) for k in FrameKind for s in Side}


def _frame(kind: FrameKind, side: Side) -> Frame:
    return _FRAMES[(kind, side)]


@dataclass(frozen=True, slots=True)
class Frames:
    cmp_before: frozenset[str]
    cmp_window: frozenset[str]
    cmp_after: tuple[tuple[str, ...], ...]
    court_nouns: frozenset[str]
    court_verbs: frozenset[str]
    seat_window: frozenset[str]
    court_fillers: frozenset[str]
    from_not_origin: frozenset[str]
    origin_window: frozenset[str]
    origin_after: frozenset[str]
    travel_window: frozenset[str]
    opp_before: frozenset[str]
    opp_to: frozenset[str]
    sports_words: frozenset[str]
    sports_phrases: tuple[tuple[str, ...], ...]
    event_words: frozenset[str]
    event_prefixes: tuple[str, ...]
    team_names: frozenset[str]  # original casing
    legislature_words: frozenset[str]
    street_before: frozenset[str]
    street_not_after: frozenset[str]
    cmp_than: frozenset[str]
    legis_preps: frozenset[str]
    loc_preps: frozenset[str]
    road_words: frozenset[str]
    cmp_as: frozenset[str]
    cmp_pronouns: frozenset[str]
    articles: frozenset[str]
    frame_preps: frozenset[str]
    party_letters: frozenset[str]
    travel_preps: frozenset[str]
    origin_preps: frozenset[str]
    street_joiners: frozenset[str]
    street_pair_joiners: frozenset[str]
    opp_meet: frozenset[str]
    abbreviations: frozenset[str]  # a period after these ends no clause

    @classmethod
    def from_config(
        cls, data: Mapping[str, Sequence[str]] | None, lang: Language | None = None
    ) -> Frames:
        """The language's frame words (default: English), with cities.toml [frames] overrides."""
        lang = lang or default_language()
        merged: dict[str, Sequence[str]] = dict(lang.frames)
        for k, v in (data or {}).items():
            if k not in lang.frames:
                raise ConfigError(f"cities.toml [frames]: unknown key {k!r}")
            merged[k] = [str(x) for x in v]

        def low(k: str) -> frozenset[str]:
            return frozenset(x.lower().rstrip(".") for x in merged[k] if " " not in x)

        sports = [x.lower() for x in merged["sports_words"]]
        return cls(
            cmp_before=low("cmp_before"),
            cmp_window=low("cmp_window"),
            cmp_after=tuple(tuple(x.lower().split()) for x in merged["cmp_after"]),
            court_nouns=low("court_nouns"),
            court_verbs=low("court_verbs"),
            seat_window=low("seat_window"),
            court_fillers=low("court_fillers"),
            from_not_origin=low("from_not_origin"),
            origin_window=low("origin_window"),
            origin_after=low("origin_after"),
            travel_window=low("travel_window"),
            opp_before=low("opp_before"),
            opp_to=low("opp_to"),
            sports_words=frozenset(x for x in sports if " " not in x),
            sports_phrases=tuple(tuple(x.split()) for x in sports if " " in x),
            event_words=frozenset(x.lower() for x in merged["event_words"] if not x.endswith("*")),
            event_prefixes=tuple(x.lower()[:-1] for x in merged["event_words"] if x.endswith("*")),
            team_names=frozenset(merged["team_names"]),
            legislature_words=low("legislature_words"),
            street_before=low("street_before"),
            street_not_after=low("street_not_after"),
            cmp_than=low("cmp_than"),
            legis_preps=low("legis_preps"),
            loc_preps=low("loc_preps"),
            road_words=low("road_words"),
            cmp_as=low("cmp_as"),
            cmp_pronouns=low("cmp_pronouns"),
            articles=low("articles"),
            frame_preps=low("frame_preps"),
            party_letters=low("party_letters"),
            travel_preps=low("travel_preps"),
            origin_preps=low("origin_preps"),
            street_joiners=low("street_joiners"),
            street_pair_joiners=low("street_pair_joiners"),
            opp_meet=low("opp_meet"),
            abbreviations=lang.abbreviations,
        )

    def is_break(self, toks: Tokens, k: int) -> bool:
        """Does the separator before token k end a clause?"""
        sep = toks.seps[k]
        if not _CLAUSE_BREAK.search(sep):
            return False
        if k > 0 and _ONLY_PERIOD.match(sep):
            prev = toks.orig[k - 1]
            if len(prev) == 1 or prev.lower() in self.abbreviations:
                return False
        return True

    def clause_start(self, toks: Tokens, i: int, limit: int = WINDOW) -> int:
        """First token index of the window before token i that stays inside i's clause."""
        k = i
        lo = max(0, i - limit)
        while k > lo and not self.is_break(toks, k):
            k -= 1
        return k

    def has_event(self, toks: Tokens, i: int, end: int) -> bool:
        """An event word in the mention's clause, a few words either side."""
        low = toks.lower
        start = self.clause_start(toks, i)
        words = self.event_words
        prefixes = self.event_prefixes
        for k in range(start, i):
            t = low[k]
            if t in words or t.startswith(prefixes):
                return True
        k = end
        stop = min(len(low), end + 4)
        while k < stop and not self.is_break(toks, k):
            t = low[k]
            if t in words or t.startswith(prefixes):
                return True
            k += 1
        return False

    def is_sports(self, toks: Tokens) -> bool:
        """Two distinct sports words, or one plus a capitalized team nickname."""
        words = self.sports_words.intersection(toks.lower)
        n = len(words)
        if n >= 2:
            return True
        if self.sports_phrases:
            low = toks.lower
            for ph in self.sports_phrases:
                first = ph[0]
                for k, t in enumerate(low):
                    if t == first and tuple(low[k : k + len(ph)]) == ph:
                        n += 1
                        break
                if n >= 2:
                    return True
        if n >= 1 and self.team_names.intersection(toks.orig):
            return True
        return False


def _contains(seq: list[str], ph: tuple[str, ...]) -> bool:
    m = len(ph)
    return any(tuple(seq[k : k + m]) == ph for k in range(len(seq) - m + 1))


def frame_of(
    fr: Frames,
    toks: Tokens,
    i: int,
    end: int,
    *,
    sports: bool,
    small: bool,
    known_places: Container[str] = frozenset(),
    covered: Container[int] = frozenset(),
    title_case: bool = False,
    alias: bool = False,
    capital: bool = False,
) -> Frame | None:
    """The frame of the mention at tokens [i, end), or None when unframed."""
    lower = toks.lower
    seps = toks.seps
    n = len(lower)
    start = fr.clause_start(toks, i)
    full_pre = lower[start:i]  # the window before another place's words are cut off
    for k in range(i - 1, start - 1, -1):
        if k in covered:  # words before another place belong to that place
            start = k + 1
            if start < i and seps[start] == "-":
                start += 1  # and so does its suffix: "Chicago-born"
            break
    pre = lower[start:i]
    p1 = pre[-1] if pre else ""
    p2 = pre[-2] if len(pre) >= 2 else ""
    p3 = pre[-3] if len(pre) >= 3 else ""
    possessive = end < n and lower[end] == "s" and "'" in seps[end]

    if capital and not possessive and not fr.has_event(toks, i, end):
        if pre and p1 in fr.legis_preps and fr.legislature_words.intersection(pre):
            return _frame(FrameKind.LEGIS, Side.PRE)
        if end < n and not fr.is_break(toks, end) and lower[end] in fr.legislature_words:
            return _frame(FrameKind.LEGIS, Side.POST)

    # --- before the place -----------------------------------------------------------
    if pre:
        if sports and not possessive and not alias:  # "at Soldier Field" is the venue
            if p1 in fr.opp_before or (p1 == "to" and p2 in fr.opp_to):
                return _frame(FrameKind.OPP, Side.PRE)
            if p1 in fr.loc_preps and not fr.road_words.isdisjoint(pre):
                return _frame(FrameKind.OPP, Side.PRE)  # "drop a road game in Columbus"
            # "beat the Green Bay Packers", "fell to the Los Angeles Lakers"
            if p1 == "the" and (
                (p2 in fr.opp_before and p2 != "at") or (p2 == "to" and p3 in fr.opp_to)
            ):
                return _frame(FrameKind.OPP, Side.PRE)
        if p1 in fr.cmp_before or (p1 == "in" and p2 in fr.cmp_as):
            return _frame(FrameKind.CMP, Side.PRE)
        if p1 in fr.loc_preps and p2 in fr.cmp_pronouns and p3 in fr.cmp_than:
            return _frame(FrameKind.CMP, Side.PRE)  # "smaller than those in Los Angeles"
        if p1 in fr.articles and p2 in fr.cmp_before:
            return _frame(FrameKind.CMP, Side.PRE)  # "after the Los Angeles deployment"
        if p1 in fr.frame_preps:
            if fr.cmp_window.intersection(pre[:-1]):
                return _frame(FrameKind.CMP, Side.PRE)
            for ph in fr.cmp_after:  # "last year's deployment in Los Angeles"
                if len(ph) > 1 and _contains(pre[:-1], (*ph, "s")):
                    return _frame(FrameKind.CMP, Side.PRE)
        if p1 in fr.party_letters and "(" in seps[i - 1] and "-" in seps[i]:
            return _frame(FrameKind.ORIGIN, Side.PRE)  # "Rep. Delia Ramirez (D-Chicago)": a district
        if p1 in fr.loc_preps:
            if p2 in fr.court_nouns or p2 in fr.court_verbs:
                return _frame(FrameKind.COURT, Side.PRE)
            # "U.S. District Judge Karin Immergut in Portland": a court noun, then a name
            last = len(pre) - 1  # index of "in"/"at"
            for k in range(last - 2, max(-1, last - 4), -1):
                if pre[k] in fr.court_nouns and all(
                    toks.orig[start + x][:1].isupper() for x in range(k + 1, last)
                ):
                    return _frame(FrameKind.COURT, Side.PRE)
            if fr.seat_window.intersection(pre[:-1]):
                return _frame(FrameKind.COURT, Side.PRE)  # "a freeze on federal grants in Washington"
        if p1 in fr.travel_preps:
            # "nonstop flights from O'Hare to Portland": the other place does not end it
            if fr.travel_window.intersection(full_pre[:-1]):
                return _frame(FrameKind.TRAVEL, Side.PRE)
        if p1 == "from" and len(pre) > 1 and (p2 not in fr.from_not_origin or p3 == "who"):
            # clause-initial "From Los Angeles to Chicago, …" is a span; "troops moved from
            # X" leave X (the story), but "a nurse who moved from X" comes from X
            return _frame(FrameKind.ORIGIN, Side.PRE)
        if p1 in fr.origin_preps and fr.origin_window.intersection(pre[:-1]):
            return _frame(FrameKind.ORIGIN, Side.PRE)
        if small and not possessive and p1 in fr.street_before and p2 not in fr.street_not_after:
            return _frame(FrameKind.STREET, Side.PRE)
        if (
            small
            and not possessive
            and p1 in fr.street_joiners
            and len(pre) >= 3
            and pre[-3] in fr.street_before
            and toks.orig[i - 2][:1].isupper()
        ):
            return _frame(FrameKind.STREET, Side.PRE)  # "on Elston near Addison"
        if (
            small
            and not possessive
            and p1 in fr.street_pair_joiners
            and len(pre) >= 2
            and toks.orig[i - 2][:1].isupper()
            and not toks.orig[i - 2].isupper()
            and p2 not in known_places
            and (i - 2) not in covered
            and not title_case
        ):
            return _frame(FrameKind.STREET, Side.PRE)  # "closes Elston near Addison", "Lawrence and Kedzie"

    # --- after the place ----------------------------------------------------------------
    if end < n and not fr.is_break(toks, end):
        nxt = lower[end : end + 4]
        for ph in fr.cmp_after:
            if tuple(nxt[: len(ph)]) == ph:
                return _frame(FrameKind.CMP, Side.POST)
        k = 0
        while k < len(nxt) and nxt[k] in fr.court_fillers:
            k += 1
        if k < len(nxt) and nxt[k] in fr.court_nouns:
            return _frame(FrameKind.COURT, Side.POST)
        if nxt and nxt[0] in fr.origin_after and not possessive:
            return _frame(FrameKind.ORIGIN, Side.POST)
        # "… for Seattle, where they face the Seahawks"
        if sports and not alias and nxt and nxt[0] == "where":
            if any(w in fr.opp_before or w in fr.opp_meet for w in nxt[1:]):
                return _frame(FrameKind.OPP, Side.POST)
    return None
