"""A subscription's alert rules: keywords, corroboration, mentions, digests, quiet hours, threads.

Why one frozen record parsed here, in the core: every adapter (Discord options, the CLI, a
future Slack command) hands raw text to `parse_rules`, which either returns a valid `Rules` or
raises `RuleError` with one line fit to show. The store keeps the record as JSON next to the
subscription; the fan-out policy (bot.fanout) applies it. No adapter re-validates, so a mistake
is explained the same way everywhere.

Keywords use the relevance tokenizer (bot.relevance.text): case, accents and punctuation are
folded and a trailing `*` is a prefix (`deport*` matches deported, deportation).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.errors import UserInputError
from bot.messages import Messages, messages

MAX_KEYWORDS = 25  # per list; a longer list is a mistake (or an attack), not a filter
MAX_KEYWORD_CHARS = 60
MAX_MIN_OUTLETS = 10
MAX_HOLD_HOURS = 72.0
DEFAULT_MAX_HOLD_HOURS = 6.0
MAX_MENTION_CHARS = 100
MAX_CONDITION_CHARS = 200
HOLD_TIMEOUTS = ("send", "drop")  # after the maximum hold: send marked unconfirmed, or never

_KEYWORD_OK = re.compile(r"^[^\W_]+(?:[\s'’\-.&/][^\W_]+)*\*?$", re.UNICODE)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


class RuleError(UserInputError):
    """A rule the user gave is invalid; `user_message` is one line saying why in English, and
    `key` (config/messages `rules.err_*`) with `fields` says it in the reader's language. A
    `what` (the option at fault) travels as `what_key`, worded by each catalogue."""

    def __init__(self, line: str, key: str | None = None, what: str | None = None, **fields: object) -> None:
        values = {name: str(value) for name, value in fields.items()}
        if what is not None:
            values["what"] = what
            values["what_key"] = f"rules.what_{what.replace(' ', '_')}"
        super().__init__(line, user_message=line, key=key, fields=values)


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Condition:
    """When a mention (or an urgent alert in quiet hours) applies.

    Text form: space- or comma-separated terms, all of which must hold —
    `topic:ID` (any of the listed topics), `here` (the story is tagged with the
    subscription's own city), `outlets>=N` (at least N independent outlets).
    The empty condition always holds.
    """

    topics: tuple[str, ...] = ()
    here: bool = False
    min_outlets: int = 1

    def met(self, *, topics: Iterable[str], cities: Iterable[str], outlets: int, city: str) -> bool:
        if self.topics and not set(self.topics) & set(topics):
            return False
        if self.here and city not in set(cities):
            return False
        return outlets >= self.min_outlets

    def text(self) -> str:
        parts = [f"topic:{t}" for t in self.topics]
        if self.here:
            parts.append("here")
        if self.min_outlets > 1:
            parts.append(f"outlets>={self.min_outlets}")
        return " ".join(parts) or "always"


@dataclass(frozen=True, slots=True)
class Digest:
    """`hourly` (at each local hour) or `daily@HH:MM` (local time of the subscription's zone)."""

    every: str  # "hourly" | "daily"
    minute: int = 0  # minutes after local midnight, for daily

    def text(self) -> str:
        return "hourly" if self.every == "hourly" else f"daily@{self.minute // 60:02d}:{self.minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Quiet:
    """`HH:MM-HH:MM` local time; may wrap midnight (22:00-07:00)."""

    start: int  # minutes after local midnight
    end: int

    def contains(self, minute: int) -> bool:
        if self.start <= self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def text(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything a subscription may add to "this city, these topics". Defaults change nothing."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_outlets: int = 1
    max_hold_hours: float = DEFAULT_MAX_HOLD_HOURS
    on_hold_timeout: str = "send"  # "send" (marked unconfirmed) | "drop"
    mention: str | None = None  # the platform's id of one role / group / "@room"
    mention_when: Condition | None = None  # None: every alert of the subscription mentions
    digest: Digest | None = None
    quiet: Quiet | None = None
    urgent: Condition | None = None  # alerts meeting it break quiet hours
    tz: str = "UTC"
    threads: bool = False
    extra: tuple[tuple[str, str], ...] = field(default=(), compare=False)  # reserved

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_RULES

    def keywords_match(self, title: str, summary: str) -> bool:
        """Include: any phrase appears (or none given); exclude: none appears."""
        if not self.include and not self.exclude:
            return True
        text = f"{title}\n{summary}"
        if self.include and not _lexicon(self.include).hits(text):
            return False
        return not (self.exclude and _lexicon(self.exclude).hits(text))

    def describe(self, msgs: Messages | None = None) -> list[str]:
        """One short line per rule that differs from the default (for lists and /rules), in
        the language of ``msgs`` (English without). Conditions, times and zones stay in the
        syntax the person types (`topic:ID here outlets>=2`, `22:00-07:00`)."""
        m = msgs or messages()
        out: list[str] = []
        if self.include:
            out.append(m("rules.include", words=", ".join(self.include)))
        if self.exclude:
            out.append(m("rules.exclude", words=", ".join(self.exclude)))
        if self.min_outlets > 1:
            key = "rules.min_outlets_send" if self.on_hold_timeout == "send" else "rules.min_outlets_drop"
            out.append(m(key, n=self.min_outlets, hours=f"{self.max_hold_hours:g}"))
        if self.mention:
            if self.mention_when:
                out.append(m("rules.mention_when", mention=self.mention, condition=self.mention_when.text()))
            else:
                out.append(m("rules.mention", mention=self.mention))
        if self.digest:
            if self.digest.every == "hourly":
                out.append(m("rules.digest_hourly"))
            else:
                out.append(m("rules.digest_daily", time=_hhmm(self.digest.minute)))
        if self.quiet:
            if self.urgent:
                out.append(m("rules.quiet_urgent", quiet=self.quiet.text(), condition=self.urgent.text()))
            else:
                out.append(m("rules.quiet", quiet=self.quiet.text()))
        if self.digest or self.quiet or self.tz != "UTC":
            out.append(m("rules.tz", tz=self.tz))
        if self.threads:
            out.append(m("rules.threads"))
        return out


DEFAULT_RULES = Rules()


# ---------------------------------------------------------------------------- keywords


class _Phrases:
    def __init__(self, specs: Sequence[str]) -> None:
        from bot.relevance.text import Lexicon  # the relevance tokenizer, one copy

        self.lexicon = Lexicon()
        for spec in specs:
            self.lexicon.add(spec, spec)

    def hits(self, text: str) -> bool:
        from bot.relevance.text import tokenize

        return bool(self.lexicon.scan(tokenize(text)))


@functools.lru_cache(maxsize=1024)
def _lexicon(specs: tuple[str, ...]) -> _Phrases:
    return _Phrases(specs)


def parse_keywords(value: str | Sequence[str] | None, what: str) -> tuple[str, ...]:
    """"raid, deport*, Little Village" → a tuple of phrases; refuses odd or oversized input."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    if len(items) > MAX_KEYWORDS * 4:
        raise RuleError(f"{what}: at most {MAX_KEYWORDS} words or phrases", "rules.err_too_many_keywords", what, max=MAX_KEYWORDS)
    from bot.relevance.text import parse_phrase

    out: list[str] = []
    for raw in items:
        word = " ".join(str(raw).split())
        if not word or word.casefold() == "none":
            continue
        if len(word) > MAX_KEYWORD_CHARS:
            raise RuleError(f"{what}: '{word[:20]}…' is longer than {MAX_KEYWORD_CHARS} characters",
                            "rules.err_keyword_too_long", what, word=word[:20], max=MAX_KEYWORD_CHARS)
        if not _KEYWORD_OK.match(word):
            raise RuleError(f"{what}: '{word}' must be letters, digits and spaces (a trailing * for a prefix)",
                            "rules.err_keyword_chars", what, word=word)
        try:
            phrase = parse_phrase(word, None)
        except ValueError:
            raise RuleError(f"{what}: '{word}': a prefix needs at least 3 letters before the *",
                            "rules.err_prefix_short", what, word=word) from None
        if phrase is None:
            raise RuleError(f"{what}: '{word}' has no letters or digits the matcher can use",
                            "rules.err_keyword_empty", what, word=word)
        if word not in out:
            out.append(word)
    if len(out) > MAX_KEYWORDS:
        raise RuleError(f"{what}: at most {MAX_KEYWORDS} words or phrases (got {len(out)})",
                        "rules.err_too_many_keywords_got", what, max=MAX_KEYWORDS, n=len(out))
    return tuple(out)


# ---------------------------------------------------------------------------- times


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_clock(text: str, what: str) -> int:
    """"07:30" → 450 minutes; `25:00`, `7`, `7:5` are refused."""
    m = _HHMM.match(text.strip())
    if not m:
        raise RuleError(f"{what}: '{text[:20]}' is not a time like 07:30", "rules.err_time_format", what, text=text[:20])
    hours, minutes = int(m.group(1)), int(m.group(2))
    if hours > 23 or minutes > 59:
        raise RuleError(f"{what}: '{text[:20]}' is not a time of day (00:00 to 23:59)", "rules.err_time_range", what,
                        text=text[:20])
    return hours * 60 + minutes


def parse_digest(value: str) -> Digest | None:
    text = value.strip().casefold()
    if text in ("", "none", "off"):
        return None
    if text == "hourly":
        return Digest("hourly")
    if text.startswith("daily@"):
        return Digest("daily", parse_clock(text[6:], "digest"))
    raise RuleError(f"digest: '{value[:30]}' — use hourly or daily@HH:MM (e.g. daily@08:00)", "rules.err_digest_format",
                    value=value[:30])


def parse_quiet(value: str) -> Quiet | None:
    text = value.strip().casefold()
    if text in ("", "none", "off"):
        return None
    start, sep, end = text.partition("-")
    if not sep:
        raise RuleError(f"quiet: '{value[:30]}' — use HH:MM-HH:MM, e.g. 22:00-07:00", "rules.err_quiet_format",
                        value=value[:30])
    quiet = Quiet(parse_clock(start, "quiet"), parse_clock(end, "quiet"))
    if quiet.start == quiet.end:
        raise RuleError("quiet: start and end are the same time; leave it empty for no quiet hours", "rules.err_quiet_same")
    return quiet


@functools.lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def zone_suggestions(text: str, limit: int = 3) -> list[str]:
    names = _zone_names()
    folded = {n.casefold(): n for n in names}
    key = text.strip().replace(" ", "_").casefold()
    close = difflib.get_close_matches(key, list(folded), n=limit, cutoff=0.5)
    if not close:  # "chicago" → every zone whose city part starts like it
        close = [k for k in folded if k.rsplit("/", 1)[-1].startswith(key[:4])][:limit] if key else []
    return [folded[k] for k in close]


def parse_zone(value: str) -> str:
    """An IANA zone name ("America/Chicago"); any case; an unknown one suggests the nearest."""
    text = value.strip()
    if not text or len(text) > 64:
        raise RuleError("time zone: give an IANA name such as America/Chicago", "rules.err_tz_empty")
    names = _zone_names()
    if text in names:
        return text
    folded = {n.casefold(): n for n in names}
    if text.replace(" ", "_").casefold() in folded:
        return folded[text.replace(" ", "_").casefold()]
    near = zone_suggestions(text)
    hint = f"; did you mean {', '.join(near)}?" if near else "; e.g. America/Chicago"
    if near:
        raise RuleError(f"time zone: unknown zone '{text[:40]}'{hint}", "rules.err_tz_unknown_near",
                        zone=text[:40], near=", ".join(near))
    raise RuleError(f"time zone: unknown zone '{text[:40]}'{hint}", "rules.err_tz_unknown", zone=text[:40])


# ---------------------------------------------------------------------------- conditions


def parse_condition(value: str, what: str) -> Condition | None:
    text = value.strip()
    if text.casefold() in ("", "none", "off"):
        return None
    if len(text) > MAX_CONDITION_CHARS:
        raise RuleError(f"{what}: the condition is longer than {MAX_CONDITION_CHARS} characters",
                        "rules.err_condition_too_long", what, max=MAX_CONDITION_CHARS)
    topics: list[str] = []
    here = False
    outlets = 1
    for term in re.split(r"[\s,]+", text):
        low = term.casefold()
        if not low or low in ("always", "and"):
            continue
        if low.startswith("topic:") and re.fullmatch(r"[a-z0-9][a-z0-9\-]{0,63}", low[6:]):
            topics.append(low[6:])
        elif low in ("here", "city"):
            here = True
        elif m := re.fullmatch(r"outlets>=(\d{1,2})", low):
            outlets = int(m.group(1))
            if not 1 <= outlets <= MAX_MIN_OUTLETS:
                raise RuleError(f"{what}: outlets>=N needs N from 1 to {MAX_MIN_OUTLETS}", "rules.err_condition_outlets",
                                what, max=MAX_MIN_OUTLETS)
        else:
            raise RuleError(f"{what}: '{term[:30]}' — use topic:ID, here, outlets>=N (e.g. topic:immigration-enforcement here outlets>=2)",
                            "rules.err_condition_term", what, term=term[:30])
    return Condition(tuple(dict.fromkeys(topics)), here, outlets)


def check_condition_topics(condition: Condition | None, known: Iterable[str], what: str) -> None:
    if condition is None:
        return
    ids = set(known)
    for topic in condition.topics:
        if topic not in ids:
            raise RuleError(f"{what}: unknown topic '{topic}'", "rules.err_condition_topic", what, topic=topic)


# ---------------------------------------------------------------------------- parse all


_UNSET: Any = object()


def parse_rules(
    base: Rules = DEFAULT_RULES,
    *,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    min_outlets: int | str | None = None,
    max_hold_hours: float | str | None = None,
    on_hold_timeout: str | None = None,
    mention: str | None = None,
    mention_when: str | None = None,
    digest: str | None = None,
    quiet: str | None = None,
    urgent: str | None = None,
    tz: str | None = None,
    threads: bool | None = None,
) -> Rules:
    """`base` with the given options changed (None = unchanged; "" or "none" clears one)."""
    changes: dict[str, Any] = {}
    if include is not None:
        changes["include"] = parse_keywords(include, "include")
    if exclude is not None:
        changes["exclude"] = parse_keywords(exclude, "exclude")
    if min_outlets is not None:
        try:
            n = int(str(min_outlets).strip())
        except ValueError:
            raise RuleError(f"min outlets: '{str(min_outlets)[:20]}' is not a whole number", "rules.err_min_outlets_number",
                            value=str(min_outlets)[:20]) from None
        if not 1 <= n <= MAX_MIN_OUTLETS:
            raise RuleError(f"min outlets: give a number from 1 to {MAX_MIN_OUTLETS}", "rules.err_min_outlets_range",
                            max=MAX_MIN_OUTLETS)
        changes["min_outlets"] = n
    if max_hold_hours is not None:
        try:
            hours = float(str(max_hold_hours).strip().removesuffix("h"))
        except ValueError:
            raise RuleError(f"max hold: '{str(max_hold_hours)[:20]}' is not a number of hours", "rules.err_hold_number",
                            value=str(max_hold_hours)[:20]) from None
        if not 0 < hours <= MAX_HOLD_HOURS or hours != hours:
            raise RuleError(f"max hold: give hours from more than 0 up to {MAX_HOLD_HOURS:g}", "rules.err_hold_range",
                            max=f"{MAX_HOLD_HOURS:g}")
        changes["max_hold_hours"] = hours
    if on_hold_timeout is not None:
        value = on_hold_timeout.strip().casefold()
        if value not in HOLD_TIMEOUTS:
            raise RuleError("after the hold: choose send (marked unconfirmed) or drop (never sent)", "rules.err_hold_timeout")
        changes["on_hold_timeout"] = value
    if mention is not None:
        text = mention.strip()
        if text.casefold() in ("", "none", "off"):
            changes["mention"] = None
        elif len(text) > MAX_MENTION_CHARS or any(ch.isspace() for ch in text):
            raise RuleError("mention: one role, group or @room, without spaces", "rules.err_mention")
        else:
            changes["mention"] = text
    if mention_when is not None:
        changes["mention_when"] = parse_condition(mention_when, "mention when")
    if digest is not None:
        changes["digest"] = parse_digest(digest)
    if quiet is not None:
        changes["quiet"] = parse_quiet(quiet)
    if urgent is not None:
        changes["urgent"] = parse_condition(urgent, "urgent")
    if tz is not None:
        changes["tz"] = parse_zone(tz) if tz.strip() else "UTC"
    if threads is not None:
        changes["threads"] = bool(threads)
    return replace(base, **changes)


# ---------------------------------------------------------------------------- JSON


def _cond_json(c: Condition | None) -> dict[str, Any] | None:
    return None if c is None else {"topics": list(c.topics), "here": c.here, "min_outlets": c.min_outlets}


def _cond_from(d: Any) -> Condition | None:
    if not isinstance(d, dict):
        return None
    return Condition(tuple(str(t) for t in d.get("topics", ())), bool(d.get("here")), int(d.get("min_outlets", 1)))


def rules_to_json(rules: Rules) -> str:
    """Only what differs from the default is written ('{}' for a plain subscription)."""
    if rules.is_default:
        return "{}"
    d: dict[str, Any] = {}
    if rules.include:
        d["include"] = list(rules.include)
    if rules.exclude:
        d["exclude"] = list(rules.exclude)
    if rules.min_outlets != 1:
        d["min_outlets"] = rules.min_outlets
    if rules.max_hold_hours != DEFAULT_MAX_HOLD_HOURS:
        d["max_hold_hours"] = rules.max_hold_hours
    if rules.on_hold_timeout != "send":
        d["on_hold_timeout"] = rules.on_hold_timeout
    if rules.mention:
        d["mention"] = rules.mention
    if rules.mention_when:
        d["mention_when"] = _cond_json(rules.mention_when)
    if rules.digest:
        d["digest"] = rules.digest.text()
    if rules.quiet:
        d["quiet"] = rules.quiet.text()
    if rules.urgent:
        d["urgent"] = _cond_json(rules.urgent)
    if rules.tz != "UTC":
        d["tz"] = rules.tz
    if rules.threads:
        d["threads"] = True
    return json.dumps(d, ensure_ascii=False, sort_keys=True)


def rules_from_json(text: str | None) -> Rules:
    """What the store kept; a damaged value falls back to the defaults rather than failing a read."""
    try:
        d = json.loads(text or "{}")
    except ValueError:
        return DEFAULT_RULES
    if not isinstance(d, dict) or not d:
        return DEFAULT_RULES
    try:
        return Rules(
            include=tuple(d.get("include", ())),
            exclude=tuple(d.get("exclude", ())),
            min_outlets=int(d.get("min_outlets", 1)),
            max_hold_hours=float(d.get("max_hold_hours", DEFAULT_MAX_HOLD_HOURS)),
            on_hold_timeout=str(d.get("on_hold_timeout", "send")),
            mention=d.get("mention"),
            mention_when=_cond_from(d.get("mention_when")),
            digest=parse_digest(d["digest"]) if d.get("digest") else None,
            quiet=parse_quiet(d["quiet"]) if d.get("quiet") else None,
            urgent=_cond_from(d.get("urgent")),
            tz=str(d.get("tz", "UTC")),
            threads=bool(d.get("threads", False)),
        )
    except (RuleError, TypeError, ValueError):
        return DEFAULT_RULES
