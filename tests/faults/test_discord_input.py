"""Discord-side drills 1–3: hostile user input, internal feed destinations, permissions.

All through the real command tree: a real `CivicBot` (cogs, `CivicTree.on_error`, checks,
transformers) connected to the Discord stand-in in this process (tests/faults/discord_helpers.py
`BotThread`), commands sent as INTERACTION_CREATE, answers validated by the stand-in against
Discord's OpenAPI file. Hypothesis drives the strings; each example is a batch of strings
invoked concurrently (one connected bot serves them all), so thousands run in seconds.

Counts: CIVIC_ALERTS_DISCORD_FUZZ_EXAMPLES (hypothesis examples per command; default 120 in
CI ≈ 12,000 strings over the three commands; each example is a batch of 30–40 strings),
CIVIC_ALERTS_DISCORD_CLI_EXAMPLES (batches of 100 queries for the CLI; default 3).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PROJECT_ROOT
from tests.faults.discord_helpers import Answer, BotThread, InProcessBot, answer

EXAMPLES = int(os.environ.get("CIVIC_ALERTS_DISCORD_FUZZ_EXAMPLES", "120"))
CLI_EXAMPLES = int(os.environ.get("CIVIC_ALERTS_DISCORD_CLI_EXAMPLES", "3"))
MEMBER_ID = 515151515151515151
COUNTS: Counter[str] = Counter()

# ------------------------------------------------------------------ hostile text

FRAGMENTS = [
    '"', "'", "`", "```", '""', "\\", "\\\"", "o'hare", "C++", "-ice", "ICE AND", "OR", "NOT", "AND NOT",
    "NEAR(", "NEAR(a b, 3)", "*", "ice*", "^ice", "title:", "{title summary}:", "(", ")", ")(", ":", ";--",
    "' OR 1=1 --", "%", "_", "\x00", "\x00\x00", "\r\n", "\t", "\x1b[31m", "\x7f",
    "**bold**", "__u__", "~~s~~", "||spoiler||", "> quote", "# Heading", "-# small", "[click](http://evil.example)",
    "<http://evil.example>", "@everyone", "@here", "<@123456789012345678>", "<@!123456789012345678>",
    "<@&123456789012345678>", "<#123456789012345678>", "</search:1>", "<t:0:R>", "<:emoji:123>",
    "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u202b", "\u2067", "\u200f", "\u061c",
    "🚨", "👩‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "é", "ｌｏｃａｌｈｏｓｔ", "Ω", "𝕀ℂ𝔼", "שיקגו", "شيكاغو", "芝加哥", "\ud7ff",
    "chicago", "Chicago, IL", "chicago-il", "ICE", "raid", "Pilsen", "national guard", "sanctuary",
    "<script>alert(1)</script>", "${jndi:ldap://x}", "{{7*7}}", "%s%s%n", "\\u0000", "&amp;", "&#0;",
]
LONG_FRAGMENTS = ["a" * 6000, "ICE " * 1500, "\u200b" * 6000, "🚨" * 3000, '"' * 6000, "x" * 5999 + "\u202e"]

chars = st.characters(codec="utf-8", exclude_categories=("Cs",))  # JSON cannot carry lone surrogates
piece = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.text(chars, max_size=40),
    st.text(st.sampled_from("\"'*^():-+ \u200b\u202e@#<>[]_~|`\\"), max_size=20),
)
hostile_text = st.one_of(
    st.lists(piece, min_size=1, max_size=12).map("".join),
    st.lists(piece, min_size=1, max_size=12).map(" ".join),
    st.builds(lambda long, tail: long[: 6000 - len(tail)] + tail, st.sampled_from(LONG_FRAGMENTS),
              st.text(chars, max_size=20)),
)


def fit(text: str, max_len: int) -> str:
    """What a Discord client can send for a string option: 1..max_length characters (the
    command declares the max; 6,000-character strings are cut to it, as the client would)."""
    text = text[:max_len]
    return text if text else "?"


# ------------------------------------------------------------------ hostile URLs

INTERNAL_HOSTS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.1", "017700000001",
    "0", "0.0.0.0", "localhost", "LOCALHOST.", "api.localhost", "ｌｏｃａｌｈｏｓｔ", "127。0。0。1",
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "0xa9fea9fe", "100.64.0.1",
    "[::1]", "[::]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[fd00:ec2::254]", "[fe80::1]", "[fc00::1]",
    "[::ffff:169.254.169.254]", "[64:ff9b::7f00:1]", "metadata.google.internal", "example.invalid",
    "xn--e1afmkfd.xn--p1ai", "пример.испытание", "bücher.example", "xn--", "a..b", "-a-.com", "[1:2",
    "%31%32%37.0.0.1", "127.0.0.1%00.example.com", "example.com\\@127.0.0.1",
]  # fmt: skip
schemes = st.one_of(st.sampled_from(["http", "https", "HTTP", "hTtPs", "file", "ftp", "gopher", "javascript",
                                     "data", "dict", "ldap", "ws", "", "http:", "h\u200bttp"]),
                    st.text(st.sampled_from("abcxyz+-.09:"), max_size=8))
ports = st.one_of(st.just(""), st.sampled_from([":80", ":0", ":65535", ":99999", ":-1", ":8080", ":", ":abc"]),
                  st.integers(0, 70000).map(lambda p: f":{p}"))
userinfo = st.one_of(st.just(""), st.sampled_from(["user@", "user:pass@", "example.com@", "@", "a:b:c@",
                                                   "evil.example%40@"]))
hosts = st.one_of(st.sampled_from(INTERNAL_HOSTS), st.text(chars, min_size=1, max_size=30),
                  st.ip_addresses(network="10.0.0.0/8").map(str), st.ip_addresses(network="fd00::/8").map(lambda a: f"[{a}]"),
                  st.integers(0, 2**32 - 1).map(str), st.integers(0, 2**32 - 1).map(hex))
paths = st.one_of(st.just("/"), st.just(""), st.text(chars, max_size=40).map(lambda p: "/" + p),
                  st.sampled_from(["/feed.xml", "/latest/meta-data/", "/#@evil", "/?a=b&c=%00", "/..%2f..%2fetc/passwd"]))
hostile_url = st.one_of(
    st.builds(lambda s, u, h, p, path: f"{s}://{u}{h}{p}{path}", schemes, userinfo, hosts, ports, paths),
    st.builds(lambda s, rest: f"{s}:{rest}", schemes, st.text(chars, max_size=60)),
    hostile_text,
)

# ------------------------------------------------------------------ the bot, once per module


@pytest.fixture(scope="module")
def bt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotThread]:
    thread = BotThread(tmp_path_factory.mktemp("discord-input"), members=(MEMBER_ID,))
    world = thread.start()
    world.standin.rate_limits.enabled = False  # thousands of commands a second; limits are drilled elsewhere
    with thread.trap.installed():
        yield thread
    thread.close()


def check_clean(w: InProcessBot, bt: BotThread, what: str) -> None:
    assert bt.trap.records == [], f"{what}: the bot logged trouble:\n" + "\n".join(bt.trap.texts()[:5])
    assert w.standin.violations == [], [str(v) for v in w.standin.violations[:5]]
    assert w.standin.errors == [], w.standin.errors[:5]


def check_clear(a: Answer, what: str, *, ephemeral: bool = True) -> None:
    from bot.adapters.discordbot.client import GENERIC_APOLOGY

    assert a.text.strip(), f"{what}: empty answer {a.raw}"
    assert GENERIC_APOLOGY not in a.text, f"{what}: the bot hit an unexpected error: {a.text}"
    assert "Traceback" not in a.text and "Error(" not in a.text, f"{what}: {a.text}"
    if ephemeral:
        assert a.ephemeral, f"{what}: not ephemeral: {a.raw}"


async def run_batch(w: InProcessBot, command: str, options: list[dict[str, Any]]) -> list[Answer]:
    handles = [await w.slash("alerts", command, o) for o in options]
    return list(await asyncio.gather(*(answer(h, timeout=20) for h in handles)))


HYP = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])

# ------------------------------------------------------------------ drill 1: /search, /subscribe, /feeds add


@HYP
@given(batch=st.lists(st.tuples(hostile_text, st.one_of(st.none(), hostile_text),
                                st.one_of(st.none(), st.integers(1, 3650))), min_size=30, max_size=40))
def test_search_survives_hostile_text(bt: BotThread, batch: list[tuple[str, str | None, int | None]]) -> None:
    w = bt.world
    assert w is not None
    options = []
    for query, city, days in batch:
        o: dict[str, Any] = {"query": fit(query, 2000)}
        if city is not None:
            o["city"] = fit(city, 100)
        if days is not None:
            o["days"] = days
        options.append(o)
    answers = bt.run(run_batch(w, "search", options))
    for o, a in zip(options, answers, strict=True):
        check_clear(a, f"/search {o!r:.200}")
        # a result, or a clear refusal (empty query, unknown city)
        assert a.text.startswith("Search:") or "city" in a.text.lower() or "words" in a.text.lower(), a.text
    COUNTS["search"] += len(options)
    check_clean(w, bt, "/search")


@HYP
@given(batch=st.lists(hostile_text, min_size=30, max_size=40))
def test_subscribe_survives_hostile_text(bt: BotThread, batch: list[str]) -> None:
    w = bt.world
    assert w is not None
    options = [{"city": fit(city, 100)} for city in batch]
    answers = bt.run(run_batch(w, "subscribe", options))
    for o, a in zip(options, answers, strict=True):
        check_clear(a, f"/subscribe {o!r:.200}")
    COUNTS["subscribe"] += len(options)
    check_clean(w, bt, "/subscribe")


@HYP
@given(batch=st.lists(hostile_url, min_size=30, max_size=40))
def test_feeds_add_survives_hostile_urls(bt: BotThread, batch: list[str]) -> None:
    w = bt.world
    assert w is not None
    options = [{"url": fit(url, 2000)} for url in batch]
    answers = bt.run(run_batch(w, "feeds add", options))
    for o, a in zip(options, answers, strict=True):
        check_clear(a, f"/feeds add {o!r:.200}")
        assert "Feed added" not in a.text, f"{o!r:.200} was accepted: {a.text}"
    assert bt.run(w.store.guild_feeds(str(w.guild_id))) == []
    COUNTS["feeds add"] += len(options)
    check_clean(w, bt, "/feeds add")


def test_zz_fuzz_counts(bt: BotThread) -> None:
    """Runs after the three fuzz tests (file order): how many strings went through."""
    total = sum(COUNTS.values())
    print(f"\ndiscord input drill: {dict(COUNTS)} = {total} hostile strings through the command tree")
    if EXAMPLES >= 120 and len(COUNTS) >= 3:  # all three ran (not a -k selection)
        assert total >= 10_000, COUNTS


# ------------------------------------------------------------------ drill 1b: the CLI


@settings(max_examples=CLI_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.data_too_large, HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])
@given(queries=st.lists(hostile_text, min_size=100, max_size=100))
def test_cli_search_survives_hostile_text(tmp_path_factory: pytest.TempPathFactory, queries: list[str]) -> None:
    """`python -m bot search <query>`: one process per query would take minutes, so each
    example runs one interpreter that calls the CLI entry point for a batch of queries with
    argv as the shell would pass it (NUL cannot be in argv: replaced), checking exit 0 and no
    traceback per query. Plus one real `python -m bot search` process per example."""
    tmp = tmp_path_factory.mktemp("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "CIVIC_ALERTS_"))}
    env.update({"DISCORD_TOKEN": "", "CIVIC_ALERTS_DB": str(tmp / "cli.sqlite3"),
                "CIVIC_ALERTS_CONFIG_DIR": str(PROJECT_ROOT / "config"), "PYTHONPATH": str(PROJECT_ROOT)})
    args = [q.replace("\x00", " ") for q in queries]
    for q in args[:1]:
        proc = subprocess.run([sys.executable, "-m", "bot", "search", q], cwd=tmp, env=env,
                              capture_output=True, timeout=60)
        err = proc.stderr.decode("utf-8", "replace")
        # an unknown --flag is a usage error (exit 2, one line), never search words (issue 16)
        allowed = (0, 2) if q.startswith("--") and " " not in q and q != "--" else (0,)
        assert proc.returncode in allowed and "Traceback" not in err, (q[:200], proc.returncode, err[-2000:])
    driver = (
        "import contextlib, io, json, sys, traceback\n"
        "from bot.cli import main\n"
        "queries = json.load(sys.stdin)\n"
        "bad = []\n"
        "for q in queries:\n"
        "    out, err = io.StringIO(), io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):\n"
        "            code = main(['search', q])\n"
        "    except SystemExit as exc:\n"
        "        code = exc.code\n"
        "    except BaseException:\n"
        "        code = 'raised'; err.write(traceback.format_exc())\n"
        "    option = q.startswith('--') and ' ' not in q and q != '--'  # an unknown flag: a usage error\n"
        "    if code not in ((0, None, 2) if option else (0, None)) or 'Traceback' in err.getvalue():\n"
        "        bad.append([q[:200], str(code), err.getvalue()[-1500:]])\n"
        "print(json.dumps(bad))\n"
    )
    import json

    proc = subprocess.run([sys.executable, "-c", driver], cwd=tmp, env=env, input=json.dumps(args).encode(),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-3000:]
    bad = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert bad == [], bad[:3]
    COUNTS["cli"] += len(args)


# ------------------------------------------------------------------ drill 2: internal destinations

INTERNAL_URLS = [
    "http://127.0.0.1/feed.xml", "http://127.0.0.1:8080/feed", "https://127.0.0.1/",
    "http://10.0.0.1/", "http://10.255.255.254/rss", "http://172.16.0.1/", "http://172.31.255.1/", "http://192.168.0.1/",
    "http://100.64.0.1/", "http://169.254.169.254/latest/meta-data/", "http://169.254.0.1/",
    "http://[fd00:ec2::254]/latest/meta-data/", "http://[::1]/", "http://[::1]:8080/feed", "http://[fc00::1]/",
    "http://[fd12:3456::1]/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/", "http://[::]/",
    "http://0.0.0.0/", "http://0/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
    "http://127.1/", "http://0x7f.0.0.1/", "http://017700000001/", "http://0xa9fea9fe/", "http://2852039166/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:10.0.0.1]/", "http://localhost/", "http://localhost:8080/feed.xml", "http://LOCALHOST./",
    "http://api.localhost/", "http://ｌｏｃａｌｈｏｓｔ/", "http://example.com@127.0.0.1/",
    "file:///etc/passwd", "file://localhost/etc/passwd", "ftp://example.com/feed.xml", "gopher://127.0.0.1:70/",
    "javascript:alert(1)", "data:text/xml,<rss/>", "dict://127.0.0.1:11211/", "ldap://127.0.0.1/",
]  # fmt: skip


def test_feeds_add_refuses_every_internal_destination(bt: BotThread) -> None:
    w = bt.world
    assert w is not None
    answers = bt.run(run_batch(w, "feeds add", [{"url": u} for u in INTERNAL_URLS]))
    for url, a in zip(INTERNAL_URLS, answers, strict=True):
        check_clear(a, url)
        text = a.text.lower()
        assert ("http://" in text and "https://" in text) or "private or internal" in text or "refused" in text, (
            url, a.text)
        assert "feed added" not in text
    assert bt.run(w.store.guild_feeds(str(w.guild_id))) == []
    check_clean(w, bt, "internal destinations")


def test_feeds_add_refuses_redirects_to_internal_destinations(bt: BotThread) -> None:
    """A public-looking first hop that redirects inside, through actions.add_feed — the action
    the /feeds add cog calls — with the fetcher's test hooks: `feeds.example` passes the first
    check (resolver → a public address) and connects to the loopback feed server
    (allowed_hosts); every redirect target is then checked like any hop."""
    w = bt.world
    assert w is not None

    async def drill() -> list[tuple[str, str]]:
        import socket

        import aiohttp
        from aiohttp.abc import AbstractResolver, ResolveResult

        from bot import actions
        from bot.errors import CivicAlertError
        from bot.ingest.fetch import Fetcher, FetchLimits
        from tests.feedserver import FeedServer

        class ToLoopback(AbstractResolver):
            def __init__(self) -> None:
                self.system = aiohttp.ThreadedResolver()

            async def resolve(self, host: str, port: int = 0,
                              family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
                if host.rstrip(".") != "feeds.example":
                    return await self.system.resolve(host, port, family)
                return [ResolveResult(hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET,
                                      proto=0, flags=socket.AI_NUMERICHOST)]

            async def close(self) -> None:
                await self.system.close()

        async def public_name(host: str) -> list[str]:
            return ["93.184.215.14"] if host == "feeds.example" else ["127.0.0.1"]

        out: list[tuple[str, str]] = []
        async with FeedServer() as server:
            port = server.port
            targets = [
                f"http://127.0.0.1:{port}/data/chicago-sample.xml", f"http://localhost:{port}/data/chicago-sample.xml",
                f"http://[::1]:{port}/data/chicago-sample.xml", f"http://2130706433:{port}/data/chicago-sample.xml",
                f"http://0x7f000001:{port}/", f"http://0177.0.0.1:{port}/", f"http://127.1:{port}/",
                "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://10.0.0.1/feed.xml",
                "http://192.168.1.1/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
                "file:///etc/passwd", "ftp://example.com/feed.xml", "gopher://example.com/", "javascript:alert(1)",
                "data:text/xml,<rss/>",
            ]  # fmt: skip
            limits = FetchLimits(total_timeout=3.0)
            async with Fetcher(limits, allow_private=False, allowed_hosts={"feeds.example"},
                               resolver=ToLoopback()) as fetcher:
                control = await actions.add_feed(
                    w.store, w.settings, owner="1", url=f"http://feeds.example:{port}/data/chicago-sample.xml",
                    fetcher=fetcher, resolver=public_name)
                assert control.item_count > 0  # the hooks really reach the loopback server
                await w.store.remove_guild_feed("1", control.feed.url)
                before = server.requests["/data/chicago-sample.xml"]
                for target in targets:
                    from urllib.parse import quote

                    start = f"http://feeds.example:{port}/hostile/redirect?to={quote(target, safe='')}"
                    try:
                        await actions.add_feed(w.store, w.settings, owner=str(w.guild_id), url=start,
                                               fetcher=fetcher, resolver=public_name)
                    except CivicAlertError as exc:
                        out.append((target, exc.user_message))
                    else:
                        out.append((target, "ACCEPTED"))
                assert server.requests["/data/chicago-sample.xml"] == before, "a redirect reached loopback"
        return out

    results = bt.run(drill(), timeout=120)
    for target, message in results:
        assert message != "ACCEPTED", target
        assert "private or internal" in message or "refused" in message or "couldn't fetch" in message, (
            target, message)
    assert bt.run(w.store.guild_feeds(str(w.guild_id))) == []
    check_clean(w, bt, "redirects")


# ------------------------------------------------------------------ drill 3: permissions


def test_members_without_permission_are_refused_and_nothing_changes(bt: BotThread) -> None:
    """/subscribe, /unsubscribe (Manage Channels), /feeds add, /feeds remove (Manage Server),
    invoked by a member whose permissions lack them, with Discord's default-permission gate
    off (a server can override it): the bot's own check must refuse, naming the permission."""
    from tests.standin import Perm

    w = bt.world
    assert w is not None
    basic = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.USE_APPLICATION_COMMANDS | Perm.READ_MESSAGE_HISTORY)
    perms = {
        "Manage Channels": basic | int(Perm.MANAGE_GUILD),  # manage server alone is not enough
        "Manage Server": basic | int(Perm.MANAGE_CHANNELS),
    }

    async def setup() -> None:
        # a clean slate (the fuzz tests subscribed whatever cities they hit), then something to
        # remove, set up by the owner through the same command
        await w.store.remove_group("discord", str(w.guild_id))
        owner = await w.slash("alerts", "subscribe", {"city": "chicago-il"})
        assert "will get alerts" in (await answer(owner)).text
        await w.store.add_guild_feed(str(w.guild_id), "https://feeds.example/rss.xml", "Example")

    async def drill() -> list[tuple[str, Answer]]:
        cases = [
            ("subscribe", {"city": "boston-ma"}, "Manage Channels"),
            ("subscribe", {"city": "chicago-il"}, "Manage Channels"),
            ("unsubscribe", {"city": "chicago-il"}, "Manage Channels"),
            ("feeds add", {"url": "https://feeds.example/other.xml"}, "Manage Server"),
            ("feeds add", {"url": "http://127.0.0.1/"}, "Manage Server"),
            ("feeds remove", {"url": "https://feeds.example/rss.xml"}, "Manage Server"),
        ]
        out = []
        for command, options, needed in cases:
            for member_perms in (basic, perms[needed]):
                h = await w.slash("alerts", command, options, user_id=MEMBER_ID, member_permissions=member_perms,
                                  check_default_permissions=False)
                out.append((f"/{command} {needed} perms={member_perms}", await answer(h)))
        return out

    async def snapshot() -> tuple[list[Any], list[Any]]:
        return (await w.store.subscriptions(platform="discord", group=str(w.guild_id)),
                await w.store.guild_feeds(str(w.guild_id)))

    bt.run(setup())
    before = bt.run(snapshot())
    assert [s.city for s in before[0]] == ["chicago-il"] and len(before[1]) == 1
    results = bt.run(drill())
    for what, a in results:
        check_clear(a, what)
        needed = "Manage Channels" if "Manage Channels" in what else "Manage Server"
        assert needed in a.text and "need" in a.text.lower(), (what, a.text)
    assert len(results) == 12
    assert bt.run(snapshot()) == before
    check_clean(w, bt, "permissions")


