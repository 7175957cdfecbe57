"""Stopping a job (a refund): ``results.stop`` marks the job (the job row alone), then
``results.skip_unsent`` (result rows first, the documented lock order) skips what no worker has taken,
lets what is in flight finish and count, and the job is finalised exactly once, as
``cancelled`` when nothing was submitted and ``partial`` otherwise. The interleavings
with a concurrent start and a concurrent last result are forced, not hoped for."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs, results
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult, QueueHistory

DIRS = ("a", "b", "c")


def _directory(did: str) -> dict:
    return {"id": did, "name": did, "url": f"http://127.0.0.1:9/{did}/", "tier": 1,
            "plan": {"steps": [{"action": "goto", "url": f"http://127.0.0.1:9/{did}/"},
                               {"action": "fill", "field": "business_name", "selector": "#n"},
                               {"action": "expect", "text": "Thanks"}]}}


@pytest.fixture
def job_id(clean) -> uuid.UUID:
    seed.upsert_directories([_directory(d) for d in DIRS])
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter", directories=list(DIRS))
        return job.id


def _start(job_id: uuid.UUID) -> None:
    with db.session() as s:
        jobs.start_job(s, job_id)


def _set(job_id: uuid.UUID, directory: str, status: str, worker: str | None = None) -> None:
    with db.session() as s:
        s.execute(update(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == directory)
                  .values(status=status, worker_id=worker))
        results.finalize(s, job_id)


def _results(job_id: uuid.UUID) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(JobResult.directory_id, JobResult.status).where(JobResult.job_id == job_id)).all())


def _job(job_id: uuid.UUID) -> Job:
    with db.session() as s:
        return s.get(Job, job_id)


def _finalised(job_id: uuid.UUID) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).where(QueueHistory.job_id == job_id,
                                                   QueueHistory.event == "job_completed"))


def _stop(job_id: uuid.UUID) -> list[str]:
    with db.session() as s:
        stopped = results.stop(s, job_id, reason="refunded (charge ch_1)")
    if stopped != "in_progress":
        return []
    with db.session() as s:
        return results.skip_unsent(s, job_id, reason="refunded (charge ch_1)")


def _record(job_id: uuid.UUID, directory: str, status: str) -> None:
    with db.session() as s:
        assert results.finish(s, job_id, directory, status=status, owner="w1", attempt=0) is not None


def _waiting_for_lock(timeout: float = 10) -> None:
    """Until some other session of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            if s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                             "AND wait_event_type = 'Lock'")):
                return
        time.sleep(0.02)
    raise AssertionError("the second writer never waited for the first")


def _interleave(first: Callable[[Session], object], second: Callable[[], object]) -> None:
    """``first`` holds its transaction open until ``second`` is blocked on it, then commits."""
    errors: list[BaseException] = []
    started = threading.Event()

    def hold() -> None:
        try:
            with db.session() as s:
                first(s)
                started.set()
                _waiting_for_lock()
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            started.set()

    t = threading.Thread(target=hold)
    t.start()
    assert started.wait(10)
    second()
    t.join(20)
    assert not errors, errors


def test_in_flight_submission_finishes_and_the_job_ends_partial(job_id):
    _start(job_id)
    _set(job_id, "a", "submitting", "w1")
    assert _stop(job_id) == ["b", "c"]
    job = _job(job_id)
    assert job.status == "in_progress" and job.cancel_requested_at is not None and job.skipped == 2
    _record(job_id, "a", "submitted")
    job = _job(job_id)
    assert job.status == "partial" and job.finished_at is not None
    assert (job.submitted, job.skipped) == (1, 2)
    assert _results(job_id) == {"a": "submitted", "b": "skipped", "c": "skipped"}
    assert _finalised(job_id) == 1


def test_in_flight_failure_with_nothing_submitted_ends_cancelled(job_id):
    _start(job_id)
    _set(job_id, "a", "submitting", "w1")
    _stop(job_id)
    _record(job_id, "a", "failed")
    assert _job(job_id).status == "cancelled" and _finalised(job_id) == 1


def test_nothing_in_flight_is_finalised_at_once(job_id):
    _start(job_id)
    _set(job_id, "a", "submitted")
    version = _job(job_id).version
    assert _stop(job_id) == ["b", "c"]
    job = _job(job_id)
    assert job.status == "partial" and job.version > version and _finalised(job_id) == 1
    with db.session() as s:
        skipped = s.scalars(select(QueueHistory).where(QueueHistory.event == "submission_skipped")).all()
        rows = s.scalars(select(JobResult).where(JobResult.status == "skipped")).all()
    assert sorted(h.directory_id for h in skipped) == ["b", "c"]
    assert {(r.error_category, r.error_message) for r in rows} == {("cancelled", "refunded (charge ch_1)")}


def test_started_job_with_nothing_submitted_ends_cancelled(job_id):
    _start(job_id)
    assert _stop(job_id) == ["a", "b", "c"]
    assert _job(job_id).status == "cancelled" and _finalised(job_id) == 1


def test_job_not_started_is_cancelled_and_never_starts(job_id):
    version = _job(job_id).version
    assert _stop(job_id) == []
    job = _job(job_id)
    assert job.status == "cancelled" and job.version == version + 1 and job.finished_at is not None
    _start(job_id)  # its queued fan-out arrives later
    assert _results(job_id) == {} and _job(job_id).status == "cancelled"


def test_job_held_for_review_is_cancelled(job_id):
    with db.session() as s:
        jobs.hold(s, job_id, "held for review: paid $1.00")
    _stop(job_id)
    assert _job(job_id).status == "cancelled"


def test_finished_or_already_stopped_job_is_left_alone(job_id):
    _start(job_id)
    for d in DIRS:
        _set(job_id, d, "submitted")
    before = _job(job_id)
    assert before.status == "completed"
    assert _stop(job_id) == []
    after = _job(job_id)
    assert (after.status, after.version, after.cancel_requested_at) == ("completed", before.version, None)
    assert _finalised(job_id) == 1


def test_stopping_twice_changes_nothing_the_second_time(job_id):
    _start(job_id)
    _set(job_id, "a", "submitting", "w1")
    _stop(job_id)
    version = _job(job_id).version
    assert _stop(job_id) == []
    assert _job(job_id).version == version


def test_skipped_results_of_a_normal_job_still_count_as_done(job_id):
    """The stop rule applies to stopped jobs only: elsewhere ``skipped`` is not a failure."""
    _start(job_id)
    _set(job_id, "a", "submitted")
    _set(job_id, "b", "skipped")
    _set(job_id, "c", "submitted")
    assert _job(job_id).status == "completed"


def test_stop_during_a_concurrent_start_skips_the_rows_the_start_created(job_id):
    """The start commits its result rows while the stop waits for the job's lock: the
    stop must see them (a statement snapshot taken before the lock would not)."""
    _interleave(lambda s: jobs.start_job(s, job_id), lambda: _stop(job_id))
    assert _results(job_id) == {"a": "skipped", "b": "skipped", "c": "skipped"}
    assert _job(job_id).status == "cancelled" and _finalised(job_id) == 1


def test_last_result_recorded_while_the_stop_commits_finalises_once(job_id):
    _start(job_id)
    _set(job_id, "a", "submitting", "w1")
    _interleave(lambda s: results.stop(s, job_id, reason="refunded"), lambda: _record(job_id, "a", "submitted"))
    with db.session() as s:
        assert results.skip_unsent(s, job_id, reason="refunded") == ["b", "c"]
    job = _job(job_id)
    assert (job.status, job.submitted, job.skipped) == ("partial", 1, 2) and _finalised(job_id) == 1


def test_stop_while_the_last_result_is_recorded_finalises_once(job_id):
    _start(job_id)
    _set(job_id, "a", "submitting", "w1")

    def record(s: Session) -> None:
        done = results.finish(s, job_id, "a", status="submitted", owner="w1", attempt=0)
        assert done is not None and done.final is None  # b and c still pending

    _interleave(record, lambda: _stop(job_id))
    job = _job(job_id)
    assert (job.status, job.submitted, job.skipped) == ("partial", 1, 2) and _finalised(job_id) == 1
