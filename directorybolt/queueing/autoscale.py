"""Size a worker's process pool from the depth of the queues it consumes.

Celery's stock autoscaler grows the pool to the number of messages the worker has
already *reserved*. With ``worker_prefetch_multiplier=1`` and ``acks_late`` (which
long browser tasks need, see celery_app) a worker reserves at most one message per
process, so the stock rule never sees the backlog waiting in Redis and the pool
stays at its minimum however long the queue gets. This autoscaler reads the backlog
where it actually is: ``LLEN`` of each consumed queue in the broker (every kombu
priority sub-list included) plus what the worker holds reserved but has not started.

Rules (configured in :class:`~directorybolt.config.Settings`, bounded by the
worker's own ``--autoscale MAX,MIN``):

* backlog > ``autoscale_up_depth`` (50): grow by :attr:`QueueDepthAutoscaler.up_step`
  processes, up to ``min(MAX, autoscale_max)``;
* backlog < ``autoscale_down_depth`` (10) *continuously* for ``autoscale_cooldown_s``:
  shrink by :attr:`QueueDepthAutoscaler.down_step`, down to ``max(MIN, autoscale_min)``;
* in between: hold. The gap between the two thresholds is the hysteresis band;
* at most one change per ``autoscale_cooldown_s``, so a pool never flaps: a freshly
  started Chromium needs a while to pay for itself, and a queue drained by the new
  processes must not immediately remove them again.

Growing is eager (one poll above the threshold suffices) and shrinking is patient
(the low backlog must persist), because a backlog costs customers turnaround while an
idle process only costs memory. Only idle processes are ever removed; when all are
busy the shrink waits for the next poll.

The backlog is polled at most every ``clamp(cooldown / 2, 0.5 s, 5 s)``: each poll is
one pipelined round trip to Redis from the worker's main process.

Enable with ``celery worker --autoscale MAX,MIN`` (``directorybolt worker --autoscale``);
``celery_config()`` sets ``worker_autoscaler`` to this class. Scaling containers or
machines on the same signal is described in docs/scaling.md.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from time import monotonic
from typing import Any

from celery.worker import state
from celery.worker.autoscale import Autoscaler

from directorybolt.core.settings import Settings, get_settings
from directorybolt.queueing import redis_layout
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ScalingRule:
    """The decision alone, free of Celery and Redis, so the hysteresis can be tested
    against sequences of depths without waiting for real time to pass."""

    up_depth: int
    down_depth: int
    cooldown_s: float
    up_step: int = 2
    down_step: int = 1

    @classmethod
    def from_settings(cls, s: Settings, *, up_step: int = 2, down_step: int = 1) -> ScalingRule:
        if s.autoscale_down_depth > s.autoscale_up_depth:
            raise ValueError("autoscale_down_depth must not exceed autoscale_up_depth (no hysteresis band)")
        return cls(s.autoscale_up_depth, s.autoscale_down_depth, s.autoscale_cooldown_s, up_step, down_step)

    def next_size(self, procs: int, backlog: int, *, lo: int, hi: int, since_change_s: float,
                  low_for_s: float) -> int:
        """Pool size wanted now. ``low_for_s`` is how long the backlog has stayed below
        ``down_depth`` (0 when it is not below)."""
        if procs < lo:
            return lo
        if procs > hi:
            return hi
        if since_change_s < self.cooldown_s:
            return procs
        if backlog > self.up_depth:
            return min(hi, procs + self.up_step)
        if backlog < self.down_depth and low_for_s >= self.cooldown_s:
            return max(lo, procs - self.down_step)
        return procs


def poll_interval(cooldown_s: float) -> float:
    return min(5.0, max(0.5, cooldown_s / 2))


class QueueDepthAutoscaler(Autoscaler):
    """Celery autoscaler driven by broker queue depth (see the module docstring).

    Celery calls :meth:`maybe_scale` from the worker's event loop every ``keepalive``
    seconds and on every task message; :meth:`_maybe_scale` rate-limits the Redis poll
    itself, so a burst of messages costs no extra round trips.
    """

    up_step = 2
    down_step = 1

    def __init__(self, pool: Any, max_concurrency: int, min_concurrency: int = 0, worker: Any = None,
                 keepalive: float | None = None, mutex: Any = None) -> None:
        s = get_settings()
        self.rule = ScalingRule.from_settings(s, up_step=self.up_step, down_step=self.down_step)
        self._settings_min = s.autoscale_min
        self._settings_max = s.autoscale_max
        super().__init__(pool, max_concurrency, min_concurrency, worker=worker,
                         keepalive=keepalive or poll_interval(self.rule.cooldown_s), mutex=mutex)
        self.depth: int | None = None
        self.backlog: int | None = None
        self._target: int | None = None
        self._last_poll = -math.inf
        self._last_change = -math.inf
        self._low_since: float | None = None

    @property
    def bounds(self) -> tuple[int, int]:
        """(lo, hi): the worker's ``--autoscale MAX,MIN`` narrowed by the settings."""
        hi = max(1, min(self.max_concurrency, self._settings_max))
        lo = min(hi, max(self.min_concurrency, self._settings_min))
        return lo, hi

    @property
    def qty(self) -> int:
        """The size the rule last asked for (Celery's ``info()`` reports it)."""
        return self._target if self._target is not None else self.processes

    def consumed_queues(self) -> list[str]:
        consumer = getattr(self.worker, "consumer", None)
        task_consumer = getattr(consumer, "task_consumer", None)
        if task_consumer is not None:
            return [q.name for q in task_consumer.queues]
        app = getattr(self.worker, "app", None)
        return list(app.amqp.queues.consume_from) if app is not None else []

    def read_backlog(self) -> int | None:
        """Broker depth plus messages reserved here but not yet running; None when
        Redis does not answer (then the pool holds its size rather than guess)."""
        try:
            self.depth = redis_layout.queue_depth(redis_client(), self.consumed_queues())
        except Exception as exc:
            log.warning("autoscaler could not read queue depth: %s", exc)
            return None
        waiting = max(0, len(state.reserved_requests) - len(state.active_requests))
        self.backlog = self.depth + waiting
        return self.backlog

    def _maybe_scale(self, req: Any = None) -> bool:
        now = monotonic()
        if now - self._last_poll < self.keepalive * 0.8:  # the event loop's timer may fire a little early
            return False
        self._last_poll = now
        backlog = self.read_backlog()
        if backlog is None:
            return False
        if backlog < self.rule.down_depth:
            self._low_since = now if self._low_since is None else self._low_since
        else:
            self._low_since = None
        lo, hi = self.bounds
        procs = self.processes
        target = self.rule.next_size(
            procs, backlog, lo=lo, hi=hi, since_change_s=now - self._last_change,
            low_for_s=0.0 if self._low_since is None else now - self._low_since,
        )
        self._target = target
        if target > procs:
            log.info("autoscale: backlog %s > %s, growing %s -> %s", backlog, self.rule.up_depth, procs, target)
            self.scale_up(target - procs)
        elif target < procs:
            removed = self._shrink_idle(procs - target)
            if not removed:
                return False
            log.info("autoscale: backlog %s < %s, shrinking %s -> %s", backlog, self.rule.down_depth, procs,
                     procs - removed)
        else:
            return False
        self._last_change = now
        return True

    def _exiting(self) -> int:
        """Processes told to exit that the pool has not reaped yet. billiard counts them
        as idle, so shrinking again before they are gone would "remove" a process that
        is already leaving and leave the pool one larger than it reports."""
        procs = getattr(getattr(self.pool, "_pool", None), "_pool", None) or []
        return sum(1 for p in procs if getattr(p, "_controlled_termination", False))

    def _shrink_idle(self, n: int) -> int:
        """Remove up to ``n`` idle processes, one at a time: billiard's ``shrink(n)``
        raises after removing fewer than ``n``, which would hide what it did."""
        if self._exiting():
            self.pool.maintain_pool()
            log.debug("autoscale: waiting for removed processes to exit before shrinking again")
            return 0
        done = 0
        for _ in range(n):
            try:
                self.pool.shrink(1)
            except ValueError:
                log.debug("autoscale: no idle process to remove")
                break
            done += 1
        return done

    def info(self) -> dict[str, Any]:
        lo, hi = self.bounds
        return {**super().info(), "lo": lo, "hi": hi, "depth": self.depth, "backlog": self.backlog,
                "up_depth": self.rule.up_depth, "down_depth": self.rule.down_depth,
                "cooldown_s": self.rule.cooldown_s}
