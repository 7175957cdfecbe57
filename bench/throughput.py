"""Submissions/hour with 2 worker processes against the sandbox, and the bookkeeping
overhead per submission (everything but the browser work and the pacing wait).

Throughput: real Celery worker processes (`-c 2`), real Chromium, real sandbox; jobs
over the sandbox directories that succeed at once. Bookkeeping: the same library call
the task makes (`submission.submit`), timed in this process, minus the browser's part.

    python bench/throughput.py [--jobs 6] [--bookkeeping 40]

Uses DIRECTORYBOLT_DATABASE_URL / REDIS_URL when set, else the embedded servers.
Pacing is lowered to 50 ms so the sandbox's handful of directories does not make
the pacing, rather than the worker, the limit.
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

ROOT = Path(__file__).resolve().parents[1]
FAST_DIRS = ["plain", "select", "catalogstyle", "nomap", "wizard"]


def bookkeeping(submissions, db, jobs, customer: str, n: int) -> list[float]:
    """Median-friendly samples of Outcome.overhead_ms for n single-directory jobs."""
    from directorybolt.recovery import liveness

    samples = []
    for i in range(n):
        with db.session() as s:
            j, _ = jobs.create_job(s, customer_id=customer, tier="pro", directories=["plain"])
            jobs.start_job(s, j.id)
        out = submissions.submit(j.id, "plain", liveness.current())
        if i >= 3 and out.overhead_ms is not None:
            samples.append(out.overhead_ms)
    return samples


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: never orphan a worker
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=6)
    ap.add_argument("--bookkeeping", type=int, default=40, help="in-process submissions timed for overhead")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("DIRECTORYBOLT_STATE_DIR", tempfile.mkdtemp(prefix="dbolt-bench-"))
    os.environ["DIRECTORYBOLT_BASE_PACING_MS"] = "0"
    os.environ["DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES"] = "true"

    from directorybolt.cli import seed
    from directorybolt.core.settings import reload_settings
    from directorybolt.execution import submission as submissions
    from directorybolt.execution.browser.pool import close_pool
    from directorybolt.lifecycle import jobs
    from directorybolt.lifecycle.reports import job_report
    from directorybolt.queueing import dispatch
    from directorybolt.sandbox import SandboxServer
    from directorybolt.store import db, migrations
    from directorybolt.store.services import database_url, ensure_services

    reload_settings()
    ensure_services()
    migrations.upgrade(database_url())
    with SandboxServer(port=0) as sandbox:
        sandbox.allow_browser()
        seed.seed_sandbox(sandbox.url)
        customers = [seed.customer({**seed.DEMO_PROFILE, "business_name": f"Bench {i} {time.time_ns()}"})
                     for i in range(args.jobs + 1)]

        # Bookkeeping, in process: the library path a task runs (claim, cache reads, pacing
        # reservation, record + finalise), measured (a) in situ with the real browser in the
        # same process and (b) isolated, with the browser step replaced by a no-op.
        in_situ = bookkeeping(submissions, db, jobs, customers[-1], args.bookkeeping)
        close_pool()
        real_drive, real_prepare = submissions._drive, submissions.prepare_browser
        # The fence before the click is bookkeeping too (one statement): keep it.
        submissions._drive = lambda ctx, process: (submissions._commit_point(ctx, process), (None, 0))[1]
        submissions.prepare_browser = lambda: None
        isolated = bookkeeping(submissions, db, jobs, customers[-1], args.bookkeeping)
        submissions._drive, submissions.prepare_browser = real_drive, real_prepare

        env = dict(os.environ)
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "directorybolt.queueing.celery_app", "worker", "-c", "2",
             "-Q", "submissions.enterprise,submissions.pro,submissions.growth,submissions.starter",
             "--without-gossip", "--without-mingle", "-l", "WARNING"],
            cwd=ROOT, env=env, start_new_session=True)
        try:
            time.sleep(4)
            t0 = time.perf_counter()
            ids = []
            for c in customers[: args.jobs]:
                with db.session() as s:
                    j, _ = jobs.create_job(s, customer_id=c, tier="pro", directories=FAST_DIRS)
                    ids.append((j.id, j.queue))
            for jid, q in ids:
                dispatch.enqueue_job(jid, q)
            done = 0
            while done < len(ids) and time.perf_counter() - t0 < 900:
                done = sum(job_report(j)["status"] in ("completed", "partial", "failed") for j, _ in ids)
                time.sleep(0.5)
            elapsed = time.perf_counter() - t0
            reports = [job_report(j) for j, _ in ids]
        finally:
            os.killpg(worker.pid, 15)
            worker.wait(30)
    n_sub = sum(r["counts"]["submitted"] for r in reports)
    per_hour = n_sub / elapsed * 3600
    med = statistics.median(isolated)
    md = (
        f"| figure | value |\n|---|---|\n"
        f"| submissions (2 worker processes, {args.jobs} jobs × {len(FAST_DIRS)} directories) "
        f"| {n_sub} in {elapsed:.1f} s |\n"
        f"| **throughput** | **{per_hour:,.0f} submissions/hour** |\n"
        f"| bookkeeping per submission, isolated (browser step a no-op), median of {len(isolated)} | "
        f"**{med:.2f} ms** (p90 {statistics.quantiles(isolated, n=10)[-1]:.2f} ms) |\n"
        f"| bookkeeping per submission, in situ (real Chromium in the same process), median | "
        f"{statistics.median(in_situ):.2f} ms (p90 {statistics.quantiles(in_situ, n=10)[-1]:.2f} ms) |\n"
    )
    print(md)
    if args.out:
        with args.out.open("a") as f:
            f.write(md)
    if med > 5:
        print(f"bookkeeping median {med:.2f} ms is over the 5 ms target", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
