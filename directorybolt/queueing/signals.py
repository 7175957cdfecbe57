"""Celery signal hooks: what a worker or Beat process does at the edges of its life.

Listed in the app's ``include``, so every worker and Beat imports this module at
start-up, before ``worker_init`` is sent.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from directorybolt.core.queues import SUBMIT_DIRECTORY
from directorybolt.core.retries import WORKER_PUBLISH_RETRY
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser.pool import close_pool
from directorybolt.ops.sentry import init_sentry
from directorybolt.queueing.celery_app import app
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import liveness
from directorybolt.recovery.sweep import sweep_stale_jobs

log = logging.getLogger(__name__)


@signals.worker_init.connect
def _patient_publishing(**_: Any) -> None:
    """Set in the worker's main process, before the pool forks, so every child inherits it."""
    app.conf.task_publish_retry_policy = dict(WORKER_PUBLISH_RETRY)


@signals.task_received.connect
def _note_reserved(request: Any = None, **_: Any) -> None:
    """In the worker's main process, as it takes a message (see ``liveness.note_reserved``)."""
    if request is not None and request.name == SUBMIT_DIRECTORY and len(request.args) >= 2:
        liveness.note_reserved(str(request.args[0]), str(request.args[1]))


@signals.worker_shutting_down.connect
def _drain(**_: Any) -> None:
    """Warm shutdown: pool children hand back submissions they have not sent yet (without
    spending their budget) instead of starting them, so a deploy costs no retries."""
    try:
        liveness.begin_drain()
    except Exception as exc:  # without Redis the children finish what they run; the sweep covers the rest
        log.warning("could not announce the shutdown to the pool: %s", exc)


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """Each pool child beats for itself (the modules that own sockets forget the
    parent's at fork on their own)."""
    liveness.current()


@signals.worker_process_shutdown.connect
def _close_browser(**_: Any) -> None:
    close_pool()


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
