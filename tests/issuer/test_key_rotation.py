"""Key rotation as an admin operation: the new kid signs from then on, the old one stays published for
as long as what it signed may live, and what it signed keeps verifying."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from issuer_service.db.tables import AuditEntry, IssuerKeyRecord
from issuer_service.main import build_context
from issuer_service.services.keys import publish_for
from netid.credentials.jose import decode_jws_unverified
from netid.credentials.trust import IssuerTrust
from netid.oid4vp.certificate import parse_rp_certificate
from netid.testing.cards import make_card
from netid.wallet import SoftwareKeyStore
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    complete,
    context_of,
    enroll_card,
    evidence_for,
    issuer_env,
    settings_for,
)
from tests.issuer.test_registry import register, rp_status


def jwks(issuer: InProcessIssuer) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = issuer.client.get("/jwks.json").json()["keys"]
    return keys


def kids(issuer: InProcessIssuer, purpose: str) -> list[str]:
    return [k["kid"] for k in jwks(issuer) if k["netid_purpose"] == purpose]


def rotate(issuer: InProcessIssuer, purpose: str, admin: str = "alice") -> dict[str, Any]:
    response = issuer.client.post(f"/admin/keys/{purpose}/rotate", headers=issuer.admin(admin))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_rp_certificate_rotation(issuer: InProcessIssuer) -> None:
    before = register(issuer, "before.example")
    [old_kid] = kids(issuer, "rp_certificate")
    assert decode_jws_unverified(before["certificate"])[0]["kid"] == old_kid

    rotated = rotate(issuer, "rp_certificate")
    assert rotated["purpose"] == "rp_certificate" and rotated["retired"] == [old_kid]
    new_kid = rotated["kid"]
    assert new_kid != old_kid and set(kids(issuer, "rp_certificate")) == {old_kid, new_kid}

    # the new key signs new certificates ...
    after = register(issuer, "after.example")
    assert decode_jws_unverified(after["certificate"])[0]["kid"] == new_kid
    renewed = issuer.client.patch("/admin/rps/before.example", json={}, headers=issuer.admin()).json()
    assert decode_jws_unverified(renewed["certificate"])[0]["kid"] == new_kid
    # ... and one signed before the rotation still verifies against the JWKS published now
    trust = IssuerTrust({"keys": jwks(issuer)}, issuer=issuer.settings.issuer_url)
    assert parse_rp_certificate(before["certificate"], trust, issuer.clock()).rp_id == "before.example"
    assert parse_rp_certificate(after["certificate"], trust, issuer.clock()).rp_id == "after.example"

    # published for as long as the certificates it signed are valid
    with context_of(issuer).sessions() as session:
        old = session.get(IssuerKeyRecord, old_kid)
        assert old is not None and old.retired_at is not None and old.publish_until is not None
        kept = old.publish_until - old.retired_at
    assert kept == dt.timedelta(days=365)
    assert rotated["publish_until"] == int(old.publish_until.replace(tzinfo=dt.UTC).timestamp())


def test_status_list_rotation(issuer: InProcessIssuer) -> None:
    rp = register(issuer)
    [old_kid] = kids(issuer, "status_list")
    uri = rp["status"]["uri"].removeprefix(issuer.settings.issuer_url)
    assert decode_jws_unverified(issuer.client.get(uri).text)[0]["kid"] == old_kid
    new_kid = rotate(issuer, "status_list", "bob")["kid"]
    issuer.client.post("/admin/rps/shop.example/suspend", headers=issuer.admin())  # the list changes
    token = issuer.client.get(uri).text
    assert decode_jws_unverified(token)[0]["kid"] == new_kid
    assert rp_status(issuer, rp) == 2  # verified with the new key, found in the JWKS
    assert set(kids(issuer, "status_list")) == {old_kid, new_kid}  # a cached old token still verifies


def issuer_signed(credential: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """The issuer-signed JWT of an SD-JWT netcert: header, payload, signing input, signature."""
    return decode_jws_unverified(credential.split("~", 1)[0])


def test_netcert_rotation(issuer: InProcessIssuer) -> None:
    [old_kid] = kids(issuer, "netcert")
    before = enroll_card(issuer, make_card(21, today=CARD_TODAY)).credentials
    assert {issuer_signed(c)[0]["kid"] for c in before} == {old_kid}

    rotated = rotate(issuer, "netcert")
    new_kid = rotated["kid"]
    assert rotated["retired"] == [old_kid]
    assert set(kids(issuer, "netcert")) == {old_kid, new_kid}
    vc_keys = issuer.client.get("/.well-known/jwt-vc-issuer").json()["jwks"]["keys"]
    assert {k["kid"] for k in vc_keys} == {old_kid, new_kid}
    assert next(k for k in jwks(issuer) if k["kid"] == new_kid)["alg"] == issuer.settings.netcert_alg

    after = enroll_card(issuer, make_card(22, today=CARD_TODAY)).credentials
    assert {issuer_signed(c)[0]["kid"] for c in after} == {new_kid}
    # a verifier that fetched the JWKS after the rotation still accepts both batches' signatures
    trust = IssuerTrust({"keys": jwks(issuer)}, issuer=issuer.settings.issuer_url)
    for credential in (*before, *after):
        header, payload, signing_input, signature = issuer_signed(credential)
        assert trust.key_for(header, payload, purpose="netcert").verify(signing_input, signature)


def test_enrollment_key_rotation(issuer: InProcessIssuer) -> None:
    in_flight, sealed = evidence_for(issuer.client, make_card(23, today=CARD_TODAY), SoftwareKeyStore())
    old = in_flight.enrollment_key
    rotated = rotate(issuer, "enrollment")
    new = issuer.client.post("/enrollment/start").json()["enrollment_key"]
    assert rotated["retired"] == [old["kid"]] and new["kid"] == rotated["kid"] != old["kid"]
    assert all(k.get("use", "sig") == "sig" for k in jwks(issuer))  # never in the signing JWKS
    # evidence sealed to the previous key moments before the rotation still opens
    response = complete(issuer.client, in_flight.enrollment_id, sealed)
    assert response.status_code == 200, response.text


def test_rotation_is_audited(issuer: InProcessIssuer) -> None:
    [old_kid] = kids(issuer, "rp_certificate")
    new_kid = rotate(issuer, "rp_certificate", "bob")["kid"]
    with context_of(issuer).sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "key.rotate"))
    assert (entry.actor, entry.subject) == ("admin:bob", new_kid)
    assert entry.details["purpose"] == "rp_certificate" and entry.details["retired"] == [old_kid]


def test_unknown_purpose(issuer: InProcessIssuer) -> None:
    response = issuer.client.post("/admin/keys/kek/rotate", headers=issuer.admin())
    assert response.status_code == 422 and response.json()["code"] == "validation"


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [
        ("netcert", dt.timedelta(days=30 + 3 + 1)),  # validity + the most jitter + a day
        ("rp_certificate", dt.timedelta(days=365)),
        ("status_list", dt.timedelta(seconds=2 * 300)),  # a status list token's exp
        ("enrollment", dt.timedelta(seconds=300)),
    ],
)
def test_old_keys_stay_published_as_long_as_what_they_signed(
    issuer: InProcessIssuer, purpose: Any, expected: dt.timedelta
) -> None:
    settings = issuer.settings
    assert (settings.netcert_validity_days, settings.validity_jitter_days) == (30, 3)
    assert (settings.status_list_ttl, settings.enrollment_ttl) == (300, 300)
    assert publish_for(purpose, settings) == expected


def test_a_rotation_whose_audit_fails_leaves_the_old_key_signing(
    issuer: InProcessIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Retirement, the new key and the audit entry are one transaction: no unaudited rotation."""
    [old_kid] = kids(issuer, "netcert")

    def broken(*args: Any, **kw: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr("issuer_service.services.keys.append_audit", broken)
    with pytest.raises(RuntimeError):
        context_of(issuer).keys.rotate("netcert", publish_for=dt.timedelta(days=1), actor="test", at=0)
    with context_of(issuer).sessions() as session:
        rows = list(session.scalars(select(IssuerKeyRecord).where(IssuerKeyRecord.purpose == "netcert")))
    assert [(r.kid, r.retired_at) for r in rows] == [(old_kid, None)]
    assert kids(issuer, "netcert") == [old_kid]


def test_the_cli_rotates_with_the_purpose_default_and_audits_it(tmp_path: Path) -> None:
    env = os.environ | issuer_env(tmp_path, port=8000)
    run = subprocess.run(
        [sys.executable, "-m", "issuer_service", "keys", "rotate", "status_list"], env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    settings = settings_for(tmp_path)
    context = build_context(settings)
    try:
        with context.sessions() as session:
            [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "key.rotate"))
            retired_keys = select(IssuerKeyRecord).where(IssuerKeyRecord.retired_at.is_not(None))
            [retired] = session.scalars(retired_keys)
            assert retired.publish_until is not None and retired.retired_at is not None
            kept = retired.publish_until - retired.retired_at
    finally:
        context.engine.dispose()
    assert entry.actor.startswith("cli:") and entry.details["purpose"] == "status_list"
    assert f"now signs with {entry.subject}" in run.stdout
    assert kept == publish_for("status_list", settings) == dt.timedelta(seconds=600)  # not 400 days
