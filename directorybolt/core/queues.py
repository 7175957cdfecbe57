"""Queue names: the part of the wire contract every layer may know.

One queue per tier (served highest first), ``maintenance`` for Beat's tasks and
``dead_letter``, which nobody consumes, so Flower shows how many tasks gave up.
"""

from __future__ import annotations

from directorybolt.core.settings import Settings, get_settings

SUBMISSION_QUEUE_PREFIX = "submissions."
MAINTENANCE_QUEUE = "maintenance"
DEAD_LETTER_QUEUE = "dead_letter"

#: Task names on the wire (tasks/ registers them; the library sends by name).
PROCESS_JOB = "tasks.submission.process_job"
SUBMIT_DIRECTORY = "tasks.submission.submit_directory"


def tier_queue(tier: str) -> str:
    return f"{SUBMISSION_QUEUE_PREFIX}{tier}"


def submission_queues(settings: Settings | None = None) -> list[str]:
    """The tier queues, highest priority first."""
    s = settings or get_settings()
    return [tier_queue(t) for t in s.tiers_by_priority()]


def submission_queues_among(names: list[str]) -> list[str]:
    """The submission queues among ``names``, in their order (a worker that consumes
    none needs no browser)."""
    return [q for q in names if q.startswith(SUBMISSION_QUEUE_PREFIX)]


def all_queues(settings: Settings | None = None) -> list[str]:
    return [*submission_queues(settings), MAINTENANCE_QUEUE, DEAD_LETTER_QUEUE]
