"""The one place the library hands work to Celery. Tasks take ids, never objects."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

#: Scan at most this many queued messages when asking whether a job is still queued.
BROKER_SCAN_LIMIT = 50_000


def enqueue_job(job_id: uuid.UUID | str, queue: str) -> str:
    """``.delay()`` the job's fan-out; the router sends it to ``tier_queue``."""
    from tasks.submission import process_job

    return process_job.delay(str(job_id), tier_queue=queue).id


def send_submissions(job_id: uuid.UUID | str, directory_ids: Iterable[str], queue: str) -> int:
    from tasks.submission import submit_directory

    n = 0
    for directory_id in directory_ids:
        submit_directory.delay(str(job_id), directory_id, tier_queue=queue)
        n += 1
    return n


def route_by_tier(name: str, args: tuple, kwargs: dict, options: dict, task: object = None, **_: object) -> dict | None:
    """Celery router: submission tasks go to the queue named in their ``tier_queue``."""
    queue = (kwargs or {}).get("tier_queue")
    if name.startswith("tasks.submission.") and queue:
        return {"queue": queue, "routing_key": queue}
    return None


def job_in_broker(queue: str, job_id: str) -> bool:
    """Whether a queued (not yet delivered) message for ``job_id`` waits in ``queue``.
    Kombu keeps a Redis queue as a list of JSON messages whose headers carry the args."""
    from directorybolt.runtime import redis_client

    client = redis_client()
    needle = job_id.encode()
    step = 1000
    for start in range(0, BROKER_SCAN_LIMIT, step):
        chunk = client.lrange(queue, start, start + step - 1)
        if any(needle in m for m in chunk):
            return True
        if len(chunk) < step:
            return False
    return True
