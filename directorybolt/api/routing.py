"""Which route a request is for, seen from middleware that runs before routing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.routing import Match
from starlette.types import Scope


def iter_routes(routes: list[Any]) -> Iterator[Any]:
    """Every endpoint route, looking into included routers (FastAPI keeps those as
    branches; ours carry their full prefix, see ``create_app``)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_routes(inner.routes)
        else:
            yield route


def app_routes(scope: Scope) -> Iterator[Any]:
    return iter_routes(getattr(getattr(scope.get("app"), "router", None), "routes", []))


def matched_route(scope: Scope) -> Any | None:
    """The route this request goes to or, for a method the path does not serve, the
    first route on its path."""
    partial = None
    for route in app_routes(scope):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return partial


def allowed_methods(scope: Scope) -> list[str]:
    """Every method some route serves on this path. Starlette names only the first
    route that matched, so ``DELETE /dlq/{id}`` was missing from the Allow of
    ``GET /dlq/{id}``."""
    methods: set[str] = set()
    for route in app_routes(scope):
        served = getattr(route, "methods", None) or set()
        if any(route.matches({**scope, "method": m})[0] == Match.FULL for m in served):
            methods |= served
    return sorted(methods)
