"""Staff routes for paid orders that wait for a person (``docs/api.md``, "Orders held
for review"): list them, release a held job to the workers. A held order that should
not run is refunded in Stripe; the refund's webhook cancels its job."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from directorybolt.api.auth import require
from directorybolt.api.errors import ERRORS
from directorybolt.lifecycle import orders
from directorybolt.queueing import intake
from directorybolt.store import db

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require("staff"))], responses=ERRORS)


class HeldOrder(BaseModel):
    session_id: str
    job_id: uuid.UUID | None
    job_status: str | None
    package: str | None
    fast_track: bool
    amount_total: int | None
    currency: str | None
    review_reason: str
    created_at: datetime


class Released(BaseModel):
    job_id: uuid.UUID
    status: str
    queue: str


@router.get("/orders/held", response_model=list[HeldOrder])
def held_orders(limit: int = Query(default=100, ge=1, le=1000)) -> list[HeldOrder]:
    """Paid orders waiting for a person, oldest first: a job held for review (release it),
    or an order that could not become a job (``job_id`` null: fix and submit it, or refund)."""
    with db.session() as s:
        return [HeldOrder(**asdict(h)) for h in orders.held(s, limit)]


@router.post("/jobs/{job_id}/release", response_model=Released,
             responses={404: {"description": "no such job"}, 409: {"description": "job is not held for review"}})
def release_job(job_id: uuid.UUID) -> Released:
    """Queue a job held for review, as if it had just been accepted."""
    accepted = intake.release(job_id)
    return Released(job_id=accepted.job_id, status=accepted.status, queue=accepted.queue)
