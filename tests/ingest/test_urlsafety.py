"""SSRF guard: check_public_url on hostile spellings, and the Fetcher's per-hop and
connect-time checks with allow_private=False (real sockets on loopback, no network)."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.errors import UnsafeURLError, UserInputError
from bot.ingest.fetch import Fetcher, FetchLimits
from bot.ingest.urlsafety import check_public_url, is_public_address, parse_ip_literal
from tests.feedserver import FeedServer

HOSTILE_URLS = [
    # schemes
    "file:///etc/passwd",
    "ftp://example.com/feed.xml",
    "gopher://example.com:70/",
    "javascript:alert(1)",
    "data:text/xml,<rss/>",
    "dict://127.0.0.1:11211/",
    "//example.com/feed",
    "example.com/feed",
    "http:/example.com/feed",
    "",
    # userinfo tricks
    "http://example.com@127.0.0.1/",
    "http://user:pass@example.com/",
    "http://127.0.0.1#@example.com/",
    "http://example.com\\@127.0.0.1/",
    # loopback / unspecified in every spelling
    "http://127.0.0.1/",
    "http://127.0.0.1:8080/feed",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0x7f.1/",
    "http://0x7f.0x0.0x0.0x1/",
    "http://017700000001/",
    "http://0177.0.0.01/",
    "http://0/",
    "http://0.0.0.0/",
    "http://localhost/",
    "http://ｌｏｃａｌｈｏｓｔ/",  # fullwidth letters fold to localhost under IDNA
    "http://127。0。0。1/",  # ideographic full stops are dots to IDNA
    "http://①②⑦.0.0.1/",  # NFKC turns circled digits into 127
    "http://LOCALHOST./",
    "http://api.localhost/",
    # private, link-local, CGNAT, metadata, multicast, reserved, broadcast
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://198.18.0.1/",
    "http://192.0.2.1/",
    # IPv6
    "http://[::1]/",
    "http://[::]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fd00::1]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]/",
    "http://[ff02::1]/",
    "http://[2001:db8::1]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::1]/",
    "http://[::127.0.0.1]/",
    "http://[::ffff:8.8.8.8]/",  # mapped forms are refused even when public: no real feed needs them
    # junk hosts and ports
    "http://exa mple.com/",
    "http://example.com:99999/",
    "http://999.1.1.1/",
    "http://-bad-.example.com/",
    "http://printer.local/",
    "http://metadata.google.internal/",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
async def test_hostile_urls_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError) as info:
        await check_public_url(url, resolve=False)
    error = info.value
    assert isinstance(error, UserInputError)
    assert error.user_message.startswith("I can't use that feed address")
    assert "Traceback" not in error.user_message and len(error.user_message) < 400


def test_there_are_at_least_forty_hostile_cases() -> None:
    assert len(HOSTILE_URLS) >= 40


PUBLIC_URLS = [
    ("https://8.8.8.8/feed", "https://8.8.8.8/feed"),
    ("http://1.1.1.1:8080/rss", "http://1.1.1.1:8080/rss"),
    ("HTTPS://[2606:4700:4700::1111]/feed.xml", "https://[2606:4700:4700::1111]/feed.xml"),
    ("https://www.chicago-sun-times.example/rss#top", "https://www.chicago-sun-times.example/rss"),
    ("https://Example.COM:443/feed?x=1", "https://example.com/feed?x=1"),
    ("http://example.com", "http://example.com/"),
    (
        "  https://news.google.com/rss/search?q=ICE+Chicago  ",
        "https://news.google.com/rss/search?q=ICE+Chicago",
    ),
    ("https://bücher.example/feed", "https://xn--bcher-kva.example/feed"),
]


@pytest.mark.parametrize(("url", "expected"), PUBLIC_URLS)
async def test_public_urls_accepted_without_network(url: str, expected: str) -> None:
    assert await check_public_url(url, resolve=False) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
    ],
)
def test_parse_ip_literal(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == expected


def test_is_public_address() -> None:
    assert is_public_address("8.8.8.8") and is_public_address("2606:4700::1111")
    for address in ("127.0.0.1", "10.0.0.1", "::1", "fd00::1", "::ffff:10.0.0.1", "not-an-ip"):
        assert not is_public_address(address), address


# --- names that need DNS -------------------------------------------------------------------


async def test_name_resolving_to_loopback_refused() -> None:
    """This machine's host name resolves through /etc/hosts, without any network."""
    name = socket.gethostname().lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 80)}
    except OSError:
        pytest.skip(f"{name} does not resolve here")
    if all(is_public_address(a) for a in addresses):
        pytest.skip(f"{name} resolves to public addresses here")
    with pytest.raises(UnsafeURLError, match="private or internal"):
        await check_public_url(f"http://{name}/feed")


async def test_injected_resolver_all_addresses_must_be_public() -> None:
    table = {
        "public.example": ["93.184.216.34", "2606:2800:220:1::1"],
        "mixed.example": ["93.184.216.34", "10.0.0.7"],
        "private6.example": ["fd12::1"],
        "nowhere.example": [],
    }

    async def resolver(host: str) -> list[str]:
        return table[host]

    assert (
        await check_public_url("https://public.example/rss", resolver=resolver)
        == "https://public.example/rss"
    )
    for host in ("mixed.example", "private6.example", "nowhere.example"):
        with pytest.raises(UnsafeURLError):
            await check_public_url(f"https://{host}/rss", resolver=resolver)


async def test_unresolvable_name_refused() -> None:
    async def failing(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(UnsafeURLError, match="does not resolve"):
        await check_public_url("https://no-such-host.example/", resolver=failing)


# --- the Fetcher with allow_private=False --------------------------------------------------


class StaticResolver(AbstractResolver):
    """aiohttp resolver from a fixed table: lets a test point made-up names at loopback."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append(host)
        addresses = self.table.get(host.rstrip("."))
        if addresses is None:
            raise OSError(f"no such host {host}")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


LIMITS = FetchLimits(connect_timeout=1, read_timeout=1, total_timeout=3)


async def test_loopback_feed_refused_when_private_not_allowed(feed_server: FeedServer) -> None:
    async with Fetcher(LIMITS, allow_private=False) as fetcher:
        result = await fetcher.fetch(feed_server.url("/data/chicago-sample.xml"))
    assert result.error == "refused: it points to a private or internal address"
    assert result.status is None and result.body is None
    assert feed_server.requests["/data/chicago-sample.xml"] == 0  # never connected


async def test_redirect_hop_to_private_literal_refused(feed_server: FeedServer) -> None:
    """First hop allowed by the explicit test hook; the redirect target is checked anew."""
    async with Fetcher(LIMITS, allow_private=False, allowed_hosts={"127.0.0.1"}) as fetcher:
        private = await fetcher.fetch(feed_server.url("/hostile/redirect-private"))
        metadata = await fetcher.fetch(feed_server.url("/hostile/redirect-metadata"))
        localhost = await fetcher.fetch(
            feed_server.url(
                f"/hostile/redirect?to=http://localhost:{feed_server.port}/data/chicago-sample.xml"
            )
        )
        control = await fetcher.fetch(
            feed_server.url(
                f"/hostile/redirect?to=http://127.0.0.1:{feed_server.port}/data/chicago-sample.xml"
            )
        )
    assert feed_server.requests["/hostile/redirect-private"] == 1  # the first hop did happen
    assert private.error == "refused: it points to a private or internal address"
    assert private.final_url == "http://10.0.0.1/feed.xml"
    assert metadata.error == "refused: it points to a private or internal address"
    assert localhost.error == "refused: internal host name"
    assert (
        control.ok
    )  # same redirect to an allowed host works: the refusals above are the hop check
    assert feed_server.requests["/data/chicago-sample.xml"] == 1


async def test_redirect_to_name_resolving_internal_refused_at_connect(
    feed_server: FeedServer,
) -> None:
    resolver = StaticResolver({"rebind.example": ["127.0.0.1"]})
    target = f"http://rebind.example:{feed_server.port}/data/chicago-sample.xml"
    start = feed_server.url(f"/hostile/redirect?to={target}")
    async with Fetcher(
        LIMITS, allow_private=False, allowed_hosts={"127.0.0.1"}, resolver=resolver
    ) as fetcher:
        refused = await fetcher.fetch(start)
    assert refused.error == "refused: rebind.example resolves to internal address 127.0.0.1"
    assert feed_server.requests["/data/chicago-sample.xml"] == 0
    # control: with the name allowed, the very same fetch reaches the server
    async with Fetcher(
        LIMITS,
        allow_private=False,
        allowed_hosts={"127.0.0.1", "rebind.example"},
        resolver=resolver,
    ) as fetcher:
        allowed = await fetcher.fetch(start)
    assert allowed.ok and feed_server.requests["/data/chicago-sample.xml"] == 1


async def test_dns_rebinding_between_check_and_connect(feed_server: FeedServer) -> None:
    """The name looked public when the URL was accepted; at fetch time it points inside."""
    url = f"http://rebind.example:{feed_server.port}/data/chicago-sample.xml"

    async def at_check_time(host: str) -> list[str]:
        return ["93.184.216.34"]

    assert await check_public_url(url, resolver=at_check_time)
    at_fetch_time = StaticResolver({"rebind.example": ["127.0.0.1"]})
    async with Fetcher(LIMITS, allow_private=False, resolver=at_fetch_time) as fetcher:
        result = await fetcher.fetch(url)
    assert result.error is not None and result.error.startswith("refused:")
    assert at_fetch_time.calls == ["rebind.example"]
    assert feed_server.requests["/data/chicago-sample.xml"] == 0
    async with Fetcher(LIMITS, allow_private=True, resolver=at_fetch_time) as fetcher:
        assert (await fetcher.fetch(url)).ok  # without the guard it would have connected


async def test_name_with_one_internal_address_refused(feed_server: FeedServer) -> None:
    resolver = StaticResolver({"mixed.example": ["93.184.216.34", "127.0.0.1"]})
    async with Fetcher(LIMITS, allow_private=False, resolver=resolver) as fetcher:
        result = await fetcher.fetch(
            f"http://mixed.example:{feed_server.port}/data/chicago-sample.xml"
        )
    assert result.error == "refused: mixed.example resolves to internal address 127.0.0.1"


@pytest.mark.parametrize(
    "url", ["http://2130706433/", "http://[::ffff:127.0.0.1]/", "http://0x7f.1/"]
)
async def test_fetcher_refuses_odd_spellings_before_connecting(url: str) -> None:
    async with Fetcher(LIMITS, allow_private=False) as fetcher:
        result = await fetcher.fetch(url)
    assert result.error is not None and result.error.startswith("refused:")
