"""One directory submission, sent at most once and recorded exactly once.

The result row is claimed (``pending -> submitting``) before the browser acts, so a
redelivered or duplicated task that finds the row claimed or finished does nothing.
Right before the click that sends the form the worker must win the *fence*: a guarded
update proving it still owns the row (a worker swept while frozen or cut off from
PostgreSQL loses it and does not click). From that point on nothing re-sends the form
automatically: whatever goes wrong afterwards ends ``needs_review``.

Every row change goes through :mod:`directorybolt.lifecycle.results`. This module knows
nothing of Celery: it returns an :class:`Outcome`, raises :class:`RetryLater` when the
row should be tried again later, or raises the failure that must be dead-lettered.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError

from directorybolt.core.errors import BrowserCrashed, DirectoryBoltError, NeedsReview, PermanentError, PlanError
from directorybolt.core.plans import Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.retries import RetryPolicy
from directorybolt.core.settings import get_settings
from directorybolt.execution import faults
from directorybolt.execution.browser.formmap import fallback_plan
from directorybolt.execution.browser.pool import get_pool
from directorybolt.execution.browser.runner import run_plan
from directorybolt.execution.pacing import Pacer, interval_ms
from directorybolt.lifecycle import jobs, results
from directorybolt.store import cache, db
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)

#: A dropped connection while recording is retried this often in place: the browser
#: already acted, so the task must not be run again.
RECORD_TRIES = 4
#: An early retry is re-scheduled this much after its due time, to absorb clock skew.
EARLY_MARGIN_S = 0.5


class Worker(Protocol):
    """The process doing the work, as a submission sees it (the task layer passes
    :func:`directorybolt.recovery.liveness.current`)."""

    worker_id: str

    def set_current(self, job_id: uuid.UUID | None, directory_id: str | None = None) -> None:
        """Tell the heartbeat what this process is working on."""

    def is_dead_here(self, other: str | None) -> bool:
        """Whether ``other`` ran on this host and its process is gone."""

    def draining(self) -> bool:
        """Whether this worker is shutting down (then unsent work is handed back)."""


class RetryLater(Exception):
    """Try the row again in ``delay_s`` seconds. ``counted`` is False when the attempt
    was not spent (pacing, an early retry, a warm shutdown, a fault of this worker).
    ``worker_fault`` says the fault was this worker's own (its browser): the task layer
    tells the circuit breaker and hands the row to whichever worker takes it next."""

    def __init__(self, delay_s: float, cause: BaseException | None, *, counted: bool = True,
                 worker_fault: bool = False) -> None:
        super().__init__(f"retry in {delay_s:.1f}s: {cause}")
        self.delay_s = delay_s
        self.cause = cause
        self.counted = counted
        self.worker_fault = worker_fault


class Redelivered(PermanentError):
    """The same submission came back more often than any retry budget allows
    (a task that kills its worker is redelivered forever by reject_on_worker_lost)."""

    category = "redelivery_loop"


class FenceLost(Exception):
    """The row is no longer ours at the commit point: do not click."""


class Draining(Exception):
    """The worker is shutting down before the form was sent: hand the row back."""


@dataclass(frozen=True)
class Outcome:
    status: str
    category: str | None = None
    message: str | None = None
    duration_ms: int | None = None
    screenshot: str | None = None
    final_status: str | None = None
    overhead_ms: float | None = None  # bookkeeping: claim + pacing reservation + record


@dataclass
class _Context:
    job_id: uuid.UUID
    directory_id: str
    worker: str
    attempt: int
    tier: str
    plan: Plan | None
    url: str
    profile: BusinessProfile
    committed: bool = field(default=False)


def _claim(job_id: uuid.UUID, directory_id: str, worker: str, is_dead_here: Any) -> _Context | Outcome:
    with db.session() as s:
        got = results.claim(s, job_id, directory_id, worker, is_dead_here)
        if isinstance(got, results.Early):
            raise RetryLater(got.wait_s + EARLY_MARGIN_S, None, counted=False)
        if isinstance(got, results.Nothing):
            return Outcome("duplicate", message=f"nothing to do: result is {got.status}")
        directory = cache.get_directory(s, directory_id)
        profile = cache.get_profile(s, got.customer_id)
    plan = Plan.model_validate(directory.plan) if directory.plan else None
    return _Context(job_id, directory_id, worker, got.attempt, got.tier, plan, directory.target_url, profile)


def _screenshot_path(job_id: uuid.UUID, directory_id: str) -> Path:
    path = get_settings().state_dir / "screenshots" / str(job_id) / f"{directory_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _commit_point(ctx: _Context, process: Worker) -> None:
    """Called by the runner right before the click that sends the form."""
    if process.draining():
        raise Draining("the worker is shutting down")
    with db.session() as s:
        won = results.fence(s, ctx.job_id, ctx.directory_id, ctx.worker, ctx.attempt)
    if not won:  # raised after the commit, so the refusal stays in the history
        raise FenceLost(f"{ctx.directory_id} of job {ctx.job_id} is no longer claimed by {ctx.worker}")
    ctx.committed = True
    faults.crash_point("after_fence")


def _drive(ctx: _Context, process: Worker) -> tuple[str | None, int]:
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
                on_commit=lambda: _commit_point(ctx, process),
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


def _finish(ctx: _Context, status: str, *, category: str | None = None, message: str | None = None,
            duration_ms: int | None = None, screenshot: str | None = None) -> Outcome:
    """Record the outcome, guarded by this worker's claim. A dropped connection is
    retried a few times here rather than by re-running the task."""
    for attempt in range(RECORD_TRIES):
        try:
            with db.session() as s:
                done = results.finish(s, ctx.job_id, ctx.directory_id, status=status, owner=ctx.worker,
                                      attempt=ctx.attempt, category=category, message=message,
                                      duration_ms=duration_ms, screenshot=screenshot)
            if done is None:
                return Outcome("fenced_out", message="the row changed hands before it could be recorded")
            return Outcome(status, category, message, duration_ms, screenshot, done.final)
        except OperationalError:
            if attempt == RECORD_TRIES - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _release(ctx: _Context, delay: float, exc: BaseException | None, *, refund: bool = False,
             event: str | None = None) -> None:
    category = getattr(exc, "category", None) if exc else ("paced" if event is None else "released")
    with db.session() as s:
        results.release(s, ctx.job_id, ctx.directory_id, ctx.worker, ctx.attempt, delay_s=delay, refund=refund,
                        category=category, message=_customer_message(exc) if exc else None,
                        event=event or ("retry_scheduled" if exc is not None else None))


def submit(job_id: str | uuid.UUID, directory_id: str, process: Worker) -> Outcome:
    t0 = time.perf_counter()
    jid = jobs.parse_uuid(job_id, "job id")
    s = get_settings()
    claimed = _claim(jid, directory_id, process.worker_id, process.is_dead_here)
    bookkeeping = time.perf_counter() - t0
    if isinstance(claimed, Outcome):
        return claimed
    ctx = claimed
    policy = RetryPolicy.from_settings(s)
    retries_done = ctx.attempt - 1  # attempts live on the row, so redeliveries spend the budget too
    if ctx.attempt > policy.max_retries + 1 + s.max_requeues:
        _finish(ctx, "failed", category=Redelivered.category, message=f"delivered {ctx.attempt} times; giving up")
        raise Redelivered(f"{directory_id} for job {jid} was delivered {ctx.attempt} times")
    try:
        t_pace = time.perf_counter()
        wait = _pacer().reserve(directory_id, interval_ms(s.tiers[ctx.tier]), max_wait_s=s.max_pacing_wait_s)
        bookkeeping += time.perf_counter() - t_pace
        if wait < 0:
            _release(ctx, -wait, None, refund=True)
            raise RetryLater(-wait, None, counted=False)
        time.sleep(wait)
        if process.draining():
            raise Draining("the worker is shutting down")
        process.set_current(jid, directory_id)
        screenshot, duration = _drive(ctx, process)
    except RetryLater:
        raise
    except FenceLost as exc:
        log.warning("not sending: %s", exc)
        return Outcome("fenced_out", message=str(exc))
    except Draining:
        _release(ctx, 0.0, None, refund=True, event="claim_released_on_shutdown")
        raise RetryLater(0.5, None, counted=False) from None
    except Exception as exc:
        return _failed(ctx, exc, policy, retries_done)
    finally:
        process.set_current(None)
    faults.crash_point("after_click")
    t_record = time.perf_counter()
    outcome = _finish(ctx, "submitted", duration_ms=duration, screenshot=screenshot)
    bookkeeping += time.perf_counter() - t_record
    prepare_browser()
    return dataclasses.replace(outcome, overhead_ms=round(bookkeeping * 1000, 3))


def _failed(ctx: _Context, exc: Exception, policy: RetryPolicy, retries_done: int) -> Outcome:
    """What a failure means depends first on whether the form was already sent."""
    shot = getattr(exc, "screenshot", None)
    if isinstance(exc, NeedsReview):
        return _finish(ctx, "needs_review", category=exc.category, message=str(exc), screenshot=shot)
    if isinstance(exc, PlanError):
        _finish(ctx, "failed", category=exc.category, message=str(exc), screenshot=shot)
        raise exc
    if isinstance(exc, PermanentError):
        return _finish(ctx, "failed", category=exc.category, message=str(exc), screenshot=shot)
    if isinstance(exc, BrowserCrashed) and not ctx.committed:
        # Our browser, not the directory: back to pending uncounted, at once, for any worker.
        _release(ctx, 0.0, exc, refund=True, event="claim_released_worker_fault")
        raise RetryLater(0.0, exc, counted=False, worker_fault=True) from exc
    if ctx.committed:
        # The form may have reached the directory: a person checks before anything is re-sent.
        category = "ambiguous" if isinstance(exc, DirectoryBoltError) else "interrupted"
        return _finish(ctx, "needs_review", category=category, screenshot=shot,
                       message=f"failed after the form was sent ({_customer_message(exc)}); "
                               "check the directory before resubmitting")
    if policy.should_retry(exc, retries_done=retries_done):
        delay = policy.delay(retries_done=retries_done, exc=exc)
        _release(ctx, delay, exc)
        raise RetryLater(delay, exc) from exc
    category = exc.category if isinstance(exc, DirectoryBoltError) else "unexpected"
    _finish(ctx, "failed", category=category, message=_customer_message(exc), screenshot=shot)
    raise exc


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
