"""Work an enrollment does once, not twice: ``complete`` finds the person by the lookup hash once (that row
serves the device-key check too), for a new person and for a returning one, and a device-key conflict
found after the person's row was made still writes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from netid.oid4vci.evidence import EnrollmentEvidence
from netid.testing.cards import make_card
from netid.wallet import SoftwareKeyStore
from tests.issuer.conftest import (
    CARD_TODAY,
    InProcessIssuer,
    complete,
    context_of,
    device_key,
    evidence_for,
    problem,
    read_card,
    row_counts,
    start,
)


def _person_lookups(issuer: InProcessIssuer, enrollment_id: str, sealed: str) -> tuple[int, int]:
    """``(status, how many SELECTs by lookup hash)`` of one ``complete``."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = context_of(issuer).engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        status = complete(issuer.client, enrollment_id, sealed).status_code
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return status, sum("FROM persons" in s and "persons.lookup_hash =" in s for s in seen)


def test_complete_looks_the_person_up_once(issuer: InProcessIssuer) -> None:
    card = make_card(61, today=CARD_TODAY)
    challenge, sealed = evidence_for(issuer.client, card, SoftwareKeyStore())
    assert _person_lookups(issuer, challenge.enrollment_id, sealed) == (200, 1)  # a new person
    challenge, sealed = evidence_for(issuer.client, card, SoftwareKeyStore())
    assert _person_lookups(issuer, challenge.enrollment_id, sealed) == (200, 1)  # the same person again


def test_a_device_key_conflict_for_a_new_person_writes_nothing(issuer: InProcessIssuer) -> None:
    key = device_key(SoftwareKeyStore())

    def sealed_for(seed: int) -> tuple[str, str]:
        challenge = start(issuer.client)
        evidence = EnrollmentEvidence.from_readout(
            read_card(make_card(seed, today=CARD_TODAY), challenge.challenge),
            enrollment_id=challenge.enrollment_id,
            device_key=key,
        )
        return challenge.enrollment_id, evidence.seal(challenge.enrollment_key)

    assert complete(issuer.client, *sealed_for(62)).status_code == 200
    before = row_counts(context_of(issuer).engine)
    # a new person presenting a device key already enrolled for another: refused after the new person's
    # row was made for the check, and that row rolled back with the rest
    problem(complete(issuer.client, *sealed_for(63)), 409, "conflict")
    assert row_counts(context_of(issuer).engine) == before
