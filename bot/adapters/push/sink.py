"""The Apprise sink: alerts pushed one way to Signal, SMS, WhatsApp, e-mail, ntfy, webhooks…

Delivery semantics (the worker in bot.delivery does the bookkeeping; this declares and sends):

- one way, no edits: "also reported by" updates are dropped (`can_edit=False`);
- a digest: the alerts due for one destination in one drain go as one notification, as many as
  fit the service's length limit (`batch_size` asks the formatter), at most 10;
- paced: 2 sends a second across all push destinations; Apprise throttles per service too;
- every Apprise call runs in a worker thread (`asyncio.to_thread`): plugins use `requests` and
  `smtplib`, which block, and a slow SMTP server must not stall polling or other deliveries;
- a send that returns False or raises is a `TransientDeliveryError` with one clean line (the
  reason Apprise logged, without URL or secret) — retried with backoff, shown as last_error,
  and after `pause_after_failures` failed attempts the destination is paused with that reason;
- webhooks (json://, jsons://, form://, forms://) carry `idempotency_key` (the worker's key for
  these deliveries — one delivery row per story and destination) and `story_ids` in the payload,
  through Apprise's own `:key=value` payload mapping, so a receiver can drop a repeat;
- `find_sent` returns {}: a push service keeps no history we can read. A crash between the
  service accepting a notification and the outbox recording it (the send→record window) sends
  exactly that one notification again after the restart; nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from bot.adapters.push import format as fmt
from bot.adapters.push.capture import CAPTURE, clean_reason, quiet_apprise
from bot.adapters.push.urls import PLATFORM, load_plugin, masked, secrets
from bot.delivery import DeliveryProblem, SinkLimits
from bot.errors import TransientDeliveryError
from bot.logs import register_secrets
from bot.messages import messages
from bot.models import Alert, Destination
from bot.render import plain_topic

log = logging.getLogger(__name__)

WEBHOOK_SCHEMES = frozenset({"json", "jsons", "form", "forms"})
LIMITS = SinkLimits(batch_size=10, sends_per_second=2.0, key_length=32, can_edit=False, pause_after_failures=8)


def _format_of(plugin: Any) -> str:
    try:
        resolved = plugin.resolve_format(None)
    except Exception:
        resolved = getattr(plugin, "notify_format", "text")
    value = str(getattr(resolved, "value", resolved)).lower()
    return value if value in {fmt.TEXT, fmt.MARKDOWN, fmt.HTML} else fmt.TEXT


def _limits_of(plugin: Any) -> tuple[int, int]:
    body_max = int(getattr(plugin, "body_maxlen", 32768) or 32768)
    title_max = int(getattr(plugin, "title_maxlen", 250) or 0)
    return body_max, title_max


def with_payload(url: str, extras: dict[str, str]) -> str:
    """`url` plus Apprise's `:key=value` payload entries (json://, form:// and their s forms)."""
    if not extras:
        return url
    base, hash_mark, fragment = url.partition("#")
    query = urlencode({f":{k}": v for k, v in extras.items()})
    joined = base + ("&" if "?" in base else "?") + query
    return joined + (hash_mark + fragment if hash_mark else "")


class ApprisePushSink:
    """Delivers the outbox rows of platform "apprise" (Destination.address is the Apprise URL)."""

    platform = PLATFORM
    limits = LIMITS

    def __init__(
        self, label: Callable[[str], str] = lambda c: c, topic_label: Callable[[str], str] = plain_topic
    ) -> None:
        self.label = label
        self.topic_label = topic_label
        self._plugins: dict[str, Any] = {}
        quiet_apprise()

    def _plugin(self, url: str) -> Any | None:
        if url not in self._plugins:
            plugin = load_plugin(url)
            if plugin is None:
                return None
            register_secrets(secrets(url, masked(url, plugin)))
            self._plugins[url] = plugin
        return self._plugins[url]

    def watch(self, url: str) -> None:
        """Learn `url`'s secret parts now (before any log line could carry them)."""
        self._plugin(url)

    def render(self, destination: Destination, alerts: Sequence[Alert]) -> fmt.Message:
        plugin = self._plugin(destination.address)
        kind = _format_of(plugin) if plugin is not None else fmt.TEXT
        body_max, title_max = _limits_of(plugin) if plugin is not None else (32768, 250)
        return fmt.render([a.story for a in alerts], kind, body_max=body_max, title_max=title_max, label=self.label,
            topic_label=self.topic_label, msgs=messages(alerts[0].lang if alerts else None),
        )

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        """As many leading alerts as fit one notification within the service's length limit."""
        if not alerts:
            return 1
        plugin = self._plugin(alerts[0].destination.address)
        n = min(len(alerts), self.limits.batch_size)
        if plugin is None:
            return n
        body_max, title_max = _limits_of(plugin)
        while n > 1 and not fmt.fits(
            self.render(alerts[0].destination, alerts[:n]), body_max=body_max, title_max=max(title_max, 0)
        ):
            n -= 1
        return n

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        message = self.render(destination, alerts)
        extras = {"idempotency_key": key, "story_ids": ",".join(str(a.story.id) for a in alerts)}
        await self.notify(destination, message, extras)
        return f"push:{key}"  # no message id comes back from a push service

    async def send_test(self, destination: Destination, title: str, body: str) -> None:
        """A message outside the outbox (`subscriptions test`), through the same path."""
        await self.notify(destination, fmt.Message(title=title, body=body, fmt=fmt.TEXT), {"test": "1"})

    async def notify(self, destination: Destination, message: fmt.Message, extras: dict[str, str]) -> None:
        url = destination.address
        hidden = secrets(url, masked(url, self._plugin(url)))
        register_secrets(hidden)
        ok, reason = await asyncio.to_thread(self._notify_blocking, url, message, extras, hidden)
        if not ok:
            raise TransientDeliveryError(f"push failed: {reason or 'the service did not accept it'}")

    @staticmethod
    def _notify_blocking(
        url: str, message: fmt.Message, extras: dict[str, str], hidden: list[str]
    ) -> tuple[bool, str]:
        """In a worker thread: build the service (with payload extras) and send; never raises."""
        CAPTURE.start()
        try:
            from bot.adapters.push.urls import scheme_of

            target = with_payload(url, extras) if scheme_of(url) in WEBHOOK_SCHEMES else url
            plugin = load_plugin(target)
            if plugin is None:
                return False, "the Apprise URL is no longer valid"
            ok = bool(plugin.notify(body=message.body, title=message.title, body_format=message.fmt))
        except Exception as exc:  # a plugin bug: one line, no URL
            CAPTURE.take()
            return False, clean_reason([f"{type(exc).__name__}: {exc}"], hidden)
        reason = clean_reason(CAPTURE.take(), hidden)
        return ok, reason

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        return None  # push is one way (limits.can_edit is False; the worker never asks)

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        return {}  # no readable history: a crash in the send→record window re-sends that one message

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        log.warning("push destination needs attention", extra={"destination": destination.name, "detail": problem.detail})
