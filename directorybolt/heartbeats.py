"""Worker liveness and the stale-job sweep (this module owns recovery, as rq's
StartedJobRegistry owns ``cleanup``).

Each worker process beats from a background thread into ``worker_heartbeats`` and
into its current job's ``last_heartbeat``. The sweep looks for work a dead worker
left behind: results ``submitting`` under a worker whose heartbeat lapsed (or whose
pid is gone on this very host), retries whose time passed long ago, and pending
results of a quiet job that no longer exist in the broker. Those are re-sent
(idempotency makes that safe), the job's ``requeue_count`` grows, and after
``max_requeues`` the job is dead-lettered and failed instead of looping forever.

A result whose form was already sent (``committed_at`` set) when its worker died is
never re-sent: the directory may have the listing, so it becomes ``needs_review``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from directorybolt import db, history, jobs
from directorybolt.config import get_settings
from directorybolt.models import Job, JobResult, WorkerHeartbeat

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """Beats every ``interval`` seconds until the process exits (daemon thread)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.worker_id = worker_id()
        self.job_id: uuid.UUID | None = None
        self.directory_id: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="directorybolt-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def set_current(self, job_id: uuid.UUID | None, directory_id: str | None = None) -> None:
        self.job_id, self.directory_id = job_id, directory_id

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception as exc:  # a missed beat is retried next interval
                log.warning("heartbeat failed: %s", exc)
            self._stop.wait(self.interval)

    def beat(self) -> None:
        job_id = self.job_id
        with db.session() as s:
            stmt = pg_insert(WorkerHeartbeat).values(
                worker_id=self.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                current_job_id=job_id,
                current_directory_id=self.directory_id,
            )
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=[WorkerHeartbeat.worker_id],
                    set_={
                        "last_heartbeat": text("now()"),
                        "current_job_id": stmt.excluded.current_job_id,
                        "current_directory_id": stmt.excluded.current_directory_id,
                    },
                )
            )
            if job_id is not None:
                s.execute(update(Job).where(Job.id == job_id).values(last_heartbeat=text("now()")))

    def stop(self) -> None:
        self._stop.set()


_heartbeat: Heartbeat | None = None


def current() -> Heartbeat:
    """This process's heartbeat, started on first use (after any fork)."""
    global _heartbeat
    if _heartbeat is None or _heartbeat.worker_id != worker_id():
        _heartbeat = Heartbeat(get_settings().heartbeat_interval_s).start()
    return _heartbeat


def reset_after_fork() -> None:
    global _heartbeat
    _heartbeat = None


@dataclass
class SweepReport:
    requeued: dict[str, list[str]] = field(default_factory=dict)
    interrupted: list[tuple[str, str]] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    dead_workers: list[str] = field(default_factory=list)


def _pid_alive(pid: int, started_before: datetime | None = None) -> bool:
    """Whether ``pid`` still runs the process we knew. A zombie (killed, not yet reaped:
    containers often lack an init that reaps) is dead, and so is a reused pid whose
    process started after our worker did."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not (started_before is not None and proc.create_time() > started_before.timestamp() + 1)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def is_dead_here(worker: str | None) -> bool:
    """True only when ``worker`` ran on this host and its process is gone."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not _pid_alive(int(pid))


RESERVED_KEY = "dbolt:reserved:{job}:{directory}"


def note_reserved(job_id: str, directory_id: str) -> None:
    """Remember which worker process took a submission from the broker. One that dies
    between taking the message and claiming the row leaves the message unacknowledged
    in Redis, where only the visibility timeout (15 min) would bring it back; with this
    the sweep re-sends it as soon as it sees the process gone."""
    from directorybolt.runtime import redis_client

    redis_client().set(RESERVED_KEY.format(job=job_id, directory=directory_id),
                       f"{worker_id()}@{time.time():.0f}", ex=get_settings().visibility_timeout_s)


def _reserved_by_dead(rows: list[Any]) -> list[Any]:
    if not rows:
        return []
    from directorybolt.runtime import redis_client

    owners = redis_client().mget([RESERVED_KEY.format(job=r.job_id, directory=r.directory_id) for r in rows])
    dead = []
    for r, owner in zip(rows, owners, strict=True):
        worker, _, since = (owner or b"").decode().partition("@")
        host, _, pid = worker.rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and since.isdigit() and not _pid_alive(
                int(pid), datetime.fromtimestamp(int(since), UTC)):
            dead.append(r)
    return dead


def _forget_reserved(pairs: list[tuple[uuid.UUID, list[str]]]) -> None:
    from directorybolt.runtime import redis_client

    keys = [RESERVED_KEY.format(job=job_id, directory=d) for job_id, dirs in pairs for d in dirs]
    if keys:
        redis_client().delete(*keys)


def dead_workers(session: Any, cutoff: datetime) -> set[str]:
    """Workers whose heartbeat lapsed, plus those on this host whose process is gone
    (no need to wait for the threshold when the kernel already knows)."""
    here = socket.gethostname()
    dead: set[str] = set()
    for wid, host, pid, last, started in session.execute(
        select(WorkerHeartbeat.worker_id, WorkerHeartbeat.hostname, WorkerHeartbeat.pid,
               WorkerHeartbeat.last_heartbeat, WorkerHeartbeat.started_at)
    ):
        if last < cutoff or (host == here and not _pid_alive(pid, started)):
            dead.add(wid)
    return dead


def sweep_stale_jobs(*, in_broker: Any = None, now: datetime | None = None) -> SweepReport:
    """Requeue what dead workers left behind. ``in_broker(queue, job_id) -> bool``
    tells whether the broker still holds a message for a job (see :mod:`dispatch`)."""
    from directorybolt import dispatch, dlq

    s = get_settings()
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=s.stale_after_s)
    # No task holds a claim longer than its hard time limit: an older claim is orphaned.
    claim_cutoff = now - timedelta(seconds=s.task_time_limit_s + s.stale_after_s)
    in_broker = in_broker or dispatch.job_in_broker
    report = SweepReport()
    to_send: list[tuple[uuid.UUID, str, list[str]]] = []
    with db.session() as session:
        dead = dead_workers(session, cutoff)
        report.dead_workers = sorted(dead)
        rows = session.execute(
            select(JobResult.job_id, JobResult.directory_id, JobResult.status, JobResult.worker_id,
                   JobResult.claimed_at, JobResult.retry_at, JobResult.committed_at, Job.last_heartbeat, Job.queue)
            .join(Job, Job.id == JobResult.job_id)
            .where(Job.status == "in_progress", JobResult.status.in_(("pending", "submitting")))
        ).all()
        known = _known_workers(session)
        lost: dict[uuid.UUID, list[Any]] = {}
        quiet_pending: dict[uuid.UUID, list[Any]] = {}
        orphaned = _reserved_by_dead([r for r in rows if r.status == "pending" and r.retry_at is None])
        for r in orphaned:
            lost.setdefault(r.job_id, []).append(r)
        taken = {(r.job_id, r.directory_id) for r in orphaned}
        for r in rows:
            if (r.job_id, r.directory_id) in taken:
                continue
            if r.status == "submitting":
                unknown = r.worker_id not in known and (r.claimed_at is None or r.claimed_at < cutoff)
                overdue = r.claimed_at is not None and r.claimed_at < claim_cutoff
                if r.worker_id in dead or unknown or overdue:
                    lost.setdefault(r.job_id, []).append(r)
            elif r.retry_at is not None:
                if r.retry_at < cutoff:
                    lost.setdefault(r.job_id, []).append(r)
            elif r.last_heartbeat is None or r.last_heartbeat < cutoff:
                quiet_pending.setdefault(r.job_id, []).append(r)
        for job_id, pend in quiet_pending.items():
            if not in_broker(pend[0].queue, str(job_id)):
                lost.setdefault(job_id, []).extend(pend)
        for job_id, lost_rows in lost.items():
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or job.status != "in_progress":
                continue
            if job.requeue_count >= s.max_requeues:
                _give_up(session, job, lost_rows)
                report.dead_lettered.append(str(job_id))
                dlq.record_stale_job(session, job, reason=f"requeued {job.requeue_count} times and still stale")
                continue
            resend: list[str] = []
            for r in lost_rows:
                if r.status == "submitting" and r.committed_at is not None:
                    _mark_interrupted(session, job_id, r.directory_id)
                    report.interrupted.append((str(job_id), r.directory_id))
                else:
                    resend.append(r.directory_id)
            session.execute(
                update(JobResult)
                .where(JobResult.job_id == job_id, JobResult.directory_id.in_(resend))
                .values(status="pending", worker_id=None, retry_at=None, claimed_at=None)
            )
            job.requeue_count += 1
            job.last_heartbeat = now
            reason = _reason(lost_rows, dead)
            history.record(session, "job_requeued_stale", job_id=job_id, attempt=job.requeue_count,
                           reason=reason, directories=resend)
            jobs.finalize(session, job_id)
            report.requeued[str(job_id)] = resend
            to_send.append((job_id, job.queue, resend))
        if dead:
            session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id.in_(dead)))
    _forget_reserved([(job_id, directory_ids) for job_id, _, directory_ids in to_send])
    for job_id, queue, directory_ids in to_send:
        dispatch.send_submissions(job_id, directory_ids, queue)
    return report


def _known_workers(session: Any) -> set[str]:
    return set(session.scalars(select(WorkerHeartbeat.worker_id)))


def _reason(rows: list[Any], dead: set[str]) -> str:
    parts = []
    if any(r.status == "submitting" for r in rows):
        workers = sorted({r.worker_id for r in rows if r.status == "submitting" and r.worker_id})
        parts.append(f"worker heartbeat lapsed ({', '.join(workers) or 'unknown worker'})")
    if any(r.status == "pending" and r.retry_at is not None for r in rows):
        parts.append("retry overdue")
    if any(r.status == "pending" and r.retry_at is None for r in rows):
        parts.append("pending work missing from the broker or taken by a worker that died")
    return "; ".join(parts)


def _mark_interrupted(session: Any, job_id: uuid.UUID, directory_id: str) -> None:
    session.execute(
        update(JobResult)
        .where(JobResult.job_id == job_id, JobResult.directory_id == directory_id)
        .values(
            status="needs_review",
            error_category="interrupted",
            error_message="the worker stopped after sending the form; check the directory before resubmitting",
            finished_at=text("now()"),
        )
    )
    history.record(session, "submission_interrupted", job_id=job_id, directory_id=directory_id)


def _give_up(session: Any, job: Job, rows: list[Any]) -> None:
    session.execute(
        update(JobResult)
        .where(JobResult.job_id == job.id, JobResult.status.in_(("pending", "submitting")))
        .values(status="failed", error_category="stale", error_message="abandoned after repeated worker loss",
                finished_at=text("now()"))
    )
    jobs.finalize(session, job.id)
    session.execute(
        update(Job).where(Job.id == job.id).values(status="failed", status_note="dead-lettered: stale too often")
        .execution_options(synchronize_session=False)
    )
    history.record(session, "job_dead_lettered", job_id=job.id, requeues=job.requeue_count)


def prune_heartbeats() -> int:
    """Forget workers silent for longer than ``heartbeat_prune_after_s``."""
    s = get_settings()
    cutoff = datetime.now(UTC) - timedelta(seconds=s.heartbeat_prune_after_s)
    with db.session() as session:
        res = session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_heartbeat < cutoff))
        return res.rowcount or 0
