"""Alembic environment for the store.

``storage.db`` runs migrations programmatically and hands over an open connection
(``config.attributes["connection"]``); the ``alembic`` command line (``alembic -c
storage/migrations/alembic.ini ...``, for writing new revisions) connects to ``sqlalchemy.url`` or
``$DATABASE_URL`` itself.
"""

from __future__ import annotations

import os

from alembic import context

from storage.db import DEFAULT_URL, make_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = (
        config.attributes.get("url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url", DEFAULT_URL)
    )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
