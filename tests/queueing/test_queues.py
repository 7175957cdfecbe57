"""A real worker process consumes every tier queue, higher tiers first."""

from __future__ import annotations

import pytest

from directorybolt.core.queues import all_queues, tier_queue
from directorybolt.queueing.celery_app import app
from directorybolt.store.services import redis_client
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


def test_config_is_safe():
    c = app.conf
    assert c.task_acks_late and c.task_reject_on_worker_lost and c.worker_prefetch_multiplier == 1
    assert c.accept_content == ["json"] and c.task_serializer == "json"
    assert c.broker_transport_options["queue_order_strategy"] == "priority"
    vt = c.broker_transport_options["visibility_timeout"]
    assert vt > c.task_time_limit + 120, "visibility timeout must outlast the longest task plus a retry countdown"
    assert set(all_queues()) == {f"submissions.{t}" for t in ("enterprise", "pro", "growth", "starter")} | {
        "maintenance", "dead_letter"}


def test_worker_consumes_each_tier_queue(clean, start_worker):
    from tests.queueing.probe_tasks import record

    start_worker(extra=["-I", "tests.queueing.probe_tasks"])
    for tier in ("enterprise", "pro", "growth", "starter"):
        record.apply_async(args=[tier], queue=tier_queue(tier))
    got = wait_until(lambda: len(redis_client().lrange("probe:order", 0, -1)) == 4 and
                     redis_client().lrange("probe:order", 0, -1), 30, what="4 probe tasks")
    assert sorted(x.decode() for x in got) == ["enterprise", "growth", "pro", "starter"]


def test_enterprise_overtakes_starter_backlog(clean, start_worker):
    """The only worker (-c 1) is busy; 200 starter tasks queue behind it, then 1
    enterprise task: it runs next, before >= 190 of them (all 200 unless one was
    already prefetched). The busy task makes this independent of how fast the test sends."""
    from tests.queueing.probe_tasks import hold, record

    start_worker(concurrency=1, extra=["-I", "tests.queueing.probe_tasks"])
    hold.apply_async(args=["busy"], queue=tier_queue("starter"))
    wait_until(lambda: redis_client().llen("probe:holding"), 30, what="the worker to be busy")
    for i in range(200):
        record.apply_async(args=[f"starter-{i}", 0.01], queue=tier_queue("starter"))
    record.apply_async(args=["enterprise", 0.0], queue=tier_queue("enterprise"))
    redis_client().rpush("probe:release", 1)
    order = wait_until(
        lambda: (o := [x.decode() for x in redis_client().lrange("probe:order", 0, -1)]) and "enterprise" in o and o,
        60, what="enterprise task",
    )
    position = order.index("enterprise")
    starters_after = 200 - (position - 1)
    print(f"enterprise ran at position {position + 1} (after the busy task); {starters_after} starter tasks after it")
    assert starters_after >= 190
