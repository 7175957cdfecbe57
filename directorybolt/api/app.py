"""The FastAPI application. ``create_app()`` is the uvicorn factory
(``directorybolt.api.app:create_app``), so each uvicorn worker builds its own app,
with its own database pool and Redis clients, after it starts.

Middleware, outermost first: metrics (so every answer is counted, refusals
included) → request id and last-resort 500 → head, size, URL and content-type
limits → rate limits and API keys (:mod:`directorybolt.api.auth`) → FastAPI's
routing, which parses a body only after all of those passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from directorybolt.api import (
    console,
    errors,
    health,
    metrics,
    routes_admin,
    routes_jobs,
    routes_orders,
    routes_reviews,
    routes_webhooks,
)
from directorybolt.api.auth import AuthMiddleware
from directorybolt.api.errors import ErrorMiddleware
from directorybolt.api.limits_middleware import RequestLimitsMiddleware
from directorybolt.api.metrics import MetricsMiddleware
from directorybolt.queueing import intake

API_PREFIX = "/api"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from directorybolt.ops.sentry import init_sentry
    from directorybolt.store import db

    init_sentry("api")
    await anyio.to_thread.run_sync(intake.warm_up)  # the first job must not pay the imports
    yield
    db.dispose()


def create_app() -> FastAPI:
    app = FastAPI(
        title="DirectoryBolt API",
        version="1",
        summary="Submit a business listing to online directories; inspect jobs, queues and the dead-letter queue.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the interactive pages load scripts from a CDN; the schema is enough
        redoc_url=None,
        lifespan=lifespan,
        # Starlette's trailing-slash redirect builds its Location from the Host header.
        redirect_slashes=False,
    )
    app.state.probes = health.Probes()
    errors.install(app)
    # Each router carries its full prefix, so a route's ``path`` is the template the
    # metrics label with (a prefix given to include_router is not part of it).
    routers = (routes_jobs.router, routes_admin.router, routes_reviews.router, routes_orders.router,
               routes_webhooks.router, health.router, metrics.router)
    for router in routers:
        app.include_router(router)
    console.install(app)
    # add_middleware puts each new layer outside the previous ones.
    app.add_middleware(AuthMiddleware)
    app.add_middleware(RequestLimitsMiddleware)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(MetricsMiddleware, routes=[route for router in (*routers, *console.ROUTERS)
                                                 for route in router.routes])
    return app
