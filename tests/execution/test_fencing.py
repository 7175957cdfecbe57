"""Exactly once at the click (issue 11, holes 2, 3, 5 and 7): a worker that no longer
owns its row does not click; nothing is re-sent once the form went out; a warm
shutdown hands unsent work back without spending its budget; an early retry is
re-scheduled rather than dropped."""

from __future__ import annotations

import os
import signal
import time
import uuid

import httpx
import pytest
from sqlalchemy import select, text

from directorybolt.execution import submission
from directorybolt.lifecycle import results
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import liveness, sweep
from directorybolt.store import db
from directorybolt.store.models import JobResult, QueueHistory
from tests.conftest import wait_until
from tests.execution.conftest import enqueue, make_customer, wait_finished

KEY = "{}|bolt plumbing & heating"


def _row(job_id: str, directory: str) -> JobResult:
    with db.session() as s:
        return s.scalar(select(JobResult).where(JobResult.job_id == uuid.UUID(job_id),
                                                JobResult.directory_id == directory))


def _events(job_id: str, event: str) -> list[QueueHistory]:
    with db.session() as s:
        return list(s.scalars(select(QueueHistory).where(QueueHistory.job_id == uuid.UUID(job_id),
                                                         QueueHistory.event == event)))


def _started(catalog: list[str], directories: list[str]) -> str:
    """A job started in this process (no worker): its rows are pending."""
    from directorybolt.lifecycle import jobs

    job_id = enqueue(make_customer(), directories)  # the fan-out message just waits in the broker
    with db.session() as s:
        jobs.start_job(s, job_id)
    return job_id


class _Process:
    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id

    def set_current(self, job_id: object, directory_id: object = None) -> None:
        pass

    def is_dead_here(self, other: str | None) -> bool:
        return False

    def draining(self) -> bool:
        return False


def test_a_worker_that_lost_its_claim_does_not_click(catalog):
    """Hole 2: A claimed the row, was swept while alive, B claimed it; A reaches the
    click: the fence refuses, and the refusal is in the history."""
    job_id = _started(catalog, ["plain"])
    a, b = _Process("host-a:1:aaaaaa"), _Process("host-b:2:bbbbbb")
    ctx_a = submission._claim(uuid.UUID(job_id), "plain", a.worker_id, a.is_dead_here)
    assert isinstance(ctx_a, submission._Context)
    with db.session() as s:  # the sweep gives A's row back, B claims it
        assert results.requeue(s, uuid.UUID(job_id), "plain", from_status="submitting", owner=a.worker_id,
                               attempt=ctx_a.attempt, requeues=0, reason="test")
    ctx_b = submission._claim(uuid.UUID(job_id), "plain", b.worker_id, b.is_dead_here)
    assert isinstance(ctx_b, submission._Context)
    with pytest.raises(submission.FenceLost):
        submission._commit_point(ctx_a, a)
    submission._commit_point(ctx_b, b)
    row = _row(job_id, "plain")
    assert row.worker_id == b.worker_id and row.committed_at is not None
    [lost] = _events(job_id, "submission_fence_lost")
    assert lost.detail["worker"] == a.worker_id


def test_no_click_for_a_cancelled_job(catalog):
    from directorybolt.lifecycle import jobs

    job_id = _started(catalog, ["plain"])
    a = _Process("host-a:1:aaaaaa")
    ctx = submission._claim(uuid.UUID(job_id), "plain", a.worker_id, a.is_dead_here)
    with db.session() as s:
        jobs.cancel(s, job_id)
    with pytest.raises(submission.FenceLost):
        submission._commit_point(ctx, a)


def test_an_early_retry_is_rescheduled_not_dropped(catalog):
    """Hole 7: a retry delivered before its time (the sender's clock ahead of the
    database's) is re-scheduled for the rest of the wait, not acked as a duplicate."""
    job_id = _started(catalog, ["plain"])
    with db.session() as s:
        s.execute(text("UPDATE job_results SET retry_at = now() + interval '30 seconds' WHERE job_id = :j"),
                  {"j": job_id})
    with pytest.raises(submission.RetryLater) as later:
        submission.submit(job_id, "plain", _Process("host-a:1:aaaaaa"))
    assert not later.value.counted and 29 < later.value.delay_s < 32
    row = _row(job_id, "plain")
    assert (row.status, row.attempts) == ("pending", 0)




@pytest.mark.slow
@pytest.mark.browser
def test_an_early_message_is_submitted_once_its_time_comes(catalog, sandbox, start_worker):
    job_id = _started(catalog, ["plain"])
    with db.session() as s:
        s.execute(text("UPDATE job_results SET retry_at = now() + interval '4 seconds' WHERE job_id = :j"),
                  {"j": job_id})
    HANDOFF.send_submissions(job_id, ["plain"], "submissions.pro")
    start_worker(concurrency=1)
    report = wait_finished(job_id, timeout=60)
    assert report["status"] == "completed"
    assert httpx.get(f"{sandbox.url}/_submissions").json()["counts"] == {KEY.format("plain"): 1}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("directory", ["transient", "ratelimited"])
def test_a_site_error_after_the_form_was_sent_is_never_resent(catalog, sandbox, start_worker, directory):
    """Hole 3: the directory answers 500/429 to the POST itself. The form went out, so
    it may be listed: needs_review, one POST, never a second."""
    httpx.post(f"{sandbox.url}/_control", json={"fail_at": "submit", "transient_failures": 1, "retry_after": 1})
    start_worker(concurrency=1)
    job_id = enqueue(make_customer(), [directory])
    report = wait_finished(job_id, timeout=90)
    [r] = report["results"]
    assert (r["status"], r["error_category"], r["attempts"]) == ("needs_review", "ambiguous", 1), r
    time.sleep(3)  # any (wrong) retry would have come by now with the fast settings
    body = httpx.get(f"{sandbox.url}/_submissions").json()
    assert body["attempts"] == {KEY.format(directory): 1}, "the form was posted more than once"


@pytest.mark.slow
@pytest.mark.browser
def test_swept_while_frozen_the_worker_does_not_click(catalog, sandbox, start_worker, settings_env):
    """Hole 2, with real processes: worker A is SIGSTOPped while its form page loads;
    its heartbeat lapses, the sweep hands the row to worker B, which submits it; A wakes
    up at the click and must not send the form a second time."""
    settings_env(stale_after_s=2, death_confirm_s=1, heartbeat_interval_s=0.5)
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 4})
    a = start_worker(concurrency=1)
    job_id = enqueue(make_customer(), ["slow"])
    wait_until(lambda: _row(job_id, "slow") and _row(job_id, "slow").status == "submitting", 60,
               what="A claims the row")
    time.sleep(0.5)
    os.killpg(a.proc.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "slow" not in sweep.sweep_stale_jobs(HANDOFF).requeued.get(job_id, []):
            time.sleep(0.5)
        assert _row(job_id, "slow").status == "pending", "the sweep gave the frozen worker's row back"
        start_worker(concurrency=1)
        report = wait_finished(job_id, timeout=90)
        assert report["status"] == "completed"
    finally:
        os.killpg(a.proc.pid, signal.SIGCONT)
    wait_until(lambda: _events(job_id, "submission_fence_lost"), 60, what="A reaches the click and stops")
    time.sleep(2)
    assert httpx.get(f"{sandbox.url}/_submissions").json()["counts"] == {KEY.format("slow"): 1}


@pytest.mark.slow
@pytest.mark.browser
def test_a_warm_shutdown_hands_unsent_work_back_without_spending_it(catalog, sandbox, start_worker):
    """Hole 5: SIGTERM while a submission's page loads: the claim is released (the
    attempt refunded), the worker exits promptly, another worker submits it once."""
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 4})
    a = start_worker(concurrency=1)
    job_id = enqueue(make_customer(), ["slow"])
    wait_until(lambda: _row(job_id, "slow") and _row(job_id, "slow").status == "submitting", 60,
               what="A claims the row")
    t0 = time.monotonic()
    os.kill(a.proc.pid, signal.SIGTERM)
    a.proc.wait(timeout=60)
    assert time.monotonic() - t0 < 30
    assert _events(job_id, "claim_released_on_shutdown")
    row = _row(job_id, "slow")
    assert (row.status, row.attempts) == ("pending", 0), "released, and the attempt not counted"
    start_worker(concurrency=1)
    report = wait_finished(job_id, timeout=90)
    assert report["status"] == "completed" and report["results"][0]["attempts"] == 1
    assert httpx.get(f"{sandbox.url}/_submissions").json()["counts"] == {KEY.format("slow"): 1}


def test_liveness_draining_flag_reaches_the_pool_child(clean):
    """The main process announces the shutdown; a child (whose parent is that process)
    sees it."""
    hb = liveness.Heartbeat(interval=60)
    assert not hb.draining()
    liveness.begin_drain()  # as if this process were the pool's main process
    hb._drain_checked = -1.0
    assert hb.draining()
