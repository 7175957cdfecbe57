"""The starvation bound for strict tier order.

Workers drain the highest non-empty tier queue first (``queue_order_strategy``), so
under sustained enterprise load a starter task could wait forever. Every
``sweep_interval_s`` Beat runs :func:`promote_starved`: when a higher queue is busy
and the oldest message of a lower queue belongs to a job older than
``starvation_after_s``, up to ``starvation_batch`` of its oldest messages are moved
to the *front* of the highest tier queue (kombu pops from the list's right end, so
``LMOVE src dst RIGHT RIGHT`` makes them next). Guarantee: no lower-tier task waits
more than ``starvation_after_s + sweep_interval_s`` (plus the tasks already running)
before it is next in line, and each lower tier gets at least ``starvation_batch``
tasks per interval under any load (defaults: 10 min + 1 min, 5 per minute).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from directorybolt.core.queues import submission_queues
from directorybolt.core.settings import get_settings
from directorybolt.queueing import redis_layout
from directorybolt.store import db
from directorybolt.store.models import Job
from directorybolt.store.services import redis_client


def promote_starved(client: Any | None = None, *, now: datetime | None = None) -> dict[str, int]:
    s = get_settings()
    client = client or redis_client()
    now = now or datetime.now(UTC)
    order = submission_queues(s)
    top = order[0]
    moved: dict[str, int] = {}
    for i, queue in enumerate(order[1:], start=1):
        if not redis_layout.queue_depth(client, order[:i]):
            continue
        oldest = redis_layout.next_message(client, queue)
        job_id = redis_layout.job_of_message(oldest) if oldest else None
        if job_id is None:
            continue
        with db.session() as session:
            created = session.scalar(select(Job.created_at).where(Job.id == job_id))
        if created is None or now - created < timedelta(seconds=s.starvation_after_s):
            continue
        moved[queue] = redis_layout.move_to_front(client, queue, top, s.starvation_batch)
    return moved
