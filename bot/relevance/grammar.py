"""Phrase grammar: one written topic term stands for its inflected and re-articled forms.

Why: Spanish inflects and contracts inside a phrase. "operativo migratorio" is also written
"operativos migratorios", "redada migratoria" is also "redada de inmigración" or "redada del
ICE", "agentes de la Patrulla Fronteriza" is also "agentes de Patrulla Fronteriza", "se llevaron"
is also "se lo llevaron". Listing every form by hand fits the rules to the wording someone
happened to see; a rule of the language covers the forms nobody listed. The rules are data
(``[grammar]`` in config/lang/<code>.toml); English has none, so its terms are used as written.

What one term expands to (``Grammar.expand``), in this order:

1. **equivalents**: a word sequence of an ``equivalents`` group may be replaced by any other
   member ("migratorio" ↔ "de inmigracion" ↔ "de ICE");
2. **agreement** in the head of the phrase (the words before its first preposition): every
   word in the singular and in the plural ("agente" ↔ "agentes", "detencion" ↔ "detenciones",
   "ley" ↔ "leyes"), and adjectives/participles with a listed ending in both genders
   ("detenido" ↔ "detenida", "migratorio" ↔ "migratoria");
3. **articles** after a preposition: an article may be added ("de ICE" → "del ICE", "de la
   Guardia") or dropped ("de la Patrulla Fronteriza" → "de Patrulla Fronteriza");
4. **clitics**: an object pronoun may follow a reflexive ("se llevaron" → "se lo llevaron").

Words ending in ``*`` (prefixes), case-sensitive terms (``=ICE``) and the function words of the
grammar are never inflected; a term expands to at most ``max_variants`` phrases.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import ConfigError
from bot.text import fold

_VOWELS = frozenset("aeiou")


def _words(text: str) -> tuple[str, ...]:
    return tuple(fold(text).lower().split())


@dataclass(frozen=True, slots=True)
class Grammar:
    """The phrase grammar of one language (see the module doc)."""

    prepositions: frozenset[str]
    articles: tuple[str, ...]
    contractions: Mapping[str, str]  # "de el" → "del"
    equivalents: tuple[tuple[tuple[str, ...], ...], ...]
    gender_pairs: tuple[tuple[str, str], ...]  # ("ado", "ada"): masculine, feminine ending
    reflexives: frozenset[str]
    clitics: tuple[str, ...]
    invariable: frozenset[str]
    max_variants: int = 400

    @classmethod
    def from_data(cls, data: Any, where: str = "[grammar]") -> Grammar:
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a table")

        def strings(key: str) -> list[str]:
            v = data.get(key, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(f"{where} {key} must be a list of strings")
            return v

        contractions = data.get("contractions", {})
        if not isinstance(contractions, dict) or not all(
            isinstance(v, str) for v in contractions.values()
        ):
            raise ConfigError(f"{where} contractions must map 'prep article' to a word")
        groups = data.get("equivalents", [])
        if not isinstance(groups, list) or not all(
            isinstance(g, list) and all(isinstance(x, str) for x in g) for g in groups
        ):
            raise ConfigError(f"{where} equivalents must be a list of lists of strings")
        pairs = []
        for s in strings("gender"):
            masc, sep, fem = s.partition("/")
            if not sep or not masc or not fem:
                raise ConfigError(f"{where} gender entries look like 'ado/ada', not {s!r}")
            pairs.append((masc.strip(), fem.strip()))
        articles = tuple(_words(" ".join(strings("articles"))))
        preps = frozenset(_words(" ".join(strings("prepositions"))))
        contr = {" ".join(_words(k)): fold(v).lower() for k, v in contractions.items()}
        return cls(
            prepositions=preps,
            articles=articles,
            contractions=contr,
            equivalents=tuple(tuple(_words(x) for x in g) for g in groups),
            gender_pairs=tuple(pairs),
            reflexives=frozenset(_words(" ".join(strings("reflexives")))),
            clitics=tuple(_words(" ".join(strings("clitics")))),
            invariable=frozenset(_words(" ".join(strings("invariable"))))
            | preps
            | frozenset(articles)
            | frozenset(contr.values()),
            max_variants=int(data.get("max_variants", 400)),
        )

    # --- one term -----------------------------------------------------------------------

    def expand(self, term: str) -> list[str]:
        """The term and its other forms (the term first; duplicates removed)."""
        s = term.strip()
        if not s or s.startswith("=") or "{" in s:
            return [term]
        words = tuple(fold(s).lower().split())
        out: dict[tuple[str, ...], None] = {words: None}
        for eq in self._equivalents(words):
            for agreed in self._agreement(eq):
                for art in self._articles(agreed):
                    for cl in self._clitics(art):
                        out.setdefault(cl, None)
                        if len(out) >= self.max_variants:
                            break
        first = [term]
        first.extend(" ".join(w) for w in out if w != words)
        return first

    def _equivalents(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        found = [words]
        for group in self.equivalents:
            for member in group:
                n = len(member)
                for i in range(len(words) - n + 1):
                    if words[i : i + n] == member:
                        found.extend(
                            words[:i] + other + words[i + n :] for other in group if other != member
                        )
        return list(dict.fromkeys(found))

    def _agreement(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        head = 0
        while head < len(words) and words[head] not in self.prepositions:
            head += 1
        if head == 0:
            return [words]
        options = []
        for numbers in ("sg", "pl"):
            for gender in ("m", "f"):
                options.append(
                    tuple(self._inflect(w, numbers, gender) for w in words[:head]) + words[head:]
                )
        return [words, *dict.fromkeys(options)]

    def _inflect(self, word: str, number: str, gender: str) -> str:
        if word.endswith("*") or not word.isalpha() or word in self.invariable:
            return word
        w = self._singular(word)
        for masc, fem in self.gender_pairs:
            if w.endswith(masc) and gender == "f":
                w = w[: -len(masc)] + fem
                break
            if w.endswith(fem) and gender == "m":
                w = w[: -len(fem)] + masc
                break
        return self._plural(w) if number == "pl" else w

    @staticmethod
    def _singular(w: str) -> str:
        if len(w) > 4 and w.endswith("ces"):
            return w[:-3] + "z"
        if len(w) > 3 and w.endswith("es") and w[-3] not in _VOWELS:
            # "detenciones" → "detencion", "leyes" → "ley"; but "agentes", "cortes" → "-e"
            # ("padres" → "padre", "muebles" → "mueble": a consonant cluster takes the -e)
            stem = w[:-2]
            if stem[-1] in "nlrdyjz" and stem[-2] in _VOWELS:
                return stem
            return w[:-1]
        if len(w) > 3 and w.endswith("s") and w[-2] in _VOWELS:
            return w[:-1]
        return w

    @staticmethod
    def _plural(w: str) -> str:
        if w[-1] in _VOWELS:
            return w + "s"
        if w.endswith("z"):
            return w[:-1] + "ces"
        if w.endswith("s") or w.endswith("x"):
            return w
        return w + "es"

    def _articles(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        slots: list[list[tuple[str, ...]]] = []
        i = 0
        while i < len(words):
            w = words[i]
            base = next((k for k, v in self.contractions.items() if v == w), None)
            if base is not None:  # "del" = "de el": also "de", "de la", …
                prep = base.split()[0]
                slots.append(self._with_articles(prep))
                i += 1
                continue
            if w in self.prepositions and i + 1 < len(words):
                if words[i + 1] in self.articles:
                    slots.append(self._with_articles(w))
                    i += 2
                    continue
                slots.append(self._with_articles(w))
                i += 1
                continue
            slots.append([(w,)])
            i += 1
        out = []
        for combo in itertools.product(*slots):
            out.append(tuple(t for part in combo for t in part))
            if len(out) >= self.max_variants:
                break
        return out

    def _with_articles(self, prep: str) -> list[tuple[str, ...]]:
        forms: list[tuple[str, ...]] = [(prep,)]
        for a in self.articles:
            c = self.contractions.get(f"{prep} {a}")
            forms.append((c,) if c else (prep, a))
        return forms

    def _clitics(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        out = [words]
        for i, w in enumerate(words[:-1]):
            if w in self.reflexives and words[i + 1] not in self.clitics:
                out.extend((*words[: i + 1], c, *words[i + 1 :]) for c in self.clitics)
        return out
