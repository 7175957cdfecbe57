"""Engine and sessions. One engine per process, created on first use (never at import,
and never inherited across a fork: a forked child drops the parent's pool without
closing the parent's sockets)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from directorybolt.core.settings import get_settings
from directorybolt.store import cache
from directorybolt.store.services import database_url

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
        cache.install()  # every writer invalidates what it changed
        s = get_settings()
        _engine = create_engine(
            sqlalchemy_url(database_url()),
            pool_size=s.db_pool_size,
            max_overflow=5,
            pool_pre_ping=True,
            pool_recycle=1800,
            # Parameters are customers' e-mails and phones: never in an error or a log line.
            hide_parameters=True,
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


def _forget_pool_after_fork() -> None:
    dispose(close=False)


os.register_at_fork(after_in_child=_forget_pool_after_fork)
