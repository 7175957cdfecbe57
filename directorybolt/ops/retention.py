"""Retention: audit rows are archived after ``history_archive_days`` and deleted from
the archive after ``history_delete_days``; closed dead letters go after
``dead_letter_retention_days``; screenshots after ``screenshot_retention_days``."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import results
from directorybolt.store import db

_ARCHIVE = text(
    """
    WITH moved AS (DELETE FROM queue_history WHERE created_at < :cutoff RETURNING *)
    INSERT INTO queue_history_archive (id, job_id, directory_id, event, attempt, delay_s, detail, created_at)
    SELECT id, job_id, directory_id, event, attempt, delay_s, detail, created_at FROM moved
    """
)
_DELETE_ARCHIVED = text("DELETE FROM queue_history_archive WHERE created_at < :cutoff")
_DELETE_CLOSED_DEAD_LETTERS = text(
    "DELETE FROM dead_letters WHERE state IN ('replayed', 'purged') AND state_changed_at < :cutoff"
)


@dataclass(frozen=True)
class RetentionReport:
    archived: int
    deleted: int
    dead_letters_deleted: int
    screenshot_jobs_pruned: int = 0


def purge_history(*, now: datetime | None = None) -> RetentionReport:
    s = get_settings()
    now = now or datetime.now(UTC)
    with db.session() as session:
        archived = session.execute(_ARCHIVE, {"cutoff": now - timedelta(days=s.history_archive_days)}).rowcount
        deleted = session.execute(_DELETE_ARCHIVED, {"cutoff": now - timedelta(days=s.history_delete_days)}).rowcount
    dead = delete_closed_dead_letters(now=now)
    return RetentionReport(archived or 0, deleted or 0, dead, prune_screenshots(now=now))


def delete_closed_dead_letters(*, now: datetime | None = None) -> int:
    """Dead letters replayed or purged more than ``dead_letter_retention_days`` ago."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=get_settings().dead_letter_retention_days)
    with db.session() as session:
        return session.execute(_DELETE_CLOSED_DEAD_LETTERS, {"cutoff": cutoff}).rowcount or 0


def prune_screenshots(*, now: datetime | None = None) -> int:
    """Screenshots go with their job's retention: a job finished more than
    ``screenshot_retention_days`` ago loses its folder and the paths that pointed into it."""
    s = get_settings()
    now = now or datetime.now(UTC)
    with db.session() as session:
        job_ids = results.forget_screenshots(session, now - timedelta(days=s.screenshot_retention_days))
    root = s.state_dir / "screenshots"
    for job_id in job_ids:
        shutil.rmtree(root / str(job_id), ignore_errors=True)
    return len(job_ids)
