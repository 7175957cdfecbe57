"""A real API server (``directorybolt api`` in a subprocess, real uvicorn) on a free
port, against the test run's PostgreSQL and Redis, plus keys and a customer.

Settings are environment variables read when the server starts, so a test that
needs different limits or a broken service starts its own server with ``start_api``.
The shared ``api`` server runs with the production defaults (100/min per address,
private websites refused)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, Services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ApiServer:
    def __init__(self, env: dict[str, str], log: Path, extra_args: list[str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "directorybolt", "api", "--host", "127.0.0.1", "--port", str(self.port),
               "--no-access-log", *(extra_args or [])]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> ApiServer:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited early:\n{self.log.read_text()[-3000:]}")
            try:
                httpx.get(f"{self.url}/api/openapi.json", timeout=2)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise TimeoutError(f"API not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 10, **kw})


METRICS_TOKEN = "test-metrics-token-0123456789"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}
#: The signing secret every test API server verifies Stripe webhooks with.
STRIPE_SECRET = "whsec_test_directorybolt_0123456789abcdef"


def server_env(**settings: Any) -> dict[str, str]:
    env = dict(os.environ)
    env["DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES"] = "false"
    env["DIRECTORYBOLT_METRICS_TOKEN"] = METRICS_TOKEN
    env["DIRECTORYBOLT_STRIPE_WEBHOOK_SECRET"] = STRIPE_SECRET
    for k, v in settings.items():
        env[f"DIRECTORYBOLT_{k.upper()}"] = str(v)
    return env


@pytest.fixture(scope="session")
def api(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer(server_env(), tmp_path_factory.mktemp("api") / "api.log").wait_ready()
    yield server
    server.stop()


@pytest.fixture
def start_api(services: Services, tmp_path: Path) -> Iterator[Callable[..., ApiServer]]:
    """``start_api(api_rate_per_key="5/hour", ...)``: a server of this test's own."""
    started: list[ApiServer] = []

    def start(*, extra_env: dict[str, str] | None = None, extra_args: list[str] | None = None,
              **settings: Any) -> ApiServer:
        env = {**server_env(**settings), **(extra_env or {})}
        server = ApiServer(env, tmp_path / f"api{len(started)}.log", extra_args)
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()


@dataclass
class Keys:
    producer: str
    staff: str

    @staticmethod
    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(clean: Services) -> Keys:
    from directorybolt.store import apikeys

    return Keys(producer=apikeys.create("test producer")[1], staff=apikeys.create("test staff", "staff")[1])


@pytest.fixture
def customer_id(clean: Services, keys: Keys) -> str:
    """A customer in the test producer key's scope (granted, as a staff member would)."""
    import uuid

    from directorybolt.cli import seed
    from directorybolt.store import scopes

    cid = seed.customer()
    scopes.grant(keys.producer[:12], uuid.UUID(cid))
    return cid


def profile(**overrides: Any) -> dict[str, Any]:
    from directorybolt.cli import seed

    return {**seed.DEMO_PROFILE, **overrides}
