"""The retry policy: what is retried, how long it waits, how long a worker waits for the broker."""

from __future__ import annotations

import random

import redis.exceptions

from directorybolt.core.errors import PermanentError, TransientError, ValidationError
from directorybolt.core.retries import WORKER_PUBLISH_RETRY, RetryPolicy

POLICY = RetryPolicy(max_retries=3, base_s=30, max_s=300, jitter=0.2)


def test_transient_errors_retry_until_the_budget_is_spent():
    exc = TransientError("503")
    assert [POLICY.should_retry(exc, retries_done=n) for n in range(5)] == [True, True, True, False, False]
    assert POLICY.should_retry(redis.exceptions.ConnectionError(), retries_done=0)


def test_permanent_and_unknown_errors_never_retry():
    for exc in (PermanentError("gone"), ValidationError("bad"), KeyError("bug")):
        assert not POLICY.should_retry(exc, retries_done=0)


def test_backoff_doubles_within_jitter_and_is_capped():
    rng = random.Random(7)
    for n, base in enumerate((30, 60, 120, 240)):
        d = POLICY.delay(retries_done=n, rng=rng)
        assert base * 0.8 <= d <= base * 1.2
    assert POLICY.delay(retries_done=10, rng=rng) <= 300 * 1.2


def test_retry_after_is_honoured_up_to_the_cap():
    rng = random.Random(1)
    assert POLICY.delay(retries_done=0, exc=TransientError("429", retry_after_s=100), rng=rng) == 100
    assert POLICY.delay(retries_done=0, exc=TransientError("429", retry_after_s=9999), rng=rng) <= 300 * 1.2


def test_workers_wait_about_20_s_for_the_broker():
    """kombu sleeps interval_start, then steps by interval_step up to interval_max."""
    p = WORKER_PUBLISH_RETRY
    waits, step = [], p["interval_start"]
    for _ in range(int(p["max_retries"])):
        waits.append(min(step, p["interval_max"]))
        step += p["interval_step"]
    assert 15 <= sum(waits) <= 30, sum(waits)
