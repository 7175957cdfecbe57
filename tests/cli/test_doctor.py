"""``directorybolt doctor --json``: all ok, then each check failing in turn, each with its
fix and within its deadline. Real PostgreSQL, Redis and Chromium; the command runs as a
subprocess, as a person would run it."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from directorybolt.cli import seed
from directorybolt.cli.doctor import SUPPORTED, render, required_ranges, version_problems
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

REQUIRED = ["database", "redis", "browser", "state_dir", "catalog", "clock", "versions"]
INFO = ["sentry", "slack"]


def doctor(**env: Any) -> tuple[int, dict[str, Any], float]:
    environ = dict(os.environ)
    for k, v in env.items():
        environ[f"DIRECTORYBOLT_{k.upper()}"] = str(v)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "directorybolt", "doctor", "--json"], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)
    took = time.monotonic() - t0
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout), took


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def failing(report: dict[str, Any]) -> set[str]:
    return {c["name"] for c in report["checks"] if c["status"] == "fail"}


@pytest.fixture
def catalog(clean, sandbox) -> list[str]:
    return seed.seed_sandbox(sandbox.url)


def test_all_ok(catalog):
    code, report, _ = doctor()
    checks = by_name(report)
    assert code == 0 and report["ok"] is True, report
    assert list(checks) == REQUIRED + INFO
    assert all(checks[n]["status"] == "ok" for n in REQUIRED), report
    assert all(checks[n]["status"] == "info" and not checks[n]["required"] for n in INFO)
    assert "migrations at head" in checks["database"]["detail"]
    assert f"{len(catalog)} active directories" == checks["catalog"]["detail"]
    assert checks["browser"]["detail"].startswith("launched and closed ")
    print(f"doctor browser check: {checks['browser']['detail']}")
    assert checks["sentry"]["detail"].startswith("not configured")


def test_text_output_has_one_line_per_check(catalog):
    proc = subprocess.run([sys.executable, "-m", "directorybolt", "doctor"], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == len(REQUIRED + INFO), proc.stdout
    assert [line.split()[1] for line in lines] == REQUIRED + INFO
    assert all(line.split()[0] in ("ok", "info") for line in lines)


def test_bad_database_url(catalog):
    code, report, _ = doctor(database_url="postgresql://postgres@127.0.0.1:1/nowhere")
    checks = by_name(report)
    assert code == 1 and failing(report) == {"database", "catalog", "clock"}, report
    assert "DIRECTORYBOLT_DATABASE_URL" in checks["database"]["fix"]
    assert checks["catalog"]["detail"].startswith("skipped")


def test_database_behind_head(services, catalog):
    if not services.admin_url:
        pytest.skip("needs the PostgreSQL at 127.0.0.1 to create a scratch database")
    name = f"dbolt_doctor_{secrets.token_hex(3)}"
    with psycopg.connect(services.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        code, report, _ = doctor(database_url=f"postgresql://postgres@127.0.0.1:5432/{name}")
    finally:
        with psycopg.connect(services.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    checks = by_name(report)
    assert code == 1 and "database" in failing(report)
    assert "schema at nothing" in checks["database"]["detail"]
    assert checks["database"]["fix"] == "run `directorybolt migrate`"


def test_bad_redis_url(catalog):
    code, report, _ = doctor(redis_url="redis://127.0.0.1:1/0")
    assert code == 1 and failing(report) == {"redis"}, report
    assert "DIRECTORYBOLT_REDIS_URL" in by_name(report)["redis"]["fix"]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never answers (a hung Redis)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def test_hung_redis_fails_within_the_deadline(catalog, silent_server):
    code, report, took = doctor(redis_url=f"redis://127.0.0.1:{silent_server}/0", doctor_check_timeout_s=2)
    redis_check = by_name(report)["redis"]
    assert code == 1 and failing(report) == {"redis"}, report
    assert redis_check["seconds"] < 3, redis_check


def test_bad_browser_path(catalog):
    code, report, _ = doctor(chromium_path="/nonexistent")
    browser = by_name(report)["browser"]
    assert code == 1 and failing(report) == {"browser"}, report
    assert browser["detail"] == "cannot launch the browser at /nonexistent (no such file)"
    assert "apt-get install chromium" in browser["fix"] and "DIRECTORYBOLT_CHROMIUM_PATH" in browser["fix"]


def test_unwritable_state_dir(catalog, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, report, _ = doctor(state_dir=blocker / "state")
    state = by_name(report)["state_dir"]
    assert code == 1 and failing(report) == {"state_dir"}, report
    assert "not writable" in state["detail"] and "DIRECTORYBOLT_STATE_DIR" in state["fix"]


def test_empty_catalog(clean):
    code, report, _ = doctor()
    catalog_check = by_name(report)["catalog"]
    assert code == 1 and failing(report) == {"catalog"}, report
    assert catalog_check["detail"] == "no active directories in the catalog"
    assert "catalog import" in catalog_check["fix"]


def test_clock_skew_over_the_limit(catalog):
    code, report, _ = doctor(max_clock_skew_s=0)  # any measurable skew is too much
    clock = by_name(report)["clock"]
    assert code == 1 and failing(report) == {"clock"}, report
    assert "PostgreSQL" in clock["detail"] and "NTP" in clock["fix"]


def test_sentry_and_slack_are_information_only(catalog):
    code, report, _ = doctor(sentry_dsn="http://key@127.0.0.1:9/1", slack_webhook_url="http://127.0.0.1:9/hook")
    checks = by_name(report)
    assert code == 0 and checks["sentry"]["detail"] == "configured" and checks["slack"]["detail"] == "configured"


def test_version_ranges():
    ranges = required_ranges()
    assert set(ranges) == set(SUPPORTED)
    assert version_problems({"celery": "5.6.3", "kombu": "5.7.0"}, ranges) == []
    problems = version_problems({"celery": "5.7.0", "kombu": "5.6.2"}, ranges)
    assert len(problems) == 2 and "celery 5.7.0 is outside" in problems[0] and "kombu 5.6.2" in problems[1]
    assert version_problems({"celery": None, "kombu": "5.7.0"}, ranges)[0].startswith("celery is not installed")


def test_render_puts_the_fix_on_the_failing_line():
    from directorybolt.cli.doctor import Check

    assert render(Check("redis", "fail", "refused", "start Redis")) == "FAIL  redis      refused — fix: start Redis"
    assert render(Check("redis", "ok", "Redis 7")) == "ok    redis      Redis 7"
