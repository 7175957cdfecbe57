"""The one way a job is accepted: the API, the CLI and the demo all call :func:`accept`.

A job is committed before it is handed to Celery, so a worker never receives the id
of a row it cannot see yet. When the broker then refuses the message the job is
cancelled and its idempotency key released, so the producer's retry creates it
afresh instead of finding a job nobody will run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directorybolt.core.errors import ConflictError, ServiceUnavailable
from directorybolt.core.retries import SERVICE_ERRORS
from directorybolt.core.settings import canonical_tier
from directorybolt.lifecycle import jobs
from directorybolt.queueing import dispatch
from directorybolt.store import db
from directorybolt.store.models import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Order:
    """What a producer asks for: an existing customer or a new profile, and a package."""

    tier: str
    customer_id: uuid.UUID | str | None = None
    customer: dict[str, Any] | None = None
    fast_track: bool = False
    directories: list[str] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Accepted:
    job_id: uuid.UUID
    status: str
    queue: str
    replayed: bool


#: Runs in the job's own transaction right after the job row is created (the Stripe
#: webhook records its event there). It may hold the job (any status but ``pending`` is
#: not queued); an exception rolls the customer and the job back with it.
OnCreated = Callable[[Session, Job], None]


def accept(order: Order, on_created: OnCreated | None = None) -> Accepted:
    """Create the job (and customer) and queue it. A known idempotency key returns the
    same job (``replayed``), or raises ConflictError when it was used for a different
    order; a broker that refuses the job raises ServiceUnavailable, with nothing kept."""
    try:
        with db.session() as s:
            existing = _existing(s, order)
            if existing is not None:
                return Accepted(existing.id, existing.status, existing.queue, replayed=True)
            customer_id = order.customer_id
            if customer_id is None:
                customer_id = jobs.create_customer(s, order.customer or {}).id
            job, _ = jobs.create_job(
                s, customer_id=customer_id, tier=order.tier, fast_track=order.fast_track,
                directories=order.directories, idempotency_key=order.idempotency_key,
            )
            if on_created is not None:
                on_created(s, job)
                s.refresh(job)
            accepted = Accepted(job.id, job.status, job.queue, replayed=False)
    except IntegrityError:
        if order.idempotency_key is None:
            raise
        with db.session() as s:  # a concurrent request with the same key won the insert
            existing = _existing(s, order)
        if existing is None:
            raise
        return Accepted(existing.id, existing.status, existing.queue, replayed=True)
    if accepted.status != "pending":
        return accepted
    try:
        dispatch.enqueue_job(accepted.job_id, accepted.queue)
    except SERVICE_ERRORS as exc:
        _withdraw(accepted.job_id, exc)
        raise ServiceUnavailable("the broker did not accept the job; nothing was queued, retry shortly") from None
    return accepted


def _existing(session: Session, order: Order) -> Job | None:
    if order.idempotency_key is None:
        return None
    job = session.scalar(select(Job).where(Job.idempotency_key == order.idempotency_key))
    if job is None:
        return None
    same = job.tier == canonical_tier(order.tier) and job.fast_track == order.fast_track and (
        order.customer_id is None or job.customer_id == jobs.parse_uuid(order.customer_id, "customer id")
    )
    if not same:
        raise ConflictError("this Idempotency-Key was already used for a different request; use a new key")
    return job


def _withdraw(job_id: uuid.UUID, cause: BaseException) -> None:
    """Cancel a job the broker refused and free its idempotency key for the retry."""
    log.warning("job %s not queued, cancelling it: %s", job_id, cause)
    with db.session() as s:
        jobs.cancel(s, job_id)
        s.execute(update(Job).where(Job.id == job_id).values(
            idempotency_key=None, status_note="not queued: the broker was unavailable"))


def release(job_id: uuid.UUID | str) -> Accepted:
    """Queue a job held for review (``needs_review`` -> ``pending``). If the broker
    refuses it, it goes back on hold, nothing queued, and ServiceUnavailable is raised."""
    with db.session() as s:
        job = jobs.release(s, job_id)
        accepted = Accepted(job.id, job.status, job.queue, replayed=False)
    try:
        dispatch.enqueue_job(accepted.job_id, accepted.queue)
    except SERVICE_ERRORS as exc:
        log.warning("released job %s not queued, holding it again: %s", accepted.job_id, exc)
        with db.session() as s:
            jobs.hold(s, accepted.job_id, "released while the broker was unavailable; release it again")
        raise ServiceUnavailable("the broker did not accept the job; it is held again, retry shortly") from None
    return accepted
