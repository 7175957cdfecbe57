"""The append-only audit trail. This module only inserts; the database refuses UPDATE."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from directorybolt.store.models import QueueHistory


def record(
    session: Session,
    event: str,
    *,
    job_id: uuid.UUID | str | None = None,
    directory_id: str | None = None,
    attempt: int | None = None,
    delay_s: float | None = None,
    **detail: Any,
) -> None:
    session.execute(
        insert(QueueHistory).values(
            job_id=uuid.UUID(str(job_id)) if job_id else None,
            directory_id=directory_id,
            event=event,
            attempt=attempt,
            delay_s=delay_s,
            detail=detail or None,
        )
    )
