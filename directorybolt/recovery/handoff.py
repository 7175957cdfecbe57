"""What recovery needs from the queue, without knowing Celery.

Recovery sits below the queueing layer: the sweep re-sends lost work, the DLQ
publishes its copy on the ``dead_letter`` list and replays entries. The queueing
layer implements this protocol (:class:`directorybolt.queueing.dispatch.CeleryHandoff`)
and passes it in, so this package imports nothing above it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol


class Handoff(Protocol):
    def send_job(self, job_id: uuid.UUID | str, queue: str) -> str:
        """Queue a job's fan-out; returns the message id."""

    def send_submissions(self, job_id: uuid.UUID | str, directory_ids: Iterable[str], queue: str) -> int:
        """Queue one submission per directory; returns how many were sent."""

    def queued_jobs(self, queues: list[str], limit: int) -> tuple[set[str], bool]:
        """Job ids with a message waiting in ``queues``, reading at most ``limit``
        messages; the flag is False when not every message could be read."""

    def publish_dead_letter(self, payload: bytes) -> None:
        """Append a dead letter's copy to the ``dead_letter`` list (Flower counts it)."""

    def withdraw_dead_letter(self, entry_id: int) -> int:
        """Remove the copy of dead letter ``entry_id``; returns how many were removed."""
