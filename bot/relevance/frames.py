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

Every word list lives in config/cities.toml ``[frames]``; the defaults below are used for
keys it does not set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.relevance.text import Tokens

# a clause ends at these separators; commas do not end it (lists, appositions)
_CLAUSE_BREAK = re.compile(r"[.!?:;\n\"()\[\]]| - ")
_ONLY_PERIOD = re.compile(r"^\.\s*$")
# a period after these ends no clause: "D.C. federal court", "Gov. Kotek", "Portland, Ore."
_ABBREVIATIONS = frozenset(
    """gov sen rep reps lt gen col sgt capt st mt ft dr mr mrs ms jr sr no ore ill calif colo
    conn fla ga ind kan ky la md mass mich minn miss mo mont neb nev okla pa tenn tex va
    wash wis wyo ariz ark del vt ala vs v""".split()
)


def is_break(toks: Tokens, k: int) -> bool:
    """Does the separator before token k end a clause?"""
    sep = toks.seps[k]
    if not _CLAUSE_BREAK.search(sep):
        return False
    if k > 0 and _ONLY_PERIOD.match(sep):
        prev = toks.orig[k - 1]
        if len(prev) == 1 or prev.lower() in _ABBREVIATIONS:
            return False
    return True


WINDOW = 6
_CMP_THAN = frozenset({"than", "as", "like", "to"})

DEFAULT_FRAMES: dict[str, list[str]] = {
    # a word right before the place: "like Los Angeles", "than Chicago", "another Portland"
    "cmp_before": [
        "like", "unlike", "than", "another", "after", "following", "post", "replicate",
        "replicating", "repeat", "repeating", "mirrors", "mirrored", "mirroring", "echoes",
        "echoed", "echoing", "resembles", "resembled", "resembling", "copies", "copied",
        "copying", "emulates", "emulating", "imitates", "imitating",
    ],
    # anywhere in the few words before "in/to/at/of/from/against X" in the same clause
    "cmp_window": [
        "similar", "earlier", "previously", "previous", "prior", "mirroring", "mirrored",
        "mirrors", "mirror", "echo", "echoes", "echoed", "echoing", "modeled", "modelled",
        "patterned", "reminiscent", "recalling", "recalled", "unlike", "like", "spent",
        "compared", "comparison", "same", "did", "happened", "faster", "slower", "repeat",
        "replay", "rerun", "copy", "version", "lessons",
    ],
    # right after the place: "in Los Angeles last summer", "Chicago-style"
    "cmp_after": [
        "last year", "last summer", "last spring", "last fall", "last autumn", "last winter",
        "last month", "earlier this year", "earlier this month", "weeks earlier",
        "months earlier", "a year ago", "style", "playbook",
    ],
    "court_nouns": [
        "judge", "judges", "court", "courts", "jury", "juries", "circuit", "appeals",
        "tribunal", "magistrate", "chancellor", "chancery", "courtroom", "courtrooms",
    ],
    # "a freeze on federal grants in Washington", "lobbying in Springfield": the seat of a
    # government, treated like a court seat (dropped next to a place in another metro)
    "seat_window": [
        "grants", "funding", "freeze", "budget", "shutdown", "lawmakers", "congress",
        "congressional", "legislators", "legislature", "policymakers", "regulators",
        "lobbying", "lobbyists", "lobbied", "negotiations", "appropriations",
    ],
    # "ruled in X", "filed in X" (a court's seat, not the event)
    "court_verbs": ["ruled", "ruling", "filed", "sued", "argued", "sitting", "presiding"],
    # after the place before a court noun: "San Francisco-based federal judge"
    "court_fillers": ["based", "federal", "district", "u", "s", "us", "state", "county"],
    # "from X" is an origin unless the verb before means leaving X (then X is the story)
    "from_not_origin": [
        "withdrawn", "withdraw", "withdrew", "withdrawing", "withdraws", "pulled", "pull",
        "pulling", "pulls", "removed", "remove", "removing", "out", "away", "leave", "leaves",
        "leaving", "left", "depart", "departs", "departed", "departing", "exit", "exits",
        "exited", "exiting", "evacuated", "fled", "flee", "return", "returned", "returning",
        "returns", "reporting", "reports", "live", "broadcast", "redeployed", "released",
        "freed", "miles", "blocks", "minutes", "across", "streets", "move", "moves",
        "dispatch", "dispatches", "update", "updates", "scenes", "photos", "video", "videos",
        "footage", "images", "voices", "letter", "news", "stories", "notes", "postcard",
        "moved", "moving", "shift", "shifts", "shifted", "shifting", "relocate", "relocates",
        "relocated", "relocating", "expand", "expands", "expanded", "expanding", "spread",
        "spreads", "spreading",
    ],
    # "based in X", "a native of X", "grew up in X", "trains with a club in X"
    "origin_window": [
        "based", "headquartered", "stationed", "native", "natives", "hometown", "born",
        "raised", "grew", "lives", "lived", "resides", "resided", "moved", "trains", "trained",
        "formerly", "hails",
        # where a speaker speaks: "the mayor, speaking in Nashville, said…"
        "speaks", "spoke", "speaking", "speech", "reporters", "testified", "testifying",
        "interview", "remarks", "addressed",
    ],
    # right after the place: "a Milwaukee man", "Dallas-based contractor"
    "origin_after": [
        "based", "native", "natives", "man", "woman", "men", "women", "family", "families",
        "couple", "teen", "teenager", "teens", "boy", "girl", "father", "mother", "dad", "mom",
        "student", "students", "company", "firm", "contractor", "transplant", "resident",
        "born", "raised", "bred", "training", "club", "clubs", "group", "groups", "nonprofit",
        "charity", "startup",
    ],
    "travel_window": [
        "flight", "flights", "flew", "flown", "fly", "flies", "flying", "plane", "planes",
        "jet", "airline", "airlines", "layover", "transferred", "transfer", "transfers",
        "transported", "bused", "bussed", "shipped", "deported", "airlifted", "rerouted",
        "diverted", "connecting", "nonstop", "nonstops",
    ],
    "opp_before": [
        "vs", "versus", "against", "beat", "beats", "beating", "defeat", "defeats",
        "defeated", "host", "hosts", "hosting", "hosted", "past", "over", "at", "visit",
        "visits", "visiting", "face", "faces", "facing", "edge", "edges", "edged", "top",
        "tops", "topped", "rout", "routs", "routed", "blank", "blanks", "blanked", "sweep",
        "sweeps", "swept", "down", "downs", "downed", "stun", "stuns", "stunned", "upset",
        "upsets", "outlast", "outlasts", "outlasted", "trounce", "trounced", "vs.",
    ],
    # "fall to X", "lost to X", "road trip to X", "a shootout decision to the X"
    "opp_to": [
        "fall", "falls", "fell", "lose", "loses", "lost", "losing", "trip", "travel",
        "travels", "head", "heads", "loss", "losses", "decision", "decisions",
    ],
    # sports context: two of these, or one plus a team nickname ([frames] team_names)
    "sports_words": [
        "game", "games", "season", "playoff", "playoffs", "quarterback", "touchdown",
        "touchdowns", "inning", "innings", "halftime", "overtime", "rebounds", "assists",
        "scored", "score", "points", "match", "fc", "nfl", "nba", "mlb", "nhl", "mls", "wnba", "ncaa",
        "coach", "roster", "field goal", "home run", "homer", "goals", "goalie", "pitcher",
        "standings", "preseason", "postseason", "matchup", "tipoff", "kickoff", "road trip",
        "shootout", "hat trick", "power play", "doubleheader", "series finale", "road game",
        "home game", "shutout", "walk-off", "bullpen", "free agent",
    ],
    # an event word near a place makes it part of the story even when named only once
    # in the summary ("a second contingent is scheduled to reach Chicago")
    # ("word*" is a prefix)
    "event_words": [
        "deploy*", "redeploy*", "arriv*", "reach", "reaches", "reached", "raid*", "arrest*",
        "detain*", "patrol*", "surge*", "sent", "send", "sends", "sending", "headed",
        "heading", "expand*", "launch*", "begin", "begins", "began", "protest*", "rally",
        "rallies", "rallied", "march", "marched", "marches", "marching", "shooting", "shot",
        "killed", "clash*", "federaliz*", "mobiliz*", "go", "goes", "going", "went", "next",
        "target*", "sweep*", "swept", "stationed", "occup*",
    ],
    "team_names": [],
    # a capital named for its legislature ("lawmakers in Springfield", "Sacramento lawmakers",
    # "Congress returns to Washington") is the government, not a place in the story
    "legislature_words": [
        "lawmakers", "legislature", "legislators", "legislative", "statehouse", "capitol",
        "congress", "congressional", "senators", "lobbyists", "lobbying", "assembly",
    ],
    "street_before": ["on", "along", "down", "off"],
    # "descend on Cicero", "a crackdown on Elgin": the town itself, not a street
    "street_not_after": [
        "descend", "descends", "descended", "descending", "converge", "converges",
        "converged", "converging", "raid", "raids", "crackdown", "focus", "focuses",
        "focused", "attack", "attacks", "sweep", "sweeps", "spotlight", "war", "pressure",
        "impact", "effect", "effects", "vote", "votes", "voted", "report", "deal", "plan",
        "bet", "rely", "relies", "depend", "depends", "closed", "closing", "zeroed", "bore",
        "bearing", "marched", "marching", "march", "based", "live", "lives", "living",
    ],
}  # fmt: skip


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

    @classmethod
    def from_config(cls, data: dict[str, list[str]] | None) -> Frames:
        merged = dict(DEFAULT_FRAMES)
        for k, v in (data or {}).items():
            if k not in DEFAULT_FRAMES:
                from bot.errors import ConfigError

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
        )

    def has_event(self, toks: Tokens, i: int, end: int) -> bool:
        """An event word in the mention's clause, a few words either side."""
        low = toks.lower
        start = clause_start(toks, i)
        words = self.event_words
        prefixes = self.event_prefixes
        for k in range(start, i):
            t = low[k]
            if t in words or t.startswith(prefixes):
                return True
        k = end
        stop = min(len(low), end + 4)
        while k < stop and not is_break(toks, k):
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


def clause_start(toks: Tokens, i: int, limit: int = WINDOW) -> int:
    """First token index of the window before token i that stays inside i's clause."""
    k = i
    lo = max(0, i - limit)
    while k > lo and not is_break(toks, k):
        k -= 1
    return k


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
    known_places: frozenset[str] | dict = frozenset(),
    covered: frozenset[int] | set[int] = frozenset(),
    title_case: bool = False,
    alias: bool = False,
    capital: bool = False,
) -> tuple[str, str] | None:
    """(kind, "pre"|"post") for the mention at tokens [i, end), or None when unframed."""
    lower = toks.lower
    seps = toks.seps
    n = len(lower)
    start = clause_start(toks, i)
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
        if pre and p1 in ("in", "at", "to", "from") and fr.legislature_words.intersection(pre):
            return ("legis", "pre")
        if end < n and not is_break(toks, end) and lower[end] in fr.legislature_words:
            return ("legis", "post")

    # --- before the place -----------------------------------------------------------
    if pre:
        if sports and not possessive and not alias:  # "at Soldier Field" is the venue
            if p1 in fr.opp_before or (p1 == "to" and p2 in fr.opp_to):
                return ("opp", "pre")
            if p1 in ("in", "at") and ("road" in pre or "away" in pre):
                return ("opp", "pre")  # "drop a road game in Columbus"
            # "beat the Green Bay Packers", "fell to the Los Angeles Lakers"
            if p1 == "the" and (
                (p2 in fr.opp_before and p2 != "at") or (p2 == "to" and p3 in fr.opp_to)
            ):
                return ("opp", "pre")
        if p1 in fr.cmp_before or (p1 == "in" and p2 in ("as", "like", "than")):
            return ("cmp", "pre")
        if p1 in ("in", "at") and p2 in ("those", "that", "one", "ones") and p3 in _CMP_THAN:
            return ("cmp", "pre")  # "smaller than those in Los Angeles"
        if p1 in ("the", "a", "an") and p2 in fr.cmp_before:
            return ("cmp", "pre")  # "after the Los Angeles deployment"
        if p1 in ("in", "at", "of", "from", "to", "against", "for", "with", "near", "between"):
            if fr.cmp_window.intersection(pre[:-1]):
                return ("cmp", "pre")
            for ph in fr.cmp_after:  # "last year's deployment in Los Angeles"
                if len(ph) > 1 and _contains(pre[:-1], (*ph, "s")):
                    return ("cmp", "pre")
        if p1 in ("d", "r", "i") and "(" in seps[i - 1] and "-" in seps[i]:
            return ("origin", "pre")  # "Rep. Delia Ramirez (D-Chicago)": a district
        if p1 in ("in", "at"):
            if p2 in fr.court_nouns or p2 in fr.court_verbs:
                return ("court", "pre")
            # "U.S. District Judge Karin Immergut in Portland": a court noun, then a name
            last = len(pre) - 1  # index of "in"/"at"
            for k in range(last - 2, max(-1, last - 4), -1):
                if pre[k] in fr.court_nouns and all(
                    toks.orig[start + x][:1].isupper() for x in range(k + 1, last)
                ):
                    return ("court", "pre")
            if fr.seat_window.intersection(pre[:-1]):
                return ("court", "pre")  # "a freeze on federal grants in Washington"
        if p1 in ("to", "for", "from", "in", "at", "through", "via", "into"):
            # "nonstop flights from O'Hare to Portland": the other place does not end it
            if fr.travel_window.intersection(full_pre[:-1]):
                return ("travel", "pre")
        if p1 == "from" and len(pre) > 1 and (p2 not in fr.from_not_origin or p3 == "who"):
            # clause-initial "From Los Angeles to Chicago, …" is a span; "troops moved from
            # X" leave X (the story), but "a nurse who moved from X" comes from X
            return ("origin", "pre")
        if p1 in ("in", "at", "of", "near", "outside") and fr.origin_window.intersection(pre[:-1]):
            return ("origin", "pre")
        if small and not possessive and p1 in fr.street_before and p2 not in fr.street_not_after:
            return ("street", "pre")
        if (
            small
            and not possessive
            and p1 in ("near", "and", "at")
            and len(pre) >= 3
            and pre[-3] in fr.street_before
            and toks.orig[i - 2][:1].isupper()
        ):
            return ("street", "pre")  # "on Elston near Addison"
        if (
            small
            and not possessive
            and p1 in ("near", "and")
            and len(pre) >= 2
            and toks.orig[i - 2][:1].isupper()
            and not toks.orig[i - 2].isupper()
            and p2 not in known_places
            and (i - 2) not in covered
            and not title_case
        ):
            return ("street", "pre")  # "closes Elston near Addison", "Lawrence and Kedzie"

    # --- after the place ----------------------------------------------------------------
    if end < n and not is_break(toks, end):
        nxt = lower[end : end + 4]
        for ph in fr.cmp_after:
            if tuple(nxt[: len(ph)]) == ph:
                return ("cmp", "post")
        k = 0
        while k < len(nxt) and nxt[k] in fr.court_fillers:
            k += 1
        if k < len(nxt) and nxt[k] in fr.court_nouns:
            return ("court", "post")
        if nxt and nxt[0] in fr.origin_after and not possessive:
            return ("origin", "post")
        # "… for Seattle, where they face the Seahawks"
        if sports and not alias and nxt and nxt[0] == "where":
            if any(w in fr.opp_before or w in ("play", "plays", "meet", "meets") for w in nxt[1:]):
                return ("opp", "post")
    return None
