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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directorybolt.core.errors import ConflictError, NotFound
from directorybolt.lifecycle import jobs, results
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


@dataclass(frozen=True)
class Pending:
    """A dead letter written in a transaction that has not committed yet: its broker
    copy and its Sentry event go out only after the commit (:meth:`publish`)."""

    entry_id: int
    failure: Failure
    tier: str | None
    job_id: uuid.UUID | None
    directory_id: str | None

    def publish(self, handoff: Handoff) -> None:
        _publish(handoff, self.entry_id, self.failure)
        _report_to_sentry(self.entry_id, self.failure, self.tier, self.job_id, self.directory_id)


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
        pending = _write(s, failure, tier=tier, job_id=job_id, directory_id=directory_id, first=first)
    pending.publish(handoff)
    return pending.entry_id


def record(session: Session, *, task_name: str, args: list[Any], kwargs: dict[str, Any], queue: str | None,
           tier: str | None, job_id: uuid.UUID | None, directory_id: str | None, exception_type: str,
           message: str, attempts: int) -> Pending:
    """Dead-letter work that recovery gave up on, inside the caller's transaction;
    the caller publishes the returned :class:`Pending` after its commit."""
    exc = GivenUp(f"{exception_type}: {message}")
    failure = Failure(task_name, None, args, kwargs, queue, exc, None, attempts)
    return _write(session, failure, tier=tier, job_id=job_id, directory_id=directory_id, first=None,
                  exception_type=exception_type)


class GivenUp(Exception):
    """What recovery reports when it stops trying (no task raised anything)."""


def _write(session: Session, failure: Failure, *, tier: str | None, job_id: uuid.UUID | None,
           directory_id: str | None, first: Any, exception_type: str | None = None) -> Pending:
    entry = DeadLetter(
        task_name=failure.task_name,
        task_id=failure.task_id,
        args=list(failure.args),
        kwargs=dict(failure.kwargs),
        queue=failure.queue,
        tier=tier,
        job_id=job_id,
        directory_id=directory_id,
        exception_type=exception_type or type(failure.exc).__name__,
        exception_message=str(failure.exc)[:4000],
        traceback=failure.traceback or "".join(tb.format_exception(failure.exc))[-20000:],
        attempts=failure.attempts,
        first_failure_at=first or func.now(),
    )
    session.add(entry)
    session.flush()
    history.record(session, "dead_lettered", job_id=job_id, directory_id=directory_id, attempt=failure.attempts,
                   task=failure.task_name, error=entry.exception_type)
    return Pending(entry.id, failure, tier, job_id, directory_id)


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


def replay(dl_id: int, handoff: Handoff, *, force: bool = False) -> DeadLetter:
    """Re-queue to the original tier queue with a fresh retry budget. A submission whose
    form may already have reached the directory is refused unless ``force``: sending it
    again may list the customer twice. A job that never started is enqueued again."""
    with db.session() as s:
        entry = s.get(DeadLetter, dl_id, with_for_update=True)
        if entry is None:
            raise NotFound(f"dead letter {dl_id} does not exist")
        if entry.state != "open":
            raise ConflictError(f"dead letter {dl_id} is {entry.state}, only open entries can be replayed")
        queue = entry.queue or (entry.kwargs or {}).get("tier_queue")
        send: list[str] = []
        start = False
        if entry.job_id is not None and entry.directory_id:
            sent = results.form_sent(s, entry.job_id, [entry.directory_id])
            if sent and not force:
                raise ConflictError(
                    f"dead letter {dl_id}: the form for {entry.directory_id} was sent before the failure, so the "
                    "directory may already list the customer; check it, then replay with --force to send it again")
            results.reset_for_replay(s, entry.job_id, [entry.directory_id], force=force)
            jobs.reopen(s, entry.job_id)
            send = list(s.scalars(select(JobResult.directory_id).where(
                JobResult.job_id == entry.job_id, JobResult.directory_id == entry.directory_id,
                JobResult.status == "pending")))
        elif entry.job_id is not None:
            start = jobs.restart_outbox(s, entry.job_id)
            if not start:
                send = list(s.scalars(select(JobResult.directory_id).where(
                    JobResult.job_id == entry.job_id, JobResult.status == "pending")))
        entry.state = "replayed"
        entry.state_changed_at = func.now()
        history.record(s, "dlq_replayed", job_id=entry.job_id, directory_id=entry.directory_id,
                       dead_letter_id=dl_id, task=entry.task_name, forced=force, sent=len(send), started=start)
    handoff.withdraw_dead_letter(dl_id)
    if entry.job_id is not None and queue:
        if start:
            handoff.send_job(entry.job_id, queue)
        elif send:
            handoff.send_submissions(entry.job_id, send, queue)
    return entry


def replay_all(handoff: Handoff, *, task: str | None = None, limit: int = 1000, force: bool = False) -> list[int]:
    ids = [e.id for e in list_entries(state="open", limit=limit) if task is None or e.task_name == task]
    done = []
    for dl_id in ids:
        try:
            replay(dl_id, handoff, force=force)
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
