"""The one way a job is accepted: the API, the CLI and the demo all call :func:`accept`.

A job is committed before it is handed to Celery, so a worker never receives the id
of a row it cannot see yet. The committed ``pending`` row is the outbox entry: when
the broker then refuses the message (or the process dies before sending it), nothing
is withdrawn; the stale sweep publishes the fan-out of any job still ``pending`` with
no message in the broker after ``2 × sweep_interval_s``. The producer hears 503 with
the job's id, and a retry with the same Idempotency-Key finds the same job.
A publish that does not answer within ``api_publish_timeout_s`` (a hung Redis) is
abandoned the same way, and for ``api_breaker_cooldown_s`` after such a miss producers
get a 503 at once, before any row is written.

A producer key (``Order.key``) works within its tenant scope
(:mod:`directorybolt.store.scopes`): a customer it names must be in scope, one it
creates is bound to it. An Idempotency-Key replays its job only for the same request
(a digest of customer, tier, fast-track and directories); anything else is a 409.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from directorybolt.core.deadlines import BoundedCalls
from directorybolt.core.errors import ConflictError, ServiceUnavailable
from directorybolt.core.settings import canonical_tier, get_settings
from directorybolt.lifecycle import jobs
from directorybolt.queueing import dispatch
from directorybolt.store import db, scopes
from directorybolt.store.apikeys import KeyInfo
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
    key: KeyInfo | None = None  # the API key asking; None for the CLI and the demo (operators)

    def fingerprint(self) -> str:
        """What the request asks for, as a digest: a reused Idempotency-Key must match it."""
        directories = sorted({d.strip() for d in self.directories or [] if d.strip()}) or None
        wanted = {
            "customer_id": str(self.customer_id) if self.customer_id is not None else None,
            "customer": self.customer, "tier": canonical_tier(self.tier), "fast_track": self.fast_track,
            "directories": directories,
        }
        return hashlib.sha256(json.dumps(wanted, sort_keys=True, default=str).encode()).hexdigest()


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
    order; a broker that refuses the job raises :class:`NotQueued` (the job stays in the
    outbox)."""
    publisher = _publisher()
    try:
        with db.session() as s:
            existing = _existing(s, order)
            if existing is not None:
                return Accepted(existing.id, existing.status, existing.queue, replayed=True)
            publisher.breaker.check()  # the broker just failed: 503 before anything is written
            customer_id = order.customer_id
            if customer_id is None:
                customer_id = jobs.create_customer(s, order.customer or {}).id
                if order.key is not None:
                    scopes.bind(s, order.key.id, customer_id)
            elif order.key is not None:
                scopes.require_customer(s, order.key, jobs.parse_uuid(customer_id, "customer id"))
            job, _ = jobs.create_job(
                s, customer_id=customer_id, tier=order.tier, fast_track=order.fast_track,
                directories=order.directories, idempotency_key=order.idempotency_key,
                request_fingerprint=order.fingerprint(),
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
        publisher.call(dispatch.enqueue_job, accepted.job_id, accepted.queue)
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


@lru_cache(maxsize=1)
def _publisher() -> BoundedCalls:
    """The broker behind its deadline, warmed up first: a process's first publish
    otherwise spends seconds importing Celery and kombu's Redis transport, which is
    no reason to give up on the broker."""
    from directorybolt.queueing.celery_app import app

    app.finalize(auto=True)
    with app.connection_for_write() as conn:
        conn.transport  # noqa: B018 - imports kombu's Redis transport; connects to nothing
    s = get_settings()
    return BoundedCalls("broker", timeout_s=s.api_publish_timeout_s, cooldown_s=s.api_breaker_cooldown_s)


def warm_up() -> None:
    """Load the broker client now (the API calls this at start-up)."""
    _publisher()


def _existing(session: Session, order: Order) -> Job | None:
    if order.idempotency_key is None:
        return None
    job = session.scalar(select(Job).where(Job.idempotency_key == order.idempotency_key))
    if job is None:
        return None
    if job.request_fingerprint is not None:
        same = job.request_fingerprint == order.fingerprint()
    else:  # a job from before fingerprints: compare what it recorded
        same = job.tier == canonical_tier(order.tier) and job.fast_track == order.fast_track and (
            order.customer_id is None or job.customer_id == jobs.parse_uuid(order.customer_id, "customer id")
        )
    if not same:
        raise ConflictError("this Idempotency-Key was already used for a different request; use a new key")
    return job


def release(job_id: uuid.UUID | str) -> Accepted:
    """Queue a job held for review (``needs_review`` -> ``pending``). The pending job is
    in the outbox like any other: a broker that refuses raises :class:`NotQueued`."""
    with db.session() as s:
        job = jobs.release(s, job_id)
        accepted = Accepted(job.id, job.status, job.queue, replayed=False)
    try:
        _publisher().call(dispatch.enqueue_job, accepted.job_id, accepted.queue)
    except Exception as exc:  # whatever the broker raised, the job is safe in the outbox
        log.warning("released job %s not queued yet (%s); the outbox will queue it", accepted.job_id, exc)
        raise NotQueued(accepted.job_id) from None
    return accepted
