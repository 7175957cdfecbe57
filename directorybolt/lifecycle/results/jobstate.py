"""Counting rows into their job: recount and finalise, stopping a job (a refund), and
the last step of a review, which a person takes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from directorybolt.lifecycle.results.outcomes import finish
from directorybolt.lifecycle.results.rules import COUNTS_SQL, final_status_sql
from directorybolt.store import history

# ---- recount (the rare paths: start, reopen) ------------------------------------------

_LOCK_JOB = text("SELECT 1 FROM jobs WHERE id = :job_id FOR UPDATE")

# Run after _LOCK_JOB, in its own statement: in READ COMMITTED each statement takes a
# fresh snapshot, so a counter that waited for the lock sees every result committed
# before it (counting in the locking statement would not).
_RECOUNT = text(
    """
    WITH c AS (
        {counts}
    )
    UPDATE jobs j SET
        submitted = c.submitted, failed = c.failed, needs_review = c.needs_review, skipped = c.skipped,
        last_heartbeat = now(), updated_at = now(), version = j.version + 1,
        status = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN {final} ELSE j.status END,
        finished_at = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN now() ELSE j.finished_at END
    FROM c WHERE j.id = :job_id
    RETURNING j.status, j.finished_at = now() AS finalized
    """.format(counts=COUNTS_SQL, final=final_status_sql("c.submitted", "c.failed", "c.needs_review",
                                                         "j.cancel_requested_at IS NOT NULL"))
)


def lock_job(session: Session, job_id: uuid.UUID) -> None:
    session.execute(_LOCK_JOB, {"job_id": job_id})


def finalize(session: Session, job_id: uuid.UUID) -> str | None:
    """Recount from the results and finalise when every result is terminal. Returns the
    final status only to the caller that performed the transition."""
    lock_job(session, job_id)
    row = session.execute(_RECOUNT, {"job_id": job_id}).one_or_none()
    if row is not None and row.finalized:
        history.record(session, "job_completed", job_id=job_id, status=row.status)
        return str(row.status)
    return None


# ---- stopping a job (a refund) ----------------------------------------------------------

_STOP = text(
    """
    UPDATE jobs SET cancel_requested_at = now(), status_note = :reason, version = version + 1, updated_at = now(),
        status = CASE WHEN status = 'in_progress' THEN status ELSE 'cancelled' END,
        finished_at = CASE WHEN status = 'in_progress' THEN finished_at ELSE now() END
    WHERE id = :job AND status IN ('pending', 'needs_review', 'in_progress') AND cancel_requested_at IS NULL
    RETURNING status
    """
)

_UNSENT = text(
    """
    SELECT id FROM job_results WHERE job_id = :job AND status = 'pending' ORDER BY id FOR UPDATE
    """
)

_SKIP = text(
    """
    WITH r AS (
        UPDATE job_results SET status = 'skipped', error_category = 'cancelled', error_message = :reason,
            retry_at = NULL, finished_at = now(), updated_at = now()
        WHERE id = ANY(:ids) AND status = 'pending'
        RETURNING directory_id, attempts
    ), h AS (
        INSERT INTO queue_history (job_id, directory_id, event, attempt, detail)
        SELECT :job, directory_id, 'submission_skipped', attempts, jsonb_build_object('reason', CAST(:reason AS text))
        FROM r
    )
    SELECT directory_id FROM r ORDER BY directory_id
    """
)


def stop(session: Session, job_id: uuid.UUID, *, reason: str) -> str | None:
    """Tell a job to stop (its own short transaction, the job row alone): a job not
    running yet is cancelled outright; a running one is marked, so nothing new is
    claimed or clicked. Returns the job's status after, None when it had finished or
    was stopped already. Then :func:`skip_unsent`, in another transaction."""
    row = session.execute(_STOP, {"job": job_id, "reason": reason}).one_or_none()
    if row is None:
        return None
    if row.status == "cancelled":
        history.record(session, "job_cancelled", job_id=job_id, reason=reason)
    else:
        history.record(session, "job_stop_requested", job_id=job_id, reason=reason)
    return str(row.status)


def skip_unsent(session: Session, job_id: uuid.UUID, *, reason: str) -> list[str]:
    """The stopped job's results not yet taken by a worker become ``skipped``; those
    already ``submitting`` finish (a worker that reaches the click skips instead, see
    :func:`fence`). Rows are locked in id order before the job row, the documented
    order, and the job is finalised when nothing is left open."""
    ids = list(session.scalars(_UNSENT, {"job": job_id}))
    skipped = list(session.scalars(_SKIP, {"job": job_id, "ids": ids, "reason": reason})) if ids else []
    finalize(session, job_id)
    return skipped


_SKIP_MINE = text(
    """
    SELECT 1 FROM job_results r JOIN jobs j ON j.id = r.job_id
    WHERE r.job_id = :job AND r.directory_id = :dir AND j.cancel_requested_at IS NOT NULL
      AND r.status = 'submitting' AND r.worker_id = :worker AND r.attempts = :attempt AND r.committed_at IS NULL
    """
)


def skip_if_stopped(session: Session, job_id: uuid.UUID, directory_id: str, *, owner: str | None,
                    attempt: int) -> bool:
    """A row ``owner`` still holds, unsent, in a job that was told to stop: skipped."""
    if session.execute(_SKIP_MINE, {"job": job_id, "dir": directory_id, "worker": owner,
                                    "attempt": attempt}).one_or_none() is None:
        return False
    return finish(session, job_id, directory_id, status="skipped", owner=owner, attempt=attempt, committed=False,
                  category="cancelled", message="the job was stopped before this form was sent") is not None


# ---- a person finishes a needs_review row (directorybolt.lifecycle.reviews) ---------------

_REVIEWED = text(
    """
    WITH r AS (
        UPDATE job_results r SET status = p.s, updated_at = now(),
            error_category = CASE p.s WHEN 'failed' THEN 'staff' WHEN 'pending' THEN NULL ELSE r.error_category END,
            error_message = CASE p.s WHEN 'failed' THEN p.m WHEN 'pending' THEN NULL ELSE r.error_message END,
            finished_at = CASE p.s WHEN 'pending' THEN NULL ELSE now() END,
            attempts = CASE p.s WHEN 'pending' THEN 0 ELSE r.attempts END,
            requeues = CASE p.s WHEN 'pending' THEN 0 ELSE r.requeues END,
            committed_at = CASE p.s WHEN 'pending' THEN NULL ELSE r.committed_at END,
            retry_at = NULL, worker_id = NULL, claimed_at = NULL
        FROM (SELECT CAST(:to AS varchar) AS s, CAST(:message AS text) AS m) p
        WHERE r.id = :rid AND r.status = 'needs_review'
        RETURNING r.job_id, r.directory_id, r.attempts
    )
    INSERT INTO queue_history (job_id, directory_id, event, attempt, detail)
    SELECT job_id, directory_id, :event, attempts, CAST(:detail AS jsonb) FROM r
    RETURNING job_id
    """
)

# After _LOCK_JOB (as _RECOUNT). A finished job whose last needs_review row a person
# just resolved is finalised again by the one rule; ``old`` is the locked row as it was.
_REVIEW_RECOUNT = text(
    """
    WITH old AS (SELECT status, needs_review FROM jobs WHERE id = :job_id), c AS (
        {counts}
    ), done AS (
        SELECT old.status IN ('partial', 'failed', 'completed', 'cancelled') AND old.needs_review > 0
               AND c.needs_review = 0 AND c.open = 0 AS last FROM old, c
    )
    UPDATE jobs j SET
        submitted = c.submitted, failed = c.failed, needs_review = c.needs_review, skipped = c.skipped,
        updated_at = now(), version = j.version + 1,
        status = CASE WHEN done.last THEN {final} ELSE j.status END,
        finished_at = CASE WHEN done.last THEN now() ELSE j.finished_at END
    FROM c, done WHERE j.id = :job_id
    RETURNING j.status, done.last AS finalized
    """.format(counts=COUNTS_SQL, final=final_status_sql("c.submitted", "c.failed", "c.needs_review",
                                                         "j.cancel_requested_at IS NOT NULL"))
)


def resolve_review(session: Session, result_id: int, *, to: str, staff: str,
                   detail: dict[str, Any]) -> uuid.UUID | None:
    """needs_review -> ``submitted`` | ``failed`` | ``pending`` (a retry: a fresh budget,
    the form not sent), decided by ``staff``; written to ``queue_history`` with who.
    Returns the row's job, None when the row is no longer ``needs_review``. The caller
    then settles the job (:func:`settle_review`) or reopens it (a retry)."""
    if to not in ("submitted", "failed", "pending"):
        raise ValueError(f"a review cannot move a row to {to!r}")
    event = "review_retried" if to == "pending" else f"review_{to}"
    return session.scalar(_REVIEWED, {"rid": result_id, "to": to, "message": detail.get("reason"),
                                      "event": event, "detail": json.dumps({"staff": staff, **detail})})


def settle_review(session: Session, job_id: uuid.UUID, *, staff: str) -> str | None:
    """Recount the job after a person resolved one of its rows; when that was the last
    row waiting for a person on a finished job, the job gets its final status again
    (a partial job whose rows were all submitted becomes completed). Returns that
    status to the one caller that performed the transition."""
    lock_job(session, job_id)
    row = session.execute(_REVIEW_RECOUNT, {"job_id": job_id}).one_or_none()
    if row is not None and row.finalized:
        history.record(session, "job_completed", job_id=job_id, status=row.status, after="review", staff=staff)
        return str(row.status)
    return None
