"""Worker liveness: who is working, and who has stopped.

Each worker process beats from a background thread into ``worker_heartbeats`` and
into its current job's ``last_heartbeat``. A worker is dead when its beat lapsed
for ``stale_after_s``, or at once when it ran on this very host and its process is
gone (the kernel already knows; no need to wait for the threshold). The stale sweep
(:mod:`directorybolt.recovery.sweep`) acts on what this module finds.

A worker is named ``host:pid:nonce``, the nonce drawn at every process start (a
restarted container reuses its hostname and small pids); :func:`parse_worker_id` is
the one reader of that form.

Liveness is judged on the database's clock, and a lapsed heartbeat is first only a
suspicion: a later sweep, ``death_confirm_s`` after the first, confirms the death if no
beat came in between. After a PostgreSQL outage longer than ``stale_after_s`` every
worker's beat has lapsed, but they all beat again within ``heartbeat_interval_s`` of
its end, so nobody alive is declared dead.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from sqlalchemy import delete, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from directorybolt.core.settings import get_settings
from directorybolt.store import db
from directorybolt.store.models import Job, WorkerHeartbeat
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)

RESERVED_KEY = "dbolt:reserved:{host}"
#: At most this many reservation notes are kept per host.
RESERVED_KEEP = 10_000
DRAINING_KEY = "dbolt:draining:{host}:{pid}"
#: Set by a worker's main process while its circuit breaker is open (directorybolt.queueing.breaker).
DEGRADED_KEY = "dbolt:degraded:{host}:{pid}"
#: What a process serves: ``submissions`` (needs a browser) or ``maintenance`` (Beat's tasks only).
ROLES = ("submissions", "maintenance")
STATES = ("ok", "degraded")
#: How long a child trusts its last look at the draining flag.
DRAIN_CHECK_S = 0.5

_nonce = secrets.token_hex(3)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_nonce}"


def parse_worker_id(worker: str | None) -> tuple[str, int] | None:
    """(host, pid) of a ``host:pid:nonce`` (or older ``host:pid``) worker id; None for
    anything else."""
    parts = (worker or "").split(":")
    if len(parts) == 3:
        parts = parts[:2]
    if len(parts) != 2 or not parts[0] or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def begin_drain() -> None:
    """Called in a worker's main process when a warm shutdown starts: its pool children
    hand back work they have not sent yet instead of starting it."""
    redis_client().set(DRAINING_KEY.format(host=socket.gethostname(), pid=os.getpid()), "1",
                       ex=int(get_settings().task_time_limit_s * 2))


_role = "submissions"


def set_role(role: str) -> None:
    """What this process serves, written with its beats (set by the queueing layer, which
    knows the queues, before the first beat)."""
    global _role
    if role not in ROLES:
        raise ValueError(f"unknown worker role {role!r}")
    _role = role


def mark_node(state: str, children: list[int]) -> None:
    """Called by a worker's main process when its breaker opens or closes: the pool's
    processes say so in their beats from now on (they read the flag), and their rows say
    so at once (health and metrics need not wait for the next beat)."""
    if state not in STATES:
        raise ValueError(f"unknown worker state {state!r}")
    if state == "degraded":
        refresh_degraded()
    else:
        redis_client().delete(DEGRADED_KEY.format(host=socket.gethostname(), pid=os.getpid()))
    with db.session() as s:
        s.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.hostname == socket.gethostname(),
                                                WorkerHeartbeat.pid.in_([os.getpid(), *children]))
                  .values(state=state))


def refresh_degraded() -> None:
    """Keep the degraded flag of this main process alive while its breaker stays open."""
    redis_client().set(DEGRADED_KEY.format(host=socket.gethostname(), pid=os.getpid()), "1",
                       ex=int(get_settings().stale_after_s * 10))


class Heartbeat:
    """Beats every ``interval`` seconds until the process exits (daemon thread)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.worker_id = worker_id()
        self.role = _role
        self.state = "ok"
        self.job_id: uuid.UUID | None = None
        self.directory_id: str | None = None
        self._draining = False
        self._drain_checked = -DRAIN_CHECK_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="directorybolt-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def set_current(self, job_id: uuid.UUID | None, directory_id: str | None = None) -> None:
        self.job_id, self.directory_id = job_id, directory_id

    def is_dead_here(self, other: str | None) -> bool:
        return is_dead_here(other)

    def draining(self) -> bool:
        """Whether this process or its parent (the pool's main process) is shutting down."""
        now = time.monotonic()
        if now - self._drain_checked < DRAIN_CHECK_S:
            return self._draining
        host = socket.gethostname()
        keys = [DRAINING_KEY.format(host=host, pid=pid) for pid in (os.getpid(), os.getppid())]
        try:
            self._draining = any(redis_client().mget(keys))
        except Exception as exc:  # no broker: keep working; the sweep covers a worker that dies
            log.warning("could not read the draining flag: %s", exc)
        self._drain_checked = now
        return self._draining

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception as exc:  # a missed beat is retried next interval
                log.warning("heartbeat failed: %s", exc)
            self._stop.wait(self.interval)

    def _node_state(self) -> str:
        """``degraded`` while the breaker of this process's worker is open (the flag its
        main process sets); the last known state when Redis does not answer."""
        if self.role != "submissions":
            return "ok"
        host = socket.gethostname()
        keys = [DEGRADED_KEY.format(host=host, pid=pid) for pid in (os.getpid(), os.getppid())]
        try:
            self.state = "degraded" if any(redis_client().mget(keys)) else "ok"
        except Exception as exc:
            log.warning("could not read the degraded flag: %s", exc)
        return self.state

    def beat(self) -> None:
        job_id = self.job_id
        state = self._node_state()
        with db.session() as s:
            stmt = pg_insert(WorkerHeartbeat).values(
                worker_id=self.worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                current_job_id=job_id,
                current_directory_id=self.directory_id,
                role=self.role,
                state=state,
            )
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=[WorkerHeartbeat.worker_id],
                    set_={
                        "last_heartbeat": text("now()"),
                        "suspected_at": None,
                        "current_job_id": stmt.excluded.current_job_id,
                        "current_directory_id": stmt.excluded.current_directory_id,
                        "role": stmt.excluded.role,
                        "state": stmt.excluded.state,
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
    global _heartbeat, _nonce
    _heartbeat = None
    _nonce = secrets.token_hex(3)


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
    """True only when ``worker`` ran on this host and its process is gone (including an
    earlier process that had this very pid)."""
    parsed = parse_worker_id(worker)
    if parsed is None:
        return False
    host, pid = parsed
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return worker != worker_id()
    return not _pid_alive(pid, started_before)


def note_reserved(job_id: str, directory_id: str) -> None:
    """Remember which worker process took a submission from the broker. One that dies
    between taking the message and claiming the row leaves the message unacknowledged
    in Redis, where only the visibility timeout (15 min) would bring it back; with this
    the sweep on the same host re-sends it as soon as it sees the process gone. One
    sorted set per host, trimmed by age and size, so the sweep reads a bounded list."""
    now = time.time()
    key = RESERVED_KEY.format(host=socket.gethostname())
    pipe = redis_client().pipeline(transaction=False)
    pipe.zadd(key, {f"{worker_id()}|{job_id}|{directory_id}": now})
    pipe.zremrangebyscore(key, "-inf", now - get_settings().visibility_timeout_s)
    pipe.zremrangebyrank(key, 0, -RESERVED_KEEP - 1)
    pipe.execute()


def reserved_by_dead() -> dict[str, str]:
    """``"job|directory" -> note`` for submissions taken on this host by a process that
    is gone (the sweep still checks, by a guarded write, that the row is pending)."""
    key = RESERVED_KEY.format(host=socket.gethostname())
    dead: dict[str, str] = {}
    for raw, since in redis_client().zrange(key, 0, -1, withscores=True):
        member = raw.decode()
        worker, _, pair = member.partition("|")
        if is_dead_here(worker, datetime.fromtimestamp(since, UTC)):
            dead[pair] = member
    return dead


def forget_reserved(notes: list[str]) -> None:
    if notes:
        redis_client().zrem(RESERVED_KEY.format(host=socket.gethostname()), *notes)


_SUSPECT = text(
    """
    UPDATE worker_heartbeats SET suspected_at = now()
    WHERE suspected_at IS NULL AND last_heartbeat < now() - make_interval(secs => :stale)
    """
)

_WORKERS = text(
    """
    SELECT worker_id, hostname, pid, started_at,
           last_heartbeat < now() - make_interval(secs => :stale)
             AND suspected_at <= now() - make_interval(secs => :confirm) AS confirmed
    FROM worker_heartbeats
    """
)


_LIVE_BY_STATE = text(
    """
    SELECT role, state, count(*) AS n FROM worker_heartbeats
    WHERE last_heartbeat > now() - make_interval(secs => :stale)
    GROUP BY role, state
    """
)


def live_by_state(session: Any) -> dict[str, dict[str, int]]:
    """Live worker processes (beat within ``stale_after_s``) by role, then state, every
    combination present (zero when none): health, metrics and ``directorybolt status``
    show degraded workers from this one reading."""
    counts = {role: dict.fromkeys(STATES, 0) for role in ROLES}
    for r in session.execute(_LIVE_BY_STATE, {"stale": get_settings().stale_after_s}):
        counts.setdefault(r.role, {})[r.state] = counts.get(r.role, {}).get(r.state, 0) + int(r.n)
    return counts


def judge_workers() -> set[str]:
    """Workers confirmed dead: suspected by an earlier sweep with no beat since, or on
    this host with their process gone (no need to wait when the kernel already knows).
    Runs in its own short transaction, before the sweep touches any result row."""
    s = get_settings()
    here = socket.gethostname()
    dead: set[str] = set()
    with db.session() as session:
        session.execute(_SUSPECT, {"stale": s.stale_after_s})
        for r in session.execute(_WORKERS, {"stale": s.stale_after_s, "confirm": s.death_confirm_s}):
            if r.confirmed or (r.hostname == here and not _pid_alive(r.pid, r.started_at)):
                dead.add(r.worker_id)
    return dead


def forget_workers(workers: set[str]) -> None:
    """Drop the heartbeat rows of workers confirmed dead (their claims were recovered)."""
    if workers:
        with db.session() as session:
            session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id.in_(workers)))


def prune_heartbeats() -> int:
    """Forget workers silent for longer than ``heartbeat_prune_after_s``."""
    s = get_settings()
    cutoff = datetime.now(UTC) - timedelta(seconds=s.heartbeat_prune_after_s)
    with db.session() as session:
        res = session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_heartbeat < cutoff))
        return res.rowcount or 0
