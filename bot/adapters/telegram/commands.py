"""Telegram commands: parse "/name args", check who may, call bot.actions, answer in HTML.

Syntax (Telegram has no typed options, so options are `key=value` words; quote values with
spaces: include="city council"):

    /subscribe <city> [topics=a,b] [include=…] [exclude=…] [min_outlets=N] [mention=@name]
               [digest=daily@08:00] [quiet=22:00-07:00] [tz=America/Chicago] …   (admins)
    /unsubscribe <city>                                                           (admins)
    /rules <subscription id> key=value …                                          (admins)
    /subscriptions   /search <words> [city=…] [topic=…] [days=N]   /latest <city> [topic=…]
    /status   /help   /feeds add <url> | /feeds remove <url> (admins) | /feeds list

Why admins only for changes in groups: anyone in a big group could otherwise point the
group's alerts elsewhere or add feeds the bot polls; Telegram says who is an administrator
(getChatMember). An anonymous administrator posts as the group itself (sender_chat is the
chat), which only administrators can do. In a private chat the user owns the chat.

Language (issue 13): help, refusals and errors are in the language of the person's Telegram app
(`from.language_code`; English when Telegram sends none, e.g. an anonymous administrator).
`/subscribe … lang=es` sets a subscription's language (default: that same language code); its
confirmation is in the subscription's language. The words come from config/messages
(`telegram.*`, `errors.*`).
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllPrivateChats,
    Message,
)

from bot import actions
from bot.adapters.telegram import fmt
from bot.adapters.telegram.sink import NO_PREVIEW, PLATFORM, destination
from bot.errors import CivicAlertError, UserInputError
from bot.messages import (
    Messages,
    language_for_locale,
    messages,
)
from bot.models import feed_owner

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

RULE_KEYS = frozenset({
    "include", "exclude", "min_outlets", "max_hold_hours", "on_hold_timeout", "mention", "mention_when",
    "digest", "quiet", "urgent", "tz", "threads",
})  # fmt: skip
ADMIN_STATUSES = frozenset({"creator", "administrator"})
GENERIC_APOLOGY = "Sorry — something went wrong on my side. It has been logged; please try again in a moment."
SUBSCRIBE_KEYS = RULE_KEYS | {"topics", "topic", "lang"}

PUBLIC_COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscriptions", "What this chat follows"),
    ("search", "Search stories: /search words [city=…] [topic=…] [days=N]"),
    ("latest", "Latest stories for a city: /latest city [topic=…]"),
    ("status", "Feed and delivery health"),
    ("help", "What this bot does and how to use it"),
)
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("subscribe", "Alerts for a city here: /subscribe city [topics=…] [rules…]"),
    ("unsubscribe", "Stop alerts for a city: /unsubscribe city"),
    ("rules", "Change a subscription's rules: /rules id key=value …"),
    ("feeds", "This chat's own feeds: /feeds add|remove url, /feeds list"),
)

# the help text is config/messages/<lang>.toml's `telegram.help` (HTML: Telegram's parse mode)


async def register_commands(bot: Bot) -> None:
    """setMyCommands: everyone sees the read-only commands; admins and private chats all."""
    public = [BotCommand(command=c, description=d) for c, d in PUBLIC_COMMANDS]
    everything = [BotCommand(command=c, description=d) for c, d in ADMIN_COMMANDS + PUBLIC_COMMANDS]
    await bot.set_my_commands(public)
    await bot.set_my_commands(everything, scope=BotCommandScopeAllChatAdministrators())
    await bot.set_my_commands(everything, scope=BotCommandScopeAllPrivateChats())


@dataclass(frozen=True, slots=True)
class Parsed:
    words: tuple[str, ...]
    options: dict[str, str]

    @property
    def rest(self) -> str:
        return " ".join(self.words)


def parse_args(text: str) -> Parsed:
    """Words and key=value options (keys with - or _; values may be quoted)."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        raise UserInputError(
            "bad quoting", user_message="A quote is not closed; check the \" marks.", key="telegram.bad_quoting"
        ) from None
    words: list[str] = []
    options: dict[str, str] = {}
    for token in tokens:
        key, eq, value = token.partition("=")
        if eq and key and key.replace("-", "_").replace("_", "").isalnum():
            options[key.replace("-", "_").casefold()] = value
        else:
            words.append(token)
    return Parsed(tuple(words), options)


ON_WORDS = frozenset({"on", "yes", "true", "1"})
OFF_WORDS = frozenset({"off", "no", "false", "0", "", "none"})


def rule_options(options: dict[str, str]) -> dict[str, object]:
    """The rule keys of `options` as parse_rules takes them (threads=on/off → a bool)."""
    out: dict[str, object] = {k: v for k, v in options.items() if k in RULE_KEYS}
    if "threads" in out:
        word = str(out["threads"]).casefold()
        if word not in ON_WORDS | OFF_WORDS:
            raise UserInputError("bad threads", user_message="threads= takes on or off.", key="telegram.bad_threads")
        out["threads"] = word in ON_WORDS
    return out


def split_command(text: str, username: str) -> tuple[str, str] | None:
    """("subscribe", "chicago topics=ice") from "/subscribe@me chicago topics=ice"; None when
    it is not a command or is addressed to another bot."""
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = more + " " + rest
    name, _, at = head[1:].partition("@")
    if at and at.casefold() != username.casefold():
        return None
    return name.casefold(), rest.strip()


def reader_language(message: Message) -> str:
    """The sender's Telegram language ("es-419" → "es"); English when none is sent (an
    anonymous administrator, or a client that does not say)."""
    user = message.from_user
    if user is None or message.sender_chat is not None:
        return "en"
    return language_for_locale(user.language_code)


def error_text(exc: CivicAlertError, msgs: Messages) -> str:
    """A refusal in the reader's language when the error names its catalogue entry."""
    if exc.key is not None:
        try:
            return msgs(exc.key, **exc.fields)
        except (KeyError, IndexError, ValueError):
            log.warning("message %s could not be filled in; English used", exc.key)
    return exc.user_message


class Commands:
    """The command handlers of one connected bot."""

    def __init__(self, bot: Bot, app: App, username: str) -> None:
        self.bot = bot
        self.app = app
        self.username = username
        self.handlers: dict[str, Callable[[Message, str], Awaitable[str]]] = {
            "start": self.help, "help": self.help, "subscribe": self.subscribe, "unsubscribe": self.unsubscribe,
            "subscriptions": self.subscriptions, "rules": self.rules, "search": self.search,
            "latest": self.latest, "status": self.status, "feeds": self.feeds,
        }  # fmt: skip

    async def handle(self, message: Message) -> None:
        """One message: answer a command for us; never raises."""
        parsed = split_command(message.text or "", self.username)
        if parsed is None or parsed[0] not in self.handlers:
            return
        name, args = parsed
        msgs = messages(reader_language(message))
        try:
            answer = await self.handlers[name](message, args)
        except CivicAlertError as exc:
            log.info("/%s refused in chat %s: %s", name, message.chat.id, exc.user_message)
            answer = fmt.esc(error_text(exc, msgs))
        except Exception:
            log.exception("/%s failed in chat %s", name, message.chat.id)
            answer = fmt.esc(msgs("errors.generic"))
        await self.reply(message, answer)

    async def reply(self, message: Message, text: str) -> None:
        thread = message.message_thread_id if message.is_topic_message else None
        try:
            await self.bot.send_message(
                chat_id=message.chat.id, text=text, message_thread_id=thread, link_preview_options=NO_PREVIEW
            )
        except Exception as exc:  # the chat may be gone or muted for us: one line, no retry
            log.warning("could not answer in chat %s: %s", message.chat.id, getattr(exc, "message", exc))

    # ------------------------------------------------------------------ helpers
    async def is_admin(self, message: Message) -> bool:
        chat = message.chat
        if chat.type == "private":
            return True
        if message.sender_chat is not None and message.sender_chat.id == chat.id:
            return True  # an anonymous administrator posts as the group
        if message.from_user is None:
            return False
        member = await self.bot.get_chat_member(chat_id=chat.id, user_id=message.from_user.id)
        return member.status in ADMIN_STATUSES

    async def require_admin(self, message: Message) -> None:
        if not await self.is_admin(message):
            raise UserInputError(
                "not an admin", user_message="Only administrators of this chat can do that.", key="telegram.not_admin"
            )

    @staticmethod
    def here(message: Message) -> tuple[int, int | None]:
        thread = message.message_thread_id if message.is_topic_message else None
        return message.chat.id, thread

    def _topics(self) -> actions.TopicCatalog:
        return self.app.classifier.topics

    # ------------------------------------------------------------------ commands
    async def help(self, message: Message, args: str) -> str:
        return messages(reader_language(message))("telegram.help")

    async def subscribe(self, message: Message, args: str) -> str:
        await self.require_admin(message)
        parsed = parse_args(args)
        if not parsed.words:
            raise UserInputError(
                "no city", user_message="Which city? For example: /subscribe Chicago topics=immigration",
                key="telegram.no_city_subscribe",
            )
        unknown = set(parsed.options) - SUBSCRIBE_KEYS
        if unknown:
            names = ", ".join(sorted(unknown))
            raise UserInputError("unknown option", user_message=f"Unknown option: {names} (see /help).",
                                 key="telegram.unknown_option", fields={"options": names})
        lang = actions.check_language(parsed.options["lang"]) if "lang" in parsed.options else None
        chat_id, thread = self.here(message)
        rules = rule_options(parsed.options)
        result = await actions.subscribe(
            self.app.store, self.app.gazetteer, destination=destination(chat_id, thread), city=parsed.rest,
            topics=parsed.options.get("topics") or parsed.options.get("topic"),
            catchup_count=self.app.settings.catchup_count, catalog=self._topics(), coverage=self.app.coverage,
            lang=lang, default_lang=reader_language(message),
        )
        sub = result.subscription
        if rules:
            sub = await actions.edit_rules(self.app.store, sub.id, rules, platform=PLATFORM, group=str(chat_id),
                                           catalog=self._topics())
        if result.catchup_queued:
            self.app.wake_delivery()
        m = messages(sub.lang)  # said to the whole chat: the subscription's language
        key = "telegram.subscribed_topic" if thread is not None else "telegram.subscribed_chat"
        lines = [m(key, city=fmt.esc(result.city_label), topics=fmt.esc(actions.topics_text(sub.topics, self._topics(), m)),
                   id=sub.id, language=fmt.esc(m.language(sub.lang)))]
        lines += [f"• {fmt.esc(rule)}" for rule in sub.rules.describe(m)]
        if result.catchup_queued:
            lines.append(m("telegram.catchup", n=result.catchup_queued))
        return "\n".join(lines)

    async def unsubscribe(self, message: Message, args: str) -> str:
        await self.require_admin(message)
        if not args.strip():
            raise UserInputError("no city", user_message="Which city? For example: /unsubscribe Chicago",
                                 key="telegram.no_city_unsubscribe")
        chat_id, thread = self.here(message)
        removed, label = await actions.unsubscribe(
            self.app.store, self.app.gazetteer, destination=destination(chat_id, thread), city=args.strip(),
            coverage=self.app.coverage,
        )
        m = messages(reader_language(message))
        where = "topic" if thread is not None else "chat"
        if removed:
            return m(f"telegram.unsubscribed_{where}", city=fmt.esc(label))
        return m(f"telegram.not_subscribed_{where}", city=fmt.esc(label))

    async def subscriptions(self, message: Message, args: str) -> str:
        views = await actions.list_subscriptions(
            self.app.store, self.app.gazetteer, platform=PLATFORM, group=str(message.chat.id), catalog=self._topics()
        )
        m = messages(reader_language(message))
        if not views:
            return m("telegram.no_subscriptions")
        lines = [m("telegram.subscriptions_title")]
        for view in views:
            sub = view.subscription
            _chat, _, topic = sub.destination.address.partition("/")
            where = m("telegram.in_topic", topic=fmt.esc(topic)) if topic else ""
            reason = actions.pause_reason_text(sub.pause_reason, m) or m("telegram.no_access")
            state = m("telegram.paused", reason=fmt.esc(reason)) if sub.paused else ""
            topics = fmt.esc(view.topics_in(m))
            lines.append(f"#{sub.id} <b>{fmt.esc(view.city_label)}</b>{where}: {topics}{state}")
            lines += [f"   {fmt.esc(rule)}" for rule in sub.rules.describe(m)]
        return "\n".join(lines)

    async def rules(self, message: Message, args: str) -> str:
        await self.require_admin(message)
        parsed = parse_args(args)
        if len(parsed.words) != 1 or not parsed.words[0].lstrip("#").isdigit():
            raise UserInputError("no id", user_message="Usage: /rules <subscription id> key=value … (ids: /subscriptions)",
                                 key="telegram.no_id")
        unknown = set(parsed.options) - RULE_KEYS
        if unknown or not parsed.options:
            keys = ", ".join(sorted(RULE_KEYS))
            raise UserInputError("bad rules", user_message=f"Give rules as key=value; known keys: {keys}.",
                                 key="telegram.bad_rules", fields={"keys": keys})
        sub = await actions.edit_rules(self.app.store, int(parsed.words[0].lstrip("#")), rule_options(parsed.options),
                                       platform=PLATFORM, group=str(message.chat.id), catalog=self._topics())
        m = messages(reader_language(message))
        lines = [m("telegram.rules_saved", id=sub.id)] + [f"• {fmt.esc(r)}" for r in sub.rules.describe(m)]
        return "\n".join(lines)

    async def search(self, message: Message, args: str) -> str:
        parsed = parse_args(args)
        days = parsed.options.get("days")
        try:
            days_value = float(days) if days else None
        except ValueError:
            raise UserInputError("bad days", user_message="days= takes a number.", key="telegram.bad_days") from None
        page = await actions.search(
            self.app.store, self.app.gazetteer, parsed.rest, city=parsed.options.get("city"),
            topic=parsed.options.get("topic"), days=days_value, page_size=self.app.settings.search_page_size,
            catalog=self._topics(),
        )
        m = messages(reader_language(message))
        if not page.hits:
            return fmt.esc(m("telegram.no_match", query=page.query))
        note = m(page.note_key) if page.note_key else ""
        more = m("telegram.more_results") if page.has_more else ""
        more = " ".join(part for part in (note, more) if part)
        return fmt.hits_message(m("telegram.results", query=page.query), page.hits, more)

    async def latest(self, message: Message, args: str) -> str:
        parsed = parse_args(args)
        if not parsed.words:
            raise UserInputError("no city", user_message="Which city? For example: /latest Chicago",
                                 key="telegram.no_city_latest")
        label, stories = await actions.latest(self.app.store, self.app.gazetteer, parsed.rest,
                                              topic=parsed.options.get("topic"), catalog=self._topics())
        m = messages(reader_language(message))
        if not stories:
            return m("telegram.no_stories", city=fmt.esc(label))
        return fmt.stories_message(m("telegram.latest_title", city=label), stories)

    async def status(self, message: Message, args: str) -> str:
        report = await actions.status(self.app.store, self.app.gazetteer, platform=PLATFORM,
                                      group=str(message.chat.id), catalog=self._topics())
        m = messages(reader_language(message))
        lines = [
            m("telegram.status_title"),
            m("telegram.status_feeds", n=report.feeds_total, failing=len(report.feeds_failing),
              disabled=report.feeds_disabled),
            m("telegram.status_last_poll", ago=fmt.esc(actions.ago(report.last_cycle, msgs=m)), n=report.queue_depth),
            m("telegram.status_subscriptions", n=len(report.subscriptions)),
        ]
        for health in report.destinations:
            if health.paused:
                lines.append(m("telegram.status_paused", label=fmt.esc(health.label),
                               reason=fmt.esc(actions.pause_reason_text(health.pause_reason, m))))
        return "\n".join(lines)

    async def feeds(self, message: Message, args: str) -> str:
        sub, _, rest = args.strip().partition(" ")
        owner = feed_owner(PLATFORM, str(message.chat.id))
        sub = sub.casefold()
        m = messages(reader_language(message))
        if sub in ("", "list"):
            feeds = await actions.list_feeds(self.app.store, owner=owner)
            if not feeds:
                return m("telegram.no_feeds")
            return "\n".join([m("telegram.feeds_title")] + [f"• {fmt.esc(f.url)}" for f in feeds])
        if sub not in ("add", "remove"):
            raise UserInputError("bad feeds", user_message="Usage: /feeds add <url>, /feeds remove <url>, /feeds list",
                                 key="telegram.feeds_usage")
        await self.require_admin(message)
        if not rest.strip():
            raise UserInputError("no url", user_message=f"Usage: /feeds {sub} <url>", key="telegram.no_url",
                                 fields={"action": sub})
        if sub == "remove":
            removed = await actions.remove_feed(self.app.store, owner=owner, url=rest.strip())
            return m("telegram.feed_removed") if removed else m("telegram.no_such_feed")
        preview = await actions.add_feed(self.app.store, self.app.settings, owner=owner, url=rest.strip(),
                                         fetcher=self.app.guild_fetcher)
        title = preview.title or preview.feed.url
        lines = [m("telegram.feed_added", title=fmt.esc(title), n=preview.item_count)]
        if preview.found_key:
            lines.append(fmt.esc(preview.found_text(m)))
        return "\n".join(lines)
