"""Beat's maintenance tasks (schedule in ``beat_schedule.py``), all on ``maintenance``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from directorybolt.ops import alerts, retention
from directorybolt.queueing import starvation
from directorybolt.queueing.celery_app import app
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import liveness, sweep


@app.task(name="tasks.maintenance.sweep_stale_jobs", acks_late=True)
def sweep_stale_jobs() -> dict[str, Any]:
    return asdict(sweep.sweep_stale_jobs(HANDOFF))


@app.task(name="tasks.maintenance.check_dead_letters", acks_late=True)
def check_dead_letters() -> str:
    return alerts.check_dead_letters()


@app.task(name="tasks.maintenance.purge_history", acks_late=True)
def purge_history() -> dict[str, int]:
    return asdict(retention.purge_history())


@app.task(name="tasks.maintenance.prune_heartbeats", acks_late=True)
def prune_heartbeats() -> int:
    return liveness.prune_heartbeats()


@app.task(name="tasks.maintenance.promote_starved", acks_late=True)
def promote_starved() -> dict[str, int]:
    return starvation.promote_starved()
