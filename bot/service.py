"""`civic-alerts run`: one process, one App, every chat adapter whose credentials are set.

Why one host instead of each adapter running the show: the Discord client used to open the App
itself, which left no place for a second platform. Here the App (store, poller, scheduler,
delivery workers) is opened once; each configured adapter connects, registers its commands and
adds its sink; push destinations and the console are delivered beside them. With no chat
credentials at all, the same pipeline prints alerts to the console.

An adapter is loaded by module name only when its credentials are set, so a Slack-only
operator never imports discord.py's voice stack and a missing optional client library cannot
break the other platforms.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.errors import CivicAlertError, ConfigError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

RESTART_DELAYS = (5.0, 15.0, 60.0, 300.0)  # an adapter that failed is restarted after these waits
CLOSE_TIMEOUT = 30.0  # an adapter gets this long to disconnect after the stop


class ChatAdapter(Protocol):
    """One chat platform inside the service.

    `run` connects, registers the platform's commands, adds the platform's sink with
    `app.add_sink(...)` (once; a restarted run must not add a second), and serves until `stop`
    is set; then it disconnects and returns. Refused credentials raise ConfigError (the
    operator must act: the service stops with that one line). Any other exception is logged
    and the adapter is run again after a back-off; the other platforms keep running.
    """

    platform: str

    async def run(self, app: App, stop: asyncio.Event) -> None: ...


@dataclass(frozen=True, slots=True)
class AdapterEntry:
    platform: str
    module: str  # exposes make_adapter(settings) -> ChatAdapter
    configured: Callable[[Settings], bool]
    needs: str  # the settings that turn it on, for messages


ADAPTERS: tuple[AdapterEntry, ...] = (
    AdapterEntry(
        "discord", "bot.adapters.discordbot.service", lambda s: bool(s.discord_token), "DISCORD_TOKEN"
    ),
    AdapterEntry(
        "slack",
        "bot.adapters.slack.service",
        lambda s: bool(s.slack_bot_token and s.slack_app_token),
        "SLACK_BOT_TOKEN and SLACK_APP_TOKEN",
    ),
    AdapterEntry(
        "telegram", "bot.adapters.telegram.service", lambda s: bool(s.telegram_bot_token), "TELEGRAM_BOT_TOKEN"
    ),
    AdapterEntry(
        "matrix",
        "bot.adapters.matrix.service",
        lambda s: bool(s.matrix_homeserver and s.matrix_user_id and (s.matrix_access_token or s.matrix_password)),
        "MATRIX_HOMESERVER, MATRIX_USER_ID and MATRIX_ACCESS_TOKEN (or MATRIX_PASSWORD)",
    ),
)


def configured_adapters(settings: Settings) -> list[AdapterEntry]:
    return [entry for entry in ADAPTERS if entry.configured(settings)]


def half_configured(settings: Settings) -> list[str]:
    """Platforms with some but not all of their settings: almost certainly a typo in .env."""
    partial = {
        "slack": settings.slack_bot_token or settings.slack_app_token,
        "matrix": settings.matrix_homeserver or settings.matrix_user_id or settings.matrix_access_token
        or settings.matrix_password,
    }
    wanted = {entry.platform for entry in configured_adapters(settings)}
    return [
        f"{entry.platform} needs {entry.needs}"
        for entry in ADAPTERS
        if partial.get(entry.platform) and entry.platform not in wanted
    ]


def load_adapter(entry: AdapterEntry, settings: Settings) -> ChatAdapter:
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        raise ConfigError(
            f"{entry.needs} is set but the {entry.platform} adapter cannot load ({exc.name or exc})"
        ) from None
    adapter: ChatAdapter = module.make_adapter(settings)
    return adapter


async def supervise(adapter: ChatAdapter, app: App, stop: asyncio.Event) -> None:
    """Run one adapter until `stop`; restart it after a back-off when it fails for a reason
    that is not the operator's (a dropped connection, the platform down)."""
    failures = 0
    while not stop.is_set():
        try:
            await adapter.run(app, stop)
            failures = 0
            if stop.is_set():
                return
            log.warning("%s adapter returned before the stop; starting it again", adapter.platform)
        except (ConfigError, asyncio.CancelledError):
            raise
        except Exception as exc:  # one platform's failure must not take the others down
            detail = exc.user_message if isinstance(exc, CivicAlertError) else f"{type(exc).__name__}: {exc}"
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            log.error(
                "%s adapter failed (%s); retrying in %.0f s", adapter.platform, str(detail)[:200], delay
            )
            failures += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)])


async def run_service(
    settings: Settings, *, on_started: Callable[[App, list[str], tuple[int, int]], None] | None = None
) -> None:
    """Open the App, start every configured adapter (the console when none), serve until
    SIGINT/SIGTERM, then stop delivery before the connections close and close in reverse."""
    from bot.app import open_app

    for problem in half_configured(settings):
        raise ConfigError(problem)
    adapters = [load_adapter(entry, settings) for entry in configured_adapters(settings)]
    async with open_app(settings) as app:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, app.stop.set)
        if not adapters:
            from bot.adapters.console import CONSOLE
            from bot.relevance import ALL_TOPICS

            await app.store.subscribe(CONSOLE, "*", [ALL_TOPICS])
        synced = await app.sync_destinations()
        await app.add_push_sinks(console=True if not adapters else None)
        app.start()
        if on_started is not None:
            on_started(app, [a.platform for a in adapters], synced)
        tasks: list[asyncio.Task[object]] = [
            asyncio.create_task(supervise(adapter, app, app.stop), name=f"adapter-{adapter.platform}")
            for adapter in adapters
        ]
        waiter: asyncio.Task[object] = asyncio.create_task(app.stop.wait(), name="stop")
        try:
            pending: set[asyncio.Task[object]] = {*tasks, waiter}
            while not app.stop.is_set():
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task is not waiter and not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]  # a ConfigError: the operator must act
                if not pending - {waiter}:
                    break
        finally:
            app.stop_jobs()  # no sends on a closing connection
            if tasks:
                _done, hung = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
                for task in hung:
                    log.warning("%s did not close within %.0f s; cancelled", task.get_name(), CLOSE_TIMEOUT)
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            waiter.cancel()
