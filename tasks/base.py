"""The task base class: what happens when a task will not be retried again."""

from __future__ import annotations

from typing import Any

from celery import Task

from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq


class DeadLetteringTask(Task):
    """A failure that reaches ``on_failure`` has exhausted its retries or cannot be
    retried: it is dead-lettered (durable row, ``dead_letter`` queue, Sentry)."""

    acks_late = True
    reject_on_worker_lost = True

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        dlq.dead_letter(
            dlq.Failure(
                task_name=self.name,
                task_id=task_id,
                args=list(args or []),
                kwargs=dict(kwargs or {}),
                queue=(self.request.delivery_info or {}).get("routing_key") or (kwargs or {}).get("tier_queue"),
                exc=exc,
                traceback=str(einfo) if einfo else None,
                attempts=self.request.retries + 1,
            ),
            HANDOFF,
        )
