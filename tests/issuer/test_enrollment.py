"""Enrollment (specs/enrollment.md): evidence → checks → netno → offer; every refusal a precise problem that
writes nothing; idempotent retries; the lifelong netno; minors and guardians; the person record at rest."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from issuer_service.db.base import transaction
from issuer_service.db.tables import Device, Enrollment, Person
from issuer_service.services import persons
from issuer_service.services.enrollment import EnrollmentRefused, complete_enrollment
from netid.card.icao.access import CanAccessKey
from netid.card.icao.lds import FID_DG
from netid.card.icao.lds import sod as sod_module
from netid.card.icao.lds.sod import SecurityObject
from netid.credentials.jose import public_jwk
from netid.credentials.jwe import encrypt_jwe
from netid.credentials.netno import format_netno, generate_netno, is_valid_netno
from netid.oid4vci.evidence import EVIDENCE_CTY, EnrollmentEvidence
from netid.oid4vci.offer import CONFIGURATION_IDS, parse_credential_offer
from netid.testing.cards import TestCard, clone_chip, make_card, make_chip, tamper_file
from netid.wallet import SoftwareKeyStore
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    complete,
    context_of,
    device_key,
    enroll_card,
    evidence_for,
    problem,
    read_card,
    row_counts,
    start,
)


def _years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def card(seed: int, **kw: Any) -> TestCard:
    return make_card(seed, today=kw.pop("today", CARD_TODAY), **kw)


def renewed(old: TestCard, *, document_number: str = "R12345678") -> TestCard:
    """The same person's new card: a new document number, issued now, valid for 20 more years."""
    person = dataclasses.replace(
        old.person,
        document_number=document_number,
        date_of_issue=CARD_TODAY - dt.timedelta(days=3),
        date_of_expiry=_years(CARD_TODAY, 20),
    )
    image = make_chip(person, old.pki)
    return TestCard(person, old.pki, image, person.access_key, CanAccessKey(person.can), old.trust_store)


def test_enrollment_gives_a_netno_and_an_offer(issuer: InProcessIssuer) -> None:
    engine = context_of(issuer).engine
    before = row_counts(engine)
    challenge, sealed = evidence_for(issuer.client, card(1), SoftwareKeyStore())
    response = complete(issuer.client, challenge.enrollment_id, sealed)
    assert response.status_code == 200, response.text
    body = response.json()
    assert is_valid_netno(body["netno"])
    offer = parse_credential_offer(body["credential_offer"])
    assert offer.credential_issuer == issuer.settings.issuer_url
    assert offer.credential_configuration_ids == CONFIGURATION_IDS
    assert parse_credential_offer(body["credential_offer_uri"]) == offer
    after = row_counts(engine)
    for table in ("persons", "devices", "pre_authorized_codes", "audit_log"):
        assert after[table] == before[table] + 1, table
    with transaction(context_of(issuer).sessions) as session:
        person = session.scalars(select(Person)).one()
        entry = session.scalars(select(Enrollment)).one()
        assert person.netno == body["netno"] and entry.state == "completed"
        assert entry.person_id == person.id and entry.device_id is not None
        assert len(person.lookup_hash) == 64 and person.kek_id.startswith("kek-")
        attrs = persons.decrypt_attributes(person, context_of(issuer))
    assert attrs.personal_number == card(1).person.personal_number
    assert attrs.date_of_birth == card(1).person.date_of_birth
    assert attrs.document_expiry == card(1).person.date_of_expiry
    assert attrs.chip_auth == "aa"


def test_a_retry_with_the_same_evidence_returns_the_same_result(issuer: InProcessIssuer) -> None:
    challenge, sealed = evidence_for(issuer.client, card(2), SoftwareKeyStore())
    first = complete(issuer.client, challenge.enrollment_id, sealed)
    counts = row_counts(context_of(issuer).engine)
    issuer.clock.advance(60)  # the answer was lost; the wallet retries a minute later
    second = complete(issuer.client, challenge.enrollment_id, sealed)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()  # same netno, same offer (same pre-authorized code)
    assert row_counts(context_of(issuer).engine) == counts  # nothing new written


def test_a_retry_after_the_offer_expired_is_unknown(issuer: InProcessIssuer) -> None:
    challenge, sealed = evidence_for(issuer.client, card(2), SoftwareKeyStore())
    assert complete(issuer.client, challenge.enrollment_id, sealed).status_code == 200
    issuer.clock.advance(issuer.settings.offer_ttl)
    problem(complete(issuer.client, challenge.enrollment_id, sealed), 404, "enrollment_unknown")


def test_a_completed_enrollment_refuses_other_evidence(issuer: InProcessIssuer) -> None:
    keystore = SoftwareKeyStore()
    challenge, sealed = evidence_for(issuer.client, card(3), keystore)
    assert complete(issuer.client, challenge.enrollment_id, sealed).status_code == 200
    counts = row_counts(context_of(issuer).engine)
    # the same card read, sealed again (a new JWE): not the same evidence bytes
    again = seal_again(issuer, card(3), challenge.challenge, challenge.enrollment_id, keystore)
    problem(complete(issuer.client, challenge.enrollment_id, again), 409, "enrollment_used")
    assert row_counts(context_of(issuer).engine) == counts


def seal_again(
    issuer: InProcessIssuer, c: TestCard, challenge: bytes, enrollment_id: str, keystore: SoftwareKeyStore
) -> str:
    key = issuer.client.post("/enrollment/start").json()["enrollment_key"]
    readout = read_card(c, challenge)
    evidence = EnrollmentEvidence.from_readout(
        readout, enrollment_id=enrollment_id, device_key=device_key(keystore)
    )
    return evidence.seal(key)


def test_a_renewed_card_keeps_the_netno(issuer: InProcessIssuer) -> None:
    old = card(4)
    first = enroll_card(issuer, old)
    new = renewed(old)
    assert new.person.personal_number == old.person.personal_number
    second = enroll_card(issuer, new)
    assert second.netno == first.netno
    other = enroll_card(issuer, card(5))
    assert other.netno != first.netno
    context = context_of(issuer)
    with transaction(context.sessions) as session:
        person = session.scalars(select(Person).where(Person.netno == first.netno)).one()
        assert persons.decrypt_attributes(person, context).document_expiry == new.person.date_of_expiry
        assert len(session.scalars(select(Device).where(Device.person_id == person.id)).all()) == 2
    # re-reading the old card (still valid, earlier expiry) does not roll the record back
    enroll_card(issuer, old)
    with transaction(context.sessions) as session:
        person = session.scalars(select(Person).where(Person.netno == first.netno)).one()
        assert persons.decrypt_attributes(person, context).document_expiry == new.person.date_of_expiry
    assert row_counts(context.engine)["persons"] == 2


def test_minor_needs_an_adult_guardian(issuer: InProcessIssuer) -> None:
    parent = enroll_card(issuer, card(6, age=40))
    teen = enroll_card(issuer, card(7, age=16))  # 16 >= 14: enrolls alone, but is no guardian
    child = card(8, age=12)
    engine = context_of(issuer).engine
    for guardian in (None, teen.netno, generate_netno(), "not a netno", format_netno(generate_netno())):
        counts = row_counts(engine)
        challenge, sealed = evidence_for(issuer.client, child, SoftwareKeyStore(), guardian_netno=guardian)
        body = problem(complete(issuer.client, challenge.enrollment_id, sealed), 422, "guardian_required")
        assert "14" in body["detail"]
        assert row_counts(engine) == counts
    enrolled = enroll_card(issuer, child, guardian_netno=format_netno(parent.netno).lower())
    assert is_valid_netno(enrolled.netno)
    with transaction(context_of(issuer).sessions) as session:
        person = session.scalars(select(Person).where(Person.netno == enrolled.netno)).one()
        guardian = session.get(Person, person.guardian_id)
        assert guardian is not None and guardian.netno == parent.netno


# --- refusals: each a precise problem, and nothing written -----------------------------------------------


def _refused(
    issuer: InProcessIssuer, status: int, code: str, enrollment_id: str, sealed: str
) -> dict[str, Any]:
    engine = context_of(issuer).engine
    before = row_counts(engine)
    body = problem(complete(issuer.client, enrollment_id, sealed), status, code)
    assert row_counts(engine) == before
    with transaction(context_of(issuer).sessions) as session:
        entry = session.get(Enrollment, enrollment_id)
        assert entry is None or entry.state == "pending"  # a refused attempt does not use it up
    return body


@pytest.mark.parametrize("dg", [1, 11, 14, 15])
def test_tampered_data_group(issuer: InProcessIssuer, dg: int) -> None:
    c = card(10)
    challenge, sealed = evidence_for(
        issuer.client, c, SoftwareKeyStore(), image=tamper_file(c.image, FID_DG[dg])
    )
    body = _refused(issuer, 422, "passive_authentication", challenge.enrollment_id, sealed)
    assert body["check"] == "dg_hash" and body["data_group"] == f"DG{dg}"


def test_untrusted_csca(issuer: InProcessIssuer) -> None:
    challenge, sealed = evidence_for(issuer.client, card(11, pki_seed=7), SoftwareKeyStore())
    body = _refused(issuer, 422, "passive_authentication", challenge.enrollment_id, sealed)
    assert body["check"] == "ds_chain"


def test_cloned_chip(issuer: InProcessIssuer) -> None:
    c = card(12)
    challenge, sealed = evidence_for(issuer.client, c, SoftwareKeyStore(), image=clone_chip(c.image))
    _refused(issuer, 422, "active_authentication", challenge.enrollment_id, sealed)


def test_a_chip_answer_to_another_challenge_is_refused(issuer: InProcessIssuer) -> None:
    """A replayed transcript: the card's genuine answer to enrollment A's challenge, sent for B."""
    c = card(13)
    a, b = start(issuer.client), start(issuer.client)
    readout = read_card(c, a.challenge)
    keystore = SoftwareKeyStore()
    for_b = EnrollmentEvidence.from_readout(
        readout, enrollment_id=b.enrollment_id, device_key=device_key(keystore)
    )
    _refused(issuer, 422, "active_authentication", b.enrollment_id, for_b.seal(b.enrollment_key))
    # and A's own evidence, sent under B's id, is not B's evidence at all
    for_a = EnrollmentEvidence.from_readout(
        readout, enrollment_id=a.enrollment_id, device_key=device_key(keystore)
    )
    body = _refused(issuer, 400, "evidence_malformed", b.enrollment_id, for_a.seal(b.enrollment_key))
    assert "another enrollment" in body["detail"]


def test_a_read_without_active_authentication_is_refused(issuer: InProcessIssuer) -> None:
    c = card(13)
    challenge = start(issuer.client)
    readout = read_card(c, challenge.challenge)
    readout = dataclasses.replace(readout, aa_signature=None)
    evidence = EnrollmentEvidence.from_readout(
        readout, enrollment_id=challenge.enrollment_id, device_key=device_key(SoftwareKeyStore())
    )
    _refused(
        issuer, 422, "active_authentication", challenge.enrollment_id, evidence.seal(challenge.enrollment_key)
    )


def test_reused_challenge(issuer: InProcessIssuer) -> None:
    """A completed enrollment's challenge cannot enroll another card (or another device)."""
    challenge, sealed = evidence_for(issuer.client, card(14), SoftwareKeyStore())
    assert complete(issuer.client, challenge.enrollment_id, sealed).status_code == 200
    other = seal_again(issuer, card(15), challenge.challenge, challenge.enrollment_id, SoftwareKeyStore())
    engine = context_of(issuer).engine
    before = row_counts(engine)
    problem(complete(issuer.client, challenge.enrollment_id, other), 409, "enrollment_used")
    assert row_counts(engine) == before


def test_expired_challenge(issuer: InProcessIssuer) -> None:
    challenge = start(issuer.client)
    readout = read_card(card(16), challenge.challenge)
    issuer.clock.advance(issuer.settings.enrollment_ttl)
    evidence = EnrollmentEvidence.from_readout(
        readout, enrollment_id=challenge.enrollment_id, device_key=device_key(SoftwareKeyStore())
    )
    _refused(
        issuer, 404, "enrollment_unknown", challenge.enrollment_id, evidence.seal(challenge.enrollment_key)
    )


def test_unknown_enrollment(issuer: InProcessIssuer) -> None:
    _, sealed = evidence_for(issuer.client, card(16), SoftwareKeyStore())
    _refused(issuer, 404, "enrollment_unknown", "no-such-enrollment", sealed)


def test_expired_document(issuer: InProcessIssuer) -> None:
    # issued when the person was 10 (valid 5 years), ten years ago
    old = card(17, age=10, today=_years(CARD_TODAY, -10))
    assert old.person.date_of_expiry < CARD_TODAY
    challenge, sealed = evidence_for(issuer.client, old, SoftwareKeyStore())
    _refused(issuer, 422, "document_expired", challenge.enrollment_id, sealed)


def _seal_json(body: dict[str, Any], key: dict[str, Any]) -> str:
    return encrypt_jwe(json.dumps(body).encode(), key, headers={"cty": EVIDENCE_CTY})


def test_evidence_with_a_portrait_is_refused(issuer: InProcessIssuer) -> None:
    """The portrait (DG2) never reaches the issuer: evidence carrying it is refused before any check."""
    c = card(18)
    challenge = start(issuer.client)
    readout = read_card(c, challenge.challenge)
    evidence = EnrollmentEvidence.from_readout(
        readout, enrollment_id=challenge.enrollment_id, device_key=device_key(SoftwareKeyStore())
    )
    body = json.loads(evidence.to_json())
    body["files"]["DG2"] = base64.urlsafe_b64encode(c.image.files[FID_DG[2]]).decode().rstrip("=")
    _refused(
        issuer, 400, "evidence_malformed", challenge.enrollment_id, _seal_json(body, challenge.enrollment_key)
    )


def test_malformed_evidence(issuer: InProcessIssuer) -> None:
    c = card(19)
    challenge = start(issuer.client)
    readout = read_card(c, challenge.challenge)
    evidence = EnrollmentEvidence.from_readout(
        readout, enrollment_id=challenge.enrollment_id, device_key=device_key(SoftwareKeyStore())
    )
    eid = challenge.enrollment_id
    _refused(issuer, 400, "evidence_malformed", eid, "not.a.jwe.at-all")
    # sealed to another key under the issuer's key id: does not decrypt
    stranger = public_jwk(ec.generate_private_key(ec.SECP256R1())) | {"kid": challenge.enrollment_key["kid"]}
    _refused(issuer, 400, "evidence_malformed", eid, evidence.seal(stranger))
    # sealed to a key id the issuer does not have
    body = _refused(
        issuer,
        400,
        "evidence_malformed",
        eid,
        evidence.seal(challenge.enrollment_key | {"kid": "enrollment-x"}),
    )
    assert "unknown key" in body["detail"]
    # the right key, but not evidence inside
    _refused(issuer, 400, "evidence_malformed", eid, _seal_json({"hello": "world"}, challenge.enrollment_key))
    wrong_cty = encrypt_jwe(evidence.to_json(), challenge.enrollment_key, headers={"cty": "text/plain"})
    _refused(issuer, 400, "evidence_malformed", eid, wrong_cty)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"enrollment_id": "x"},
        {"evidence": "x"},
        {"enrollment_id": "x", "evidence": "x", "extra": 1},
        {"enrollment_id": "", "evidence": "x"},
        {"enrollment_id": "x", "evidence": "x" * 65537},
        {"enrollment_id": ["x"], "evidence": "x"},
    ],
)
def test_malformed_bodies(issuer: InProcessIssuer, body: dict[str, Any]) -> None:
    engine = context_of(issuer).engine
    before = row_counts(engine)
    response = issuer.client.post("/enrollment/complete", json=body)
    problem(response, 422, "validation")
    assert "x" * 100 not in response.text  # locations and kinds only, never the values
    assert row_counts(engine) == before


def test_non_json_body(issuer: InProcessIssuer) -> None:
    response = issuer.client.post(
        "/enrollment/complete", content=b"\xff\xfe garbage", headers={"content-type": "application/json"}
    )
    problem(response, 422, "validation")


def test_oversized_body(issuer: InProcessIssuer) -> None:
    """Beyond max_body_bytes: refused as too_large by the request-size limit, if it is installed;
    refused by the evidence's own size limit in any case."""
    engine = context_of(issuer).engine
    before = row_counts(engine)
    body = {"enrollment_id": "x", "evidence": "x" * (issuer.settings.max_body_bytes + 1)}
    response = issuer.client.post("/enrollment/complete", json=body)
    assert response.status_code in (413, 422)
    problem(response, response.status_code, "too_large" if response.status_code == 413 else "validation")
    assert row_counts(engine) == before


# --- concurrency -----------------------------------------------------------------------------------------


def test_two_concurrent_completes_of_one_enrollment(issuer: InProcessIssuer) -> None:
    """Both run the service at once in their own transactions: one completes, the other replays (same
    evidence) — never a second person or device."""
    context = context_of(issuer)
    challenge, sealed = evidence_for(issuer.client, card(20), SoftwareKeyStore())
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            with transaction(context.sessions) as session:
                results.append(
                    complete_enrollment(
                        session, context, enrollment_id=challenge.enrollment_id, sealed=sealed
                    )
                )
        except EnrollmentRefused as exc:  # pragma: no cover - would be a failure
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.replayed for r in results) == [False, True]
    assert results[0].netno == results[1].netno and results[0].offer == results[1].offer
    assert row_counts(context.engine)["persons"] == 1 and row_counts(context.engine)["devices"] == 1


def test_a_racing_insert_of_the_same_person_is_read_back(
    issuer: InProcessIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another node inserted the person between our lookup and our insert (READ COMMITTED): the unique
    lookup hash refuses our row inside a savepoint, and we use theirs."""
    first = enroll_card(issuer, card(21))
    real = persons.find_by_lookup
    calls = {"n": 0}

    def stale_first_read(session: Any, digest: str, *, lock: bool = False) -> Person | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else real(session, digest, lock=lock)

    monkeypatch.setattr(persons, "find_by_lookup", stale_first_read)
    second = enroll_card(issuer, renewed(card(21)))
    assert second.netno == first.netno and calls["n"] == 2
    assert row_counts(context_of(issuer).engine)["persons"] == 1


def test_a_netno_collision_draws_again(issuer: InProcessIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = enroll_card(issuer, card(22)).netno
    draws = iter([taken])
    real = persons.generate_netno
    monkeypatch.setattr(persons, "generate_netno", lambda rng: next(draws, None) or real(rng))
    fresh = enroll_card(issuer, card(23)).netno
    assert fresh != taken and is_valid_netno(fresh)
    assert row_counts(context_of(issuer).engine)["persons"] == 2


def test_the_person_record_is_bound_to_its_row(issuer: InProcessIssuer) -> None:
    """Envelope encryption with the row id as associated data: swapped ciphertexts do not open."""
    enroll_card(issuer, card(24))
    enroll_card(issuer, card(25))
    context = context_of(issuer)
    with transaction(context.sessions) as session:
        a, b = session.scalars(select(Person).order_by(Person.id)).all()
        a.attributes_ct, b.attributes_ct = b.attributes_ct, a.attributes_ct
        a.attributes_dek, b.attributes_dek = b.attributes_dek, a.attributes_dek
        with pytest.raises(persons.AttributesUnavailable):
            persons.decrypt_attributes(a, context)
        session.rollback()


def test_start_needs_no_body_and_answers_fresh(issuer: InProcessIssuer) -> None:
    a, b = start(issuer.client), start(issuer.client)
    assert a.enrollment_id != b.enrollment_id and a.challenge != b.challenge


def test_a_device_key_belongs_to_one_person(issuer: InProcessIssuer) -> None:
    """The device key alone authorises revoking its device: it cannot be enrolled for a second person;
    the same person may enroll the same device again (a renewed card on the same phone)."""
    keystore = SoftwareKeyStore()
    key = device_key(keystore)

    def attempt(c: TestCard) -> Any:
        challenge = start(issuer.client)
        evidence = EnrollmentEvidence.from_readout(
            read_card(c, challenge.challenge), enrollment_id=challenge.enrollment_id, device_key=key
        )
        return challenge.enrollment_id, evidence.seal(challenge.enrollment_key)

    assert complete(issuer.client, *attempt(card(26))).status_code == 200
    _refused(issuer, 409, "conflict", *attempt(card(27)))
    assert complete(issuer.client, *attempt(renewed(card(26)))).status_code == 200


def test_one_enrollment_parses_ef_sod_once(issuer: InProcessIssuer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Passive authentication parses the card's EF.SOD (a CMS SignedData with certificates); the document
    is then read with that same object, not from a second parse of the same bytes."""
    challenge, sealed = evidence_for(issuer.client, card(28), SoftwareKeyStore())
    parses: list[int] = []
    parse = sod_module._parse_content_info

    def counting(der: bytes) -> SecurityObject:
        parses.append(len(der))
        return parse(der)

    # every EF.SOD parse goes through this function, whichever module imported parse_sod
    monkeypatch.setattr(sod_module, "_parse_content_info", counting)
    assert complete(issuer.client, challenge.enrollment_id, sealed).status_code == 200
    assert len(parses) == 1
