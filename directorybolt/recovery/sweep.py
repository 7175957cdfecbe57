"""The stale-job sweep: recovery of work a dead worker left behind (this module owns
it, as rq's ``StartedJobRegistry.cleanup`` does).

It looks for results ``submitting`` under a worker that is dead
(:mod:`directorybolt.recovery.liveness`), retries whose time passed long ago, and
pending results of a quiet job that no longer exist in the broker. Those are re-sent
(idempotency makes that safe), the job's ``requeue_count`` grows, and after
``max_requeues`` the job is dead-lettered and failed instead of looping forever.

A result whose form was already sent (``committed_at`` set) when its worker died is
never re-sent: the directory may have the listing, so it becomes ``needs_review``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update

from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import results
from directorybolt.recovery import dlq, liveness
from directorybolt.recovery.handoff import Handoff
from directorybolt.store import db, history
from directorybolt.store.models import Job, JobResult


@dataclass
class SweepReport:
    requeued: dict[str, list[str]] = field(default_factory=dict)
    interrupted: list[tuple[str, str]] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    dead_workers: list[str] = field(default_factory=list)


def sweep_stale_jobs(handoff: Handoff, *, now: datetime | None = None) -> SweepReport:
    """Requeue what dead workers left behind, through ``handoff`` (which also tells
    whether the broker still holds a message for a quiet job)."""
    s = get_settings()
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=s.stale_after_s)
    # No task holds a claim longer than its hard time limit: an older claim is orphaned.
    claim_cutoff = now - timedelta(seconds=s.task_time_limit_s + s.stale_after_s)
    report = SweepReport()
    to_send: list[tuple[uuid.UUID, str, list[str]]] = []
    with db.session() as session:
        dead = liveness.dead_workers(session, cutoff)
        report.dead_workers = sorted(dead)
        rows = session.execute(
            select(JobResult.job_id, JobResult.directory_id, JobResult.status, JobResult.worker_id,
                   JobResult.claimed_at, JobResult.retry_at, JobResult.committed_at, Job.last_heartbeat, Job.queue)
            .join(Job, Job.id == JobResult.job_id)
            .where(Job.status == "in_progress", JobResult.status.in_(("pending", "submitting")))
        ).all()
        known = liveness.known_workers(session)
        lost: dict[uuid.UUID, list[Any]] = {}
        quiet_pending: dict[uuid.UUID, list[Any]] = {}
        orphaned = liveness.reserved_by_dead([r for r in rows if r.status == "pending" and r.retry_at is None])
        for r in orphaned:
            lost.setdefault(r.job_id, []).append(r)
        taken = {(r.job_id, r.directory_id) for r in orphaned}
        for r in rows:
            if (r.job_id, r.directory_id) in taken:
                continue
            if r.status == "submitting":
                unknown = r.worker_id not in known and (r.claimed_at is None or r.claimed_at < cutoff)
                overdue = r.claimed_at is not None and r.claimed_at < claim_cutoff
                if r.worker_id in dead or unknown or overdue:
                    lost.setdefault(r.job_id, []).append(r)
            elif r.retry_at is not None:
                if r.retry_at < cutoff:
                    lost.setdefault(r.job_id, []).append(r)
            elif r.last_heartbeat is None or r.last_heartbeat < cutoff:
                quiet_pending.setdefault(r.job_id, []).append(r)
        for job_id, pend in quiet_pending.items():
            if not handoff.job_in_broker(pend[0].queue, str(job_id)):
                lost.setdefault(job_id, []).extend(pend)
        for job_id, lost_rows in lost.items():
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or job.status != "in_progress":
                continue
            if job.requeue_count >= s.max_requeues:
                _give_up(session, job, lost_rows)
                report.dead_lettered.append(str(job_id))
                reason = f"requeued {job.requeue_count} times and still stale"
                dlq.record_stale_job(session, job, handoff, reason=reason)
                continue
            resend: list[str] = []
            for r in lost_rows:
                if r.status == "submitting" and r.committed_at is not None:
                    _mark_interrupted(session, job_id, r.directory_id)
                    report.interrupted.append((str(job_id), r.directory_id))
                else:
                    resend.append(r.directory_id)
            session.execute(
                update(JobResult)
                .where(JobResult.job_id == job_id, JobResult.directory_id.in_(resend))
                .values(status="pending", worker_id=None, retry_at=None, claimed_at=None)
            )
            job.requeue_count += 1
            job.last_heartbeat = now
            reason = _reason(lost_rows, dead)
            history.record(session, "job_requeued_stale", job_id=job_id, attempt=job.requeue_count,
                           reason=reason, directories=resend)
            results.finalize(session, job_id)
            report.requeued[str(job_id)] = resend
            to_send.append((job_id, job.queue, resend))
        liveness.forget_workers(session, dead)
    liveness.forget_reserved([(job_id, directory_ids) for job_id, _, directory_ids in to_send])
    for job_id, queue, directory_ids in to_send:
        handoff.send_submissions(job_id, directory_ids, queue)
    return report


def _reason(rows: list[Any], dead: set[str]) -> str:
    parts = []
    if any(r.status == "submitting" for r in rows):
        workers = sorted({r.worker_id for r in rows if r.status == "submitting" and r.worker_id})
        parts.append(f"worker heartbeat lapsed ({', '.join(workers) or 'unknown worker'})")
    if any(r.status == "pending" and r.retry_at is not None for r in rows):
        parts.append("retry overdue")
    if any(r.status == "pending" and r.retry_at is None for r in rows):
        parts.append("pending work missing from the broker or taken by a worker that died")
    return "; ".join(parts)


def _mark_interrupted(session: Any, job_id: uuid.UUID, directory_id: str) -> None:
    session.execute(
        update(JobResult)
        .where(JobResult.job_id == job_id, JobResult.directory_id == directory_id)
        .values(
            status="needs_review",
            error_category="interrupted",
            error_message="the worker stopped after sending the form; check the directory before resubmitting",
            finished_at=text("now()"),
        )
    )
    history.record(session, "submission_interrupted", job_id=job_id, directory_id=directory_id)


def _give_up(session: Any, job: Job, rows: list[Any]) -> None:
    session.execute(
        update(JobResult)
        .where(JobResult.job_id == job.id, JobResult.status.in_(("pending", "submitting")))
        .values(status="failed", error_category="stale", error_message="abandoned after repeated worker loss",
                finished_at=text("now()"))
    )
    results.finalize(session, job.id)
    session.execute(
        update(Job).where(Job.id == job.id).values(status="failed", status_note="dead-lettered: stale too often")
        .execution_options(synchronize_session=False)
    )
    history.record(session, "job_dead_lettered", job_id=job.id, requeues=job.requeue_count)
