"""A real Synapse homeserver on 127.0.0.1 for the Matrix tests, and a person's plain HTTP client.

Synapse is installed in its own virtual environment (it pins many packages): the python of
CIVIC_ALERTS_SYNAPSE_PYTHON, else .ci/synapse-venv/bin/python. Without one the Matrix tests
skip with that reason — unless CIVIC_ALERTS_REQUIRE_SYNAPSE=1, when they fail.

The generated config: SQLite, one plain-HTTP client listener on loopback, registration only by
shared secret, no federation, no TLS, no stats, rate limits relaxed (one test tightens the
bot's own message limit through the admin API's per-user override).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from tests.conftest import PROJECT_ROOT

SERVER_NAME = "civic.test"
RELAXED = {"per_second": 1000, "burst_count": 1000}


def synapse_python() -> str | None:
    path = os.environ.get("CIVIC_ALERTS_SYNAPSE_PYTHON") or str(PROJECT_ROOT / ".ci" / "synapse-venv" / "bin" / "python")
    if not Path(path).exists():
        return None
    check = subprocess.run([path, "-c", "import synapse"], capture_output=True, timeout=120)
    return path if check.returncode == 0 else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(directory: Path, port: int, shared_secret: str) -> str:
    limits = "\n".join(
        f"{name}:\n  per_second: 1000\n  burst_count: 1000"
        for name in ("rc_message", "rc_registration", "rc_joins_per_room", "rc_3pid_validation")
    )
    return f"""
server_name: "{SERVER_NAME}"
public_baseurl: "http://127.0.0.1:{port}/"
pid_file: "{directory}/homeserver.pid"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{directory}/homeserver.db"
media_store_path: "{directory}/media"
signing_key_path: "{directory}/signing.key"
registration_shared_secret: "{shared_secret}"
enable_registration: false
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
send_federation: false
enable_metrics: false
presence:
  enabled: false
url_preview_enabled: false
{limits}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
rc_joins:
  local: {{per_second: 1000, burst_count: 1000}}
  remote: {{per_second: 1000, burst_count: 1000}}
rc_invites:
  per_room: {{per_second: 1000, burst_count: 1000}}
  per_user: {{per_second: 1000, burst_count: 1000}}
  per_issuer: {{per_second: 1000, burst_count: 1000}}
rc_admin_redaction: {{per_second: 1000, burst_count: 1000}}
"""


@dataclass
class Synapse:
    """One running homeserver (a session fixture starts it once)."""

    python: str
    directory: Path
    port: int = field(default_factory=free_port)
    shared_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, deadline: float = 180.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "homeserver.yaml"
        config.write_text(config_text(self.directory, self.port, self.shared_secret), encoding="utf-8")
        args = [self.python, "-m", "synapse.app.homeserver", "--config-path", str(config)]
        subprocess.run([*args, "--generate-keys"], check=True, capture_output=True, timeout=300, cwd=self.directory)
        log = (self.directory / "synapse.out").open("ab")
        self.proc = subprocess.Popen(args, cwd=self.directory, stdout=log, stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + deadline
        import urllib.request

        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"synapse exited: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/_matrix/client/versions", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"synapse did not answer within {deadline} s: {self.log_tail()}")

    def log_tail(self, n: int = 30) -> str:
        path = self.directory / "synapse.out"
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    async def register(self, localpart: str, password: str, *, admin: bool = False) -> Person:
        """A new account through the shared-secret admin registration; returns it logged in."""
        async with aiohttp.ClientSession() as http:
            url = self.base + "/_synapse/admin/v1/register"
            async with http.get(url) as r:
                nonce = (await r.json())["nonce"]
            mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), b"admin" if admin else b"notadmin"]))
            body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac.hexdigest()}
            async with http.post(url, json=body) as r:
                data = await r.json()
                if r.status != 200:
                    raise RuntimeError(f"register {localpart}: {r.status} {data}")
        return Person(self.base, data["user_id"], data["access_token"])


@dataclass
class Person:
    """Someone in the rooms, driving the bot with plain client-server API calls."""

    base: str
    user_id: str
    token: str
    _txn: int = 0

    async def call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.request(
                method, self.base + path, json=body, params=query, headers={"Authorization": f"Bearer {self.token}"}
            ) as r:
                return r.status, await r.json(content_type=None)

    async def ok(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        status, data = await self.call(method, path, body, query)
        if status != 200:
            raise AssertionError(f"{method} {path}: {status} {data}")
        return data

    async def create_room(self, name: str, invite: list[str]) -> str:
        data = await self.ok("POST", "/_matrix/client/v3/createRoom", {"name": name, "preset": "private_chat", "invite": invite})
        return str(data["room_id"])

    def _room(self, room_id: str) -> str:
        return "/_matrix/client/v3/rooms/" + quote(room_id, safe="")

    async def say(self, room_id: str, text: str) -> str:
        self._txn += 1
        data = await self.ok(
            "PUT", f"{self._room(room_id)}/send/m.room.message/p{time.time_ns()}{self._txn}", {"msgtype": "m.text", "body": text}
        )
        return str(data["event_id"])

    async def events(self, room_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """The room's message events, oldest first."""
        data = await self.ok("GET", f"{self._room(room_id)}/messages", query={"dir": "b", "limit": str(limit)})
        return [e for e in reversed(data["chunk"]) if e.get("type") == "m.room.message"]

    async def power_levels(self, room_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self.ok("GET", f"{self._room(room_id)}/state/m.room.power_levels")
        return data

    async def set_power_levels(self, room_id: str, levels: dict[str, Any]) -> None:
        await self.ok("PUT", f"{self._room(room_id)}/state/m.room.power_levels", levels)

    async def kick(self, room_id: str, user_id: str) -> None:
        await self.ok("POST", f"{self._room(room_id)}/kick", {"user_id": user_id, "reason": "test"})

    async def joined(self, room_id: str) -> list[str]:
        data = await self.ok("GET", f"{self._room(room_id)}/joined_members")
        return list(data["joined"])

    async def override_ratelimit(self, user_id: str, per_second: int, burst: int) -> None:
        await self.ok(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit",
            {"messages_per_second": per_second, "burst_count": burst},
        )


async def wait_for(predicate: Any, what: str, deadline: float = 60.0, every: float = 0.3) -> Any:
    """Poll an async predicate until it returns something truthy (generous deadline, no sleeps
    counted on): the machine may be busy."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {str(last)[:500]})")


async def invite_and_join(owner: Person, room_id: str, member: Person) -> None:
    """`member` joins `owner`'s room at the default power level (0)."""
    await owner.ok("POST", f"{owner._room(room_id)}/invite", {"user_id": member.user_id})
    await member.ok("POST", f"{member._room(room_id)}/join", {})
