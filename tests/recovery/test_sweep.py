"""The stale sweep, against the real database and broker (no browser needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs
from directorybolt.queueing.dispatch import HANDOFF, CeleryHandoff
from directorybolt.recovery import liveness, sweep
from directorybolt.store import db
from directorybolt.store.models import DeadLetter, Job, JobResult, QueueHistory, WorkerHeartbeat
from directorybolt.store.services import redis_client

DIRS = [
    {"id": d, "name": d, "url": f"http://127.0.0.1:9/{d}/", "tier": 1, "domain_authority": 90 - i,
     "plan": {"steps": [{"action": "goto", "url": f"http://127.0.0.1:9/{d}/"},
                        {"action": "fill", "field": "business_name", "selector": "#n"},
                        {"action": "expect", "text": "ok"}]}}
    for i, d in enumerate(["a", "b", "c"])
]


class _AlwaysQueued(CeleryHandoff):
    """The real handoff, except that the broker looks too long to read: no quiet job can
    be proven missing from it."""

    def queued_jobs(self, queues: list[str], limit: int) -> tuple[set[str], bool]:
        return set(), False


HELD = _AlwaysQueued()


@pytest.fixture
def job(clean, settings_env) -> uuid.UUID:
    settings_env(death_confirm_s=0)
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter")
        jobs.start_job(s, j.id)
        return j.id


def _claim(job_id: uuid.UUID, directory: str, worker: str, *, committed: bool = False, ago_s: float = 0) -> None:
    with db.session() as s:
        s.execute(update(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == directory).values(
            status="submitting", worker_id=worker, attempts=1,
            claimed_at=datetime.now(UTC) - timedelta(seconds=ago_s),
            committed_at=datetime.now(UTC) if committed else None))


def _worker(worker_id: str, host: str, pid: int, age_s: float) -> None:
    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id=worker_id, hostname=host, pid=pid,
                              last_heartbeat=datetime.now(UTC) - timedelta(seconds=age_s)))


def _age_job(job_id: uuid.UUID, seconds: float) -> None:
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            last_heartbeat=datetime.now(UTC) - timedelta(seconds=seconds)))


def _statuses(job_id) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(JobResult.directory_id, JobResult.status).where(JobResult.job_id == job_id)).all())


def test_dead_local_pid_is_recovered_at_once(job):
    dead_pid = 2**22 - 3
    _worker(f"{socket.gethostname()}:{dead_pid}", socket.gethostname(), dead_pid, age_s=1)
    _claim(job, "a", f"{socket.gethostname()}:{dead_pid}")
    report = sweep.sweep_stale_jobs(HELD)
    assert report.requeued == {str(job): ["a"]}
    assert _statuses(job)["a"] == "pending"
    assert redis_client().llen("submissions.starter") == 1
    with db.session() as s:
        assert s.get(Job, job).requeue_count == 1
        row = s.scalar(select(JobResult).where(JobResult.job_id == job, JobResult.directory_id == "a"))
        assert row.requeues == 1 and row.worker_id is None
        ev = s.scalar(select(QueueHistory).where(QueueHistory.event == "submission_requeued"))
        assert ev.directory_id == "a" and ev.detail["reason"] == "dead worker"
        assert s.scalar(select(WorkerHeartbeat.worker_id)) is None, "dead worker's heartbeat pruned"


def test_lapsed_heartbeat_elsewhere_is_recovered(job):
    _worker("elsewhere:1", "elsewhere", 1, age_s=300)
    _claim(job, "b", "elsewhere:1", ago_s=300)
    assert sweep.sweep_stale_jobs(HELD).requeued == {str(job): ["b"]}


def test_live_worker_is_left_alone(job):
    _worker("elsewhere:2", "elsewhere", 2, age_s=5)
    _claim(job, "b", "elsewhere:2", ago_s=5)
    report = sweep.sweep_stale_jobs(HELD)
    assert report.requeued == {} and _statuses(job)["b"] == "submitting"


def test_form_already_sent_becomes_needs_review_not_a_resubmission(job):
    _worker("elsewhere:3", "elsewhere", 3, age_s=300)
    _claim(job, "c", "elsewhere:3", committed=True, ago_s=300)
    report = sweep.sweep_stale_jobs(HELD)
    assert report.interrupted == [(str(job), "c")]
    assert _statuses(job)["c"] == "needs_review"
    assert redis_client().llen("submissions.starter") == 0


def test_quiet_job_missing_from_broker_is_resent_but_queued_one_is_not(job):
    _age_job(job, 600)
    unread = sweep.sweep_stale_jobs(HELD)
    assert unread.requeued == {} and unread.deferred == 3, "an unread broker proves nothing: left for later"
    report = sweep.sweep_stale_jobs(HANDOFF)  # the real broker check: nothing queued for it
    assert sorted(report.requeued[str(job)]) == ["a", "b", "c"]
    _age_job(job, 600)
    assert sweep.sweep_stale_jobs(HANDOFF).requeued == {}, "its messages are in the broker now"


def test_a_row_that_used_up_its_own_requeues_fails_alone(job):
    """The budget belongs to the row: the job's other rows go on (hole 5)."""
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job).values(requeue_count=7))  # the job's total does not matter
        s.execute(update(JobResult).where(JobResult.job_id == job, JobResult.directory_id == "a").values(requeues=3))
    _worker("elsewhere:4", "elsewhere", 4, age_s=300)
    _claim(job, "a", "elsewhere:4", ago_s=300)
    _claim(job, "b", "elsewhere:4", ago_s=300)
    report = sweep.sweep_stale_jobs(HELD)
    assert report.dead_lettered == [f"{job}/a"] and report.requeued == {str(job): ["b"]}
    assert _statuses(job) == {"a": "failed", "b": "pending", "c": "pending"}
    with db.session() as s:
        assert s.get(Job, job).status == "in_progress"
        dl = s.scalar(select(DeadLetter))
        assert (dl.job_id, dl.directory_id, dl.exception_type, dl.state) == (job, "a", "StaleSubmission", "open")
        assert dl.task_name == "tasks.submission.submit_directory"
    assert redis_client().llen("dead_letter") == 1


def test_prune_heartbeats(clean, settings_env):
    settings_env(heartbeat_prune_after_s=60)
    _worker("old:1", "old", 1, age_s=120)
    _worker("new:1", "new", 1, age_s=1)
    assert liveness.prune_heartbeats() == 1
    with db.session() as s:
        assert list(s.scalars(select(WorkerHeartbeat.worker_id))) == ["new:1"]


def test_heartbeat_thread_beats(job, settings_env):
    hb = liveness.Heartbeat(interval=0.1).start()
    hb.set_current(job, "a")
    try:
        import time

        time.sleep(0.5)
        with db.session() as s:
            row = s.get(WorkerHeartbeat, hb.worker_id)
            assert row is not None and row.current_job_id == job
            assert s.execute(text("SELECT now() - last_heartbeat < interval '2 seconds' FROM jobs")).scalar()
    finally:
        hb.stop()


def _reserve(job_id: uuid.UUID, directory: str, pid: int) -> str:
    member = f"{socket.gethostname()}:{pid}:abc123|{job_id}|{directory}"
    redis_client().zadd(liveness.RESERVED_KEY.format(host=socket.gethostname()), {member: time.time()})
    return member


def test_submission_taken_by_a_dead_worker_is_resent_at_once(job):
    """Taken from the broker, never claimed, worker process gone: the message sits
    unacknowledged until the visibility timeout, so the sweep re-sends it now."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    member = _reserve(job, "a", gone.pid)
    _reserve(job, "b", os.getppid())
    report = sweep.sweep_stale_jobs(HELD)
    assert report.requeued == {str(job): ["a"]}
    notes = redis_client().zrange(liveness.RESERVED_KEY.format(host=socket.gethostname()), 0, -1)
    assert member.encode() not in notes, "forgotten once re-sent, so it is not re-sent twice"
    assert sweep.sweep_stale_jobs(HELD).requeued == {}


def test_a_stopped_job_left_with_unsent_rows_is_finished_by_the_sweep(job):
    """A refund stops the job and then skips its unsent rows in a second transaction; if
    the process dies in between, the sweep does the second step."""
    from directorybolt.lifecycle import results

    _worker("elsewhere:9", "elsewhere", 9, age_s=300)
    _claim(job, "a", "elsewhere:9", ago_s=300)
    with db.session() as s:
        assert results.stop(s, job, reason="refunded") == "in_progress"
    report = sweep.sweep_stale_jobs(HANDOFF)
    assert report.skipped == {str(job): ["b", "c"]} and report.requeued == {}
    assert _statuses(job) == {"a": "skipped", "b": "skipped", "c": "skipped"}
    with db.session() as s:
        assert s.get(Job, job).status == "cancelled"
