"""The job lifecycle: create, start (fan-out plan), count, finalise exactly once.

State changes of a job go through the ORM's version column (optimistic locking), so
two processes that read the same version cannot both win. Counters and finalisation
are single conditional UPDATE statements computed from ``job_results``, so concurrent
submissions never lose an increment and a job is finalised once, however many times
its last task is redelivered.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from directorybolt import history
from directorybolt.browser.plans import BUSINESS_FIELDS, Plan
from directorybolt.config import canonical_tier, get_settings
from directorybolt.errors import ConflictError, NotFound, ValidationError
from directorybolt.models import Customer, Directory, Job, JobResult
from directorybolt.profiles import BusinessProfile
from directorybolt.selection import select_directories


def parse_uuid(value: str | uuid.UUID, what: str = "id") -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValidationError(f"{what} {value!r} is not a valid UUID") from None


def effective_tier(tier: str, fast_track: bool) -> str:
    """The fast-track add-on serves a job one tier higher (enterprise stays enterprise)."""
    s = get_settings()
    order = s.tiers_by_priority()
    i = order.index(tier)
    return order[max(0, i - 1)] if fast_track else tier


def profile_of(customer: Customer) -> BusinessProfile:
    data = {f: getattr(customer, f) for f in BUSINESS_FIELDS}
    return BusinessProfile.model_validate(data, context={"allow_private_websites": True})


def create_customer(session: Session, profile: dict[str, Any]) -> Customer:
    s = get_settings()
    try:
        valid = BusinessProfile.model_validate(profile, context={"allow_private_websites": s.allow_private_websites})
    except PydanticValidationError as exc:
        raise ValidationError(_readable(exc)) from None
    customer = Customer(**valid.model_dump())
    session.add(customer)
    session.flush()
    return customer


def _readable(exc: PydanticValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


def create_job(
    session: Session,
    *,
    customer_id: str | uuid.UUID,
    tier: str,
    fast_track: bool = False,
    directories: list[str] | None = None,
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    """Validate and insert a pending job. Returns (job, created); an existing job with
    the same idempotency key is returned instead of a second one."""
    s = get_settings()
    tier = canonical_tier(tier)
    if tier not in s.tiers:
        raise ValidationError(f"unknown tier {tier!r}; choose one of: {', '.join(s.tiers_by_priority())}")
    if idempotency_key:
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            return existing, False
    cid = parse_uuid(customer_id, "customer id")
    customer = session.get(Customer, cid)
    if customer is None:
        raise NotFound(f"customer {cid} does not exist")
    try:
        profile_of(customer)
    except PydanticValidationError as exc:
        raise ValidationError(f"customer {cid} has an invalid business profile: {_readable(exc)}") from None
    requested: list[str] | None = None
    if directories:
        requested = list(dict.fromkeys(d.strip() for d in directories if d.strip()))
        known = set(session.scalars(select(Directory.id).where(Directory.id.in_(requested), Directory.active)))
        missing = [d for d in requested if d not in known]
        if missing:
            raise ValidationError(f"unknown or inactive directories: {', '.join(missing)}")
    queue_tier = effective_tier(tier, fast_track)
    job = Job(
        customer_id=cid,
        tier=tier,
        fast_track=fast_track,
        queue=f"submissions.{queue_tier}",
        package_size=s.tiers[tier].directories,
        requested_directories=requested,
        idempotency_key=idempotency_key,
        status="pending",
    )
    session.add(job)
    session.flush()
    history.record(session, "job_created", job_id=job.id, tier=tier, fast_track=fast_track, queue=job.queue)
    return job, True


def idempotency_key(job_id: uuid.UUID, directory_id: str, plan: Plan | None, profile: BusinessProfile) -> str:
    """sha256(job, directory, the business fields the plan submits)."""
    fields = plan.submitted_fields() if plan and plan.steps else list(BUSINESS_FIELDS)
    payload = json.dumps(
        {"job": str(job_id), "directory": directory_id, "fields": {f: profile.field(f) for f in fields}},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class StartedJob:
    job_id: uuid.UUID
    queue: str
    directory_ids: list[str]
    already_started: bool


def start_job(session: Session, job_id: str | uuid.UUID) -> StartedJob:
    """pending -> in_progress with its result rows; a redelivered start re-lists the
    directories still pending so a fan-out cut short by a crash is completed."""
    jid = parse_uuid(job_id, "job id")
    job = session.get(Job, jid, with_for_update=False)
    if job is None:
        raise NotFound(f"job {jid} does not exist")
    if job.status != "pending":
        pending = []
        if job.status == "in_progress":
            pending = list(
                session.scalars(
                    select(JobResult.directory_id).where(JobResult.job_id == jid, JobResult.status == "pending")
                )
            )
        return StartedJob(jid, job.queue, pending, already_started=True)
    s = get_settings()
    customer = session.get(Customer, job.customer_id)
    assert customer is not None
    profile = profile_of(customer)
    chosen, available = select_directories(
        session, s.tiers[job.tier], job.package_size, requested=job.requested_directories
    )
    rows = []
    for d in chosen:
        plan = Plan.model_validate(d.plan) if d.plan else None
        rows.append(
            {
                "job_id": jid,
                "directory_id": d.id,
                "idempotency_key": idempotency_key(jid, d.id, plan, profile),
                "status": "pending",
            }
        )
    if rows:
        session.execute(pg_insert(JobResult).values(rows).on_conflict_do_nothing())
    job.status = "in_progress"
    job.total = len(rows)
    job.directories_available = available
    if not job.requested_directories and available < job.package_size:
        job.status_note = (
            f"the catalog has {available} eligible directories, fewer than the {job.package_size} in the package"
        )
    job.started_at = func.now()
    job.last_heartbeat = func.now()
    try:
        session.flush()
    except StaleDataError:
        raise ConflictError(f"job {jid} was changed concurrently") from None
    history.record(session, "job_started", job_id=jid, total=len(rows), available=available)
    if not rows:
        finalize(session, jid)
    return StartedJob(jid, job.queue, [r["directory_id"] for r in rows], already_started=False)


def transition(session: Session, job_id: uuid.UUID, expected_version: int, **values: Any) -> None:
    """Compare-and-set on ``version``; raises ConflictError when someone else won."""
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.version == expected_version)
        .values(version=Job.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise ConflictError(f"job {job_id} changed since version {expected_version}; reload and retry")


_LOCK_JOB = text("SELECT 1 FROM jobs WHERE id = :job_id FOR UPDATE")

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
        status = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN
            CASE WHEN c.failed + c.needs_review = 0 THEN 'completed'
                 WHEN c.submitted = 0 THEN 'failed' ELSE 'partial' END
            ELSE j.status END,
        finished_at = CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN now() ELSE j.finished_at END,
        version = j.version + CASE WHEN j.status = 'in_progress' AND c.open = 0 THEN 1 ELSE 0 END
    FROM c WHERE j.id = :job_id
    RETURNING j.status, j.finished_at = now() AS finalized
    """
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
                CASE WHEN jobs.failed + :df + jobs.needs_review + :dn = 0 THEN 'completed'
                     WHEN jobs.submitted + :ds = 0 THEN 'failed' ELSE 'partial' END
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
    """
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
    session.execute(_LOCK_JOB, {"job_id": job_id})
    row = session.execute(_RECOUNT_SQL, {"job_id": job_id}).one_or_none()
    if row is not None and row.finalized:
        history.record(session, "job_completed", job_id=job_id, status=row.status)
        return row.status
    return None


def reopen(session: Session, job_id: uuid.UUID) -> None:
    """A replay brings a finished job back to in_progress and recounts it, so the
    replayed result is counted once when it finishes."""
    session.execute(_LOCK_JOB, {"job_id": job_id})
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status.in_(("partial", "failed", "completed")))
        .values(status="in_progress", finished_at=None, version=Job.version + 1, last_heartbeat=func.now())
        .execution_options(synchronize_session=False)
    )
    finalize(session, job_id)


def cancel(session: Session, job_id: str | uuid.UUID) -> None:
    jid = parse_uuid(job_id, "job id")
    job = session.get(Job, jid)
    if job is None:
        raise NotFound(f"job {jid} does not exist")
    if job.status in ("completed", "partial", "failed", "cancelled"):
        raise ConflictError(f"job {jid} is already {job.status}")
    transition(session, jid, job.version, status="cancelled", finished_at=func.now())
    history.record(session, "job_cancelled", job_id=jid)
