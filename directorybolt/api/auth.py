"""Who is calling, and may they: API keys with two roles, plus the rate limits.

The per-address limit is counted before the key is checked, so guessing keys costs
a guesser its request budget like any other request. Staff keys can do everything
a producer key can.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from directorybolt.api import ratelimit
from directorybolt.api.errors import ApiError
from directorybolt.core.settings import get_settings
from directorybolt.store import apikeys
from directorybolt.store.apikeys import KeyInfo

ROLE_RANK = {"producer": 0, "staff": 1}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}

# Declared through FastAPI's security classes so the OpenAPI schema documents both
# ways to send a key; auto_error=False because the errors below are more useful.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")


def require(role: str, *, per_ip: str | None = None, per_key: str | None = None) -> Callable[..., KeyInfo]:
    """A dependency admitting keys of ``role`` or above. ``per_ip``/``per_key``
    override the settings' limits for this route, with counters of their own."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role!r}")

    def authenticated(
        request: Request,
        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
        header_key: str | None = Depends(_header),
    ) -> KeyInfo:
        s = get_settings()
        scope_name = _override_scope(request) if (per_ip or per_key) else "default"
        ratelimit.enforce(per_ip or s.api_rate_per_ip, scope_name, "ip", ratelimit.client_ip(request.scope))
        key = bearer.credentials if bearer else header_key
        if not key:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", _CHALLENGE)
        info = apikeys.verify(key.strip())
        if info is None:
            raise ApiError(401, "invalid or revoked API key", _CHALLENGE)
        ratelimit.enforce(per_key or s.api_rate_per_key, scope_name, "key", str(info.id))
        if ROLE_RANK[info.role] < ROLE_RANK[role]:
            raise ApiError(403, f"this route needs a {role} key; key {info.prefix} is a {info.role} key")
        request.state.api_key = info
        return info

    return authenticated


def _override_scope(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"
