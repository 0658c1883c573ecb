"""`!alerts …` commands typed in a room, parsed into calls of bot.actions.

Syntax: `!alerts <command> <words…> [option=value …]`. The words are free text (a city such as
"Chicago, IL" or a search query); options are `name=value` tokens, quoted when the value has
spaces (`include="ice raid, deportation"`). Why options as name=value: a city name contains
commas and spaces, so positional options could not be told from the city.

Who may do what: anyone in the room may read (search, latest, list, status, help); changing
what the room receives — subscribe, unsubscribe, rules, feeds add/remove — needs power level
≥ 50 in the room (a moderator in Matrix terms), as a channel setting would on other platforms.

Language (issue 13): Matrix tells a bot no one's locale, so replies are in the room's language —
the language of the room's subscriptions when they agree (`subscribe … lang=es` sets it), else
English. Help, refusals and errors come from config/messages (`matrix.*`, `errors.*`).
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot import actions
from bot.adapters.matrix import PLATFORM
from bot.errors import CivicAlertError, UnknownCityError, UserInputError
from bot.messages import Messages, messages, parse_language
from bot.models import Destination, feed_owner
from bot.rules import parse_rules

if TYPE_CHECKING:
    from bot.app import App

PREFIX = "!alerts"
MODERATOR = 50
RULE_OPTIONS = {
    "include": "include",
    "exclude": "exclude",
    "min-outlets": "min_outlets",
    "min_outlets": "min_outlets",
    "max-hold-hours": "max_hold_hours",
    "on-hold-timeout": "on_hold_timeout",
    "mention": "mention",
    "mention-when": "mention_when",
    "digest": "digest",
    "quiet": "quiet",
    "urgent": "urgent",
    "tz": "tz",
    "threads": "threads",
}
READ_ONLY = frozenset({"help", "search", "latest", "list", "status"})

# the help text is config/messages/<lang>.toml's `matrix.help`


@dataclass(frozen=True, slots=True)
class Parsed:
    command: str
    words: tuple[str, ...]
    options: dict[str, str]

    @property
    def text(self) -> str:
        return " ".join(self.words)


def parse(body: str) -> Parsed | None:
    """`!alerts …` → Parsed; None when the message is not for us."""
    text = body.strip()
    if not (text == PREFIX or text.startswith(PREFIX + " ")):
        return None
    rest = text[len(PREFIX):].strip()
    try:
        tokens = shlex.split(rest)
    except ValueError:  # an unbalanced quote: take the words as typed
        tokens = rest.split()
    words: list[str] = []
    options: dict[str, str] = {}
    for token in tokens:
        name, eq, value = token.partition("=")
        if eq and name and name.replace("-", "").replace("_", "").isalpha():
            options[name.lower()] = value
        else:
            words.append(token)
    if not words:
        return Parsed("help", (), options)
    return Parsed(words[0].lower(), tuple(words[1:]), options)


def needs_moderator(parsed: Parsed) -> bool:
    if parsed.command == "feeds":
        return bool(parsed.words) and parsed.words[0].lower() in {"add", "remove"}
    return parsed.command not in READ_ONLY


def rule_options(options: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in options.items():
        key = RULE_OPTIONS.get(name)
        if key is None:
            continue
        if key == "threads":
            out[key] = value.strip().lower() in {"on", "yes", "true", "1"}
        else:
            out[key] = value
    return out


def unknown_options(options: dict[str, str], allowed: set[str]) -> list[str]:
    return sorted(n for n in options if n not in allowed)


def error_text(exc: CivicAlertError, msgs: Messages) -> str:
    """A refusal in the room's language when the error names its catalogue entry."""
    if exc.key is not None:
        try:
            return msgs(exc.key, **exc.fields)
        except (KeyError, IndexError, ValueError):
            pass
    return exc.user_message


class Commands:
    """Runs one parsed command for one room; returns the reply text (one clear message)."""

    def __init__(self, app: App, power: Callable[[str, str], Awaitable[int]]) -> None:
        self.app = app
        self.power = power  # (room_id, user_id) → the member's power level

    def destination(self, room_id: str) -> Destination:
        return Destination(PLATFORM, room_id, room_id)

    async def room_language(self, room_id: str) -> str:
        """The language of the room's subscriptions when they agree; English otherwise (Matrix
        gives a bot no locale of the room or of its members)."""
        views = await actions.list_subscriptions(
            self.app.store, self.app.gazetteer, platform=PLATFORM, address=room_id, catalog=self.catalog
        )
        langs = {v.subscription.lang for v in views}
        return langs.pop() if len(langs) == 1 else "en"

    async def run(self, room_id: str, sender: str, parsed: Parsed) -> str:
        lang = parsed.options.get("lang")
        code = parse_language(lang) if lang is not None else None
        m = messages(code or await self.room_language(room_id))
        known = hasattr(self, f"cmd_{parsed.command}")
        if known and needs_moderator(parsed) and await self.power(room_id, sender) < MODERATOR:
            return m("matrix.not_moderator", level=MODERATOR, command=parsed.command)
        handler = getattr(self, f"cmd_{parsed.command}", None)
        if handler is None:
            return m("matrix.unknown_command", command=parsed.command[:40])
        try:
            reply: str = await handler(room_id, parsed, m)
        except UnknownCityError:  # Matrix has no autocomplete: suggest instead
            guesses = actions.city_suggestions(self.app.gazetteer, parsed.text, limit=5)
            hint = m("matrix.did_you_mean", cities="; ".join(label for label, _ in guesses)) if guesses else ""
            return m("matrix.unknown_city", city=parsed.text[:80], hint=hint)
        except CivicAlertError as exc:  # includes RuleError: a user's mistake, said in one line
            return m("matrix.sorry", text=error_text(exc, m))
        return reply

    @property
    def catalog(self) -> Any:
        return self.app.classifier.topics

    async def cmd_help(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        return m("matrix.help")

    async def cmd_subscribe(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        allowed = {"topics", "topic", "lang", *RULE_OPTIONS}
        bad = unknown_options(parsed.options, allowed)
        if bad:
            raise UserInputError("bad option", user_message=f"unknown option {bad[0]}= (see !alerts help)",
                                 key="matrix.unknown_option", fields={"option": bad[0]})
        if not parsed.text:
            raise UserInputError("no city", user_message="say which city: !alerts subscribe Chicago, IL",
                                 key="matrix.no_city_subscribe")
        lang = actions.check_language(parsed.options["lang"]) if "lang" in parsed.options else None
        rules_opts = rule_options(parsed.options)
        rules = parse_rules(**rules_opts) if rules_opts else None
        result = await actions.subscribe(
            self.app.store,
            self.app.gazetteer,
            destination=self.destination(room_id),
            city=parsed.text,
            topics=parsed.options.get("topics") or parsed.options.get("topic"),
            catchup_count=self.app.settings.catchup_count,
            catalog=self.catalog,
            coverage=self.app.coverage,
            rules=rules,
            lang=lang,
        )
        self.app.wake_delivery()
        sub = result.subscription
        m = messages(sub.lang)
        lines = [
            m("matrix.subscribed", city=result.city_label, topics=actions.topics_text(sub.topics, self.catalog, m),
              id=sub.id, language=m.language(sub.lang))
        ]
        lines += [f"  {line}" for line in sub.rules.describe(m)]
        if result.catchup_queued:
            lines.append(m("matrix.catchup", n=result.catchup_queued))
        return "\n".join(lines)

    async def cmd_unsubscribe(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        if not parsed.text:
            raise UserInputError("no city", user_message="say which city: !alerts unsubscribe Chicago, IL",
                                 key="matrix.no_city_unsubscribe")
        removed, label = await actions.unsubscribe(
            self.app.store, self.app.gazetteer, destination=self.destination(room_id), city=parsed.text,
            coverage=self.app.coverage,
        )
        return m("matrix.unsubscribed", city=label) if removed else m("matrix.not_subscribed", city=label)

    async def cmd_list(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        views = await actions.list_subscriptions(
            self.app.store, self.app.gazetteer, platform=PLATFORM, address=room_id, catalog=self.catalog
        )
        if not views:
            return m("matrix.no_subscriptions")
        lines = [m("matrix.list_title")]
        for view in views:
            lines.append(f"#{view.subscription.id} {view.city_label} ({view.topics_in(m)})")
            lines += [f"    {line}" for line in view.subscription.rules.describe(m)]
        return "\n".join(lines)

    async def cmd_rules(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        bad = unknown_options(parsed.options, set(RULE_OPTIONS))
        if bad:
            raise UserInputError("bad option", user_message=f"unknown rule option {bad[0]}=",
                                 key="matrix.unknown_rule_option", fields={"option": bad[0]})
        try:
            sub_id = int(parsed.text.lstrip("#"))
        except ValueError:
            raise UserInputError("no id", user_message="say which subscription: !alerts rules 3 min-outlets=2",
                                 key="matrix.no_id") from None
        sub = await actions.edit_rules(
            self.app.store, sub_id, rule_options(parsed.options), platform=PLATFORM, group=room_id,
            catalog=self.catalog,
        )
        described = sub.rules.describe(m)
        return m("matrix.rules_title", id=sub.id, rules="; ".join(described) if described else m("matrix.rules_default"))

    async def cmd_search(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        days = parsed.options.get("days")
        page = await actions.search(
            self.app.store,
            self.app.gazetteer,
            parsed.text,
            city=parsed.options.get("city"),
            topic=parsed.options.get("topic"),
            days=float(days) if days and days.replace(".", "", 1).isdigit() else None,
            page_size=self.app.settings.search_page_size,
            catalog=self.catalog,
        )
        if not page.hits:
            return m("matrix.no_match", query=page.query)
        lines = [m("matrix.results", query=page.query)] + ([m(page.note_key)] if page.note_key else [])
        for rank, hit in enumerate(page.hits, page.first_rank):
            lines.append(f"{rank}. {hit.title} — {hit.source}, {hit.published:%Y-%m-%d} — {hit.url}")
        return "\n".join(lines)

    async def cmd_latest(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        label, stories = await actions.latest(
            self.app.store, self.app.gazetteer, parsed.text, topic=parsed.options.get("topic"), catalog=self.catalog
        )
        if not stories:
            return m("matrix.no_stories", city=label)
        lines = [m("matrix.latest_title", city=label)] + [f"- {s.title} — {s.source} — {s.url}" for s in stories]
        return "\n".join(lines)

    async def cmd_status(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        report = await actions.status(
            self.app.store, self.app.gazetteer, platform=PLATFORM, group=room_id, catalog=self.catalog
        )
        lines = [
            m("matrix.status_feeds", n=report.feeds_total, kinds=actions.kinds_text(report, m),
              failing=len(report.feeds_failing), ago=actions.ago(report.last_cycle, msgs=m), queue=report.queue_depth),
            m("matrix.status_subscriptions", n=len(report.subscriptions)),
        ]
        for dest in report.destinations:
            reason = actions.pause_reason_text(dest.pause_reason, m) if dest.pause_reason is not None else None
            state = m("matrix.paused", reason=reason) if dest.paused else m("matrix.delivering")
            lines.append(m("matrix.status_delivery", state=state, ago=actions.ago(dest.last_success, msgs=m)))
        return "\n".join(lines)

    async def cmd_feeds(self, room_id: str, parsed: Parsed, m: Messages) -> str:
        owner = feed_owner(PLATFORM, room_id)
        sub = parsed.words[0].lower() if parsed.words else "list"
        arg = " ".join(parsed.words[1:]).strip()
        if sub == "list":
            feeds = await actions.list_feeds(self.app.store, owner=owner)
            if not feeds:
                return m("matrix.no_feeds")
            return m("matrix.feeds_title") + "\n" + "\n".join(f"- {f.name or f.url} — {f.url}" for f in feeds)
        if sub == "add" and arg:
            preview = await actions.add_feed(self.app.store, self.app.settings, owner=owner, url=arg)
            lines = [m("matrix.feed_added", title=preview.title or preview.feed.url, n=preview.item_count)]
            if preview.found_key:
                lines.append(preview.found_text(m))
            return "\n".join(lines)
        if sub == "remove" and arg:
            removed = await actions.remove_feed(self.app.store, owner=owner, url=arg)
            return m("matrix.feed_removed") if removed else m("matrix.no_such_feed")
        return m("matrix.feeds_usage")
