"""The job lifecycle: create, start (fan-out plan), reopen, cancel.

State changes of a job go through the ORM's version column (optimistic locking), so
two processes that read the same version cannot both win. Counting results into the
job and finalising it exactly once is :mod:`directorybolt.lifecycle.results`'s work.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from directorybolt.core.errors import ConflictError, NotFound, ValidationError
from directorybolt.core.plans import BUSINESS_FIELDS, Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.settings import canonical_tier, get_settings
from directorybolt.lifecycle import results
from directorybolt.lifecycle.selection import select_directories
from directorybolt.store import history
from directorybolt.store.models import Customer, Directory, Job, JobResult


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
    request_fingerprint: str | None = None,
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
        customer.profile()
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
        request_fingerprint=request_fingerprint,
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


_START = text(
    """
    UPDATE jobs SET status = 'in_progress', started_at = now(), last_heartbeat = now(), updated_at = now(),
        version = version + 1
    WHERE id = :job AND status = 'pending'
    RETURNING customer_id, tier, package_size, requested_directories, queue
    """
)

_STARTED = text(
    """
    UPDATE jobs SET total = :total, directories_available = :available, status_note = COALESCE(:note, status_note),
        version = version + 1
    WHERE id = :job
    """
)


def start_job(session: Session, job_id: str | uuid.UUID) -> StartedJob:
    """pending -> in_progress with its result rows, by one guarded update: of two
    deliveries of the same start only one wins; the other (and any redelivery) re-lists
    the directories still pending, so a fan-out cut short by a crash is completed and a
    duplicate delivery is harmless."""
    jid = parse_uuid(job_id, "job id")
    won = session.execute(_START, {"job": jid}).one_or_none()
    if won is None:
        job = session.get(Job, jid)
        if job is None:
            raise NotFound(f"job {jid} does not exist")
        pending: list[str] = []
        if job.status == "in_progress":
            pending = list(session.scalars(
                select(JobResult.directory_id).where(JobResult.job_id == jid, JobResult.status == "pending")))
        return StartedJob(jid, job.queue, pending, already_started=True)
    s = get_settings()
    customer = session.get(Customer, won.customer_id)
    if customer is None:
        raise NotFound(f"customer {won.customer_id} of job {jid} does not exist")
    profile = customer.profile()
    chosen, available = select_directories(
        session, s.tiers[won.tier], won.package_size, requested=won.requested_directories
    )
    rows = []
    for d in chosen:
        plan = Plan.model_validate(d.plan) if d.plan else None
        rows.append({"job_id": jid, "directory_id": d.id, "idempotency_key": idempotency_key(jid, d.id, plan, profile),
                     "status": "pending"})
    results.create(session, rows)
    note = None
    if not won.requested_directories and available < won.package_size:
        note = f"the catalog has {available} eligible directories, fewer than the {won.package_size} in the package"
    session.execute(_STARTED, {"job": jid, "total": len(rows), "available": available, "note": note})
    history.record(session, "job_started", job_id=jid, total=len(rows), available=available)
    if not rows:
        results.finalize(session, jid)
    return StartedJob(jid, won.queue, [r["directory_id"] for r in rows], already_started=False)


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


_REOPEN = text(
    """
    UPDATE jobs SET status = 'in_progress', finished_at = NULL, last_heartbeat = now(), version = version + 1
    WHERE id = :job AND status IN ('partial', 'failed', 'completed')
    """
)


def reopen(session: Session, job_id: uuid.UUID) -> None:
    """A replay brings a finished job back to in_progress and recounts it, so the
    replayed result is counted once when it finishes. Called after the rows changed
    (result rows before the job row, the documented lock order)."""
    results.lock_job(session, job_id)
    session.execute(_REOPEN, {"job": job_id})
    results.finalize(session, job_id)


_RESTART_OUTBOX = text(
    """
    UPDATE jobs SET requeue_count = 0, enqueued_at = now(), status_note = NULL, version = version + 1
    WHERE id = :job AND status = 'pending'
    RETURNING id
    """
)


def restart_outbox(session: Session, job_id: uuid.UUID) -> bool:
    """A replayed job that never started gets a fresh outbox budget; False when the job
    is not pending (it started meanwhile)."""
    return session.execute(_RESTART_OUTBOX, {"job": job_id}).one_or_none() is not None


_CANCEL = text(
    """
    UPDATE jobs SET status = 'cancelled', finished_at = now(), updated_at = now(), version = version + 1,
        status_note = COALESCE(CAST(:note AS text), status_note)
    WHERE id = :job AND status IN ('pending', 'in_progress')
    RETURNING id
    """
)


def cancel(session: Session, job_id: str | uuid.UUID, *, note: str | None = None) -> None:
    """Guarded by status, not by a version read earlier: a job that finished meanwhile
    stays finished (409), whatever its version."""
    jid = parse_uuid(job_id, "job id")
    if session.execute(_CANCEL, {"job": jid, "note": note}).one_or_none() is None:
        status = session.scalar(select(Job.status).where(Job.id == jid))
        if status is None:
            raise NotFound(f"job {jid} does not exist")
        raise ConflictError(f"job {jid} is already {status}")
    history.record(session, "job_cancelled", job_id=jid)


def hold(session: Session, job_id: uuid.UUID, reason: str) -> None:
    """A paid order that does not add up waits for a person instead of running: a
    ``needs_review`` job is never queued (only ``pending`` ones are)."""
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "pending", Job.started_at.is_(None))
        .values(status="needs_review", status_note=reason, version=Job.version + 1)
        .execution_options(synchronize_session=False)
    )
    if res.rowcount != 1:
        raise ConflictError(f"job {job_id} is no longer waiting to start; it cannot be held")
    history.record(session, "job_held", job_id=job_id, reason=reason)


def release(session: Session, job_id: str | uuid.UUID) -> Job:
    """needs_review -> pending: staff checked the order; the caller queues the job."""
    jid = parse_uuid(job_id, "job id")
    job = session.get(Job, jid)
    if job is None:
        raise NotFound(f"job {jid} does not exist")
    if job.status != "needs_review":
        raise ConflictError(f"job {jid} is {job.status}, not held for review")
    transition(session, jid, job.version, status="pending", status_note=None)
    history.record(session, "job_released", job_id=jid)
    session.refresh(job)
    return job
