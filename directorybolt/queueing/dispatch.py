"""The one place the library hands work to Celery: by task name, never by importing
``tasks/``. Tasks take ids, never objects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from directorybolt.core.queues import PROCESS_JOB, SUBMIT_DIRECTORY
from directorybolt.queueing import redis_layout
from directorybolt.store.services import redis_client


def _app() -> Any:
    from directorybolt.queueing.celery_app import app

    return app


def _stamped(task_name: str) -> Any:
    """A signature by name whose messages say when they were sent (starvation reads it)."""
    return _app().signature(task_name, headers={redis_layout.SENT_AT_HEADER: round(time.time(), 3)})


def enqueue_job(job_id: uuid.UUID | str, queue: str) -> str:
    """``.delay()`` the job's fan-out; the router sends it to ``tier_queue``."""
    return str(_stamped(PROCESS_JOB).delay(str(job_id), tier_queue=queue).id)


def send_submissions(job_id: uuid.UUID | str, directory_ids: Iterable[str], queue: str) -> int:
    task = _stamped(SUBMIT_DIRECTORY)
    n = 0
    for directory_id in directory_ids:
        task.delay(str(job_id), directory_id, tier_queue=queue)
        n += 1
    return n


def route_by_tier(name: str, args: tuple, kwargs: dict, options: dict, task: object = None, **_: object) -> dict | None:
    """Celery router: submission tasks go to the queue named in their ``tier_queue``."""
    queue = (kwargs or {}).get("tier_queue")
    if name.startswith("tasks.submission.") and queue:
        return {"queue": queue, "routing_key": queue}
    return None


class CeleryHandoff:
    """:class:`directorybolt.recovery.handoff.Handoff` over Celery and kombu's Redis layout."""

    def send_job(self, job_id: uuid.UUID | str, queue: str) -> str:
        return enqueue_job(job_id, queue)

    def send_submissions(self, job_id: uuid.UUID | str, directory_ids: Iterable[str], queue: str) -> int:
        return send_submissions(job_id, directory_ids, queue)

    def queued_jobs(self, queues: list[str], limit: int) -> tuple[set[str], bool]:
        return redis_layout.queued_jobs(redis_client(), queues, limit)

    def publish_dead_letter(self, payload: bytes) -> None:
        redis_layout.push_dead_letter(redis_client(), payload)

    def withdraw_dead_letter(self, entry_id: int) -> int:
        return redis_layout.remove_dead_letter(redis_client(), entry_id)


HANDOFF = CeleryHandoff()
