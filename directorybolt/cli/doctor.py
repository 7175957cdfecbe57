"""``directorybolt doctor``: is this machine ready to run DirectoryBolt? One check per line.

Each check says ok or FAIL and, when it fails, the fix; ``--json`` gives the same as
data. The command exits 1 when a required check fails (Sentry and Slack are only
reported). Every check runs in a thread of its own with a deadline, so a hung service
makes its check fail with "no answer within N s" instead of hanging the command.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import click

from directorybolt.core.deadlines import run_within
from directorybolt.core.errors import first_line
from directorybolt.core.settings import get_settings

#: Versions this code is known to work with when the package metadata cannot say
#: (setup.cfg holds the same ranges, with the reasons).
SUPPORTED = {"celery": ">=5.5,<5.7", "kombu": ">=5.7,<6"}


@dataclass
class Check:
    name: str
    status: str  # ok | fail | info
    detail: str
    fix: str | None = None
    required: bool = True
    seconds: float = 0.0


class Failed(Exception):
    """A check's failure: what is wrong and how to fix it."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


def run_check(name: str, fn: Callable[[], str], timeout_s: float, fix: str, required: bool = True) -> Check:
    """Run ``fn`` in a daemon thread, waiting at most ``timeout_s``; its return value is
    the detail of an ok check, :class:`Failed` or any exception a failed one."""
    t0 = time.perf_counter()
    try:
        detail = run_within(fn, timeout_s, name=f"doctor-{name}")
    except Failed as exc:
        return Check(name, "fail", exc.detail, exc.fix, required, round(time.perf_counter() - t0, 3))
    except Exception as exc:  # reported as this check's failure (TimeoutError: it hung)
        return Check(name, "fail", first_line(exc), fix, required, round(time.perf_counter() - t0, 3))
    return Check(name, "ok" if required else "info", str(detail), None, required, round(time.perf_counter() - t0, 3))


# ---- the checks ------------------------------------------------------------------------

DB_FIX = "start PostgreSQL, or set DIRECTORYBOLT_DATABASE_URL to a reachable postgresql:// URL"
MIGRATE_FIX = "run `directorybolt migrate`"
REDIS_FIX = "start Redis, or set DIRECTORYBOLT_REDIS_URL to a reachable redis:// URL"


def _engine() -> Any:
    from sqlalchemy import create_engine, pool

    from directorybolt.store.db import sqlalchemy_url
    from directorybolt.store.services import database_url

    s = get_settings()
    timeout_ms = int(s.doctor_check_timeout_s * 1000)
    return create_engine(sqlalchemy_url(database_url()), poolclass=pool.NullPool, hide_parameters=True,
                         connect_args={"connect_timeout": max(1, int(s.doctor_check_timeout_s / 2)),
                                       "options": f"-c statement_timeout={timeout_ms}",
                                       "application_name": "directorybolt-doctor"})


def check_database() -> str:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import make_url, text

    from directorybolt.store import migrations
    from directorybolt.store.services import database_url

    eng = _engine()
    try:
        with eng.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        eng.dispose()
    where = make_url(database_url()).render_as_string(hide_password=True)
    head = migrations.head()
    if current != head:
        raise Failed(f"PostgreSQL {version} at {where}: schema at {current or 'nothing'}, code needs {head}",
                     MIGRATE_FIX)
    return f"PostgreSQL {version} at {where}, migrations at head ({head})"


def check_redis() -> str:
    import redis

    from directorybolt.store.services import redis_url

    t = get_settings().doctor_check_timeout_s / 2
    client = redis.Redis.from_url(redis_url(), socket_timeout=t, socket_connect_timeout=t)
    try:
        info = client.info("server")
    finally:
        client.close()
    pool_kwargs = client.connection_pool.connection_kwargs
    where = pool_kwargs.get("path") or f"{pool_kwargs.get('host')}:{pool_kwargs.get('port')}"
    return f"Redis {info.get('redis_version')} at {where}"


def check_browser() -> str:
    from directorybolt.core.errors import BrowserUnavailable
    from directorybolt.execution.browser.pool import PLAYWRIGHT_OWN
    from directorybolt.execution.browser.preflight import INSTALL_HINT, launch_check

    s = get_settings()
    path = s.resolved_chromium()
    try:
        took = launch_check(path, s.browser_launch_timeout_s)
    except BrowserUnavailable as exc:
        raise Failed(str(exc), INSTALL_HINT) from None
    return f"launched and closed {path or PLAYWRIGHT_OWN} in {took:.2f} s"


def check_state_dir() -> str:
    state_dir = get_settings().state_dir
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-") as f:
            f.write(b"ok")
            f.flush()
    except OSError as exc:
        raise Failed(f"{state_dir} is not writable ({exc.strerror or first_line(exc)})",
                     "set DIRECTORYBOLT_STATE_DIR to a directory this user can write") from None
    return f"{state_dir} is writable"


def check_catalog() -> str:
    from sqlalchemy import text

    eng = _engine()
    try:
        with eng.connect() as conn:
            active = int(conn.execute(text("SELECT count(*) FROM directories WHERE active")).scalar() or 0)
    finally:
        eng.dispose()
    if active == 0:
        raise Failed("no active directories in the catalog",
                     "run `directorybolt catalog import FILE` (or `directorybolt seed --sandbox URL` to try "
                     "the sandbox)")
    return f"{active} active directories"


def check_clock() -> str:
    from sqlalchemy import text

    limit = get_settings().max_clock_skew_s
    eng = _engine()
    try:
        with eng.connect() as conn:
            t0 = time.time()
            db_now = float(conn.execute(text("SELECT EXTRACT(epoch FROM clock_timestamp())")).scalar() or 0)
            t1 = time.time()
    finally:
        eng.dispose()
    skew = db_now - (t0 + t1) / 2
    detail = f"this host is {abs(skew):.3f} s {'behind' if skew > 0 else 'ahead of'} PostgreSQL"
    if abs(skew) >= limit:
        raise Failed(f"{detail} (limit {limit:g} s)", "synchronise the clocks (NTP, chrony or systemd-timesyncd)")
    return detail


def required_ranges() -> dict[str, str]:
    """Celery's and kombu's supported ranges, from this package's own metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement

    ranges = dict(SUPPORTED)
    try:
        for line in metadata.requires("directorybolt") or []:
            req = Requirement(line)
            if req.name in ranges and not req.marker:
                ranges[req.name] = str(req.specifier)
    except metadata.PackageNotFoundError:
        pass
    return ranges


def version_problems(installed: dict[str, str | None], ranges: dict[str, str]) -> list[str]:
    """Packages whose installed version is missing or outside its supported range."""
    from packaging.specifiers import SpecifierSet

    problems = []
    for name, spec in ranges.items():
        version = installed.get(name)
        if version is None:
            problems.append(f"{name} is not installed (needs {spec})")
        elif version not in SpecifierSet(spec):
            problems.append(f"{name} {version} is outside {spec}")
    return problems


def check_versions() -> str:
    from importlib import metadata

    ranges = required_ranges()
    installed: dict[str, str | None] = {}
    for name in ranges:
        try:
            installed[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed[name] = None
    problems = version_problems(installed, ranges)
    if problems:
        wanted = " ".join(f"'{n}{s}'" for n, s in ranges.items())
        raise Failed("; ".join(problems), f"pip install {wanted}")
    return ", ".join(f"{n} {installed[n]} (supported {s})" for n, s in ranges.items())


def check_sentry() -> str:
    configured = get_settings().sentry_dsn
    return "configured" if configured else "not configured (DIRECTORYBOLT_SENTRY_DSN): errors only in logs"


def check_slack() -> str:
    configured = get_settings().slack_webhook_url
    return "configured" if configured else "not configured (DIRECTORYBOLT_SLACK_WEBHOOK_URL): no dead-letter alerts"


def run_all() -> list[Check]:
    """Every check, in order, each within its deadline."""
    from directorybolt.store.services import ensure_services

    s = get_settings()
    t = s.doctor_check_timeout_s
    services = run_check("services", lambda: str(ensure_services() or "configured"), max(t, 30), DB_FIX)
    checks: list[Check] = []
    if services.status == "fail":  # half-configured, or the embedded servers would not start
        checks += [Check("database", "fail", services.detail, DB_FIX), Check("redis", "fail", services.detail,
                                                                             REDIS_FIX)]
    else:
        checks += [run_check("database", check_database, t, DB_FIX), run_check("redis", check_redis, t, REDIS_FIX)]
    checks.append(run_check("browser", check_browser, s.browser_launch_timeout_s + 10, ""))
    checks.append(run_check("state_dir", check_state_dir, t, ""))
    if checks[0].status == "fail" and checks[0].fix != MIGRATE_FIX:
        skipped = "skipped: the database does not answer"
        checks += [Check("catalog", "fail", skipped, DB_FIX), Check("clock", "fail", skipped, DB_FIX)]
    else:
        checks += [run_check("catalog", check_catalog, t, DB_FIX), run_check("clock", check_clock, t, DB_FIX)]
    checks.append(run_check("versions", check_versions, t, ""))
    checks.append(run_check("sentry", check_sentry, t, "", required=False))
    checks.append(run_check("slack", check_slack, t, "", required=False))
    return checks


def render(check: Check) -> str:
    label = {"ok": "ok", "fail": "FAIL", "info": "info"}[check.status]
    line = f"{label:<4}  {check.name:<9}  {check.detail}"
    return f"{line} — fix: {check.fix}" if check.status == "fail" and check.fix else line


@click.command()
@click.option("--json", "as_json", is_flag=True, help="The checks as JSON.")
def doctor(as_json: bool) -> None:
    """Check this machine: database and migrations, Redis, browser, state dir, catalog,
    clock skew, Celery/kombu versions, Sentry and Slack. Exits 1 when a required check fails."""
    checks = run_all()
    healthy = not any(c.required and c.status == "fail" for c in checks)
    if as_json:
        click.echo(json.dumps({"ok": healthy, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        for c in checks:
            click.echo(render(c))
    raise SystemExit(0 if healthy else 1)


COMMANDS = [doctor]
