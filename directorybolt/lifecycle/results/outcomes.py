"""Terminal states, the sweep's requeue, replay resets, and rows coming and going."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from directorybolt.lifecycle.results.rules import final_status_sql
from directorybolt.store import history
from directorybolt.store.models import JobResult

# ---- finish: a terminal state, counted into the job, the job finalised once ----------

_FINISH = text(
    """
    WITH r AS (
        UPDATE job_results SET status = :status, error_category = :category, error_message = :message,
            duration_ms = COALESCE(:duration, duration_ms), screenshot_path = COALESCE(:screenshot, screenshot_path),
            finished_at = now(), retry_at = NULL, updated_at = now()
        WHERE job_id = :job AND directory_id = :dir AND status = :from_status
          AND worker_id IS NOT DISTINCT FROM :owner AND attempts = :attempt
          AND (CAST(:requeues AS integer) IS NULL OR requeues = CAST(:requeues AS integer))
          AND (CAST(:committed AS boolean) IS NULL OR (committed_at IS NOT NULL) = CAST(:committed AS boolean))
        RETURNING job_id, directory_id, attempts
    ), h AS (
        INSERT INTO queue_history (job_id, directory_id, event, attempt, detail)
        SELECT job_id, directory_id, :event, attempts, CAST(:detail AS jsonb) FROM r
        RETURNING job_id
    ), j AS (
        UPDATE jobs SET
            submitted = jobs.submitted + :ds, failed = jobs.failed + :df,
            needs_review = jobs.needs_review + :dn, skipped = jobs.skipped + :dk,
            last_heartbeat = now(), updated_at = now(), version = jobs.version + 1,
            status = CASE WHEN jobs.status = 'in_progress'
                           AND jobs.submitted + jobs.failed + jobs.needs_review + jobs.skipped + 1 >= jobs.total THEN
                {final}
                ELSE jobs.status END,
            finished_at = CASE WHEN jobs.status = 'in_progress'
                           AND jobs.submitted + jobs.failed + jobs.needs_review + jobs.skipped + 1 >= jobs.total
                           THEN now() ELSE jobs.finished_at END
        FROM h WHERE jobs.id = h.job_id
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


@dataclass(frozen=True)
class Finished:
    """The row reached its terminal state; ``final`` is the job's final status when this
    transition finalised the job (exactly one caller ever sees it)."""

    final: str | None


def finish(session: Session, job_id: uuid.UUID, directory_id: str, *, status: str, owner: str | None,
           attempt: int, from_status: str = "submitting", committed: bool | None = None,
           requeues: int | None = None, category: str | None = None, message: str | None = None,
           duration_ms: int | None = None, screenshot: str | None = None, event: str | None = None,
           detail: dict[str, Any] | None = None) -> Finished | None:
    """Move the row from what the caller saw (``from_status``, ``owner``, ``attempt`` and,
    when given, ``requeues`` and whether it was ``committed``) to ``status``; None when
    the row is no longer what the caller saw."""
    deltas = {v: int(k == status) for k, v in _DELTAS.items()}
    row = session.execute(_FINISH, {
        "status": status, "category": category, "message": message, "duration": duration_ms,
        "screenshot": screenshot, "job": job_id, "dir": directory_id, "from_status": from_status, "owner": owner,
        "attempt": attempt, "requeues": requeues, "committed": committed,
        "event": event or f"submission_{status}", "detail": json.dumps(detail or {"category": category}), **deltas,
    }).one_or_none()
    if row is None:
        return None
    return Finished(row.status if row.finalized else None)


# ---- the sweep's transitions ---------------------------------------------------------

_REQUEUE = text(
    """
    WITH r AS (
        UPDATE job_results SET status = 'pending', worker_id = NULL, retry_at = NULL, claimed_at = NULL,
            requeues = requeues + 1, updated_at = now()
        WHERE job_id = :job AND directory_id = :dir AND status = :from_status
          AND worker_id IS NOT DISTINCT FROM :owner AND attempts = :attempt AND requeues = :requeues
          AND committed_at IS NULL
        RETURNING job_id, directory_id, attempts, requeues
    ), h AS (
        INSERT INTO queue_history (job_id, directory_id, event, attempt, detail)
        SELECT job_id, directory_id, 'submission_requeued', attempts,
               jsonb_build_object('reason', CAST(:reason AS text), 'requeues', requeues) FROM r
        RETURNING job_id
    )
    UPDATE jobs SET requeue_count = requeue_count + 1, last_heartbeat = now(), version = version + 1
    FROM h WHERE jobs.id = h.job_id
    RETURNING jobs.queue
    """
)


def requeue(session: Session, job_id: uuid.UUID, directory_id: str, *, from_status: str, owner: str | None,
            attempt: int, requeues: int, reason: str) -> str | None:
    """Lost work back to pending, spending one of the row's own requeues; returns the
    queue to re-send it on, or None when the row changed since the sweep read it (then
    the sweep must not re-send it)."""
    row = session.execute(_REQUEUE, {"job": job_id, "dir": directory_id, "from_status": from_status,
                                     "owner": owner, "attempt": attempt, "requeues": requeues,
                                     "reason": reason}).one_or_none()
    return None if row is None else str(row.queue)


# ---- replay ----------------------------------------------------------------------------

_RESET = text(
    """
    UPDATE job_results SET status = 'pending', attempts = 0, requeues = 0, error_category = NULL,
        error_message = NULL, retry_at = NULL, worker_id = NULL, claimed_at = NULL, finished_at = NULL,
        committed_at = NULL, updated_at = now()
    WHERE job_id = :job AND directory_id = ANY(:dirs) AND status = 'failed'
      AND (committed_at IS NULL OR CAST(:force AS boolean))
    RETURNING directory_id
    """
)

_SENT_ALREADY = text(
    """
    SELECT directory_id FROM job_results
    WHERE job_id = :job AND directory_id = ANY(:dirs) AND status = 'failed' AND committed_at IS NOT NULL
    """
)


def form_sent(session: Session, job_id: uuid.UUID, directory_ids: list[str]) -> list[str]:
    """Of these failed rows, the ones whose form may have reached the directory."""
    return list(session.scalars(_SENT_ALREADY, {"job": job_id, "dirs": directory_ids}))


def reset_for_replay(session: Session, job_id: uuid.UUID, directory_ids: list[str], *,
                     force: bool = False) -> list[str]:
    """Failed rows back to pending with a fresh budget. A row whose form was sent
    (``committed_at``) is left alone unless ``force``: re-sending it may list the
    customer twice. Returns the rows reset; the caller reopens the job."""
    reset = list(session.scalars(_RESET, {"job": job_id, "dirs": directory_ids, "force": force}))
    for d in reset:
        history.record(session, "submission_reset", job_id=job_id, directory_id=d, forced=force)
    return reset


# ---- rows come and go --------------------------------------------------------------------


def create(session: Session, rows: list[dict[str, Any]]) -> None:
    """The job's rows, ``pending``, once (a second start inserts nothing)."""
    if rows:
        session.execute(pg_insert(JobResult).values(rows).on_conflict_do_nothing())


_FORGET_SCREENSHOTS = text(
    """
    UPDATE job_results SET screenshot_path = NULL
    WHERE screenshot_path IS NOT NULL
      AND job_id IN (SELECT id FROM jobs WHERE finished_at < :cutoff)
    RETURNING job_id
    """
)


def forget_screenshots(session: Session, cutoff: datetime) -> set[uuid.UUID]:
    """Retention: rows of jobs finished before ``cutoff`` stop pointing at screenshots;
    returns those jobs, whose folders the caller removes."""
    return set(session.scalars(_FORGET_SCREENSHOTS, {"cutoff": cutoff}))
