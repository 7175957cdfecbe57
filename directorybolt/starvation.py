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

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from directorybolt import db
from directorybolt.celery_app import tier_queue
from directorybolt.config import get_settings
from directorybolt.models import Job

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _job_of(raw: bytes) -> uuid.UUID | None:
    try:
        msg = json.loads(raw)
        argsrepr = msg.get("headers", {}).get("argsrepr", "")
        found = _UUID.search(argsrepr.encode()) or _UUID.search(base64.b64decode(msg.get("body", "")))
    except (ValueError, TypeError):
        found = _UUID.search(raw)
    return uuid.UUID(found.group().decode()) if found else None


def promote_starved(client: Any | None = None, *, now: datetime | None = None) -> dict[str, int]:
    from directorybolt.runtime import redis_client

    s = get_settings()
    client = client or redis_client()
    now = now or datetime.now(UTC)
    order = [tier_queue(t) for t in s.tiers_by_priority()]
    top = order[0]
    moved: dict[str, int] = {}
    for i, queue in enumerate(order[1:], start=1):
        if not any(client.llen(q) for q in order[:i]):
            continue
        oldest = client.lindex(queue, -1)
        job_id = _job_of(oldest) if oldest else None
        if job_id is None:
            continue
        with db.session() as session:
            created = session.scalar(select(Job.created_at).where(Job.id == job_id))
        if created is None or now - created < timedelta(seconds=s.starvation_after_s):
            continue
        n = 0
        for _ in range(s.starvation_batch):
            if client.lmove(queue, top, "RIGHT", "RIGHT") is None:
                break
            n += 1
        moved[queue] = n
    return moved
