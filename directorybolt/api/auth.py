"""Who is calling, and may they: API keys with two roles, plus the rate limits.

Checked by :class:`AuthMiddleware` before routing reads a byte of the body: the size
limits (outside it) come first, then the per-address limit, the key, the role and
the per-key limit. So a 10 MB body is never parsed for a request that gets 401, 403
or 429. The per-address limit is counted before the key is checked, so guessing keys
costs a guesser its request budget like any other request. Staff keys can do
everything a producer key can.

Routes declare what they need with ``Depends(require(role, per_ip=..., per_key=...))``:
the middleware reads that declaration from the matched route, and the dependency
hands the verified key to the route (and documents the schemes in OpenAPI).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from directorybolt.api import ratelimit
from directorybolt.api.errors import ApiError, handler_for
from directorybolt.api.routing import matched_route
from directorybolt.core.settings import get_settings
from directorybolt.store import apikeys
from directorybolt.store.apikeys import KeyInfo

ROLE_RANK = {"producer": 0, "staff": 1}
CHALLENGE = {"WWW-Authenticate": "Bearer"}

# Declared through FastAPI's security classes so the OpenAPI schema documents both
# ways to send a key; auto_error=False because the errors below are more useful.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: <key>")


@dataclass(frozen=True)
class Requirement:
    role: str
    per_ip: str | None = None
    per_key: str | None = None


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
        info = getattr(request.state, "api_key", None)
        if not isinstance(info, KeyInfo) or ROLE_RANK[info.role] < ROLE_RANK[role]:
            # Only when the app runs without AuthMiddleware: never let a route through.
            raise ApiError(401, "request was not authenticated", CHALLENGE)
        return info

    authenticated.requirement = Requirement(role, per_ip, per_key)  # type: ignore[attr-defined]
    return authenticated


def presented_key(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer`` or ``X-API-Key``."""
    bearer = header = None
    for k, v in scope.get("headers", []):
        if k == b"authorization":
            scheme, _, credentials = v.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                bearer = credentials.strip()
        elif k == b"x-api-key":
            header = v.decode("latin-1").strip() or None
    return bearer or header


def route_requirement(route: Any) -> Requirement | None:
    """What a route's ``require(...)`` dependencies ask, router-level ones included:
    the highest role, and the first per-route limits declared."""
    cached = getattr(route, "_auth_requirement", False)
    if cached is not False:
        return cached
    found: list[Requirement] = []
    stack = list(getattr(getattr(route, "dependant", None), "dependencies", []))
    while stack:
        dep = stack.pop(0)
        if isinstance(req := getattr(dep.call, "requirement", None), Requirement):
            found.append(req)
        stack.extend(dep.dependencies)
    merged = None
    if found:
        merged = Requirement(
            max((r.role for r in found), key=ROLE_RANK.__getitem__),
            next((r.per_ip for r in found if r.per_ip), None),
            next((r.per_key for r in found if r.per_key), None),
        )
    route._auth_requirement = merged
    return merged


async def authenticate(scope: Scope, requirement: Requirement, route_path: str) -> KeyInfo:
    s = get_settings()
    overridden = bool(requirement.per_ip or requirement.per_key)
    scope_name = f"{scope['method']} {route_path}" if overridden else "default"
    await ratelimit.enforce(requirement.per_ip or s.api_rate_per_ip, scope_name, "ip", ratelimit.client_ip(scope))
    key = presented_key(scope)
    if not key:
        raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'", CHALLENGE)
    info = await run_in_threadpool(apikeys.verify, key)
    if info is None:
        raise ApiError(401, "invalid or revoked API key", CHALLENGE)
    await ratelimit.enforce(requirement.per_key or s.api_rate_per_key, scope_name, "key", str(info.id))
    if ROLE_RANK[info.role] < ROLE_RANK[requirement.role]:
        raise ApiError(403, f"this route needs a {requirement.role} key; key {info.prefix} is a {info.role} key")
    return info


class AuthMiddleware:
    """Rate limits and API keys for every route that declares ``require(...)``,
    before the route (and FastAPI's body parsing) runs. Pure ASGI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = matched_route(scope)
        requirement = route_requirement(route) if route is not None else None
        if requirement is not None:
            try:
                info = await authenticate(scope, requirement, str(getattr(route, "path", scope["path"])))
            except Exception as exc:
                # Outside the router, so the app's exception handlers are applied here.
                handler = handler_for(scope.get("app"), exc)
                if handler is None:
                    raise
                await (await handler(Request(scope), exc))(scope, receive, send)
                return
            scope.setdefault("state", {})["api_key"] = info
        await self.app(scope, receive, send)
