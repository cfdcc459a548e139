"""One test per verifier check: start from a valid presentation and flip exactly one thing."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from netid.credentials.jose import b64url_encode, json_dumps, public_jwk, sign_jws
from netid.credentials.netcert import NETCERT_VCT
from netid.credentials.sdjwt.codec import Disclosure
from netid.credentials.sdjwt.present import present_sd_jwt
from netid.credentials.status_list import INVALID, SUSPENDED
from netid.errors import VerificationError, WalletRefusal
from netid.issuance import IssuerKey
from netid.oid4vp.dcql import id_number_predicate
from netid.oid4vp.response import presentation_from_vp_token
from netid.policy import DEFAULT_POLICY, Policy
from netid.verifier import IssuerTrust, PresentationRequest, Query, Verifier
from netid.verifier.replay import InMemoryReplayCache
from netid.verifier.verify import _system_clock
from tests.verifier.kit import (
    ISSUER,
    PERSON,
    STATUS_URI,
    World,
    fixed_key,
    hand_present,
    kb_jwt,
    make_world,
    mint_raw,
    resign,
)

HOLDER = fixed_key("ES256", "negative-holder")
OTHER = fixed_key("ES256", "negative-other")
AGE = Query(purpose="age check", age_over=18)


@pytest.fixture
def w() -> World:
    return make_world()


def setup(w: World, query: Query = AGE, **mint_kw: Any) -> tuple[str, PresentationRequest]:
    cred = mint_raw(w, [HOLDER], **mint_kw)[0]
    return cred, w.request(query)


def rejects(w: World, vp: Any, req: PresentationRequest, code: str, verifier: Verifier | None = None) -> None:
    with pytest.raises(VerificationError) as exc:
        (verifier or w.verifier).verify(vp, req)
    assert exc.value.code == code


def valid(w: World) -> None:
    """Sanity: the unflipped presentation verifies, so each negative test flips exactly one thing."""
    cred, req = setup(w)
    assert w.verifier.verify(hand_present(cred, HOLDER, req, claims=("age_over_18",)), req)["age_over_18"]


def test_baseline_is_valid(w: World) -> None:
    valid(w)


# --- forged issuer JWTs ------------------------------------------------------------------------------


def _b64json(value: Any) -> str:
    return b64url_encode(json_dumps(value))


def forged(
    w: World,
    *,
    header: dict[str, Any] | None = None,
    payload_edit: Callable[[dict[str, Any], list[Disclosure]], None] | None = None,
    sign: Callable[[bytes], bytes] | None = None,
    typ: str = "dc+sd-jwt",
) -> str:
    """An issuer-signed SD-JWT built by hand (one ``age_over_18`` disclosure), optionally mangled."""
    d = Disclosure.create("age_over_18", True, rng=w.rng)
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "vct": NETCERT_VCT,
        "iat": w.clock() - 86_400,
        "exp": w.clock() + 86_400,
        "cnf": {"jwk": public_jwk(HOLDER)},
        "status": {"status_list": {"idx": 5, "uri": STATUS_URI}},
        "_sd": [d.digest],
        "_sd_alg": "sha-256",
    }
    discl = [d]
    if payload_edit:
        payload_edit(payload, discl)
    if header is None and sign is None:
        jwt = sign_jws(payload, w.netcert_key.key, typ=typ, kid=w.netcert_key.kid)
    else:
        h = header or {"alg": "EdDSA", "typ": typ, "kid": w.netcert_key.kid}
        signing_input = f"{_b64json(h)}.{_b64json(payload)}".encode()
        jwt = signing_input.decode() + "." + b64url_encode(sign(signing_input) if sign else b"")
    return "~".join([jwt, *(x.encoded for x in discl), ""])


def present_forged(w: World, sdjwt: str, req: PresentationRequest) -> dict[str, list[str]]:
    return {"netcert": [sdjwt + kb_jwt(HOLDER, sdjwt, aud=req.client_id, nonce=req.nonce, iat=req.iat)]}


def test_wrong_issuer_key(w: World) -> None:
    import dataclasses

    other = make_world("EdDSA")
    impostor = IssuerKey(other.netcert_key.kid, "netcert", fixed_key("EdDSA", "impostor"))
    # same kid, different key: the signature cannot verify
    other.profile = dataclasses.replace(
        other.profile, keys=dataclasses.replace(other.profile.keys, netcert=impostor)
    )
    cred = mint_raw(other, [HOLDER])[0]
    req = w.request(AGE)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "issuer_signature")


def test_unknown_kid(w: World) -> None:
    req = w.request(AGE)
    sdjwt = forged(w, header={"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": "nope"}, sign=lambda m: b"x" * 64)
    rejects(w, present_forged(w, sdjwt, req), req, "issuer_key")


def test_alg_none(w: World) -> None:
    req = w.request(AGE)
    header = {"alg": "none", "typ": "dc+sd-jwt", "kid": w.netcert_key.kid}
    sdjwt = forged(w, header=header, sign=lambda m: b"")
    rejects(w, present_forged(w, sdjwt, req), req, "algorithm")


def test_hs256_with_public_key_as_secret(w: World) -> None:
    req = w.request(AGE)
    secret = json_dumps(w.jwks["keys"][0])
    sdjwt = forged(
        w,
        header={"alg": "HS256", "typ": "dc+sd-jwt", "kid": w.netcert_key.kid},
        sign=lambda m: hmac.new(secret, m, hashlib.sha256).digest(),
    )
    rejects(w, present_forged(w, sdjwt, req), req, "algorithm")


def test_alg_differs_from_pinned_jwk_alg(w: World) -> None:
    req = w.request(AGE)
    sdjwt = forged(
        w, header={"alg": "ES256", "typ": "dc+sd-jwt", "kid": w.netcert_key.kid}, sign=lambda m: b"x" * 64
    )
    rejects(w, present_forged(w, sdjwt, req), req, "algorithm")


def test_unknown_typ(w: World) -> None:
    req = w.request(AGE)
    rejects(w, present_forged(w, forged(w, typ="vc+sd-jwt"), req), req, "typ")


def test_unknown_vct(w: World) -> None:
    req = w.request(AGE)
    sdjwt = forged(w, payload_edit=lambda p, d: p.update(vct="urn:other:credential"))
    rejects(w, present_forged(w, sdjwt, req), req, "vct")


@pytest.mark.parametrize(
    "edit",
    [
        lambda p, d: p.pop("exp"),
        lambda p, d: p.pop("iat"),
        lambda p, d: p.update(status="valid"),
        lambda p, d: p.pop("status"),
        lambda p, d: p.update(status={"status_list": {"idx": -1, "uri": STATUS_URI}}),
        lambda p, d: p.update(status={"status_list": {"idx": True, "uri": STATUS_URI}}),
    ],
)
def test_netcert_profile_claims_are_required(w: World, edit: Any) -> None:
    """Review A5: the generic SD-JWT layer treats exp/iat as optional; the netcert step does not."""
    req = w.request(AGE)
    rejects(w, present_forged(w, forged(w, payload_edit=edit), req), req, "claim_missing")


def test_status_claim_not_required_without_a_status_source(w: World) -> None:
    offline = Verifier(w.trust, status=None, replay_cache=InMemoryReplayCache(w.clock), clock=w.clock)
    req = w.request(AGE)
    vp = present_forged(w, forged(w, payload_edit=lambda p, d: p.pop("status")), req)
    assert offline.verify(vp, req)["age_over_18"]
    req = w.request(AGE)
    vp = present_forged(w, forged(w, payload_edit=lambda p, d: p.pop("exp")), req)
    rejects(w, vp, req, "claim_missing", verifier=offline)


def test_kb_jwt_typ_with_media_type_prefix_is_accepted(w: World) -> None:
    req = w.request(AGE)
    sdjwt = forged(w)
    kb = kb_jwt(HOLDER, sdjwt, aud=req.client_id, nonce=req.nonce, iat=req.iat, typ="application/KB+JWT")
    assert w.verifier.verify({"netcert": [sdjwt + kb]}, req)["age_over_18"]


def test_forged_baseline_is_valid(w: World) -> None:
    req = w.request(AGE)
    assert w.verifier.verify(present_forged(w, forged(w), req), req)["age_over_18"]


def test_expired(w: World) -> None:
    cred = mint_raw(w, [HOLDER])[0]
    w.clock.now += 31 * 86_400 + 120  # past exp + leeway; request and KB-JWT made at that time
    req = w.request(AGE)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "expired")


def test_not_yet_valid(w: World) -> None:
    cred = mint_raw(w, [HOLDER], now=w.clock() + 3 * 86_400)[0]
    req = w.request(AGE)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "issued_in_future")


def test_nbf_in_future(w: World) -> None:
    req = w.request(AGE)
    sdjwt = forged(w, payload_edit=lambda p, d: p.update(nbf=w.clock() + 3600))
    rejects(w, present_forged(w, sdjwt, req), req, "not_yet_valid")


def test_missing_kb_jwt(w: World) -> None:
    cred, req = setup(w)
    vp = {"netcert": [present_sd_jwt(cred, disclose=[("age_over_18",)])]}
    rejects(w, vp, req, "kb_missing")


def test_foreign_kb_jwt(w: World) -> None:
    cred, req = setup(w)
    without = present_sd_jwt(cred, disclose=[("age_over_18",)])
    vp = {"netcert": [without + kb_jwt(OTHER, without, aud=req.client_id, nonce=req.nonce, iat=req.iat)]}
    rejects(w, vp, req, "kb_signature")


def test_kb_wrong_typ(w: World) -> None:
    cred, req = setup(w)
    without = present_sd_jwt(cred, disclose=[("age_over_18",)])
    kb = kb_jwt(HOLDER, without, aud=req.client_id, nonce=req.nonce, iat=req.iat, typ="jwt")
    rejects(w, {"netcert": [without + kb]}, req, "kb_typ")


def test_wrong_aud(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",), aud="verifier_attestation:other-rp")
    rejects(w, vp, req, "aud")


def test_wrong_nonce(w: World) -> None:
    cred, req = setup(w)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",), nonce="A" * 22), req, "nonce")


def test_reused_nonce(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",))
    assert w.verifier.verify(vp, req)["age_over_18"]
    rejects(w, vp, req, "nonce_reused")


def test_replay_cache_is_shared_across_verifier_instances(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",))
    w.verifier.verify(vp, req)
    second = Verifier(w.trust, status=None, replay_cache=w.replay, clock=w.clock)
    rejects(w, vp, req, "nonce_reused", verifier=second)


def test_stale_kb_iat(w: World) -> None:
    cred, req = setup(w)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",), iat=req.iat - 400), req, "kb_iat")


def test_future_kb_iat(w: World) -> None:
    cred, req = setup(w)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",), iat=req.iat + 400), req, "kb_iat")


def test_wrong_sd_hash(w: World) -> None:
    cred, req = setup(w)
    without = present_sd_jwt(cred, disclose=[("age_over_18",)])
    kb = kb_jwt(HOLDER, without, aud=req.client_id, nonce=req.nonce, iat=req.iat, sd_hash_value="A" * 43)
    rejects(w, {"netcert": [without + kb]}, req, "sd_hash")


def test_disclosure_dropped_after_binding(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",))
    jwt, _disclosure, kb = vp["netcert"][0].split("~")
    rejects(w, {"netcert": [f"{jwt}~{kb}"]}, req, "sd_hash")


def test_tampered_disclosure(w: World) -> None:
    cred, req = setup(w)
    jwt, d, kb = hand_present(cred, HOLDER, req, claims=("age_over_18",))["netcert"][0].split("~")
    parsed = Disclosure.parse(d)
    fake = Disclosure.create("age_over_18", True, salt=parsed.salt + "x")
    rejects(w, {"netcert": [f"{jwt}~{fake.encoded}~{kb}"]}, req, "disclosure_unreferenced")


def test_duplicated_disclosure(w: World) -> None:
    cred, req = setup(w)
    without = present_sd_jwt(cred, disclose=[("age_over_18",)])
    jwt, d, _ = without.split("~")
    doubled = f"{jwt}~{d}~{d}~"
    kb = kb_jwt(HOLDER, doubled, aud=req.client_id, nonce=req.nonce, iat=req.iat)
    rejects(w, {"netcert": [doubled + kb]}, req, "disclosure_duplicate")


def test_extra_unrequested_disclosure(w: World) -> None:
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18", "region_county"))
    rejects(w, vp, req, "disclosure_unrequested")


def test_digest_referenced_twice(w: World) -> None:
    req = w.request(AGE)

    def twice(p: dict[str, Any], d: list[Disclosure]) -> None:
        p["_sd"] = [d[0].digest, d[0].digest]

    rejects(w, present_forged(w, forged(w, payload_edit=twice), req), req, "digest_duplicate")


def test_array_element_placeholder_misuse(w: World) -> None:
    req = w.request(AGE)

    def misplace(p: dict[str, Any], d: list[Disclosure]) -> None:
        p["_sd"] = []
        p["extra"] = [{"...": d[0].digest}]  # an object-property disclosure referenced as an array element

    rejects(w, present_forged(w, forged(w, payload_edit=misplace), req), req, "array_element")


def test_non_matching_value_is_false_not_error(w: World) -> None:
    # a hand-built (non-minimising) presentation discloses the real name although it differs
    q = Query(purpose="sign in", name_equals="李四", age_over=18)
    cred, req = setup(w, q)
    answers = w.verifier.verify(hand_present(cred, HOLDER, req, claims=("name", "age_over_18")), req)
    assert dict(answers.predicates) == {"age_over_18": True, "name_equals": False}
    assert PERSON.full_name not in repr(answers)


def test_false_value_disclosed_is_false(w: World) -> None:
    q = Query(purpose="age check", age_over=60)
    cred, req = setup(w, q)
    answers = w.verifier.verify(hand_present(cred, HOLDER, req, claims=("age_over_60",)), req)
    assert answers["age_over_60"] is False


@pytest.mark.parametrize("status", [INVALID, SUSPENDED])
def test_revoked_or_suspended(w: World, status: int) -> None:
    cred, req = setup(w)
    w.status.set(100, status)
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "status_revoked")


def test_status_unavailable(w: World) -> None:
    cred, req = setup(w)

    def broken(uri: str) -> str:
        raise OSError("issuer down")

    w.fetch_status = broken  # type: ignore[method-assign]
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "status_unavailable")


def test_status_list_signed_by_stranger(w: World) -> None:
    cred, req = setup(w)
    import dataclasses

    stranger = IssuerKey(w.profile.keys.status_list.kid, "status_list", fixed_key("EdDSA", "stranger"))
    # the status list token is now signed by another key under the same kid
    w.profile = dataclasses.replace(w.profile, keys=dataclasses.replace(w.profile.keys, status_list=stranger))
    rejects(w, hand_present(cred, HOLDER, req, claims=("age_over_18",)), req, "status_unavailable")


def test_predicate_outside_rp_certificate(w: World) -> None:
    narrow = make_world(scopes=("age_over",))
    cred, req = setup(narrow)
    # verifier side: a request widened after the fact (never signed into a certificate)
    widened = dataclasses.replace(
        req, predicates=(*req.predicates, id_number_predicate(PERSON.personal_number))
    )
    rejects(
        narrow, hand_present(cred, HOLDER, widened, claims=("age_over_18", "id_number")), widened, "rp_scope"
    )
    # wallet side: the RP signs a request asking more than its certificate allows; the wallet refuses
    token = resign(narrow, req, lambda c: c["dcql_query"]["credentials"][0]["claims"].append(
        {"id": "id_number", "path": ["id_number"], "values": [PERSON.personal_number]}))  # fmt: skip
    narrow.mint(1)
    with pytest.raises(WalletRefusal) as exc:
        narrow.wallet.present(token, now=narrow.clock(), consent=lambda p: True, amr="pin")
    assert exc.value.code == "request"  # claim_sets no longer match → malformed query, refused
    token = resign(narrow, req, lambda c: _add_claim_properly(c, PERSON.personal_number))
    with pytest.raises(WalletRefusal) as exc:
        narrow.wallet.present(token, now=narrow.clock(), consent=lambda p: True, amr="pin")
    assert exc.value.code == "rp_scope"


def _add_claim_properly(claims: dict[str, Any], number: str) -> None:
    from netid.oid4vp.dcql import age_predicate, build_dcql

    claims["dcql_query"] = build_dcql([age_predicate(18), id_number_predicate(number)])


def test_subject_for_another_sector(w: World) -> None:
    q = Query(purpose="sign in", want_subject=True)
    cred, req = setup(w, q, kind="rp", sector="bank.example")
    rejects(w, hand_present(cred, HOLDER, req), req, "subject")


def test_subject_missing(w: World) -> None:
    cred, req = setup(w, Query(purpose="sign in", want_subject=True))
    rejects(w, hand_present(cred, HOLDER, req), req, "subject")


def test_weaker_mode_than_required(w: World) -> None:
    cred, req = setup(w, Query(purpose="age check", age_over=18, min_mode="face"))
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",), amr=["swk", "pin"])
    rejects(w, vp, req, "assurance")


def test_request_expired(w: World) -> None:
    cred, req = setup(w)
    w.clock.now += 601
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",), iat=w.clock())
    rejects(w, vp, req, "request")


@pytest.mark.parametrize(
    "shape",
    [
        lambda p: p,
        lambda p: {"other": [p]},
        lambda p: {"netcert": p},
        lambda p: {"netcert": [p, p]},
        lambda p: {"netcert": [], "x": [p]},
        lambda p: "{not json",
        lambda p: {"netcert": [{"p": p}]},
    ],
)
def test_malformed_vp_token(w: World, shape: Callable[[str], Any]) -> None:
    cred, req = setup(w)
    p = hand_present(cred, HOLDER, req, claims=("age_over_18",))["netcert"][0]
    rejects(w, shape(p), req, "malformed")


def test_jwks_rotation_refetch_is_rate_limited() -> None:
    w = make_world()
    calls: list[int] = []
    keys = {"keys": []}  # the issuer has not published its key yet

    def fetch() -> dict[str, Any]:
        calls.append(w.clock())
        return keys

    trust = IssuerTrust(issuer=w.profile.issuer, fetch=fetch, clock=w.clock, refetch_interval=60)
    verifier = Verifier(trust, status=None, replay_cache=InMemoryReplayCache(w.clock), clock=w.clock)
    cred, req = setup(w)
    vp = hand_present(cred, HOLDER, req, claims=("age_over_18",))
    rejects(w, vp, req, "issuer_key", verifier=verifier)
    rejects(w, vp, req, "issuer_key", verifier=verifier)
    assert len(calls) == 1  # unknown kid twice within the interval: one fetch
    keys = w.jwks  # rotation: the key is now published
    w.clock.now += 61
    req2 = w.request(AGE)
    vp2 = hand_present(cred, HOLDER, req2, claims=("age_over_18",))
    assert verifier.verify(vp2, req2)["age_over_18"]
    assert len(calls) == 2


# --- netcert claims of an unexpected type, assurance inputs, vp_token sizes (docs/mutation.md) -------


def test_fractional_iat_and_exp_are_numbers(w: World) -> None:
    req = w.request(AGE)
    edit = lambda p, d: p.update(iat=w.clock() - 86_400.5, exp=w.clock() + 86_400.5)  # noqa: E731
    assert w.verifier.verify(present_forged(w, forged(w, payload_edit=edit), req), req)["age_over_18"]


@pytest.mark.parametrize("sub", [12345, None, ["s"], {"s": 1}])
def test_a_subject_that_is_not_a_string_is_no_subject(w: World, sub: Any) -> None:
    """The right sector alone does not make a subject: ``sub`` must be a string."""
    req = w.request(Query(purpose="sign in", age_over=18, want_subject=True))
    sector = req.certificate.sector
    edit = lambda p, d: p.update(sub=sub, sector=sector)  # noqa: E731
    rejects(w, present_forged(w, forged(w, payload_edit=edit), req), req, "subject")
    ok = lambda p, d: p.update(sub="s" * 43, sector=sector)  # noqa: E731  # the positive control
    req = w.request(Query(purpose="sign in", age_over=18, want_subject=True))
    assert w.verifier.verify(present_forged(w, forged(w, payload_edit=ok), req), req).subject == "s" * 43


@pytest.mark.parametrize("netno", [12345, None, ["ABCDEFGHJR"], {"netno": "ABCDEFGHJR"}])
def test_a_netno_that_is_not_a_string_is_not_answered(w: World, netno: Any) -> None:
    query = Query(purpose="sign in", age_over=18, want_netno=True)
    req = w.request(query)
    vp = present_forged(w, forged(w, payload_edit=lambda p, d: p.update(netno=netno)), req)
    assert w.verifier.verify(vp, req).netno is None
    req = w.request(query)
    vp = present_forged(w, forged(w, payload_edit=lambda p, d: p.update(netno="ABCDEFGHJR")), req)
    assert w.verifier.verify(vp, req).netno == "ABCDEFGHJR"


def _with_assurance(w: World, claim: Any, amr: Any) -> Any:
    """Answers for a forged netcert whose ``assurance`` claim is ``claim`` (absent: ``...``), presented with
    a KB-JWT whose ``amr`` is ``amr`` (absent: ``...``)."""
    req = w.request(AGE)
    edit = (lambda p, d: None) if claim is ... else (lambda p, d: p.update(assurance=claim))
    sdjwt = forged(w, payload_edit=edit)
    payload: dict[str, Any] = {"iat": req.iat, "aud": req.client_id, "nonce": req.nonce}
    payload["sd_hash"] = b64url_encode(hashlib.sha256(sdjwt.encode()).digest())
    if amr is not ...:
        payload["amr"] = amr
    return w.verifier.verify({"netcert": [sdjwt + sign_jws(payload, HOLDER, typ="kb+jwt")]}, req)


@pytest.mark.parametrize(
    ("claim", "amr", "expected"),
    [
        ({"chip_auth": "ca"}, ["hwk", "face"], ("ca", "face", "high")),
        ({"chip_auth": "pa-only"}, ["pin", "swk"], ("pa-only", "pin", "low")),  # any order
        ({"chip_auth": "pa-only"}, ["swk", "face"], ("pa-only", "face", "substantial")),
        ({"chip_auth": "xyz"}, ["hwk", "pin"], ("unknown", "pin", "low")),  # a method NetID does not know
        ({"chip_auth": {"aa": 1}}, ["hwk", "pin"], ("unknown", "pin", "low")),
        ({"chip_auth": ["aa"]}, ["hwk", "face"], ("unknown", "face", "substantial")),
        ({}, ["hwk", "pin"], ("unknown", "pin", "low")),
        ("aa", ["hwk", "pin"], ("unknown", "pin", "low")),  # the claim is not an object
        (..., ["hwk", "pin", "face"], ("unknown", "pin+face", "substantial")),
        ({"chip_auth": "aa"}, ..., ("aa", None, "low")),  # no amr: no mode
        ({"chip_auth": "aa"}, "hwk", ("aa", None, "low")),
        ({"chip_auth": "aa"}, [["hwk"]], ("aa", None, "low")),
        ({"chip_auth": "aa"}, ["hwk", "otp"], ("aa", None, "low")),
    ],
)
def test_assurance_from_unusual_claims(w: World, claim: Any, amr: Any, expected: tuple[Any, ...]) -> None:
    assurance = _with_assurance(w, claim, amr).assurance
    assert (assurance.chip_auth, assurance.mode, assurance.level) == expected


def test_the_default_clock_is_the_system_clock() -> None:
    before = int(time.time())
    now = _system_clock()
    assert type(now) is int and before <= now <= int(time.time())


def test_a_vp_token_entry_that_is_not_a_string_is_malformed(w: World) -> None:
    req = w.request(AGE)
    for item in (5, 5.0, True, None, b"x"):
        rejects(w, {"netcert": [item]}, req, "malformed")


def test_vp_token_text_and_presentation_sizes_at_their_limits(w: World) -> None:
    """Text: at most one policy-size presentation (plus 64 characters of JSON) per query the request
    made; a presentation: at most the policy size, also when several queries carry it."""
    cred, req = setup(w, Query(purpose="age check", age_over=18))
    p = hand_present(cred, HOLDER, req, claims=("age_over_18",))["netcert"][0]
    queries = 2  # netcert and age_over_18
    text = json.dumps({"netcert": [p]})
    limit = queries * (len(p) + 64)
    assert presentation_from_vp_token(text + " " * (limit - len(text)), req, max_bytes=len(p)) == p
    with pytest.raises(VerificationError, match="malformed"):
        presentation_from_vp_token(text + " " * (limit - len(text) + 1), req, max_bytes=len(p))
    both = {"netcert": [p], "age_over_18": [p]}
    assert presentation_from_vp_token(both, req, max_bytes=len(p)) == p
    with pytest.raises(VerificationError, match="malformed"):
        presentation_from_vp_token(both, req, max_bytes=len(p) - 1)


def test_a_verifier_with_a_larger_size_policy_takes_larger_presentations(w: World) -> None:
    """The policy's size reaches the SD-JWT layer too, not only the vp_token parser: a presentation over
    the default 16 KiB but within a larger policy verifies there, and only there."""
    big = forged(w, payload_edit=lambda p, d: p.update(note="x" * 20_000))
    assert len(big) > DEFAULT_POLICY.max_presentation_bytes
    roomy = Verifier(
        w.trust,
        status=None,
        replay_cache=InMemoryReplayCache(w.clock),
        clock=w.clock,
        policy=Policy(max_presentation_bytes=64 * 1024),
    )
    req = w.request(AGE)
    assert roomy.verify(present_forged(w, big, req), req)["age_over_18"]
    req = w.request(AGE)
    rejects(w, present_forged(w, big, req), req, "malformed")
