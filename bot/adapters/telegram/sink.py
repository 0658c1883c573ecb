"""The Telegram AlertSink: posts, edits and classifies Bot API outcomes for the DeliveryWorker.

Destination: `group` is the chat id; `address` is the chat id, or "<chat id>/<topic id>" for a
forum topic (a subscription made inside a topic posts there). Threads (`SinkLimits.threads`,
the subscription's `threads` rule): Telegram's thread of a message is its reply chain, so a
story's alert goes alone in its message and each "also reported by" update edits it *and*
answers it as a reply, which members see in the chat and in the message's replies. (Opening a
forum topic per story would flood a forum's topic list; subscribing inside a topic is the
forum way.)

Outcome → the project's delivery exceptions (the worker owns the policy):

    429 (parameters.retry_after)                         → RateLimitedError(retry_after)
    403 bot was blocked by the user / kicked / deactivated,
    400 chat not found / message thread not found        → ChannelGoneError (subscription ends)
    400/403 not enough rights / CHAT_WRITE_FORBIDDEN     → ForbiddenDeliveryError (paused, kept)
    5xx, network, anything else                          → TransientDeliveryError (retried)

No reconciliation from history: the Bot API lets a bot read no chat history and has no
idempotency key on sendMessage, so `find_sent` returns {}. A crash between Telegram accepting a
message and the outbox marking it sent re-sends exactly the alerts of that one message after the
restart (doubled, never lost); the crash drill in tests/telegram measures it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import LinkPreviewOptions, ReplyParameters

from bot import render
from bot.adapters.telegram import fmt
from bot.delivery import DeliveryProblem, SinkLimits
from bot.errors import (
    ChannelGoneError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.messages import messages
from bot.models import Alert, Destination

log = logging.getLogger(__name__)

PLATFORM = "telegram"
#: Telegram's documented bot limits: about 30 messages a second overall, 1 a second per chat and
#: 20 a minute per group. The worker paces the overall rate; per-chat floods answer 429 with
#: retry_after, which the worker honours for that chat alone.
LIMITS = SinkLimits(
    batch_size=fmt.MESSAGE_ALERTS_MAX, sends_per_second=25.0, key_length=0, can_edit=True, threads=True
)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)

GONE_PHRASES = (
    "bot was blocked by the user", "bot was kicked", "user is deactivated", "chat not found",
    "bot is not a member", "message thread not found", "topic_deleted", "group chat was deleted",
    "peer_id_invalid",
)  # fmt: skip
FORBIDDEN_PHRASES = ("not enough rights", "chat_write_forbidden", "have no rights", "need administrator rights")


def destination(chat_id: int, thread_id: int | None = None) -> Destination:
    address = str(chat_id) if thread_id is None else f"{chat_id}/{thread_id}"
    return Destination(platform=PLATFORM, address=address, group=str(chat_id))


def chat_of(dest: Destination) -> tuple[int, int | None]:
    """(chat id, forum topic id or None) of a Telegram destination."""
    chat, _, thread = dest.address.partition("/")
    return int(chat), (int(thread) if thread else None)


def translate(exc: BaseException, what: str) -> Exception:
    """aiogram outcome → the project's delivery exception (message without the token)."""
    if isinstance(exc, TelegramRetryAfter):
        return RateLimitedError(float(exc.retry_after))
    text = getattr(exc, "message", "") or str(exc)
    lowered = text.casefold()
    if isinstance(exc, TelegramMigrateToChat):
        # the group became a supergroup: the migration message moves its subscriptions (service.py);
        # until then keep the alerts
        return TransientDeliveryError(f"{what}: the group moved to supergroup {exc.migrate_to_chat_id}")
    if isinstance(exc, (TelegramForbiddenError, TelegramBadRequest, TelegramNotFound)):
        if any(p in lowered for p in FORBIDDEN_PHRASES):
            return ForbiddenDeliveryError(f"{what}: {text[:200]}", ("Send Messages",))
        if any(p in lowered for p in GONE_PHRASES):
            return ChannelGoneError(f"{what}: {text[:200]}")
        if isinstance(exc, TelegramForbiddenError):  # other 403s: no access, keep the alerts
            return ForbiddenDeliveryError(f"{what}: {text[:200]}")
        return TransientDeliveryError(f"{what}: {text[:300]}")
    if isinstance(exc, TelegramNetworkError):
        return TransientDeliveryError(f"{what}: network error: {text[:200]}")
    return TransientDeliveryError(f"{what}: {type(exc).__name__}: {text[:200]}")


class TelegramSink:
    """AlertSink over an aiogram Bot (a restarted adapter hands the worker a new sink)."""

    platform = PLATFORM
    limits = LIMITS

    def __init__(
        self,
        bot: Bot,
        label: Callable[[str], str] = lambda c: c,
        topic_label: Callable[[str], str] = render.plain_topic,
    ) -> None:
        self.bot = bot
        self.label = label
        self.topic_label = topic_label

    def render(self, alerts: Sequence[Alert]) -> str:
        return fmt.alerts_message(alerts, self.label, self.topic_label)

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        n = min(len(alerts), fmt.MESSAGE_ALERTS_MAX)
        while n > 1 and not fmt.fits(alerts[:n]):
            n -= 1
        return max(1, n)

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        chat_id, thread_id = chat_of(destination)
        try:
            message = await self.bot.send_message(
                chat_id=chat_id, text=self.render(alerts), message_thread_id=thread_id,
                link_preview_options=NO_PREVIEW,
            )
        except (TelegramAPIError, TimeoutError, OSError) as exc:
            raise translate(exc, f"send to chat {chat_id}") from None
        return str(message.message_id)

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        chat_id, _thread = chat_of(destination)
        if alerts and alerts[0].digest:
            ordered = sorted(alerts, key=lambda a: (-a.story.corroboration, -a.story.published.timestamp(), a.delivery_id))
        else:
            ordered = sorted(alerts, key=lambda a: (a.story.published, a.delivery_id))
        try:
            await self.bot.edit_message_text(
                chat_id=chat_id, message_id=int(message_ref), text=self.render(ordered),
                link_preview_options=NO_PREVIEW,
            )
        except TelegramBadRequest as exc:
            lowered = exc.message.casefold()
            if "message is not modified" in lowered or "message to edit not found" in lowered:
                log.info("edit of message %s in chat %s skipped: %s", message_ref, chat_id, exc.message[:120])
                return
            raise translate(exc, f"edit {message_ref} in chat {chat_id}") from None
        except (TelegramAPIError, TimeoutError, OSError) as exc:
            raise translate(exc, f"edit {message_ref} in chat {chat_id}") from None
        if ordered and ordered[0].thread and not ordered[0].digest:
            await self._thread_reply(destination, int(message_ref), ordered[0])

    async def _thread_reply(self, destination: Destination, message_id: int, alert: Alert) -> None:
        """The update as a reply to the alert (its thread); a deleted alert gets none."""
        chat_id, thread_id = chat_of(destination)
        m = messages(alert.lang)
        text = render.also_reported(alert.story, msgs=m) or render.corroboration(alert.story, m)
        body = fmt.esc(m("telegram.update", text=text, corroboration=render.corroboration(alert.story, m)))
        try:
            await self.bot.send_message(
                chat_id=chat_id, text=body, message_thread_id=thread_id, link_preview_options=NO_PREVIEW,
                reply_parameters=ReplyParameters(message_id=message_id, allow_sending_without_reply=False),
            )
        except TelegramBadRequest as exc:
            if "message to be replied not found" in exc.message.casefold():
                return
            raise translate(exc, f"reply to {message_id} in chat {chat_id}") from None
        except (TelegramAPIError, TimeoutError, OSError) as exc:
            raise translate(exc, f"reply to {message_id} in chat {chat_id}") from None

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        return {}  # bots cannot read chat history: the send→record window re-sends (see module doc)

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        """A bot that may not post in a chat cannot say so there either: log one line; the
        alerts resume when Telegram reports the bot's rights restored (my_chat_member) or an
        administrator runs /subscribe again."""
        chat_id, _thread = chat_of(destination)
        log.warning("telegram chat %s paused: %s", chat_id, problem.detail[:200])
