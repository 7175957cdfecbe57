"""``GET /api/health``: 200 when PostgreSQL and Redis answer, 503 with the same body
when either does not — always within ``health_timeout_s``, never a 500.

Each probe is blocking client code run in a thread and awaited with a timeout. A
probe of a hung service keeps its thread until the client's own socket timeout,
so probes are single-flight: while one is still running, later health checks wait
on that same probe instead of starting another, and a hung database ties up one
thread however often the load balancer asks.

No authentication and no per-address rate limit: monitoring must never be locked
out by the limits it is there to watch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from directorybolt.api.errors import LIMIT_ERRORS
from directorybolt.core.queues import all_queues
from directorybolt.core.settings import get_settings
from directorybolt.queueing import redis_layout
from directorybolt.recovery import liveness
from directorybolt.store import db

T = TypeVar("T")

router = APIRouter(prefix="/api", tags=["monitoring"])

_FIGURES_SQL = text(
    """
    SELECT (SELECT count(*) FROM worker_heartbeats
             WHERE last_heartbeat > now() - make_interval(secs => :stale_s)) AS workers,
           (SELECT count(*) FROM dead_letters WHERE state = 'open') AS dlq_depth
    """
)


def queue_depths(client: Any) -> dict[str, int]:
    """Messages waiting per configured queue (every priority level), one round trip."""
    return redis_layout.queue_depths(client, all_queues())


def probe_redis_client() -> Any:
    """A client whose sockets give up within the health timeout (the shared runtime
    client waits longer, which suits work but not a health check)."""
    import redis

    from directorybolt.store.services import redis_url

    t = get_settings().health_timeout_s
    return redis.Redis.from_url(redis_url(), socket_timeout=t, socket_connect_timeout=t)


def database_figures() -> dict[str, Any]:
    s = get_settings()
    with db.session() as session:
        session.execute(text(f"SET LOCAL statement_timeout = {int(s.health_timeout_s * 1000)}"))
        row = session.execute(_FIGURES_SQL, {"stale_s": s.stale_after_s}).one()
        states = liveness.live_by_state(session)["submissions"]
    return {"workers": int(row.workers), "dlq_depth": int(row.dlq_depth), "worker_states": states}


class SingleFlight(Generic[T]):
    """Runs ``fn`` in a thread, at most one at a time; callers wait with their own timeout."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._task: asyncio.Future[T] | None = None

    async def __call__(self, timeout_s: float) -> T:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(asyncio.to_thread(self._fn))
            # Retrieve a late failure so it is not reported as "never retrieved".
            self._task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.wait_for(asyncio.shield(self._task), timeout_s)


class Probes:
    """The app's probes (kept on ``app.state``: futures belong to one event loop)."""

    def __init__(self) -> None:
        self._redis: Any = None
        self.database = SingleFlight(database_figures)
        self.redis = SingleFlight(self._queue_depths)

    def _queue_depths(self) -> dict[str, int]:
        if self._redis is None:
            self._redis = probe_redis_client()
        return queue_depths(self._redis)


class Health(BaseModel):
    status: str
    workers: int | None
    #: Live worker processes serving submissions, by state: ``degraded`` ones do not take
    #: submissions (their browser does not launch; the circuit breaker, docs/runbook.md).
    worker_states: dict[str, int]
    queue_depth: dict[str, int]
    dlq_depth: int | None
    db_connected: bool
    redis_connected: bool


async def _attempt(probe: SingleFlight[T], timeout_s: float) -> T | None:
    try:
        return await probe(timeout_s)
    except Exception:  # any failure or the timeout means "not connected": that is the answer
        return None


@router.get("/health", response_model=Health,
            responses={503: {"model": Health, "description": "PostgreSQL or Redis does not answer"}, **LIMIT_ERRORS})
async def health(request: Request) -> JSONResponse:
    """Liveness of the backing services, live workers (heartbeat within
    ``stale_after_s``) and how many of those serving submissions are ``ok`` or
    ``degraded``, queue depths and open dead letters."""
    probes: Probes = request.app.state.probes
    timeout = get_settings().health_timeout_s
    figures, depths = await asyncio.gather(_attempt(probes.database, timeout), _attempt(probes.redis, timeout))
    db_ok, redis_ok = figures is not None, depths is not None
    if not (db_ok and redis_ok):
        status = "unavailable"
    elif figures and figures["workers"] == 0:
        status = "degraded"  # jobs are accepted and wait in the queues; nobody works them
    elif figures and figures["worker_states"]["degraded"] and not figures["worker_states"]["ok"]:
        status = "degraded"  # every submission worker's browser is down: submissions wait
    else:
        status = "ok"
    body = Health(
        status=status,
        workers=figures["workers"] if figures else None,
        worker_states=figures["worker_states"] if figures else {},
        queue_depth=depths or {},
        dlq_depth=figures["dlq_depth"] if figures else None,
        db_connected=db_ok,
        redis_connected=redis_ok,
    )
    return JSONResponse(body.model_dump(), status_code=200 if db_ok and redis_ok else 503)
