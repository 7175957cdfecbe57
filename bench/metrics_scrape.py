"""What one /api/metrics scrape costs on a database with 1,000,000 job_results rows,
before (every scrape ran the aggregates) and after (scrapes serve a snapshot that a
background thread refreshes at most once per ``metrics_snapshot_ttl_s``).

Creates a scratch database on the configured PostgreSQL server (or the embedded one),
fills it with ``--jobs`` x ``--per-job`` results in one INSERT ... SELECT, runs both
ways side by side in one process, prints a markdown table and drops the database.

    python bench/metrics_scrape.py [--jobs 2500 --per-job 400 --scrapes 20 --out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from pathlib import Path

import psycopg


def fill(url: str, jobs: int, per_job: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO customers (id, business_name, email) VALUES "
                     "('00000000-0000-0000-0000-00000000b0b0', 'Bench', 'bench@bench.example')")
        conn.execute(f"""INSERT INTO directories (id, name, url, domain_authority, tier, active, requires_login,
                         has_captcha) SELECT 'd' || n, 'D' || n, 'https://d' || n || '.example', n % 100, 1, true,
                         false, false FROM generate_series(1, {per_job}) n""")
        conn.execute(f"""INSERT INTO jobs (id, customer_id, tier, queue, package_size, status, total, submitted,
                         failed, needs_review, skipped, version, requeue_count, fast_track, started_at, finished_at)
                         SELECT gen_random_uuid(), '00000000-0000-0000-0000-00000000b0b0', 'pro', 'submissions.pro',
                         400, (ARRAY['completed','partial','failed','in_progress'])[1 + n % 4], {per_job}, 0, 0, 0, 0,
                         1, 0, false, now() - interval '2 hours', now() - (n % 120) * interval '1 minute'
                         FROM generate_series(1, {jobs}) n""")
        conn.execute(f"""INSERT INTO job_results (job_id, directory_id, idempotency_key, status, attempts,
                         error_category)
                         SELECT j.id, 'd' || d, md5(j.id::text || d), s.status, 1,
                                CASE WHEN s.status IN ('failed', 'needs_review')
                                     THEN (ARRAY['captcha','http_5xx','form_changed','timeout'])[1 + d % 4] END
                         FROM jobs j CROSS JOIN generate_series(1, {per_job}) d
                         CROSS JOIN LATERAL (SELECT (ARRAY['submitted','submitted','submitted','failed',
                                'needs_review','skipped','pending'])[1 + abs(d + hashtext(j.id::text)) % 7]
                                AS status) s""")
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2500)
    ap.add_argument("--per-job", type=int, default=400)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None, help="Append the markdown table to this file.")
    args = ap.parse_args()

    from directorybolt.store.services import ensure_services

    ensure_services()
    from directorybolt.core.settings import get_settings, reload_settings

    admin = get_settings().database_url
    assert admin
    name = f"dbolt_bench_metrics_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}" if "?" not in admin else admin.replace("/postgres?", f"/{name}?")
    try:
        from directorybolt.store import db, migrations

        migrations.upgrade(url)
        t = time.perf_counter()
        fill(url, args.jobs, args.per_job)
        fill_s = time.perf_counter() - t
        os.environ["DIRECTORYBOLT_DATABASE_URL"] = url
        reload_settings()
        db.dispose()
        from prometheus_client import CollectorRegistry, generate_latest

        from directorybolt.api.metrics import SystemOfRecordCollector

        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT count(*) FROM job_results").fetchone()[0]
        collector = SystemOfRecordCollector(ttl_s=3600, wait_s=60)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        before, after = [], []
        for _ in range(args.scrapes):  # before: every scrape runs the aggregates
            t = time.perf_counter()
            collector.read_now()
            before.append(time.perf_counter() - t)
        generate_latest(registry)  # the first scrape waits for the first snapshot
        for _ in range(args.scrapes):  # after: scrapes serve the snapshot
            t = time.perf_counter()
            generate_latest(registry)
            after.append(time.perf_counter() - t)
        db.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    med = statistics.median
    md = (
        f"\n### /api/metrics scrape on {rows:,} job_results rows (median of {args.scrapes})\n\n"
        f"| | per scrape | database work |\n|---|---|---|\n"
        f"| before: aggregates on every scrape | {med(before) * 1000:.0f} ms (max {max(before) * 1000:.0f}) "
        f"| every scrape |\n"
        f"| after: snapshot, refreshed in the background | {med(after) * 1000:.2f} ms (max {max(after) * 1000:.2f}) "
        f"| one refresh ({med(before) * 1000:.0f} ms) per 15 s TTL per API process |\n"
        f"| **ratio** | **{med(before) / med(after):.0f}x** | |\n\n"
        f"Filled in {fill_s:.0f} s (`bench/metrics_scrape.py --jobs {args.jobs} --per-job {args.per_job}`).\n"
    )
    print(md)
    if args.out:
        with args.out.open("a") as f:
            f.write(md)


if __name__ == "__main__":
    main()
