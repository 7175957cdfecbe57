"""The one owner of ``job_results`` transitions, and of counting them into their job.

Nothing else writes ``job_results``. Every transition is one guarded statement that
names the state it expects (``WHERE status = :from AND worker_id IS NOT DISTINCT FROM
:owner AND attempts = :attempt … RETURNING``); a caller acts only on the rows it got
back, so whoever changed the row since the caller read it wins and the caller does
nothing. ``attempts`` together with ``worker_id`` is the fencing token of a claim.

Transitions::

    pending ──claim──▶ submitting ──fence──▶ submitting+committed ──finish──▶ submitted | failed | needs_review
       ▲                   │  ▲                       │
       │                   │  └──reclaim (dead here)  └──finish (interrupted: never re-sent)
       └──release──────────┤
       └──requeue (sweep)──┘       pending|submitting ──give_up (own budget spent)──▶ failed
    failed ──reset_for_replay──▶ pending (refused after the form was sent, unless forced)

Lock order, used by everyone: a result row first, then its job row; never a job row
before a result row in one transaction, and at most one result row per transaction
except in :func:`skip_unsent`, which locks rows in id order. ``finish`` counts the row
into the job in the same statement (the job's row lock serialises counters), and the
job is finalised exactly once: the statement that sees the last open row sets the
final status. The final-status rule is written once, :func:`final_status_sql`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from directorybolt.store import history
from directorybolt.store.models import JobResult


def final_status_sql(submitted: str, failed: str, needs_review: str, stopped: str = "false") -> str:
    """The final-status rule as SQL over three count expressions: ``completed`` when
    nothing failed or waits for a person, ``failed`` when nothing was submitted,
    ``partial`` otherwise. A job told to stop (``stopped``, a boolean expression: a
    refund, :func:`skip_unsent`) skipped work the customer no longer gets, so it is
    ``cancelled`` when nothing was submitted and ``partial`` otherwise."""
    return (f"CASE WHEN {stopped} THEN CASE WHEN {submitted} = 0 THEN 'cancelled' ELSE 'partial' END "
            f"WHEN {failed} + {needs_review} = 0 THEN 'completed' "
            f"WHEN {submitted} = 0 THEN 'failed' ELSE 'partial' END")


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


# ---- recount (the rare paths: start, reopen) ------------------------------------------

_LOCK_JOB = text("SELECT 1 FROM jobs WHERE id = :job_id FOR UPDATE")

# Run after _LOCK_JOB, in its own statement: in READ COMMITTED each statement takes a
# fresh snapshot, so a counter that waited for the lock sees every result committed
# before it (counting in the locking statement would not).
_RECOUNT = text(
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
        last_heartbeat = now(), updated_at = now(), version = j.version + 1,
        status = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN {final} ELSE j.status END,
        finished_at = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN now() ELSE j.finished_at END
    FROM c WHERE j.id = :job_id
    RETURNING j.status, j.finished_at = now() AS finalized
    """.format(final=final_status_sql("c.submitted", "c.failed", "c.needs_review",
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
        SELECT count(*) FILTER (WHERE status = 'submitted') AS submitted,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'needs_review') AS needs_review,
               count(*) FILTER (WHERE status = 'skipped') AS skipped,
               count(*) FILTER (WHERE status IN ('pending', 'submitting')) AS open
        FROM job_results WHERE job_id = :job_id
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
    """.format(final=final_status_sql("c.submitted", "c.failed", "c.needs_review",
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
