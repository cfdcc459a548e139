"""The issuer on a real PostgreSQL server: migrations match the models there, and a live issuer runs on it.

The server is a throwaway cluster (tests/issuer/pg.py) that scripts/ensure-system-deps.sh installs; under
CI its absence is a failure, elsewhere a skip that says what to install.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import inspect, text

from issuer_service.db.base import Base, make_engine
from issuer_service.db.migrate import alembic_config, upgrade
from tests.issuer.conftest import live_output, start_live_issuer, stop_live_issuer
from tests.issuer.pg import PostgresCluster, reap_orphans

pytestmark = pytest.mark.slow


def test_the_harness_finds_a_server(postgres_cluster: PostgresCluster) -> None:
    assert postgres_cluster.version.isdigit() and int(postgres_cluster.version) >= 13
    assert postgres_cluster.url("x").startswith("postgresql+psycopg://")


def test_migrations_on_postgres_match_the_models(fresh_postgres_url: str) -> None:
    upgrade(fresh_postgres_url)
    upgrade(fresh_postgres_url)  # idempotent
    command.check(alembic_config(fresh_postgres_url))  # `alembic check`: no difference left to migrate
    engine = make_engine(fresh_postgres_url)
    try:
        assert set(inspect(engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        with engine.connect() as connection:
            assert connection.execute(text("SHOW server_encoding")).scalar() == "UTF8"
    finally:
        engine.dispose()


def test_a_live_issuer_runs_on_postgres(tmp_path: Path, fresh_postgres_url: str) -> None:
    live = start_live_issuer(tmp_path, database_url=fresh_postgres_url)  # returns once /readyz is 200
    try:
        assert httpx.get(f"{live.url}/readyz").json() == {"status": "ready"}
        meta = httpx.get(f"{live.url}/.well-known/openid-credential-issuer").json()
        assert meta["credential_issuer"] == live.url
        jwks = httpx.get(f"{live.url}/jwks.json").json()
        assert sorted(k["netid_purpose"] for k in jwks["keys"]) == [
            "netcert",
            "rp_certificate",
            "status_list",
        ]
    finally:
        code = stop_live_issuer(live)
    assert code == 0, live_output(live)
    engine = make_engine(fresh_postgres_url)
    try:
        with engine.connect() as connection:
            kinds = connection.execute(
                text("SELECT purpose, backend FROM issuer_keys ORDER BY purpose")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(k) for k in kinds] == [
        ("enrollment", "file"),
        ("netcert", "file"),
        ("rp_certificate", "file"),
        ("status_list", "file"),
    ]


def test_a_cluster_left_by_a_dead_test_process_is_reaped(postgres_cluster: PostgresCluster) -> None:
    orphan = PostgresCluster().start()
    assert orphan.root is not None
    folder = orphan.root
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    (folder / "owner.pid").write_text(dead.stdout.strip())  # as if its test process had been killed
    assert folder in reap_orphans()
    assert not folder.exists()
    import psycopg

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(orphan.dsn("postgres"), connect_timeout=2)
    # the session's own cluster (its process is alive) is untouched
    assert postgres_cluster.root is not None and postgres_cluster.root.exists()
    with psycopg.connect(postgres_cluster.dsn("postgres"), connect_timeout=2):
        pass
