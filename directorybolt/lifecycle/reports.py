"""What a job looks like to a person or a program: counters and per-directory rows."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from directorybolt.core.errors import NotFound
from directorybolt.lifecycle.jobs import parse_uuid
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult


def job_report(job_id: str | uuid.UUID) -> dict[str, Any]:
    jid = parse_uuid(job_id, "job id")
    with db.session() as s:
        job = s.get(Job, jid)
        if job is None:
            raise NotFound(f"job {jid} does not exist")
        results = s.scalars(select(JobResult).where(JobResult.job_id == jid).order_by(JobResult.directory_id)).all()
    return {
        "id": str(job.id),
        "customer_id": str(job.customer_id),
        "tier": job.tier,
        "fast_track": job.fast_track,
        "queue": job.queue,
        "status": job.status,
        "status_note": job.status_note,
        "package_size": job.package_size,
        "directories_available": job.directories_available,
        "counts": {
            "total": job.total, "submitted": job.submitted, "failed": job.failed,
            "needs_review": job.needs_review, "skipped": job.skipped,
            "done": job.submitted + job.failed + job.needs_review + job.skipped,
        },
        # Rows a person is finishing (the review queue): not failed, not done yet.
        "waiting_for_staff": job.needs_review,
        "stage": _stage(job),
        "requeue_count": job.requeue_count,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "results": [
            {
                "directory": r.directory_id, "status": r.status, "attempts": r.attempts,
                "error_category": r.error_category, "error_message": r.error_message,
                "duration_ms": r.duration_ms, "screenshot": r.screenshot_path,
                "waiting_for_staff": r.status == "needs_review",
            }
            for r in results
        ],
    }


def _stage(job: Job) -> str:
    """What the customer is told: ``waiting_for_staff`` while the automation is done and
    people still finish some directories (the status stays the job's final one so far,
    e.g. ``partial``); the job's status otherwise."""
    if job.needs_review > 0 and job.status in ("partial", "failed"):
        return "waiting_for_staff"
    return job.status
