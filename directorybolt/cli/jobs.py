"""Producer and inspection commands: seed, customer, enqueue, status, sweep, demo."""

from __future__ import annotations

import json
from typing import Any

import click

from directorybolt.cli.stack import services


@click.command()
@click.option("--sandbox", "sandbox_url", required=True, metavar="URL", help="Base URL of a running sandbox.")
@click.option("--customer/--no-customer", default=True, help="Also create the demo customer.")
def seed(sandbox_url: str, customer: bool) -> None:
    """Load the sandbox directory catalog (and a demo customer)."""
    from directorybolt.cli import seed as seeding
    from directorybolt.core.profiles import check_public_url

    try:
        check_public_url(sandbox_url, allow_private=True)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sandbox") from None
    services()
    ids = seeding.seed_sandbox(sandbox_url)
    click.echo(f"seeded {len(ids)} sandbox directories: {', '.join(ids)}")
    if customer:
        click.echo(f"demo customer: {seeding.customer()}")


@click.command()
@click.option("--customer", "customer_id", required=True, help="Customer id (UUID).")
@click.option("--tier", required=True, help="enterprise, pro (professional), growth or starter.")
@click.option("--fast-track", is_flag=True, help="Paid add-on: served one tier higher.")
@click.option("--directories", default=None, help="Comma-separated directory ids (default: the package).")
def enqueue(customer_id: str, tier: str, fast_track: bool, directories: str | None) -> None:
    """Create a job and send it to the workers with .delay(); prints the job id."""
    from directorybolt.queueing import intake

    services()
    accepted = intake.accept(intake.Order(
        tier=tier, customer_id=customer_id, fast_track=fast_track,
        directories=directories.split(",") if directories else None,
    ))
    click.echo(str(accepted.job_id))


def cluster_report() -> dict[str, Any]:
    """Live workers (each with its role and state: ``degraded`` while its circuit breaker
    keeps it from taking submissions) and queue depths."""
    from sqlalchemy import func, select

    from directorybolt.core.queues import all_queues
    from directorybolt.core.settings import get_settings
    from directorybolt.queueing.redis_layout import queue_depths
    from directorybolt.recovery import liveness
    from directorybolt.store import db
    from directorybolt.store.models import WorkerHeartbeat
    from directorybolt.store.services import redis_client

    stale = get_settings().stale_after_s
    with db.session() as s:
        by_state = liveness.live_by_state(s)
        now = s.scalar(select(func.now()))  # beat ages on the database's clock, as liveness judges them
        rows = list(s.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.worker_id)))
    workers = [{"worker_id": r.worker_id, "role": r.role, "state": r.state,
                "beat_age_s": round((now - r.last_heartbeat).total_seconds(), 1),
                "directory": r.current_directory_id}
               for r in rows if (now - r.last_heartbeat).total_seconds() <= stale]
    return {
        "workers": workers,
        "submission_workers": by_state["submissions"],
        "maintenance_workers": sum(by_state["maintenance"].values()),
        "queue_depth": queue_depths(redis_client(), all_queues()),
    }


def _print_cluster(report: dict[str, Any]) -> None:
    sub = report["submission_workers"]
    click.echo(f"workers: {sub.get('ok', 0)} ok, {sub.get('degraded', 0)} degraded (submissions); "
               f"{report['maintenance_workers']} maintenance")
    for w in report["workers"]:
        note = "  (not taking submissions: its browser does not launch)" if w["state"] == "degraded" else ""
        click.echo(f"  {w['worker_id']}  {w['role']}  {w['state']}  beat {w['beat_age_s']} s ago{note}")
    click.echo("queues: " + ", ".join(f"{q} {n}" for q, n in report["queue_depth"].items()))


@click.command()
@click.argument("job_id", required=False)
@click.option("--json", "as_json", is_flag=True)
def status(job_id: str | None, as_json: bool) -> None:
    """Show a job's counters and per-directory results; without JOB_ID, the workers
    (ok or degraded) and the queues."""
    from directorybolt.lifecycle.reports import job_report

    services()
    if job_id is None:
        cluster = cluster_report()
        if as_json:
            click.echo(json.dumps(cluster, indent=2))
        else:
            _print_cluster(cluster)
        return
    report = job_report(job_id)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    from rich.console import Console

    from directorybolt.cli.demo import results_table

    c = report["counts"]
    click.echo(
        f"job {report['id']}  {report['tier']}  {report['status']}  "
        f"{c['done']}/{c['total']} done: {c['submitted']} submitted, {c['failed']} failed, "
        f"{c['needs_review']} need review, {c['skipped']} skipped"
    )
    if report["status_note"]:
        click.echo(f"note: {report['status_note']}")
    Console(width=None if Console().is_terminal else 200).print(results_table(report))


@click.command()
def sweep() -> None:
    """Run the stale-job sweep once, now."""
    from directorybolt.queueing.dispatch import HANDOFF
    from directorybolt.recovery.sweep import sweep_stale_jobs

    services()
    report = sweep_stale_jobs(HANDOFF)
    click.echo(json.dumps(
        {"requeued": report.requeued, "interrupted": report.interrupted,
         "dead_lettered": report.dead_lettered, "dead_workers": report.dead_workers}, indent=2))


@click.command()
@click.option("--tier", default="pro", show_default=True)
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the job.")
@click.option("--concurrency", default=2, show_default=True)
@click.option("--serve", is_flag=True, help="Keep the console, sandbox and worker running until Ctrl-C.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="The console's port.")
def demo(tier: str, timeout: int, concurrency: int, serve: bool, port: int) -> None:
    """The main job: stack + sandbox + one job through real Chromium, with a report
    and the staff console (URL and a one-time login printed)."""
    from directorybolt.cli.demo import run_demo

    raise SystemExit(run_demo(tier=tier, timeout_s=timeout, concurrency=concurrency, serve=serve, port=port))


COMMANDS = [seed, enqueue, status, sweep, demo]
