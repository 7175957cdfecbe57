"""A slow task the autoscaling test loads into a real worker (``-I tests.queueing.autoscale_tasks``)
so a backlog builds up faster than one process drains it."""

from __future__ import annotations

import time

from directorybolt.queueing.celery_app import app


@app.task(name="tests.autoscale.busy", acks_late=True)
def busy(sleep_s: float = 0.5) -> None:
    time.sleep(sleep_s)
