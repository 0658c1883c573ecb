"""Which language an item is written in, when its feed does not say (issue 13).

Why two steps: most items give themselves away by their commonest function words ("the",
"and" against "el", "los", "que"), which costs one pass over a few dozen words; only the
items where those disagree or are too few go to ``lingua`` (its models ship inside the wheel,
so it runs offline), restricted to the languages we have rules for, so it stays fast and
never answers a third language. Detection reads the title and the first 200 characters of
the summary: enough to decide, and bounded in cost.
"""

from __future__ import annotations

import re
import threading
from typing import Any

SUPPORTED = ("en", "es")
_SAMPLE_CHARS = 200
_WORD = re.compile(r"[a-záéíóúñü]+")
# function words that are frequent in one language and never (or rarely) in the other
_MARKERS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and of to is are was were for with from that this has have after by its their "
        "will said says".split()
    ),
    "es": frozenset(
        "el los las del que por para una con según tras sus fue han dijo dice entre sobre "
        "más también están".split()
    ),
}
_MIN_WORDS = 3
_MARGIN = 3  # a lead of this many marker words decides without lingua

_DETECTOR: Any = None
_LOCK = threading.Lock()


def _lingua() -> Any:
    """The lingua detector for English and Spanish, built once per process."""
    global _DETECTOR
    with _LOCK:
        if _DETECTOR is None:
            from lingua import Language, LanguageDetectorBuilder

            _DETECTOR = (
                LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH)
                .with_preloaded_language_models()
                .build()
            )
        return _DETECTOR


def detect_language(title: str, summary: str = "") -> str:
    """ "en" or "es" for an item's text; "en" when the text says nothing either way."""
    sample = f"{title or ''} {(summary or '')[:_SAMPLE_CHARS]}"
    counts = dict.fromkeys(SUPPORTED, 0)
    words = _WORD.findall(sample.lower())
    if len(words) < _MIN_WORDS:
        return "en"  # too little text to tell: the rules every item had before issue 13
    for w in words:
        for code, markers in _MARKERS.items():
            if w in markers:
                counts[code] += 1
    if counts["en"] - counts["es"] >= _MARGIN:
        return "en"
    if counts["es"] - counts["en"] >= _MARGIN:
        return "es"
    found = _lingua().detect_language_of(sample)
    if found is None:
        return "en"
    return "es" if found.name == "SPANISH" else "en"
