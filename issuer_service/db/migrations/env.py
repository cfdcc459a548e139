"""Alembic environment: runs migrations on the URL from :func:`issuer_service.db.migrate.alembic_config`."""

from __future__ import annotations

from alembic import context

from issuer_service.db import tables  # noqa: F401 - registers every table on Base.metadata
from issuer_service.db.base import Base, make_engine

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
