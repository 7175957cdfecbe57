"""Engine and sessions. One engine per process, created on first use (never at import,
and never inherited across a fork: Celery children dispose the parent's pool)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from directorybolt.config import get_settings

_engine: Engine | None = None
_sessions: sessionmaker[Session] | None = None


def sqlalchemy_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg2://", "postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine() -> Engine:
    global _engine, _sessions
    if _engine is None:
        import directorybolt.cache  # noqa: F401 - installs the invalidation listeners in every writer
        from directorybolt.runtime import database_url

        s = get_settings()
        _engine = create_engine(
            sqlalchemy_url(database_url()),
            pool_size=s.db_pool_size,
            max_overflow=5,
            pool_pre_ping=True,
            pool_recycle=1800,
            connect_args={
                "options": f"-c statement_timeout={s.statement_timeout_ms}",
                "connect_timeout": 5,
                "application_name": "directorybolt",
            },
        )
        _sessions = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def dispose(close: bool = True) -> None:
    """Drop the pool; after a fork pass close=False so the parent's sockets stay untouched."""
    global _engine, _sessions
    if _engine is not None:
        _engine.dispose(close=close)
    _engine = None
    _sessions = None


@contextmanager
def session() -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error."""
    engine()
    assert _sessions is not None
    with _sessions() as s, s.begin():
        yield s
