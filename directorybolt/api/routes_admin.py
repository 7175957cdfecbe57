"""Staff routes: the dead-letter queue and the workers. They call the same
:mod:`directorybolt.dlq` functions as ``directorybolt dlq``, so the CLI and the API
cannot disagree about what a replay or a purge does.

Replay and purge also talk to the broker, so they run through a deadline and a
breaker (:class:`directorybolt.core.deadlines.BoundedCalls`): with Redis hung they
answer 503 within ``api_publish_timeout_s`` + 0.5 s instead of holding a thread.
A call abandoned at its deadline may still finish when Redis wakes up; the entry's
state then shows it (a second replay is a 409)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from directorybolt.api.auth import require
from directorybolt.api.errors import ERRORS, ErrorBody
from directorybolt.core.deadlines import BoundedCalls
from directorybolt.core.settings import get_settings
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from directorybolt.store import db
from directorybolt.store.models import WorkerHeartbeat

router = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require("staff"))], responses=ERRORS)

DeadLetterId = Path(ge=1, le=2**63 - 1, description="Dead-letter entry id.")
_NOT_FOUND = {404: {"model": ErrorBody, "description": "no such dead-letter entry"}}


class DeadLetterView(BaseModel):
    id: int
    task: str
    state: str
    job_id: str | None
    directory: str | None
    tier: str | None
    queue: str | None
    exception_type: str
    exception_message: str | None
    attempts: int
    first_failure_at: str | None
    last_failure_at: str | None


class DeadLetterDetail(DeadLetterView):
    args: list[Any]
    kwargs: dict[str, Any]
    traceback: str | None
    task_id: str | None


class DeadLetterList(BaseModel):
    open: int
    entries: list[DeadLetterView]


class WorkerView(BaseModel):
    worker_id: str
    hostname: str
    pid: int
    current_job_id: uuid.UUID | None
    current_directory_id: str | None
    started_at: datetime
    last_heartbeat: datetime
    alive: bool
    #: ``submissions`` or ``maintenance``; ``degraded`` while its circuit breaker keeps it
    #: from taking submissions (its browser does not launch).
    role: str
    state: str


@router.get("/dlq", response_model=DeadLetterList)
def list_dead_letters(
    state: Literal["open", "replayed", "purged", "all"] = "open",
    limit: int = Query(default=100, ge=1, le=1000),
) -> DeadLetterList:
    """Dead-letter entries, newest first."""
    entries = dlq.list_entries(state=None if state == "all" else state, limit=limit)
    return DeadLetterList(open=dlq.open_count(), entries=[DeadLetterView(**dlq.as_dict(e)) for e in entries])


@router.get("/dlq/{entry_id}", response_model=DeadLetterDetail, responses=_NOT_FOUND)
def show_dead_letter(entry_id: int = DeadLetterId) -> dict[str, Any]:
    """One entry with its arguments and traceback."""
    return dlq.as_dict(dlq.get(entry_id), full=True)


@lru_cache(maxsize=1)
def _broker_calls() -> BoundedCalls:
    s = get_settings()
    return BoundedCalls("broker (admin)", timeout_s=s.api_publish_timeout_s + 0.5,
                        cooldown_s=s.api_breaker_cooldown_s, threads=2)


def _replay(entry_id: int, force: bool) -> dict[str, Any]:
    return dlq.as_dict(dlq.replay(entry_id, HANDOFF, force=force))


def _purge(entry_id: int) -> dict[str, Any]:
    dlq.purge(entry_id, HANDOFF)
    return dlq.as_dict(dlq.get(entry_id))


@router.post("/dlq/{entry_id}/replay", response_model=DeadLetterView,
             responses=_NOT_FOUND | {409: {"model": ErrorBody, "description": "entry is not open, or its form was "
                                           "already sent (replay with force=true after checking the directory)"}})
async def replay_dead_letter(
    entry_id: int = DeadLetterId,
    force: bool = Query(default=False, description="Send again even though the form may have reached the directory."),
) -> dict[str, Any]:
    """Re-queue to the original tier queue with a fresh retry budget."""
    return await _broker_calls().acall(_replay, entry_id, force)


@router.delete("/dlq/{entry_id}", response_model=DeadLetterView, responses=_NOT_FOUND)
async def purge_dead_letter(entry_id: int = DeadLetterId) -> dict[str, Any]:
    """Drop the entry without replaying it (kept as ``purged`` until retention)."""
    return await _broker_calls().acall(_purge, entry_id)


@router.get("/workers", response_model=list[WorkerView])
def workers() -> list[WorkerView]:
    """Every worker with a heartbeat row; ``alive`` when it beat within ``stale_after_s``."""
    cutoff = datetime.now(UTC) - timedelta(seconds=get_settings().stale_after_s)
    with db.session() as s:
        rows = list(s.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id)))
    return [
        WorkerView(worker_id=r.worker_id, hostname=r.hostname, pid=r.pid, current_job_id=r.current_job_id,
                   current_directory_id=r.current_directory_id, started_at=r.started_at,
                   last_heartbeat=r.last_heartbeat, alive=r.last_heartbeat > cutoff, role=r.role, state=r.state)
        for r in rows
    ]
