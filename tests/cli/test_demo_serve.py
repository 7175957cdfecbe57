"""``directorybolt demo --serve``: the whole demo, then the console stays up with the
printed one-time login until Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.api.conftest import free_port
from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_demo_serve_prints_a_working_console_login_and_stops_on_ctrl_c(clean, tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    proc = subprocess.Popen([sys.executable, "-m", "directorybolt", "demo", "--serve", "--port", str(port),
                             "--concurrency", "1"], cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while "serving the console" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        out = log.read_text()
        assert "serving the console" in out, out[-3000:]
        login = re.search(r"staff console: (http://127\.0\.0\.1:\d+/console)\s+\(sign in as demo, one-time password "
                          r"(\S+)\)", out)
        assert login, out[:3000]
        url, password = login.groups()
        assert "need review" in out and f"http://127.0.0.1:{port}/console/jobs/" in out
        with httpx.Client(base_url=url.removesuffix("/console"), follow_redirects=False, timeout=10) as c:
            page = c.get("/console/sign-in")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            signed = c.post("/console/sign-in", data={"csrf_token": token, "name": "demo", "password": password})
            assert signed.status_code == 303, signed.text
            reviews = c.get("/console/reviews")
            assert reviews.status_code == 200 and "captcha" in reviews.text
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopping" in log.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
