"""The whole retry policy in one place.

Transient failures (timeouts, 5xx, 429, a crashed browser, a dropped database or
broker connection) are retried with exponential backoff and jitter; everything in
``NEVER_RETRY`` fails at once. Delays stay below the broker's visibility timeout
(see ``celery_app``), or Redis would redeliver the waiting message a second time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import kombu.exceptions
import redis.exceptions
import sqlalchemy.exc

from directorybolt.core.errors import NeedsReview, NotFound, PermanentError, TransientError, ValidationError
from directorybolt.core.settings import Settings, get_settings

#: Errors that retrying cannot fix: they fail at once (the tasks' ``throws``).
NEVER_RETRY: tuple[type[BaseException], ...] = (PermanentError, ValidationError, NeedsReview, NotFound)

#: PostgreSQL or Redis did not answer (dropped, refused, timed out). The one list: tasks
#: retry on it, the API answers 503 for it, the CLI prints one line for it.
SERVICE_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)

#: How long a worker keeps trying to hand a message (a retry, a fan-out, a sweep's
#: re-send) to a broker that went away: about 20 s, enough for a Redis restart or a
#: Sentinel failover. Celery's default gives up after 0.6 s, and a retry that cannot be
#: published is rejected, so the directory would wait for Beat's sweep. Request
#: handlers keep the short default: they answer 503 rather than hang.
WORKER_PUBLISH_RETRY: dict[str, float] = {
    "max_retries": 12,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2.0,
}


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``base * 2**n`` (30 s, 60 s, 120 s by default) +/- ``jitter``."""

    max_retries: int
    base_s: float
    max_s: float
    jitter: float

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RetryPolicy:
        s = settings or get_settings()
        return cls(max_retries=s.max_retries, base_s=s.retry_base_s, max_s=s.retry_max_s, jitter=s.retry_jitter)

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, NEVER_RETRY):
            return False
        return isinstance(exc, (TransientError, *SERVICE_ERRORS))

    def should_retry(self, exc: BaseException, *, retries_done: int) -> bool:
        return self.is_transient(exc) and retries_done < self.max_retries

    def delay(self, *, retries_done: int, exc: BaseException | None = None, rng: random.Random | None = None) -> float:
        """Backoff for the next try; a site's Retry-After is honoured when longer."""
        r = rng or random
        backoff = min(self.max_s, self.base_s * (2**retries_done))
        backoff *= 1 + r.uniform(-self.jitter, self.jitter)
        retry_after = getattr(exc, "retry_after_s", None)
        if retry_after:
            backoff = max(backoff, min(float(retry_after), self.max_s))
        return round(max(0.0, backoff), 3)
