"""Fault injection for the chaos harness (``bench/faults.py``): a worker process kills
itself at a named point of a submission with a configured probability.

Off unless ``fault_points`` is set (e.g. ``{"after_fence": 0.1, "after_click": 0.1}``):
the points are exactly the moments the exactly-once guarantee must survive, between
the fence and the click, and after the click before the record.
"""

from __future__ import annotations

import logging
import os
import random
import signal

from directorybolt.core.settings import get_settings

log = logging.getLogger(__name__)

POINTS = ("after_fence", "after_click")


def crash_point(name: str) -> None:
    probability = get_settings().fault_points.get(name, 0.0)
    if probability > 0 and random.random() < probability:
        log.error("fault injection: SIGKILL at %s", name)
        os.kill(os.getpid(), signal.SIGKILL)
