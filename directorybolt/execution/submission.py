"""One directory submission, recorded exactly once.

The result row is claimed (``pending -> submitting``) by a conditional UPDATE before
the browser acts, so a redelivered or duplicated task that finds the row already
claimed or ``submitted`` does nothing. This module knows nothing of Celery: it
returns an :class:`Outcome`, raises :class:`RetryLater` when the policy wants
another try, or raises the failure that must be dead-lettered.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from directorybolt.core.errors import DirectoryBoltError, NeedsReview, PermanentError, PlanError
from directorybolt.core.plans import Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.retries import RetryPolicy
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser.formmap import fallback_plan
from directorybolt.execution.browser.pool import get_pool
from directorybolt.execution.browser.runner import run_plan
from directorybolt.execution.pacing import Pacer, interval_ms
from directorybolt.lifecycle import jobs, results
from directorybolt.store import cache, db, history
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)


RECORD_TRIES = 4


class Worker(Protocol):
    """The process doing the work, as a submission sees it (the task layer passes
    :func:`directorybolt.recovery.liveness.current`)."""

    worker_id: str

    def set_current(self, job_id: uuid.UUID | None, directory_id: str | None = None) -> None:
        """Tell the heartbeat what this process is working on."""

    def is_dead_here(self, other: str | None) -> bool:
        """Whether ``other`` ran on this host and its process is gone."""


class RetryLater(Exception):
    """The policy wants another try in ``delay_s`` seconds."""

    def __init__(self, delay_s: float, cause: BaseException | None) -> None:
        super().__init__(f"retry in {delay_s:.1f}s: {cause}")
        self.delay_s = delay_s
        self.cause = cause


class Redelivered(PermanentError):
    """The same submission came back more often than any retry budget allows
    (a task that kills its worker is redelivered forever by reject_on_worker_lost)."""

    category = "redelivery_loop"


@dataclass(frozen=True)
class Outcome:
    status: str
    category: str | None = None
    message: str | None = None
    duration_ms: int | None = None
    screenshot: str | None = None
    final_status: str | None = None
    overhead_ms: float | None = None  # bookkeeping: claim + pacing reservation + record


# One statement: claim the row and beat for the job. The profile and the catalog entry
# come from the Redis cache (directorybolt.store.cache), not from PostgreSQL.
_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE job_results r SET status = 'submitting', worker_id = :worker, claimed_at = now(),
            committed_at = NULL, attempts = r.attempts + 1, updated_at = now()
        FROM jobs j
        WHERE r.job_id = :job AND r.directory_id = :dir AND j.id = r.job_id AND j.status = 'in_progress'
          AND r.status = 'pending' AND (r.retry_at IS NULL OR r.retry_at <= now() + interval '2 seconds')
        RETURNING r.attempts, j.tier, j.customer_id
    ), beat AS (
        UPDATE jobs SET last_heartbeat = now() WHERE id = :job AND EXISTS (SELECT 1 FROM claimed)
    )
    SELECT attempts, tier, customer_id FROM claimed
    """
)

_RECLAIM = text(
    """
    UPDATE job_results SET worker_id = :worker, claimed_at = now(), attempts = attempts + 1, updated_at = now()
    WHERE job_id = :job AND directory_id = :dir AND status = 'submitting' AND worker_id = :dead
      AND committed_at IS NULL
    RETURNING attempts
    """
)

_CONTEXT = text(
    """
    SELECT r.attempts, j.tier, j.customer_id
    FROM job_results r JOIN jobs j ON j.id = r.job_id
    WHERE r.job_id = :job AND r.directory_id = :dir
    """
)

_RELEASE = text(
    """
    UPDATE job_results SET status = 'pending', retry_at = now() + make_interval(secs => :delay),
        error_category = :category, error_message = :message, worker_id = NULL, updated_at = now(),
        attempts = attempts - :refund
    WHERE job_id = :job AND directory_id = :dir AND status = 'submitting' AND worker_id = :worker
    """
)


@dataclass
class _Context:
    job_id: uuid.UUID
    directory_id: str
    attempt: int
    tier: str
    plan: Plan | None
    url: str
    profile: BusinessProfile


def _claim(job_id: uuid.UUID, directory_id: str, worker: str, is_dead_here: Any) -> _Context | Outcome:
    with db.session() as s:
        row = s.execute(_CLAIM, {"job": job_id, "dir": directory_id, "worker": worker}).one_or_none()
        if row is None:
            current = s.execute(
                text("SELECT status, worker_id FROM job_results WHERE job_id = :job AND directory_id = :dir"),
                {"job": job_id, "dir": directory_id},
            ).one_or_none()
            if current is None or current.status != "submitting" or not is_dead_here(current.worker_id):
                status = current.status if current is not None else "missing"
                return Outcome("duplicate", message=f"nothing to do: result is {status}")
            # Redelivered because its worker process died on this host: take it over now.
            if s.execute(_RECLAIM, {"job": job_id, "dir": directory_id, "worker": worker,
                                    "dead": current.worker_id}).scalar_one_or_none() is None:
                return Outcome("duplicate", message="nothing to do: claimed elsewhere")
            row = s.execute(_CONTEXT, {"job": job_id, "dir": directory_id}).one()
        directory = cache.get_directory(s, directory_id)
        profile = cache.get_profile(s, row.customer_id)
    plan = Plan.model_validate(directory.plan) if directory.plan else None
    return _Context(job_id, directory_id, row.attempts, row.tier, plan, directory.target_url, profile)


def _screenshot_path(job_id: uuid.UUID, directory_id: str) -> Path:
    path = get_settings().state_dir / "screenshots" / str(job_id) / f"{directory_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _mark_committed(job_id: uuid.UUID, directory_id: str) -> None:
    with db.session() as s:
        s.execute(
            text("UPDATE job_results SET committed_at = now() WHERE job_id = :job AND directory_id = :dir"),
            {"job": job_id, "dir": directory_id},
        )


def _drive(ctx: _Context) -> tuple[str | None, int]:
    """Run the plan (or the form-mapping fallback) in a pooled browser page."""
    s = get_settings()
    plan = ctx.plan
    if plan is not None and plan.review_reason:
        raise NeedsReview(plan.review_reason, category="manual")
    shot = _screenshot_path(ctx.job_id, ctx.directory_id)
    t0 = time.perf_counter()
    with get_pool().page() as page:
        try:
            if plan is None:
                page.goto(ctx.url, wait_until="domcontentloaded", timeout=s.navigation_timeout_ms)
                plan = fallback_plan(page, ctx.url, ctx.profile)
            run_plan(
                page, plan, ctx.profile,
                step_timeout_ms=s.step_timeout_ms, navigation_timeout_ms=s.navigation_timeout_ms,
                on_commit=lambda: _mark_committed(ctx.job_id, ctx.directory_id),
            )
        except DirectoryBoltError as exc:
            exc.screenshot = _screenshot(page, shot, ctx)  # type: ignore[attr-defined]
            raise
        taken = _screenshot(page, shot, ctx)
    return taken, int((time.perf_counter() - t0) * 1000)


def _screenshot(page: Any, path: Path, ctx: _Context) -> str | None:
    """The final page, for staff reviewing the result; never changes the outcome."""
    try:
        page.screenshot(path=str(path), timeout=5000)
        return str(path)
    except Exception as exc:
        log.warning("screenshot failed for %s/%s: %s", ctx.job_id, ctx.directory_id, exc)
        return None


def _finish(ctx: _Context, worker: str, status: str, *, category: str | None = None, message: str | None = None,
            duration_ms: int | None = None, screenshot: str | None = None) -> Outcome:
    """Record the outcome. A dropped connection is retried a few times here rather than
    by re-running the task: the browser already acted, so the work must not be redone."""
    for attempt in range(RECORD_TRIES):
        try:
            return _record(ctx, worker, status, category, message, duration_ms, screenshot)
        except OperationalError:
            if attempt == RECORD_TRIES - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _record(ctx: _Context, worker: str, status: str, category: str | None, message: str | None,
            duration_ms: int | None, screenshot: str | None) -> Outcome:
    with db.session() as s:
        _, final = results.record_result(
            s, job_id=ctx.job_id, directory_id=ctx.directory_id, worker=worker, status=status, category=category,
            message=message, duration_ms=duration_ms, screenshot=screenshot,
        )
    return Outcome(status, category, message, duration_ms, screenshot, final)


def submit(job_id: str | uuid.UUID, directory_id: str, process: Worker) -> Outcome:
    t0 = time.perf_counter()
    jid = jobs.parse_uuid(job_id, "job id")
    s = get_settings()
    worker = process.worker_id
    claimed = _claim(jid, directory_id, worker, process.is_dead_here)
    bookkeeping = time.perf_counter() - t0
    if isinstance(claimed, Outcome):
        return claimed
    ctx = claimed
    policy = RetryPolicy.from_settings(s)
    retries_done = ctx.attempt - 1  # attempts live on the row, so redeliveries spend the budget too
    if ctx.attempt > policy.max_retries + 1 + s.max_requeues:
        _finish(ctx, worker, "failed", category=Redelivered.category,
                message=f"delivered {ctx.attempt} times; giving up")
        raise Redelivered(f"{directory_id} for job {jid} was delivered {ctx.attempt} times")
    hb = process
    wait = 0.0
    try:
        t_pace = time.perf_counter()
        wait = _pacer().reserve(directory_id, interval_ms(s.tiers[ctx.tier]), max_wait_s=s.max_pacing_wait_s)
        bookkeeping += time.perf_counter() - t_pace
        if wait < 0:
            _release(ctx, worker, -wait, None, refund=True)
            raise RetryLater(-wait, None)  # pacing: the attempt was refunded by _release
        time.sleep(wait)
        hb.set_current(jid, directory_id)
        screenshot, duration = _drive(ctx)
    except RetryLater:
        raise
    except NeedsReview as exc:
        return _finish(ctx, worker, "needs_review", category=exc.category, message=str(exc), screenshot=_shot(exc))
    except PlanError as exc:
        _finish(ctx, worker, "failed", category=exc.category, message=str(exc), screenshot=_shot(exc))
        raise
    except PermanentError as exc:
        return _finish(ctx, worker, "failed", category=exc.category, message=str(exc), screenshot=_shot(exc))
    except Exception as exc:
        category = exc.category if isinstance(exc, DirectoryBoltError) else "unexpected"
        if policy.should_retry(exc, retries_done=retries_done):
            delay = policy.delay(retries_done=retries_done, exc=exc)
            _release(ctx, worker, delay, exc)
            raise RetryLater(delay, exc) from exc
        _finish(ctx, worker, "failed", category=category, message=_customer_message(exc), screenshot=_shot(exc))
        raise
    finally:
        hb.set_current(None)
    t_record = time.perf_counter()
    outcome = _finish(ctx, worker, "submitted", duration_ms=duration, screenshot=screenshot)
    bookkeeping += time.perf_counter() - t_record
    prepare_browser()
    return dataclasses.replace(outcome, overhead_ms=round(bookkeeping * 1000, 3))


def _release(ctx: _Context, worker: str, delay: float, exc: BaseException | None, *, refund: bool = False) -> None:
    category = getattr(exc, "category", None) if exc else "paced"
    with db.session() as s:
        s.execute(_RELEASE, {"delay": delay, "category": category, "message": _customer_message(exc) if exc else None,
                             "job": ctx.job_id, "dir": ctx.directory_id, "worker": worker, "refund": int(refund)})
        if exc is not None:
            history.record(s, "retry_scheduled", job_id=ctx.job_id, directory_id=ctx.directory_id,
                           attempt=ctx.attempt, delay_s=delay, category=category)


def _shot(exc: BaseException) -> str | None:
    return getattr(exc, "screenshot", None)


def _customer_message(exc: BaseException) -> str:
    """One line, no stack trace, safe to show a customer."""
    if isinstance(exc, DirectoryBoltError):
        return str(exc).splitlines()[0][:500] if str(exc) else exc.category
    return f"internal error ({type(exc).__name__})"


_pacers: dict[int, Pacer] = {}


def _pacer() -> Pacer:
    """One Pacer per Redis client (a new client after a fork gets a new Pacer)."""
    client = redis_client()
    if id(client) not in _pacers:
        _pacers.clear()
        _pacers[id(client)] = Pacer(client)
    return _pacers[id(client)]


def prepare_browser() -> None:
    """Open the next context while the worker waits for its next task."""
    try:
        get_pool().prepare()
    except Exception as exc:  # the next submission will launch again and report properly
        log.warning("could not prepare a browser context: %s", exc)
