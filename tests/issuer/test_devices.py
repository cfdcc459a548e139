"""Device revocation (a lost phone): by the device key or by a fresh card read. Revoked credentials fail
the RP's verifier with status_revoked; the device's tokens stop working; a refused request changes nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from issuer_service.db.base import transaction
from issuer_service.db.tables import AuditEntry, Device, Enrollment, IssuedCredential
from issuer_service.services.devices import MAX_REQUEST_AGE
from netid.credentials.jose import generate_signing_key, public_jwk, sign_jws
from netid.errors import EnrollmentError, VerificationError
from netid.testing.cards import TestCard, clone_chip, make_card, make_chip
from netid.verifier import Query
from netid.wallet import SoftwareKeyStore, Wallet
from netid.wallet.enroll import (
    REVOKE_TYP,
    EnrollmentResult,
    refresh,
    revocation_request,
    revoke_device,
    seal_evidence,
)
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    TestRp,
    complete,
    context_of,
    enroll_card,
    evidence_for,
    holder_wallet,
    problem,
    read_card,
    register_test_rp,
    rp_verifier,
    start,
)


def _statuses(issuer: InProcessIssuer) -> dict[int, int]:
    with transaction(context_of(issuer).sessions) as session:
        return {c.id: c.status for c in session.scalars(select(IssuedCredential))}


def _present(issuer: InProcessIssuer, wallet: Wallet, rp: TestRp) -> None:
    """One presentation to a fresh RP verifier (fresh status cache): raises VerificationError if refused."""
    verifier = rp_verifier(issuer.client, issuer.settings.issuer_url, issuer.clock)
    request = rp.request(Query(purpose="age check", age_over=18), now=issuer.clock())
    vp = wallet.present(request.to_uri(), now=issuer.clock(), consent=lambda p: True, amr="pin")
    assert verifier.verify(dict(vp.vp_token), request)["age_over_18"] is True


def _enrolled(issuer: InProcessIssuer, seed: int = 41) -> tuple[EnrollmentResult, SoftwareKeyStore, Wallet]:
    keystore = SoftwareKeyStore()
    result = enroll_card(issuer, make_card(seed, today=CARD_TODAY), keystore, batch_size=5)
    wallet = holder_wallet(keystore, issuer.client, issuer.settings.issuer_url)
    wallet.add_credentials(result.credentials)
    return result, keystore, wallet


def test_revocation_by_the_device_key(issuer: InProcessIssuer) -> None:
    rp = register_test_rp(context_of(issuer))
    result, keystore, wallet = _enrolled(issuer)
    _, _, other_wallet = _enrolled(issuer, seed=42)  # someone else: unaffected
    _present(issuer, wallet, rp)
    revoked = revoke_device(
        issuer.settings.issuer_url,
        result.device_key_id,
        keystore=keystore,
        http=issuer.client,
        clock=issuer.clock,
    )
    assert revoked == 5
    with pytest.raises(VerificationError) as caught:
        _present(issuer, wallet, rp)
    assert caught.value.code == "status_revoked"
    _present(issuer, other_wallet, rp)
    # the device's refresh token is dead, and its access token says why
    with pytest.raises(EnrollmentError) as refused:
        refresh(issuer.settings.issuer_url, result.refresh_token, keystore=keystore, http=issuer.client,
                clock=issuer.clock)  # fmt: skip
    assert refused.value.code == "invalid_grant"
    with transaction(context_of(issuer).sessions) as session:
        device = session.scalars(select(Device).where(Device.revoked_at.is_not(None))).one()
        assert device.revoked_reason == "device_key"
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "device_revoked")).one()
        assert entry.subject == result.netno and entry.details["credentials"] == 5


def test_a_revoked_device_is_told_so_at_the_credential_endpoint(issuer: InProcessIssuer) -> None:
    keystore = SoftwareKeyStore()
    device_key_id = keystore.create_key("ES256")
    challenge = start(issuer.client)
    readout = read_card(make_card(43, today=CARD_TODAY), challenge.challenge)
    sealed = seal_evidence(readout, challenge, keystore.public_jwk(device_key_id))
    offer = complete(issuer.client, challenge.enrollment_id, sealed).json()["credential_offer"]
    code = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"]
    token = issuer.client.post(
        "/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
                        "pre-authorized_code": code},
    ).json()["access_token"]  # fmt: skip
    revoke_device(
        issuer.settings.issuer_url, device_key_id, keystore=keystore, http=issuer.client, clock=issuer.clock
    )
    body = {"credential_configuration_id": "netcert", "proofs": {"jwt": ["x"]}}
    response = issuer.client.post("/credential", json=body, headers={"Authorization": f"Bearer {token}"})
    problem(response, 403, "device_revoked")


def _unchanged(issuer: InProcessIssuer, request: Any, status: int, code: str) -> None:
    before = _statuses(issuer)
    problem(issuer.client.post("/devices/revoke", json={"request": request}), status, code)
    assert _statuses(issuer) == before


def test_refused_device_key_revocations(issuer: InProcessIssuer) -> None:
    result, keystore, _ = _enrolled(issuer)
    now = issuer.clock()
    url = issuer.settings.issuer_url
    key_id = result.device_key_id

    def signed(**claims: Any) -> str:
        base: dict[str, Any] = {"aud": url, "iat": now, "jti": "j" * 22}
        return keystore.sign_jwt(key_id, base | claims, typ=REVOKE_TYP, include_jwk=True)

    _unchanged(issuer, signed(aud="https://other.example"), 401, "unauthorized")
    _unchanged(issuer, signed(iat=now - MAX_REQUEST_AGE - 120), 401, "unauthorized")
    _unchanged(issuer, signed(iat=now + 600), 401, "unauthorized")
    _unchanged(issuer, signed(jti="short"), 401, "unauthorized")
    # signed by another key, naming the device's key
    claims = {"aud": url, "iat": now, "jti": "k" * 22}
    device_jwk = {"jwk": keystore.public_jwk(key_id)}
    forged = sign_jws(claims, generate_signing_key("ES256"), typ=REVOKE_TYP, extra_headers=device_jwk)
    _unchanged(issuer, forged, 401, "unauthorized")
    # a key no device was enrolled with
    stranger = generate_signing_key("ES256")
    unknown = sign_jws({"aud": url, "iat": now, "jti": "k" * 22}, stranger, typ=REVOKE_TYP,
                       extra_headers={"jwk": public_jwk(stranger)})  # fmt: skip
    _unchanged(issuer, unknown, 401, "unauthorized")
    _unchanged(issuer, keystore.sign_jwt(key_id, {"aud": url, "iat": now, "jti": "m" * 22}, typ="JWT",
                                         include_jwk=True), 400, "invalid_request")  # fmt: skip
    _unchanged(issuer, "not-a-jws", 400, "invalid_request")
    problem(issuer.client.post("/devices/revoke", json={}), 422, "validation")
    # a good request works once; its replay is refused
    good = revocation_request(keystore, key_id, issuer_url=url, now=now, jti="n" * 22)
    assert issuer.client.post("/devices/revoke", json={"request": good}).json()["credentials"] == 5
    _unchanged(issuer, good, 401, "unauthorized")


def test_revocation_by_a_fresh_card_read(issuer: InProcessIssuer) -> None:
    rp = register_test_rp(context_of(issuer))
    card = make_card(44, today=CARD_TODAY)
    first, _, wallet_a = _enrolled(issuer, seed=44)
    second, _, wallet_b = _enrolled(issuer, seed=44)  # the same person on a second phone
    assert first.netno == second.netno
    _present(issuer, wallet_a, rp)
    # the phones are gone; the person reads the card on a new one
    challenge, sealed = evidence_for(issuer.client, card, SoftwareKeyStore())
    body = {"enrollment_id": challenge.enrollment_id, "evidence": sealed}
    response = issuer.client.post("/devices/revoke-by-card", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"netno": first.netno, "devices": 2, "credentials": 10}
    for wallet in (wallet_a, wallet_b):
        with pytest.raises(VerificationError) as caught:
            _present(issuer, wallet, rp)
        assert caught.value.code == "status_revoked"
    # a retry of the same request answers the same; the enrollment cannot be used for anything else
    again = issuer.client.post("/devices/revoke-by-card", json=body).json()
    assert again == {"netno": first.netno, "devices": 2, "credentials": 0}
    problem(complete(issuer.client, challenge.enrollment_id, sealed), 409, "enrollment_used")
    with transaction(context_of(issuer).sessions) as session:
        assert session.get(Enrollment, challenge.enrollment_id).state == "revocation"  # type: ignore[union-attr]
    # the new phone enrolls as usual: same netno, working credentials
    third, _, wallet_c = _enrolled(issuer, seed=44)
    assert third.netno == first.netno
    _present(issuer, wallet_c, rp)


def test_revocation_by_card_refusals(issuer: InProcessIssuer) -> None:
    _enrolled(issuer, seed=45)
    card = make_card(45, today=CARD_TODAY)
    before = _statuses(issuer)
    challenge, sealed = evidence_for(issuer.client, card, SoftwareKeyStore(), image=clone_chip(card.image))
    response = issuer.client.post("/devices/revoke-by-card", json={"enrollment_id": challenge.enrollment_id,
                                                                    "evidence": sealed})  # fmt: skip
    problem(response, 422, "active_authentication")
    stranger = make_card(46, today=CARD_TODAY)
    challenge, sealed = evidence_for(issuer.client, stranger, SoftwareKeyStore())
    response = issuer.client.post("/devices/revoke-by-card", json={"enrollment_id": challenge.enrollment_id,
                                                                    "evidence": sealed})  # fmt: skip
    problem(response, 404, "not_found")
    assert _statuses(issuer) == before


def test_an_expired_card_can_still_revoke(issuer: InProcessIssuer) -> None:
    base = make_card(47, today=CARD_TODAY)
    person = dataclasses.replace(base.person, date_of_expiry=CARD_TODAY + dt.timedelta(days=30))
    card = TestCard(
        person, base.pki, make_chip(person, base.pki), person.access_key, base.can, base.trust_store
    )
    enroll_card(issuer, card, batch_size=1)
    issuer.clock.advance(40 * 86_400)  # the card has expired since
    challenge, sealed = evidence_for(issuer.client, card, SoftwareKeyStore())
    problem(complete(issuer.client, challenge.enrollment_id, sealed), 422, "document_expired")
    challenge, sealed = evidence_for(issuer.client, card, SoftwareKeyStore())
    response = issuer.client.post(
        "/devices/revoke-by-card", json={"enrollment_id": challenge.enrollment_id, "evidence": sealed}
    )
    assert response.status_code == 200, response.text
    assert response.json()["devices"] == 1
