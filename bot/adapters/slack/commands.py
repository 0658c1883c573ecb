"""`/civic <subcommand> …`: Slack's syntax parsed here, the work done by bot.actions.

Why one slash command: a Slack app's commands share one namespace per workspace, so one
`/civic` with subcommands collides with nothing. Options are `key=value` words (quotes group
words: `include="rent strike"`); everything else is the subcommand's argument, so a city keeps
its comma: `/civic subscribe Chicago, IL topics=immigration-enforcement digest=daily`.

Who may do what: everyone may search, read latest/list/status/help. Subscribing, rule changes
and feeds need a workspace admin/owner (users.info) or the channel's manager — Slack gives bots
no API for channel managers, so the channel's creator (conversations.info) stands for one. In a
direct message with the bot the person manages their own DM.

Language (issue 13): help, refusals and errors are in the reader's language — the person's Slack
locale, which `users.info` gives with `include_locale` under the `users:read` scope the
manager check already needs (no extra scope); English when Slack gives none. `subscribe …
lang=es` sets a subscription's language (default: that same locale), and its confirmation is
in the subscription's language. Every such string comes from config/messages (`slack.*`).
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import actions
from bot.adapters.slack.blocks import escape, link
from bot.adapters.slack.sink import destination
from bot.errors import CivicAlertError, UserInputError
from bot.messages import (
    Messages,
    language_for_locale,
    messages,
    parse_language,
    supported_languages,
)
from bot.models import feed_owner

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

RULE_KEYS = {
    "include": "include", "exclude": "exclude", "min_outlets": "min_outlets", "min-outlets": "min_outlets",
    "max_hold_hours": "max_hold_hours", "hold": "max_hold_hours", "on_hold_timeout": "on_hold_timeout",
    "mention": "mention", "mention_when": "mention_when", "digest": "digest", "quiet": "quiet",
    "urgent": "urgent", "tz": "tz", "threads": "threads", "thread": "threads",
}
OTHER_KEYS = {"topics", "topic", "city", "days", "page", "lang"}
REPLY_MAX = 3000

# the help text is config/messages/<lang>.toml's `slack.help` (its {topics} filled in)


@dataclass(frozen=True, slots=True)
class Invocation:
    team_id: str
    channel_id: str
    user_id: str
    channel_name: str | None = None
    lang: str = "en"  # the reader's language (their Slack locale), set by Commands.handle

    @property
    def msgs(self) -> Messages:
        return messages(self.lang)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    in_channel: bool = False  # visible to the channel (a subscription change), else ephemeral


def split(text: str) -> tuple[str, list[str], dict[str, str]]:
    """(subcommand, positional words, key=value options)."""
    lexer = shlex.shlex(text.replace("“", '"').replace("”", '"'), posix=True)
    lexer.quotes = '"'  # an apostrophe is part of a word: Coeur d'Alene, the mayor's office
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        words = list(lexer)
    except ValueError:
        raise UserInputError(
            "bad quoting", user_message="An opening quote has no closing quote.", key="slack.bad_quoting"
        ) from None
    if not words:
        return "help", [], {}
    sub, rest = words[0].lower(), words[1:]
    args: list[str] = []
    options: dict[str, str] = {}
    for word in rest:
        key, eq, value = word.partition("=")
        if eq and (key.lower() in RULE_KEYS or key.lower() in OTHER_KEYS):
            options[key.lower()] = value
        else:
            args.append(word)
    return sub, args, options


def rule_options(options: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        name = RULE_KEYS.get(key)
        if name is None:
            continue
        if name == "threads":
            flag = value.strip().lower()
            if flag not in {"on", "off", "true", "false", "yes", "no", "1", "0"}:
                raise UserInputError("bad threads", user_message="threads= takes on or off.", key="slack.bad_threads")
            out[name] = flag in {"on", "true", "yes", "1"}
        else:
            out[name] = value
    return out


def error_text(exc: CivicAlertError, msgs: Messages) -> str:
    """A refusal in the reader's language when the error names its catalogue entry."""
    if exc.key is not None:
        try:
            return msgs(exc.key, **exc.fields)
        except (KeyError, IndexError, ValueError):
            log.warning("message %s could not be filled in; English used", exc.key)
    return exc.user_message


def check_language(value: str, msgs: Messages) -> str:
    """`lang=es` / `lang=Spanish` → a catalogue language; one clear line (in the reader's
    language) for one we have no catalogue of."""
    code = parse_language(value)
    if code is None:
        raise UserInputError(
            f"unknown language {value!r}",
            user_message=messages()("errors.unknown_language", lang=value, choices=", ".join(supported_languages())),
            key="errors.unknown_language",
            fields={"lang": value[:40], "choices": ", ".join(supported_languages())},
        )
    return code


async def reader_language(client: AsyncWebClient, user_id: str) -> str:
    """The person's Slack locale as a catalogue language ("es-ES" → "es"); English when Slack
    gives none or users.info fails (a reply must never depend on it)."""
    try:
        user = (await client.users_info(user=user_id, include_locale=True)).get("user") or {}
    except Exception as exc:
        log.info("users.info for the locale of %s failed: %s", user_id, type(exc).__name__)
        return "en"
    return language_for_locale(user.get("locale"))


async def is_manager(client: AsyncWebClient, inv: Invocation) -> bool:
    """Workspace admin/owner, the channel's creator, or the person in their own DM."""
    if inv.channel_id.startswith("D"):
        return True
    user = (await client.users_info(user=inv.user_id)).get("user") or {}
    if user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"):
        return True
    channel = (await client.conversations_info(channel=inv.channel_id)).get("channel") or {}
    return bool(channel.get("creator")) and channel.get("creator") == inv.user_id


async def bot_is_member(client: AsyncWebClient, channel_id: str) -> bool:
    if channel_id.startswith("D"):
        return True
    channel = (await client.conversations_info(channel=channel_id)).get("channel") or {}
    return bool(channel.get("is_member"))


def _clip(text: str) -> str:
    return text if len(text) <= REPLY_MAX else text[: REPLY_MAX - 1] + "…"


class Commands:
    """The `/civic` handler of one running adapter."""

    def __init__(self, app: App, client: AsyncWebClient) -> None:
        self.app = app
        self.client = client

    async def handle(self, inv: Invocation, text: str) -> Reply:
        """One clear line for anything the person can fix, in their language; never a
        traceback or a token."""
        inv = dataclasses.replace(inv, lang=await reader_language(self.client, inv.user_id))
        m = inv.msgs
        try:
            sub, args, options = split(text or "")
            handler = getattr(self, f"cmd_{sub.replace('-', '_')}", None)
            if handler is None:
                return Reply(m("slack.unknown_command", command=escape(sub[:40])))
            reply: Reply = await handler(inv, args, options)
            return Reply(_clip(reply.text), reply.in_channel)
        except CivicAlertError as exc:
            return Reply(escape(error_text(exc, m)))
        except Exception as exc:
            log.error("/civic %s failed: %s: %s", (text or "").split(" ")[0][:20], type(exc).__name__, str(exc)[:200])
            return Reply(m("slack.generic"))

    async def _require_manager(self, inv: Invocation) -> None:
        if not await is_manager(self.client, inv):
            raise UserInputError(
                "not a manager",
                user_message="Only this channel's manager or a workspace admin can change its alerts or feeds.",
                key="slack.not_manager",
            )

    def _dest(self, inv: Invocation) -> Any:
        return destination(inv.team_id, inv.channel_id, inv.channel_name)

    # ------------------------------------------------------------------ subcommands
    async def cmd_help(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        topics = ", ".join(f"`{t.id}`" for t in self.app.classifier.topics)
        return Reply(inv.msgs("slack.help", topics=topics))

    async def cmd_subscribe(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        await self._require_manager(inv)
        city = " ".join(args).strip()
        if not city:
            raise UserInputError(
                "no city", user_message="Which city? e.g. `/civic subscribe Chicago, IL`", key="slack.no_city_subscribe"
            )
        lang = check_language(options["lang"], inv.msgs) if "lang" in options else None
        if not await bot_is_member(self.client, inv.channel_id):
            raise UserInputError(
                "not a member",
                user_message="Invite me to this channel first (`/invite @civic-alerts`), then subscribe.",
                key="slack.not_member",
            )
        rules = None
        extra = rule_options(options)
        if extra:
            from bot.rules import parse_rules

            rules = parse_rules(**extra)
        topics = options.get("topics") or options.get("topic")
        result = await actions.subscribe(
            self.app.store, self.app.gazetteer, destination=self._dest(inv), city=city, topics=topics,
            catchup_count=self.app.settings.catchup_count, catalog=self.app.classifier.topics,
            coverage=self.app.coverage, rules=rules, lang=lang, default_lang=inv.lang,
        )
        self.app.wake_delivery()
        m = messages(result.subscription.lang)  # said in the channel: the subscription's language
        topics_text = actions.topics_text(result.subscription.topics, self.app.classifier.topics, m)
        lines = [m("slack.subscribed", city=escape(result.city_label), topics=escape(topics_text),
                   id=result.subscription.id, language=m.language(result.subscription.lang))]
        lines += [f"• {escape(r)}" for r in result.subscription.rules.describe(m)]
        if result.catchup_queued:
            lines.append(m("slack.catchup", n=result.catchup_queued))
        return Reply("\n".join(lines), in_channel=True)

    async def cmd_unsubscribe(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        await self._require_manager(inv)
        city = " ".join(args).strip()
        if not city:
            raise UserInputError(
                "no city", user_message="Which city? e.g. `/civic unsubscribe Chicago, IL`",
                key="slack.no_city_unsubscribe",
            )
        removed, label = await actions.unsubscribe(
            self.app.store, self.app.gazetteer, destination=self._dest(inv), city=city, coverage=self.app.coverage
        )
        if not removed:
            return Reply(inv.msgs("slack.not_subscribed", city=escape(label)))
        return Reply(inv.msgs("slack.unsubscribed", city=escape(label)), in_channel=True)

    async def cmd_rules(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        await self._require_manager(inv)
        if not args or not args[0].lstrip("#").isdigit():
            raise UserInputError(
                "no id", user_message="Which subscription? e.g. `/civic rules 3 digest=daily`", key="slack.no_id"
            )
        extra = rule_options(options)
        if not extra:
            raise UserInputError("no rules", user_message="Give at least one rule, e.g. `min_outlets=2`.",
                                 key="slack.no_rules")
        sub = await actions.edit_rules(
            self.app.store, int(args[0].lstrip("#")), extra, platform="slack", group=inv.team_id,
            catalog=self.app.classifier.topics,
        )
        m = inv.msgs
        lines = [m("slack.rules_title", id=sub.id)] + [f"• {escape(r)}" for r in sub.rules.describe(m)]
        return Reply("\n".join(lines))

    async def cmd_list(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        views = await actions.list_subscriptions(
            self.app.store, self.app.gazetteer, platform="slack", group=inv.team_id,
            catalog=self.app.classifier.topics,
        )
        m = inv.msgs
        if not views:
            return Reply(m("slack.no_subscriptions"))
        lines = [m("slack.list_title")]
        for v in views:
            where = f"<#{v.subscription.destination.address}>"
            paused = m("slack.list_paused") if v.subscription.paused else ""
            topics = escape(v.topics_in(m))
            lines.append(f"• #{v.subscription.id} {where}: {escape(v.city_label)} ({topics}){paused}")
        return Reply("\n".join(lines))

    cmd_subscriptions = cmd_list

    async def cmd_search(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        days = options.get("days")
        page = await actions.search(
            self.app.store, self.app.gazetteer, " ".join(args), city=options.get("city"),
            topic=options.get("topic"), days=float(days) if days and days.replace(".", "", 1).isdigit() else None,
            page=max(0, int(options["page"]) - 1) if options.get("page", "").isdigit() else 0,
            catalog=self.app.classifier.topics,
        )
        m = inv.msgs
        if not page.hits:
            return Reply(m("slack.no_match", query=escape(page.query)))
        lines = [m("slack.search_title", query=escape(page.query))]
        lines += [f"_{m(page.note_key)}_"] if page.note_key else []
        for rank, hit in enumerate(page.hits, page.first_rank):
            lines.append(f"{rank}. {link(hit.url, hit.title[:200])} — {escape(hit.source)}, {hit.published:%Y-%m-%d}")
        if page.has_more:
            lines.append(m("slack.more_page", page=page.page + 2))
        return Reply("\n".join(lines))

    async def cmd_latest(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        label, stories = await actions.latest(
            self.app.store, self.app.gazetteer, " ".join(args) or options.get("city", ""),
            topic=options.get("topic"), catalog=self.app.classifier.topics,
        )
        if not stories:
            return Reply(inv.msgs("slack.no_stories", city=escape(label)))
        lines = [inv.msgs("slack.latest_title", city=escape(label))]
        lines += [f"• {link(s.url, s.title[:200])} — {escape(s.source)}, {s.published:%Y-%m-%d %H:%M} UTC" for s in stories]
        return Reply("\n".join(lines))

    async def cmd_status(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        report = await actions.status(
            self.app.store, self.app.gazetteer, platform="slack", group=inv.team_id, catalog=self.app.classifier.topics
        )
        active = report.feeds_total - report.feeds_disabled
        m = inv.msgs
        lines = [
            m("slack.status_polled", n=active), m("slack.status_failing", n=len(report.feeds_failing)),
            m("slack.status_last_poll", ago=actions.ago(report.last_cycle, msgs=m)),
            m("slack.status_queue", n=report.queue_depth),
            m("slack.status_subscriptions", n=len(report.subscriptions)),
        ]
        for health in report.destinations:
            if health.paused:
                lines.append(m("slack.status_paused", label=escape(health.label),
                               reason=escape(actions.pause_reason_text(health.pause_reason, m)[:200])))
        return Reply("\n".join(lines))

    async def cmd_feeds(self, inv: Invocation, args: list[str], options: dict[str, str]) -> Reply:
        action = (args[0].lower() if args else "list")
        owner = feed_owner("slack", inv.team_id)
        m = inv.msgs
        if action == "list":
            feeds = await actions.list_feeds(self.app.store, owner=owner)
            if not feeds:
                return Reply(m("slack.no_feeds"))
            return Reply("\n".join([m("slack.feeds_title")] + [f"• {escape(f.name or f.url)} — {escape(f.url)}" for f in feeds]))
        await self._require_manager(inv)
        if len(args) < 2:
            raise UserInputError(
                "no url", user_message=f"Which address? e.g. `/civic feeds {action} https://example.org/rss`",
                key="slack.no_url", fields={"action": action},
            )
        url = args[1].strip("<>").split("|")[0]
        if action == "add":
            preview = await actions.add_feed(self.app.store, self.app.settings, owner=owner, url=url)
            lines = [m("slack.feed_added", title=escape(preview.title or preview.feed.url), n=preview.item_count)]
            if preview.found_key:
                lines.append(escape(preview.found_text(m)))
            return Reply("\n".join(lines))
        if action == "remove":
            removed = await actions.remove_feed(self.app.store, owner=owner, url=url)
            return Reply(m("slack.feed_removed") if removed else m("slack.no_such_feed"))
        return Reply(inv.msgs("slack.feeds_usage"))
