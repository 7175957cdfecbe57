"""Submission tasks: ``process_job`` fans out, ``submit_directory`` does one directory."""

from __future__ import annotations

import logging
from typing import Any

from directorybolt.core.queues import PROCESS_JOB, SUBMIT_DIRECTORY
from directorybolt.core.retries import NEVER_RETRY, SERVICE_ERRORS, RetryPolicy
from directorybolt.execution import submission
from directorybolt.lifecycle import jobs
from directorybolt.queueing import breaker, dispatch
from directorybolt.queueing.celery_app import app
from directorybolt.recovery import liveness
from directorybolt.store.db import session
from tasks.base import DeadLetteringTask

log = logging.getLogger(__name__)

#: Re-deliveries of one message (counted retries, pacing deferrals, early arrivals,
#: outages) after which the task stops re-publishing itself; the row stays pending and
#: the stale sweep re-sends it once things settle. A loop always has a bound.
MAX_REDELIVERIES = 200


@app.task(bind=True, base=DeadLetteringTask, name=PROCESS_JOB, throws=NEVER_RETRY,
          autoretry_for=(OSError, *SERVICE_ERRORS), max_retries=5, retry_backoff=True, retry_backoff_max=60)
def process_job(self: Any, job_id: str, *, tier_queue: str) -> dict[str, Any]:
    with session() as s:
        started = jobs.start_job(s, job_id)
    sent = dispatch.send_submissions(started.job_id, started.directory_ids, started.queue)
    return {"job_id": str(started.job_id), "sent": sent, "redelivered": started.already_started}


@app.task(bind=True, base=DeadLetteringTask, name=SUBMIT_DIRECTORY, throws=NEVER_RETRY, max_retries=None)
def submit_directory(self: Any, job_id: str, directory_id: str, *, tier_queue: str) -> dict[str, Any]:
    try:
        outcome = submission.submit(job_id, directory_id, liveness.current())
    except submission.RetryLater as later:
        if later.worker_fault:  # our browser: the breaker counts it, the row went back uncounted
            breaker.browser_failed()
        if self.request.retries >= MAX_REDELIVERIES:
            return _left_to_the_sweep(job_id, directory_id, later)
        raise self.retry(countdown=later.delay_s, exc=later.cause, max_retries=None) from None
    except SERVICE_ERRORS as exc:
        # Our own machinery, not the directory: never a failed row or a dead letter.
        policy = RetryPolicy.from_settings()
        if self.request.retries >= min(policy.max_retries + 2, MAX_REDELIVERIES):
            return _left_to_the_sweep(job_id, directory_id, exc)
        raise self.retry(countdown=policy.delay(retries_done=self.request.retries), exc=exc, max_retries=None) from None
    if outcome.status not in ("duplicate", "fenced_out"):
        breaker.browser_worked()
    return {"status": outcome.status, "category": outcome.category, "job_status": outcome.final_status}


def _left_to_the_sweep(job_id: str, directory_id: str, cause: BaseException) -> dict[str, Any]:
    log.warning("%s of job %s re-delivered too often (%s); the stale sweep will re-send it", directory_id, job_id,
                cause)
    return {"status": "deferred", "category": type(cause).__name__, "job_status": None}
