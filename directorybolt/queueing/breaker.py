"""The worker's circuit breaker: a worker whose browser stops launching stops taking
submissions, instead of failing every one of them.

Pool processes count launch and crash failures of their browser in Redis, one counter
per worker (keyed by the main process), and clear it when a submission gets a working
browser again (:func:`browser_failed`, :func:`browser_worked`; the submission itself
went back to ``pending`` uncounted, see ``execution/submission.py``). The worker's main
process runs a :class:`Supervisor` thread: when the counter reaches
``browser_breaker_threshold`` it cancels the worker's consumers of the submission queues
(Celery's ``cancel_consumer``, addressed to this node only), marks the worker
``degraded`` (its heartbeat rows, hence ``/api/health``, metrics and ``directorybolt
status``), and every ``browser_probe_interval_s`` tries one launch; when that works it
consumes the same queues again and the worker is ``ok``.

Messages already reserved when the breaker opens still reach a pool process; they fail
to launch just as fast and go back to ``pending`` and to the queue, which this worker
no longer reads, so another worker takes them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import psutil

from directorybolt.core.errors import BrowserUnavailable
from directorybolt.core.queues import submission_queues_among
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser.preflight import launch_check
from directorybolt.recovery import liveness
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)

FAILURES_KEY = "dbolt:browser-failures:{host}:{pid}"
#: How often the supervisor looks at the counter (the breaker opens at most this late).
POLL_S = 0.5
#: Deadline of one remote-control round trip (cancel or add a consumer).
CONTROL_TIMEOUT_S = 5.0

_failed_here = False


def _key(pid: int) -> str:
    return FAILURES_KEY.format(host=socket.gethostname(), pid=pid)


def browser_failed() -> None:
    """In a pool process: its browser did not launch or crashed before the form was sent."""
    global _failed_here
    _failed_here = True
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.incr(_key(os.getppid()))
        pipe.expire(_key(os.getppid()), int(get_settings().stale_after_s * 10))
        pipe.execute()
    except Exception as exc:  # the failure itself is handled; only the count is lost
        log.warning("could not count a browser failure: %s", exc)


def browser_worked() -> None:
    """In a pool process: a submission got a working browser. Failures count only while
    consecutive; the Redis call is made only by a process that saw one."""
    global _failed_here
    if not _failed_here:
        return
    try:
        redis_client().delete(_key(os.getppid()))
        _failed_here = False
    except Exception as exc:
        log.warning("could not reset the browser failure count: %s", exc)


class Supervisor:
    """Runs in a worker's main process (a daemon thread): opens and closes the breaker."""

    def __init__(self, app: Any, hostname: str, queues: list[str]) -> None:
        self.app = app
        self.hostname = hostname
        self.queues = queues
        self.state = "ok"
        self.next_probe = 0.0
        self.degraded_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="directorybolt-breaker", daemon=True)

    def start(self) -> Supervisor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        try:
            redis_client().delete(_key(os.getpid()))  # a reused pid starts with a clean count
        except Exception as exc:
            log.warning("could not reset the browser failure count: %s", exc)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # Redis or PostgreSQL away: try again next poll
                log.warning("circuit breaker check failed: %s", exc)
            self._stop.wait(POLL_S)

    def tick(self) -> None:
        s = get_settings()
        if self.state == "ok":
            failures = int(redis_client().get(_key(os.getpid())) or 0)
            if failures >= s.browser_breaker_threshold:
                self.open(failures)
        elif time.monotonic() >= self.next_probe:
            self.probe()

    def _children(self) -> list[int]:
        try:
            return [c.pid for c in psutil.Process().children()]
        except psutil.Error:
            return []

    def _control(self, command: str) -> None:
        for queue in self.queues:
            getattr(self.app.control, command)(queue, destination=[self.hostname], reply=True,
                                               timeout=CONTROL_TIMEOUT_S)

    def open(self, failures: int) -> None:
        """Stop taking submissions; the pool's processes and rows say ``degraded``."""
        self._control("cancel_consumer")
        self.state = "degraded"
        self.degraded_at = time.monotonic()
        self.next_probe = time.monotonic() + get_settings().browser_probe_interval_s
        liveness.mark_node("degraded", self._children())
        log.error("browser failed %d times in a row: %s stopped taking submissions from %s (degraded); "
                  "probing every %.0f s", failures, self.hostname, ", ".join(self.queues),
                  get_settings().browser_probe_interval_s)

    def probe(self) -> None:
        """One launch; on success consume the same queues again and say ``ok``."""
        s = get_settings()
        self.next_probe = time.monotonic() + s.browser_probe_interval_s
        liveness.refresh_degraded()
        try:
            took = launch_check(s.resolved_chromium(), s.browser_launch_timeout_s)
        except BrowserUnavailable as exc:
            log.warning("browser probe failed, still degraded: %s", exc)
            return
        redis_client().delete(_key(os.getpid()))
        self._control("add_consumer")
        self.state = "ok"
        self.degraded_at = None
        liveness.mark_node("ok", self._children())
        log.warning("browser launched again in %.2f s: %s takes submissions from %s again", took, self.hostname,
                    ", ".join(self.queues))


_supervisor: Supervisor | None = None


def supervise(app: Any, hostname: str, consumed: list[str]) -> Supervisor | None:
    """Start the breaker of a worker that consumes submission queues (none for a
    maintenance-only worker, which needs no browser)."""
    global _supervisor
    queues = submission_queues_among(consumed)
    if not queues:
        return None
    _supervisor = Supervisor(app, hostname, queues).start()
    return _supervisor


def stop_supervising() -> None:
    if _supervisor is not None:
        _supervisor.stop()
