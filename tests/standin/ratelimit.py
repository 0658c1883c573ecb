"""Discord-style rate limits: a global per-token limit and per-route buckets.

https://discord.com/developers/docs/topics/rate-limits — every response carries
X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket; a 429 carries a JSON body
{"message", "retry_after", "global"} plus X-RateLimit-Scope, Retry-After, and (from Cloudflare's
edge) ``Via: 1.1 google`` — discord.py treats a 429 without ``Via`` as a Cloudflare ban.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field


@dataclass
class RateLimitConfig:
    """Tunable per test: ``standin.rate_limits.enabled = False`` or ``.channel_messages = (2, 1.0)``."""

    enabled: bool = True
    global_limit: int = 50
    global_window: float = 1.0
    channel_messages: tuple[int, float] = (5, 5.0)  # POST /channels/{id}/messages, per channel
    message_edits: tuple[int, float] = (5, 5.0)  # PATCH/DELETE /channels/{id}/messages/{id}, per channel
    interaction_webhooks: tuple[int, float] = (5, 2.0)  # follow-ups, per interaction token
    default_route: tuple[int, float] = (50, 1.0)
    routes: dict[str, tuple[int, float]] = field(default_factory=dict)  # bucket name → (limit, per)

    def limits_for(self, bucket: str) -> tuple[int, float]:
        if bucket in self.routes:
            return self.routes[bucket]
        return {
            "messages.create": self.channel_messages,
            "messages.edit": self.message_edits,
            "webhooks.interaction": self.interaction_webhooks,
        }.get(bucket, self.default_route)


@dataclass
class _Window:
    limit: int
    per: float
    remaining: int
    reset_at: float  # time.time()


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str]
    retry_after: float = 0.0
    is_global: bool = False
    scope: str = "user"


def bucket_hash(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, config: RateLimitConfig) -> None:
        self.config = config
        self._buckets: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None
        self.hits: list[tuple[str, str, float, bool]] = []  # (bucket, major, retry_after, global)

    def reset(self) -> None:
        self._buckets.clear()
        self._global = None

    def check_global(self, now: float | None = None) -> Decision | None:
        """None when allowed; a 429 decision when the bot exceeded the global limit."""
        if not self.config.enabled:
            return None
        now = time.time() if now is None else now
        g = self._global
        if g is None or now >= g.reset_at or g.limit != self.config.global_limit:
            g = self._global = _Window(
                self.config.global_limit, self.config.global_window, self.config.global_limit, now + self.config.global_window
            )
        if g.remaining <= 0:
            retry = max(g.reset_at - now, 0.001)
            self.hits.append(("global", "", retry, True))
            return Decision(False, global_429_headers(retry), retry, True, "global")
        g.remaining -= 1
        return None

    def check_route(self, bucket: str, major: str, now: float | None = None) -> Decision:
        limit, per = self.config.limits_for(bucket)
        now = time.time() if now is None else now
        key = (bucket, major)
        w = self._buckets.get(key)
        if w is None or now >= w.reset_at or w.limit != limit:
            w = self._buckets[key] = _Window(limit, per, limit, now + per)
        reset_after = max(w.reset_at - now, 0.0)
        if self.config.enabled and w.remaining <= 0:
            self.hits.append((bucket, major, reset_after, False))
            headers = route_headers(bucket, w.limit, 0, w.reset_at, reset_after)
            headers.update(
                {"X-RateLimit-Scope": "user", "Retry-After": str(math.ceil(reset_after)), "Via": "1.1 google"}
            )
            return Decision(False, headers, max(reset_after, 0.001), False, "user")
        if self.config.enabled:
            w.remaining -= 1
        return Decision(True, route_headers(bucket, w.limit, max(w.remaining, 0), w.reset_at, reset_after))


def route_headers(bucket: str, limit: int, remaining: int, reset_at: float, reset_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{reset_at:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket_hash(bucket),
    }


def global_429_headers(retry_after: float) -> dict[str, str]:
    return {
        "X-RateLimit-Global": "true",
        "X-RateLimit-Scope": "global",
        "Retry-After": str(math.ceil(retry_after)),
        "Via": "1.1 google",
    }


def rate_limit_body(retry_after: float, is_global: bool) -> dict[str, object]:
    return {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": is_global}
