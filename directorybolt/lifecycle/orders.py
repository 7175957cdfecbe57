"""Paid orders from Stripe in the system of record: the event and the checkout session a
job came from, written in the job's own transaction, and what a refund stops.

Idempotency is the database's: ``stripe_events`` is keyed by Stripe's event id and
``stripe_checkouts`` by the checkout session id. Both rows are inserted ``ON CONFLICT DO
NOTHING`` in the transaction that creates the job, and finding either taken raises
:class:`Duplicate`, which rolls that whole transaction (customer and job) back. Events
of one payment (its checkout and its refund, which Stripe may deliver in either order,
or at once) are serialised by a transaction-scoped advisory lock on the payment intent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from directorybolt.core.checkout import REFUND_EVENT, PaidOrder, Refund
from directorybolt.lifecycle import jobs, results
from directorybolt.store import db, history
from directorybolt.store.models import Job, StripeCheckout, StripeEvent

REFUNDED_EARLY = "refunded before the order was processed"


class Duplicate(Exception):
    """This event, or another event of its checkout session, was processed already."""


@dataclass(frozen=True)
class Known:
    """What an earlier delivery made of an order."""

    job_id: uuid.UUID | None
    job_status: str | None
    review: str | None


def known(session: Session, event_id: str, order: PaidOrder | None = None) -> Known | None:
    """The outcome of an earlier delivery of this event, or of another event of the same
    checkout session; None when neither was seen."""
    q = select(StripeCheckout.job_id, Job.status, StripeCheckout.review_reason).outerjoin(
        Job, Job.id == StripeCheckout.job_id)
    match = [StripeCheckout.event_id == event_id]
    if order is not None:
        match.append(StripeCheckout.session_id == order.session_id)
        if order.payment_intent:
            match.append(StripeCheckout.payment_intent == order.payment_intent)
    row = session.execute(q.where(or_(*match)).limit(1)).one_or_none()
    if row is not None:
        return Known(row.job_id, row.status, row.review_reason)
    event = session.execute(select(StripeEvent.job_id, Job.status).outerjoin(Job, Job.id == StripeEvent.job_id)
                            .where(StripeEvent.id == event_id)).one_or_none()
    return None if event is None else Known(event.job_id, event.status, None)


def recorder(order: PaidOrder) -> Callable[[Session, Job], None]:
    """The ``on_created`` step for :func:`directorybolt.queueing.intake.accept`: record the
    event and the session with the job, then hold the job if the order does not add up,
    or cancel it if the payment was refunded before this event arrived."""

    def record(session: Session, job: Job) -> None:
        if _record(session, order, job.id):
            results.stop(session, job.id, reason=REFUNDED_EARLY)  # not started: cancelled outright
        elif order.review:
            jobs.hold(session, job.id, f"held for review: {order.review}")

    return record


def record_problem(session: Session, order: PaidOrder) -> None:
    """An order that cannot become a job: its session is kept for a person to settle."""
    _record(session, order, None)


def _record(session: Session, order: PaidOrder, job_id: uuid.UUID | None) -> bool:
    """Insert the event and the checkout; returns whether the payment was already refunded."""
    _lock_payment(session, order.payment_intent)
    refunded = _refunded_early(session, order.payment_intent)
    event = pg_insert(StripeEvent).values(
        id=order.event_id, type=order.event_type, payment_intent=order.payment_intent, job_id=job_id,
        detail={"session": order.session_id},
    )
    if session.execute(event.on_conflict_do_nothing().returning(StripeEvent.id)).scalar() is None:
        raise Duplicate(order.event_id)
    checkout = pg_insert(StripeCheckout).values(
        session_id=order.session_id, event_id=order.event_id, payment_intent=order.payment_intent, job_id=job_id,
        package=order.package, fast_track=order.fast_track, amount_total=order.amount_total,
        currency=order.currency, review_reason=order.problem or order.review, payload=order.payload or None,
        refunded_at=func.now() if refunded else None,
    )
    if session.execute(checkout.on_conflict_do_nothing().returning(StripeCheckout.session_id)).scalar() is None:
        raise Duplicate(order.session_id)
    return refunded


def _lock_payment(session: Session, payment_intent: str | None) -> None:
    if payment_intent:
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                        {"key": f"stripe:{payment_intent}"})


def _refunded_early(session: Session, payment_intent: str | None) -> bool:
    if not payment_intent:
        return False
    return session.scalar(select(func.count()).where(
        StripeEvent.payment_intent == payment_intent, StripeEvent.type == REFUND_EVENT,
        StripeEvent.detail["full"].as_boolean())) > 0


@dataclass(frozen=True)
class RefundOutcome:
    job_id: uuid.UUID | None
    skipped: list[str]
    note: str
    #: The job was running: its unsent results are skipped after the commit
    #: (:func:`skip_stopped`), result rows before the job row, the documented lock order.
    running: bool = False


def refund(session: Session, r: Refund) -> RefundOutcome:
    """A full refund stops the job the payment paid for (what was not submitted is
    skipped); a partial one is noted on the job, which goes on. A refund that arrives
    before its checkout is recorded, and the checkout's job is then cancelled at once."""
    _lock_payment(session, r.payment_intent)
    checkout = None
    if r.payment_intent:
        checkout = session.scalar(select(StripeCheckout).where(StripeCheckout.payment_intent == r.payment_intent))
    job_id = checkout.job_id if checkout is not None else None
    detail: dict[str, Any] = {"charge": r.charge_id, "full": r.full, "amount_refunded": r.amount_refunded}
    event = pg_insert(StripeEvent).values(id=r.event_id, type=REFUND_EVENT, payment_intent=r.payment_intent,
                                          job_id=job_id, detail=detail)
    if session.execute(event.on_conflict_do_nothing().returning(StripeEvent.id)).scalar() is None:
        raise Duplicate(r.event_id)
    if checkout is None:
        return RefundOutcome(None, [], "no order for this payment (yet): recorded")
    if not r.full:
        if job_id is not None:
            history.record(session, "refund_partial", job_id=job_id, **detail)
        return RefundOutcome(job_id, [], "partial refund: noted, the job goes on")
    checkout.refunded_at = func.now()
    if job_id is None:
        return RefundOutcome(None, [], "order without a job: marked refunded")
    stopped = results.stop(session, job_id, reason=f"refunded (charge {r.charge_id})")
    if stopped is None:
        return RefundOutcome(job_id, [], "the job had already finished: nothing to stop")
    return RefundOutcome(job_id, [], f"job stopped ({stopped})", running=stopped == "in_progress")


def skip_stopped(job_id: uuid.UUID, reason: str) -> list[str]:
    """The second step of a refund, in its own transaction (the sweep repeats it for a
    stopped job that still has unsent results)."""
    with db.session() as session:
        return results.skip_unsent(session, job_id, reason=reason)


@dataclass(frozen=True)
class Held:
    session_id: str
    job_id: uuid.UUID | None
    job_status: str | None
    package: str | None
    fast_track: bool
    amount_total: int | None
    currency: str | None
    review_reason: str
    created_at: datetime


def held(session: Session, limit: int = 100) -> list[Held]:
    """Paid orders waiting for a person, oldest first: a job held for review, or an
    order that could not become a job (and was not refunded since)."""
    rows = session.execute(
        select(StripeCheckout, Job.status).outerjoin(Job, Job.id == StripeCheckout.job_id)
        .where(StripeCheckout.review_reason.is_not(None), StripeCheckout.refunded_at.is_(None),
               or_(StripeCheckout.job_id.is_(None), Job.status == "needs_review"))
        .order_by(StripeCheckout.created_at).limit(limit)
    ).all()
    return [Held(c.session_id, c.job_id, status, c.package, c.fast_track, c.amount_total, c.currency,
                 c.review_reason or "", c.created_at) for c, status in rows]
