"""Producer routes: submit a job, read a job, read a customer's queue.

Submitting goes through :func:`directorybolt.queueing.intake.accept`, the one path
the CLI and the demo use too; a broker that refuses the job, fails or hangs is a 503
with ``Retry-After`` and nothing kept. It runs in a thread lane of its own
(``SUBMIT_LANE``), so submissions waiting on a hung broker can never take the
threads that reads (PostgreSQL only) need.

A producer key sees only its tenant scope (:mod:`directorybolt.store.scopes`):
another tenant's job or customer is a 404, worded as for one that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from sqlalchemy import func, select

from directorybolt.api.auth import require
from directorybolt.api.errors import ERRORS, ErrorBody
from directorybolt.core.errors import NotFound
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.settings import TIER_ALIASES, get_settings
from directorybolt.lifecycle.reports import job_report
from directorybolt.queueing import intake
from directorybolt.store import db, scopes
from directorybolt.store.apikeys import KeyInfo
from directorybolt.store.models import JOB_STATUSES, Customer, Job

router = APIRouter(prefix="/api", tags=["jobs"])


class Storable(BaseModel):
    """PostgreSQL text cannot hold NUL and UTF-8 cannot hold lone surrogates; refuse
    both here (422) rather than as a database error (500)."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, v: Any) -> Any:
        for item in v if isinstance(v, list) else [v]:
            if isinstance(item, str):
                if "\x00" in item:
                    raise ValueError("text must not contain NUL characters")
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("text must be valid Unicode (no lone surrogates)") from None
        return v


# The profile's fields and limits without its validators: sanitising is not idempotent
# and the website rule depends on settings, so create_customer applies both, once.
class _Strict(Storable):
    model_config = ConfigDict(extra="forbid")


CustomerIn: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CustomerIn", __base__=_Strict,
    **{name: (f.annotation, f) for name, f in BusinessProfile.model_fields.items()},
)

DirectoryId = Annotated[str, Field(min_length=1, max_length=120)]


def tier_names() -> list[str]:
    """The tiers on sale, highest first, and their aliases."""
    s = get_settings()
    return [*s.tiers_by_priority(), *(a for a, t in TIER_ALIASES.items() if t in s.tiers)]


class JobRequest(_Strict):
    # "Exactly one of" in the schema itself, so generated clients and fuzzers know it.
    model_config = ConfigDict(extra="forbid", json_schema_extra={"oneOf": [
        {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
        {"required": ["customer"], "properties": {"customer": {"type": "object"}}},
    ]})

    customer_id: uuid.UUID | None = Field(default=None, description="An existing customer; or send `customer`.")
    customer: CustomerIn | None = Field(default=None, description="A new customer's business profile.")  # type: ignore[valid-type]
    tier: str = Field(json_schema_extra=lambda schema: schema.update(enum=tier_names()),
                      description="The package: enterprise, pro (or professional), growth or starter.")
    fast_track: bool = Field(default=False, description="Paid add-on: served one tier higher.")
    directories: list[DirectoryId] | None = Field(
        default=None, max_length=1000, description="Directory ids; default: the tier's package."
    )

    @field_validator("tier")
    @classmethod
    def _known_tier(cls, v: str) -> str:
        if v not in tier_names():
            raise ValueError(f"tier must be one of: {', '.join(tier_names())}")
        return v

    @model_validator(mode="after")
    def _one_customer(self) -> JobRequest:
        if (self.customer_id is None) == (self.customer is None):
            raise ValueError("send exactly one of customer_id (existing customer) or customer (new profile)")
        return self


class JobAccepted(BaseModel):
    job_id: uuid.UUID
    status: str
    queue: str


class Counts(BaseModel):
    total: int
    submitted: int
    failed: int
    needs_review: int
    skipped: int
    done: int


class DirectoryResult(BaseModel):
    directory: str
    status: str
    attempts: int
    error_category: str | None
    error_message: str | None = Field(default=None, description="Staff keys only.")
    duration_ms: int | None
    screenshot_available: bool
    waiting_for_staff: bool = Field(default=False, description="A person is finishing this directory "
                                    "(status needs_review): not failed.")


class JobView(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    tier: str
    fast_track: bool
    queue: str
    status: str
    status_note: str | None
    package_size: int
    directories_available: int | None
    counts: Counts
    waiting_for_staff: int = Field(default=0, description="Directories a person is finishing (review queue).")
    stage: str = Field(default="", description="The status, or waiting_for_staff while people finish directories "
                       "the automation could not (the status then says partial or failed so far).")
    requeue_count: int
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    results: list[DirectoryResult]


class QueuedJob(BaseModel):
    id: uuid.UUID
    tier: str
    fast_track: bool
    queue: str
    status: str
    counts: Counts
    progress: float = Field(description="Finished directories / total, 0 before the job starts.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CustomerQueue(BaseModel):
    customer_id: uuid.UUID
    jobs: list[QueuedJob]


IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
           description="Retry-safe submission: the same key returns the same job."),
]


#: Threads for submissions (PostgreSQL and the broker); the server's default pool
#: stays for everything else.
SUBMIT_LANE = anyio.CapacityLimiter(16)


@router.post("/jobs", status_code=202, response_model=JobAccepted,
             responses={200: {"model": JobAccepted, "description": "replay of an Idempotency-Key"},
                        404: {"model": ErrorBody, "description": "no such customer (or not in this key's scope)"},
                        409: {"model": ErrorBody, "description": "Idempotency-Key reused for a different request"},
                        **ERRORS})
async def submit_job(
    body: JobRequest,
    key: KeyInfo = Depends(require("producer")),
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Create a job and queue it with ``.delay()``. 202 when created; 200 with the
    same job when ``Idempotency-Key`` was seen before with the same request (keys are
    scoped to the API key); 409 when it was seen with a different one."""
    order = intake.Order(
        tier=body.tier,
        customer_id=body.customer_id,
        customer=body.customer.model_dump(exclude_none=True) if body.customer is not None else None,  # type: ignore[union-attr]
        fast_track=body.fast_track,
        directories=body.directories,
        idempotency_key=f"{key.prefix}:{idempotency_key}" if idempotency_key else None,
        key=key if key.role != "staff" else None,
    )
    accepted = await anyio.to_thread.run_sync(intake.accept, order, limiter=SUBMIT_LANE)
    return _answer(accepted.job_id, accepted.status, accepted.queue, replayed=accepted.replayed)


def _answer(job_id: uuid.UUID, status: str, queue: str, *, replayed: bool) -> JSONResponse:
    """A ready response: returning a model from a sync route makes FastAPI validate it
    again in a second thread-pool hop, which costs more than the model is worth here
    (``response_model`` still documents the shape)."""
    headers = {"Location": f"/api/jobs/{job_id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    body = {"job_id": str(job_id), "status": status, "queue": queue}
    return JSONResponse(body, status_code=200 if replayed else 202, headers=headers)


@router.get("/jobs/{job_id}", response_model=JobView,
            responses=ERRORS | {404: {"model": ErrorBody, "description": "no such job (or not in this key's scope)"}})
def get_job(job_id: uuid.UUID, key: KeyInfo = Depends(require("producer"))) -> JSONResponse:
    """Status, counters and one row per directory. Screenshots stay on the server;
    the answer only says whether one exists. (A ready response, as ``_answer``.)"""
    scopes.require_job(key, job_id)
    report = job_report(job_id)
    staff = key.role == "staff"
    report["results"] = [
        {**{k: v for k, v in r.items() if k != "screenshot"},
         "error_message": r["error_message"] if staff else None,
         "screenshot_available": bool(r["screenshot"])}
        for r in report["results"]
    ]
    return JSONResponse(report)


@router.get("/queue/{customer_id}", response_model=CustomerQueue,
            responses=ERRORS | {404: {"model": ErrorBody, "description": "no such customer"}})
def customer_queue(
    customer_id: uuid.UUID,
    status: Literal[JOB_STATUSES] | None = Query(default=None),  # type: ignore[valid-type]
    limit: int = Query(default=100, ge=1, le=1000),
    _: KeyInfo = Depends(require("staff")),
) -> CustomerQueue:
    """A customer's jobs, newest first, with their progress."""
    with db.session() as s:
        if s.scalar(select(func.count()).where(Customer.id == customer_id)) == 0:
            raise NotFound(f"customer {customer_id} does not exist")
        q = select(Job).where(Job.customer_id == customer_id).order_by(Job.created_at.desc()).limit(limit)
        if status:
            q = q.where(Job.status == status)
        rows = list(s.scalars(q))
    out = []
    for j in rows:
        done = j.submitted + j.failed + j.needs_review + j.skipped
        out.append(QueuedJob(
            id=j.id, tier=j.tier, fast_track=j.fast_track, queue=j.queue, status=j.status,
            counts=Counts(total=j.total, submitted=j.submitted, failed=j.failed, needs_review=j.needs_review,
                          skipped=j.skipped, done=done),
            progress=round(done / j.total, 4) if j.total else 0.0,
            created_at=j.created_at, started_at=j.started_at, finished_at=j.finished_at,
        ))
    return CustomerQueue(customer_id=customer_id, jobs=out)
