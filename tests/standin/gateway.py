"""The stand-in's gateway: HELLO, IDENTIFY → READY + GUILD_CREATE, heartbeats, RESUME, op 7/9.

https://discord.com/developers/docs/events/gateway — transport compression ``zlib-stream`` is one
zlib context per connection, every payload flushed with Z_SYNC_FLUSH (ends in 00 00 ff ff);
``zstd-stream`` is served when the ``zstandard`` module is importable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import DiscordStandIn

log = logging.getLogger("standin.gateway")

# opcodes
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE, RESUME, RECONNECT = 0, 1, 2, 3, 4, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11

# intents
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

MAX_REPLAY = 5000
MAX_GUILDS_PER_SHARD = 2500
IDENTIFY_WINDOW = 5.0  # seconds: max_concurrency IDENTIFYs per window, one per rate_limit_key  # Discord closes with 4011 "Sharding required" above this


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild's events go to (https://discord.com/developers/docs/events/gateway#sharding)."""
    return (guild_id >> 22) % shard_count


def event_guild_id(event: str, data: Any) -> int | None:
    """The guild a dispatch belongs to (None: not guild-scoped, e.g. a DM): GUILD_CREATE/UPDATE/
    DELETE carry it as `id`, every other guild event as `guild_id`."""
    if not isinstance(data, dict):
        return None
    raw = data.get("id") if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE") else data.get("guild_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
SEND_LIMIT = (120, 60.0)  # gateway commands a client may send per connection per 60 s (else 4008)


class _Compressor:
    def compress(self, data: bytes) -> bytes:  # pragma: no cover - interface
        raise NotImplementedError


class _ZlibStream(_Compressor):
    def __init__(self) -> None:
        self._obj = zlib.compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(zlib.Z_SYNC_FLUSH)


class _ZstdStream(_Compressor):
    def __init__(self) -> None:
        import zstandard  # type: ignore[import-not-found]

        self._zstd = zstandard
        self._obj = zstandard.ZstdCompressor().compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(self._zstd.COMPRESSOBJ_FLUSH_BLOCK)


def zstd_available() -> bool:
    try:
        import zstandard  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class GatewaySession:
    session_id: str
    token: str
    intents: int
    identify: dict[str, Any]
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # sent dispatches, for RESUME replay
    conn: Connection | None = None
    invalidated: bool = False
    resumes: int = 0
    shard: tuple[int, int] = (0, 1)  # IDENTIFY's [shard_id, num_shards]; unsharded = [0, 1]

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session receives the guild's events; DMs go to shard 0 only."""
        if guild_id is None:
            return self.shard[0] == 0
        return shard_of(guild_id, self.shard[1]) == self.shard[0]

    @property
    def connected(self) -> bool:
        return self.conn is not None and not self.conn.closed


class Connection:
    """One websocket; frames are queued and written in order by a writer task."""

    def __init__(self, hub: DiscordStandIn, ws: web.WebSocketResponse, compress: str | None, path: str) -> None:
        self.hub = hub
        self.ws = ws
        self.path = path
        self.compress = compress
        self._compressor: _Compressor | None = None
        if compress == "zlib-stream":
            self._compressor = _ZlibStream()
        elif compress == "zstd-stream":
            self._compressor = _ZstdStream()
        self.queue: asyncio.Queue[dict[str, Any] | tuple[str, int]] = asyncio.Queue()
        self.session: GatewaySession | None = None
        self.closed = False
        self.heartbeats = 0
        self.sent_at: list[float] = []  # monotonic times of frames the client sent (rate limit)
        self.writer = asyncio.create_task(self._write_loop())

    def send(self, frame: dict[str, Any]) -> None:
        if not self.closed:
            self.queue.put_nowait(frame)

    def close_later(self, code: int) -> None:
        """Close after every queued frame went out (keeps op 7/9 ordered before the close)."""
        if not self.closed:
            self.queue.put_nowait(("close", code))

    async def _write_loop(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, tuple):
                    await self.abort(item[1])
                    return
                data = json.dumps(item, separators=(",", ":")).encode()
                if self._compressor is not None:
                    await self.ws.send_bytes(self._compressor.compress(data))
                else:
                    await self.ws.send_str(data.decode())
                self.hub.gateway_frames_sent += 1
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass

    async def abort(self, code: int = 4000) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=b"stand-in closed the connection")


class Gateway:
    """Sessions and websocket handling; owned by :class:`DiscordStandIn`."""

    def __init__(self, hub: DiscordStandIn) -> None:
        self.hub = hub
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[Connection] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.ready_count = 0
        self.close_codes: list[int] = []  # codes the stand-in closed with
        self.ack_heartbeats = True
        self.send_limit = SEND_LIMIT
        # IDENTIFY concurrency (hub.identify_max_concurrency set): rate_limit_key → last
        # IDENTIFY accepted (monotonic), and the IDENTIFYs refused with op 9 for coming too soon
        self._last_identify: dict[int, float] = {}
        self.identify_refusals: list[dict[str, Any]] = []
        # (event, guild id or None, session's [shard_id, num_shards]) of every dispatch sent
        self.routed: list[tuple[str, int | None, tuple[int, int]]] = []

    # ---- dispatch ----------------------------------------------------------------------------

    def live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if not s.invalidated]

    def dispatch(self, event: str, data: dict[str, Any], *, intent: int | None = None) -> int:
        """Send a DISPATCH to every live session that owns its guild (buffered for RESUME while
        disconnected). Like Discord, a guild's events go only to the session of its shard, and
        events of no guild (DMs) to shard 0; unsharded sessions ([0, 1]) get everything."""
        n = 0
        guild_id = event_guild_id(event, data)
        for session in self.live_sessions():
            if intent is not None and not session.intents & intent:
                continue
            if not session.owns(guild_id):
                continue
            self._dispatch_to(session, event, data)
            n += 1
        return n

    def _dispatch_to(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        self.routed.append((event, event_guild_id(event, data), session.shard))
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        if len(session.events) > MAX_REPLAY:
            del session.events[: len(session.events) - MAX_REPLAY]
        if session.conn is not None:
            session.conn.send(frame)

    # ---- faults ------------------------------------------------------------------------------

    async def drop_all(self, code: int = 4000) -> int:
        conns = [c for c in self.connections if not c.closed]
        for c in conns:
            self.close_codes.append(code)
            await c.abort(code)
        return len(conns)

    def send_reconnect(self) -> int:
        conns = [c for c in self.connections if not c.closed]
        for c in conns:
            c.send({"op": RECONNECT, "d": None})
        return len(conns)

    def invalidate(self, resumable: bool = False) -> int:
        conns = [c for c in self.connections if not c.closed and c.session is not None]
        for c in conns:
            if not resumable and c.session is not None:
                c.session.invalidated = True
            c.send({"op": INVALID_SESSION, "d": resumable})
        return len(conns)

    # ---- websocket ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        compress = q.get("compress")
        close_code: int | None = None
        if q.get("v") not in (None, "10"):
            close_code = 4012  # Invalid API version
        elif q.get("encoding", "json") != "json":
            close_code = 4002  # only JSON is served
        elif compress not in (None, "zlib-stream", "zstd-stream") or (compress == "zstd-stream" and not zstd_available()):
            self.hub._record_error(f"gateway: unsupported compress={compress!r}")
            close_code = 4000
        if close_code is not None:
            self.close_codes.append(close_code)
            await ws.close(code=close_code)
            return ws
        conn = Connection(self.hub, ws, compress, request.path)
        self.connections.append(conn)
        conn.send(
            {
                "op": HELLO,
                "d": {"heartbeat_interval": int(self.hub.heartbeat_interval * 1000), "_trace": ["standin-gateway"]},
                "s": None,
                "t": None,
            }
        )
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    raw = msg.data
                elif msg.type == WSMsgType.BINARY:
                    raw = msg.data.decode()
                else:
                    break
                try:
                    payload = json.loads(raw)
                    op = payload["op"]
                except (ValueError, KeyError, TypeError):
                    await self._close(conn, 4002)  # Decode error
                    break
                now = asyncio.get_running_loop().time()
                conn.sent_at = [t for t in conn.sent_at if now - t < self.send_limit[1]]
                conn.sent_at.append(now)
                if len(conn.sent_at) > self.send_limit[0]:
                    await self._close(conn, 4008)  # Rate limited
                    break
                await self._on_frame(conn, op, payload.get("d"))
                if conn.closed:
                    break
        finally:
            conn.closed = True
            conn.writer.cancel()
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
        return ws

    @staticmethod
    def _shard(raw: Any) -> tuple[int, int] | None:
        """IDENTIFY's optional `shard`: [shard_id, num_shards], 0 <= shard_id < num_shards;
        absent means [0, 1]. None: invalid (Discord closes with 4010)."""
        if raw is None:
            return (0, 1)
        if (
            not isinstance(raw, list)
            or len(raw) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
        ):
            return None
        shard_id, count = raw
        if count < 1 or not 0 <= shard_id < count:
            return None
        return (shard_id, count)

    async def _close(self, conn: Connection, code: int) -> None:
        self.close_codes.append(code)
        await conn.abort(code)

    async def _on_frame(self, conn: Connection, op: int, d: Any) -> None:
        hub = self.hub
        if op == HEARTBEAT:
            conn.heartbeats += 1
            if self.ack_heartbeats:
                conn.send({"op": HEARTBEAT_ACK, "d": None})
            return
        if op == IDENTIFY:
            if conn.session is not None:
                await self._close(conn, 4005)  # Already authenticated
                return
            if not isinstance(d, dict) or "properties" not in d or "intents" not in d:
                await self._close(conn, 4002 if not isinstance(d, dict) else 4013)
                return
            self.identifies.append(d)
            if d.get("token") != hub.token:
                await self._close(conn, 4004)  # Authentication failed
                return
            intents = int(d["intents"])
            if intents & PRIVILEGED_INTENTS & ~hub.allowed_privileged_intents:
                await self._close(conn, 4014)  # Disallowed intent(s)
                return
            shard = self._shard(d.get("shard"))
            if shard is None:
                await self._close(conn, 4010)  # Invalid shard
                return
            if hub.identify_max_concurrency is not None:
                # Discord: max_concurrency IDENTIFYs per 5 s, one per rate_limit_key =
                # shard_id % max_concurrency; one too soon is answered with op 9
                key = shard[0] % hub.identify_max_concurrency
                now = asyncio.get_running_loop().time()
                if now - self._last_identify.get(key, -IDENTIFY_WINDOW) < IDENTIFY_WINDOW:
                    self.identify_refusals.append(d)
                    conn.send({"op": INVALID_SESSION, "d": False})
                    return
                self._last_identify[key] = now
            if sum(1 for g in hub.guilds if shard_of(g, shard[1]) == shard[0]) > MAX_GUILDS_PER_SHARD:
                await self._close(conn, 4011)  # Sharding required
                return
            session = GatewaySession(
                session_id=secrets.token_hex(16), token=d["token"], intents=intents, identify=d, shard=shard
            )
            self.sessions[session.session_id] = session
            conn.session = session
            session.conn = conn
            self._dispatch_to(session, "READY", hub._ready_payload(session))
            self.ready_count += 1
            if intents & GUILDS:
                for guild in [g for g in hub.guilds.values() if session.owns(g.id)]:
                    self._dispatch_to(session, "GUILD_CREATE", guild.create_payload(
                        members_intent=bool(intents & GUILD_MEMBERS), me=hub.bot_user_id))
            return
        if op == RESUME:
            if not isinstance(d, dict):
                await self._close(conn, 4002)
                return
            self.resumes.append(d)
            session = self.sessions.get(str(d.get("session_id")))
            if session is None or session.invalidated or d.get("token") != hub.token:
                conn.send({"op": INVALID_SESSION, "d": False})
                return
            seq = d.get("seq") or 0
            if seq > session.seq:
                await self._close(conn, 4007)  # Invalid seq
                return
            if session.conn is not None and session.conn is not conn:
                old = session.conn
                session.conn = None
                await old.abort(4000)
            conn.session = session
            session.conn = conn
            session.resumes += 1
            for frame in session.events:
                if frame["s"] > seq:
                    conn.send(frame)
            self._dispatch_to(session, "RESUMED", {"_trace": ["standin-gateway"]})
            return
        if conn.session is None:
            await self._close(conn, 4003)  # Not authenticated
            return
        if op in (PRESENCE, VOICE_STATE):
            return
        if op == REQUEST_MEMBERS:
            guild = hub.guilds.get(int(d.get("guild_id", 0))) if isinstance(d, dict) else None
            if guild is not None:
                self._dispatch_to(
                    conn.session,
                    "GUILD_MEMBERS_CHUNK",
                    {
                        "guild_id": str(guild.id),
                        "members": [m.payload() for m in guild.members.values()],
                        "chunk_index": 0,
                        "chunk_count": 1,
                        "nonce": d.get("nonce"),
                    },
                )
            return
        await self._close(conn, 4001)  # Unknown opcode
