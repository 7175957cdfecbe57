"""A worker whose browser breaks after start stops taking submissions (circuit breaker):
nothing is failed or dead-lettered, a healthy worker finishes every job, and the broken
one resumes once its browser launches again. Real workers, Redis, PostgreSQL, Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from directorybolt.core.queues import tier_queue
from directorybolt.core.settings import DEBIAN_CHROMIUM
from directorybolt.queueing.redis_layout import queue_depths
from directorybolt.store import db
from directorybolt.store.models import DeadLetter, JobResult, QueueHistory, WorkerHeartbeat
from directorybolt.store.services import redis_client
from tests.api.conftest import ApiServer
from tests.conftest import ROOT, wait_until
from tests.execution.conftest import enqueue, make_customer, sandbox_counts, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(300)]

DIRS = ["plain", "wizard", "select", "nomap", "catalogstyle"]
THRESHOLD = 3


def _wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """A 'browser' that is the real Chromium while the flag file exists and exits 1 otherwise."""
    flag = tmp_path / "browser-works"
    flag.touch()
    script = tmp_path / "flaky-chromium"
    script.write_text(f'#!/bin/sh\n[ -f "{flag}" ] || exit 1\nexec {DEBIAN_CHROMIUM} "$@"\n')
    script.chmod(0o755)
    return script, flag


def _states(pids: list[int]) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(WorkerHeartbeat.state).where(WorkerHeartbeat.pid.in_(pids))))


def _events(event: str) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).where(QueueHistory.event == event)) or 0)


def test_broken_browser_opens_the_breaker_and_nothing_is_lost(catalog, sandbox, start_worker, settings_env,
                                                             tmp_path):
    if not Path(DEBIAN_CHROMIUM).exists():
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    script, flag = _wrapper(tmp_path)
    settings_env(chromium_path=script, browser_recycle_after=1, browser_breaker_threshold=THRESHOLD,
                 browser_probe_interval_s=1)
    broken = start_worker(concurrency=1)  # the preflight passes: the flag is there
    flag.unlink()  # from now on every launch fails

    t0 = time.monotonic()
    job_id = enqueue(make_customer(), DIRS)
    children = wait_until(broken.children, 10, what="the broken worker's pool process")
    wait_until(lambda: _states(children) == {"degraded"}, 60, what="the broken worker to say degraded")
    time_to_degraded = time.monotonic() - t0
    print(f"time to degraded: {time_to_degraded:.2f} s")

    # It stopped taking submissions: what it released stays pending in the queue, untouched.
    def settled() -> bool:
        with db.session() as s:
            return set(s.scalars(select(JobResult.status).where(JobResult.job_id == job_id))) == {"pending"}

    wait_until(settled, 30, what="every row back to pending")
    released = _events("claim_released_worker_fault")
    assert released >= THRESHOLD
    depth = queue_depths(redis_client(), [tier_queue("pro")])[tier_queue("pro")]
    assert depth == len(DIRS)
    time.sleep(3)
    assert _events("claim_released_worker_fault") == released, "a degraded worker must not take submissions"
    assert queue_depths(redis_client(), [tier_queue("pro")])[tier_queue("pro")] == depth
    with db.session() as s:
        rows = s.execute(select(JobResult.status, JobResult.attempts).where(JobResult.job_id == job_id)).all()
        assert {r.status for r in rows} == {"pending"} and sum(r.attempts for r in rows) == 0, rows
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0

    # directorybolt status and /api/health say so.
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "directorybolt", "status"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "0 ok, 1 degraded" in out.stdout and "degraded" in out.stdout.splitlines()[1], out.stdout
    api = ApiServer(env, tmp_path / "api.log").wait_ready()
    try:
        body = httpx.get(f"{api.url}/api/health", timeout=10).json()
    finally:
        api.stop()
    assert body["worker_states"] == {"ok": 0, "degraded": 1} and body["status"] == "degraded", body

    # A healthy worker finishes every job: nothing failed, nothing dead-lettered, each sent once.
    settings_env(chromium_path=DEBIAN_CHROMIUM, browser_recycle_after=100)
    healthy = start_worker(concurrency=2)
    report = wait_finished(job_id, timeout=120)
    assert report["status"] == "completed", report["results"]
    assert all(r["status"] == "submitted" and r["attempts"] == 1 for r in report["results"]), report["results"]
    counts = sandbox_counts(sandbox)
    assert [counts.get(f"{d}|bolt plumbing & heating") for d in DIRS] == [1] * len(DIRS)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DeadLetter)) == 0
    healthy.stop()

    # The browser works again: the broken worker probes, resumes and takes work.
    flag.touch()
    wait_until(lambda: _states(children) == {"ok"}, 30, what="the worker to resume (state ok)")
    second = enqueue(make_customer("Second Bakery", "second@bakery.example"), ["plain", "select"])
    report = wait_finished(second, timeout=90)  # the healthy worker is gone: only the resumed one works
    assert report["status"] == "completed", report["results"]
