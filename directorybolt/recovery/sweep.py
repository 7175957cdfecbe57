"""The stale sweep: recovery of work a dead worker left behind, and the jobs' outbox
(this module owns both, as rq's ``StartedJobRegistry.cleanup`` owns its registry).

It looks, in bounded batches and on the database's clock, for results ``submitting``
under a worker that is dead (:mod:`directorybolt.recovery.liveness`), retries whose
time passed long ago, pending results of a quiet job that are no longer in the broker,
and pending jobs whose fan-out message never reached the broker (the outbox). It
decides on a snapshot, so every write is a guarded transition
(:mod:`directorybolt.lifecycle.results`) that names what it saw: when a worker claimed
the row since, the write does nothing and nothing is re-sent. Many sweeps may run at
once (Beat, and every worker at start-up): each row is won by one of them.

A result whose form was already sent (``committed_at``) is never re-sent: the
directory may have the listing, so it becomes ``needs_review``. Each result row has
its own requeue budget (``max_requeues``): a row that used it up fails on its own and
is dead-lettered; the rest of its job carries on. Messages, dead-letter copies and
Sentry events go out only after the transaction that decided them has committed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from directorybolt.core.queues import PROCESS_JOB, SUBMIT_DIRECTORY, submission_queues
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import results
from directorybolt.recovery import dlq, liveness
from directorybolt.recovery.handoff import Handoff
from directorybolt.store import db, history

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    requeued: dict[str, list[str]] = field(default_factory=dict)
    interrupted: list[tuple[str, str]] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    dead_workers: list[str] = field(default_factory=list)
    outbox: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    #: Quiet rows or pending jobs left for the next sweep: the broker holds more messages
    #: than one sweep reads, so absence from it could not be proven.
    deferred: int = 0


# Only rows that may be lost, on the database's clock; the LIMIT bounds one sweep.
_CANDIDATES = text(
    """
    SELECT r.job_id, r.directory_id, r.status, r.worker_id, r.attempts, r.requeues,
           r.committed_at IS NOT NULL AS committed, r.retry_at IS NOT NULL AS has_retry, j.queue, j.tier,
           j.cancel_requested_at IS NOT NULL AS stopped,
           CASE
             WHEN r.status = 'submitting' AND r.worker_id = ANY(CAST(:dead AS text[])) THEN 'dead_worker'
             WHEN r.status = 'submitting' AND r.claimed_at < now() - make_interval(secs => :overdue) THEN 'overdue'
             WHEN r.status = 'submitting' THEN 'unknown_worker'
             WHEN r.retry_at IS NOT NULL THEN 'retry_overdue'
             ELSE 'quiet'
           END AS reason
    FROM job_results r JOIN jobs j ON j.id = r.job_id
    WHERE j.status = 'in_progress' AND (r.status = 'submitting' OR j.cancel_requested_at IS NULL) AND (
        (r.status = 'submitting' AND (
            r.worker_id = ANY(CAST(:dead AS text[]))
            OR r.claimed_at < now() - make_interval(secs => :overdue)
            OR (r.claimed_at < now() - make_interval(secs => :stale)
                AND NOT EXISTS (SELECT 1 FROM worker_heartbeats w WHERE w.worker_id = r.worker_id))))
        OR (r.status = 'pending' AND r.retry_at < now() - make_interval(secs => :stale))
        OR (r.status = 'pending' AND r.retry_at IS NULL
            AND (j.last_heartbeat IS NULL OR j.last_heartbeat < now() - make_interval(secs => :stale)))
        OR (r.status = 'pending' AND r.retry_at IS NULL AND (r.job_id::text || '|' || r.directory_id) = ANY(:orphans))
    )
    ORDER BY r.id
    LIMIT :batch
    """
)

_STUCK_JOBS = text(
    """
    SELECT id, queue, tier, version, requeue_count FROM jobs
    WHERE status = 'pending' AND requeue_count <= :max_requeues
      AND COALESCE(enqueued_at, created_at) < now() - make_interval(secs => :after)
    ORDER BY created_at
    LIMIT :batch
    """
)

# Jobs told to stop (a refund) whose unsent results were not skipped yet.
_STOPPED = text(
    """
    SELECT j.id FROM jobs j
    WHERE j.status = 'in_progress' AND j.cancel_requested_at IS NOT NULL
      AND EXISTS (SELECT 1 FROM job_results r WHERE r.job_id = j.id AND r.status = 'pending')
    LIMIT :batch
    """
)

_OUTBOX_SEND = text(
    """
    UPDATE jobs SET enqueued_at = now(), requeue_count = requeue_count + 1, version = version + 1,
        status_note = CASE WHEN requeue_count + 1 > :max_requeues
                           THEN 'not started: the fan-out was queued too often; dead-lettered'
                           ELSE status_note END
    WHERE id = :id AND status = 'pending' AND version = :version
    RETURNING requeue_count
    """
)


@dataclass
class _Plan:
    """What one sweep decided, to act on after its commits."""

    sends: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)
    jobs: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    letters: list[dlq.Pending] = field(default_factory=list)
    orphans_seen: list[str] = field(default_factory=list)


def sweep_stale_jobs(handoff: Handoff) -> SweepReport:
    """Recover lost work through ``handoff`` (which also tells what the broker holds)."""
    s = get_settings()
    report = SweepReport()
    dead = liveness.judge_workers()
    report.dead_workers = sorted(dead)
    orphans = liveness.reserved_by_dead()
    params = {"dead": sorted(dead), "stale": s.stale_after_s, "batch": s.sweep_batch,
              "overdue": s.task_time_limit_s + s.stale_after_s, "orphans": sorted(orphans)}
    with db.session() as session:
        rows = session.execute(_CANDIDATES, params).all()
        stuck = session.execute(_STUCK_JOBS, {"max_requeues": s.max_requeues, "batch": s.sweep_batch,
                                               "after": 2 * s.sweep_interval_s}).all()
        stopped = list(session.scalars(_STOPPED, {"batch": s.sweep_batch}))
    for job_id in stopped:
        with db.session() as session:
            report.skipped[str(job_id)] = results.skip_unsent(session, job_id, reason="the job was stopped")
    queued: set[str] | None = None
    quiet = [r for r in rows if r.reason == "quiet" and f"{r.job_id}|{r.directory_id}" not in orphans]
    if quiet or stuck:
        queued = _queued_jobs(handoff, s.sweep_broker_scan)
    plan = _Plan()
    for r in rows:
        key = f"{r.job_id}|{r.directory_id}"
        if r.reason == "quiet" and key not in orphans and (queued is None or str(r.job_id) in queued):
            report.deferred += int(queued is None)
            continue
        why = "reserved by a worker that died" if key in orphans else r.reason.replace("_", " ")
        _recover_row(r, why, plan, report)
        if key in orphans:
            plan.orphans_seen.append(key)
    for j in stuck:
        if queued is None or str(j.id) in queued:
            report.deferred += int(queued is None)
            continue
        _outbox(j, plan, report)
    done = orphans if len(rows) < s.sweep_batch else {k: orphans[k] for k in plan.orphans_seen}
    liveness.forget_reserved(list(done.values()))
    liveness.forget_workers(dead)
    for job_id, directory_id, queue in plan.sends:
        handoff.send_submissions(job_id, [directory_id], queue)
    for job_id, queue in plan.jobs:
        handoff.send_job(job_id, queue)
    for letter in plan.letters:
        letter.publish(handoff)
    return report


def _queued_jobs(handoff: Handoff, limit: int) -> set[str] | None:
    """Job ids with a message waiting in a submission queue; None when the queues hold
    more than one sweep may read (then absence proves nothing)."""
    found, complete = handoff.queued_jobs(submission_queues(), limit)
    return found if complete else None


def _recover_row(r: Any, why: str, plan: _Plan, report: SweepReport) -> None:
    s = get_settings()
    with db.session() as session:
        if r.stopped and not r.committed:  # a refund stopped the job: never sent, never re-sent
            results.finish(session, r.job_id, r.directory_id, status="skipped", from_status=r.status,
                           owner=r.worker_id, attempt=r.attempts, committed=False, category="cancelled",
                           message="the job was stopped before this form was sent")
            return
        if r.status == "submitting" and r.committed:
            done = results.finish(
                session, r.job_id, r.directory_id, status="needs_review", owner=r.worker_id, attempt=r.attempts,
                committed=True, category="interrupted", event="submission_interrupted",
                message="the worker stopped after sending the form; check the directory before resubmitting",
                detail={"reason": why})
            if done is not None:
                report.interrupted.append((str(r.job_id), r.directory_id))
            return
        if r.requeues >= s.max_requeues:
            done = results.finish(
                session, r.job_id, r.directory_id, status="failed", from_status=r.status, owner=r.worker_id,
                attempt=r.attempts, requeues=r.requeues, committed=False, category="stale",
                message=f"lost {r.requeues + 1} times ({why}); given up", event="submission_given_up",
                detail={"reason": why, "requeues": r.requeues})
            if done is not None:
                plan.letters.append(dlq.record(
                    session, task_name=SUBMIT_DIRECTORY, args=[str(r.job_id), r.directory_id],
                    kwargs={"tier_queue": r.queue}, queue=r.queue, tier=r.tier, job_id=r.job_id,
                    directory_id=r.directory_id, exception_type="StaleSubmission", attempts=r.attempts,
                    message=f"requeued {r.requeues} times and lost again ({why})"))
                report.dead_lettered.append(f"{r.job_id}/{r.directory_id}")
            return
        queue = results.requeue(session, r.job_id, r.directory_id, from_status=r.status, owner=r.worker_id,
                                attempt=r.attempts, requeues=r.requeues, reason=why)
    if queue is not None:
        plan.sends.append((r.job_id, r.directory_id, queue))
        report.requeued.setdefault(str(r.job_id), []).append(r.directory_id)


def _outbox(j: Any, plan: _Plan, report: SweepReport) -> None:
    s = get_settings()
    with db.session() as session:
        sent = session.execute(_OUTBOX_SEND, {"id": j.id, "version": j.version,
                                              "max_requeues": s.max_requeues}).one_or_none()
        if sent is None:
            return
        if sent.requeue_count > s.max_requeues:
            plan.letters.append(dlq.record(
                session, task_name=PROCESS_JOB, args=[str(j.id)], kwargs={"tier_queue": j.queue}, queue=j.queue,
                tier=j.tier, job_id=j.id, directory_id=None, exception_type="JobNeverStarted",
                attempts=j.requeue_count, message=f"the fan-out was queued {j.requeue_count} times and never ran"))
            report.dead_lettered.append(str(j.id))
            return
        history.record(session, "job_enqueued_by_outbox", job_id=j.id, attempt=sent.requeue_count)
    plan.jobs.append((j.id, j.queue))
    report.outbox.append(str(j.id))
