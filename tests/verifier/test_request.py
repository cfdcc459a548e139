"""RP certificates, queries, DCQL mapping and the signed OpenID4VP request object."""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Any

import pytest

from netid.credentials.jose import decode_jws_unverified, public_jwk
from netid.errors import ParseError, UsageError, VerificationError
from netid.oid4vp import PresentationRequest, open_request, parse_rp_certificate
from netid.oid4vp.certificate import CLIENT_ID_PREFIX
from netid.oid4vp.dcql import build_dcql, parse_dcql
from netid.oid4vp.request import REQUEST_TYP
from netid.verifier import Query
from tests.verifier.kit import ISSUER, NOW, PERSON, RESPONSE_URI, fixed_key, make_world

FULL = Query(
    purpose="sign in",
    age_over=18,
    doc_valid=True,
    name_equals="张三丰",
    id_number_equals=PERSON.personal_number.lower(),
    region_in=["4403", "1101"],
    want_subject=True,
    want_netno=True,
    min_mode="pin",
)


def test_rp_certificate_roundtrip_and_failures() -> None:
    w = make_world()
    cert = parse_rp_certificate(w.rp_cert, w.trust, NOW)
    assert cert.rp_id == "shop.example" and cert.client_id == CLIENT_ID_PREFIX + "shop.example"
    assert cert.issuer == ISSUER and cert.response_uris == (RESPONSE_URI,)
    assert cert.request_jwk == public_jwk(w.rp_key)
    other = make_world("ES256")
    for token, trust, now in [
        (w.rp_cert, other.trust, NOW),  # wrong issuer key
        (w.rp_cert, w.trust, NOW + 400 * 86_400),  # expired
        (w.rp_cert, w.trust, NOW - 10_000),  # not yet valid
        (w.rp_cert[:-3] + "AAA", w.trust, NOW),  # bad signature
        ("not a jwt", w.trust, NOW),
    ]:
        with pytest.raises(VerificationError) as exc:
            parse_rp_certificate(token, trust, now)
        assert exc.value.code == "rp_certificate"


def test_request_object_shape() -> None:
    w = make_world()
    req = w.request(FULL, state="s" * 22)
    header, claims, _, _ = decode_jws_unverified(req.request_object)
    assert header == {"alg": "ES256", "typ": REQUEST_TYP, "jwt": w.rp_cert}
    assert claims["response_type"] == "vp_token" and claims["response_mode"] == "direct_post"
    assert claims["client_id"] == "verifier_attestation:shop.example" == req.client_id
    assert claims["response_uri"] == RESPONSE_URI and claims["state"] == "s" * 22
    assert claims["nonce"] == req.nonce and len(req.nonce) >= 22
    assert claims["exp"] - claims["iat"] == 300
    assert claims["netid"] == {"purpose": "sign in", "min_mode": "pin"}
    cq = claims["dcql_query"]["credentials"][0]
    assert cq["format"] == "dc+sd-jwt" and cq["meta"] == {"vct_values": ["urn:netid:netcert:1"]}
    by_id = {c["id"]: c for c in cq["claims"]}
    assert by_id["age_over_18"] == {"id": "age_over_18", "path": ["age_over_18"], "values": [True]}
    assert by_id["name"]["values"] == ["张三丰"]
    assert by_id["id_number"]["values"] == [PERSON.personal_number.upper()]
    assert by_id["region_city"]["values"] == ["1101", "4403"]
    assert "values" not in by_id["sub"] and "values" not in by_id["netno"]
    # required claims in every option; optional ones in every subset, largest first, ending with none
    sets = cq["claim_sets"]
    assert len(sets) == 2**5 and sets[0] == ["sub", "netno", "age_over_18", "doc_valid", "name", "id_number",
                                              "region_city"]  # fmt: skip
    assert sets[-1] == ["sub", "netno"]
    assert all({"sub", "netno"} <= set(s) for s in sets)


def test_uri_forms_open_in_the_wallet() -> None:
    w = make_world()
    req = w.request(FULL)
    by_value = req.to_uri()
    assert by_value.startswith("openid4vp://?client_id=verifier_attestation%3Ashop.example&request=")
    opened = open_request(by_value, trust=w.trust, now=NOW)
    assert opened.predicates == req.predicates and opened.nonce == req.nonce
    assert opened.certificate.name == "Example Shop"
    by_ref = req.to_uri("https://shop.example/req/1")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(by_ref).query)
    assert params["request_uri"] == ["https://shop.example/req/1"] and "request" not in params
    fetched: list[str] = []

    def fetch(uri: str) -> str:
        fetched.append(uri)
        return req.request_object

    assert open_request(by_ref, trust=w.trust, now=NOW, fetch=fetch).state == req.state
    assert fetched == ["https://shop.example/req/1"]
    assert open_request(req.request_object, trust=w.trust, now=NOW).client_id == req.client_id


def test_request_survives_session_storage() -> None:
    w = make_world()
    req = w.request(FULL)
    again = PresentationRequest.from_dict(req.to_dict())
    assert again == req


@pytest.mark.parametrize(
    ("kw", "query"),
    [
        ({"response_uri": "https://evil.example/cb"}, None),
        ({"client_id": "verifier_attestation:other"}, None),
        ({"rp_key": fixed_key("ES256", "someone-else")}, None),
        ({"nonce": "short"}, None),
        ({"nonce": "A" * 16}, None),  # 96 bits: below the 128 bits of protocol.md §5
        ({"nonce": "A" * 21}, None),
        ({"nonce": "a+b/c=" * 5}, None),  # not base64url
        ({"state": "s" * 21}, None),
        ({}, Query(purpose="marketing", age_over=18)),
    ],
)
def test_build_request_refuses_what_a_wallet_would_refuse(kw: dict[str, Any], query: Query | None) -> None:
    w = make_world()
    args: dict[str, Any] = {
        "rp_key": w.rp_key,
        "rp_certificate": w.rp_cert,
        "response_uri": RESPONSE_URI,
        "now": NOW,
    } | kw
    from netid.verifier import build_request

    with pytest.raises(UsageError):
        build_request(query or Query(purpose="age check", age_over=18), **args)


def test_build_request_refuses_predicates_outside_certificate() -> None:
    w = make_world(scopes=("age_over_18",))
    assert w.request(Query(purpose="age check", age_over=18)).predicates[0].name == "age_over_18"
    for q in (Query(purpose="age check", age_over=16), Query(purpose="age check", name_equals="x")):
        with pytest.raises(UsageError):
            w.request(q)


@pytest.mark.parametrize(
    "kw",
    [
        {"age_over": 0},
        {"age_over": 150},
        {"age_over": True},
        {"region_in": ["44", "4403"]},  # mixed levels
        {"region_in": ["4"]},
        {"region_in": "44"},
        {"region_in": []},
        {"name_equals": ""},
        {"min_mode": "retina"},
        {"purpose": ""},
    ],
)
def test_query_validation(kw: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        Query(**({"purpose": "p"} | kw))


def test_query_repr_hides_comparison_values() -> None:
    assert "张三丰" not in repr(FULL) and PERSON.personal_number not in repr(FULL).upper()
    assert "张三丰" not in repr(FULL.predicates())


def _dcql() -> dict[str, Any]:
    return build_dcql(FULL.predicates())


@pytest.mark.parametrize(
    "mutate",
    [
        lambda q: q["credentials"].append(dict(q["credentials"][0])),
        lambda q: q.update(credential_sets=[]),
        lambda q: q["credentials"][0].update(format="mso_mdoc"),
        lambda q: q["credentials"][0].update(meta={"vct_values": ["urn:other"]}),
        lambda q: q["credentials"][0].update(require_cryptographic_holder_binding=False),
        lambda q: q["credentials"][0]["claims"].append({"id": "birth_date", "path": ["birth_date"]}),
        lambda q: q["credentials"][0]["claims"][0].update(values=[False]),
        lambda q: q["credentials"][0]["claims"][0].update(path=["age_over_18", 0]),
        lambda q: q["credentials"][0]["claims"][2].update(values=["a", "b"]),
        lambda q: q["credentials"][0]["claims"][3].update(values=["not-normalised-x"]),
        lambda q: q["credentials"][0]["claims"][4].update(values=["4403", "1101"]),  # unsorted
        lambda q: q["credentials"][0]["claims"][4].update(values=["44"]),  # wrong level for the claim
        lambda q: q["credentials"][0]["claim_sets"].pop(),
        lambda q: q["credentials"][0]["claims"].append(q["credentials"][0]["claims"][0]),
        lambda q: q["credentials"][0]["claims"][5].update(values=["x"]),  # sub with values
    ],
)
def test_parse_dcql_is_strict(mutate: Any) -> None:
    q = _dcql()
    assert parse_dcql(q) == FULL.predicates()
    mutate(q)
    with pytest.raises(ParseError):
        parse_dcql(q)


def test_request_dataclass_is_what_verifier_uses() -> None:
    w = make_world()
    req = w.request(Query(purpose="age check", age_over=18))
    assert dataclasses.replace(req, nonce="x").nonce == "x"
    assert "eyJ" not in repr(req)


def test_nonce_and_state_shape_at_the_boundary() -> None:
    """protocol.md §5: nonce and state are >= 128 random bits, base64url (>= 22 characters)."""
    from netid.oid4vp.request import is_random_token
    from netid.verifier import build_request

    w = make_world()
    req = build_request(Query(purpose="age check", age_over=18), rp_key=w.rp_key, rp_certificate=w.rp_cert,
                        response_uri=RESPONSE_URI, now=NOW, nonce="N" * 22, state="S-_" * 8)  # fmt: skip
    assert open_request(req.to_uri(), trust=w.trust, now=NOW).nonce == "N" * 22
    assert not is_random_token("N" * 21) and not is_random_token("N" * 257) and not is_random_token(None)


@pytest.mark.parametrize("claim", ["nonce", "state"])
def test_wallet_refuses_a_request_with_a_weak_nonce_or_state(claim: str) -> None:
    from tests.verifier.kit import resign

    w = make_world()
    req = w.request(Query(purpose="age check", age_over=18))
    token = resign(w, req, lambda c: c.update({claim: "0123456789abcdef"}))  # 16 characters, 96 bits
    with pytest.raises(VerificationError) as exc:
        open_request(token, trust=w.trust, now=NOW)
    assert exc.value.code == "request"


def test_typ_is_a_case_insensitive_media_type_everywhere() -> None:
    from netid.credentials.jose import typ_matches
    from tests.verifier.kit import resign

    assert typ_matches("application/DC+SD-JWT", "dc+sd-jwt") and typ_matches("kb+jwt", "KB+JWT")
    assert not typ_matches("dc+sd-jwt+x", "dc+sd-jwt") and not typ_matches(None, "kb+jwt")
    assert not typ_matches("text/kb+jwt", "kb+jwt")
    w = make_world()
    req = w.request(Query(purpose="age check", age_over=18))
    token = resign(w, req, lambda c: None, header_edit=None)
    header, claims, _, _ = decode_jws_unverified(token)
    from netid.credentials.jose import sign_jws

    upper = sign_jws(
        claims, w.rp_key, typ="application/OAuth-Authz-Req+JWT", extra_headers={"jwt": header["jwt"]}
    )
    assert open_request(upper, trust=w.trust, now=NOW).nonce == req.nonce
