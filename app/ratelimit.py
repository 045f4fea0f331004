"""Rate limits in Valkey, as Mastodon applies them: per token, per IP address without one, and tighter
per-IP limits on signing up and signing in.

Fixed windows: each rule counts requests in a key named for the current window, with INCR and EXPIREAT
sent in one pipeline, so a request costs one round trip however many rules apply. Every response carries
Mastodon's `X-RateLimit-Limit/Remaining/Reset` (Reset as an ISO time); over the limit the answer is 429
`{"error": "Too many requests"}` with `Retry-After`. When Valkey fails, requests go through unlimited
(logged) rather than failing, and Valkey is left alone for a few seconds before the next try.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from redis.exceptions import RedisError

from api.auth import bearer_token
from api.client import client_address
from api.errors import json_error
from api.keys import REDIS
from config import Settings
from core.times import iso
from storage.keys import Valkey, rate_limit_key

log = logging.getLogger("chirp.ratelimit")

EXEMPT_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})
# The web client's static files (content-hashed, cached for a year) and media files (a redirect to S3 each, one
# per picture shown): as a web server or CDN in front would serve them.
EXEMPT_PREFIXES = ("/assets/", "/media/")
SIGN_UP_PATHS = frozenset({"/api/v1/accounts"})
SIGN_IN_PATHS = frozenset({"/oauth/token", "/oauth/authorize"})
VALKEY_TIMEOUT = 0.5  # seconds; a slow Valkey must not slow every request down
BACKOFF_SECONDS = 5.0  # after a failure, requests skip rate limiting this long


@dataclass(frozen=True)
class Rule:
    name: str  # the key: what is counted and whose (e.g. `ip:127.0.0.1`)
    limit: int
    period: int


@dataclass(frozen=True)
class Count:
    rule: Rule
    used: int
    reset_at: float  # UNIX time the window ends

    @property
    def exceeded(self) -> bool:
        return self.used > self.rule.limit

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.rule.limit),
            "X-RateLimit-Remaining": str(max(self.rule.limit - self.used, 0)),
            "X-RateLimit-Reset": iso(datetime.fromtimestamp(self.reset_at, UTC)) or "",
        }


def rules_for(request: web.Request, settings: Settings) -> list[Rule]:
    """The limits a request counts against; the first one's numbers go into the headers of normal responses."""
    ip = client_address(request)
    token = bearer_token(request)
    if token is not None:
        # Counted per token without looking it up: an invalid token is refused by the handler anyway.
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        rules = [Rule(f"token:{digest}", *settings.rate_limit_token)]
    else:
        rules = [Rule(f"ip:{ip}", *settings.rate_limit_ip)]
    if request.method == "POST" and request.path in SIGN_UP_PATHS:
        rules.append(Rule(f"sign_up:{ip}", *settings.rate_limit_sign_up))
    if request.method == "POST" and request.path in SIGN_IN_PATHS:
        rules.append(Rule(f"sign_in:{ip}", *settings.rate_limit_sign_in))
    return rules


async def count_requests(redis: Valkey, rules: list[Rule], now: float) -> list[Count]:
    """Add this request to each rule's current window, all in one round trip."""
    counts: list[tuple[Rule, float]] = []
    async with redis.pipeline(transaction=False) as pipe:
        for rule in rules:
            window = int(now // rule.period)
            reset_at = float((window + 1) * rule.period)
            key = rate_limit_key(rule.name, rule.period, window)
            pipe.incr(key)
            pipe.expireat(key, int(reset_at) + 1)
            counts.append((rule, reset_at))
        replies = await pipe.execute()
    return [Count(rule, int(replies[2 * i]), reset_at) for i, (rule, reset_at) in enumerate(counts)]


def rate_limit_middleware(settings: Settings) -> Middleware:
    """The middleware; it keeps the time until which Valkey is skipped after a failure."""
    skip_until = 0.0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal skip_until
        if request.path in EXEMPT_PATHS or request.path.startswith(EXEMPT_PREFIXES):
            return await handler(request)
        now = time.time()
        counts: list[Count] = []
        if now >= skip_until:
            try:
                async with asyncio.timeout(VALKEY_TIMEOUT):
                    counts = await count_requests(request.app[REDIS], rules_for(request, settings), now)
            except (RedisError, OSError, TimeoutError) as exc:
                skip_until = now + BACKOFF_SECONDS
                log.warning("rate limiting skipped for %.0f s: Valkey failed: %s", BACKOFF_SECONDS, exc)
        exceeded = next((count for count in counts if count.exceeded), None)
        if exceeded is not None:
            retry_after = max(math.ceil(exceeded.reset_at - now), 1)
            return json_error(429, "Too many requests", headers={**exceeded.headers(), "Retry-After": str(retry_after)})
        response = await handler(request)
        if counts and not response.prepared:
            response.headers.update(counts[0].headers())
        return response

    return middleware
