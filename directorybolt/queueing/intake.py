"""The one way a job is accepted: the API, the CLI and the demo all call :func:`accept`.

A job is committed before it is handed to Celery, so a worker never receives the id
of a row it cannot see yet. The committed ``pending`` row is the outbox entry: when
the broker then refuses the message (or the process dies before sending it), nothing
is withdrawn; the stale sweep publishes the fan-out of any job still ``pending`` with
no message in the broker after ``2 × sweep_interval_s``. The producer hears 503 with
the job's id, and a retry with the same Idempotency-Key finds the same job.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directorybolt.core.errors import ConflictError, ServiceUnavailable
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


def accept(order: Order) -> Accepted:
    """Create the job (and customer) and queue it. A known idempotency key returns the
    same job (``replayed``), or raises ConflictError when it was used for a different
    order; a broker that refuses the job raises :class:`NotQueued` (the job stays in the
    outbox)."""
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
            accepted = Accepted(job.id, job.status, job.queue, replayed=False)
    except IntegrityError:
        if order.idempotency_key is None:
            raise
        with db.session() as s:  # a concurrent request with the same key won the insert
            existing = _existing(s, order)
        if existing is None:
            raise
        return Accepted(existing.id, existing.status, existing.queue, replayed=True)
    try:
        dispatch.enqueue_job(accepted.job_id, accepted.queue)
    except Exception as exc:  # whatever the broker raised, the job is safe in the outbox
        log.warning("job %s committed but not queued (%s: %s); the outbox will queue it", accepted.job_id,
                    type(exc).__name__, str(exc).splitlines()[0][:200] if str(exc) else "")
        raise NotQueued(accepted.job_id) from None
    return accepted


class NotQueued(ServiceUnavailable):
    """The job is stored but the broker did not take its message yet."""

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(f"job {job_id} was accepted but the broker is unavailable; it will be queued automatically "
                         "when the broker is back (retry with the same Idempotency-Key to follow it)")
        self.job_id = job_id


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
