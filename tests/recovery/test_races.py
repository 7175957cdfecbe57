"""The sweep against the orders of events that used to send a listing twice or lose it
(issue 11, holes 1, 6 and 10). Interleavings are forced with real PostgreSQL locks:
the test holds a row lock, waits until the sweep is blocked on it, changes the row as
a worker would, and lets the sweep go on."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text, update

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs, results
from directorybolt.queueing.dispatch import HANDOFF, CeleryHandoff
from directorybolt.recovery import liveness, sweep
from directorybolt.store import db
from directorybolt.store.models import DeadLetter, Job, JobResult, WorkerHeartbeat
from directorybolt.store.services import redis_client
from tests.recovery.test_sweep import DIRS


@pytest.fixture
def job(clean, settings_env) -> uuid.UUID:
    settings_env(death_confirm_s=0)
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter")
        jobs.start_job(s, j.id)
        return j.id


def _pg(services: Any) -> psycopg.Connection:
    return psycopg.connect(services.database_url, autocommit=False, application_name="test-holder")


def _row_id(job_id: uuid.UUID, directory: str) -> int:
    with db.session() as s:
        return s.scalar(select(JobResult.id).where(JobResult.job_id == job_id, JobResult.directory_id == directory))


def _wait_blocked(conn: psycopg.Connection, timeout: float = 20) -> None:
    """Until some directorybolt backend waits on a lock (the sweep, blocked by us)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(conn.info.dsn, autocommit=True) as probe:
            n = probe.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'directorybolt' "
                              "AND wait_event_type = 'Lock'").fetchone()[0]
        if n:
            return
        time.sleep(0.05)
    raise AssertionError("the sweep never blocked on the held row")


def _in_thread(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _age_job(job_id: uuid.UUID, seconds: float) -> None:
    with db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(
            last_heartbeat=datetime.now(UTC) - timedelta(seconds=seconds)))


def test_a_claim_between_the_sweeps_read_and_its_write_wins(job, services):
    """Hole 1: the sweep saw a quiet pending row missing from the broker; before its write
    a worker claims the row (the message had just been popped). The sweep must not
    re-send it to a second worker."""
    _age_job(job, 600)
    row = _row_id(job, "a")
    with _pg(services) as holder:
        holder.execute("SELECT 1 FROM job_results WHERE id = %s FOR UPDATE", (row,))
        t, out = _in_thread(lambda: sweep.sweep_stale_jobs(HANDOFF))
        _wait_blocked(holder)
        holder.execute("UPDATE job_results SET status = 'submitting', worker_id = 'alive:1:aa', "
                       "attempts = attempts + 1, claimed_at = now() WHERE id = %s", (row,))
        holder.commit()
        t.join(30)
    assert "error" not in out, out
    report = out["value"]
    assert "a" not in report.requeued.get(str(job), [])
    with db.session() as s:
        r = s.get(JobResult, row)
        assert (r.status, r.worker_id, r.requeues) == ("submitting", "alive:1:aa", 0)
    queued = redis_client().lrange("submissions.starter", 0, -1)
    assert not any(b'"a"' in m or b"'a'" in m for m in queued), "the claimed row was sent to a second worker"


def test_the_sweep_takes_locks_in_the_same_order_as_the_recorder(job, services):
    """Hole 1: a recorder holds its result row and then updates the job; the sweep must
    not be holding the job row while it waits for that result row (deadlock)."""
    _worker("gone:7:aa", age_s=600)
    _claim(job, "a", "gone:7:aa")
    row = _row_id(job, "a")
    with _pg(services) as recorder:
        recorder.execute("SET lock_timeout = '10s'")
        recorder.execute("UPDATE job_results SET updated_at = now() WHERE id = %s", (row,))
        t, out = _in_thread(lambda: sweep.sweep_stale_jobs(HANDOFF))
        _wait_blocked(recorder)
        recorder.execute("UPDATE jobs SET last_heartbeat = now() WHERE id = %s", (job,))  # deadlocked here before
        recorder.commit()
        t.join(30)
    assert "error" not in out, out
    assert out["value"].requeued == {str(job): ["a"]}


def test_many_sweeps_at_once_send_each_lost_row_once(job):
    _worker("gone:8:aa", age_s=600)
    for d in ("a", "b", "c"):
        _claim(job, d, "gone:8:aa")
    barrier = threading.Barrier(4)

    def one() -> sweep.SweepReport:
        barrier.wait(10)
        return sweep.sweep_stale_jobs(HANDOFF)

    runs = [_in_thread(one) for _ in range(4)]
    for t, _ in runs:
        t.join(60)
    assert all("error" not in out for _, out in runs), [out.get("error") for _, out in runs]
    sent = sorted(d for _, out in runs for d in out["value"].requeued.get(str(job), []))
    assert sent == ["a", "b", "c"]
    assert redis_client().llen("submissions.starter") == 3
    with db.session() as s:
        assert set(s.scalars(select(JobResult.requeues).where(JobResult.job_id == job))) == {1}


# ---- hole 6: who a worker is, and when it is dead ---------------------------------------


def _worker(worker_id: str, age_s: float, host: str = "elsewhere", pid: int = 1) -> None:
    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id=worker_id, hostname=host, pid=pid,
                              last_heartbeat=datetime.now(UTC) - timedelta(seconds=age_s)))


def _claim(job_id: uuid.UUID, directory: str, worker: str, *, ago_s: float = 300) -> None:
    with db.session() as s:
        s.execute(update(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == directory).values(
            status="submitting", worker_id=worker, attempts=1, claimed_at=datetime.now(UTC) - timedelta(seconds=ago_s)))


def test_worker_identity_is_unique_per_process_start():
    me = liveness.worker_id()
    host, pid, nonce = me.split(":")
    assert (host, int(pid)) == (socket.gethostname(), os.getpid()) and len(nonce) == 6
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a forked pool child with the parent's memory
        os.write(write, liveness.worker_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    theirs = os.read(read, 200).decode()
    assert theirs.split(":")[2] != nonce
    earlier_me = f"{socket.gethostname()}:{os.getpid()}:000000"
    assert liveness.is_dead_here(earlier_me), "an earlier process with my pid is dead, not me"
    assert not liveness.is_dead_here(me)


def test_a_claim_of_an_earlier_process_with_the_same_pid_is_taken_over(job):
    """A restarted container reuses small pids: the old claim must not look alive."""
    earlier = f"{socket.gethostname()}:{os.getpid()}:000000"
    _claim(job, "a", earlier, ago_s=1)
    me = liveness.current()
    with db.session() as s:
        got = results.claim(s, job, "a", me.worker_id, me.is_dead_here)
    assert isinstance(got, results.Claimed) and got.attempt == 2


def test_a_database_outage_kills_nobody(job, settings_env):
    """After an outage longer than stale_after_s every beat has lapsed; the first sweep
    only suspects, the workers beat again, and the next sweep finds them alive."""
    settings_env(death_confirm_s=0.5)
    beats = [liveness.Heartbeat(interval=60) for _ in range(2)]
    for hb, d in zip(beats, ("a", "b"), strict=True):
        hb.beat()
        _claim(job, d, hb.worker_id, ago_s=300)
    _worker("silent:1:aa", age_s=300)
    _claim(job, "c", "silent:1:aa")
    with db.session() as s:
        s.execute(text("UPDATE worker_heartbeats SET last_heartbeat = now() - interval '300 seconds'"))
    first = sweep.sweep_stale_jobs(HANDOFF)
    assert first.requeued == {} and first.dead_workers == []
    for hb in beats:
        hb.beat()  # the live workers' next beat after the outage
    time.sleep(0.6)
    second = sweep.sweep_stale_jobs(HANDOFF)
    assert second.dead_workers == ["silent:1:aa"]
    assert second.requeued == {str(job): ["c"]}


# ---- hole 10: bounded, and nothing published before the commit --------------------------


def test_one_sweep_acts_on_a_bounded_batch(clean, settings_env):
    settings_env(death_confirm_s=0, sweep_batch=4)
    seed.upsert_directories([{**d, "id": f"{d['id']}{i}"} for d in DIRS for i in range(3)])
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter")
        jobs.start_job(s, j.id)
    _worker("gone:9:aa", age_s=600)
    with db.session() as s:
        s.execute(update(JobResult).values(status="submitting", worker_id="gone:9:aa", attempts=1,
                                           claimed_at=datetime.now(UTC) - timedelta(seconds=600)))
    assert len(sweep.sweep_stale_jobs(HANDOFF).requeued[str(j.id)]) == 4
    assert len(sweep.sweep_stale_jobs(HANDOFF).requeued[str(j.id)]) == 4
    assert len(sweep.sweep_stale_jobs(HANDOFF).requeued[str(j.id)]) == 1


def test_the_broker_scan_is_bounded_and_an_unread_broker_proves_nothing(job, settings_env):
    settings_env(sweep_broker_scan=10)
    from directorybolt.queueing import dispatch

    dispatch.send_submissions(uuid.uuid4(), [f"x{i}" for i in range(30)], "submissions.starter")
    _age_job(job, 600)
    report = sweep.sweep_stale_jobs(HANDOFF)
    assert report.requeued == {} and report.deferred == 3
    assert redis_client().llen("submissions.starter") == 30


class _Watching(CeleryHandoff):
    """Looks, at the moment the dead letter is published, whether its row is committed."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.visible: list[bool] = []

    def publish_dead_letter(self, payload: bytes) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as c:
            self.visible.append(c.execute("SELECT count(*) FROM dead_letters").fetchone()[0] > 0)
        super().publish_dead_letter(payload)


def test_dead_letters_are_published_only_after_their_commit(job, services):
    with db.session() as s:
        s.execute(update(JobResult).where(JobResult.job_id == job, JobResult.directory_id == "a").values(requeues=3))
    _worker("gone:10:aa", age_s=600)
    _claim(job, "a", "gone:10:aa")
    watching = _Watching(services.database_url)
    report = sweep.sweep_stale_jobs(watching)
    assert report.dead_lettered == [f"{job}/a"]
    assert watching.visible == [True], "published before the row it describes was committed"
    with db.session() as s:
        assert s.scalar(select(DeadLetter.state)) == "open"
