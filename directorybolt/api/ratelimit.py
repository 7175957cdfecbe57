"""Rate limits shared by every API process, kept in Redis by the ``limits`` library.

Moving window: a client that sent 100 requests in the last 60 s is refused until
the oldest of them is 60 s old, with no burst of 2x at a fixed window's edge.
``Retry-After`` is the time until that oldest request leaves the window.

Keys: ``ip`` is the client address (see :func:`client_ip`), ``key`` the API key id,
each namespaced by a scope ("default", or ``METHOD /route`` when a route sets its
own limit) so a route's override has its own counter.

When Redis does not answer the limiter lets requests through and logs it: limits
protect capacity, and refusing every request because the limiter is down would
turn a Redis blip into a full outage (the routes that need Redis fail on their own).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from functools import lru_cache

from limits import RateLimitItem, parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError
from starlette.types import Scope

from directorybolt.api.errors import ApiError
from directorybolt.core.settings import get_settings

log = logging.getLogger(__name__)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: Seconds between two "limiter unavailable" warnings, so an outage does not flood the log.
WARN_EVERY_S = 60.0


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
    """One Redis-backed moving-window limiter per process (redis-py pools connections
    and is thread-safe, and sync routes run in a thread pool)."""

    def __init__(self, redis_url: str, timeout_s: float) -> None:
        storage = RedisStorage(
            storage_uri(redis_url), socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        )
        self.strategy = MovingWindowRateLimiter(storage)
        self._last_warning = 0.0

    def retry_after(self, limit: str, scope_name: str, kind: str, identity: str) -> int | None:
        """Count one hit; None when allowed, else whole seconds until a slot frees."""
        item = parse_limit(limit)
        try:
            if self.strategy.hit(item, scope_name, kind, identity):
                return None
            reset, _remaining = self.strategy.get_window_stats(item, scope_name, kind, identity)
        except RedisError as exc:  # fail open, see the module docstring
            self._warn(exc)
            return None
        return max(1, math.ceil(reset - time.time()))

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > WARN_EVERY_S:
            self._last_warning = now
            log.warning("rate limiter unavailable, letting requests through: %s", exc)


_limiter: Limiter | None = None
_lock = threading.Lock()


def limiter() -> Limiter:
    global _limiter
    if _limiter is None:
        with _lock:
            if _limiter is None:
                from directorybolt.store.services import redis_url

                _limiter = Limiter(redis_url(), get_settings().health_timeout_s)
    return _limiter


def enforce(limit: str, scope_name: str, kind: str, identity: str) -> None:
    """Raise a 429 ApiError when ``identity`` is over ``limit``."""
    wait = limiter().retry_after(limit, scope_name, kind, identity)
    if wait is not None:
        what = "client address" if kind == "ip" else "API key"
        raise ApiError(
            429, f"rate limit exceeded: {limit} per {what}; retry in {wait} s",
            {"Retry-After": str(wait), "X-RateLimit-Limit": limit}, retry_after=wait,
        )
