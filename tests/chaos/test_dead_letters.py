"""An always-failing directory end to end: retries, dead letter, Sentry, Slack, replay."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from directorybolt.lifecycle import jobs
from directorybolt.ops import alerts
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult, QueueHistory, WorkerHeartbeat
from directorybolt.store.services import redis_client
from tests.conftest import wait_until
from tests.execution.conftest import enqueue, make_customer, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_broken_directory_is_dead_lettered_reported_and_replayed(
    chaos_catalog, sandbox, start_worker, receiver, settings_env
):
    settings_env(sentry_dsn=f"http://publickey@127.0.0.1:{receiver.port}/1")
    start_worker(concurrency=2)
    job_id = enqueue(make_customer(), ["plain", "broken"])
    report = wait_finished(job_id, timeout=90)
    assert report["status"] == "partial"
    broken = next(r for r in report["results"] if r["directory"] == "broken")
    assert (broken["status"], broken["attempts"]) == ("failed", 4)

    [entry] = wait_until(dlq.list_entries, 20, what="the dead letter")  # written just after finalisation
    assert (entry.directory_id, entry.tier, str(entry.job_id)) == ("broken", "pro", job_id)
    assert entry.exception_type == "SiteUnavailable" and entry.attempts == 4 and entry.traceback
    assert json.loads(redis_client().lrange("dead_letter", 0, -1)[0])["dead_letter_id"] == entry.id

    def envelopes() -> str:
        bodies = [gzip.decompress(r["body"]) if r["headers"].get("Content-Encoding") == "gzip" else r["body"]
                  for r in receiver.requests if "/envelope" in r["path"]]
        return b"\n".join(bodies).decode()

    wait_until(lambda: '"dead_lettered":"true"' in envelopes().replace(" ", ""), 20, what="the dead-letter event")
    text = envelopes()
    assert '"directory":"broken"' in text.replace(" ", "") and job_id in text and '"tier":"pro"' in text
    assert "owner@boltplumbing.example" not in text and "555-0142" not in text

    settings_env(slack_webhook_url=f"{receiver.url}/slack", sentry_dsn="")
    before = len(receiver.requests)
    assert alerts.check_dead_letters() == "alerted"
    slack = [r for r in receiver.requests[before:] if r["path"] == "/slack"]
    assert len(slack) == 1 and "*1* open entries" in json.loads(slack[0]["body"])["text"]
    assert alerts.check_dead_letters() == "quiet"
    assert len([r for r in receiver.requests if r["path"] == "/slack"]) == 1

    httpx.post(f"{sandbox.url}/_control", json={"broken_mode": "ok"})
    dlq.replay(entry.id, HANDOFF)
    assert dlq.get(entry.id).state == "replayed" and redis_client().llen("dead_letter") == 0
    report = wait_finished(job_id, timeout=60)
    assert report["status"] == "completed", report
    assert report["counts"]["submitted"] == 2 and report["counts"]["failed"] == 0


def test_stale_job_is_requeued_and_completes(chaos_catalog, sandbox, start_worker, beat):
    """A job left in_progress by a worker nobody has heard from: the sweep requeues it."""
    customer = make_customer()
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer, tier="pro", directories=["plain", "select"])
        jobs.start_job(s, job.id)
        job_id = job.id
        long_ago = datetime.now(UTC) - timedelta(minutes=10)
        s.execute(update(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == "select").values(
            status="submitting", worker_id="gone-host:1", claimed_at=long_ago, attempts=1))
        s.execute(update(Job).where(Job.id == job_id).values(last_heartbeat=long_ago))
        s.add(WorkerHeartbeat(worker_id="gone-host:1", hostname="gone-host", pid=1, last_heartbeat=long_ago))
    start_worker(concurrency=1)
    report = wait_finished(str(job_id), timeout=60)
    # "select" was held by the silent worker; "plain" was pending in a quiet job, with no
    # message in the broker: both are re-sent once.
    assert report["status"] == "completed" and report["requeue_count"] == 2
    counts = httpx.get(f"{sandbox.url}/_submissions").json()["counts"]
    assert counts == {"plain|bolt plumbing & heating": 1, "select|bolt plumbing & heating": 1}
    with db.session() as s:
        reasons = dict(s.execute(select(QueueHistory.directory_id, QueueHistory.detail).where(
            QueueHistory.job_id == job_id, QueueHistory.event == "submission_requeued")).all())
    assert reasons["select"]["reason"] in ("dead worker", "unknown worker", "overdue")
    assert reasons["plain"]["reason"] == "quiet"
