"""Rate limits shared by every API process, kept in Redis by the ``limits`` library.

Moving window: a client that sent 100 requests in the last 60 s is refused until
the oldest of them is 60 s old, with no burst of 2x at a fixed window's edge.
``Retry-After`` is the time until that oldest request leaves the window.

Keys: ``ip`` is the client address (see :func:`client_ip`), ``key`` the API key id,
each namespaced by a scope ("default", or ``METHOD /route`` when a route sets its
own limit) so a route's override has its own counter.

When Redis does not answer (down, or hung: a SIGSTOPped Redis still accepts
connections) the limiter **fails over to per-process limits**, neither open nor
closed: each API process counts the same limits in its own memory (``limits``'
MemoryStorage), so nobody is locked out by a limiter outage and nobody gets more than
``processes x limit`` either. Each Redis round trip has a deadline
(``api_redis_timeout_s``, 0.5 s); after a miss Redis is not asked again for
``api_breaker_cooldown_s`` (5 s), so during an outage a request pays at most one
deadline and usually none. The local counts start from zero when Redis comes back.
The calls are asyncio (``limits.aio`` over ``redis.asyncio``): waiting on Redis holds
no thread, so a hung Redis cannot use up the server's thread pool.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
import weakref
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.aio import storage as aio_storage
from limits.aio import strategies as aio_strategies
from redis.exceptions import RedisError
from starlette.types import Scope

from directorybolt.api.errors import ApiError
from directorybolt.core.deadlines import Breaker
from directorybolt.core.settings import get_settings

log = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def storage_uri(redis_url: str) -> str:
    """``limits`` names a unix socket ``redis+unix://``; redis-py (and runtime) say ``unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+" + redis_url
    return redis_url


@lru_cache(maxsize=64)
def parse_limit(text: str) -> RateLimitItem:
    return parse(text)


@lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip())


def _trusted(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_ip(scope: Scope) -> str:
    """The socket peer, unless it is a trusted proxy: then the right-most
    ``X-Forwarded-For`` entry that is not a trusted proxy. Entries further left were
    written by the client and can be forged; the right-most untrusted one was
    appended by our own proxy and cannot."""
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    networks = trusted_networks(tuple(get_settings().api_trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded = [
        part.strip()
        for k, v in scope.get("headers", [])
        if k == b"x-forwarded-for"
        for part in v.decode("latin-1").split(",")
        if part.strip()
    ]
    for entry in reversed(forwarded):
        if _trusted(entry, networks):
            continue
        try:
            return str(ipaddress.ip_address(entry))
        except ValueError:
            log.debug("ignoring malformed X-Forwarded-For entry %r", entry[:64])
            return peer
    return forwarded[0] if forwarded else peer


class Limiter:
    """Redis-backed moving windows, with a per-process fallback (module docstring).
    One per event loop: redis.asyncio connections belong to the loop that opened them."""

    def __init__(self, redis_url: str, timeout_s: float, cooldown_s: float) -> None:
        self.timeout_s = timeout_s
        storage = aio_storage.RedisStorage(
            "async+" + storage_uri(redis_url), implementation="redispy",
            socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        )
        self.shared = aio_strategies.MovingWindowRateLimiter(storage)
        self.local = aio_strategies.MovingWindowRateLimiter(aio_storage.MemoryStorage())
        self.breaker = Breaker("rate limiter's Redis", cooldown_s)

    async def retry_after(self, limit: str, scope_name: str, kind: str, identity: str) -> int | None:
        """Count one hit; None when allowed, else whole seconds until a slot frees."""
        item = parse_limit(limit)
        keys = (scope_name, kind, identity)
        strategy = self.local
        if not self.breaker.is_open:
            try:
                allowed = await asyncio.wait_for(self.shared.hit(item, *keys), self.timeout_s)
                stats = None if allowed else await asyncio.wait_for(
                    self.shared.get_window_stats(item, *keys), self.timeout_s)
                return None if stats is None else max(1, math.ceil(stats.reset_time - time.time()))
            except (RedisError, OSError, TimeoutError) as exc:
                self.breaker.trip(f"{type(exc).__name__}: {exc}; counting per process meanwhile")
        if await strategy.hit(item, *keys):
            return None
        reset, _remaining = await strategy.get_window_stats(item, *keys)
        return max(1, math.ceil(reset - time.time()))


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Limiter] = weakref.WeakKeyDictionary()


def limiter() -> Limiter:
    loop = asyncio.get_running_loop()
    found = _limiters.get(loop)
    if found is None:
        from directorybolt.store.services import redis_url

        s = get_settings()
        found = _limiters[loop] = Limiter(redis_url(), s.api_redis_timeout_s, s.api_breaker_cooldown_s)
    return found


async def enforce(limit: str, scope_name: str, kind: str, identity: str) -> None:
    """Raise a 429 ApiError when ``identity`` is over ``limit``."""
    wait = await limiter().retry_after(limit, scope_name, kind, identity)
    if wait is not None:
        what = "client address" if kind == "ip" else "API key"
        raise ApiError(
            429, f"rate limit exceeded: {limit} per {what}; retry in {wait} s",
            {"Retry-After": str(wait), "X-RateLimit-Limit": limit}, retry_after=wait,
        )
