"""The dead-letter queue owns its entries' whole life: record, list, replay, purge.

Celery on Redis simply deletes a rejected task, so dead-lettering is built here:
a durable ``dead_letters`` row is the truth (the CLI and API read it), and the same
message is published on the ``dead_letter`` broker queue, which nobody consumes,
so Flower shows its depth. Replay and purge remove the broker copy too, keeping
the two in step.
"""

from __future__ import annotations

import json
import logging
import traceback as tb
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from directorybolt.core.errors import ConflictError, NotFound
from directorybolt.lifecycle import jobs
from directorybolt.ops.sentry import capture_dead_letter
from directorybolt.recovery.handoff import Handoff
from directorybolt.store import db, history
from directorybolt.store.models import DeadLetter, Job, JobResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    task_name: str
    task_id: str | None
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str | None
    exc: BaseException
    traceback: str | None
    attempts: int


def dead_letter(failure: Failure, handoff: Handoff) -> int:
    """Record a task that will not be retried again; returns the dead-letter id."""
    job_id, directory_id = _job_and_directory(failure.args, failure.kwargs)
    with db.session() as s:
        tier = None
        if job_id is not None:
            job = s.get(Job, job_id)
            tier = job.tier if job else None
            if job is None:
                job_id = None
        first = None
        if job_id is not None and directory_id is not None:
            first = s.scalar(
                select(JobResult.created_at).where(JobResult.job_id == job_id, JobResult.directory_id == directory_id)
            )
        entry = DeadLetter(
            task_name=failure.task_name,
            task_id=failure.task_id,
            args=list(failure.args),
            kwargs=dict(failure.kwargs),
            queue=failure.queue,
            tier=tier,
            job_id=job_id,
            directory_id=directory_id,
            exception_type=type(failure.exc).__name__,
            exception_message=str(failure.exc)[:4000],
            traceback=failure.traceback or "".join(tb.format_exception(failure.exc))[-20000:],
            attempts=failure.attempts,
            first_failure_at=first or func.now(),
        )
        s.add(entry)
        s.flush()
        history.record(s, "dead_lettered", job_id=job_id, directory_id=directory_id, attempt=failure.attempts,
                       task=failure.task_name, error=type(failure.exc).__name__)
        dl_id = entry.id
    _publish(handoff, dl_id, failure)
    _report_to_sentry(dl_id, failure, tier, job_id, directory_id)
    return dl_id


def record_stale_job(session: Session, job: Job, handoff: Handoff, *, reason: str) -> int:
    """A job the stale sweep gave up on: dead-lettered as a replayable process_job."""
    entry = DeadLetter(
        task_name="tasks.submission.process_job",
        args=[str(job.id)],
        kwargs={"tier_queue": job.queue},
        queue=job.queue,
        tier=job.tier,
        job_id=job.id,
        exception_type="StaleJob",
        exception_message=reason,
        attempts=job.requeue_count,
    )
    session.add(entry)
    session.flush()
    failure = Failure(entry.task_name, None, entry.args, entry.kwargs, job.queue, RuntimeError(reason), None,
                      job.requeue_count)
    _publish(handoff, entry.id, failure)
    _report_to_sentry(entry.id, failure, job.tier, job.id, None)
    return entry.id


def _job_and_directory(args: list[Any], kwargs: dict[str, Any]) -> tuple[uuid.UUID | None, str | None]:
    job_raw = kwargs.get("job_id", args[0] if args else None)
    directory = kwargs.get("directory_id", args[1] if len(args) > 1 else None)
    try:
        job_id = uuid.UUID(str(job_raw)) if job_raw else None
    except ValueError:
        job_id = None
    return job_id, str(directory) if directory else None


def _broker_payload(dl_id: int, failure: Failure) -> bytes:
    return json.dumps(
        {
            "dead_letter_id": dl_id,
            "task": failure.task_name,
            "task_id": failure.task_id,
            "args": failure.args,
            "kwargs": failure.kwargs,
            "queue": failure.queue,
            "exception": f"{type(failure.exc).__name__}: {failure.exc}"[:1000],
        }
    ).encode()


def _publish(handoff: Handoff, dl_id: int, failure: Failure) -> None:
    """Publish the broker copy, so Flower counts it; the row stays the truth if this fails."""
    try:
        handoff.publish_dead_letter(_broker_payload(dl_id, failure))
    except Exception as exc:
        log.error("dead letter %s recorded but not published to the broker: %s", dl_id, exc)


def _report_to_sentry(dl_id: int, failure: Failure, tier: str | None, job_id: Any, directory_id: str | None) -> None:
    capture_dead_letter(
        failure.exc,
        tags={"dead_letter_id": str(dl_id), "task": failure.task_name, "tier": tier or "",
              "job_id": str(job_id or ""), "directory": directory_id or ""},
    )


def list_entries(*, state: str | None = "open", limit: int = 100) -> list[DeadLetter]:
    with db.session() as s:
        q = select(DeadLetter).order_by(DeadLetter.created_at.desc()).limit(limit)
        if state:
            q = q.where(DeadLetter.state == state)
        return list(s.scalars(q))


def get(dl_id: int) -> DeadLetter:
    with db.session() as s:
        entry = s.get(DeadLetter, dl_id)
        if entry is None:
            raise NotFound(f"dead letter {dl_id} does not exist")
        return entry


def open_count() -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).where(DeadLetter.state == "open")) or 0


def replay(dl_id: int, handoff: Handoff) -> DeadLetter:
    """Re-queue to the original tier queue with a fresh retry budget."""
    with db.session() as s:
        entry = s.get(DeadLetter, dl_id, with_for_update=True)
        if entry is None:
            raise NotFound(f"dead letter {dl_id} does not exist")
        if entry.state != "open":
            raise ConflictError(f"dead letter {dl_id} is {entry.state}, only open entries can be replayed")
        queue = entry.queue or (entry.kwargs or {}).get("tier_queue")
        if entry.job_id is not None:
            if entry.directory_id:
                s.execute(
                    update(JobResult)
                    .where(JobResult.job_id == entry.job_id, JobResult.directory_id == entry.directory_id,
                           JobResult.status == "failed")
                    .values(status="pending", attempts=0, error_category=None, error_message=None,
                            retry_at=None, worker_id=None, finished_at=None)
                )
            else:
                s.execute(
                    update(JobResult)
                    .where(JobResult.job_id == entry.job_id, JobResult.status == "failed",
                           JobResult.error_category == "stale")
                    .values(status="pending", attempts=0, error_category=None, error_message=None)
                )
                s.execute(update(Job).where(Job.id == entry.job_id).values(requeue_count=0))
            jobs.reopen(s, entry.job_id)
        entry.state = "replayed"
        entry.state_changed_at = func.now()
        history.record(s, "dlq_replayed", job_id=entry.job_id, directory_id=entry.directory_id,
                       dead_letter_id=dl_id, task=entry.task_name)
    handoff.withdraw_dead_letter(dl_id)
    if entry.directory_id and entry.job_id:
        handoff.send_submissions(entry.job_id, [entry.directory_id], queue)
    elif entry.job_id:
        with db.session() as s:
            pending = list(s.scalars(select(JobResult.directory_id).where(
                JobResult.job_id == entry.job_id, JobResult.status == "pending")))
        handoff.send_submissions(entry.job_id, pending, queue)
    return entry


def replay_all(handoff: Handoff, *, task: str | None = None, limit: int = 1000) -> list[int]:
    ids = [e.id for e in list_entries(state="open", limit=limit) if task is None or e.task_name == task]
    done = []
    for dl_id in ids:
        try:
            replay(dl_id, handoff)
            done.append(dl_id)
        except ConflictError:
            continue
    return done


def purge(dl_id: int, handoff: Handoff) -> None:
    with db.session() as s:
        entry = s.get(DeadLetter, dl_id, with_for_update=True)
        if entry is None:
            raise NotFound(f"dead letter {dl_id} does not exist")
        if entry.state == "open":
            entry.state = "purged"
            entry.state_changed_at = func.now()
            history.record(s, "dlq_purged", job_id=entry.job_id, directory_id=entry.directory_id, dead_letter_id=dl_id)
    handoff.withdraw_dead_letter(dl_id)


def purge_older_than(days: float, handoff: Handoff) -> int:
    cutoff = datetime.now(UTC) - timedelta(days=days)
    ids = []
    with db.session() as s:
        ids = list(s.scalars(select(DeadLetter.id).where(DeadLetter.state == "open", DeadLetter.created_at < cutoff)))
    for dl_id in ids:
        purge(dl_id, handoff)
    return len(ids)


def as_dict(e: DeadLetter, *, full: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": e.id, "task": e.task_name, "state": e.state, "job_id": str(e.job_id) if e.job_id else None,
        "directory": e.directory_id, "tier": e.tier, "queue": e.queue, "exception_type": e.exception_type,
        "exception_message": e.exception_message, "attempts": e.attempts,
        "first_failure_at": e.first_failure_at.isoformat() if e.first_failure_at else None,
        "last_failure_at": e.last_failure_at.isoformat() if e.last_failure_at else None,
    }
    if full:
        d.update(args=e.args, kwargs=e.kwargs, traceback=e.traceback, task_id=e.task_id)
    return d
