"""Health (bounded, 503 not 500 when a service is down) and Prometheus metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from directorybolt.cli import seed
from directorybolt.core.queues import all_queues
from directorybolt.lifecycle import jobs, results
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from directorybolt.recovery.dlq import Failure
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult, WorkerHeartbeat
from tests.api.conftest import METRICS_AUTH, Keys, free_port
from tests.api.test_jobs import DIRECTORIES

HEALTH_FIELDS = {"status", "workers", "worker_states", "queue_depth", "dlq_depth", "db_connected",
                 "redis_connected"}


def _timed_get(url: str) -> tuple[float, object]:
    import httpx

    t0 = time.monotonic()
    r = httpx.get(url, timeout=10)
    return time.monotonic() - t0, r


def test_health_ok_with_every_field(api, clean):
    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id="w1@host:1", hostname="host", pid=1))
        s.add(WorkerHeartbeat(worker_id="w2@host:2", hostname="host", pid=2,
                              last_heartbeat=datetime.now(UTC) - timedelta(hours=1)))
    elapsed, r = _timed_get(f"{api.url}/api/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == HEALTH_FIELDS
    assert body["status"] == "ok" and body["db_connected"] and body["redis_connected"]
    assert body["workers"] == 1  # the stale one does not count
    assert set(body["queue_depth"]) == set(all_queues()) and body["dlq_depth"] == 0
    assert elapsed < 2


def test_health_shows_degraded_workers(api, clean):
    """Workers whose circuit breaker is open are counted apart; when no submission
    worker is ok the cluster is degraded (submissions wait), still 200."""
    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id="h:1:a", hostname="h", pid=1, state="degraded"))
        s.add(WorkerHeartbeat(worker_id="h:2:a", hostname="h", pid=2, role="maintenance"))
    body = _timed_get(f"{api.url}/api/health")[1].json()
    assert body["worker_states"] == {"ok": 0, "degraded": 1} and body["workers"] == 2
    assert body["status"] == "degraded"
    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id="h:3:a", hostname="h", pid=3))
    body = _timed_get(f"{api.url}/api/health")[1].json()
    assert body["worker_states"] == {"ok": 1, "degraded": 1} and body["status"] == "ok"


def test_health_without_live_workers_is_degraded_but_200(api, clean):
    r = _timed_get(f"{api.url}/api/health")[1]
    assert r.status_code == 200 and r.json()["status"] == "degraded" and r.json()["workers"] == 0


def test_health_503_when_redis_is_unreachable(start_api, clean):
    server = start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    elapsed, r = _timed_get(f"{server.url}/api/health")
    assert r.status_code == 503, r.text
    body = r.json()
    assert set(body) == HEALTH_FIELDS
    assert body["redis_connected"] is False and body["db_connected"] is True and body["status"] == "unavailable"
    assert body["queue_depth"] == {} and body["workers"] == 0
    assert elapsed < 2


def test_health_503_when_redis_dies_under_a_running_api(start_api, clean, tmp_path):
    import subprocess

    import redis

    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        server = start_api(redis_url=f"redis://127.0.0.1:{port}/0")
        assert _timed_get(f"{server.url}/api/health")[1].status_code == 200
    finally:
        proc.kill()
        proc.wait()
    elapsed, r = _timed_get(f"{server.url}/api/health")
    assert r.status_code == 503 and r.json()["redis_connected"] is False
    assert elapsed < 2


def test_health_503_when_the_database_is_unreachable(start_api, clean):
    server = start_api(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    for _ in range(3):  # repeated checks stay bounded too
        elapsed, r = _timed_get(f"{server.url}/api/health")
        assert r.status_code == 503, r.text
        body = r.json()
        assert set(body) == HEALTH_FIELDS
        assert body["db_connected"] is False and body["redis_connected"] is True
        assert body["workers"] is None and body["dlq_depth"] is None
        assert elapsed < 2
    # Other routes answer 503 too, never 500.
    import httpx

    r = httpx.get(f"{server.url}/api/jobs/00000000-0000-0000-0000-000000000001",
                  headers={"X-API-Key": "dbk_00000000_x"}, timeout=10)
    assert r.status_code == 503 and r.headers["Retry-After"]
    m = httpx.get(f"{server.url}/api/metrics", headers=METRICS_AUTH, timeout=10)
    assert m.status_code == 200 and 'directorybolt_metrics_source_up{source="database"} 0.0' in m.text


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_names_and_values(start_api, keys, customer_id):
    api = start_api(metrics_snapshot_ttl_s=0)  # figures read at scrape time, not from a snapshot
    seed.upsert_directories(DIRECTORIES)
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="pro", directories=["alpha", "beta"])
        jobs.start_job(s, job.id)
        s.execute(update(JobResult).where(JobResult.directory_id == "alpha").values(status="submitted"))
        s.execute(update(JobResult).where(JobResult.directory_id == "beta").values(
            status="needs_review", error_category="captcha"))
        results.finalize(s, job.id)
        s.execute(update(Job).where(Job.id == job.id).values(
            started_at=datetime.now(UTC) - timedelta(seconds=40), finished_at=datetime.now(UTC)))
        pending, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        s.add(WorkerHeartbeat(worker_id="w@h:1", hostname="h", pid=1))
        job_id = job.id
    dlq.dead_letter(Failure("tasks.submission.submit_directory", "t1", [str(job_id), "beta"], {"tier_queue": "x"},
                            "submissions.pro", RuntimeError("boom"), None, 4), HANDOFF)
    with api.client() as c:
        c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(keys.staff))
        c.get("/api/jobs/" + "x" * 3000)
        r = c.get("/api/metrics", headers=METRICS_AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)
    assert m[("directorybolt_jobs", (("status", "partial"),))] == 1
    assert m[("directorybolt_jobs", (("status", "pending"),))] == 1
    assert m[("directorybolt_jobs_finished_total", (("status", "partial"),))] == 1
    assert m[("directorybolt_submissions_total", (("outcome", "submitted"),))] == 1
    assert m[("directorybolt_submission_errors_total", (("category", "captcha"),))] == 1
    assert m[("directorybolt_dlq_depth", ())] == 1
    assert m[("directorybolt_workers", (("role", "submissions"), ("state", "ok")))] == 1
    assert m[("directorybolt_workers", (("role", "submissions"), ("state", "degraded")))] == 0
    assert m[("directorybolt_job_duration_seconds", (("quantile", "0.5"),))] == pytest.approx(40, abs=1)
    for queue in all_queues():
        assert ("directorybolt_queue_depth", (("queue", queue),)) in m
    assert m[("directorybolt_queue_depth", (("queue", "dead_letter"),))] == 1
    route = (("method", "GET"), ("route", "/api/jobs/{job_id}"), ("status", "200"))
    assert m[("directorybolt_http_requests_total", route)] >= 1
    too_long = (("method", "GET"), ("route", "/api/jobs/{job_id}"), ("status", "414"))
    assert m[("directorybolt_http_requests_total", too_long)] >= 1
    assert ("directorybolt_http_request_duration_seconds_count",
            (("method", "GET"), ("route", "/api/jobs/{job_id}"))) in m


def test_health_is_bounded_when_services_hang(start_api, clean):
    """Servers that accept connections and never answer: the probes time out, the
    answer is 503 within the health timeout, and repeated checks stay bounded."""
    import socket

    silent = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)  # never accept(): the kernel completes the handshake, nobody replies
        silent.append(s)
    try:
        pg_port, redis_port = (s.getsockname()[1] for s in silent)
        server = start_api(database_url=f"postgresql://postgres@127.0.0.1:{pg_port}/x",
                           redis_url=f"redis://127.0.0.1:{redis_port}/0")
        for _ in range(2):
            elapsed, r = _timed_get(f"{server.url}/api/health")
            assert r.status_code == 503, r.text
            assert r.json()["db_connected"] is False and r.json()["redis_connected"] is False
            assert elapsed < 2
    finally:
        for s in silent:
            s.close()


def test_request_metrics_add_up_across_uvicorn_workers(start_api, clean, tmp_path):
    import httpx

    multiproc = tmp_path / "prom"
    server = start_api(extra_args=["--workers", "2"], extra_env={"PROMETHEUS_MULTIPROC_DIR": str(multiproc)})
    for _ in range(12):  # a new connection each time, so both workers get some
        assert httpx.get(f"{server.url}/api/health", timeout=10).status_code == 200
    for _ in range(3):  # whichever worker answers the scrape reports every worker's counts
        m = _samples(httpx.get(f"{server.url}/api/metrics", headers=METRICS_AUTH, timeout=10).text)
        key = (("method", "GET"), ("route", "/api/health"), ("status", "200"))
        assert m[("directorybolt_http_requests_total", key)] == 12
    assert len({p.name.split("_")[1] for p in multiproc.glob("counter_*.db")}) == 2
