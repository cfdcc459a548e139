"""Housekeeping (issuer_service.services.housekeeping): expired single-use rows are deleted, live ones
kept, and no answer changes because of it — a retried enrollment, a used refresh token's reuse, an unused
nonce all get what they got before the purge."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from issuer_service.db.base import transaction
from issuer_service.main import _purge_periodically, purge_once
from issuer_service.services.housekeeping import purge_expired
from netid.testing.cards import make_card
from netid.wallet import SoftwareKeyStore
from netid.wallet.enroll import parse_complete, parse_token, pre_authorized_form, refresh_form
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    complete,
    context_of,
    evidence_for,
    issuer_env,
    problem,
    row_counts,
    start,
)

EPHEMERAL = ("enrollments", "pre_authorized_codes", "tokens", "nonces")
DURABLE = ("persons", "devices", "issued_credentials", "status_lists", "audit_log")


def _purge(issuer: InProcessIssuer) -> tuple[int, int, int, int]:
    context = context_of(issuer)
    with transaction(context.sessions) as session:
        c = purge_expired(session, context)
    return c.enrollments, c.pre_authorized_codes, c.tokens, c.nonces


def test_only_what_the_rules_already_refuse_is_purged(issuer: InProcessIssuer) -> None:
    engine = context_of(issuer).engine
    settings = issuer.settings
    challenge, sealed = evidence_for(issuer.client, make_card(61, today=CARD_TODAY), SoftwareKeyStore())
    done = complete(issuer.client, challenge.enrollment_id, sealed)
    assert done.status_code == 200, done.text
    _, offer = parse_complete(done.json(), issuer_url=settings.issuer_url)
    tokens = parse_token(issuer.client.post("/token", data=pre_authorized_form(offer)).json())
    rotated = issuer.client.post("/token", data=refresh_form(tokens.refresh_token))
    assert rotated.status_code == 200
    assert issuer.client.post("/nonce").status_code == 200  # a c_nonce never used
    start(issuer.client)  # a challenge never completed
    durable = row_counts(engine, DURABLE)
    before = row_counts(engine, EPHEMERAL)
    assert before == {"enrollments": 2, "pre_authorized_codes": 1, "tokens": 4, "nonces": 1}

    assert _purge(issuer) == (0, 0, 0, 0)  # nothing has expired yet
    # a retried complete still gets the same answer, right up to the end of the offer
    issuer.clock.advance(settings.offer_ttl - 1)
    assert complete(issuer.client, challenge.enrollment_id, sealed).json() == done.json()
    # the pending challenge (enrollment_ttl), the code (offer_ttl), the access tokens and the nonce
    # (their ttls) have expired by now; the completed enrollment's offer one second later
    issuer.clock.advance(1)
    assert _purge(issuer) == (2, 1, 2, 1)
    assert row_counts(engine, EPHEMERAL) == {"enrollments": 0, "pre_authorized_codes": 0, "tokens": 2,
                                             "nonces": 0}  # fmt: skip
    assert row_counts(engine, DURABLE) == durable
    # the same answers as before the purge
    problem(complete(issuer.client, challenge.enrollment_id, sealed), 404, "enrollment_unknown")
    problem(issuer.client.post("/token", data=pre_authorized_form(offer)), 400, "invalid_grant")
    # the used refresh token is kept until it expires: its reuse is still caught, and revokes the new one
    problem(issuer.client.post("/token", data=refresh_form(tokens.refresh_token)), 400, "invalid_grant")
    new = parse_token(rotated.json())
    problem(issuer.client.post("/token", data=refresh_form(new.refresh_token)), 400, "invalid_grant")

    issuer.clock.advance(settings.refresh_token_ttl)
    assert _purge(issuer)[2] == 2 and row_counts(engine, EPHEMERAL)["tokens"] == 0
    assert _purge(issuer) == (0, 0, 0, 0)  # idempotent


def test_the_server_purges_periodically_and_survives_a_failure(
    issuer: InProcessIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = context_of(issuer)
    start(issuer.client)
    issuer.clock.advance(issuer.settings.enrollment_ttl)
    calls: list[int] = []
    real = purge_once

    def flaky(ctx: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        result = real(context)
        if len(calls) >= 2:
            raise asyncio.CancelledError  # end the loop after the second pass
        return result

    monkeypatch.setattr("issuer_service.main.purge_once", flaky)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(_purge_periodically(context, 0))
    assert len(calls) == 2  # the failed pass did not stop the loop
    assert row_counts(context.engine, ("enrollments",)) == {"enrollments": 0}


def test_the_purge_command(tmp_path: Path) -> None:
    env = os.environ | issuer_env(tmp_path, port=8000)
    run = subprocess.run(
        [sys.executable, "-m", "issuer_service", "purge"], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "netid-issuer: purged 0 enrollments, 0 pre-authorized codes, 0 tokens, 0 nonces"
    )
