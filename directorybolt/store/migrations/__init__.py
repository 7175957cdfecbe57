"""Schema migrations, shipped inside the package so `directorybolt migrate` works when installed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The newest revision shipped with this code."""
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    if rev is None:
        raise RuntimeError("no migration revisions found")
    return rev


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    from directorybolt.store.db import sqlalchemy_url

    eng = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
