"""Worker liveness: who is working, and who has stopped.

Each worker process beats from a background thread into ``worker_heartbeats`` and
into its current job's ``last_heartbeat``. A worker is dead when its beat lapsed
for ``stale_after_s``, or at once when it ran on this very host and its process is
gone (the kernel already knows; no need to wait for the threshold). The stale sweep
(:mod:`directorybolt.recovery.sweep`) acts on what this module finds.

A worker is named ``host:pid``; :func:`parse_worker_id` is the one reader of that form.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from directorybolt.core.settings import get_settings
from directorybolt.store import db
from directorybolt.store.models import Job, WorkerHeartbeat
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)

RESERVED_KEY = "dbolt:reserved:{job}:{directory}"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def parse_worker_id(worker: str | None) -> tuple[str, int] | None:
    """(host, pid) of a ``host:pid`` worker id; None for anything else."""
    if not worker or ":" not in worker:
        return None
    host, _, pid = worker.rpartition(":")
    return (host, int(pid)) if pid.isdigit() else None


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

    def is_dead_here(self, other: str | None) -> bool:
        return is_dead_here(other)

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


def _forget_after_fork() -> None:
    global _heartbeat
    _heartbeat = None


os.register_at_fork(after_in_child=_forget_after_fork)


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


def is_dead_here(worker: str | None, started_before: datetime | None = None) -> bool:
    """True only when ``worker`` ran on this host and its process is gone."""
    parsed = parse_worker_id(worker)
    if parsed is None:
        return False
    host, pid = parsed
    return host == socket.gethostname() and not _pid_alive(pid, started_before)


def note_reserved(job_id: str, directory_id: str) -> None:
    """Remember which worker process took a submission from the broker. One that dies
    between taking the message and claiming the row leaves the message unacknowledged
    in Redis, where only the visibility timeout (15 min) would bring it back; with this
    the sweep re-sends it as soon as it sees the process gone."""
    redis_client().set(RESERVED_KEY.format(job=job_id, directory=directory_id),
                       f"{worker_id()}@{time.time():.0f}", ex=get_settings().visibility_timeout_s)


def reserved_by_dead(rows: list[Any]) -> list[Any]:
    """The rows (with ``job_id``, ``directory_id``) whose message was taken by a process
    of this host that is gone."""
    if not rows:
        return []
    owners = redis_client().mget([RESERVED_KEY.format(job=r.job_id, directory=r.directory_id) for r in rows])
    dead = []
    for r, owner in zip(rows, owners, strict=True):
        worker, _, since = (owner or b"").decode().partition("@")
        if since.isdigit() and is_dead_here(worker, datetime.fromtimestamp(int(since), UTC)):
            dead.append(r)
    return dead


def forget_reserved(pairs: list[tuple[uuid.UUID, list[str]]]) -> None:
    keys = [RESERVED_KEY.format(job=job_id, directory=d) for job_id, dirs in pairs for d in dirs]
    if keys:
        redis_client().delete(*keys)


def dead_workers(session: Any, cutoff: datetime) -> set[str]:
    """Workers whose heartbeat lapsed, plus those on this host whose process is gone."""
    here = socket.gethostname()
    dead: set[str] = set()
    for wid, host, pid, last, started in session.execute(
        select(WorkerHeartbeat.worker_id, WorkerHeartbeat.hostname, WorkerHeartbeat.pid,
               WorkerHeartbeat.last_heartbeat, WorkerHeartbeat.started_at)
    ):
        if last < cutoff or (host == here and not _pid_alive(pid, started)):
            dead.add(wid)
    return dead


def known_workers(session: Any) -> set[str]:
    return set(session.scalars(select(WorkerHeartbeat.worker_id)))


def forget_workers(session: Any, workers: set[str]) -> None:
    if workers:
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id.in_(workers)))


def prune_heartbeats() -> int:
    """Forget workers silent for longer than ``heartbeat_prune_after_s``."""
    s = get_settings()
    cutoff = datetime.now(UTC) - timedelta(seconds=s.heartbeat_prune_after_s)
    with db.session() as session:
        res = session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_heartbeat < cutoff))
        return res.rowcount or 0
