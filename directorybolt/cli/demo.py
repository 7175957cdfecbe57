"""``directorybolt demo``: the whole system on one machine, end to end.

Starts (or uses) Redis and PostgreSQL, serves the sandbox directories, runs a real
worker and beat, enqueues one job with ``.delay()``, shows live progress and prints
the per-directory report. Retry backoff is shortened for the demo only (printed),
so a directory that fails transiently is retried within seconds, not minutes.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

DEMO_ENV = {
    "DIRECTORYBOLT_RETRY_BASE_S": "2",
    "DIRECTORYBOLT_RETRY_MAX_S": "10",
    "DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES": "true",
}

STATUS_STYLE = {"submitted": "green", "failed": "red", "needs_review": "yellow", "skipped": "dim"}


def results_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"job {report['id']} — {report['status']}")
    for col in ("directory", "status", "attempts", "duration", "detail"):
        table.add_column(col, overflow="fold")
    table.add_column("screenshot", no_wrap=True)
    for r in report["results"]:
        style = STATUS_STYLE.get(r["status"], "")
        detail = f"{r['error_category']}: {r['error_message']}" if r["error_category"] else ""
        table.add_row(
            r["directory"], f"[{style}]{r['status']}[/]" if style else r["status"], str(r["attempts"]),
            f"{r['duration_ms']} ms" if r["duration_ms"] is not None else "", detail[:120], r["screenshot"] or "",
        )
    return table


def run_demo(*, tier: str = "pro", timeout_s: float = 300, concurrency: int = 2, serve: bool = False,
             port: int = 8000) -> int:
    from directorybolt.cli import seed
    from directorybolt.cli.stack import children, migrate_head, require_browser, self_command
    from directorybolt.core.settings import get_settings, reload_settings
    from directorybolt.queueing import intake
    from directorybolt.sandbox import SandboxServer
    from directorybolt.store.services import ensure_services

    require_browser("demo")  # before anything starts: a newcomer without Chromium learns it in seconds
    console = Console(width=None if Console().is_terminal else 200)
    os.environ.update(DEMO_ENV)
    reload_settings()
    t0 = time.perf_counter()
    embedded = ensure_services()
    if embedded is not None:
        console.print(f"embedded Redis + PostgreSQL started in {embedded.startup_s:.2f} s under {embedded.state_dir}")
    migrate_head()
    console.print("demo settings: retry backoff 2 s doubling (production: 30 s, 60 s, 120 s)")
    with SandboxServer(port=0) as sandbox:
        sandbox.allow_browser()
        console.print(f"sandbox directories at {sandbox.url}")
        directory_ids = seed.seed_sandbox(sandbox.url)
        customer_id = seed.customer()
        procs = [
            self_command("worker", "-c", str(concurrency), "-n", f"demo-{os.getpid()}@%h"),
            self_command("beat"),
            self_command("api", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
        ]
        log = get_settings().state_dir / "logs" / "demo-stack.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"worker and beat logs: {log}")
        with children(procs, log=log) as running:
            _console_login(console, port, running)
            accepted = intake.accept(intake.Order(tier=tier, customer_id=customer_id, directories=directory_ids))
            job_id, queue = accepted.job_id, accepted.queue
            console.print(f"enqueued job {job_id} ({tier}, {len(directory_ids)} directories) on {queue}")
            report = _follow(console, str(job_id), timeout_s, running)
            _summary(console, report, t0)
            console.print(f"console: http://127.0.0.1:{port}/console/jobs/{job_id}")
            if serve:
                _serve_until_interrupted(console, running)
    finished = report["status"] in ("completed", "partial", "failed")
    return 0 if finished else 1


def _summary(console: Console, report: dict[str, Any], t0: float) -> None:
    console.print(results_table(report))
    c = report["counts"]
    console.print(
        f"{report['status']}: {c['submitted']} submitted, {c['failed']} failed, {c['needs_review']} need review, "
        f"{c['skipped']} skipped in {time.perf_counter() - t0:.1f} s"
    )
    if c["needs_review"]:
        console.print(f"{c['needs_review']} directories wait for a person: the console's review queue, or "
                      "`directorybolt review list`")


def _console_login(console: Console, port: int, running: list[Any]) -> None:
    """Wait for the API (it serves the console), then print its URL and a one-time
    staff login (the ``demo`` account, created or given a new password)."""
    import httpx

    from directorybolt.core.errors import ConflictError
    from directorybolt.store import staff

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and all(p.poll() is None for p in running):
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/openapi.json", timeout=2)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    try:
        password = staff.create("demo")
    except ConflictError:
        password = staff.reset("demo")
    console.print(f"staff console: http://127.0.0.1:{port}/console  (sign in as [bold]demo[/], one-time "
                  f"password [bold]{password}[/])")


def _serve_until_interrupted(console: Console, running: list[Any]) -> None:
    console.print("serving the console, the sandbox and the worker until Ctrl-C")
    try:
        while all(p.poll() is None for p in running):
            time.sleep(0.5)
        console.print("[red]a process of the stack exited; stopping[/]")
    except KeyboardInterrupt:
        console.print("stopping…")


def _follow(console: Console, job_id: str, timeout_s: float, running: list[Any]) -> dict[str, Any]:
    from directorybolt.lifecycle.reports import job_report

    deadline = time.monotonic() + timeout_s
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("submitting", total=None)
        while True:
            report = job_report(job_id)
            c = report["counts"]
            progress.update(bar, total=c["total"] or None, completed=c["done"],
                            description=f"{report['status']:<11} ✓{c['submitted']} ✗{c['failed']} ?{c['needs_review']}")
            if report["status"] in ("completed", "partial", "failed", "cancelled"):
                return report
            if time.monotonic() > deadline or any(p.poll() is not None for p in running):
                console.print("[red]the job did not finish in time or a process died[/]")
                return report
            time.sleep(0.5)
