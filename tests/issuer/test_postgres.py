"""The issuer on a real PostgreSQL server: migrations match the models there, a live issuer runs on it, and
the maintenance paths (RP update, purge, KEK re-wrap) run on its SQL.

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
from sqlalchemy import inspect, select, text

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


def test_rp_updates_housekeeping_and_kek_rotation_on_postgres(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    """The newer maintenance paths on PostgreSQL's SQL: an RP update retiring its status entry (under the
    registry's advisory lock), the purge's timestamp comparisons, and the re-wrap's FOR UPDATE SKIP LOCKED."""
    from fastapi.testclient import TestClient

    from issuer_service.db.base import transaction
    from issuer_service.db.tables import Person
    from issuer_service.main import build_context, create_app
    from issuer_service.services.housekeeping import purge_expired
    from issuer_service.services.persons import decrypt_attributes, kek_id, rewrap_persons
    from netid.testing.cards import make_card
    from netid.testing.world import NOW, TestClock
    from tests.issuer.conftest import CARD_TODAY, InProcessIssuer, enroll_card, settings_for
    from tests.issuer.test_registry import register, rp_status

    settings = settings_for(tmp_path, database_url=fresh_postgres_url)
    clock = TestClock(NOW)
    context = build_context(settings, clock=clock)
    with TestClient(create_app(settings, context=context), base_url=settings.issuer_url) as client:
        issuer = InProcessIssuer(client, settings, clock, tmp_path)
        for seed in (81, 82):
            enroll_card(issuer, make_card(seed, today=CARD_TODAY))
        old = register(issuer)
        new = client.patch(
            "/admin/rps/shop.example", json={"allowed_predicates": ["age_over_18"]}, headers=issuer.admin()
        ).json()
        assert new["status"] != old["status"] and rp_status(issuer, old) == 1 and rp_status(issuer, new) == 0

        clock.advance(settings.refresh_token_ttl + 1)
        with transaction(context.sessions) as session:
            purged = purge_expired(session, context)
        # per enrollment: a challenge, a code, two tokens and a nonce
        counts = (purged.enrollments, purged.pre_authorized_codes, purged.tokens, purged.nonces)
        assert counts == (2, 2, 4, 2)

        context.keystore.new_secret_version("kek")
        with transaction(context.sessions) as session:
            assert rewrap_persons(session, context) == (2, 0)
        current = kek_id(context.keystore.secret("kek"))
        with context.sessions() as session:
            persons = list(session.scalars(select(Person)))
            assert len(persons) == 2
            for person in persons:
                assert person.kek_id == current and decrypt_attributes(person, context).full_name
