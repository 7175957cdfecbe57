"""Alembic environment: runs against the URL the runtime resolves (configured or embedded)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from directorybolt.store import review_models  # noqa: F401 - its tables share Base.metadata
from directorybolt.store.db import sqlalchemy_url
from directorybolt.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "directorybolt.store.migrations sets sqlalchemy.url"
    connectable = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
