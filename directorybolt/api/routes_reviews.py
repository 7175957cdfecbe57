"""Staff routes for the review queue: list, show, claim, release, resolve. They call
:mod:`directorybolt.lifecycle.reviews`, as ``directorybolt review`` and the console
do, so the three cannot disagree about a transition.

The staff identity written to ``queue_history`` is the body's ``staff`` name, or the
staff key's own name (``key:<name>``) when none is given."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field, model_validator

from directorybolt.api.auth import require
from directorybolt.api.errors import ERRORS, ErrorBody
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import reviews
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.store.apikeys import KeyInfo

router = APIRouter(prefix="/api/admin", tags=["reviews"], dependencies=[Depends(require("staff"))], responses=ERRORS)

ItemId = Path(ge=1, le=2**63 - 1, description="Review item id.")
_NOT_FOUND = {404: {"model": ErrorBody, "description": "no such review item"}}
_CONFLICT = {409: {"model": ErrorBody, "description": "claimed by someone else, your claim expired, or already "
                                                     "resolved"}}


class ReviewItemView(BaseModel):
    id: int
    result_id: int
    job_id: str
    directory: str
    directory_name: str | None
    directory_url: str | None = Field(description="The page to open to finish the submission by hand.")
    tier: str
    state: Literal["open", "claimed", "resolved"]
    business_name: str
    reason: str
    error_category: str | None
    attempts: int
    screenshot_available: bool
    opened_at: str
    age_s: float
    turnaround: str | None = Field(description="The tier's promised turnaround.")
    turnaround_s: int | None
    overdue: bool
    claimed_by: str | None
    lease_left_s: float | None
    resolution: str | None
    evidence_url: str | None
    note: str | None
    resolved_by: str | None
    resolved_at: str | None


class ReviewItemDetail(ReviewItemView):
    fields: dict[str, str | None] = Field(description="The business fields to type into the directory's form.")
    job_status: str | None
    directory_category: str | None
    history: list[dict[str, Any]]


class TierQueue(BaseModel):
    tier: str
    unresolved: int
    claimed: int
    oldest_s: float | None
    turnaround: str
    turnaround_s: int
    overdue: bool


class ReviewQueue(BaseModel):
    tiers: list[TierQueue]
    items: list[ReviewItemView]


#: At least one character that is not a space (the library strips what it is given).
NOT_BLANK = r"\S"
#: An http(s) URL with a host, as the library checks it.
LISTING_URL = r"^https?://[A-Za-z0-9._~%!$&'()*+,;=:@-]+([/?#]\S*)?$"


class StaffBody(BaseModel):
    model_config = {"extra": "forbid"}
    staff: str | None = Field(default=None, min_length=1, max_length=120, pattern=NOT_BLANK,
                              description="Who acts (written to the history); default: the staff key's name.")


def _optional(description: str, **kw: Any) -> Any:
    """An optional string that, when sent, is a string (not null): the schema then says
    exactly what the library accepts."""
    return Field(default=None, description=description, **kw)


class _Resolution(StaffBody):
    evidence_url: str = _optional("The listing's URL.", max_length=2048, pattern=LISTING_URL)
    note: str = _optional("A note; the reason when failed.", max_length=4000, pattern=NOT_BLANK)


class ResolveSubmitted(_Resolution):
    """Submitted by hand: the listing URL or a note (or both) is the evidence."""

    model_config = {"extra": "forbid", "json_schema_extra": {"anyOf": [{"required": ["evidence_url"]},
                                                                       {"required": ["note"]}]}}
    resolution: Literal["submitted"] = Field(alias="as")

    @model_validator(mode="after")
    def _evidence(self) -> ResolveSubmitted:
        if self.evidence_url is None and self.note is None:
            raise ValueError("resolving as submitted needs evidence: evidence_url or note")
        return self


class ResolveFailed(_Resolution):
    """The directory cannot list the customer; ``note`` says why."""

    resolution: Literal["failed"] = Field(alias="as")
    note: str = Field(max_length=4000, pattern=NOT_BLANK, description="The reason.")


class ResolveRetry(_Resolution):
    """Back to the workers with a fresh budget (once per directory)."""

    resolution: Literal["retry"] = Field(alias="as")


Resolution = Annotated[ResolveSubmitted | ResolveFailed | ResolveRetry, Field(discriminator="resolution")]


class Resolved(BaseModel):
    item: ReviewItemDetail
    job_status: str
    finalized: str | None = Field(description="The job's final status when this resolution finished the job.")
    queued: bool = Field(description="A retry was handed back to the workers.")


def _who(body: StaffBody | None, key: KeyInfo) -> str:
    return (body.staff if body and body.staff else None) or f"key:{key.name}"[:120]


def _tier_enum(schema: dict[str, Any]) -> None:
    """The tiers on sale, read when the schema is built (not at import)."""
    schema["enum"] = get_settings().tiers_by_priority()


@router.get("/reviews", response_model=ReviewQueue)
def list_reviews(
    tier: str | None = Query(default=None, max_length=40, json_schema_extra=_tier_enum),
    state: Literal["open", "claimed", "resolved", "unresolved", "all"] = "unresolved",
    limit: int = Query(default=200, ge=1, le=1000),
) -> dict[str, Any]:
    """The queue in working order (tier priority, then age) with each tier's depth,
    oldest item and promised turnaround."""
    return {"tiers": reviews.summary(), "items": reviews.list_items(tier=tier, state=state, limit=limit)}


@router.get("/reviews/{item_id}", response_model=ReviewItemDetail, responses=_NOT_FOUND)
def show_review(item_id: int = ItemId) -> dict[str, Any]:
    """One item with the business fields, the directory's URL, the reason and its history."""
    return reviews.get(item_id)


@router.post("/reviews/{item_id}/claim", response_model=ReviewItemDetail, responses=_NOT_FOUND | _CONFLICT)
def claim_review(item_id: int = ItemId, body: StaffBody | None = None,
                 key: KeyInfo = Depends(require("staff"))) -> dict[str, Any]:
    """Take the item for ``review_lease_s``; claiming your own item renews the lease."""
    return reviews.claim(item_id, _who(body, key))


@router.post("/reviews/{item_id}/release", response_model=ReviewItemDetail, responses=_NOT_FOUND | _CONFLICT)
def release_review(item_id: int = ItemId, body: StaffBody | None = None,
                   key: KeyInfo = Depends(require("staff"))) -> dict[str, Any]:
    """Give a claimed item back to the queue (holder only)."""
    return reviews.release(item_id, _who(body, key))


def _send(job_id: Any, directory_ids: list[str], queue: str) -> int:
    return HANDOFF.send_submissions(job_id, directory_ids, queue)


@router.post("/reviews/{item_id}/resolve", response_model=Resolved, responses=_NOT_FOUND | _CONFLICT)
async def resolve_review(body: Resolution = Body(), item_id: int = ItemId,
                         key: KeyInfo = Depends(require("staff"))) -> dict[str, Any]:
    """Finish the item (lease holder only, once). When it was the job's last item the
    job is finalised again: a partial job whose items were all submitted is completed."""
    def work() -> reviews.Resolved:
        return reviews.resolve(item_id, _who(body, key), body.resolution, evidence_url=body.evidence_url,
                               note=body.note, send=_send)

    done = await anyio.to_thread.run_sync(work)
    return {"item": done.item, "job_status": done.job_status, "finalized": done.finalized, "queued": done.queued}
