"""The Telegram adapter as one platform of the service (bot/service.py).

Why aiogram 3 (not python-telegram-bot 22): it runs on aiohttp, which the project already uses
for fetching, so no second HTTP stack (httpx) comes in; its `TelegramAPIServer.from_base(url)`
points every call at TELEGRAM_API_BASE (a local Bot API server, or the tests' stand-in) with no
patching; and its typed exceptions carry `retry_after` and Telegram's description, which is all
the sink needs to classify failures. PTB's `base_url` would have worked too; its Application
framework (job queue, persistence) duplicates what the App already does.

Long polling (getUpdates) is the default: it needs no public address or TLS certificate.
Updates are read here (not by aiogram's Dispatcher) so the service's `stop` ends the poll at once
and each update is handled in its own task — a slow /feeds add never stalls the next command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramConflictError, TelegramUnauthorizedError
from aiogram.types import ChatMemberUpdated, Update
from aiogram.utils.token import TokenValidationError

from bot import actions
from bot.adapters.telegram.commands import Commands, register_commands
from bot.adapters.telegram.sink import PLATFORM, TelegramSink, chat_of, destination
from bot.errors import CivicAlertError, ConfigError
from bot.models import feed_owner
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

POLL_TIMEOUT = 25  # seconds getUpdates waits for news (Telegram allows up to 50)
ALLOWED_UPDATES = ["message", "my_chat_member"]  # commands, migrations; the bot's own standing
RETRY_WAIT = 3.0  # after a failed getUpdates (network, Telegram 5xx)
GONE_STATUSES = frozenset({"left", "kicked"})


class TelegramAdapter:
    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._handlers: set[asyncio.Task[None]] = set()

    def _bot(self) -> Bot:
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.settings.telegram_api_base))
        try:
            return Bot(self.settings.telegram_bot_token or "", session=session,
                       default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        except TokenValidationError:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not a bot token (it looks like 123456:ABC…)") from None

    async def run(self, app: App, stop: asyncio.Event) -> None:
        bot = self._bot()
        try:
            try:
                me = await bot.get_me()
            except TelegramUnauthorizedError:
                raise ConfigError("Telegram refused the token (TELEGRAM_BOT_TOKEN)") from None
            await bot.delete_webhook()  # getUpdates refuses to run while a webhook is set
            await register_commands(bot)
            app.add_sink(TelegramSink(bot, app.city_label, app.classifier.topics.label))
            log.info("telegram: connected as @%s", me.username)
            await self._poll(bot, app, stop, me.username or "")
        finally:
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await bot.session.close()

    async def _poll(self, bot: Bot, app: App, stop: asyncio.Event, username: str) -> None:
        commands = Commands(bot, app, username)
        offset: int | None = None
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                fetch = asyncio.create_task(bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES,
                    request_timeout=POLL_TIMEOUT + 15,
                ))
                await asyncio.wait({fetch, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if stop.is_set():
                    fetch.cancel()
                    with contextlib.suppress(BaseException):
                        await fetch
                    return
                try:
                    updates = fetch.result()
                except TelegramUnauthorizedError:
                    raise ConfigError("Telegram refused the token (TELEGRAM_BOT_TOKEN)") from None
                except TelegramConflictError:
                    log.warning("telegram: another process polls with this token; waiting")
                    await self._wait(stop, RETRY_WAIT * 5)
                    continue
                except (TelegramAPIError, TimeoutError, OSError) as exc:
                    log.warning("telegram: getUpdates failed (%s); retrying", getattr(exc, "message", exc))
                    await self._wait(stop, RETRY_WAIT)
                    continue
                for update in updates:
                    offset = update.update_id + 1  # commands are at most once: never answered twice
                    task = asyncio.create_task(self._dispatch(commands, app, update))
                    self._handlers.add(task)
                    task.add_done_callback(self._handlers.discard)
        finally:
            stopped.cancel()

    @staticmethod
    async def _wait(stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _dispatch(self, commands: Commands, app: App, update: Update) -> None:
        try:
            if update.message is not None and update.message.migrate_to_chat_id:
                await self.migrated(app, update.message.chat.id, update.message.migrate_to_chat_id)
            elif update.message is not None:
                await commands.handle(update.message)
            elif update.my_chat_member is not None:
                await self.member_changed(app, update.my_chat_member)
        except Exception:
            log.exception("telegram: update %s failed", update.update_id)

    async def migrated(self, app: App, old_chat: int, new_chat: int) -> None:
        """A group became a supergroup (a new chat id): its subscriptions move with it, rules
        and topics kept, so the group keeps its alerts without anyone subscribing again."""
        moved = 0
        for sub in await app.store.subscriptions(platform=PLATFORM, group=str(old_chat)):
            _chat, thread = chat_of(sub.destination)
            await app.store.subscribe(destination(new_chat, thread), sub.city, sub.topics, sub.rules)
            moved += 1
        await actions.group_removed(app.store, PLATFORM, str(old_chat))
        feeds_moved = 0
        for feed in await actions.list_feeds(app.store, owner=feed_owner(PLATFORM, str(old_chat))):
            with contextlib.suppress(CivicAlertError):
                await app.store.add_guild_feed(feed_owner(PLATFORM, str(new_chat)), feed.url, feed.name)
                feeds_moved += 1
            await actions.remove_feed(app.store, owner=feed_owner(PLATFORM, str(old_chat)), url=feed.url)
        log.info("telegram: chat %s became supergroup %s; %d subscriptions and %d feeds moved",
                 old_chat, new_chat, moved, feeds_moved)

    async def member_changed(self, app: App, change: ChatMemberUpdated) -> None:
        """The bot's own standing in a chat changed: removed → the chat's subscriptions end;
        allowed to post again → its paused destinations resume with their held alerts."""
        member = change.new_chat_member
        group = str(change.chat.id)
        if member.status in GONE_STATUSES:
            removed = await actions.group_removed(app.store, PLATFORM, group)
            log.info("telegram: removed from chat %s; %d subscriptions ended", group, removed)
            return
        can_post = member.status in ("member", "administrator", "creator") or bool(
            getattr(member, "can_send_messages", False)
        )
        if not can_post:
            return
        resumed = 0
        for state in await actions.paused_destinations(app.store, platform=PLATFORM, group=group):
            resumed += await actions.resume_destination(app.store, state.destination)
        if resumed:
            log.info("telegram: chat %s allows posting again; %d held alerts due", group, resumed)
            app.wake_delivery()


def make_adapter(settings: Settings) -> TelegramAdapter:
    return TelegramAdapter(settings)
