"""The Celery application: queues, routing and the reliability settings.

Configuration is added lazily (``add_defaults`` with a callable) so importing this
module touches no broker: the URL is resolved, and the embedded Redis started if
none is configured, only when Celery first needs its configuration.

Tier order: one Redis queue per tier and ``queue_order_strategy="priority"``, so a
worker consuming several tiers always drains the highest non-empty one first
(kombu otherwise rotates round-robin). Strict order would starve starter jobs under
sustained enterprise load; :mod:`directorybolt.starvation` bounds that by promoting
messages that waited longer than ``starvation_after_s`` (see its docstring).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from kombu import Queue

from directorybolt.config import Settings, get_settings

SUBMISSION_QUEUE_PREFIX = "submissions."
MAINTENANCE_QUEUE = "maintenance"
DEAD_LETTER_QUEUE = "dead_letter"


def tier_queue(tier: str) -> str:
    return f"{SUBMISSION_QUEUE_PREFIX}{tier}"


def all_queues(settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    return [tier_queue(t) for t in s.tiers_by_priority()] + [MAINTENANCE_QUEUE, DEAD_LETTER_QUEUE]


def celery_config() -> dict[str, Any]:
    from directorybolt.runtime import celery_broker_url, redis_url

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
        "task_routes": ["directorybolt.dispatch.route_by_tier", {"tasks.maintenance.*": {"queue": MAINTENANCE_QUEUE}}],
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
        "worker_autoscaler": "directorybolt.autoscale:QueueDepthAutoscaler",
        "beat_schedule": beat_schedule(s),
        "timezone": "UTC",
    }


app = Celery("directorybolt", include=["tasks.submission", "tasks.maintenance"])
app.add_defaults(celery_config)


@signals.worker_init.connect
def _patient_publishing(**_: Any) -> None:
    """Set in the worker's main process, before the pool forks, so every child inherits it."""
    from directorybolt.retries import WORKER_PUBLISH_RETRY

    app.conf.task_publish_retry_policy = dict(WORKER_PUBLISH_RETRY)


@signals.task_received.connect
def _note_reserved(request: Any = None, **_: Any) -> None:
    """In the worker's main process, as it takes a message (see ``heartbeats.note_reserved``)."""
    if request is not None and request.name == "tasks.submission.submit_directory" and len(request.args) >= 2:
        from directorybolt import heartbeats

        heartbeats.note_reserved(str(request.args[0]), str(request.args[1]))


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """Children must not share the parent's sockets (DB pool, Redis, browser) and
    each beats for itself."""
    from directorybolt import heartbeats
    from directorybolt.runtime import reset_after_fork

    reset_after_fork()
    heartbeats.reset_after_fork()
    heartbeats.current()


@signals.worker_process_shutdown.connect
def _close_browser(**_: Any) -> None:
    from directorybolt.browser.pool import close_pool

    close_pool()


@signals.worker_ready.connect
def _recover_on_start(**_: Any) -> None:
    """A worker that starts after a crash on this host recovers the dead worker's
    claimed submissions at once instead of waiting for the next Beat sweep."""
    import logging

    from directorybolt import heartbeats

    if not get_settings().recover_on_start:
        return
    try:
        report = heartbeats.sweep_stale_jobs()
        if report.requeued or report.interrupted:
            logging.getLogger(__name__).warning("recovered after restart: %s", report)
    except Exception as exc:  # recovery must never stop a worker from starting
        logging.getLogger(__name__).error("start-up recovery sweep failed: %s", exc)


@signals.worker_init.connect
@signals.beat_init.connect
def _observability(**_: Any) -> None:
    from directorybolt.observability import init_sentry

    init_sentry("celery")
