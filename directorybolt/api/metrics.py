"""``GET /api/metrics``: Prometheus text. Two kinds of figures, gathered two ways.

Worker-side figures (queue depths, jobs by status, submissions, errors, live
workers, job durations) are read from the system of record at scrape time by a
custom collector. Counting them inside the workers would need prometheus-client's
multiprocess files in every prefork child on every host, plus an exporter per host
to merge them; PostgreSQL and Redis already hold the exact numbers for the whole
cluster, so one scrape of any API process sees everything, with no state to lose
when a child is recycled. The cost is a handful of aggregate queries per scrape.

The API's own request counters live in this process; with several uvicorn workers
(``PROMETHEUS_MULTIPROC_DIR`` set) they use prometheus-client's multiprocess mode so
any worker's scrape reports all of them.

Metric names are a contract (dashboards and alert rules use them); see docs/api.md.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directorybolt.core.settings import get_settings
from directorybolt.store import db
from directorybolt.store.models import JOB_STATUSES, JOB_TERMINAL, RESULT_STATUSES

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["monitoring"])

KNOWN_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
QUANTILES = (0.5, 0.9, 0.99)

HTTP_REQUESTS = Counter(
    "directorybolt_http_requests_total", "HTTP requests answered by the API.",
    ["method", "route", "status"], registry=None,
)
HTTP_DURATION = Histogram(
    "directorybolt_http_request_duration_seconds", "Time from request to the last byte of the answer.",
    ["method", "route"], buckets=LATENCY_BUCKETS, registry=None,
)

_JOBS_SQL = text("SELECT status, count(*) AS n, count(finished_at) AS finished FROM jobs GROUP BY status")
_RESULTS_SQL = text(
    "SELECT status, error_category, count(*) AS n FROM job_results GROUP BY status, error_category"
)
_SCALARS_SQL = text(
    """
    SELECT (SELECT count(*) FROM dead_letters WHERE state = 'open') AS dlq_depth,
           (SELECT count(*) FROM worker_heartbeats
             WHERE last_heartbeat > now() - make_interval(secs => :stale_s)) AS workers,
           (SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (
                   ORDER BY extract(epoch FROM finished_at - started_at))
              FROM jobs
             WHERE finished_at > now() - interval '1 hour' AND started_at IS NOT NULL) AS durations
    """
)


def route_label(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The route template (``/api/jobs/{job_id}``), never the raw path, so ids do not
    become label values. Requests refused before routing (413, 414, 415) are matched
    here so they still count against their route."""
    route = scope.get("route")
    if route is not None:
        return str(getattr(route, "path", "unmatched"))
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match != Match.NONE:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP answer, including those of the other middlewares."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = list(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            route = route_label(scope, self.routes)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)


class SystemOfRecordCollector(Collector):
    """Cluster-wide figures read from PostgreSQL and Redis at scrape time. A service
    that does not answer drops its families and sets ``directorybolt_metrics_source_up``
    to 0 for it, so the scrape itself still succeeds and alerts can say why."""

    def describe(self) -> list[Metric]:
        return []  # do not query the database when the collector is registered

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("directorybolt_metrics_source_up", "Whether a source answered this scrape.",
                               labels=["source"])
        try:
            families = list(self._database())
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:  # down, or not migrated: either way no figures
            log.warning("metrics: database unavailable: %s", exc)
            families = []
            up.add_metric(["database"], 0)
        try:
            families.append(self._queues())
            up.add_metric(["redis"], 1)
        except RedisError as exc:
            log.warning("metrics: redis unavailable: %s", exc)
            up.add_metric(["redis"], 0)
        yield from families
        yield up

    def _database(self) -> Iterator[Metric]:
        s = get_settings()
        with db.session() as session:
            session.execute(text(f"SET LOCAL statement_timeout = {int(s.api_metrics_timeout_s * 1000)}"))
            job_rows = session.execute(_JOBS_SQL).all()
            result_rows = session.execute(_RESULTS_SQL).all()
            scalars = session.execute(_SCALARS_SQL, {"stale_s": s.stale_after_s}).one()

        by_status = {r.status: r for r in job_rows}
        jobs = GaugeMetricFamily("directorybolt_jobs", "Jobs by current status.", labels=["status"])
        finished = CounterMetricFamily("directorybolt_jobs_finished", "Jobs that finished, by final status.",
                                       labels=["status"])
        for status in JOB_STATUSES:
            row = by_status.get(status)
            jobs.add_metric([status], row.n if row else 0)
            if status in JOB_TERMINAL:
                finished.add_metric([status], row.finished if row else 0)
        yield jobs
        yield finished

        outcomes: dict[str, int] = dict.fromkeys(RESULT_STATUSES, 0)
        categories: dict[str, int] = {}
        for r in result_rows:
            outcomes[r.status] = outcomes.get(r.status, 0) + r.n
            if r.status in ("failed", "needs_review"):
                key = r.error_category or "unknown"
                categories[key] = categories.get(key, 0) + r.n
        submissions = CounterMetricFamily("directorybolt_submissions", "Directory submissions by outcome.",
                                          labels=["outcome"])
        for outcome, n in outcomes.items():
            submissions.add_metric([outcome], n)
        yield submissions
        errors = CounterMetricFamily("directorybolt_submission_errors",
                                     "Failed and needs-review submissions by error category.", labels=["category"])
        for category, n in sorted(categories.items()):
            errors.add_metric([category], n)
        yield errors

        yield GaugeMetricFamily("directorybolt_dlq_depth", "Open dead-letter entries.", value=scalars.dlq_depth)
        yield GaugeMetricFamily("directorybolt_workers", "Workers with a heartbeat within stale_after_s.",
                                value=scalars.workers)
        durations = GaugeMetricFamily(
            "directorybolt_job_duration_seconds",
            "Job run time (finished_at - started_at) of jobs finished in the last hour; NaN when none.",
            labels=["quantile"],
        )
        values: list[Any] = list(scalars.durations or [])
        for q, v in zip(QUANTILES, values or [None] * len(QUANTILES), strict=True):
            durations.add_metric([str(q)], math.nan if v is None else float(v))
        yield durations

    def _queues(self) -> Metric:
        from directorybolt.api.health import probe_redis_client, queue_depths

        global _redis
        if _redis is None:
            _redis = probe_redis_client()
        depth = GaugeMetricFamily("directorybolt_queue_depth", "Messages waiting in a broker queue.",
                                  labels=["queue"])
        for queue, n in queue_depths(_redis).items():
            depth.add_metric([queue], n)
        return depth


_redis: Any = None


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def build_registry() -> CollectorRegistry:
    """The registry a scrape reads: request metrics (merged across uvicorn workers in
    multiprocess mode) plus the system-of-record collector."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import ProcessCollector

        registry.register(HTTP_REQUESTS)
        registry.register(HTTP_DURATION)
        ProcessCollector(registry=registry)
    registry.register(SystemOfRecordCollector())
    return registry


_registry: CollectorRegistry | None = None


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}})
def metrics() -> Response:
    """Prometheus exposition. No authentication and no per-address limit (monitoring)."""
    global _registry
    if _registry is None:
        _registry = build_registry()
    return Response(generate_latest(_registry), media_type=CONTENT_TYPE_LATEST)
