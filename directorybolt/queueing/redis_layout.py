"""The one module that knows how kombu lays Celery's queues out in Redis.

* A queue ``q`` is a Redis list of JSON messages; workers pop from its right end.
  Priorities 3, 6 and 9 live in lists named ``q\\x06\\x16<n>`` (priority 0 is the
  plain name), so a queue's depth is the sum over all of them.
* A message's ``headers.argsrepr`` (and its base64 ``body``) carry the task's
  arguments, which is how a job's messages are found without consuming them; our
  ``dbolt_sent_at`` header says when it was published (starvation judges by it).
* ``dead_letter`` is a list of our own JSON payloads in the same layout, so Flower's
  broker view counts it like any other queue.

Everything else in the code base asks this module; nothing else names a Redis key
of kombu's.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterable
from typing import Any

from directorybolt.core.queues import DEAD_LETTER_QUEUE

#: Our header on every message we publish: when it was sent (epoch seconds).
SENT_AT_HEADER = "dbolt_sent_at"
KOMBU_PRIORITY_SEP = "\x06\x16"
KOMBU_PRIORITY_STEPS = (0, 3, 6, 9)
_SCAN_STEP = 1000
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def priority_keys(queue: str) -> list[str]:
    return [queue if p == 0 else f"{queue}{KOMBU_PRIORITY_SEP}{p}" for p in KOMBU_PRIORITY_STEPS]


def queue_depths(client: Any, queues: Iterable[str]) -> dict[str, int]:
    """Messages waiting per queue (every priority level), in one pipelined round trip."""
    names = list(queues)
    pipe = client.pipeline(transaction=False)
    for q in names:
        for key in priority_keys(q):
            pipe.llen(key)
    counts = pipe.execute()
    per = len(KOMBU_PRIORITY_STEPS)
    return {q: int(sum(counts[i * per:(i + 1) * per])) for i, q in enumerate(names)}


def queue_depth(client: Any, queues: Iterable[str]) -> int:
    return sum(queue_depths(client, queues).values())


def queued_jobs(client: Any, queues: Iterable[str], limit: int) -> tuple[set[str], bool]:
    """The jobs with a message waiting in ``queues`` (every priority level), reading at
    most ``limit`` messages in all; the flag says whether every message was read (when
    not, a job missing from the set may still be queued)."""
    found: set[str] = set()
    budget = limit
    for queue in queues:
        for key in priority_keys(queue):
            start = 0
            while True:
                if budget <= 0:
                    return found, False
                chunk = client.lrange(key, start, start + min(_SCAN_STEP, budget) - 1)
                budget -= len(chunk)
                for raw in chunk:
                    job = job_of_message(raw)
                    if job is not None:
                        found.add(str(job))
                if len(chunk) < _SCAN_STEP:
                    break
                start += len(chunk)
    return found, True


def job_of_message(raw: bytes) -> uuid.UUID | None:
    """The job a queued task message belongs to (its first UUID argument)."""
    try:
        msg = json.loads(raw)
        argsrepr = msg.get("headers", {}).get("argsrepr", "")
        found = _UUID.search(argsrepr.encode()) or _UUID.search(base64.b64decode(msg.get("body", "")))
    except (ValueError, TypeError):
        found = _UUID.search(raw)
    return uuid.UUID(found.group().decode()) if found else None


def message_sent_at(raw: bytes) -> float | None:
    """When a queued message was published, from our ``dbolt_sent_at`` header."""
    try:
        value = json.loads(raw).get("headers", {}).get(SENT_AT_HEADER)
        return float(value) if value is not None else None
    except (ValueError, TypeError, AttributeError):
        return None


def next_message(client: Any, queue: str) -> bytes | None:
    """The message a worker would take next from ``queue`` (its right end)."""
    raw: bytes | None = client.lindex(queue, -1)
    return raw


def move_to_front(client: Any, source: str, target: str, count: int) -> int:
    """Move up to ``count`` of ``source``'s next messages so they are ``target``'s next."""
    moved = 0
    for _ in range(count):
        if client.lmove(source, target, "RIGHT", "RIGHT") is None:
            break
        moved += 1
    return moved


def push_dead_letter(client: Any, payload: bytes) -> None:
    client.lpush(DEAD_LETTER_QUEUE, payload)


def remove_dead_letter(client: Any, entry_id: int) -> int:
    """Remove the copies of dead letter ``entry_id`` (payloads carry ``dead_letter_id`` first)."""
    removed = 0
    marker = f'"dead_letter_id": {entry_id},'.encode()
    for raw in client.lrange(DEAD_LETTER_QUEUE, 0, -1):
        if marker in raw:
            removed += client.lrem(DEAD_LETTER_QUEUE, 0, raw)
    return removed
