"""The Celery application: queues, routing and the reliability settings.

Configuration is added lazily (``add_defaults`` with a callable) so importing this
module touches no broker: the URL is resolved, and the embedded Redis started if
none is configured, only when Celery first needs its configuration.

Tier order: one Redis queue per tier and ``queue_order_strategy="priority"``, so a
worker consuming several tiers always drains the highest non-empty one first
(kombu otherwise rotates round-robin). Strict order would starve starter jobs under
sustained enterprise load; :mod:`directorybolt.queueing.starvation` bounds that by
promoting messages that waited longer than ``starvation_after_s`` (see its docstring).

The signal hooks (:mod:`directorybolt.queueing.signals`) are in ``include``, so every
worker and Beat imports them at start-up, before ``worker_init`` is sent.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from directorybolt.core.queues import MAINTENANCE_QUEUE, all_queues, tier_queue
from directorybolt.core.settings import get_settings
from directorybolt.store.services import celery_broker_url, redis_url


def celery_config() -> dict[str, Any]:
    s = get_settings()
    broker = celery_broker_url(redis_url())
    # The visibility timeout must exceed the longest time a message stays unacknowledged:
    # the hard task limit plus the longest retry countdown (Redis ETA messages are held
    # unacked by the worker while they wait). Shorter, and Redis redelivers a task that is
    # still running or waiting; the stale sweep, not this timeout, gives fast recovery.
    longest_unacked = s.task_time_limit_s + s.retry_max_s * (1 + s.retry_jitter) + s.max_pacing_wait_s
    visibility = max(s.visibility_timeout_s, int(longest_unacked) + 60)
    transport = {
        "visibility_timeout": visibility,
        "queue_order_strategy": "priority",
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "retry_on_timeout": True,
        "health_check_interval": 25,
    }
    from beat_schedule import beat_schedule

    return {
        "broker_url": broker,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "visibility_timeout": visibility,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(q, routing_key=q) for q in all_queues(s)],
        "task_default_queue": tier_queue("starter"),
        "task_routes": [
            "directorybolt.queueing.dispatch.route_by_tier", {"tasks.maintenance.*": {"queue": MAINTENANCE_QUEUE}},
        ],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_soft_time_limit": s.task_soft_time_limit_s,
        "task_time_limit": s.task_time_limit_s,
        "worker_max_tasks_per_child": s.worker_max_tasks_per_child,
        "worker_max_memory_per_child": s.worker_max_memory_per_child_kb,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        # A broker blip must not kill submissions in flight: their acks land in Redis's
        # unacked hash whatever connection sends them, and the claim makes a rerun a no-op.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_autoscaler": "directorybolt.queueing.autoscale:QueueDepthAutoscaler",
        "beat_schedule": beat_schedule(s),
        "timezone": "UTC",
    }


app = Celery("directorybolt", include=["directorybolt.queueing.signals", "tasks.submission", "tasks.maintenance"])
app.add_defaults(celery_config)
