"""The Slack AlertSink: chat.postMessage / chat.update / conversations.history outcomes turned
into the delivery worker's exceptions (the policy lives in bot/delivery.py).

    HTTP 429 / `ratelimited`                      → RateLimitedError(Retry-After)
    `not_in_channel`, `restricted_action`,
    `missing_scope`, `ekm_access_denied`, …       → ForbiddenDeliveryError (paused, alerts kept)
    `channel_not_found`, `is_archived`,
    `account_inactive`, `token_revoked`, …        → ChannelGoneError (the subscription ends)
    5xx, connection errors, anything else         → TransientDeliveryError (backoff)

Exactly once without an idempotency key: every alert carries message `metadata` (event type
`civic_alert`, story and delivery ids). After a crash, `find_sent` reads the channel's recent
history with `include_all_metadata` and settles the rows whose stories already stand there, so
only the rest is posted again. Links are never unfurled (`unfurl_links`/`unfurl_media` false):
a preview card would repeat the alert and fetch the outlet's page on the reader's behalf.

Threads: an alert of a subscription with `threads` on is one story per message; its "also
reported by" update edits the message and adds a reply in the message's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot import render
from bot.adapters.slack import blocks as B
from bot.delivery import DeliveryProblem, SinkLimits
from bot.errors import (
    ChannelGoneError,
    DeliveryError,
    ForbiddenDeliveryError,
    RateLimitedError,
    TransientDeliveryError,
)
from bot.messages import messages
from bot.models import Alert, Destination

log = logging.getLogger(__name__)

PLATFORM = "slack"
#: chat.postMessage allows about one message a second per channel (short bursts tolerated);
#: chat.update is Tier 3 (50+/min). One paced stream of 1 send/s for all channels stays inside
#: both; a fan-out beyond that is what Retry-After is for.
LIMITS = SinkLimits(batch_size=B.MAX_STORIES, sends_per_second=1.0, key_length=32, can_edit=True, threads=True)

#: `account_inactive`/`token_revoked`: the app was uninstalled (the bot removed). Not here:
#: `invalid_auth`/`not_authed` — a mistyped token must never end anybody's subscriptions.
GONE = frozenset({"channel_not_found", "is_archived", "account_inactive", "token_revoked", "team_access_not_granted"})
FORBIDDEN = {
    "not_in_channel": ("the bot is not a member of the channel (invite it: /invite @civic-alerts)",),
    "restricted_action": ("posting in this channel (a workspace setting restricts it)",),
    "restricted_action_read_only_channel": ("posting in this read-only channel",),
    "restricted_action_thread_only_channel": ("posting new messages in this thread-only channel",),
    "missing_scope": ("an OAuth scope (chat:write, channels:history or groups:history)",),
    "ekm_access_denied": ("access to the channel (Enterprise Key Management)",),
    "access_denied": ("access to the channel",),
    "cannot_reply_to_message": ("replying in threads",),
}
FORBIDDEN_LOOKUP = ("not_in_channel", "missing_scope", "access_denied")


def destination(team_id: str, channel_id: str, name: str | None = None) -> Destination:
    return Destination(platform=PLATFORM, address=channel_id, group=team_id, name=name)


def translate(exc: BaseException, what: str) -> DeliveryError:
    """slack_sdk / aiohttp outcome → the project's delivery exception (one clean line)."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = int(getattr(response, "status_code", 200) or 200)
        error = str(response.get("error") or "") if hasattr(response, "get") else ""
        if status == 429 or error == "ratelimited":
            headers = getattr(response, "headers", None) or {}
            raw = headers.get("Retry-After") or headers.get("retry-after") or "1"
            try:
                wait = max(0.0, float(raw))
            except (TypeError, ValueError):
                wait = 1.0
            return RateLimitedError(wait)
        if error in GONE:
            return ChannelGoneError(f"{what}: Slack says {error}")
        if error in FORBIDDEN:
            return ForbiddenDeliveryError(f"{what}: Slack says {error}", FORBIDDEN[error])
        if status >= 500:
            return TransientDeliveryError(f"{what}: HTTP {status}")
        return TransientDeliveryError(f"{what}: Slack says {error or f'HTTP {status}'}")
    if isinstance(exc, (SlackClientError, aiohttp.ClientError, TimeoutError, OSError)):
        return TransientDeliveryError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")
    return TransientDeliveryError(f"{what}: unexpected {type(exc).__name__}: {str(exc)[:200]}")


class SlackSink:
    """AlertSink over one workspace's bot token (the `AsyncWebClient` of the running app)."""

    platform = PLATFORM
    limits = LIMITS

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        bot_user_id: str = "",
        label: Callable[[str], str] = lambda c: c,
        topic_label: Callable[[str], str] = render.plain_topic,
    ) -> None:
        self.client = client
        self.bot_user_id = bot_user_id
        self.label = label
        self.topic_label = topic_label

    def batch_size(self, alerts: Sequence[Alert]) -> int:
        return max(1, min(len(alerts), B.MAX_STORIES))

    def _message(self, alerts: Sequence[Alert]) -> dict[str, Any]:
        return {
            "text": B.fallback_text(alerts),
            "blocks": B.alert_blocks(alerts, self.label, self.topic_label),
        }

    async def send(self, destination: Destination, alerts: Sequence[Alert], key: str) -> str:
        channel = destination.address
        try:
            response = await self.client.chat_postMessage(
                channel=channel,
                unfurl_links=False,
                unfurl_media=False,
                metadata=B.metadata(alerts, key),
                **self._message(alerts),
            )
        except Exception as exc:
            raise translate(exc, f"post to {channel}") from None
        return str(response.get("ts") or "")

    async def edit(self, destination: Destination, message_ref: str, alerts: Sequence[Alert]) -> None:
        channel = destination.address
        if alerts and alerts[0].digest:
            alerts = sorted(alerts, key=lambda a: (-a.story.corroboration, -a.story.published.timestamp(), a.delivery_id))
        else:
            alerts = sorted(alerts, key=lambda a: (a.story.published, a.delivery_id))
        try:
            await self.client.chat_update(channel=channel, ts=message_ref, **self._message(alerts))
        except SlackApiError as exc:
            if str(exc.response.get("error") or "") in {"message_not_found", "cant_update_message", "edit_window_closed"}:
                log.info("alert %s in %s can no longer be edited; update skipped", message_ref, channel)
                return
            raise translate(exc, f"update {message_ref} in {channel}") from None
        except Exception as exc:
            raise translate(exc, f"update {message_ref} in {channel}") from None
        if alerts and alerts[0].thread and not alerts[0].digest:
            lines = [render.also_reported(a.story, msgs=messages(a.lang)) for a in alerts]
            text = "\n".join(B.escape(line) for line in lines if line)
            if text:
                try:
                    await self.client.chat_postMessage(
                        channel=channel, thread_ts=message_ref, text=text[:B.FALLBACK_MAX],
                        unfurl_links=False, unfurl_media=False,
                    )
                except Exception as exc:
                    raise translate(exc, f"thread reply to {message_ref} in {channel}") from None

    async def find_sent(
        self, destination: Destination, story_ids: Sequence[int], *, limit: int = 100
    ) -> dict[int, str]:
        """Which of these stories already stand in the channel (a crash between Slack's answer
        and the outbox's record): the bot's recent messages and their `civic_alert` metadata."""
        wanted = set(story_ids)
        found: dict[int, str] = {}
        if not wanted:
            return found
        channel = destination.address
        try:
            response = await self.client.conversations_history(
                channel=channel, limit=max(1, min(limit, 200)), include_all_metadata=True
            )
        except Exception as exc:
            raise translate(exc, f"history of {channel}") from None
        for message in response.get("messages") or []:
            if self.bot_user_id and message.get("user") not in (None, self.bot_user_id):
                continue
            for story_id in B.story_ids_of(message):
                if story_id in wanted and story_id not in found:
                    found[story_id] = str(message.get("ts") or "")
        return found

    async def notify_problem(self, destination: Destination, problem: DeliveryProblem) -> None:
        """Slack gives a bot no place to speak in a channel it cannot post in: the pause shows
        in `/civic status` and in this one log line; `/civic subscribe` there resumes it."""
        missing = ", ".join(problem.missing) or "access to the channel"
        log.warning("slack channel %s paused: missing %s", destination.address, missing)
