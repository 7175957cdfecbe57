"""One beat at a time: a second one stands by and takes over."""

from __future__ import annotations

import threading
import time

import pytest

from directorybolt.queueing import beatlock
from directorybolt.store.services import redis_client


def test_second_beat_waits_and_takes_over(clean):
    order: list[str] = []
    with beatlock.hold_beat_lock(poll_s=0.1) as first:
        with pytest.raises(TimeoutError), beatlock.hold_beat_lock(poll_s=0.1, max_wait_s=0.5):
            order.append("second ran while first held the lock")
        assert redis_client().get(beatlock.LOCK_KEY).decode() == first

        def second() -> None:
            with beatlock.hold_beat_lock(poll_s=0.1, max_wait_s=5):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(5)
    assert order == ["first done", "second"]
