"""Submission tasks: ``process_job`` fans out, ``submit_directory`` does one directory."""

from __future__ import annotations

from typing import Any

from directorybolt import dispatch, jobs, submissions
from directorybolt.celery_app import app
from directorybolt.db import session
from directorybolt.errors import NotFound, PermanentError, ValidationError
from directorybolt.retries import INFRASTRUCTURE_ERRORS, RetryPolicy
from tasks.base import DeadLetteringTask

#: Errors that are never retried (saleor's / dramatiq's ``throws``): they fail at once.
PERMANENT = (PermanentError, ValidationError, NotFound)


@app.task(bind=True, base=DeadLetteringTask, name="tasks.submission.process_job", throws=PERMANENT,
          autoretry_for=(OSError,), max_retries=5, retry_backoff=True)
def process_job(self: Any, job_id: str, *, tier_queue: str) -> dict[str, Any]:
    with session() as s:
        started = jobs.start_job(s, job_id)
    sent = dispatch.send_submissions(started.job_id, started.directory_ids, started.queue)
    return {"job_id": str(started.job_id), "sent": sent, "redelivered": started.already_started}


@app.task(bind=True, base=DeadLetteringTask, name="tasks.submission.submit_directory", throws=PERMANENT,
          max_retries=None)
def submit_directory(self: Any, job_id: str, directory_id: str, *, tier_queue: str) -> dict[str, Any]:
    try:
        outcome = submissions.submit(job_id, directory_id)
    except submissions.RetryLater as later:
        raise self.retry(countdown=later.delay_s, exc=later.cause, max_retries=None) from None
    except INFRASTRUCTURE_ERRORS as exc:
        policy = RetryPolicy.from_settings()
        if self.request.retries >= policy.max_retries + 2:
            raise
        raise self.retry(countdown=policy.delay(retries_done=self.request.retries), exc=exc, max_retries=None) from None
    return {"status": outcome.status, "category": outcome.category, "job_status": outcome.final_status}
