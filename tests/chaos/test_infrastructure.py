"""Broker and database trouble mid-job: nothing lost, nothing doubled."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.chaos.test_worker_kill import _check_exactly_once, _progress
from tests.conftest import ROOT, wait_until
from tests.pipeline.conftest import make_customer, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_postgres_connections_terminated_mid_job(chaos_catalog, sandbox, start_worker, beat, services):
    from tests.pipeline.conftest import enqueue

    start_worker(concurrency=2)
    job_id = enqueue(make_customer(), chaos_catalog)
    _progress(job_id, 5)
    url = services.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchone()[0]
    assert killed >= 1
    report = wait_finished(job_id, timeout=120)
    assert len(_check_exactly_once(report, sandbox)) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own (AOF on, as in production) that the test may restart."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server binary needed"
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        wait_until(lambda: _ping(redis.Redis(port=self.port)), 10, what="private redis")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _ping(client) -> bool:
    try:
        return client.ping()
    except Exception:
        return False


@pytest.mark.skipif(not shutil.which("redis-server") and not os.environ.get("CI"), reason="needs redis-server")
def test_redis_restarted_mid_job(chaos_catalog, sandbox, start_worker, tmp_path, monkeypatch):
    r = PrivateRedis(tmp_path)
    r.start()
    try:
        env_url = f"redis://127.0.0.1:{r.port}/0"
        monkeypatch.setenv("DIRECTORYBOLT_REDIS_URL", env_url)
        start_worker(concurrency=2)
        customer = make_customer()
        out = subprocess.run([sys.executable, "-m", "directorybolt", "enqueue", "--customer", customer, "--tier", "pro",
                              "--directories", ",".join(chaos_catalog)],
                             cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        job_id = out.stdout.strip()
        _progress(job_id, 5)
        r.stop()
        time.sleep(2)
        r.start()
        report = wait_finished(job_id, timeout=120)
        assert len(_check_exactly_once(report, sandbox)) == 0
    finally:
        r.stop()
