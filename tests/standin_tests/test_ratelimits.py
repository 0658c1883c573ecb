"""Rate limits and injected faults as discord.py experiences them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import discord
import pytest

from tests.standin import DiscordStandIn, RateLimitConfig

from .conftest import World


async def test_429_with_retry_after_is_retried(world: World, client: Any) -> None:
    s = world.standin
    rule = s.faults.fail_next("POST", r"/channels/\d+/messages$", 429, retry_after=0.3)
    t0 = time.monotonic()
    msg = await client.get_channel(world.alerts).send("after a 429")
    assert time.monotonic() - t0 >= 0.3
    assert rule.hits == 1 and msg.id
    assert s.rate_limit_hits == [("fault", f"/channels/{world.alerts}/messages", 0.3, False)]
    posts = s.requests_to("POST", r"/messages$")
    assert [r.status for r in posts] == [429, 200]
    assert len(s.messages(world.alerts)) == 1


async def test_429_headers_and_body_are_discords(world: World) -> None:
    s = world.standin
    s.rate_limits.channel_messages = (1, 5.0)
    url = f"{s.api_base}/channels/{world.alerts}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {s.token}"}) as http:
        async with http.post(url, json={"content": "1"}) as ok:
            assert ok.status == 200
            assert ok.headers["X-RateLimit-Limit"] == "1" and ok.headers["X-RateLimit-Remaining"] == "0"
            assert float(ok.headers["X-RateLimit-Reset-After"]) > 4
            bucket = ok.headers["X-RateLimit-Bucket"]
        async with http.post(url, json={"content": "2"}) as limited:
            assert limited.status == 429
            assert limited.headers["Content-Type"] == "application/json"
            assert limited.headers["Via"] == "1.1 google" and limited.headers["X-RateLimit-Scope"] == "user"
            assert limited.headers["X-RateLimit-Bucket"] == bucket
            body = await limited.json()
            assert body["global"] is False and 4 < body["retry_after"] <= 5
        # another channel has its own bucket
        other = f"{s.api_base}/channels/{world.noembed}/messages"
        async with http.post(other, json={"content": "x"}) as ok2:
            assert ok2.status == 200


async def test_per_channel_bucket_paces_discord_py(world: World, client: Any) -> None:
    s = world.standin
    s.rate_limits.channel_messages = (2, 0.5)
    channel = client.get_channel(world.alerts)
    t0 = time.monotonic()
    await asyncio.gather(*(channel.send(f"m{i}") for i in range(6)))
    elapsed = time.monotonic() - t0
    assert len(s.messages(world.alerts)) == 6
    assert elapsed >= 0.9  # 6 messages at 2 per 0.5 s: at least two resets


async def test_global_limit_429_is_retried(world: World, client: Any) -> None:
    s = world.standin
    s.rate_limits.global_limit = 5
    s.rate_limits.global_window = 0.5
    results = await asyncio.gather(*(client.fetch_channel(world.alerts) for _ in range(12)))
    assert len(results) == 12
    assert any(g for (_, _, _, g) in s.rate_limit_hits)
    limited = [r for r in s.requests if r.status == 429]
    assert limited  # discord.py saw global 429s and retried after retry_after


async def test_rate_limit_storm_then_recovery(world: World, client: Any) -> None:
    s = world.standin
    s.faults.rate_limit_storm(0.5, retry_after=0.3)
    msg = await client.get_channel(world.alerts).send("through the storm")
    assert msg.id
    assert any(r.status == 429 for r in s.requests)
    assert [h[0] for h in s.rate_limit_hits][:1] == ["storm"]


async def test_fail_next_500_is_retried_and_403_is_not(world: World, client: Any) -> None:
    s = world.standin
    s.faults.fail_next("GET", r"/channels/\d+$", 500)
    ch = await client.fetch_channel(world.alerts)
    assert ch.id == world.alerts
    s.faults.fail_next("POST", r"/messages$", 403, code=50013, message="Missing Permissions")
    with pytest.raises(discord.Forbidden) as exc:
        await client.get_channel(world.alerts).send("x")
    assert exc.value.code == 50013


async def test_rate_limits_can_be_switched_off(world: World) -> None:
    s = world.standin
    s.rate_limits.enabled = False
    url = f"{s.api_base}/channels/{world.alerts}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {s.token}"}) as http:
        for i in range(60):
            async with http.post(url, json={"content": str(i)}) as resp:
                assert resp.status == 200
    assert len(s.messages(world.alerts)) == 60


async def test_fanout_benchmark_1000_messages_validated_fast() -> None:
    """1,000 messages with 3 embeds each over 100 channels: validated and recorded quickly."""
    from tests.standin.fixtures import require_openapi

    require_openapi()
    async with DiscordStandIn(rate_limits=RateLimitConfig(enabled=False)) as s:
        guild = s.add_guild("Big", channels=[f"c{i}" for i in range(100)])
        ids = list(guild.channel_ids.values())
        embed = {"title": "t" * 200, "description": "d" * 1200, "url": "https://example.org/x",
                 "timestamp": "2026-11-26T00:00:00+00:00", "color": 0x3366FF,
                 "fields": [{"name": "Where", "value": "Chicago, IL", "inline": True}], "footer": {"text": "why"}}
        body = {"embeds": [embed] * 3, "allowed_mentions": {"parse": []}, "nonce": "x", "enforce_nonce": False}
        t0 = time.monotonic()
        conn = aiohttp.TCPConnector(limit=20)
        async with aiohttp.ClientSession(connector=conn, headers={"Authorization": f"Bot {s.token}"}) as http:

            async def post(i: int) -> int:
                async with http.post(f"{s.api_base}/channels/{ids[i % 100]}/messages", json=body) as r:
                    return r.status

            statuses = await asyncio.gather(*(post(i) for i in range(1000)))
        elapsed = time.monotonic() - t0
        assert set(statuses) == {200}
        assert sum(len(s.messages(c)) for c in ids) == 1000
        assert s.violations == []
        assert elapsed < 20, f"1,000 validated messages took {elapsed:.1f}s"


async def test_cloudflare_429_is_not_retried_by_discord_py(world: World, client: Any) -> None:
    s = world.standin
    s.faults.fail_next("POST", r"/messages$", 429, cloudflare=True)
    with pytest.raises(discord.HTTPException) as exc:
        await client.get_channel(world.alerts).send("banned?")
    assert exc.value.status == 429
    assert [r.status for r in s.requests_to("POST", r"/messages$")] == [429]  # no retry
