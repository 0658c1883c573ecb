"""The Slack adapter as one platform of the service (bot/service.py).

Socket Mode (slack_bolt async): the app opens a websocket to Slack with the app-level token
(`apps.connections.open`), so no public URL is needed. The bot token does everything else.
`SLACK_API_BASE` points the Web API client (and so the Socket Mode URL lookup) elsewhere —
how the tests talk to tests/slack_standin without patching any library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import actions
from bot.adapters.slack.commands import Commands, Invocation
from bot.adapters.slack.sink import PLATFORM, SlackSink, destination
from bot.errors import ConfigError, TransientDeliveryError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

ACK_BUDGET = 2.5  # Slack wants a slash command acknowledged within 3 s
REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "not_allowed_token_type"})


class _TokenSkipped(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN (read from the environment) is unused once `authorize`
    is given; that is this adapter's design, not something the operator must fix."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("As you gave `client`") or "SLACK_BOT_TOKEN env variable) will be ignored" in message)


def api_base(value: str) -> str:
    return value if value.endswith("/") else value + "/"


class SlackAdapter:
    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def _whoami(self, client: AsyncWebClient) -> dict[str, Any]:
        try:
            auth = await client.auth_test()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in REFUSED:
                raise ConfigError(f"Slack refused the bot token (SLACK_BOT_TOKEN): {error}") from None
            raise TransientDeliveryError(f"Slack auth.test failed: {error or exc.response.status_code}") from None
        return dict(auth.data) if isinstance(auth.data, dict) else {}

    async def run(self, app: App, stop: asyncio.Event) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
        from slack_bolt.app.async_app import AsyncApp

        client = AsyncWebClient(token=self.settings.slack_bot_token, base_url=api_base(self.settings.slack_api_base))
        from slack_bolt.authorization import AuthorizeResult

        auth = await self._whoami(client)
        bot_user_id, team_id = str(auth.get("user_id") or ""), str(auth.get("team_id") or "")
        token = self.settings.slack_bot_token or ""

        async def authorize(**_kw: Any) -> AuthorizeResult:
            """The one workspace this token belongs to, from our own auth.test at start (Bolt's
            default asks auth.test again per process through a client that adds `team_id`)."""
            return AuthorizeResult(
                enterprise_id=auth.get("enterprise_id"), team_id=team_id, bot_user_id=bot_user_id,
                bot_id=auth.get("bot_id"), bot_token=token,
            )

        bolt_log = logging.getLogger("slack_bolt")
        if not any(isinstance(f, _TokenSkipped) for f in bolt_log.filters):
            bolt_log.addFilter(_TokenSkipped())
        bolt = AsyncApp(client=AsyncWebClient(base_url=client.base_url), authorize=authorize, logger=bolt_log)
        commands = Commands(app, client)
        self._register(bolt, app, commands, bot_user_id)
        app.add_sink(
            SlackSink(client, bot_user_id=bot_user_id, label=app.city_label, topic_label=app.classifier.topics.label)
        )
        handler = AsyncSocketModeHandler(bolt, self.settings.slack_app_token, web_client=client)
        try:
            await handler.connect_async()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in REFUSED:
                raise ConfigError(f"Slack refused the app token (SLACK_APP_TOKEN): {error}") from None
            raise TransientDeliveryError(f"Slack Socket Mode connect failed: {error}") from None
        log.info("slack connected (team %s)", team_id)
        try:
            await stop.wait()
        finally:
            with contextlib.suppress(Exception):
                await handler.close_async()

    def _register(self, bolt: Any, app: App, commands: Commands, bot_user_id: str) -> None:
        @bolt.command("/civic")
        async def on_civic(ack: Any, command: dict[str, Any], respond: Any) -> None:
            inv = Invocation(
                team_id=str(command.get("team_id") or ""), channel_id=str(command.get("channel_id") or ""),
                user_id=str(command.get("user_id") or ""), channel_name=command.get("channel_name"),
            )
            work = asyncio.ensure_future(commands.handle(inv, str(command.get("text") or "")))
            done, _ = await asyncio.wait({work}, timeout=ACK_BUDGET)
            if done:
                reply = work.result()
                await ack(text=reply.text, response_type="in_channel" if reply.in_channel else "ephemeral")
                return
            await ack(text="Working on it…", response_type="ephemeral")
            reply = await work
            await respond(text=reply.text, response_type="in_channel" if reply.in_channel else "ephemeral")

        @bolt.event("member_joined_channel")
        async def on_joined(event: dict[str, Any], body: dict[str, Any]) -> None:
            """Invited back: a channel paused for `not_in_channel` resumes by itself."""
            if event.get("user") != bot_user_id:
                return
            team = str(event.get("team") or body.get("team_id") or "")
            resumed = await actions.resume_destination(app.store, destination(team, str(event.get("channel") or "")))
            if resumed:
                log.info("slack channel %s resumed (%d alerts due)", event.get("channel"), resumed)
                app.wake_delivery()

        @bolt.event("member_left_channel")
        async def on_left(event: dict[str, Any]) -> None:
            return None  # delivery finds out (not_in_channel → paused), with the reason

        async def gone(event: dict[str, Any], body: dict[str, Any]) -> None:
            channel = event.get("channel")
            channel_id = str(channel.get("id") if isinstance(channel, dict) else channel or "")
            removed = await actions.destination_gone(app.store, destination(str(body.get("team_id") or ""), channel_id))
            if removed:
                log.info("slack channel %s gone; %d subscriptions ended", channel_id, removed)

        bolt.event("channel_deleted")(gone)
        bolt.event("group_deleted")(gone)

        async def removed(body: dict[str, Any]) -> None:
            team = str(body.get("team_id") or "")
            ended = await actions.group_removed(app.store, PLATFORM, team)
            log.info("slack app removed from team %s; %d subscriptions ended", team, ended)

        bolt.event("app_uninstalled")(removed)
        bolt.event("tokens_revoked")(removed)


def make_adapter(settings: Settings) -> SlackAdapter:
    return SlackAdapter(settings)
