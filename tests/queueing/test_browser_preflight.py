"""A worker that cannot launch its browser stops before it consumes anything: one line
(the path tried, how to get a browser), a non-zero exit, the queues untouched. A worker
serving only ``maintenance`` needs no browser. Real worker processes, Redis, PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from directorybolt.cli import seed
from directorybolt.core.errors import BrowserUnavailable
from directorybolt.core.queues import MAINTENANCE_QUEUE, all_queues
from directorybolt.execution.browser.preflight import INSTALL_HINT, launch_check
from directorybolt.queueing.redis_layout import queue_depths
from directorybolt.store import db
from directorybolt.store.models import WorkerHeartbeat
from directorybolt.store.services import redis_client
from tests.conftest import ROOT, wait_until
from tests.execution.conftest import enqueue, make_customer

pytestmark = [pytest.mark.slow]

NO_BROWSER = "/nonexistent"
EXPECTED_LINE = (f"directorybolt worker: cannot launch the browser at {NO_BROWSER} (no such file); install one with "
                 "`apt-get install chromium` or `playwright install chromium`, or set DIRECTORYBOLT_CHROMIUM_PATH "
                 "to a Chromium binary")


@pytest.fixture
def catalog(clean, sandbox) -> list[str]:
    return seed.seed_sandbox(sandbox.url)


def _depths() -> dict[str, int]:
    return queue_depths(redis_client(), all_queues())


def _queued_job(catalog: list[str]) -> dict[str, int]:
    """A job waiting in its tier queue (its process_job message), and the depths to compare."""
    enqueue(make_customer(), ["plain", "select"])
    depths = _depths()
    assert depths["submissions.pro"] == 1, depths
    return depths


def test_worker_command_without_browser_exits_2_with_one_line_and_consumes_nothing(catalog, settings_env):
    before = _queued_job(catalog)
    settings_env(chromium_path=NO_BROWSER)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "directorybolt", "worker", "-c", "1"], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    print(f"worker without a browser exited {proc.returncode} after {took:.2f} s: {proc.stderr.strip()}")
    assert proc.returncode == 2 and took < 30
    assert proc.stderr.strip() == EXPECTED_LINE and proc.stdout == ""
    assert _depths() == before


def test_celery_worker_without_browser_stops_before_consuming(catalog, settings_env, start_worker):
    """Started as `celery worker` (not through the CLI), the start-up hook does the same."""
    before = _queued_job(catalog)
    settings_env(chromium_path=NO_BROWSER)
    t0 = time.monotonic()
    w = start_worker(concurrency=1, wait=False)
    code = w.proc.wait(timeout=30)
    took = time.monotonic() - t0
    log = w.log.read_text()
    assert code == 2 and took < 30, log
    assert EXPECTED_LINE in log and "Traceback" not in log and " ready." not in log
    assert _depths() == before


def test_browser_that_exits_at_start_is_named_with_its_exit_code(catalog, settings_env, tmp_path):
    before = _queued_job(catalog)
    script = tmp_path / "chromium"
    script.write_text("#!/bin/sh\nexit 1\n")
    script.chmod(0o755)
    settings_env(chromium_path=script)
    proc = subprocess.run([sys.executable, "-m", "directorybolt", "worker", "-c", "1"], cwd=ROOT, env=dict(os.environ),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"directorybolt worker: cannot launch the browser at {script} (it exited with "
                                   f"code 1 at start); {INSTALL_HINT}")
    assert _depths() == before


def test_maintenance_only_worker_needs_no_browser(clean, settings_env, start_worker):
    settings_env(chromium_path=NO_BROWSER)
    w = start_worker(queues=[MAINTENANCE_QUEUE], concurrency=1)  # waits for " ready."
    assert w.proc.poll() is None
    assert "cannot launch the browser" not in w.log.read_text()
    children = wait_until(w.children, 10, what="the pool process")

    def roles() -> set[str]:
        with db.session() as s:
            return set(s.scalars(select(WorkerHeartbeat.role).where(WorkerHeartbeat.pid.in_(children))))

    assert wait_until(roles, 30, what="the pool process's heartbeat") == {"maintenance"}


def test_missing_playwright_download_names_the_path_it_looked_for():
    """With no Chromium configured or installed, Playwright's own download is tried:
    the message names the file it looked for (chrome-headless-shell)."""
    try:
        launch_check(None, 10)
    except BrowserUnavailable as exc:
        if "ms-playwright" not in exc.path:
            pytest.skip(f"Playwright's download is not what is missing here: {exc}")
        assert exc.reason == "no such file" and not Path(exc.path).exists()
        assert str(exc) == f"cannot launch the browser at {exc.path} (no such file)"
    else:
        pytest.skip("Playwright's own Chromium is installed on this machine")
