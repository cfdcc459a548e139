"""The Alembic migrations build exactly the schema the models describe, on an empty database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from issuer_service.db.base import Base, make_engine
from issuer_service.db.migrate import alembic_config, upgrade


def test_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    upgrade(url)  # idempotent
    command.check(alembic_config(url))  # raises if the models and the migrated schema differ
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    engine.dispose()
