"""What the console's pages show, read from the system of record (and the broker for
queue depths, with the health check's short deadline). Plain dicts for templates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select, text

from directorybolt.core.errors import NotFound, ValidationError
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import reviews
from directorybolt.lifecycle.reports import job_report
from directorybolt.recovery import dlq
from directorybolt.store import db
from directorybolt.store.models import JOB_STATUSES, Customer, Job, JobResult, QueueHistory, WorkerHeartbeat

PAGE_SIZE = 25


def queue_depths() -> dict[str, int | None]:
    """Messages waiting per queue; None for each when Redis does not answer in time."""
    from directorybolt.api.health import probe_redis_client
    from directorybolt.api.health import queue_depths as depths
    from directorybolt.core.queues import all_queues

    try:
        client = probe_redis_client()
        try:
            return dict(depths(client))
        finally:
            client.close()
    except (RedisError, OSError):
        return dict.fromkeys(all_queues())


def workers() -> list[dict[str, Any]]:
    """Every worker with a heartbeat row: alive, degraded (beats late: missed a few
    intervals, not yet stale; or its circuit breaker is open) or lapsed (presumed dead; the sweep recovers its work)."""
    s = get_settings()
    now = datetime.now(UTC)
    with db.session() as session:
        rows = list(session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id)))
    out = []
    for r in rows:
        age = (now - r.last_heartbeat).total_seconds()
        if age > s.stale_after_s or r.suspected_at is not None:
            state = "lapsed"
        elif age > 3 * s.heartbeat_interval_s or r.state == "degraded":
            state = "degraded"  # beats late, or its browser does not launch (circuit breaker open)
        else:
            state = "alive"
        out.append({"worker_id": r.worker_id, "hostname": r.hostname, "pid": r.pid, "state": state,
                    "beat_age_s": round(age, 1), "job_id": str(r.current_job_id) if r.current_job_id else None,
                    "directory": r.current_directory_id, "started_at": r.started_at})
    return out


def dashboard() -> dict[str, Any]:
    depths = queue_depths()
    s = get_settings()
    since = datetime.now(UTC) - timedelta(hours=24)
    with db.session() as session:
        by_status = dict(session.execute(select(Job.status, func.count()).where(Job.created_at >= since)
                                         .group_by(Job.status)).all())
    return {
        "queues": [{"tier": t, "queue": f"submissions.{t}", "depth": depths.get(f"submissions.{t}")}
                   for t in s.tiers_by_priority()],
        "other_queues": {q: n for q, n in depths.items() if not q.startswith("submissions.")},
        "workers": workers(),
        "dlq_depth": dlq.open_count(),
        "reviews": reviews.summary(),
        "jobs_24h": [(st, by_status.get(st, 0)) for st in JOB_STATUSES],
    }


def jobs_page(*, status: str | None, tier: str | None, customer: str | None, page: int) -> dict[str, Any]:
    s = get_settings()
    if status and status not in JOB_STATUSES:
        raise ValidationError(f"unknown status {status!r}")
    if tier and tier not in s.tiers:
        raise ValidationError(f"unknown tier {tier!r}")
    q = select(Job, Customer.business_name).join(Customer, Customer.id == Job.customer_id)
    if status:
        q = q.where(Job.status == status)
    if tier:
        q = q.where(Job.tier == tier)
    if customer:
        try:
            q = q.where(Job.customer_id == uuid.UUID(customer))
        except ValueError:
            q = q.where(Customer.business_name.ilike(f"%{_like(customer)}%"))
    page = max(1, page)
    with db.session() as session:
        total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = session.execute(q.order_by(Job.created_at.desc()).offset((page - 1) * PAGE_SIZE)
                               .limit(PAGE_SIZE)).all()
    return {"jobs": [{"job": j, "business_name": name} for j, name in rows], "total": total, "page": page,
            "pages": max(1, -(-total // PAGE_SIZE))}


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")[:200]


def job_detail(job_id: uuid.UUID) -> dict[str, Any]:
    report = job_report(job_id)
    with db.session() as session:
        ids = dict(session.execute(select(JobResult.directory_id, JobResult.id)
                                   .where(JobResult.job_id == job_id)).all())
        events = list(session.scalars(select(QueueHistory).where(QueueHistory.job_id == job_id)
                                      .order_by(QueueHistory.id.desc()).limit(200)))
        name = session.scalar(select(Customer.business_name).join(Job, Job.customer_id == Customer.id)
                              .where(Job.id == job_id))
    for r in report["results"]:
        r["result_id"] = ids.get(r["directory"])
    items = {i["directory"]: i for i in reviews.list_items(job_id=job_id, state="unresolved")}
    return {"report": report, "business_name": name, "history": events, "review_items": items,
            "finished": report["status"] not in ("pending", "in_progress")}


_SHOT = text("SELECT screenshot_path FROM job_results WHERE id = :id")


def screenshot_file(result_id: int) -> Path:
    """The screenshot of one result, only from ``<state_dir>/screenshots``: a stored
    path that leads anywhere else (``..``, a symlink, an absolute path) is not served."""
    with db.session() as session:
        stored = session.scalar(_SHOT, {"id": result_id})
    if not stored:
        raise NotFound(f"result {result_id} has no screenshot")
    root = (get_settings().state_dir / "screenshots").resolve()
    path = Path(stored).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() != ".png" or not path.is_file():
        raise NotFound(f"result {result_id} has no screenshot")
    return path
