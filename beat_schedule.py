"""The Celery Beat schedule: one readable table.

Every entry runs on the ``maintenance`` queue. Intervals come from settings so an
operator tunes them without touching code.
"""

from __future__ import annotations

from typing import Any

from directorybolt.core.settings import Settings

#   name                   task                                    every (seconds)
SCHEDULE: list[tuple[str, str, str]] = [
    ("sweep-stale-jobs",   "tasks.maintenance.sweep_stale_jobs",   "sweep_interval_s"),
    ("check-dead-letters", "tasks.maintenance.check_dead_letters", "dlq_check_interval_s"),
    ("promote-starved",    "tasks.maintenance.promote_starved",    "sweep_interval_s"),
    ("prune-heartbeats",   "tasks.maintenance.prune_heartbeats",   "sweep_interval_s"),
    ("purge-history",      "tasks.maintenance.purge_history",      "retention_interval_s"),
]


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "task": task,
            "schedule": float(getattr(settings, every)),
            "options": {"queue": "maintenance", "expires": float(getattr(settings, every))},
        }
        for name, task, every in SCHEDULE
    }
