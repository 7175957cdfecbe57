"""Soak: many jobs through two worker processes with the browser pool, watching for
the slow leaks a short benchmark cannot see (memory, connections, latency drift).

    python bench/soak.py --jobs 200 --directories 10 [--workers 2] [--out docs/benchmarks-soak.md]

Runs real Celery workers (``--workers`` workers of ``-c 1`` each, so each process is
measured on its own), real Chromium, and the sandbox directory sites; enqueues every
job at once with ``dispatch.enqueue_job`` and reports:

* throughput (submissions/hour, jobs/hour) and p50/p99 job run time and turnaround;
* worker memory: RSS (and PSS, which does not double-count shared pages) of each
  worker's whole process tree (Celery parent, pool child, Playwright driver,
  Chromium) at start, at 20 % and at 100 % of jobs finished. Growth is measured
  from the 20 % mark, after the browser and caches have warmed up; target < 10 %;
* peak PostgreSQL connections (``pg_stat_activity`` sampled every 0.5 s).

Directories: the sandbox has one flow per directory id and only six succeed at the
first attempt (plain, wizard, select, catalogstyle, nomap, slow). To get
``--directories`` distinct directories without retries the soak seeds clones of those
six under ids ``soak-<flow>-<n>``, pointing at the same sandbox pages with the same
plans (pacing is per directory id, so clones pace independently, like real ones).

Pacing is lowered to 50 ms (``DIRECTORYBOLT_BASE_PACING_MS``; production 1500 ms) so
that a sandbox catalog of ten directories, rather than the workers, is not what limits
throughput: with 10 directories and 2 processes each directory is visited about every
2.5 s anyway, but a burst at the start would otherwise wait on pacing.

Uses DIRECTORYBOLT_DATABASE_URL / REDIS_URL when set, else the embedded servers.
Exit status 1 when a job does not finish or memory grows by 10 % or more.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIRST_TRY_FLOWS = ["plain", "wizard", "select", "catalogstyle", "nomap", "slow"]
TERMINAL = ("completed", "partial", "failed", "cancelled")
GROWTH_TARGET = 0.10


@dataclass
class MemorySample:
    label: str
    rss_mb: list[float]
    pss_mb: list[float | None]
    processes: list[int]


@dataclass
class Soak:
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    samples: list[MemorySample] = field(default_factory=list)
    peak_connections: int = 0
    connection_samples: list[int] = field(default_factory=list)


def soak_directories(base_url: str, n: int) -> list[dict[str, Any]]:
    """``n`` catalog entries cloned from the sandbox flows that succeed at once."""
    from directorybolt.sandbox import sandbox_directories

    by_id = {d["id"]: d for d in sandbox_directories(base_url)}
    entries = []
    for i in range(n):
        flow = FIRST_TRY_FLOWS[i % len(FIRST_TRY_FLOWS)]
        entries.append({**by_id[flow], "id": f"soak-{flow}-{i}", "name": f"Soak {flow} {i}",
                        "domain_authority": 60, "tier": 1})
    return entries


def tree_memory(pid: int) -> tuple[float, float | None, int]:
    """(RSS MB, PSS MB or None, process count) of a process and all its descendants."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, None, 0
    rss, pss, pss_ok = 0, 0, True
    for p in procs:
        try:
            rss += p.memory_info().rss
            if pss_ok:
                pss += p.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except (psutil.AccessDenied, AttributeError):
            pss_ok = False
    return rss / 2**20, (pss / 2**20 if pss_ok else None), len(procs)


def sample_memory(soak: Soak, label: str) -> MemorySample:
    figures = [tree_memory(w.pid) for w in soak.workers]
    s = MemorySample(label, [f[0] for f in figures], [f[1] for f in figures], [f[2] for f in figures])
    soak.samples.append(s)
    return s


def watch_connections(soak: Soak, stop: threading.Event) -> None:
    """Peak backends connected to our database, whoever holds them."""
    import psycopg

    from directorybolt.store.services import database_url

    with psycopg.connect(database_url(), autocommit=True) as conn:
        while not stop.is_set():
            n = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            soak.connection_samples.append(int(n))
            soak.peak_connections = max(soak.peak_connections, int(n))
            stop.wait(0.5)


def start_workers(n: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    from directorybolt.core.queues import all_queues

    queues = ",".join(q for q in all_queues() if q.startswith("submissions."))
    procs = []
    for i in range(n):
        log = open(log_dir / f"soak-worker{i}.log", "wb")  # noqa: SIM115 - lives as long as the worker
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "directorybolt.queueing.celery_app", "worker", "-c", "1", "--pool",
             "prefork", "-Q", queues, "-n", f"soak{i}-{os.getpid()}@%h", "--without-gossip", "--without-mingle",
             "-l", "INFO"],
            cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        ))
    deadline = time.monotonic() + 90
    for i, p in enumerate(procs):
        log_path = log_dir / f"soak-worker{i}.log"
        while b" ready." not in log_path.read_bytes():
            if p.poll() is not None or time.monotonic() > deadline:
                stop_workers(procs)
                raise SystemExit(f"worker {i} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def finished_count(ids: list[uuid.UUID]) -> int:
    from sqlalchemy import text

    from directorybolt.store import db

    with db.session() as s:
        return int(s.execute(text("SELECT count(*) FROM jobs WHERE id = ANY(:ids) AND status = ANY(:t)"),
                             {"ids": ids, "t": list(TERMINAL)}).scalar_one())


def job_figures(ids: list[uuid.UUID]) -> dict[str, Any]:
    from sqlalchemy import text

    from directorybolt.store import db

    with db.session() as s:
        rows = s.execute(text(
            """
            SELECT status, submitted, failed, needs_review, skipped, total,
                   extract(epoch FROM finished_at - started_at) AS run_s,
                   extract(epoch FROM finished_at - created_at) AS turnaround_s
            FROM jobs WHERE id = ANY(:ids)
            """), {"ids": ids}).all()
        retries = s.execute(text("SELECT count(*) FROM job_results WHERE job_id = ANY(:ids) AND attempts > 1"),
                            {"ids": ids}).scalar_one()
    return {"rows": rows, "retried": int(retries)}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: p99 of 200 jobs is the 198th)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def growth(a: float | None, b: float | None) -> float | None:
    return None if not a or b is None else (b - a) / a


def markdown(args: argparse.Namespace, soak: Soak, elapsed: float, figures: dict[str, Any]) -> str:
    rows = figures["rows"]
    done = [r for r in rows if r.status in TERMINAL]
    submitted = sum(r.submitted for r in rows)
    failed = sum(r.failed for r in rows)
    review = sum(r.needs_review for r in rows)
    run = [float(r.run_s) for r in done if r.run_s is not None]
    turnaround = [float(r.turnaround_s) for r in done if r.turnaround_s is not None]
    by_label = {s.label: s for s in soak.samples}
    start, mark20, mark100 = by_label.get("start"), by_label.get("20 %"), by_label.get("100 %")
    lines = [
        f"## Soak: {args.jobs} jobs × {args.directories} directories, {args.workers} worker processes",
        "",
        f"Real Celery workers (`-c 1` each), Debian Chromium through the browser pool, the sandbox "
        f"directories; pacing {os.environ['DIRECTORYBOLT_BASE_PACING_MS']} ms (production 1500 ms, see bench/soak.py). "
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| jobs finished | {len(done)} / {args.jobs} ({sum(r.status == 'completed' for r in done)} completed) |",
        f"| submissions | {submitted} submitted, {failed} failed, {review} needs review; "
        f"{figures['retried']} needed a retry |",
        f"| wall time | {elapsed:.1f} s |",
        f"| **throughput** | **{submitted / elapsed * 3600:,.0f} submissions/hour** "
        f"({submitted / elapsed * 3600 / args.workers:,.0f} per worker process), "
        f"{len(done) / elapsed * 3600:,.0f} jobs/hour |",
    ]
    if run:
        lines.append(f"| job run time (started → finished) | p50 {pct(run, 0.5):.1f} s, p99 {pct(run, 0.99):.1f} s |")
        lines.append(f"| job turnaround (enqueued → finished, all enqueued at once) | "
                     f"p50 {pct(turnaround, 0.5):.1f} s, p99 {pct(turnaround, 0.99):.1f} s |")
    lines.append(f"| peak PostgreSQL connections | {soak.peak_connections} "
                 f"(median {statistics.median(soak.connection_samples or [0]):.0f}) |")
    lines += ["", "Worker memory, per worker process tree (Celery parent + pool child + Playwright + Chromium):", "",
              "| worker | RSS start | RSS at 20 % | RSS at 100 % | growth 20 → 100 % | PSS at 20 % | PSS at 100 % "
              "| growth (PSS) |",
              "|---|---|---|---|---|---|---|---|"]
    for i in range(args.workers):
        def mb(s: MemorySample | None, kind: str, i: int = i) -> str:
            v = None if s is None else (s.rss_mb[i] if kind == "rss" else s.pss_mb[i])
            return "n/a" if v is None else f"{v:.0f} MB"

        g_rss = growth(mark20 and mark20.rss_mb[i], mark100 and mark100.rss_mb[i])
        g_pss = growth(mark20 and mark20.pss_mb[i], mark100 and mark100.pss_mb[i])
        fmt = lambda g: "n/a" if g is None else f"{g:+.1%}"  # noqa: E731
        lines.append(f"| {i} | {mb(start, 'rss')} | {mb(mark20, 'rss')} | {mb(mark100, 'rss')} | {fmt(g_rss)} "
                     f"| {mb(mark20, 'pss')} | {mb(mark100, 'pss')} | {fmt(g_pss)} |")
    lines += ["", f"Target: growth between the 20 % and 100 % marks below {GROWTH_TARGET:.0%}. Chromium is relaunched "
              f"every {os.environ.get('DIRECTORYBOLT_BROWSER_RECYCLE_AFTER', '100')} submissions and pool children "
              "are replaced per `worker_max_tasks_per_child`, so single samples move; the trend is what counts.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--directories", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (each a `celery worker -c 1`)")
    ap.add_argument("--tier", default="pro")
    ap.add_argument("--pacing-ms", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=None, help="seconds (default scales with the work)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs/benchmarks-soak.md")
    args = ap.parse_args()
    os.environ.setdefault("DIRECTORYBOLT_STATE_DIR", tempfile.mkdtemp(prefix="dbolt-soak-"))
    os.environ["DIRECTORYBOLT_BASE_PACING_MS"] = str(args.pacing_ms)
    os.environ["DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES"] = "true"
    os.environ.setdefault("DIRECTORYBOLT_RETRY_BASE_S", "2")
    os.environ.setdefault("DIRECTORYBOLT_RETRY_MAX_S", "10")
    sys.path.insert(0, str(ROOT))

    from directorybolt.cli import seed
    from directorybolt.core.settings import get_settings, reload_settings
    from directorybolt.lifecycle import jobs
    from directorybolt.queueing import dispatch
    from directorybolt.sandbox import SandboxServer
    from directorybolt.store import db, migrations
    from directorybolt.store.services import database_url, ensure_services

    reload_settings()
    ensure_services()
    migrations.upgrade(database_url())
    state_dir = get_settings().state_dir
    timeout = args.timeout or 120 + args.jobs * args.directories * 2.0 / args.workers
    soak = Soak()
    with SandboxServer(port=0) as sandbox:
        sandbox.allow_browser()
        directory_ids = seed.upsert_directories(soak_directories(sandbox.url, args.directories))
        run_tag = time.time_ns()
        customers = [seed.customer({**seed.DEMO_PROFILE, "business_name": f"Soak {i} {run_tag}"})
                     for i in range(args.jobs)]
        stop = threading.Event()
        watcher = threading.Thread(target=watch_connections, args=(soak, stop), daemon=True)
        soak.workers = start_workers(args.workers, state_dir)
        try:
            watcher.start()
            sample_memory(soak, "start")
            ids: list[uuid.UUID] = []
            t0 = time.perf_counter()
            for c in customers:
                with db.session() as s:
                    job, _ = jobs.create_job(s, customer_id=c, tier=args.tier, directories=directory_ids)
                    ids.append(job.id)
                    queue = job.queue
                dispatch.enqueue_job(job.id, queue)
            mark = math.ceil(0.2 * len(ids))
            done, last_print = 0, 0.0
            while done < len(ids):
                if time.perf_counter() - t0 > timeout:
                    print(f"timed out after {timeout:.0f} s with {done}/{len(ids)} jobs finished", file=sys.stderr)
                    break
                if any(w.poll() is not None for w in soak.workers):
                    print("a worker exited during the soak; see its log under " + str(state_dir), file=sys.stderr)
                    break
                done = finished_count(ids)
                if done >= mark and not any(s.label == "20 %" for s in soak.samples):
                    sample_memory(soak, "20 %")
                if time.perf_counter() - last_print > 15:
                    last_print = time.perf_counter()
                    print(f"  {done}/{len(ids)} jobs finished after {last_print - t0:.0f} s", file=sys.stderr)
                time.sleep(0.5)
            elapsed = time.perf_counter() - t0
            if done == len(ids):
                sample_memory(soak, "100 %")
        finally:
            stop.set()
            stop_workers(soak.workers)
            watcher.join(timeout=5)
    report = markdown(args, soak, elapsed, job_figures(ids))
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("# Soak benchmark\n\n" + report)
    by_label = {s.label: s for s in soak.samples}
    failed = done < len(ids)
    if "20 %" in by_label and "100 %" in by_label:
        for i in range(args.workers):
            g = growth(by_label["20 %"].rss_mb[i], by_label["100 %"].rss_mb[i])
            if g is not None and g >= GROWTH_TARGET:
                print(f"worker {i}: RSS grew {g:.1%} between the 20 % and 100 % marks (target < 10 %)",
                      file=sys.stderr)
                failed = True
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
