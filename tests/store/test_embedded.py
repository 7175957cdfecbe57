"""The embedded default: nothing configured, real servers under STATE_DIR, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from directorybolt.store.services import ensure_services
    from directorybolt.store import migrations
    from directorybolt.store.services import database_url, redis_client
    t0 = time.perf_counter()
    emb = ensure_services()
    print("STARTUP", round(emb.startup_s, 3), flush=True)
    print("PIDS", emb.redis.pid, emb.postgres.get_postmaster_info().pid, flush=True)
    migrations.upgrade(database_url())
    print("MIGRATED", migrations.current(database_url()), flush=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "directorybolt.queueing.celery_app", "worker",
         "-Q", "submissions.starter", "-c", "1", "-I", "tests.queueing.probe_tasks",
         "--without-gossip", "--without-mingle"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from tests.queueing.probe_tasks import record
    record.apply_async(args=["round-trip"], queue="submissions.starter")
    deadline = time.time() + 60
    while time.time() < deadline and redis_client().lrange("probe:order", 0, -1) != [b"round-trip"]:
        time.sleep(0.2)
    print("ROUNDTRIP", redis_client().lrange("probe:order", 0, -1) == [b"round-trip"], flush=True)
    worker.terminate(); worker.wait(30)
    """
)


def _servers_under(path: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "name"]):
        try:
            named = p.info["name"] in ("postgres", "redis-server")
            if named and any(path in part for part in (p.info["cmdline"] or [])):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from directorybolt.store import migrations

    return ScriptDirectory.from_config(migrations.alembic_config("")).get_current_head()


def test_embedded_default_starts_round_trips_and_stops(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTORYBOLT_")}
    env["DIRECTORYBOLT_STATE_DIR"] = str(tmp_path / "state")
    env["PYTHONPATH"] = str(ROOT)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=150)
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    print(f"embedded start-up {lines['STARTUP']} s; whole script {elapsed:.1f} s")
    assert float(lines["STARTUP"]) < 10
    assert lines["MIGRATED"] == _head_revision()
    assert lines["ROUNDTRIP"] == "True"
    pids = [int(p) for p in lines["PIDS"].split()]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                                              for p in pids):
        time.sleep(0.2)
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert alive == [], f"embedded servers left running: {alive}"
    assert _servers_under(str(tmp_path)) == []
