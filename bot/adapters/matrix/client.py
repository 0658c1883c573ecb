"""A thin Matrix client-server API client on mautrix's HTTP layer.

Why mautrix (and not matrix-nio): its ClientAPI is a plain asyncio/aiohttp wrapper of the
client-server API with `send_message_event(..., txn_id=...)`, so the transaction id — the key
that makes a resend after a crash the same event — is ours to choose; it needs only aiohttp
(already a dependency) and has no end-to-end-encryption stack or sync state machine we would
have to work around. Why a subclass of its HTTPAPI: mautrix turns an error response into an
exception *without* its body, and M_LIMIT_EXCEEDED's `retry_after_ms` lives in that body; the
subclass keeps it (and the Retry-After header) on the exception.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientError, ClientResponse, ClientSession, ClientTimeout
from mautrix.api import HTTPAPI, Method, Path
from mautrix.errors import MatrixConnectionError
from yarl import URL

from bot.errors import ConfigError

SYNC_TIMEOUT_MS = 30_000


class MatrixHTTPError(Exception):
    """An error answer of the homeserver, with what the delivery worker needs to classify it."""

    def __init__(self, status: int, errcode: str, message: str, retry_after: float | None) -> None:
        super().__init__(f"HTTP {status} {errcode}: {message[:200]}")
        self.status = status
        self.errcode = errcode
        self.message = message
        self.retry_after = retry_after


class _KeepBodyHTTPAPI(HTTPAPI):
    """mautrix's HTTPAPI whose error exceptions keep errcode, message and retry_after_ms."""

    async def _send(
        self,
        method: Method,
        url: URL,
        content: Any,
        query_params: dict[str, str],
        headers: dict[str, str],
    ) -> tuple[Any, ClientResponse]:
        request = self.session.request(str(method), url, data=content, params=query_params, headers=headers)
        async with request as response:
            if 200 <= response.status < 300:
                return await response.json(), response
            text = await response.text()
            try:
                data = json.loads(text)
            except ValueError:
                data = {}
            if not isinstance(data, dict):
                data = {}
            retry: float | None = None
            if isinstance(data.get("retry_after_ms"), (int, float)):
                retry = max(0.0, float(data["retry_after_ms"]) / 1000.0)
            elif response.headers.get("Retry-After"):
                try:
                    retry = max(0.0, float(response.headers["Retry-After"]))
                except ValueError:
                    retry = None
            raise MatrixHTTPError(
                response.status, str(data.get("errcode") or ""), str(data.get("error") or text[:200]), retry
            )


class MatrixClient:
    """The calls the adapter makes, each one request (no retries: the delivery worker retries)."""

    def __init__(self, homeserver: str, user_id: str, token: str | None = None) -> None:
        self.homeserver = homeserver.rstrip("/")
        self.user_id = user_id
        self.token = token or ""
        self._session: ClientSession | None = None
        self._http: _KeepBodyHTTPAPI | None = None

    async def open(self) -> None:
        self._session = ClientSession(timeout=ClientTimeout(total=SYNC_TIMEOUT_MS / 1000 + 30))
        self._http = _KeepBodyHTTPAPI(URL(self.homeserver), self.token, client_session=self._session)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def api(self) -> HTTPAPI:
        assert self._http is not None, "open() first"
        return self._http

    async def request(
        self, method: Method, path: Any, content: Any = None, query: dict[str, Any] | None = None,
        *, sensitive: bool = False,
    ) -> Any:
        """One call; network trouble becomes MatrixConnectionError, answers MatrixHTTPError."""
        try:
            return await self.api.request(
                method, path, content=content, query_params=query or {}, retry_count=0, sensitive=sensitive
            )
        except (ClientError, TimeoutError, OSError) as exc:
            raise MatrixConnectionError(f"{type(exc).__name__}: {exc}") from None

    async def login(self, password: str) -> None:
        """MATRIX_PASSWORD → an access token for this run (refused → ConfigError)."""
        try:
            answer = await self.request(
                Method.POST,
                Path.v3.login,
                {
                    "type": "m.login.password",
                    "identifier": {"type": "m.id.user", "user": self.user_id},
                    "password": password,
                    "initial_device_display_name": "civic-alert-bot",
                },
                sensitive=True,
            )
        except MatrixHTTPError as exc:
            if exc.status in (401, 403):
                raise ConfigError("the Matrix homeserver refused MATRIX_USER_ID/MATRIX_PASSWORD") from None
            raise
        self.token = str(answer["access_token"])
        self.api.token = self.token

    async def whoami(self) -> str:
        try:
            answer = await self.request(Method.GET, Path.v3.account.whoami)
        except MatrixHTTPError as exc:
            if exc.status in (401, 403):
                raise ConfigError("the Matrix homeserver refused MATRIX_ACCESS_TOKEN") from None
            raise
        return str(answer.get("user_id") or "")

    async def sync(self, since: str | None, timeout_ms: int, filter_json: str) -> dict[str, Any]:
        query: dict[str, Any] = {"timeout": str(timeout_ms), "filter": filter_json}
        if since:
            query["since"] = since
        result: dict[str, Any] = await self.request(Method.GET, Path.v3.sync, query=query)
        return result

    async def join(self, room_id: str) -> None:
        await self.request(Method.POST, Path.v3.rooms[room_id].join, {})

    async def send(self, room_id: str, content: dict[str, Any], txn_id: str, event_type: str = "m.room.message") -> str:
        answer = await self.request(Method.PUT, Path.v3.rooms[room_id].send[event_type][txn_id], content)
        return str(answer["event_id"])

    async def state(self, room_id: str, event_type: str, state_key: str = "") -> dict[str, Any]:
        path = Path.v3.rooms[room_id].state[event_type]
        if state_key:
            path = path[state_key]
        result: dict[str, Any] = await self.request(Method.GET, path)
        return result

    async def create_event(self, room_id: str) -> dict[str, Any]:
        """The room's m.room.create event (with its sender: v12 creators hold power by it)."""
        result: dict[str, Any] = await self.request(
            Method.GET, Path.v3.rooms[room_id].state["m.room.create"][""], query={"format": "event"}
        )
        return result

    async def joined_rooms(self) -> list[str]:
        answer = await self.request(Method.GET, Path.v3.joined_rooms)
        return [str(r) for r in answer.get("joined_rooms", [])]

    async def messages(self, room_id: str, limit: int) -> list[dict[str, Any]]:
        """The room's latest events, newest first."""
        answer = await self.request(
            Method.GET, Path.v3.rooms[room_id].messages, query={"dir": "b", "limit": str(limit)}
        )
        return list(answer.get("chunk", []))


PRE_V12_ROOMS = frozenset(str(v) for v in range(1, 12))
CREATOR_POWER = 1_000_000  # room v12+: creators outrank every power level


def is_creator(create: dict[str, Any], user_id: str) -> bool:
    """Room versions 12 and later give the creators (the m.room.create sender and its
    additional_creators) unlimited power, outside the power-levels event."""
    content = create.get("content") or create
    if str(content.get("room_version") or "1") in PRE_V12_ROOMS:
        return False
    creators = {create.get("sender"), *(content.get("additional_creators") or [])}
    return user_id in creators


def power_of(levels: dict[str, Any], user_id: str) -> int:
    """A member's power level in a room (users_default when not listed)."""
    users = levels.get("users") or {}
    try:
        return int(users.get(user_id, levels.get("users_default", 0)))
    except (TypeError, ValueError):
        return 0


def needed_for(levels: dict[str, Any], event_type: str) -> int:
    """The power level a member needs to send `event_type` (a message event)."""
    events = levels.get("events") or {}
    try:
        return int(events.get(event_type, levels.get("events_default", 0)))
    except (TypeError, ValueError):
        return 0


__all__ = ["MatrixClient", "MatrixConnectionError", "MatrixHTTPError", "needed_for", "power_of"]
