"""Broker and database trouble mid-job: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.chaos.test_worker_kill import _check_exactly_once, _progress
from tests.conftest import ROOT, wait_until
from tests.execution.conftest import make_customer, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_postgres_connections_terminated_mid_job(chaos_catalog, sandbox, start_worker, beat, services):
    from tests.execution.conftest import enqueue

    start_worker(concurrency=2)
    job_id = enqueue(make_customer(), chaos_catalog)
    _progress(job_id, 5)
    url = services.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert killed >= 1
    report = wait_finished(job_id, timeout=120)
    assert len(_check_exactly_once(report, sandbox)) == 0


def _enqueue_via_cli(customer: str, directories: list[str]) -> str:
    """A separate process, so the message goes to the private Redis named in the environment."""
    out = subprocess.run([sys.executable, "-m", "directorybolt", "enqueue", "--customer", customer, "--tier", "pro",
                          "--directories", ",".join(directories)],
                         cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@contextmanager
def _beat(tmp_path: Path) -> Iterator[None]:
    """Beat started after the test pointed the environment at its private Redis."""
    proc = subprocess.Popen([sys.executable, "-m", "directorybolt", "beat"], cwd=ROOT, env=dict(os.environ),
                            stdout=open(tmp_path / "beat.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def _result_status(job_id: str, directory: str) -> str | None:
    from directorybolt.lifecycle.reports import job_report

    return next((r["status"] for r in job_report(job_id)["results"] if r["directory"] == directory), None)


def test_retry_published_while_broker_restarts(chaos_catalog, sandbox, settings_env, private_redis, start_worker):
    """A task that must schedule its retry while Redis is down waits for Redis to come
    back instead of losing the retry (no Beat here, so no sweep could hide a loss)."""
    settings_env(navigation_timeout_ms=1500, step_timeout_ms=1500)
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 4})
    start_worker(concurrency=1)
    job_id = _enqueue_via_cli(make_customer(), ["slow"])
    wait_until(lambda: _result_status(job_id, "slow") == "submitting", 60, 0.02, what="the slow claim")
    private_redis.stop()
    # The page times out; the row goes back to pending just before the retry is published.
    wait_until(lambda: _result_status(job_id, "slow") == "pending", 60, 0.02, what="the retry")
    time.sleep(3)
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 0})
    private_redis.start()
    report = wait_finished(job_id, timeout=60)
    assert report["status"] == "completed", report
    assert len(_check_exactly_once(report, sandbox)) == 0


def test_redis_restarted_mid_job(chaos_catalog, sandbox, private_redis, start_worker, tmp_path):
    start_worker(concurrency=2)
    with _beat(tmp_path):  # as deployed: the sweep backs up Celery's redelivery
        job_id = _enqueue_via_cli(make_customer(), chaos_catalog)
        _progress(job_id, 5)
        private_redis.restart(down_s=2)
        report = wait_finished(job_id, timeout=120)
    assert len(_check_exactly_once(report, sandbox)) == 0
