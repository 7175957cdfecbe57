"""Jobs end to end: .delay() -> tier queue -> real worker -> real Chromium -> sandbox."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from directorybolt.recovery import liveness
from directorybolt.store import db
from directorybolt.store.models import DeadLetter, QueueHistory
from directorybolt.store.services import redis_client
from tests.conftest import wait_until
from tests.execution.conftest import enqueue, make_customer, sandbox_counts, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.browser]

EXPECTED = {
    "plain": "submitted",
    "wizard": "submitted",
    "select": "submitted",
    "slow": "submitted",
    "transient": "submitted",
    "ratelimited": "submitted",
    "broken": "failed",
    "captcha": "needs_review",
    "changed": "needs_review",
    "nomap": "submitted",
    "catalogstyle": "submitted",
}


def test_job_over_all_sandbox_directories(catalog, sandbox, start_worker):
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 1.0, "transient_failures": 1, "retry_after": 1})
    start_worker(concurrency=2)
    customer = make_customer()
    job_id = enqueue(customer, sorted(EXPECTED))
    report = wait_finished(job_id, timeout=150)
    got = {r["directory"]: r["status"] for r in report["results"]}
    assert got == EXPECTED, report["results"]
    assert report["status"] == "partial"
    by_dir = {r["directory"]: r for r in report["results"]}
    assert by_dir["broken"]["attempts"] == 4 and by_dir["broken"]["error_category"] == "http_5xx"
    assert by_dir["transient"]["attempts"] == 2
    assert by_dir["ratelimited"]["attempts"] == 2
    assert by_dir["captcha"]["error_category"] == "captcha"
    assert by_dir["changed"]["error_category"] == "form_changed"
    for d, r in by_dir.items():
        if r["status"] == "submitted":
            assert r["screenshot"] and Path(r["screenshot"]).stat().st_size > 1000, d
            assert Path(r["screenshot"]).name == f"{d}.png" and job_id in r["screenshot"]
            assert "Traceback" not in (r["error_message"] or "")
    counts = sandbox_counts(sandbox)
    for d, status in EXPECTED.items():
        key = f"{d}|bolt plumbing & heating"
        assert counts.get(key, 0) == (1 if status == "submitted" else 0), (d, counts)
    with db.session() as s:
        events = dict(s.execute(select(QueueHistory.event, func.count()).where(
            QueueHistory.job_id == report["id"]).group_by(QueueHistory.event)).all())
        retries = s.scalars(select(QueueHistory).where(QueueHistory.event == "retry_scheduled")).all()
    assert events["job_started"] == 1 and events["job_completed"] == 1
    assert {r.directory_id for r in retries} == {"broken", "transient", "ratelimited"}
    assert all(r.attempt and r.delay_s and r.delay_s > 0 for r in retries)
    # The task's on_failure writes the dead letter just after the failed row is recorded
    # (and the job finalised), in its own transaction: wait for it, boundedly.
    dead = wait_until(lambda: _dead_letters() or None, timeout=10, what="the dead letter for 'broken'")
    assert dead == ["broken"]
    notes = redis_client().zrange(liveness.RESERVED_KEY.format(host=socket.gethostname()), 0, -1)
    noted = {n.decode().split("|", 2)[2] for n in notes if f"|{job_id}|".encode() in n}
    assert noted == set(EXPECTED), "the worker notes each submission it takes, for the stale sweep"


def _dead_letters() -> list[str | None]:
    with db.session() as s:
        return list(s.scalars(select(DeadLetter.directory_id)).all())


def test_duplicate_delivery_submits_once_and_finalises_once(catalog, sandbox, start_worker):
    from tasks.submission import process_job, submit_directory

    customer = make_customer()
    dirs = ["plain", "wizard", "select"]
    job_id = enqueue(customer, dirs)
    process_job.delay(job_id, tier_queue="submissions.pro")
    for d in dirs:
        submit_directory.delay(job_id, d, tier_queue="submissions.pro")
    start_worker(concurrency=2)
    report = wait_finished(job_id)
    assert report["status"] == "completed"
    counts = sandbox_counts(sandbox)
    assert [counts.get(f"{d}|bolt plumbing & heating") for d in dirs] == [1, 1, 1]
    with db.session() as s:
        finals = s.scalar(select(func.count()).where(QueueHistory.event == "job_completed"))
    assert finals == 1


def test_five_jobs_for_five_customers_no_cross_talk(catalog, sandbox, start_worker):
    start_worker(concurrency=2)
    dirs = ["plain", "select", "catalogstyle"]
    names = [f"Customer {i} Bakery" for i in range(5)]
    job_ids = [enqueue(make_customer(n, f"c{i}@bakery{i}.example"), dirs) for i, n in enumerate(names)]
    reports = [wait_finished(j, timeout=150) for j in job_ids]
    assert [r["status"] for r in reports] == ["completed"] * 5
    subs = httpx.get(f"{sandbox.url}/_submissions").json()["submissions"]
    assert len(subs) == 15
    for i, n in enumerate(names):
        mine = [s for s in subs if s["business_name"] == n]
        assert sorted(s["directory"] for s in mine) == sorted(dirs)
        assert all(s["email"] == f"c{i}@bakery{i}.example" for s in mine)


def test_form_mapping_fallback_fills_unplanned_form(catalog, sandbox, start_worker):
    start_worker(concurrency=1)
    job_id = enqueue(make_customer(), ["nomap"])
    report = wait_finished(job_id)
    assert report["status"] == "completed", report
    sub = httpx.get(f"{sandbox.url}/_submissions", params={"directory": "nomap"}).json()["submissions"][0]
    values = set(sub["fields"].values())
    assert {"Bolt Plumbing & Heating", "owner@boltplumbing.example", "+1 (503) 555-0142"} <= values
