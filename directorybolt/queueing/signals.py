"""Celery signal hooks: what a worker or Beat process does at the edges of its life.

Listed in the app's ``include``, so every worker and Beat imports this module at
start-up, before ``worker_init`` is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from directorybolt.core.queues import SUBMIT_DIRECTORY, submission_queues_among
from directorybolt.core.retries import WORKER_PUBLISH_RETRY
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser import preflight
from directorybolt.execution.browser.pool import close_pool
from directorybolt.ops.sentry import init_sentry
from directorybolt.queueing import breaker
from directorybolt.queueing.celery_app import app
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import liveness
from directorybolt.recovery.sweep import sweep_stale_jobs

log = logging.getLogger(__name__)


@signals.worker_init.connect
def _patient_publishing(**_: Any) -> None:
    """Set in the worker's main process, before the pool forks, so every child inherits it."""
    app.conf.task_publish_retry_policy = dict(WORKER_PUBLISH_RETRY)


def consumed_queues() -> list[str]:
    """The queues this worker was told to consume (``-Q``; every queue without it). Read
    at start-up: the breaker's ``cancel_consumer`` later removes submission queues."""
    return [str(name) for name in app.amqp.queues.consume_from]


#: Whether this worker serves submissions, fixed at start-up in the main process (before
#: the pool forks, so every pool process, also one started while the breaker is open, knows).
_serves_submissions = False


@signals.worker_init.connect
def _browser_preflight(**_: Any) -> None:
    """Before consuming anything: a worker that serves submissions launches and closes
    its browser once, and stops (exit 2, one line: the path tried and how to get a
    browser) when it cannot, so a bad deploy leaves the queues untouched. A worker that
    serves only ``maintenance`` needs no browser."""
    global _serves_submissions
    _serves_submissions = bool(submission_queues_among(consumed_queues()))
    if preflight.passed() or not _serves_submissions:
        return
    took = preflight.exit_unless_launchable("worker")
    log.info("browser preflight: launched and closed in %.2f s", took)


@signals.task_received.connect
def _note_reserved(request: Any = None, **_: Any) -> None:
    """In the worker's main process, as it takes a message (see ``liveness.note_reserved``)."""
    if request is not None and request.name == SUBMIT_DIRECTORY and len(request.args) >= 2:
        liveness.note_reserved(str(request.args[0]), str(request.args[1]))


@signals.worker_shutting_down.connect
def _drain(**_: Any) -> None:
    """Warm shutdown: pool children hand back submissions they have not sent yet (without
    spending their budget) instead of starting them, so a deploy costs no retries."""
    breaker.stop_supervising()
    try:
        liveness.begin_drain()
    except Exception as exc:  # without Redis the children finish what they run; the sweep covers the rest
        log.warning("could not announce the shutdown to the pool: %s", exc)


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """Each pool child beats for itself (the modules that own sockets forget the
    parent's at fork on their own)."""
    liveness.set_role("submissions" if _serves_submissions else "maintenance")
    liveness.current()


@signals.worker_process_shutdown.connect
def _close_browser(**_: Any) -> None:
    close_pool()


@signals.worker_ready.connect
def _start_breaker(sender: Any = None, **_: Any) -> None:
    """The circuit breaker of a worker that serves submissions (``sender`` is its consumer)."""
    hostname = getattr(sender, "hostname", None)
    if hostname:
        breaker.supervise(app, hostname, consumed_queues())


@signals.worker_ready.connect
def _recover_on_start(**_: Any) -> None:
    """A worker that starts after a crash on this host recovers the dead worker's
    claimed submissions at once instead of waiting for the next Beat sweep."""
    if not get_settings().recover_on_start:
        return
    try:
        report = sweep_stale_jobs(HANDOFF)
        if report.requeued or report.interrupted:
            log.warning("recovered after restart: %s", report)
    except Exception as exc:  # recovery must never stop a worker from starting
        log.error("start-up recovery sweep failed: %s", exc)


@signals.worker_init.connect
@signals.beat_init.connect
def _observability(**_: Any) -> None:
    init_sentry("celery")
