"""Claim, fence, release: who owns a row before the form is sent (see the package docstring)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from directorybolt.lifecycle.results.jobstate import skip_if_stopped
from directorybolt.lifecycle.results.outcomes import finish
from directorybolt.store import history

# ---- claim ---------------------------------------------------------------------------

_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE job_results r SET status = 'submitting', worker_id = :worker, claimed_at = now(),
            committed_at = NULL, attempts = r.attempts + 1, updated_at = now()
        FROM jobs j
        WHERE r.job_id = :job AND r.directory_id = :dir AND j.id = r.job_id AND j.status = 'in_progress'
          AND j.cancel_requested_at IS NULL
          AND r.status = 'pending' AND (r.retry_at IS NULL OR r.retry_at <= now())
        RETURNING r.attempts, r.requeues, j.tier, j.customer_id
    ), beat AS (
        UPDATE jobs SET last_heartbeat = now() WHERE id = :job AND EXISTS (SELECT 1 FROM claimed)
    )
    SELECT attempts, requeues, tier, customer_id FROM claimed
    """
)

_CURRENT = text(
    """
    SELECT r.status, r.worker_id, r.attempts, r.requeues, r.committed_at IS NOT NULL AS committed,
           CASE WHEN j.cancel_requested_at IS NULL THEN j.status ELSE 'stopped' END AS job_status, j.tier,
           j.customer_id,
           GREATEST(0, EXTRACT(epoch FROM r.retry_at - now()))::float AS wait_s
    FROM job_results r JOIN jobs j ON j.id = r.job_id
    WHERE r.job_id = :job AND r.directory_id = :dir
    """
)

_RECLAIM = text(
    """
    UPDATE job_results SET worker_id = :worker, claimed_at = now(), attempts = attempts + 1, updated_at = now()
    WHERE job_id = :job AND directory_id = :dir AND status = 'submitting' AND worker_id = :dead
      AND attempts = :attempt AND committed_at IS NULL
    RETURNING attempts, requeues
    """
)


@dataclass(frozen=True)
class Claimed:
    """This worker owns the row now; ``attempt`` is its fencing token."""

    attempt: int
    requeues: int
    tier: str
    customer_id: uuid.UUID


@dataclass(frozen=True)
class Early:
    """A retry arrived before its time (the sender's clock ran ahead of the database's)."""

    wait_s: float


@dataclass(frozen=True)
class Nothing:
    """Someone else has it, or it is finished: nothing to do."""

    status: str


def claim(session: Session, job_id: uuid.UUID, directory_id: str, worker: str,
          is_dead_here: Any = None) -> Claimed | Early | Nothing:
    """pending -> submitting for ``worker``. A row held by a worker that died on this
    host (``is_dead_here(worker_id)``), or by an earlier try of this very worker that
    lost its connection, is taken over at once if its form was not sent; if ours was
    sent and not recorded, the row ends ``needs_review``."""
    params = {"job": job_id, "dir": directory_id, "worker": worker}
    row = session.execute(_CLAIM, params).one_or_none()
    if row is not None:
        return Claimed(row.attempts, row.requeues, row.tier, row.customer_id)
    cur = session.execute(_CURRENT, params).one_or_none()
    if cur is None:
        return Nothing("missing")
    if cur.status == "pending" and cur.job_status == "in_progress" and cur.wait_s > 0:
        return Early(cur.wait_s)
    mine = cur.worker_id == worker  # a process runs one task at a time: an earlier try of ours
    if cur.status == "submitting" and mine and cur.committed:
        # Our earlier try sent the form and could not record the outcome: a person checks.
        finish(session, job_id, directory_id, status="needs_review", owner=worker, attempt=cur.attempts,
               committed=True, category="interrupted", event="submission_interrupted",
               message="the outcome after sending the form was not recorded; check the directory before resubmitting")
        return Nothing("needs_review")
    dead = is_dead_here is not None and is_dead_here(cur.worker_id)
    if cur.status == "submitting" and not cur.committed and (mine or dead):
        taken = session.execute(_RECLAIM, {**params, "dead": cur.worker_id, "attempt": cur.attempts}).one_or_none()
        if taken is not None:
            history.record(session, "submission_reclaimed", job_id=job_id, directory_id=directory_id,
                           attempt=taken.attempts, previous_worker=cur.worker_id)
            return Claimed(taken.attempts, taken.requeues, cur.tier, cur.customer_id)
    return Nothing(cur.status if cur.job_status == "in_progress" else f"job {cur.job_status}")


# ---- fence: the last check before the click that sends the form ----------------------

_FENCE = text(
    """
    UPDATE job_results r SET committed_at = now(), updated_at = now()
    WHERE r.job_id = :job AND r.directory_id = :dir AND r.status = 'submitting' AND r.worker_id = :worker
      AND r.attempts = :attempt AND r.committed_at IS NULL
      AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = r.job_id AND j.status = 'in_progress'
                  AND j.cancel_requested_at IS NULL)
    RETURNING 1
    """
)


def fence(session: Session, job_id: uuid.UUID, directory_id: str, worker: str, attempt: int) -> bool:
    """Prove the claim still holds and mark the row committed; False means do not click
    (the row was swept, re-claimed or the job cancelled since it was claimed)."""
    won = session.execute(_FENCE, {"job": job_id, "dir": directory_id, "worker": worker,
                                   "attempt": attempt}).one_or_none() is not None
    if not won:
        history.record(session, "submission_fence_lost", job_id=job_id, directory_id=directory_id,
                       attempt=attempt, worker=worker)
        skip_if_stopped(session, job_id, directory_id, owner=worker, attempt=attempt)
    return won


# ---- release: back to pending, only before the form was sent -------------------------

_RELEASE = text(
    """
    UPDATE job_results SET status = 'pending', retry_at = now() + make_interval(secs => :delay),
        error_category = :category, error_message = :message, worker_id = NULL, claimed_at = NULL,
        updated_at = now(), attempts = attempts - :refund
    WHERE job_id = :job AND directory_id = :dir AND status = 'submitting' AND worker_id = :worker
      AND attempts = :attempt AND committed_at IS NULL
    RETURNING attempts
    """
)


def release(session: Session, job_id: uuid.UUID, directory_id: str, worker: str, attempt: int, *,
            delay_s: float, refund: bool = False, category: str | None = None, message: str | None = None,
            event: str | None = None) -> bool:
    """Give the row back for another try in ``delay_s``; ``refund`` does not count the
    attempt (pacing, a warm shutdown, a fault of our own machinery)."""
    if skip_if_stopped(session, job_id, directory_id, owner=worker, attempt=attempt):
        return False  # the customer no longer wants it: skipped, not tried again
    row = session.execute(_RELEASE, {"delay": delay_s, "category": category, "message": message, "job": job_id,
                                     "dir": directory_id, "worker": worker, "attempt": attempt,
                                     "refund": int(refund)}).one_or_none()
    if row is not None and event:
        history.record(session, event, job_id=job_id, directory_id=directory_id, attempt=attempt,
                       delay_s=delay_s, category=category, refunded=refund)
    return row is not None
