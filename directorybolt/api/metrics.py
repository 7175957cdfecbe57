"""``GET /api/metrics``: Prometheus text. Two kinds of figures, gathered two ways.

Worker-side figures (queue depths, jobs by status, submissions, errors, live
workers, job durations) are read from the system of record by a custom collector.
Counting them inside the workers would need prometheus-client's multiprocess files
in every prefork child on every host, plus an exporter per host to merge them;
PostgreSQL and Redis already hold the exact numbers for the whole cluster, so one
scrape of any API process sees everything, with no state to lose when a child is
recycled.

Those aggregates scan ``job_results``, which grows without bound, so a scrape never
runs them: it serves the last snapshot, and a snapshot older than
``metrics_snapshot_ttl_s`` (15 s) is refreshed in a background thread, one at a
time. A scrape costs the same on 1,000 rows or 1,000,000 (docs/benchmarks.md,
``bench/metrics_scrape.py``); the database sees at most one set of aggregates per
TTL per API process, however often or however many clients scrape. Only the first
scrape after start waits for a snapshot (at most ``api_metrics_timeout_s``).
``directorybolt_metrics_snapshot_age_seconds`` says how old the figures are.

Access: the figures are business data, so ``/api/metrics`` needs the bearer token
``metrics_token`` (what Prometheus sends) or a staff API key; 401 otherwise.

The API's own request counters live in this process; with several uvicorn workers
(``PROMETHEUS_MULTIPROC_DIR`` set) they use prometheus-client's multiprocess mode so
any worker's scrape reports all of them.

Metric names are a contract (dashboards and alert rules use them); see docs/api.md.
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directorybolt.api.auth import CHALLENGE, presented_key
from directorybolt.api.errors import LIMIT_ERRORS, ApiError, ErrorBody
from directorybolt.core.settings import get_settings
from directorybolt.recovery import liveness
from directorybolt.store import apikeys, db
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
#: Rows waiting for a person (the review queue, open or claimed) by tier, and the oldest's age.
_REVIEW_SQL = text(
    """
    SELECT j.tier, count(*) AS n,
           EXTRACT(epoch FROM now() - min(COALESCE(r.finished_at, r.updated_at)))::float AS oldest
    FROM job_results r JOIN jobs j ON j.id = r.job_id WHERE r.status = 'needs_review' GROUP BY j.tier
    """
)
_SCALARS_SQL = text(
    """
    SELECT (SELECT count(*) FROM dead_letters WHERE state = 'open') AS dlq_depth,
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
    """Cluster-wide figures read from PostgreSQL and Redis, served from a snapshot
    (module docstring). A service that does not answer drops its families and sets
    ``directorybolt_metrics_source_up`` to 0 for it, so the scrape still succeeds and
    alerts can say why."""

    def __init__(self, ttl_s: float | None = None, wait_s: float | None = None) -> None:
        s = get_settings()
        self.ttl_s = s.metrics_snapshot_ttl_s if ttl_s is None else ttl_s
        self.wait_s = s.api_metrics_timeout_s if wait_s is None else wait_s
        self._families: list[Metric] | None = None
        self._taken = 0.0
        self._lock = threading.Lock()
        self._refresh: threading.Thread | None = None

    def describe(self) -> list[Metric]:
        return []  # do not query the database when the collector is registered

    def collect(self) -> Iterator[Metric]:
        if self.ttl_s <= 0:  # no snapshot: every scrape reads the sources (tests)
            self._take()
        elif self._families is None or time.monotonic() - self._taken > self.ttl_s:
            refresh = self._start_refresh()
            if self._families is None:
                refresh.join(self.wait_s)
        families, taken = self._families, self._taken
        yield from families or []
        yield GaugeMetricFamily("directorybolt_metrics_snapshot_age_seconds",
                                "Age of the system-of-record figures in this scrape.",
                                value=time.monotonic() - taken if families is not None else math.nan)

    def _start_refresh(self) -> threading.Thread:
        with self._lock:
            if self._refresh is None or not self._refresh.is_alive():
                self._refresh = threading.Thread(target=self._take, name="metrics-snapshot", daemon=True)
                self._refresh.start()
            return self._refresh

    def _take(self) -> None:
        self._families = self.read_now()
        self._taken = time.monotonic()

    def read_now(self) -> list[Metric]:
        """Every figure, straight from the sources (what each scrape used to cost)."""
        up = GaugeMetricFamily("directorybolt_metrics_source_up", "Whether a source answered this scrape.",
                               labels=["source"])
        try:
            families = list(self._database())
            up.add_metric(["database"], 1)
        except SQLAlchemyError as exc:  # down, or not migrated: either way no figures
            log.warning("metrics: database unavailable: %s", str(exc).splitlines()[0][:300])
            families = []
            up.add_metric(["database"], 0)
        try:
            families.append(self._queues())
            up.add_metric(["redis"], 1)
        except RedisError as exc:
            log.warning("metrics: redis unavailable: %s", exc)
            up.add_metric(["redis"], 0)
        return [*families, up]

    def _database(self) -> Iterator[Metric]:
        s = get_settings()
        with db.session() as session:
            session.execute(text(f"SET LOCAL statement_timeout = {int(s.api_metrics_timeout_s * 1000)}"))
            job_rows = session.execute(_JOBS_SQL).all()
            result_rows = session.execute(_RESULTS_SQL).all()
            scalars = session.execute(_SCALARS_SQL).one()
            review_rows = {r.tier: r for r in session.execute(_REVIEW_SQL).all()}
            worker_states = liveness.live_by_state(session)

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

        yield from _review_families(review_rows)
        yield GaugeMetricFamily("directorybolt_dlq_depth", "Open dead-letter entries.", value=scalars.dlq_depth)
        workers = GaugeMetricFamily(
            "directorybolt_workers",
            "Worker processes with a heartbeat within stale_after_s, by role (submissions, maintenance) and "
            "state (degraded: the circuit breaker keeps it from taking submissions).", labels=["role", "state"])
        for role, states in sorted(worker_states.items()):
            for state, n in sorted(states.items()):
                workers.add_metric([role, state], n)
        yield workers
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


def _review_families(rows: dict[str, Any]) -> Iterator[Metric]:
    """The review queue per tier, with each tier's promised turnaround beside it so an
    alert compares the two without hard-coding the promise."""
    tiers = get_settings().tiers
    depth = GaugeMetricFamily("directorybolt_review_open", "Review items not yet resolved (open or claimed).",
                              labels=["tier"])
    oldest = GaugeMetricFamily("directorybolt_review_oldest_seconds",
                               "Age of the oldest unresolved review item; 0 when none.", labels=["tier"])
    promise = GaugeMetricFamily("directorybolt_review_turnaround_seconds",
                                "How long a review item of this tier may wait (the promised turnaround).",
                                labels=["tier"])
    for tier, spec in tiers.items():
        row = rows.get(tier)
        depth.add_metric([tier], row.n if row else 0)
        oldest.add_metric([tier], float(row.oldest or 0) if row else 0.0)
        promise.add_metric([tier], spec.review_turnaround_s)
    yield from (depth, oldest, promise)


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


async def metrics_access(request: Request) -> None:
    """The metrics token (``Authorization: Bearer <metrics_token>``) or a staff key."""
    presented = presented_key(request.scope)
    token = get_settings().metrics_token
    if presented and token is not None and hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
        return
    if not presented:
        raise ApiError(401, "metrics need the metrics token or a staff key: 'Authorization: Bearer <token>'",
                       CHALLENGE)
    info = await run_in_threadpool(apikeys.verify, presented)
    if info is None:
        raise ApiError(401, "invalid metrics token or API key", CHALLENGE)
    if info.role != "staff":
        raise ApiError(403, f"metrics need the metrics token or a staff key; key {info.prefix} is a {info.role} key")


@router.get("/metrics", response_class=Response, dependencies=[Depends(metrics_access)],
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"},
                       401: {"model": ErrorBody, "description": "no or wrong token/key"},
                       403: {"model": ErrorBody, "description": "a producer key"},
                       503: {"model": ErrorBody, "description": "the database does not answer (key check)"},
                       **LIMIT_ERRORS})
def metrics() -> Response:
    """Prometheus exposition, from a snapshot at most ``metrics_snapshot_ttl_s`` old.
    Needs the metrics token or a staff key; no per-address limit (monitoring)."""
    global _registry
    if _registry is None:
        _registry = build_registry()
    return Response(generate_latest(_registry), media_type=CONTENT_TYPE_LATEST)
