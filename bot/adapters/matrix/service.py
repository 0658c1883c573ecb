"""The Matrix adapter as one platform of the service (bot/service.py).

One long-poll /sync loop: invites are accepted (the bot joins rooms it is invited to);
`!alerts` messages in joined rooms are answered; the bot leaving a room (kicked, banned, the
room shut down) ends the room's subscriptions; a power-levels change that lets the bot post
again resumes a paused room at once. The first sync only catches up on invites and rooms, so
commands typed while the bot was down are not replayed hours later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from mautrix.errors import MatrixConnectionError

from bot import actions
from bot.adapters.matrix import PLATFORM
from bot.adapters.matrix import format as fmt
from bot.adapters.matrix.client import (
    CREATOR_POWER,
    MatrixClient,
    MatrixHTTPError,
    is_creator,
    needed_for,
    power_of,
)
from bot.adapters.matrix.commands import Commands, parse
from bot.adapters.matrix.sink import MatrixSink
from bot.errors import ConfigError
from bot.logs import register_secrets
from bot.models import Destination
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SYNC_FILTER = json.dumps(
    {
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "ephemeral": {"types": []},
            "timeline": {"types": ["m.room.message", "m.room.power_levels", "m.room.member"], "limit": 50},
            "state": {"types": ["m.room.power_levels"], "lazy_load_members": True},
        },
    }
)
POLL_MS = 10_000
REPLY_TRIES = 4  # a command's answer is retried this often when the homeserver rate-limits it
REPLY_WAIT_MAX = 30.0


class MatrixAdapter:
    platform = PLATFORM

    def __init__(self, settings: Settings, *, poll_ms: int = POLL_MS) -> None:
        self.settings = settings
        self.poll_ms = poll_ms
        register_secrets([settings.matrix_access_token or "", settings.matrix_password or ""])

    async def run(self, app: App, stop: asyncio.Event) -> None:
        s = self.settings
        assert s.matrix_homeserver and s.matrix_user_id
        client = MatrixClient(s.matrix_homeserver, s.matrix_user_id, s.matrix_access_token)
        await client.open()
        try:
            if not s.matrix_access_token and s.matrix_password:
                await client.login(s.matrix_password)
                register_secrets([client.token])
            me = await client.whoami()
            if me and me != client.user_id:
                raise ConfigError(f"MATRIX_ACCESS_TOKEN belongs to {me}, not MATRIX_USER_ID {client.user_id}")
            app.add_sink(MatrixSink(client, label=app.city_label, topic_label=app.classifier.topics.label))
            room = _Rooms(app, client)
            await room.serve(stop, self.poll_ms)
        finally:
            await client.close()


class _Rooms:
    """The sync loop and what it does with each room's events."""

    def __init__(self, app: App, client: MatrixClient) -> None:
        self.app = app
        self.client = client
        self.commands = Commands(app, self.power)
        self.started_ms = int(time.time() * 1000)
        self.levels: dict[str, dict[str, Any]] = {}
        self.creates: dict[str, dict[str, Any]] = {}  # never changes: read once per room

    async def power(self, room_id: str, user_id: str) -> int:
        """Read fresh: a demoted moderator must lose the right at once."""
        create = self.creates.get(room_id)
        if create is None:
            create = self.creates[room_id] = await self.client.create_event(room_id)
        if is_creator(create, user_id):
            return CREATOR_POWER
        levels = await self.client.state(room_id, "m.room.power_levels")
        self.levels[room_id] = levels
        return power_of(levels, user_id)

    async def serve(self, stop: asyncio.Event, poll_ms: int) -> None:
        since: str | None = None
        while not stop.is_set():
            sync = asyncio.ensure_future(self.client.sync(since, 0 if since is None else poll_ms, SYNC_FILTER))
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({sync, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if sync not in done:
                sync.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sync
                return
            stopper.cancel()
            try:
                answer = sync.result()
            except MatrixHTTPError as exc:
                if exc.status == 401:
                    raise ConfigError("the Matrix homeserver no longer accepts the bot's access token") from None
                if exc.errcode == "M_LIMIT_EXCEEDED":  # wait as told, then sync on from the same point
                    log.info("matrix sync rate-limited; waiting %.1f s", exc.retry_after or 1.0)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), min(REPLY_WAIT_MAX, exc.retry_after or 1.0))
                    continue
                raise
            await self.handle(answer, first=since is None)
            since = str(answer.get("next_batch") or since or "")

    async def handle(self, answer: dict[str, Any], *, first: bool) -> None:
        rooms = answer.get("rooms") or {}
        for room_id in (rooms.get("invite") or {}):
            try:
                await self.client.join(room_id)
                log.info("joined matrix room %s (invited)", room_id)
            except (MatrixHTTPError, MatrixConnectionError) as exc:
                log.warning("could not join matrix room %s: %s", room_id, exc)
        for room_id in (rooms.get("leave") or {}):
            removed = await actions.destination_gone(self.app.store, Destination(PLATFORM, room_id, room_id))
            if removed:
                log.info("left matrix room %s: %d subscriptions removed", room_id, removed)
        for room_id, data in (rooms.get("join") or {}).items():
            events = list(((data.get("state") or {}).get("events")) or [])
            events += list(((data.get("timeline") or {}).get("events")) or [])
            for event in events:
                try:
                    await self.event(room_id, event, first=first)
                except (MatrixHTTPError, MatrixConnectionError) as exc:
                    log.warning("matrix room %s: event not handled: %s", room_id, exc)

    async def event(self, room_id: str, event: dict[str, Any], *, first: bool) -> None:
        kind = event.get("type")
        if kind == "m.room.power_levels":
            await self.levels_changed(room_id, event.get("content") or {})
            return
        if kind != "m.room.message" or event.get("sender") == self.client.user_id:
            return
        if first and int(event.get("origin_server_ts") or 0) < self.started_ms:
            return  # typed before this start: not replayed
        content = event.get("content") or {}
        if content.get("msgtype") != "m.text" or ("m.relates_to" in content and (
            content["m.relates_to"] or {}
        ).get("rel_type") == "m.replace"):
            return
        parsed = parse(str(content.get("body") or ""))
        if parsed is None:
            return
        sender = str(event.get("sender") or "")
        reply = await self.commands.run(room_id, sender, parsed)
        answer = fmt.reply_content(reply)
        answer["m.relates_to"] = {"m.in_reply_to": {"event_id": event.get("event_id")}}
        txn = f"careply{event.get('event_id')}"  # the same reply twice is one event
        for attempt in range(REPLY_TRIES):
            try:
                await self.client.send(room_id, answer, txn_id=txn)
                return
            except MatrixHTTPError as exc:  # a rate limit: wait as told, then the same txn again
                if exc.errcode != "M_LIMIT_EXCEEDED" or attempt == REPLY_TRIES - 1:
                    raise
                await asyncio.sleep(min(REPLY_WAIT_MAX, exc.retry_after or 1.0))

    async def levels_changed(self, room_id: str, levels: dict[str, Any]) -> None:
        """The bot may post again → the room's held alerts go out now."""
        self.levels[room_id] = levels
        if power_of(levels, self.client.user_id) < needed_for(levels, "m.room.message"):
            return
        held = await actions.paused_destinations(self.app.store, platform=PLATFORM, group=room_id)
        if not held:
            return
        count = await actions.resume_destination(self.app.store, Destination(PLATFORM, room_id, room_id))
        self.app.wake_delivery()
        log.info("matrix room %s: the bot may post again; resumed %s", room_id, count)


def make_adapter(settings: Settings) -> MatrixAdapter:
    return MatrixAdapter(settings)
