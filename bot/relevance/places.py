"""The place finder: which cities a news item is about (``PlaceFinder.find``).

Names come from the gazetteer (bot/relevance/gazetteer.py: cities, metros, aliases, states);
the words that tell a place from a person, a street or a landmark come from the language
file (config/lang/<lang>.toml ``[places]``); incidental mentions are framed by frames.py.

Place finding rules:
1. "Name, ST" / "Name, Ill." / "Name, Illinois" / "Name Illinois" → that state's city.
2. Aliases route to their city; those marked ``context`` only when the metro, the feed's
   default city or the state is also in the text ("Austin" is Chicago's West Side only then).
3. A bare name: candidates near an anchor (a city found by rules 1–2, a dominant big city
   named in the text, the feed's city) win; then candidates in a state named in the text;
   then, with no context at all, the most populous if it is prominent (≥ 50,000 people)
   and clearly dominates (≥ 1.5× the next). Names that are common
   words or people's names (``ambiguous_names``) need rule 1 or a nearby anchor.
   A bare name must be capitalized in every word and must not look like a person's name
   ("Judge Perry", "Joaquin Phoenix", "Eugene Levy" — ``given_names``). "The village of X"
   makes a small unique name count.
4. Incidental places are dropped (``PlaceFinder._prune``, frames in frames.py): a mention in
   a sports-opponent, comparison, street or capital-as-legislature frame always; a
   landmark unless it lies near another place of the item or the feed's city; a court seat, origin or travel destination when that other
   place is in another metro; a place named once in the summary, without an event word,
   when another place has strong evidence (headline, dateline, "Name, ST", alias, repeated)
   and lies elsewhere.
5. Every kept city also routes to its metro core.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from bot.lang import Language, default_language
from bot.relevance.frames import Frame, FrameKind, Frames, Side, frame_of
from bot.relevance.gazetteer import (
    STATE_ABBREVIATIONS,
    STATE_NAMES,
    Alias,
    City,
    Gazetteer,
    PlacesConfig,
    load_places_config,
)
from bot.relevance.text import Lexicon, Tokens, norm_key, tokenize

__all__ = [
    "City",
    "FoundPlace",
    "Gazetteer",
    "PlaceDetail",
    "PlaceFinder",
    "PlacesConfig",
    "load_places_config",
    "tokens_for",
]

# state names that, bare, usually mean something else (the federal government, the country)
_BARE_STATE_EXCLUDE = frozenset({"washington", "georgia"})
# frames that drop a mention whatever else the item names
_ALWAYS_DROPPED = frozenset({FrameKind.CMP, FrameKind.OPP, FrameKind.STREET, FrameKind.LEGIS})
_SENTENCE_BREAK = re.compile(r"[.!?:;\n|\"(\[]")
_LIST_BREAK = re.compile(r"[.!?:;\n|\"()\[\]]| - ")


# --- lexicon hits ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CityNameHit:
    """A city's name (``key``: its ``norm_key``)."""

    key: str


@dataclass(frozen=True, slots=True)
class AliasHit:
    """An alias from cities.toml (``key``: its ``norm_key``)."""

    key: str


class StateForm(Enum):
    FULL = "full"  # "Illinois"
    ABBR = "abbr"  # "Ill." (AP style)
    POSTAL = "postal"  # "IL"


@dataclass(frozen=True, slots=True)
class StateHit:
    code: str
    form: StateForm


@dataclass(frozen=True, slots=True)
class NotPlaceHit:
    """An outlet or brand name that contains a place name ("Chicago Tribune")."""


NOT_PLACE = NotPlaceHit()
PlaceHit = CityNameHit | AliasHit | StateHit | NotPlaceHit


class How(StrEnum):
    """How a mention was resolved to a city."""

    QUALIFIED = "q"  # "Aurora, Ill."
    ALIAS = "alias"  # a neighbourhood, nickname or landmark alias
    CTX = "ctx"  # a context alias confirmed by its metro or state
    BARE = "bare"  # a bare city name


@dataclass(frozen=True, slots=True)
class FoundPlace:
    """One city an item is about, and the evidence (a quoted surface, "feed city" …)."""

    city: str
    evidence: str


@dataclass(slots=True)
class PlaceDetail:
    """What the abroad check (bot/relevance/world.py) needs besides the cities.

    ``spans``: tokens read as US places (resolved city names with their state qualifier,
    full and AP state names, outlet names), so "Athens, Ga.", "New Mexico" or "Georgia
    lawmakers" are never taken for places abroad; ``states``: the states named;
    ``cities``: the cities named and kept (the feed's city is not named).
    """

    spans: set[int] = field(default_factory=set)
    states: set[str] = field(default_factory=set)
    cities: list[str] = field(default_factory=list)


# --- finding places in text ---------------------------------------------------------------


@dataclass(slots=True)
class _Mention:
    i: int
    j: int
    key: str
    cities: list[City]
    aliases: list[Alias]
    qualified: City | None = None
    qualifier_end: int = 0
    landmark: bool = False


class PlaceFinder:
    """Finds the cities an item is about: [(city_id, evidence)], metro cores included."""

    def __init__(self, gaz: Gazetteer, lang: Language | None = None) -> None:
        self.gaz = gaz
        self.lang = lang = lang or default_language()
        self.frames = Frames.from_config(gaz.config.frames, lang)
        cfg = gaz.config
        lex = Lexicon()
        for key in gaz.name_keys():
            lex.add(key, CityNameHit(key))
        for a in cfg.aliases:
            lex.add(a.name, AliasHit(norm_key(a.name)))
        for code, sname in STATE_NAMES.items():
            lex.add(sname, StateHit(code, StateForm.FULL))
        for code, abbrs in STATE_ABBREVIATIONS.items():
            for ab in abbrs:
                lex.add("=" + ab, StateHit(code, StateForm.ABBR))
        for code in STATE_NAMES:
            lex.add("=" + code, StateHit(code, StateForm.POSTAL))
        for np in cfg.not_places:
            lex.add(np, NOT_PLACE)
        self.lexicon = lex

    def find(
        self,
        toks: Tokens,
        title_end: int,
        default_city: str | None = None,
        detail: PlaceDetail | None = None,
        *,
        on_topic: bool = False,
    ) -> list[FoundPlace]:
        """The cities of an item, each once, then their metro cores; the feed city if none.

        ``detail``, when given, is filled with the US spans, states and named cities.
        ``on_topic`` (the item has a topic) lets a bare name that is unique among US places
        route without a state ("raid in Bridgeview"): see ``_unique_bare``.
        """
        out = self._find(toks, title_end, default_city, detail, on_topic)
        if detail is not None:
            detail.cities = [p.city for p in out if not p.evidence.startswith("feed city")]
        return out

    def _find(
        self,
        toks: Tokens,
        title_end: int,
        default_city: str | None,
        detail: PlaceDetail | None,
        on_topic: bool = False,
    ) -> list[FoundPlace]:
        gaz = self.gaz
        words = self.lang
        hits = self.lexicon.scan(toks)
        n = len(toks.lower)
        default = gaz.get(default_city) if default_city else None
        if not hits:
            return self._default(default)
        starts: dict[int, list[tuple[int, CityNameHit | AliasHit | StateHit]]] = {}
        blocked: set[int] = set()
        for i, j, p in hits:
            if p is NOT_PLACE:
                blocked.update(range(i, j))
            else:
                starts.setdefault(i, []).append((j, p))
            if detail is not None and (
                p is NOT_PLACE or (isinstance(p, StateHit) and p.form is not StateForm.POSTAL)
            ):
                detail.spans.update(range(i, j))
        mentions: list[_Mention] = []
        states: set[str] = set()
        lower = toks.lower
        i = 0
        while i < n:
            cand = starts.get(i)
            if not cand or i in blocked:
                i += 1
                continue
            places = [
                (j, p)
                for j, p in cand
                if isinstance(p, (CityNameHit, AliasHit)) and not blocked.intersection(range(i, j))
            ]
            if places:
                j = max(j for j, _ in places)
                key = next(p.key for jj, p in places if jj == j)
                cities = gaz.by_name(key)
                aliases = gaz.aliases(key)
                state = gaz.state_by_name(key)
                if state is not None and j < n and lower[j] == "state":
                    states.add(state)
                    i = j + 1
                    continue
                if (
                    not aliases
                    and j < n
                    and not toks.seps[j].strip()
                    and toks.orig[j] in words.not_a_city_after
                ):
                    i = j + 1  # "Cumberland County", "Farragut Square", "Portland Avenue"
                    continue
                m = _Mention(i, j, key, cities, aliases)
                if (
                    not aliases
                    and j < n
                    and not toks.seps[j].strip()
                    and toks.orig[j] in words.landmark_after
                    and not (
                        j + 1 < n and toks.orig[j + 1][:1].isupper() and toks.seps[j + 1] == " "
                    )
                ):
                    m.landmark = True  # "Montrose Beach", "Columbus Park"
                q = self._qualifier(toks, j, starts)
                if q is not None:
                    code, qend = q
                    for c in cities:
                        if c.state == code:
                            m.qualified = c
                            break
                    else:
                        for a in aliases:
                            t = gaz.get(a.city)
                            if t is not None and t.state == code:
                                m.qualified = t
                                break
                    if m.qualified is not None:
                        m.qualifier_end = qend
                    else:
                        states.add(code)
                if (
                    m.qualified is None
                    and not aliases
                    and state is not None
                    and key not in _BARE_STATE_EXCLUDE
                ):
                    states.add(state)  # "Delaware", "Nevada": the state
                    i = j
                    continue
                mentions.append(m)
                i = max(j, m.qualifier_end)
                continue
            for j, p in cand:
                if isinstance(p, StateHit) and p.form is StateForm.FULL:
                    if norm_key(STATE_NAMES[p.code]) not in _BARE_STATE_EXCLUDE or (
                        j < n and lower[j] == "state"
                    ):
                        states.add(p.code)
            i += 1
        if detail is not None:
            detail.states = states
        if not mentions:
            return self._default(default)

        found: dict[str, str] = {}
        ev: dict[str, list[tuple[_Mention, How]]] = {}
        anchors: list[City] = [default] if default else []
        pending: list[_Mention] = []
        for m in mentions:
            surface = toks.surface(m.i, max(m.j, m.qualifier_end))
            if m.qualified is not None:
                self._accept(found, ev, anchors, m.qualified, surface, m, How.QUALIFIED)
                continue
            done = False
            for a in m.aliases:
                if a.context:
                    continue
                if a.after and not (m.i > 0 and lower[m.i - 1] in a.after):
                    continue
                if a.not_before and m.j < n and lower[m.j] in a.not_before:
                    continue
                done = True
                if a.anchor_only:
                    anchors.append(gaz.city(a.city))
                    continue
                self._accept(found, ev, anchors, gaz.city(a.city), surface, m, How.ALIAS)
            if not done:
                pending.append(m)
        # bare names of dominant big cities first (they anchor the rest), then context
        # aliases ("Austin" is Chicago's West Side only next to Chicago), then the rest
        later: list[_Mention] = []
        ctx: list[_Mention] = []
        for m in pending:
            if any(a.context for a in m.aliases):
                ctx.append(m)
                continue
            city = self._bare(m, toks, title_end, anchors, states, first_round=True)
            if city is None:
                later.append(m)
            else:
                self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, How.BARE)
        for m in ctx:
            for a in m.aliases:
                if not a.context:
                    continue
                target = gaz.city(a.city)
                if target.state in states or any(gaz.near(target, x) for x in anchors):
                    self._accept(found, ev, anchors, target, toks.surface(m.i, m.j), m, How.CTX)
                    break
            else:
                later.append(m)
        unresolved: list[_Mention] = []
        for rnd in (0, 1):
            rest: list[_Mention] = []
            for m in later:
                city = self._bare(m, toks, title_end, anchors, states, first_round=rnd == 0)
                if city is None:
                    (rest if rnd == 0 else unresolved).append(m)
                    continue
                self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, How.BARE)
            later = rest
        if on_topic and unresolved:
            rest = []
            for m in unresolved:
                city = self._unique_bare(m, toks, title_end)
                if city is None:
                    rest.append(m)
                else:
                    self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, How.BARE)
            unresolved = rest
        if len(unresolved) >= 2:
            self._mutual(unresolved, toks, title_end, found, ev, anchors)
        if detail is not None:
            for lst in ev.values():
                for m, _ in lst:
                    detail.spans.update(range(m.i, max(m.j, m.qualifier_end)))
        if not found:
            return self._default(default)
        keep = self._prune(found, ev, toks, title_end, default)
        if not keep:
            return self._default(default)
        out: list[FoundPlace] = []
        seen: set[str] = set()
        for cid in keep:
            if cid not in seen:
                out.append(FoundPlace(cid, f'"{found[cid]}"'))
                seen.add(cid)
        for cid in keep:
            core = gaz.metro_core(cid)
            if core and core not in seen:
                out.append(FoundPlace(core, f'"{found[cid]}" (metro)'))
                seen.add(core)
        return out

    def _default(self, default: City | None) -> list[FoundPlace]:
        if default is None:
            return []
        out = [FoundPlace(default.id, "feed city")]
        core = self.gaz.metro_core(default.id)
        if core:
            out.append(FoundPlace(core, "feed city (metro)"))
        return out

    @staticmethod
    def _accept(
        found: dict[str, str],
        ev: dict[str, list[tuple[_Mention, How]]],
        anchors: list[City],
        city: City,
        surface: str,
        m: _Mention,
        how: How,
    ) -> None:
        if city.id not in found:
            found[city.id] = surface
            anchors.append(city)
        ev.setdefault(city.id, []).append((m, how))

    # --- which of the found places the item is about --------------------------------------
    def _prune(
        self,
        found: dict[str, str],
        ev: dict[str, list[tuple[_Mention, How]]],
        toks: Tokens,
        title_end: int,
        default: City | None,
    ) -> list[str]:
        """Drop incidental places: framed mentions (frames.py) and weak lone mentions.

        1. A mention in a frame (sports opponent, comparison, street, court seat, origin,
           travel) does not count when a place outside the frame (or the feed's city) says
           where the story is; court/origin/travel frames still count next to a place of the
           same metro. A list ("in Los Angeles and Washington last summer") shares its frame.
        2. Strong evidence: the headline, the dateline, "Name, ST", a neighbourhood or other
           alias, or two mentions. When some place has it, a place named once in the summary
           with none of it is dropped unless it lies near a strong place.
        """
        gaz = self.gaz
        fr = self.frames
        conjunctions = self.lang.list_conjunctions
        lower = toks.lower
        seps = toks.seps
        n = len(lower)
        mentions: dict[int, tuple[_Mention, How]] = {}
        city_of: dict[int, list[str]] = {}
        for cid, lst in ev.items():
            for m, how in lst:
                mentions.setdefault(m.i, (m, how))
                city_of.setdefault(m.i, []).append(cid)
        order = sorted(mentions)
        sports: bool | None = None
        covered = {k for m, _ in mentions.values() for k in range(m.i, max(m.j, m.qualifier_end))}
        frame: dict[int, Frame | None] = {}
        for i in order:
            m, how = mentions[i]
            end = max(m.j, m.qualifier_end)
            small = how is How.BARE and all(gaz.city(c).population < 100_000 for c in city_of[i])
            if sports is None:
                sports = fr.is_sports(toks)
            if m.landmark:
                frame[i] = Frame(FrameKind.LANDMARK, Side.PRE)
                continue
            frame[i] = frame_of(
                fr,
                toks,
                m.i,
                end,
                sports=sports,
                small=small,
                known_places=gaz.name_keys(),
                covered=covered,
                title_case=m.i < title_end and _is_title_case(toks, 0, title_end),
                alias=how in (How.ALIAS, How.CTX),
                capital=any(c in gaz.config.capitals for c in city_of[i]),
            )
        # lists share a frame: "in Los Angeles, Washington and Memphis last summer"
        linked: list[tuple[int, int]] = []
        for a_i, b_i in itertools.pairwise(order):
            a_m = mentions[a_i][0]
            b_m = mentions[b_i][0]
            a_end = max(a_m.j, a_m.qualifier_end)
            if b_m.i - a_end > 1 or (a_end < title_end <= b_m.i):
                continue
            if any(lower[k] not in conjunctions for k in range(a_end, b_m.i)):
                continue
            if any(_LIST_BREAK.search(seps[k]) for k in range(a_end, b_m.i + 1)):
                continue
            b_end = max(b_m.j, b_m.qualifier_end)
            if b_end < n and lower[b_end] == "s" and "'" in seps[b_end]:
                continue  # "… and Chicago's mayor": a new noun phrase
            linked.append((a_i, b_i))
        # "A, B" alone is no list ("Unlike Chicago, Memphis welcomed the Guard"); "A, B and
        # C" is: a link without "and"/"or" counts only when the chain goes on with one
        joined = {
            a
            for a, b in linked
            if any(
                lower[k] in conjunctions
                for k in range(max(mentions[a][0].j, mentions[a][0].qualifier_end), b)
            )
        }
        nxt_of = dict(linked)
        kept_links = []
        for a_i, b_i in linked:
            k = a_i
            while k in nxt_of and k not in joined:
                k = nxt_of[k]
            if k in joined:
                kept_links.append((a_i, b_i))
        linked = kept_links
        for a_i, b_i in linked:
            fa = frame[a_i]
            if frame[b_i] is None and fa is not None and fa.side is Side.PRE:
                frame[b_i] = fa
        for a_i, b_i in reversed(linked):
            fb = frame[b_i]
            if frame[a_i] is None and fb is not None and fb.side is Side.POST:
                frame[a_i] = fb

        # a name that is also a word or the government ("Washington" in a headline) found
        # only because the same city is named elsewhere shares that mention's frame
        ambiguous = gaz.config.ambiguous_names
        for lst in ev.values():
            framed = next((frame[m.i] for m, _ in lst if frame[m.i] is not None), None)
            if framed is None:
                continue
            for m, how in lst:
                if frame[m.i] is None and how is How.BARE and m.key in ambiguous:
                    frame[m.i] = framed

        unframed = {cid for cid, lst in ev.items() if any(frame[m.i] is None for m, _ in lst)}
        ref = [gaz.city(c) for c in unframed]
        if default is not None:
            ref.append(default)
        # with no unframed place, the home of the people in the story ("a Charlotte man",
        # "a Mesa family") still outranks a court seat or a travel stop ("deported on a
        # flight from Alexandria, Louisiana")
        residents = [
            gaz.city(cid)
            for cid, lst in ev.items()
            if all(frame[m.i] == Frame(FrameKind.ORIGIN, Side.POST) for m, _ in lst)
        ]
        keep: list[str] = []
        for cid in found:
            if cid in unframed:
                keep.append(cid)
                continue
            city = gaz.city(cid)
            drop = True
            for m, _ in ev[cid]:
                f = frame[m.i]
                assert f is not None  # not unframed, so every mention is framed
                kind = f.kind
                if kind in _ALWAYS_DROPPED:
                    continue
                if kind is FrameKind.LANDMARK:
                    if any(gaz.near(city, r) for r in ref):
                        drop = False
                        break
                    continue
                refs = ref or (residents if kind in (FrameKind.COURT, FrameKind.TRAVEL) else ref)
                if not refs or any(gaz.near(city, r) for r in refs):
                    drop = False  # court/origin/travel: nothing else, or the same metro
                    break
            if not drop:
                keep.append(cid)
        if len(keep) < 2:
            return keep
        # strong evidence
        headline = [
            gaz.city(cid)
            for cid in keep
            if any(m.i < title_end and frame[m.i] is None for m, _ in ev[cid])
        ]
        strong: set[str] = set()
        for cid in keep:
            count = 0
            city = gaz.city(cid)
            for m, how in ev[cid]:
                if frame[m.i] is not None:
                    continue
                count += 1
                if self._dateline(toks, m, title_end):
                    # the dateline is where the reporter files: it counts unless the
                    # headline names a place elsewhere ("NEW YORK (AP) —" on a Chicago story)
                    is_strong = not headline or any(gaz.near(city, h) for h in headline)
                else:
                    is_strong = (
                        how is not How.BARE
                        or m.i < title_end
                        or fr.has_event(toks, m.i, max(m.j, m.qualifier_end))
                    )
                if is_strong:
                    strong.add(cid)
                    break
            if count >= 2:
                strong.add(cid)
        if not strong:
            return keep
        strong_cities = [gaz.city(c) for c in strong]
        return [
            cid
            for cid in keep
            if cid in strong or any(gaz.near(gaz.city(cid), s) for s in strong_cities)
        ]

    def _mutual(
        self,
        unresolved: list[_Mention],
        toks: Tokens,
        title_end: int,
        found: dict[str, str],
        ev: dict[str, list[tuple[_Mention, How]]],
        anchors: list[City],
    ) -> None:
        """Two small places of the same metro vouch for each other ("car washes in Melrose
        Park and Franklin Park"); names that are words or people never do."""
        cfg = self.gaz.config
        ok = [
            m
            for m in unresolved
            if m.cities
            and m.key not in cfg.ambiguous_names
            and m.key not in self.gaz.world_dominant
            and toks.orig[m.i][:1].isupper()
            and not self._looks_like_person(m, toks, title_end)
        ]
        picked: dict[int, City] = {}
        for a_idx, a in enumerate(ok):
            for b in ok[a_idx + 1 :]:
                if a.key == b.key:
                    continue
                pair = next(
                    (
                        (ca, cb)
                        for ca in a.cities
                        for cb in b.cities
                        if ca.id != cb.id and self.gaz.near(ca, cb)
                    ),
                    None,
                )
                if pair is not None:
                    picked.setdefault(a.i, pair[0])
                    picked.setdefault(b.i, pair[1])
        for m in ok:
            city = picked.get(m.i)
            if city is not None:
                self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, How.BARE)

    @staticmethod
    def _dateline(toks: Tokens, m: _Mention, title_end: int) -> bool:
        """The summary opens "CHICAGO —", "PORTLAND, Ore. (AP) —"."""
        if m.i != title_end:
            return False
        end = max(m.j, m.qualifier_end)
        seps = toks.seps
        for k in range(end, min(end + 4, len(seps))):
            sep = seps[k]
            if "-" in sep and (" " in sep or ")" in sep):
                return True
            if k == end and "(" not in sep and sep.strip():
                return False
        return False

    def _qualifier(
        self,
        toks: Tokens,
        j: int,
        starts: dict[int, list[tuple[int, CityNameHit | AliasHit | StateHit]]],
    ) -> tuple[str, int] | None:
        """A state right after a name ("Aurora, Ill.", "Aurora Illinois"): (code, its end)."""
        if j >= len(toks.lower):
            return None
        sep = toks.seps[j]
        comma = "," in sep
        if not comma and sep.strip():
            return None
        best: tuple[str, int] | None = None
        for jj, p in starts.get(j, ()):
            if not isinstance(p, StateHit):
                continue
            if p.form is not StateForm.FULL and not comma and p.code != "DC":
                continue
            if best is None or jj > best[1]:
                best = (p.code, jj)
        return best

    def _bare(
        self,
        m: _Mention,
        toks: Tokens,
        title_end: int,
        anchors: list[City],
        states: set[str],
        *,
        first_round: bool,
    ) -> City | None:
        gaz = self.gaz
        cfg = gaz.config
        cands = m.cities
        if not cands:
            return None
        word = toks.orig[m.i]
        if not word[:1].isupper():
            return None
        # every word of a longer name is capitalized: "the West Valley city" is no city
        for k in range(m.i + 1, m.j):
            w = toks.orig[k]
            if len(w) >= 3 and w.isalpha() and w.islower() and w not in self.lang.name_particles:
                return None
        if self._looks_like_person(m, toks, title_end):
            return None
        near = [c for c in cands if any(gaz.near(c, a) for a in anchors)]
        if near:
            return near[0]
        in_state = [c for c in cands if c.state in states]
        if m.key in cfg.ambiguous_names or m.key in gaz.world_dominant:
            if first_round or m.key in cfg.qualifier_only or len(in_state) != 1:
                return None
            return in_state[0]
        top = cands[0]
        second = cands[1].population if len(cands) > 1 else 0
        if first_round:
            # only big, dominant names anchor others
            if top.population >= 100_000 and top.population >= 3 * second:
                return top
            return None
        if in_state:
            return in_state[0]
        dominant = second == 0 or top.population >= cfg.dominance * second
        # no context at all: only a prominent name that clearly dominates its namesakes
        if top.population >= cfg.bare_min_population and dominant:
            return top
        # "the village of Dolton", "the city of Kenner": the text says it is a place
        if dominant and m.key not in cfg.ambiguous_names and self._called_a_place(toks, m.i):
            return top
        return None

    def _unique_bare(self, m: _Mention, toks: Tokens, title_end: int) -> City | None:
        """A bare name of an on-topic item that can only be one US place (issue 13).

        "Jornaleros detenidos en Melrose Park", "a raid in Bridgeview": small suburbs under
        the bare-name floor, named without a state. It routes when the name belongs to one
        US place of 15,000+ and to nothing abroad, is no listed ambiguous, given or not-place
        name, does not look like a person, and is not a plain word: a name of two or more
        capitalized words, or one word right after a locative preposition ("in", "en").
        """
        cands = m.cities
        if len(cands) != 1 or m.aliases:
            return None
        cfg = self.gaz.config
        if m.key in cfg.ambiguous_names or m.key in cfg.given_names or m.key in cfg.qualifier_only:
            return None
        if self.gaz.world.get(m.key) is not None or m.key in self.gaz.world_dominant:
            return None
        words = [toks.orig[k] for k in range(m.i, m.j)]
        if not all(w[:1].isupper() or w in self.lang.name_particles for w in words):
            return None
        if self._looks_like_person(m, toks, title_end):
            return None
        if m.j - m.i < 2:
            prev = toks.lower[m.i - 1] if m.i > 0 and m.i != title_end else ""
            if prev not in self.frames.loc_preps or _SENTENCE_BREAK.search(toks.seps[m.i]):
                return None
        return cands[0]

    def _called_a_place(self, toks: Tokens, i: int) -> bool:
        if i < 2 or toks.lower[i - 1] not in self.lang.place_of or _SENTENCE_BREAK.search(toks.seps[i]):
            return False
        return toks.lower[i - 2] in self.lang.place_nouns and not _SENTENCE_BREAK.search(toks.seps[i - 1])

    def _looks_like_person(self, m: _Mention, toks: Tokens, title_end: int) -> bool:
        if m.key in self.gaz.config.given_names and self._followed_by_surname(m, toks, title_end):
            return True  # "Eugene Levy", "Madison Keys", "Savannah Guthrie"
        i = m.i
        if i == 0 or i == title_end:
            return False
        prev = toks.orig[i - 1]
        if prev.lower() in self.gaz.config.person_titles:
            return True
        if _SENTENCE_BREAK.search(toks.seps[i]):
            return False
        if "'" in toks.seps[i] or "," in toks.seps[i]:
            return False
        if not (prev[:1].isupper() and prev[1:].islower()):
            return False
        if prev.lower() in self.lang.function_words:
            return False
        if i < title_end and _is_title_case(toks, 0, title_end):
            return False
        low = prev.lower()
        return not self.gaz.is_name(low) and self.gaz.state_by_name(low) is None

    def _followed_by_surname(self, m: _Mention, toks: Tokens, title_end: int) -> bool:
        j = m.j
        if j >= len(toks.orig) or j == title_end or toks.seps[j] != " ":
            return False
        nxt = toks.orig[j]
        if not (nxt[:1].isupper() and nxt[1:].islower() and nxt.isalpha() and len(nxt) > 2):
            return False
        if j < title_end and _is_title_case(toks, 0, title_end):
            return False  # "Charlotte Leaders Vote": every word is capitalized
        low = nxt.lower()
        gaz = self.gaz
        words = self.lang
        return not (
            nxt in words.not_a_city_after
            or nxt in words.landmark_after
            or low in words.function_words
            or low in gaz.config.org_words
            or nxt in self.frames.team_names
            or gaz.state_by_name(low) is not None
            or gaz.is_name(low)
            or gaz.is_alias(low)
        )


def _is_title_case(toks: Tokens, i: int, j: int) -> bool:
    words = [w for w in toks.orig[i:j] if len(w) >= 4 and w.isalpha()]
    if len(words) < 2:
        return False
    caps = sum(1 for w in words if w[0].isupper())
    return caps >= 0.7 * len(words)


def tokens_for(title: str, summary: str) -> tuple[Tokens, int]:
    """Tokens of title then summary, and the index where the summary starts."""
    t = tokenize(title)
    s = tokenize(summary)
    title_end = len(t.orig)
    if s.orig:
        s.seps[0] = "\n" + s.seps[0]
    return Tokens(t.orig + s.orig, t.lower + s.lower, t.seps + s.seps), title_end
