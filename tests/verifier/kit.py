"""Test-only helpers over the public test world (:mod:`netid.testing.world`): hand-built presentations and
re-signed requests for negative tests. Every key here is a TEST key derived from a fixed seed."""

from __future__ import annotations

import dataclasses
import re
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
    "standard_dcql_errors",
    "standard_wallet_answers",
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
    allow_loopback_http: bool = False,
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
        allow_loopback_http=allow_loopback_http,
    )
    return issue_rp_certificate(
        w.profile, registration, now=w.clock() - 10 if now is None else now, status=status
    )


# --- an independent reading of OpenID4VP 1.0 DCQL (what other implementations check) -----------------

_DCQL_ID = re.compile(r"[A-Za-z0-9_-]+")


def standard_dcql_errors(q: Any) -> list[str]:
    """What an independent DCQL parser checks (OpenID4VP 1.0 §6): every array non-empty, ids well formed
    and unique, every reference resolves, ``meta`` present."""
    errors: list[str] = []
    creds = q.get("credentials")
    if not isinstance(creds, list) or not creds:
        return ["credentials must be a non-empty array"]
    ids = [c.get("id") for c in creds]
    if len(set(ids)) != len(ids):
        errors.append("duplicate credential query id")
    for c in creds:
        if not isinstance(c.get("id"), str) or not _DCQL_ID.fullmatch(c["id"]):
            errors.append("credential query id")
        if not isinstance(c.get("format"), str) or not isinstance(c.get("meta"), dict):
            errors.append("format and meta are required")
        claims = c.get("claims")
        if "claims" in c and (not isinstance(claims, list) or not claims):
            errors.append("claims must be a non-empty array")
        for claim in claims or []:
            if not isinstance(claim.get("path"), list) or not claim["path"]:
                errors.append("path must be a non-empty array")
            values = claim.get("values")
            if "values" in claim and (not isinstance(values, list) or not values or not all(
                    type(v) in (str, int, bool) for v in values)):  # fmt: skip
                errors.append("values must be a non-empty array of strings, integers or booleans")
        claim_ids = {claim.get("id") for claim in claims or []}
        if "claim_sets" in c:
            sets = c["claim_sets"]
            if not isinstance(sets, list) or not sets or any(not isinstance(s, list) or not s for s in sets):
                errors.append("claim_sets: array must be non-empty")
            elif any(i not in claim_ids for s in sets for i in s):
                errors.append("claim_sets reference unknown claims")
    for cs in q.get("credential_sets", [{"options": [ids]}]):
        options = cs.get("options")
        if (
            not isinstance(options, list)
            or not options
            or any(not isinstance(o, list) or not o for o in options)
        ):
            errors.append("credential_sets options: array must be non-empty")
        elif any(i not in ids for o in options for i in o):
            errors.append("credential_sets reference unknown credential queries")
        if "required" in cs and type(cs["required"]) is not bool:
            errors.append("required must be a boolean")
    if "credential_sets" in q and (not isinstance(q["credential_sets"], list) or not q["credential_sets"]):
        errors.append("credential_sets must be a non-empty array")
    return errors


def standard_wallet_answers(q: Any, claims: dict[str, Any]) -> set[str]:
    """The credential query ids a standard wallet answers with one credential whose claims are ``claims``
    (OpenID4VP 1.0 §6.4): a claim with ``values`` matches only the same JSON type and value; a query that
    does not match is treated as if the credential did not exist; optional credential sets may go
    unanswered, a required one unanswered means nothing at all is returned."""

    def matches(cq: dict[str, Any]) -> bool:
        for claim in cq.get("claims", []):
            name = claim["path"][0]
            if name not in claims:
                return False
            if "values" in claim and not any(
                type(v) is type(claims[name]) and v == claims[name] for v in claim["values"]
            ):
                return False
        return not cq.get("claim_sets")  # claim_sets are not needed by a NetID query

    matching = {cq["id"] for cq in q["credentials"] if matches(cq)}
    answered: set[str] = set()
    for cs in q.get("credential_sets", [{"options": [[cq["id"] for cq in q["credentials"]]]}]):
        option = next((o for o in cs["options"] if set(o) <= matching), None)
        if option is None:
            if cs.get("required", True):
                return set()
            continue
        answered |= set(option)
    return answered
