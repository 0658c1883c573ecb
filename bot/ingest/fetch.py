"""HTTP fetching of feeds: conditional GET, hard limits, manual redirects, SSRF guard.

Why not feedparser's own fetching: it blocks and has no timeout. Why all the limits:
feeds are fetched unattended from servers we do not control, and a server admin can
add any URL. One slow, endless, huge or compressed-bomb response must cost one bounded
error, never a hung poll cycle or an out-of-memory bot. `Fetcher.fetch` therefore
never raises for network/HTTP problems: it returns a FetchResult with `error` set.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.errors import UnsafeURLError
from bot.ingest.urlsafety import check_url_syntax, is_public_address
from bot.models import FetchResult

if TYPE_CHECKING:
    from bot.settings import Settings

__all__ = [
    "FetchLimits",
    "Fetcher",
    "PublicOnlyResolver",
    "RefusedAddressError",
    "fetch_limits",
    "parse_max_age",
    "parse_retry_after",
]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


@dataclass(frozen=True)
class FetchLimits:
    """Per-fetch bounds. Timeouts in seconds; `total_timeout` covers all redirect hops
    and the whole body (a server trickling one byte a second never trips a read timeout)."""

    total_concurrency: int = 32
    per_host: int = 4
    connect_timeout: float = 10
    read_timeout: float = 20
    total_timeout: float = 45
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = (
        "civic-alert-bot/0.1 (+https://github.com/civic-alert-bot; news alerts for organizers)"
    )


def fetch_limits(settings: Settings) -> FetchLimits:
    """The operator's limits (CIVIC_ALERTS_FETCH_*) as one FetchLimits."""
    return FetchLimits(
        total_concurrency=settings.fetch_concurrency,
        per_host=settings.fetch_per_host,
        total_timeout=settings.fetch_timeout,
        max_bytes=settings.max_feed_bytes,
    )


class RefusedAddressError(OSError):
    """A host resolved to an internal address while private targets are not allowed.

    An OSError so aiohttp's connector treats it like a failed DNS lookup.
    """


class PublicOnlyResolver(AbstractResolver):
    """Wraps a resolver and refuses hosts with ANY non-public address.

    This is the connect-time half of the SSRF guard: aiohttp connects to exactly the
    addresses this returns, so a name that passed `check_public_url` earlier but now
    resolves to 127.0.0.1 (DNS rebinding) is refused here. `allowed_hosts` names are
    exempt (test-only hook, see Fetcher).
    """

    def __init__(
        self, inner: AbstractResolver, allowed_hosts: frozenset[str] = frozenset()
    ) -> None:
        self._inner = inner
        self._allowed = allowed_hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        name = host.rstrip(".").lower()
        if name in self._allowed:
            return results
        if not results:
            raise RefusedAddressError(f"{name} did not resolve")
        for result in results:
            address = str(result["host"]).split("%", 1)[0]
            if not is_public_address(address):
                raise RefusedAddressError(f"{name} resolves to internal address {address}")
        return results

    async def close(self) -> None:
        await self._inner.close()


MAX_ERROR_CHARS = 200
_GZIP_MAGIC = b"\x1f\x8b"


def one_line(error: str, limit: int = MAX_ERROR_CHARS) -> str:
    """A fetch error as stored and printed: one line of at most `limit` characters.

    aiohttp's parser errors span several lines (the bad bytes, a caret under them); a status
    line or `feeds check` table must stay one line per feed.
    """
    flat = " ".join(error.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), else None."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_MAX_AGE = re.compile(r'(?:^|[,\s])max-age\s*=\s*"?(\d{1,12})"?', re.IGNORECASE)


def parse_max_age(cache_control: str | None) -> float | None:
    """max-age seconds from Cache-Control (not s-maxage), else None. Uncapped: the poller caps."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


def _headers_of(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Response headers with lower-case names; repeated headers joined with ", "."""
    out: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        out[key] = f"{out[key]}, {value}" if key in out else value
    return out


class Fetcher:
    """Owns one aiohttp session; use as `async with Fetcher(limits) as fetcher:`.

    `allow_private=False` (for user-added feeds) refuses every hop whose host is an
    internal IP literal and every name resolving to an internal address at connect time.

    Test-only hooks, explicit on purpose (never set them in production code):
    - `allowed_hosts`: host names (no port) exempt from the internal-address check, so
      a test can start on the loopback feed server and prove that the *next* hop is
      still checked.
    - `resolver`: an aiohttp resolver to use instead of the system one (map made-up
      names to chosen addresses, e.g. to simulate DNS rebinding). It is still wrapped
      by the public-only check when allow_private=False.
    """

    def __init__(
        self,
        limits: FetchLimits = FetchLimits(),  # frozen, so a shared default is safe
        *,
        allow_private: bool = True,
        allowed_hosts: Iterable[str] = (),
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.limits = limits
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(h.lower().rstrip(".") for h in allowed_hosts)
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        # Queueing for a connection happens here, before the total timeout starts: with
        # 50 Google News feeds and per_host=4 the last ones would otherwise time out
        # while merely waiting their turn inside aiohttp's connector.
        self._slots = asyncio.Semaphore(max(1, limits.total_concurrency))
        self._host_slots: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Self:
        limits = self.limits
        inner: AbstractResolver = self._resolver or aiohttp.ThreadedResolver()
        resolver = inner if self.allow_private else PublicOnlyResolver(inner, self.allowed_hosts)
        connector = aiohttp.TCPConnector(
            limit=limits.total_concurrency,
            limit_per_host=limits.per_host,
            resolver=resolver,
            ttl_dns_cache=60,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=limits.connect_timeout,
                sock_read=limits.read_timeout,
            ),
            headers={"User-Agent": limits.user_agent, "Accept": _ACCEPT},
            auto_decompress=True,
            trust_env=False,  # no proxies from the environment: the guard must see the real target
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _check_hop(self, url: str) -> str | None:
        """Why this hop may not be fetched, or None. Static checks only (DNS is checked
        at connect time by PublicOnlyResolver, so it cannot change in between)."""
        try:
            scheme = URL(url).scheme.lower()
        except (ValueError, TypeError):
            return "bad URL"
        if scheme not in {"http", "https"}:
            return f"unsupported scheme {scheme or '(none)'}"
        if self.allow_private:
            return None
        host = (URL(url).host or "").lower().rstrip(".")
        if host in self.allowed_hosts:
            return None
        try:
            check_url_syntax(url)
        except UnsafeURLError as exc:
            return f"refused: {getattr(exc, 'reason', exc)}"
        return None

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET `url` (conditionally); never raises for network, HTTP, size or redirect trouble."""
        if self._session is None:
            raise RuntimeError("Fetcher used outside `async with`")
        async with self._slots, self._host_slot(url):
            started = time.monotonic()
            state = {"url": url}
            try:
                async with asyncio.timeout(self.limits.total_timeout):
                    return await self._fetch(url, etag, last_modified, started, state)
            except TimeoutError:
                return self._error(
                    url, state["url"], None, started,
                    f"timed out after {self.limits.total_timeout:g}s",
                )  # fmt: skip

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        try:
            host = (URL(url.strip()).host or "").lower()
        except (ValueError, TypeError):
            host = ""
        slot = self._host_slots.get(host)
        if slot is None:
            slot = self._host_slots[host] = asyncio.Semaphore(max(1, self.limits.per_host))
        return slot

    @staticmethod
    def _error(
        url: str,
        final_url: str,
        status: int | None,
        started: float,
        error: str,
        *,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        max_age: float | None = None,
    ) -> FetchResult:
        return FetchResult(
            url=url,
            final_url=final_url,
            status=status,
            headers=headers or {},
            retry_after=retry_after,
            max_age=max_age,
            elapsed=time.monotonic() - started,
            error=one_line(error),
        )

    async def _fetch(
        self,
        url: str,
        etag: str | None,
        last_modified: str | None,
        started: float,
        state: dict[str, str],
        *,
        decompress: bool = True,
    ) -> FetchResult:
        assert self._session is not None
        limits = self.limits
        request_headers: dict[str, str] = {}
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        current = url.strip()
        seen = {current}
        hops = 0
        while True:
            state["url"] = current
            refusal = self._check_hop(current)
            if refusal:
                return self._error(url, current, None, started, refusal)
            try:
                async with self._session.get(
                    current, headers=request_headers, allow_redirects=False, auto_decompress=decompress
                ) as response:
                    status = response.status
                    headers = _headers_of(response)
                    retry_after = parse_retry_after(headers.get("retry-after"))
                    max_age = parse_max_age(headers.get("cache-control"))
                    if status in _REDIRECT_STATUSES and headers.get("location"):
                        try:
                            target = str(response.url.join(URL(headers["location"].strip())))
                        except (ValueError, TypeError):
                            return self._error(
                                url, current, status, started, "bad redirect Location"
                            )
                        if target in seen:
                            return self._error(url, current, status, started, "redirect loop")
                        hops += 1
                        if hops > limits.max_redirects:
                            return self._error(
                                url, current, status, started,
                                f"too many redirects (> {limits.max_redirects})",
                            )  # fmt: skip
                        seen.add(target)
                        current = target
                        continue
                    if status == 304:
                        return FetchResult(
                            url=url,
                            final_url=current,
                            status=304,
                            headers=headers,
                            etag=headers.get("etag") or etag,
                            last_modified=headers.get("last-modified") or last_modified,
                            not_modified=True,
                            max_age=max_age,
                            retry_after=retry_after,
                            elapsed=time.monotonic() - started,
                        )
                    if status >= 300:
                        reason = (response.reason or "").strip()[:60]
                        return self._error(
                            url, current, status, started,
                            f"HTTP {status}{' ' + reason if reason else ''}",
                            headers=headers, retry_after=retry_after, max_age=max_age,
                        )  # fmt: skip
                    body, problem = await self._read_body(response)
                    if not decompress and body is not None and body[:2] == _GZIP_MAGIC:
                        problem = "bad gzip body"  # really gzip, and broken: not ours to guess at
                    if problem:
                        return self._error(
                            url, current, status, started, problem,
                            headers=headers, retry_after=retry_after, max_age=max_age,
                        )  # fmt: skip
                    return FetchResult(
                        url=url,
                        final_url=current,
                        status=status,
                        body=body,
                        headers=headers,
                        etag=headers.get("etag"),
                        last_modified=headers.get("last-modified"),
                        max_age=max_age,
                        retry_after=retry_after,
                        elapsed=time.monotonic() - started,
                    )
            except aiohttp.ClientConnectorDNSError as exc:
                cause = (
                    exc.os_error if isinstance(exc.os_error, RefusedAddressError) else exc.__cause__
                )
                if isinstance(cause, RefusedAddressError):
                    return self._error(url, current, None, started, f"refused: {cause}")
                return self._error(url, current, None, started, f"DNS lookup failed: {exc.host}")
            except aiohttp.ConnectionTimeoutError:
                return self._error(url, current, None, started, "connect timed out")
            except aiohttp.SocketTimeoutError:
                return self._error(url, current, None, started, "read timed out")
            except aiohttp.ClientConnectorError as exc:
                return self._error(url, current, None, started, f"connect failed: {exc.os_error}")
            except aiohttp.ClientPayloadError as exc:
                if decompress and "content-encoding" in str(exc).lower():
                    # "Content-Encoding: gzip" on a body that is not gzip (a misconfigured
                    # server or CDN): read it as sent; feedparser recovers the document.
                    return await self._fetch(
                        url, etag, last_modified, started, state, decompress=False
                    )
                return self._error(url, current, None, started, "connection dropped mid-body")
            except aiohttp.ServerDisconnectedError:
                return self._error(url, current, None, started, "server disconnected")
            except aiohttp.ClientResponseError as exc:
                if etag or last_modified:
                    # A 304 that carries a body (which HTTP forbids): aiohttp parses the body as
                    # a next response and fails on it ("Bad status line", "Data after
                    # `Connection: close`"), losing the 304. Ask once without the
                    # validators; an unchanged body is then recognised by its hash (poller).
                    return await self._fetch(url, None, None, started, state, decompress=decompress)
                return self._error(
                    url, current, exc.status or None, started, f"bad response: {exc.message}"
                )
            except aiohttp.ClientError as exc:
                return self._error(url, current, None, started, f"{type(exc).__name__}: {exc}")
            except (OSError, ValueError, UnicodeError) as exc:
                return self._error(url, current, None, started, f"{type(exc).__name__}: {exc}")

    async def _read_body(self, response: aiohttp.ClientResponse) -> tuple[bytes | None, str | None]:
        """Read at most max_bytes of the *decoded* body (aiohttp inflates gzip in bounded
        steps, so a gzip bomb stops here after ~max_bytes, not after inflating)."""
        limit = self.limits.max_bytes
        declared = response.content_length
        if (
            declared is not None
            and declared > limit
            and not response.headers.get("Content-Encoding")
        ):
            response.close()
            return None, f"body too large ({declared} bytes > {limit})"
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > limit:
                response.close()
                return None, f"body too large (> {limit} bytes)"
            chunks.append(chunk)
        return b"".join(chunks), None
