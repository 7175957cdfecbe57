"""A worker rides out a Redis restart: it keeps running, finishes the task it had
started and consumes new work once Redis is back."""

from __future__ import annotations

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.slow


def _send(url: str, label: str, sleep_s: float) -> None:
    from directorybolt.queueing.celery_app import app
    from tests.queueing.probe_tasks import record  # not at module level: collecting a task proxy would configure Celery

    with app.connection_for_write(url) as conn:
        record.apply_async(args=[label, sleep_s], queue="probe", connection=conn)


def test_worker_survives_redis_restart_with_a_task_running(private_redis, start_worker):
    """One task running and a slot free (a ``BRPOP`` in flight) when Redis goes away:
    Celery 5.7.0's worker exits here with "Unrecoverable error" (why setup.cfg excludes it)."""
    import redis

    w = start_worker(queues=["probe"], concurrency=2, extra=["-I", "tests.queueing.probe_tasks"])
    _send(private_redis.url, "running", 5)
    wait_until(lambda: b"tests.probe.record" in w.log.read_bytes().split(b" ready.")[-1], 20,
               what="the task to start")
    private_redis.restart(down_s=2)
    _send(private_redis.url, "after", 0)
    done = redis.Redis.from_url(private_redis.url)
    order = wait_until(lambda: (o := done.lrange("probe:order", 0, -1)) and b"after" in o and o, 45,
                       what="the worker to consume after the restart")
    log = w.log.read_text()
    assert w.proc.poll() is None and "Unrecoverable error" not in log, log[-3000:]
    wait_until(lambda: b"running" in done.lrange("probe:order", 0, -1), 20, what="the running task to finish")
    assert order.count(b"after") == 1
