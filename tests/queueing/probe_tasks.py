"""A task the Celery tests load into a real worker (``-I tests.queueing.probe_tasks``) to see
the order in which queues are served."""

from __future__ import annotations

import time

from directorybolt.queueing.celery_app import app


@app.task(name="tests.probe.record", acks_late=True)
def record(label: str, sleep_s: float = 0.0) -> None:
    from directorybolt.store.services import redis_client

    if sleep_s:
        time.sleep(sleep_s)
    redis_client().rpush("probe:order", label)


@app.task(name="tests.probe.hold", acks_late=True)
def hold(label: str, timeout_s: float = 30.0) -> None:
    """Keeps the worker busy until the test pushes to ``probe:release`` (bounded)."""
    from directorybolt.store.services import redis_client

    client = redis_client()
    client.rpush("probe:holding", label)
    client.blpop(["probe:release"], timeout=timeout_s)
    client.rpush("probe:order", label)
