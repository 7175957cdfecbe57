"""Counting results into their job and finalising the job exactly once.

Counters and finalisation are single conditional UPDATE statements computed from
``job_results`` (or incremented under the job's row lock), so concurrent submissions
never lose an increment and a job is finalised once, however many times its last task
is redelivered. The rule that names a finished job's status is written once,
:func:`final_status_sql`, and used by both statements.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from directorybolt.store import history


def final_status_sql(submitted: str, failed: str, needs_review: str, stopped: str = "false") -> str:
    """The final-status rule as SQL over three count expressions: ``completed`` when
    nothing failed or waits for a person, ``failed`` when nothing was submitted,
    ``partial`` otherwise. A job told to stop (``stopped``, a boolean expression: a
    refund, :func:`skip_unsent`) skipped work the customer no longer gets, so it is
    ``cancelled`` when nothing was submitted and ``partial`` otherwise."""
    return (f"CASE WHEN {stopped} THEN CASE WHEN {submitted} = 0 THEN 'cancelled' ELSE 'partial' END "
            f"WHEN {failed} + {needs_review} = 0 THEN 'completed' "
            f"WHEN {submitted} = 0 THEN 'failed' ELSE 'partial' END")


_LOCK_JOB = text("SELECT 1 FROM jobs WHERE id = :job_id FOR UPDATE")


def lock_job(session: Session, job_id: uuid.UUID) -> None:
    session.execute(_LOCK_JOB, {"job_id": job_id})

# Recount from job_results. Run after _LOCK_JOB, in its own statement: in READ COMMITTED
# each statement takes a fresh snapshot, so a counter that waited for the lock sees
# every result committed before it (counting in the locking statement would not).
_RECOUNT_SQL = text(
    """
    WITH c AS (
        SELECT count(*) FILTER (WHERE status = 'submitted') AS submitted,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'needs_review') AS needs_review,
               count(*) FILTER (WHERE status = 'skipped') AS skipped,
               count(*) FILTER (WHERE status IN ('pending', 'submitting')) AS open
        FROM job_results WHERE job_id = :job_id
    )
    UPDATE jobs j SET
        submitted = c.submitted, failed = c.failed, needs_review = c.needs_review, skipped = c.skipped,
        last_heartbeat = now(), updated_at = now(),
        status = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN {final}
            ELSE j.status END,
        finished_at = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN now() ELSE j.finished_at END,
        version = j.version + CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN 1 ELSE 0 END
    FROM c WHERE j.id = :job_id
    RETURNING j.status, j.finished_at = now() AS finalized
    """.format(final=final_status_sql("c.submitted", "c.failed", "c.needs_review",
                                      "j.cancel_requested_at IS NOT NULL"))
)

#: The hot path, one statement: record one result, audit it, count it into the job and
#: finalise the job when it was the last one. Increments are safe under concurrency: the
#: jobs row lock serialises writers and PostgreSQL re-reads the newest row version.
RECORD_SQL = text(
    """
    WITH r AS (
        UPDATE job_results SET status = :status, error_category = :category, error_message = :message,
            duration_ms = :duration, screenshot_path = :screenshot, finished_at = now(), retry_at = NULL,
            updated_at = now()
        WHERE job_id = :job AND directory_id = :dir AND status = 'submitting' AND worker_id = :worker
        RETURNING job_id, directory_id, attempts
    ), h AS (
        INSERT INTO queue_history (job_id, directory_id, event, attempt, detail)
        SELECT job_id, directory_id, :event, attempts, CAST(:detail AS jsonb) FROM r
    ), j AS (
        UPDATE jobs SET
            submitted = jobs.submitted + :ds, failed = jobs.failed + :df,
            needs_review = jobs.needs_review + :dn, skipped = jobs.skipped + :dk,
            last_heartbeat = now(), updated_at = now(),
            status = CASE WHEN jobs.status = 'in_progress'
                           AND jobs.submitted + jobs.failed + jobs.needs_review + jobs.skipped + 1 >= jobs.total THEN
                {final}
                ELSE jobs.status END,
            finished_at = CASE WHEN jobs.status = 'in_progress'
                           AND jobs.submitted + jobs.failed + jobs.needs_review + jobs.skipped + 1 >= jobs.total
                           THEN now() ELSE jobs.finished_at END
        FROM r WHERE jobs.id = r.job_id
        RETURNING jobs.id, jobs.status, jobs.finished_at = now() AS finalized
    ), f AS (
        INSERT INTO queue_history (job_id, event, detail)
        SELECT id, 'job_completed', jsonb_build_object('status', status) FROM j WHERE finalized
    )
    SELECT status, finalized FROM j
    """.format(final=final_status_sql("jobs.submitted + :ds", "jobs.failed + :df", "jobs.needs_review + :dn",
                                      "jobs.cancel_requested_at IS NOT NULL"))
)

_DELTAS = {"submitted": "ds", "failed": "df", "needs_review": "dn", "skipped": "dk"}


def record_result(session: Session, *, job_id: uuid.UUID, directory_id: str, worker: str, status: str,
                  category: str | None = None, message: str | None = None, duration_ms: int | None = None,
                  screenshot: str | None = None, detail: dict[str, Any] | None = None) -> tuple[bool, str | None]:
    """Returns (recorded, final status if this call finalised the job)."""
    deltas = {v: int(k == status) for k, v in _DELTAS.items()}
    row = session.execute(RECORD_SQL, {
        "status": status, "category": category, "message": message, "duration": duration_ms,
        "screenshot": screenshot, "job": job_id, "dir": directory_id, "worker": worker,
        "event": f"submission_{status}", "detail": json.dumps(detail or {"category": category}), **deltas,
    }).one_or_none()
    if row is None:
        return False, None
    return True, row.status if row.finalized else None


def finalize(session: Session, job_id: uuid.UUID) -> str | None:
    """Recount from the results and finalise when every result is terminal (used by the
    rare paths: start, sweep, replay). Returns the final status only to the caller
    that performed the transition."""
    lock_job(session, job_id)
    row = session.execute(_RECOUNT_SQL, {"job_id": job_id}).one_or_none()
    if row is not None and row.finalized:
        history.record(session, "job_completed", job_id=job_id, status=row.status)
        return row.status
    return None


# --- Stopping a job (a refund): the one write that skips results ----------------------

# Run after lock_job, so the snapshot sees result rows a concurrent start_job committed.
# A job not yet running (pending, or held for review) is cancelled outright; a running one
# is marked stopped and its pending results skipped, while the ones already submitting
# finish and count, and the last of them finalises the job by final_status_sql.
_SKIP_UNSENT_SQL = text(
    """
    WITH j AS (
        UPDATE jobs SET cancel_requested_at = now(), status_note = :reason, version = version + 1,
            updated_at = now(),
            status = CASE WHEN status = 'in_progress' THEN status ELSE 'cancelled' END,
            finished_at = CASE WHEN status = 'in_progress' THEN finished_at ELSE now() END
        WHERE id = :job AND status IN ('pending', 'needs_review', 'in_progress') AND cancel_requested_at IS NULL
        RETURNING status
    ), r AS (
        UPDATE job_results SET status = 'skipped', error_category = 'cancelled', error_message = :reason,
            retry_at = NULL, finished_at = now(), updated_at = now()
        WHERE job_id = :job AND status = 'pending' AND EXISTS (SELECT 1 FROM j)
        RETURNING directory_id, attempts
    ), h AS (
        INSERT INTO queue_history (job_id, directory_id, event, attempt, detail)
        SELECT :job, directory_id, 'submission_skipped', attempts, jsonb_build_object('reason', CAST(:reason AS text))
        FROM r
    )
    SELECT (SELECT status FROM j) AS job_status, ARRAY(SELECT directory_id FROM r ORDER BY directory_id) AS skipped
    """
)


def skip_unsent(session: Session, job_id: uuid.UUID, *, reason: str) -> list[str]:
    """Stop a job: every result not yet taken by a worker becomes ``skipped``; those
    already ``submitting`` finish normally and count. Returns the skipped directory ids
    (empty when the job had already finished or was already stopped)."""
    lock_job(session, job_id)
    row = session.execute(_SKIP_UNSENT_SQL, {"job": job_id, "reason": reason}).one()
    if row.job_status is None:
        return []
    if row.job_status == "cancelled":
        history.record(session, "job_cancelled", job_id=job_id, reason=reason)
    else:
        history.record(session, "job_stop_requested", job_id=job_id, reason=reason, skipped=len(row.skipped))
        finalize(session, job_id)
    return list(row.skipped)
