"""Producer and inspection commands: seed, customer, enqueue, status, sweep, demo."""

from __future__ import annotations

import json

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


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
def status(job_id: str, as_json: bool) -> None:
    """Show a job's counters and per-directory results."""
    from directorybolt.lifecycle.reports import job_report

    services()
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
