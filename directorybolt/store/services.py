"""Where the services are: configured URLs, or the embedded Redis and PostgreSQL.

With neither ``DATABASE_URL`` nor ``REDIS_URL`` set, the first process that needs
them starts a real redis-server and a real PostgreSQL under ``STATE_DIR``
(:mod:`directorybolt.store.embedded`) and exports their URLs, so its child processes
(worker, beat, api) share the same servers. When the URLs are set, nothing embedded
starts.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from directorybolt.core.errors import ConfigurationError
from directorybolt.core.settings import get_settings, reload_settings
from directorybolt.store.embedded import EmbeddedServices

_embedded: EmbeddedServices | None = None


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
    if not url:
        raise ConfigurationError("no database URL configured")
    return url


def redis_url() -> str:
    ensure_services()
    url = get_settings().redis_url
    if not url:
        raise ConfigurationError("no Redis URL configured")
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
    """A process-wide redis-py client, created on first use and forgotten in a forked
    child (a child must not share its parent's sockets)."""
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(
            redis_url(), socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
        )
    return _redis_client


def _forget_client_after_fork() -> None:
    global _redis_client
    _redis_client = None


os.register_at_fork(after_in_child=_forget_client_after_fork)
