"""Refuse feed URLs that point inside our own network (SSRF guard).

Why: server admins can add their own feeds with a slash command, and the bot then
fetches whatever URL they typed from the machine it runs on. Without this check a
URL like http://169.254.169.254/ (cloud metadata) or http://2130706433/ (127.0.0.1 in
decimal) would make the bot an internal proxy. The check is done twice: here, when a
URL is accepted (with a DNS lookup), and at connect time in the Fetcher
(allow_private=False), so a name that re-resolves to an internal address after the
check (DNS rebinding) still cannot be reached.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

from bot.errors import UnsafeURLError

__all__ = [
    "RESOLVE_TIMEOUT",
    "check_public_url",
    "check_url_syntax",
    "is_public_address",
    "parse_ip_literal",
]

RESOLVE_TIMEOUT = 5.0
_MAX_URL = 2048
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
#: extra blocks not flagged by ipaddress' is_private/is_reserved in every Python version
_EXTRA_BLOCKED: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("100.64.0.0/10"),  # CGNAT
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("255.255.255.255/32"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2001:db8::/32"),
    ipaddress.ip_network("fc00::/7"),
    ipaddress.ip_network("fe80::/10"),
    ipaddress.ip_network("fec0::/10"),
)


# each reason's catalogue entry (config/messages `urlsafety.*`), so the refusal is said in the
# reader's language; `.reason` stays English (logs, fetch errors)
_REASON_KEYS = {
    "empty address": "urlsafety.empty",
    "address too long": "urlsafety.too_long",
    "address contains spaces, control characters or backslashes": "urlsafety.bad_characters",
    "malformed address": "urlsafety.malformed",
    "only http and https are allowed": "urlsafety.not_http",
    "addresses with a user name or password are not allowed": "urlsafety.credentials",
    "bad port": "urlsafety.bad_port",
    "no host name": "urlsafety.no_host",
    "bad host name": "urlsafety.bad_host",
    "internal host name": "urlsafety.internal_host",
    "it points to a private or internal address": "urlsafety.private",
    "the host name does not resolve": "urlsafety.no_resolve",
}


def _refuse(reason: str, url: str) -> UnsafeURLError:
    """UnsafeURLError with a plain-text message (each adapter escapes it for its markup);
    `.reason` holds the short reason."""
    shown = url[:120]
    error = UnsafeURLError(
        f"unsafe URL {url[:200]!r}: {reason}",
        user_message=f"I can't use that feed address ({reason}): “{shown}”. "
        "Give a public http:// or https:// URL.",
        key="errors.unsafe_url",
        fields={"reason": reason, "reason_key": _REASON_KEYS.get(reason, ""), "url": shown},
    )
    error.reason = reason  # type: ignore[attr-defined]
    return error


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | str) -> bool:
    """True only for globally routable unicast addresses.

    IPv4-mapped/compatible, 6to4 and NAT64 forms are judged by the IPv4 address they carry.
    """
    try:
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            return False
        embedded = addr.ipv4_mapped or addr.sixtofour
        if embedded is None and addr in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is None and int(addr) >> 32 == 0 and int(addr) > 0xFFFF:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)  # ::a.b.c.d (deprecated)
        if embedded is not None and not is_public_address(embedded):
            return False
    if (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    ):
        return False
    return not any(addr in net for net in _EXTRA_BLOCKED if net.version == addr.version)


def _parse_ipv4_part(part: str) -> int | None:
    if not part:
        return None
    try:
        if part.lower().startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part[1:], 8)
        return int(part, 10)
    except ValueError:
        return None


def parse_ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host string denotes if it is any IP spelling, else None.

    Covers what inet_aton and browsers accept: 127.1, 2130706433, 0x7f.1, 017700000001,
    0x7f000001, plus bracketed/zoned IPv6.
    """
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h.split("%", 1)[0])
        except ValueError:
            return None
    parts = h.split(".")
    if not 1 <= len(parts) <= 4 or not all(re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)", p) for p in parts):
        return None
    values = [_parse_ipv4_part(p) for p in parts]
    if any(v is None for v in values):
        return None
    nums = [v for v in values if v is not None]
    *head, last = nums
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for v in head:
        value = value * 256 + v
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def check_url_syntax(
    url: str,
) -> tuple[str, str, ipaddress.IPv4Address | ipaddress.IPv6Address | None]:
    """Static checks (no DNS): returns (normalized URL, host, ip-literal-or-None).

    Raises UnsafeURLError for non-http(s) schemes, userinfo, bad ports, odd host
    characters and any internal IP literal in any spelling.
    """
    if not isinstance(url, str) or not url.strip():
        raise _refuse("empty address", str(url))
    raw = url.strip()
    if len(raw) > _MAX_URL:
        raise _refuse("address too long", raw)
    if any(ord(c) < 0x21 or c == "\\" for c in raw):
        raise _refuse("address contains spaces, control characters or backslashes", raw)
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise _refuse("malformed address", raw) from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise _refuse("only http and https are allowed", raw)
    if not raw.lower().startswith(f"{scheme}://"):
        raise _refuse("malformed address", raw)
    if "@" in parts.netloc:
        raise _refuse("addresses with a user name or password are not allowed", raw)
    try:
        port = parts.port
    except ValueError:
        raise _refuse("bad port", raw) from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("no host name", raw)
    try:
        ascii_host = (
            host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
        )
    except UnicodeError:
        raise _refuse("bad host name", raw) from None
    ip = parse_ip_literal(ascii_host)
    if ip is None:
        if ":" in ascii_host or not all(_HOST_LABEL.match(lbl) for lbl in ascii_host.split(".")):
            raise _refuse("bad host name", raw)
        if ascii_host == "localhost" or ascii_host.endswith((".localhost", ".local", ".internal")):
            raise _refuse("internal host name", raw)
        if re.fullmatch(r"[0-9a-fx.]+", ascii_host) and ascii_host.replace(".", "").isdigit():
            raise _refuse("bad host name", raw)
    elif not is_public_address(ip):
        raise _refuse("it points to a private or internal address", raw)
    netloc = f"[{ip}]" if ip is not None and ip.version == 6 else str(ip) if ip else ascii_host
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        netloc = f"{netloc}:{port}"
    normalized = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return normalized, ascii_host, ip


async def resolve_all(host: str, port: int | None = None) -> list[str]:
    """Every address `host` resolves to (both families), via the loop's getaddrinfo."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(RESOLVE_TIMEOUT):
        infos = await loop.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


Resolver = Callable[[str], Awaitable[list[str]]]


async def check_public_url(
    url: str, *, resolve: bool = True, resolver: Resolver | None = None
) -> str:
    """Normalized URL if it is safe to fetch from the bot's host, else UnsafeURLError.

    With `resolve=True` a host name is looked up and refused unless ALL its addresses
    are public (a name with one internal address would let an attacker pick it).
    `resolver` (host -> addresses) replaces the system lookup; it exists so tests can
    map made-up names to chosen addresses without a network.
    """
    normalized, host, ip = check_url_syntax(url)
    if ip is not None or not resolve:
        return normalized
    try:
        addresses = await (resolver or resolve_all)(host)
    except (OSError, TimeoutError, UnicodeError):
        raise _refuse("the host name does not resolve", url.strip()) from None
    if not addresses:
        raise _refuse("the host name does not resolve", url.strip())
    for address in addresses:
        if not is_public_address(address.split("%", 1)[0]):
            raise _refuse("it points to a private or internal address", url.strip())
    return normalized
