"""The review queue: what the browser could not finish, finished by a person.

A review item stands for one ``needs_review`` result (a CAPTCHA, a login, a changed
form, an interrupted submission). Items are open → claimed → resolved::

    open ──claim (lease review_lease_s)──▶ claimed ──resolve (lease holder)──▶ resolved
      ▲                                       │
      └──── lease lapsed (database clock) ────┘  / release

Resolutions: ``submitted`` (evidence: the listing URL or a note), ``failed`` (a
reason), ``retry`` (back to automation with a fresh budget, once per result: a second
retry of the same row is refused, so a form that keeps failing cannot loop).

Every transition is one guarded statement (``UPDATE … WHERE state … RETURNING``); the
result row moves through :mod:`directorybolt.lifecycle.results`, its single owner, in
the same transaction, and is written to ``queue_history`` with the staff name. Lock
order: review item, then result row, then job row.

Items are created lazily (:func:`sync`) from the rows themselves, so no path that
ends a row ``needs_review`` has to know about reviews; metrics count the rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from directorybolt.core.errors import ConflictError, NotFound, ValidationError
from directorybolt.core.plans import BUSINESS_FIELDS
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import jobs, results
from directorybolt.store import db, history
from directorybolt.store.models import Customer, Directory, Job, JobResult, QueueHistory
from directorybolt.store.review_models import REVIEW_RESOLUTIONS, ReviewItem

#: ``send(job_id, directory_ids, queue)``: the queueing layer's handoff (a retry).
Send = Callable[[uuid.UUID, list[str], str], Any]

_SYNC = text(
    """
    INSERT INTO review_items (result_id, job_id, directory_id, tier, state, opened_at)
    SELECT r.id, r.job_id, r.directory_id, j.tier, 'open', COALESCE(r.finished_at, r.updated_at)
    FROM job_results r JOIN jobs j ON j.id = r.job_id
    WHERE r.status = 'needs_review'
      AND NOT EXISTS (SELECT 1 FROM review_items i WHERE i.result_id = r.id AND i.state <> 'resolved')
    ON CONFLICT DO NOTHING
    RETURNING id
    """
)

#: The state a person sees: a claim whose lease lapsed is open again.
STATE_SQL = "CASE WHEN i.state = 'claimed' AND i.lease_expires_at <= now() THEN 'open' ELSE i.state END"

_LIST = text(
    f"""
    SELECT i.id, i.result_id, i.job_id, i.directory_id, i.tier, {STATE_SQL} AS state, i.opened_at,
           i.claimed_by, i.lease_expires_at, i.resolution, i.evidence_url, i.note, i.resolved_by, i.resolved_at,
           EXTRACT(epoch FROM COALESCE(i.resolved_at, now()) - i.opened_at)::float AS age_s,
           GREATEST(0, EXTRACT(epoch FROM i.lease_expires_at - now()))::float AS lease_left_s,
           r.error_category, r.error_message, r.screenshot_path, r.attempts, c.business_name,
           d.name AS directory_name, d.url AS directory_url, d.submission_url
    FROM review_items i JOIN job_results r ON r.id = i.result_id JOIN jobs j ON j.id = i.job_id
    JOIN customers c ON c.id = j.customer_id JOIN directories d ON d.id = i.directory_id
    WHERE (CAST(:tier AS text) IS NULL OR i.tier = :tier)
      AND (CAST(:job AS uuid) IS NULL OR i.job_id = CAST(:job AS uuid))
      AND (CAST(:item AS bigint) IS NULL OR i.id = CAST(:item AS bigint))
      AND (CAST(:state AS text) = 'all' OR {STATE_SQL} = :state
           OR (CAST(:state AS text) = 'unresolved' AND i.state <> 'resolved'))
    ORDER BY array_position(CAST(:order AS text[]), i.tier), i.opened_at, i.id
    LIMIT :limit
    """
)

_CLAIM = text(
    """
    UPDATE review_items i SET state = 'claimed', claimed_by = :staff, claimed_at = now(),
        lease_expires_at = now() + make_interval(secs => :lease)
    WHERE i.id = :item AND (i.state = 'open' OR (i.state = 'claimed'
                            AND (i.lease_expires_at <= now() OR i.claimed_by = :staff)))
    RETURNING i.job_id, i.directory_id
    """
)

_RELEASE = text(
    """
    UPDATE review_items SET state = 'open', claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
    WHERE id = :item AND state = 'claimed' AND claimed_by = :staff
    RETURNING job_id, directory_id
    """
)

_RESOLVE = text(
    """
    UPDATE review_items SET state = 'resolved', resolution = :resolution, evidence_url = :evidence,
        note = :note, resolved_by = :staff, resolved_at = now(), lease_expires_at = NULL
    WHERE id = :item AND state = 'claimed' AND claimed_by = :staff AND lease_expires_at > now()
    RETURNING result_id, job_id, directory_id
    """
)

_WHY = text(
    f"""
    SELECT {STATE_SQL} AS state, i.state AS stored, i.claimed_by, i.resolution, i.resolved_by
    FROM review_items i WHERE i.id = :item
    """
)


def sync(session: Session) -> int:
    """An item for every ``needs_review`` row that has no unresolved one; returns how
    many were created (idempotent: a partial unique index keeps one per row)."""
    return len(session.execute(_SYNC).all())


def _staff(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationError("a staff name (1-120 characters) is required")
    return name


def list_items(*, tier: str | None = None, state: str = "unresolved", job_id: uuid.UUID | None = None,
               limit: int = 200) -> list[dict[str, Any]]:
    """The queue in working order: tier priority, then age (oldest first)."""
    s = get_settings()
    if tier is not None and tier not in s.tiers:
        raise ValidationError(f"unknown tier {tier!r}; choose one of: {', '.join(s.tiers_by_priority())}")
    if state not in ("open", "claimed", "resolved", "unresolved", "all"):
        raise ValidationError("state must be open, claimed, resolved, unresolved or all")
    with db.session() as session:
        sync(session)
        rows = session.execute(_LIST, {"tier": tier, "job": job_id, "item": None, "state": state,
                                       "order": s.tiers_by_priority(), "limit": limit}).mappings().all()
    return [_view(r) for r in rows]


def _view(r: Any) -> dict[str, Any]:
    spec = get_settings().tiers.get(r["tier"])
    turnaround = spec.review_turnaround_s if spec else None
    return {
        "id": r["id"], "result_id": r["result_id"], "job_id": str(r["job_id"]), "directory": r["directory_id"],
        "directory_name": r["directory_name"], "directory_url": r["submission_url"] or r["directory_url"],
        "tier": r["tier"], "state": r["state"], "business_name": r["business_name"],
        "reason": f"{r['error_category'] or 'needs_review'}: {r['error_message'] or ''}".strip(" :"),
        "error_category": r["error_category"], "attempts": r["attempts"],
        "screenshot_available": bool(r["screenshot_path"]),
        "opened_at": r["opened_at"].isoformat(), "age_s": round(r["age_s"], 1),
        "turnaround": spec.turnaround if spec else None, "turnaround_s": turnaround,
        "overdue": turnaround is not None and r["resolved_at"] is None and r["age_s"] > turnaround,
        "claimed_by": r["claimed_by"] if r["state"] == "claimed" else None,
        "lease_left_s": round(r["lease_left_s"], 1) if r["state"] == "claimed" else None,
        "resolution": r["resolution"], "evidence_url": r["evidence_url"], "note": r["note"],
        "resolved_by": r["resolved_by"], "resolved_at": r["resolved_at"].isoformat() if r["resolved_at"] else None,
    }


def get(item_id: int) -> dict[str, Any]:
    """One item with what a person needs to work it: the directory to open, every
    business field to copy, the reason and the history of the row."""
    s = get_settings()
    with db.session() as session:
        sync(session)
        row = session.execute(_LIST, {"tier": None, "job": None, "item": item_id, "state": "all",
                                      "order": s.tiers_by_priority(), "limit": 1}).mappings().one_or_none()
        if row is None:
            raise NotFound(f"review item {item_id} does not exist")
        job = session.get(Job, row["job_id"])
        customer = session.get(Customer, job.customer_id) if job else None
        directory = session.get(Directory, row["directory_id"])
        events = session.scalars(select(QueueHistory).where(
            QueueHistory.job_id == row["job_id"], QueueHistory.directory_id == row["directory_id"]
        ).order_by(QueueHistory.id)).all()
        screenshot = session.scalar(select(JobResult.screenshot_path).where(JobResult.id == row["result_id"]))
    view = _view(row)
    view["fields"] = {f: getattr(customer, f, None) for f in BUSINESS_FIELDS} if customer else {}
    view["job_status"] = job.status if job else None
    view["directory_category"] = directory.category if directory else None
    view["screenshot_path"] = screenshot
    view["history"] = [{"at": e.created_at.isoformat(), "event": e.event, "attempt": e.attempt,
                        "detail": e.detail} for e in events]
    return view


def _refusal(session: Session, item_id: int, staff: str, doing: str) -> Exception:
    why = session.execute(_WHY, {"item": item_id}).one_or_none()
    if why is None:
        return NotFound(f"review item {item_id} does not exist")
    if why.stored == "resolved":
        return ConflictError(f"review item {item_id} is already resolved ({why.resolution} by {why.resolved_by})")
    if why.state == "claimed" and why.claimed_by != staff:
        return ConflictError(f"review item {item_id} is claimed by {why.claimed_by}; only they can {doing} it")
    if doing == "resolve" and why.stored == "claimed" and why.claimed_by == staff:
        return ConflictError(f"your claim on review item {item_id} expired; claim it again")
    return ConflictError(f"review item {item_id} is {why.state}; claim it before you {doing} it")


def claim(item_id: int, staff: str) -> dict[str, Any]:
    """open → claimed by ``staff`` for ``review_lease_s``; claiming an item you hold
    renews the lease; an item whose lease lapsed can be taken over."""
    staff = _staff(staff)
    with db.session() as session:
        sync(session)
        row = session.execute(_CLAIM, {"item": item_id, "staff": staff,
                                       "lease": get_settings().review_lease_s}).one_or_none()
        if row is None:
            raise _refusal(session, item_id, staff, "claim")
        history.record(session, "review_claimed", job_id=row.job_id, directory_id=row.directory_id,
                       review_item=item_id, staff=staff)
    return get(item_id)


def release(item_id: int, staff: str) -> dict[str, Any]:
    """claimed → open, by the holder (someone else may work it now)."""
    staff = _staff(staff)
    with db.session() as session:
        row = session.execute(_RELEASE, {"item": item_id, "staff": staff}).one_or_none()
        if row is None:
            raise _refusal(session, item_id, staff, "release")
        history.record(session, "review_released", job_id=row.job_id, directory_id=row.directory_id,
                       review_item=item_id, staff=staff)
    return get(item_id)


@dataclass(frozen=True)
class Resolved:
    """What a resolution did: the item, the job's status after it, the job's final
    status when this resolution finalised it, and whether a retry was queued."""

    item: dict[str, Any]
    job_status: str
    finalized: str | None
    queued: bool


def _check(resolution: str, evidence_url: str | None, note: str | None) -> tuple[str | None, str | None]:
    if resolution not in REVIEW_RESOLUTIONS:
        raise ValidationError(f"resolve as one of: {', '.join(REVIEW_RESOLUTIONS)} (got {resolution!r})")
    evidence_url = (evidence_url or "").strip() or None
    note = (note or "").strip() or None
    if evidence_url is not None:
        try:
            parts = urlsplit(evidence_url)
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.netloc or len(evidence_url) > 2048:
            raise ValidationError("evidence must be the listing's http(s) URL (at most 2048 characters)")
    if note is not None and len(note) > 4000:
        raise ValidationError("the note is longer than 4000 characters")
    if resolution == "submitted" and evidence_url is None and note is None:
        raise ValidationError("resolving as submitted needs evidence: the listing URL or a note")
    if resolution == "failed" and note is None:
        raise ValidationError("resolving as failed needs a reason (note)")
    return evidence_url, note


def resolve(item_id: int, staff: str, resolution: str, *, evidence_url: str | None = None,
            note: str | None = None, send: Send | None = None) -> Resolved:
    """claimed (by ``staff``, lease unexpired) → resolved, with the result row moved in
    the same transaction. A retry is queued through ``send`` after the commit."""
    staff = _staff(staff)
    evidence_url, note = _check(resolution, evidence_url, note)
    if resolution == "retry" and send is None:
        raise ValidationError("a retry needs the queue (send) to hand the row back to automation")
    with db.session() as session:
        item = session.get(ReviewItem, item_id)
        if item is None:
            raise NotFound(f"review item {item_id} does not exist")
        job = session.get(Job, item.job_id)
        if resolution == "retry":
            _may_retry(session, item, job)
        row = session.execute(_RESOLVE, {"item": item_id, "staff": staff, "resolution": resolution,
                                         "evidence": evidence_url, "note": note}).one_or_none()
        if row is None:
            raise _refusal(session, item_id, staff, "resolve")
        to = {"submitted": "submitted", "failed": "failed", "retry": "pending"}[resolution]
        detail = {"review_item": item_id, "evidence_url": evidence_url, "note": note}
        if resolution == "failed":
            detail["reason"] = note
        if results.resolve_review(session, row.result_id, to=to, staff=staff, detail=detail) is None:
            raise ConflictError(f"review item {item_id}: its result is no longer waiting for review")
        final = None
        if resolution == "retry":
            jobs.reopen(session, row.job_id)
        else:
            final = results.settle_review(session, row.job_id, staff=staff)
        status = session.scalar(select(Job.status).where(Job.id == row.job_id))
        queue = session.scalar(select(Job.queue).where(Job.id == row.job_id))
    queued = False
    if resolution == "retry" and send is not None:
        send(row.job_id, [row.directory_id], str(queue))  # lost on the way: the sweep re-sends pending rows
        queued = True
    return Resolved(get(item_id), str(status), final, queued)


def _may_retry(session: Session, item: ReviewItem, job: Job | None) -> None:
    if job is None or job.cancel_requested_at is not None or job.status == "cancelled":
        raise ConflictError(f"review item {item.id}: the job was stopped; it cannot go back to automation")
    before = session.scalar(select(ReviewItem.id).where(
        ReviewItem.result_id == item.result_id, ReviewItem.resolution == "retry", ReviewItem.id != item.id))
    if before is not None:
        raise ConflictError(f"review item {item.id}: this directory was already sent back to automation once "
                            f"(item {before}); resolve it as submitted or failed")


def summary() -> list[dict[str, Any]]:
    """Per tier, in priority order: unresolved items, claimed ones, the oldest's age and
    the promised turnaround."""
    s = get_settings()
    with db.session() as session:
        sync(session)
        rows = {r.tier: r for r in session.execute(text(
            f"""SELECT tier, count(*) AS n, count(*) FILTER (WHERE {STATE_SQL} = 'claimed') AS claimed,
                       EXTRACT(epoch FROM now() - min(opened_at))::float AS oldest_s
                FROM review_items i WHERE state <> 'resolved' GROUP BY tier""")).all()}
    out = []
    for tier in s.tiers_by_priority():
        r = rows.get(tier)
        spec = s.tiers[tier]
        out.append({"tier": tier, "unresolved": r.n if r else 0, "claimed": r.claimed if r else 0,
                    "oldest_s": round(r.oldest_s, 1) if r else None, "turnaround": spec.turnaround,
                    "turnaround_s": spec.review_turnaround_s,
                    "overdue": bool(r and r.oldest_s > spec.review_turnaround_s)})
    return out
