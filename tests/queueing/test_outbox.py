"""The jobs' outbox (issue 11, hole 4): a committed job whose fan-out never reached the
broker is queued by the sweep, boundedly, and a never-started job's dead letter can
be replayed."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy.exc
from sqlalchemy import select, text

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs
from directorybolt.queueing import redis_layout
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq, sweep
from directorybolt.store import db
from directorybolt.store.models import DeadLetter, Job, QueueHistory
from directorybolt.store.services import redis_client
from tests.recovery.test_sweep import DIRS


@pytest.fixture
def orphan(clean, settings_env) -> uuid.UUID:
    """A job committed by a producer that died before it could send the fan-out."""
    settings_env(sweep_interval_s=1, max_requeues=2)
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="growth")
        return j.id


def _age(job_id: uuid.UUID, seconds: float = 5) -> None:
    with db.session() as s:
        s.execute(text("UPDATE jobs SET created_at = created_at - make_interval(secs => :s), "
                       "enqueued_at = enqueued_at - make_interval(secs => :s) WHERE id = :j"),
                  {"s": seconds, "j": job_id})


def _queued() -> set[str]:
    return redis_layout.queued_jobs(redis_client(), ["submissions.growth"], 1000)[0]


def test_a_pending_job_without_a_message_is_queued_by_the_outbox(orphan):
    assert sweep.sweep_stale_jobs(HANDOFF).outbox == [], "not before 2 x the sweep interval"
    _age(orphan)
    assert sweep.sweep_stale_jobs(HANDOFF).outbox == [str(orphan)]
    assert _queued() == {str(orphan)}
    _age(orphan)
    assert sweep.sweep_stale_jobs(HANDOFF).outbox == [], "its message is in the broker now"
    with db.session() as s:
        assert s.scalar(select(QueueHistory.event).where(QueueHistory.job_id == orphan,
                                                         QueueHistory.event == "job_enqueued_by_outbox"))


def test_the_outbox_gives_up_after_its_budget_and_the_replay_starts_the_job(orphan):
    for _ in range(2):  # max_requeues = 2 sends, each consumed and lost
        _age(orphan)
        assert sweep.sweep_stale_jobs(HANDOFF).outbox == [str(orphan)]
        redis_client().delete("submissions.growth")
    _age(orphan)
    report = sweep.sweep_stale_jobs(HANDOFF)
    assert report.outbox == [] and report.dead_lettered == [str(orphan)]
    _age(orphan)
    assert sweep.sweep_stale_jobs(HANDOFF).dead_lettered == [], "dead-lettered once, then left alone"
    with db.session() as s:
        entry = s.scalar(select(DeadLetter))
        assert (entry.task_name, entry.exception_type) == ("tasks.submission.process_job", "JobNeverStarted")
        assert "dead-lettered" in s.get(Job, orphan).status_note
    dlq.replay(entry.id, HANDOFF)
    assert _queued() == {str(orphan)}, "replaying a never-started job enqueues it"
    with db.session() as s:
        job = s.get(Job, orphan)
        assert (job.status, job.requeue_count, job.status_note) == ("pending", 0, None)


def test_process_job_retries_on_every_service_error():
    from tasks.submission import process_job

    for cls in (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError):
        assert issubclass(cls, process_job.autoretry_for)
    import kombu.exceptions
    import redis.exceptions

    for cls in (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError):
        assert issubclass(cls, process_job.autoretry_for)
