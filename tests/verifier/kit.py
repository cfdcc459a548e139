"""Test-only helpers over the public test world (:mod:`netid.testing.world`): hand-built presentations and
re-signed requests for negative tests. Every key here is a TEST key derived from a fixed seed."""

from __future__ import annotations

import dataclasses
from typing import Any

from netid.credentials.jose import SigningKey, decode_jws_unverified, public_jwk, sign_jws
from netid.credentials.sdjwt.codec import sd_hash
from netid.credentials.sdjwt.present import present_sd_jwt
from netid.issuance import IdentityAttributes, RpRegistration, issue_rp_certificate
from netid.oid4vp.request import PresentationRequest
from netid.personal_number import personal_number_check_char
from netid.testing.world import (
    ALL_SCOPES,
    ISSUER,
    NOW,
    RESPONSE_URI,
    STATUS_URI,
    DetRng,
    TestWorld,
    fixed_key,
    test_person,
)

__all__ = [
    "ALL_SCOPES",
    "ISSUER",
    "NOW",
    "PERSON",
    "RESPONSE_URI",
    "STATUS_URI",
    "DetRng",
    "World",
    "fixed_key",
    "hand_present",
    "kb_jwt",
    "make_world",
    "mint_raw",
    "personal_number",
    "register_rp",
    "resign",
]

World = TestWorld
#: the world's person, with a recorded enrollment path (kept by the issuer, never in a credential)
PERSON = dataclasses.replace(test_person(), enrollment_factors=("nfc_chip", "face_match"))


def personal_number(prefix17: str) -> str:
    """A personal number: ``prefix17`` and its check character."""
    return prefix17 + personal_number_check_char(prefix17)


def make_world(
    issuer_alg: str = "EdDSA",
    *,
    scopes: tuple[str, ...] = ALL_SCOPES,
    purposes: tuple[str, ...] = ("age check", "sign in"),
) -> TestWorld:
    """A test world whose wallet starts empty (tests mint what they need)."""
    return TestWorld.create(
        person=PERSON, netcert_alg=issuer_alg, scopes=scopes, purposes=purposes, credentials=0
    )


def mint_raw(
    w: TestWorld,
    holder_keys: list[SigningKey],
    *,
    kind: str = "anonymous",
    attrs: IdentityAttributes = PERSON,
    now: int | None = None,
    first_index: int = 100,
    sector: str | None = None,
) -> list[str]:
    """Mint netcerts bound to keys the test holds (not the wallet), for hand-built presentations."""
    return w.mint_for(
        [public_jwk(k) for k in holder_keys],
        kind=kind,  # type: ignore[arg-type]
        first_index=first_index,
        attrs=attrs,
        sector=sector,
        now=now,
    )


def kb_jwt(
    holder_key: SigningKey,
    without_kb: str,
    *,
    aud: str,
    nonce: str,
    iat: int,
    amr: list[str] | None = None,
    sd_hash_value: str | None = None,
    typ: str = "kb+jwt",
) -> str:
    payload: dict[str, Any] = {
        "iat": iat,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": sd_hash_value if sd_hash_value is not None else sd_hash(without_kb),
        "amr": amr if amr is not None else ["swk", "pin"],
    }
    return sign_jws(payload, holder_key, typ=typ)


def hand_present(
    serialized: str,
    holder_key: SigningKey,
    req: PresentationRequest,
    *,
    claims: tuple[str, ...] = (),
    iat: int | None = None,
    aud: str | None = None,
    nonce: str | None = None,
    amr: list[str] | None = None,
) -> dict[str, list[str]]:
    """A presentation disclosing exactly the top-level ``claims``, bound with a KB-JWT."""
    without_kb = present_sd_jwt(serialized, disclose=[(c,) for c in claims])
    kb = kb_jwt(
        holder_key,
        without_kb,
        aud=aud if aud is not None else req.client_id,
        nonce=nonce if nonce is not None else req.nonce,
        iat=iat if iat is not None else req.iat,
        amr=amr,
    )
    return {"netcert": [without_kb + kb]}


def resign(
    w: TestWorld,
    req: PresentationRequest,
    edit: Any,
    *,
    key: SigningKey | None = None,
    header_edit: Any = None,
) -> str:
    """Re-sign ``req``'s request object after ``edit(claims)`` — an RP (or attacker) building its own."""
    header, claims, _, _ = decode_jws_unverified(req.request_object)
    edit(claims)
    extra = {"jwt": header["jwt"]}
    if header_edit is not None:
        header_edit(extra)
    return sign_jws(claims, key or w.rp_key, typ=header["typ"], extra_headers=extra)


def register_rp(
    w: TestWorld,
    rp_id: str,
    key: SigningKey,
    *,
    scopes: tuple[str, ...] = ("age_over",),
    purposes: tuple[str, ...] = ("age check",),
    response_uris: tuple[str, ...] = (RESPONSE_URI,),
    now: int | None = None,
    status: tuple[str, int] | None = None,
) -> str:
    """Register another RP (sector = its id) with the world's issuer; return its access certificate."""
    registration = RpRegistration(
        rp_id=rp_id,
        name=rp_id,
        sector=rp_id,
        allowed_predicates=scopes,
        purposes=purposes,
        response_uris=response_uris,
        request_jwk=public_jwk(key),
    )
    return issue_rp_certificate(
        w.profile, registration, now=w.clock() - 10 if now is None else now, status=status
    )
