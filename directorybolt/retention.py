"""Retention: audit rows are archived after ``history_archive_days`` and deleted from
the archive after ``history_delete_days``; closed dead letters go after
``dead_letter_retention_days``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from directorybolt import db, dlq
from directorybolt.config import get_settings

_ARCHIVE = text(
    """
    WITH moved AS (DELETE FROM queue_history WHERE created_at < :cutoff RETURNING *)
    INSERT INTO queue_history_archive (id, job_id, directory_id, event, attempt, delay_s, detail, created_at)
    SELECT id, job_id, directory_id, event, attempt, delay_s, detail, created_at FROM moved
    """
)
_DELETE_ARCHIVED = text("DELETE FROM queue_history_archive WHERE created_at < :cutoff")


@dataclass(frozen=True)
class RetentionReport:
    archived: int
    deleted: int
    dead_letters_deleted: int


def purge_history(*, now: datetime | None = None) -> RetentionReport:
    s = get_settings()
    now = now or datetime.now(UTC)
    with db.session() as session:
        archived = session.execute(_ARCHIVE, {"cutoff": now - timedelta(days=s.history_archive_days)}).rowcount
        deleted = session.execute(_DELETE_ARCHIVED, {"cutoff": now - timedelta(days=s.history_delete_days)}).rowcount
    dead = dlq.delete_closed(s.dead_letter_retention_days)
    return RetentionReport(archived or 0, deleted or 0, dead)
