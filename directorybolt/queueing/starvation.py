"""The starvation bound for strict tier order, inside each worker pool.

Workers drain the highest non-empty tier queue first (``queue_order_strategy``), so
under sustained high-tier load a lower-tier task could wait forever. Every
``sweep_interval_s`` Beat runs :func:`promote_starved`. For each pool of
``worker_pools`` (as deployed: ``priority`` = enterprise + pro, ``standard`` = growth +
starter), when a higher queue of the pool is busy and the next message of a lower queue
of the same pool was *sent* more than ``starvation_after_s`` ago (its ``dbolt_sent_at``
header, not its job's age), up to ``starvation_batch`` of its oldest messages are moved
to the front of the pool's highest queue (kombu pops from the list's right end, so
``LMOVE src dst RIGHT RIGHT`` makes them next).

Promotion never crosses pools, so the pool split holds (the priority pool never ends
up serving starter work), and a moved message stays in a submission queue, where the
sweep's broker scan still finds it. Guarantee: no lower-tier task of a pool waits more
than ``starvation_after_s + sweep_interval_s`` (plus the tasks already running) before
it is next in line, and each lower tier gets at least ``starvation_batch`` tasks per
interval under any load (defaults: 10 min + 1 min, 5 per minute).
"""

from __future__ import annotations

import time
from typing import Any

from directorybolt.core.queues import tier_queue
from directorybolt.core.settings import get_settings
from directorybolt.queueing import redis_layout
from directorybolt.store.services import redis_client


def pools() -> list[list[str]]:
    """Each pool's queues, highest priority first (tiers unknown to settings are dropped)."""
    s = get_settings()
    order = s.tiers_by_priority()
    return [[tier_queue(t) for t in order if t in members] for members in s.worker_pools.values()]


def promote_starved(client: Any | None = None, *, now: float | None = None) -> dict[str, int]:
    s = get_settings()
    client = client or redis_client()
    now = time.time() if now is None else now
    moved: dict[str, int] = {}
    for order in pools():
        if len(order) < 2:
            continue
        top = order[0]
        for i, queue in enumerate(order[1:], start=1):
            if not redis_layout.queue_depth(client, order[:i]):
                continue
            oldest = redis_layout.next_message(client, queue)
            sent = redis_layout.message_sent_at(oldest) if oldest else None
            if sent is None or now - sent < s.starvation_after_s:
                continue
            moved[queue] = redis_layout.move_to_front(client, queue, top, s.starvation_batch)
    return moved
