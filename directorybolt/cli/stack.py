"""Commands that run processes: migrate, worker, beat, up, sandbox, flower."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from directorybolt.core.settings import canonical_tier, get_settings


def services() -> None:
    """Resolve the services (embedded when nothing is configured) and check they answer."""
    from sqlalchemy import text

    from directorybolt.store import db
    from directorybolt.store.services import ensure_services, redis_client

    ensure_services()
    with db.session() as s:
        s.execute(text("SELECT 1"))
    redis_client().ping()


def require_browser(command: str, queues: list[str] | None = None) -> None:
    """Launch and close the browser once before anything consumes a submission queue;
    when it cannot, one line (the path tried, how to get a browser) and exit status 2.
    Skipped when ``queues`` holds no submission queue (a maintenance-only worker)."""
    from directorybolt.core.queues import submission_queues_among
    from directorybolt.execution.browser.preflight import exit_unless_launchable

    if queues is None or submission_queues_among(queues):
        exit_unless_launchable(command)


def migrate_head() -> None:
    from directorybolt.store import migrations
    from directorybolt.store.services import database_url

    services()
    migrations.upgrade(database_url())


@click.command()
@click.option("--downgrade", "downgrade_to", default=None, metavar="REV", help="Downgrade to REV (e.g. base).")
def migrate(downgrade_to: str | None) -> None:
    """Upgrade the database schema to the latest revision."""
    from directorybolt.store import migrations
    from directorybolt.store.services import database_url

    services()
    if downgrade_to:
        migrations.downgrade(database_url(), downgrade_to)
        click.echo(f"downgraded to {downgrade_to}")
        return
    migrations.upgrade(database_url())
    click.echo(f"database at revision {migrations.current(database_url())}")


def worker_queues(tiers: str, maintenance: bool) -> list[str]:
    from directorybolt.core.queues import MAINTENANCE_QUEUE, tier_queue

    s = get_settings()
    wanted = s.tiers_by_priority() if tiers == "all" else [canonical_tier(t) for t in tiers.split(",") if t.strip()]
    for t in wanted:
        s.tier(t)
    ordered = [t for t in s.tiers_by_priority() if t in wanted]
    return [tier_queue(t) for t in ordered] + ([MAINTENANCE_QUEUE] if maintenance else [])


def worker_argv(queues: list[str], concurrency: int, autoscale: str | None, name: str | None) -> list[str]:
    argv = ["worker", "-Q", ",".join(queues), "-l", "INFO", "--pool", "prefork"]
    argv += ["--autoscale", autoscale] if autoscale else ["-c", str(concurrency)]
    if name:
        argv += ["-n", name]
    return argv


@click.command()
@click.option("--tiers", default="all", show_default=True, help="Comma-separated tiers to consume, highest first.")
@click.option("--maintenance/--no-maintenance", default=True, show_default=True, help="Also consume maintenance.")
@click.option("-c", "--concurrency", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--autoscale", default=None, metavar="MAX,MIN", help="Let the pool grow and shrink.")
@click.option("-n", "--name", default=None, help="Celery node name.")
def worker(tiers: str, maintenance: bool, concurrency: int, autoscale: str | None, name: str | None) -> None:
    """Run a Celery worker consuming the chosen tier queues in priority order."""
    from directorybolt.queueing.celery_app import app

    queues = worker_queues(tiers, maintenance)
    require_browser("worker", queues)
    services()
    app.worker_main(worker_argv(queues, concurrency, autoscale, name))


@click.command()
def beat() -> None:
    """Run Celery Beat (one per cluster: a second one waits on the Redis lock)."""
    from directorybolt.queueing.beatlock import hold_beat_lock
    from directorybolt.queueing.celery_app import app

    services()
    schedule = get_settings().state_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    with hold_beat_lock():
        app.start(["beat", "-l", "INFO", "-s", str(schedule)])


@contextmanager
def children(commands: list[list[str]], log: Path | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start processes in their own groups (output to ``log`` if given); stop them all
    (TERM, then KILL) on exit."""
    out = open(log, "ab") if log else None
    procs = [subprocess.Popen(cmd, start_new_session=True, stdout=out, stderr=subprocess.STDOUT if out else None)
             for cmd in commands]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if out:
            out.close()


def self_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "directorybolt", *args]


@click.command()
@click.option("-c", "--concurrency", default=2, show_default=True, type=click.IntRange(1, 64))
def up(concurrency: int) -> None:
    """Migrate, then run a worker and beat in the foreground; Ctrl-C stops them all."""
    require_browser("up")
    migrate_head()
    click.echo("stack up: worker + beat (Ctrl-C to stop)")
    with children([self_command("worker", "-c", str(concurrency)), self_command("beat")]) as procs:
        try:
            while all(p.poll() is None for p in procs):
                time.sleep(0.5)
        except KeyboardInterrupt:
            click.echo("stopping…")
    failed = [p for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
    if failed:
        raise click.ClickException("a process of the stack exited with an error; see its log above")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535))
def sandbox(host: str, port: int) -> None:
    """Serve the sandbox directory sites (local imitations of real sign-up forms)."""
    from directorybolt.sandbox.server import serve

    click.echo(f"sandbox on http://{host}:{port}/  (submissions: /_submissions)")
    serve(host, port)


FLOWER_MIN_PASSWORD = 12
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_flower_credentials(basic_auth: str | None, address: str, insecure_local_only: bool) -> None:
    """Refuse credentials Flower would accept too easily. Flower splits --basic-auth on
    commas into several users, so ``admin:Str0ngPassw0rd,x`` would make ``x`` (no
    password) a user; an empty user or password logs in with empty credentials."""
    if insecure_local_only:
        if address not in LOOPBACK:
            raise click.UsageError("--insecure-local-only binds to 127.0.0.1; drop --address or add credentials")
        return
    if not basic_auth:
        hint = "" if address in LOOPBACK else f" (required on {address})"
        raise click.UsageError(
            f"Flower shows task arguments: pass --basic-auth USER:PASSWORD{hint} (or --insecure-local-only)")
    if "," in basic_auth:
        raise click.UsageError("--basic-auth must not contain a comma (Flower would read several users)")
    user, sep, password = basic_auth.partition(":")
    if not sep or not user.strip() or not password:
        raise click.UsageError("--basic-auth must be USER:PASSWORD with a non-empty user and password")
    if len(password) < FLOWER_MIN_PASSWORD:
        raise click.UsageError(f"--basic-auth password must have at least {FLOWER_MIN_PASSWORD} characters")


@click.command()
@click.option("--port", default=5555, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="127.0.0.1", show_default=True)
@click.option("--basic-auth", default=None, envvar="DIRECTORYBOLT_FLOWER_BASIC_AUTH", metavar="USER:PASSWORD")
@click.option("--insecure-local-only", is_flag=True, help="No auth, bound to 127.0.0.1 only.")
def flower(port: int, address: str, basic_auth: str | None, insecure_local_only: bool) -> None:
    """Run Flower for this app; refuses to start without strong credentials.

    Flower's own /metrics and /healthcheck answer without authentication whatever
    --basic-auth says: bind Flower to loopback or put it behind a proxy that guards
    those paths too (docs/security.md)."""
    from directorybolt.queueing.celery_app import app

    check_flower_credentials(basic_auth, address, insecure_local_only)
    if insecure_local_only:
        address = "127.0.0.1"
    services()
    _show_every_queue()
    argv = ["flower", f"--port={port}", f"--address={address}", "--purge_offline_workers=60"]
    if basic_auth:
        argv.append(f"--basic-auth={basic_auth}")
    app.start(argv)


def _show_every_queue() -> None:
    """Flower lists only the queues live workers consume once any worker is known, which
    hides ``dead_letter`` (consumed by nobody); list every configured queue as well."""
    from flower.views import BaseHandler

    original = BaseHandler.get_active_queue_names

    def every_queue(self: BaseHandler) -> list[str]:
        configured = {q.name for q in self.capp.conf.task_queues or [] if q.name}
        return sorted(set(original(self)) | configured)

    BaseHandler.get_active_queue_names = every_queue  # type: ignore[method-assign]


COMMANDS = [migrate, worker, beat, up, sandbox, flower]
