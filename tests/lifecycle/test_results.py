"""The one owner of result-row transitions: every write names the state it expects."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs, results
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult
from tests.recovery.test_sweep import DIRS

W, OTHER = "host:1:aaaaaa", "host:2:bbbbbb"


@pytest.fixture
def job(clean) -> uuid.UUID:
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter")
        jobs.start_job(s, j.id)
        return j.id


def _row(job_id: uuid.UUID, d: str = "a") -> JobResult:
    with db.session() as s:
        return s.scalar(select(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == d))


def _claim(job_id: uuid.UUID, worker: str = W, d: str = "a") -> results.Claimed | results.Early | results.Nothing:
    with db.session() as s:
        return results.claim(s, job_id, d, worker)


def test_claim_once_then_nothing(job):
    got = _claim(job)
    assert isinstance(got, results.Claimed) and got.attempt == 1
    assert _claim(job, OTHER) == results.Nothing("submitting")


def test_an_earlier_try_of_the_same_worker_is_taken_back_or_closed(job):
    assert isinstance(_claim(job), results.Claimed)
    again = _claim(job)  # our own earlier try lost its connection before it could release
    assert isinstance(again, results.Claimed) and again.attempt == 2
    with db.session() as s:
        assert results.fence(s, job, "a", W, 2)
    assert _claim(job) == results.Nothing("needs_review"), "sent and not recorded: a person checks"
    row = _row(job)
    assert (row.status, row.error_category) == ("needs_review", "interrupted")


def test_release_only_before_the_form_was_sent(job):
    got = _claim(job)
    with db.session() as s:
        assert results.fence(s, job, "a", W, got.attempt)
        assert not results.release(s, job, "a", W, got.attempt, delay_s=1)
    assert _row(job).status == "submitting"


def test_finish_is_fenced_by_owner_and_attempt(job):
    got = _claim(job)
    with db.session() as s:
        assert results.finish(s, job, "a", status="submitted", owner=OTHER, attempt=got.attempt) is None
        assert results.finish(s, job, "a", status="submitted", owner=W, attempt=got.attempt + 1) is None
        assert results.finish(s, job, "a", status="submitted", owner=W, attempt=got.attempt) is not None
        assert results.finish(s, job, "a", status="submitted", owner=W, attempt=got.attempt) is None
    with db.session() as s:
        assert s.get(Job, job).submitted == 1


def test_requeue_refuses_a_row_that_changed(job):
    got = _claim(job)
    with db.session() as s:
        assert results.requeue(s, job, "a", from_status="submitting", owner=W, attempt=got.attempt - 1,
                               requeues=0, reason="stale read") is None
        assert results.requeue(s, job, "a", from_status="submitting", owner=W, attempt=got.attempt,
                               requeues=0, reason="lost") == "submissions.starter"
    row = _row(job)
    assert (row.status, row.worker_id, row.requeues) == ("pending", None, 1)


def test_early_is_measured_on_the_database_clock(job):
    with db.session() as s:
        s.execute(text("UPDATE job_results SET retry_at = now() + interval '10 seconds' WHERE job_id = :j"),
                  {"j": job})
    early = _claim(job)
    assert isinstance(early, results.Early) and 9 < early.wait_s <= 10


def test_reset_for_replay_leaves_a_sent_form_alone_unless_forced(job):
    got = _claim(job)
    with db.session() as s:
        results.fence(s, job, "a", W, got.attempt)
        results.finish(s, job, "a", status="failed", owner=W, attempt=got.attempt, category="http_5xx")
    with db.session() as s:
        assert results.form_sent(s, job, ["a"]) == ["a"]
        assert results.reset_for_replay(s, job, ["a"]) == []
        assert results.reset_for_replay(s, job, ["a"], force=True) == ["a"]
    row = _row(job)
    assert (row.status, row.attempts, row.committed_at) == ("pending", 0, None)
