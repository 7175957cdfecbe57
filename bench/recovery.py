"""Recovery after a worker is killed: DirectoryBolt (stale sweep + start-up recovery)
side by side with Celery's default behaviour on Redis (no sweep: a killed worker's
unacknowledged messages come back only after the visibility timeout).

Each kill: a job of 24 sandbox directories runs on a worker (`-c 2`); after 6
submissions the worker's whole process group gets SIGKILL and a fresh worker starts.
Measured: seconds from SIGKILL to the first submission finished after it, and to the
job finished. Celery's default visibility timeout is 1 hour; to measure it at all the
"celery default" mode runs with the smallest visibility timeout our limits allow
(hard limit 30 s → about 112 s), so its real figure is larger still.

    python bench/recovery.py [--kills 5] [--default-kills 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DIRS = [f"plain-{i}" for i in range(1, 21)] + ["plain", "select", "catalogstyle", "wizard"]


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def worker_cmd() -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "directorybolt.queueing.celery_app", "worker", "-c", "2",
            "-Q", "submissions.enterprise,submissions.pro,submissions.growth,submissions.starter,maintenance",
            "--without-gossip", "--without-mingle", "-l", "INFO"]


def wait_ready(log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if b" ready." in log.read_bytes():
            return
        time.sleep(0.1)
    raise TimeoutError("worker not ready")


def stop(p: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(p.pid, sig)
        p.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(p.pid, signal.SIGKILL)


def one_kill(customer: str, env: dict[str, str], logdir: Path, tag: str) -> dict[str, float]:
    from sqlalchemy import text

    from directorybolt.lifecycle import jobs
    from directorybolt.lifecycle.reports import job_report
    from directorybolt.queueing import dispatch
    from directorybolt.store import db

    log = logdir / f"{tag}-w1.log"
    w1 = start(worker_cmd(), env, log)
    wait_ready(log)
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer, tier="pro", directories=DIRS)
        job_id, queue = job.id, job.queue
    dispatch.enqueue_job(job_id, queue)
    while job_report(job_id)["counts"]["submitted"] < 6:
        time.sleep(0.05)
    with db.session() as s:
        killed_at = s.execute(text("SELECT clock_timestamp()")).scalar()
    t_kill = time.monotonic()
    stop(w1, signal.SIGKILL)
    log2 = logdir / f"{tag}-w2.log"
    w2 = start(worker_cmd(), env, log2)
    try:
        first = None
        while True:
            r = job_report(job_id)
            if first is None:
                with db.session() as s:
                    got = s.execute(text("SELECT min(finished_at) FROM job_results WHERE job_id = :j "
                                         "AND finished_at > :k"), {"j": job_id, "k": killed_at}).scalar()
                if got is not None:
                    first = (got - killed_at).total_seconds()
            if r["status"] in ("completed", "partial", "failed"):
                return {"first": first or 0.0, "finished": time.monotonic() - t_kill}
            if time.monotonic() - t_kill > 900:
                raise TimeoutError(f"job {job_id} not finished 900 s after the kill")
            time.sleep(0.2)
    finally:
        stop(w2)


def run_mode(name: str, kills: int, extra_env: dict[str, str], with_beat: bool) -> list[dict[str, float]]:
    from directorybolt.cli import seed
    from directorybolt.core.settings import reload_settings

    os.environ.update(extra_env)
    reload_settings()
    env = dict(os.environ)
    logdir = Path(tempfile.mkdtemp(prefix=f"dbolt-recovery-{name}-"))
    beat = start([sys.executable, "-m", "directorybolt", "beat"], env, logdir / "beat.log") if with_beat else None
    results = []
    try:
        for i in range(kills):
            customer = seed.customer({**seed.DEMO_PROFILE, "business_name": f"Recovery {name} {i} {time.time_ns()}"})
            results.append(one_kill(customer, env, logdir, f"{name}{i}"))
            print(f"{name} kill {i + 1}: {results[-1]}", file=sys.stderr)
    finally:
        if beat:
            stop(beat)
    return results


def summary(rows: list[dict[str, float]], key: str) -> str:
    vals = [r[key] for r in rows]
    return f"{statistics.median(vals):.1f} s / {max(vals):.1f} s"


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: never orphan a worker
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--default-kills", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("DIRECTORYBOLT_STATE_DIR", tempfile.mkdtemp(prefix="dbolt-bench-"))
    os.environ.update(DIRECTORYBOLT_BASE_PACING_MS="50", DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES="true")

    from directorybolt.cli import seed
    from directorybolt.core.settings import reload_settings
    from directorybolt.sandbox import SandboxServer
    from directorybolt.store import migrations
    from directorybolt.store.services import database_url, ensure_services

    reload_settings()
    ensure_services()
    migrations.upgrade(database_url())
    with SandboxServer(port=0) as sandbox:
        sandbox.allow_browser()
        seed.seed_sandbox(sandbox.url, clones=20)
        ours = run_mode("directorybolt", args.kills, {}, with_beat=True)
        default: list[dict[str, Any]] = []
        if args.default_kills:
            default = run_mode("celery-default", args.default_kills, {
                "DIRECTORYBOLT_RECOVER_ON_START": "false", "DIRECTORYBOLT_TASK_TIME_LIMIT_S": "30",
                "DIRECTORYBOLT_TASK_SOFT_TIME_LIMIT_S": "25", "DIRECTORYBOLT_RETRY_MAX_S": "10",
                "DIRECTORYBOLT_VISIBILITY_TIMEOUT_S": "60"}, with_beat=False)
    md = (
        "| recovery after SIGKILL of the worker group (median / max) | to first resumed submission "
        "| to job finished |\n"
        "|---|---|---|\n"
        f"| DirectoryBolt: start-up recovery + Beat sweep, {len(ours)} kills | {summary(ours, 'first')} | "
        f"{summary(ours, 'finished')} |\n"
    )
    if default:
        md += (f"| Celery default on Redis (no sweep), visibility timeout ≈112 s, {len(default)} kills | "
               f"{summary(default, 'first')} | {summary(default, 'finished')} |\n"
               "| Celery default on Redis with its default 1 h visibility timeout | ≥ 3600 s (by construction) | "
               "≥ 3600 s |\n")
    print(md)
    if args.out:
        with args.out.open("a") as f:
            f.write(md)


if __name__ == "__main__":
    main()
