"""Flower for this app: basic auth required, every queue listed with its depth."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from directorybolt.cli import main
from directorybolt.store.services import redis_client
from tests.conftest import ROOT, wait_until

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_refuses_to_start_without_credentials():
    result = CliRunner().invoke(main, ["flower"])
    assert result.exit_code == 2 and "--basic-auth" in result.output


def test_basic_auth_and_queue_depths(clean, start_worker, tmp_path):
    redis_client().lpush("dead_letter", b'{"dead_letter_id": 1}')
    start_worker(queues=["submissions.enterprise", "submissions.pro"])
    port = _free_port()
    log = open(tmp_path / "flower.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "directorybolt", "flower", "--basic-auth", "ops:s3cret-passw0rd",
                             "--port", str(port)], cwd=ROOT, env=dict(os.environ), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/queues/length"
    try:
        def answers() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code in (401, 200)
            except httpx.HTTPError:
                return False

        wait_until(answers, 40, what="flower to answer")
        assert httpx.get(url, timeout=5).status_code == 401
        time.sleep(2)  # let Flower hear from the worker
        r = httpx.get(url, auth=("ops", "s3cret-passw0rd"), timeout=10)
        assert r.status_code == 200
        depths = {q["name"]: q["messages"] for q in r.json()["active_queues"]}
        assert {"submissions.enterprise", "submissions.pro", "submissions.growth", "submissions.starter",
                "maintenance", "dead_letter"} <= set(depths)
        assert depths["dead_letter"] == 1
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(20)
