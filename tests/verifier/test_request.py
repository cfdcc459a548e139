"""RP certificates, queries, DCQL mapping and the signed OpenID4VP request object."""

from __future__ import annotations

import dataclasses
import json
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
from tests.verifier.kit import (
    ISSUER,
    NOW,
    PERSON,
    RESPONSE_URI,
    fixed_key,
    make_world,
    standard_dcql_errors,
    standard_wallet_answers,
)

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
    dcql = claims["dcql_query"]
    by_id = {cq["id"]: cq for cq in dcql["credentials"]}
    assert all(cq["format"] == "dc+sd-jwt" and cq["meta"] == {"vct_values": ["urn:netid:netcert:1"]}
               for cq in by_id.values())  # fmt: skip
    # one optional credential query per comparison, named after its predicate, with its one claim
    assert by_id["age_over_18"]["claims"] == [{"path": ["age_over_18"], "values": [True]}]
    assert by_id["name_equals"]["claims"] == [{"path": ["name"], "values": ["张三丰"]}]
    assert by_id["id_number_equals"]["claims"] == [
        {"path": ["id_number"], "values": [PERSON.personal_number.upper()]}
    ]
    assert by_id["region_in"]["claims"] == [{"path": ["region_city"], "values": ["1101", "4403"]}]
    # the required base query carries the identifier claims
    assert by_id["netcert"]["claims"] == [{"path": ["sub"]}, {"path": ["netno"]}]
    assert dcql["credential_sets"] == [
        *({"options": [[i]], "required": False} for i in
          ("age_over_18", "doc_valid", "name_equals", "id_number_equals", "region_in")),
        {"options": [["netcert"]]},
    ]  # fmt: skip
    assert "claim_sets" not in json.dumps(dcql)  # nothing is enumerated: linear in the predicates


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


def _cq(q: dict[str, Any], query_id: str) -> dict[str, Any]:
    return next(cq for cq in q["credentials"] if cq["id"] == query_id)


def _claim(q: dict[str, Any], query_id: str) -> dict[str, Any]:
    claim: dict[str, Any] = _cq(q, query_id)["claims"][0]
    return claim


@pytest.mark.parametrize(
    "mutate",
    [
        lambda q: q["credentials"].append(dict(q["credentials"][0])),
        lambda q: q.update(credential_sets=[]),
        lambda q: q.pop("credential_sets"),
        lambda q: q["credential_sets"].pop(0),
        lambda q: q["credential_sets"][0].update(required=0),  # 0 is not false
        lambda q: q["credential_sets"][-1].update(required=False),  # the base query optional
        lambda q: q.update(extra=1),
        lambda q: q["credentials"][0].update(format="mso_mdoc"),
        lambda q: q["credentials"][0].update(meta={"vct_values": ["urn:other"]}),
        lambda q: q["credentials"][0].update(require_cryptographic_holder_binding=False),
        lambda q: q["credentials"][0].update(multiple=True),
        lambda q: q["credentials"][0].update(id="age_over_16"),  # named after another predicate
        lambda q: _cq(q, "netcert")["claims"].append({"path": ["birth_date"]}),
        lambda q: _cq(q, "netcert")["claims"].clear(),
        lambda q: _cq(q, "netcert").update(id="base"),
        lambda q: _claim(q, "age_over_18").update(values=[False]),
        lambda q: _claim(q, "age_over_18").update(path=["age_over_18", 0]),
        lambda q: _claim(q, "age_over_18").update(id="x"),
        lambda q: _claim(q, "name_equals").update(values=["a", "b"]),
        lambda q: _claim(q, "id_number_equals").update(values=["not-normalised-x"]),
        lambda q: _claim(q, "region_in").update(values=["4403", "1101"]),  # unsorted
        lambda q: _claim(q, "region_in").update(values=["44"]),  # wrong level for the claim
        lambda q: _cq(q, "age_over_18")["claims"].append({"path": ["doc_valid"], "values": [True]}),
        lambda q: _cq(q, "netcert")["claims"][0].update(values=["x"]),  # sub with values
        lambda q: _cq(q, "netcert")["claims"].append({"path": ["sub"]}),  # sub twice
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


# --- issue 8: bounded DCQL work, scope first, strict JSON types (items 2, 5) ---------------------------


def _signed_with_dcql(w: Any, dcql: Any, query: Query | None = None, **claims: Any) -> str:
    from tests.verifier.kit import resign

    req = w.request(query or Query(purpose="age check", age_over=18))
    return resign(w, req, lambda c: c.update(dcql_query=dcql, **claims))


def _many_claims_dcql(n: int) -> dict[str, Any]:
    """A DCQL query with ``n`` distinct optional claims in one credential query (what issue 8 sent)."""
    claims = [{"id": f"age_over_{i}", "path": [f"age_over_{i}"], "values": [True]} for i in range(1, n + 1)]
    cq = {"id": "netcert", "format": "dc+sd-jwt", "meta": {"vct_values": ["urn:netid:netcert:1"]},
          "claims": claims}  # fmt: skip
    return {"credentials": [cq]}


def test_wallet_work_on_a_many_claim_request_is_bounded() -> None:
    """Issue 8 item 2: 20 optional claims cost the wallet all 2^20 claim sets (190 MiB) before any check;
    a request's parse must stay bounded whatever it asks (memory measured, not time)."""
    import tracemalloc

    w = make_world(scopes=("subject",))  # an RP allowed only the subject
    token = _signed_with_dcql(w, _many_claims_dcql(20), Query(purpose="sign in", want_subject=True))
    assert len(token) < 8192
    tracemalloc.start()
    try:
        with pytest.raises(VerificationError) as exc:
            open_request(token, trust=w.trust, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.code == "request"
    assert peak < 2 * 2**20, f"opening a 20-claim request peaked at {peak} bytes"


def test_rp_scope_is_checked_before_the_query_is_parsed() -> None:
    """Issue 8 item 2 (scope first): an out-of-scope claim is refused as rp_scope even when the rest of
    the query would not parse (before: parse first, so 'request')."""
    w = make_world(scopes=("age_over",))
    dcql = build_dcql(Query(purpose="age check", age_over=18).predicates())
    bad = {"path": ["id_number"], "values": ["not-normalised-x"]}
    meta = {"vct_values": ["urn:netid:netcert:1"]}
    dcql["credentials"].insert(
        0, {"id": "id_number_equals", "format": "dc+sd-jwt", "meta": meta, "claims": [bad]}
    )
    with pytest.raises(VerificationError) as exc:
        open_request(_signed_with_dcql(w, dcql), trust=w.trust, now=NOW)
    assert exc.value.code == "rp_scope"


@pytest.mark.parametrize("value", [1, 1.0, "true", 0])
def test_dcql_values_compare_with_their_json_types(value: Any) -> None:
    """Issue 8 item 5: ``values: [1]`` was read as ``[true]`` (Python's 1 == True)."""
    q = build_dcql(Query(purpose="p", age_over=18, doc_valid=True).predicates())
    for cq in q["credentials"]:
        for claim in cq.get("claims", []):
            if claim["path"][0] == "age_over_18":
                claim["values"] = [value]
    with pytest.raises(ParseError):
        parse_dcql(q)


def test_dcql_asks_at_most_one_age_threshold() -> None:
    """Issue 8 item 6: several thresholds in one request would reveal an age bracket."""
    from netid.oid4vp.dcql import age_predicate

    with pytest.raises(UsageError):
        build_dcql([age_predicate(14), age_predicate(18)])


# --- issue 8: the RP certificate names the thresholds the issuer mints (item 5) ------------------------


def test_certificate_carries_the_issuers_age_thresholds() -> None:
    w = make_world()
    cert = parse_rp_certificate(w.rp_cert, w.trust, NOW)
    assert cert.age_thresholds == (14, 16, 18, 60)


def test_build_request_refuses_a_threshold_the_issuer_does_not_mint() -> None:
    """Issue 8 item 5: Query(age_over=21) answered False for a 76-year-old; refuse it when building."""
    w = make_world()
    for build in (w.request, lambda q: __import__("netid.verifier", fromlist=["x"]).build_counter_request(
            q, rp_key=w.rp_key, rp_certificate=w.rp_cert, counter_id="gate-1", now=NOW)):  # fmt: skip
        with pytest.raises(UsageError) as exc:
            build(Query(purpose="age check", age_over=21))
        assert "14, 16, 18, 60" in str(exc.value)
    assert w.request(Query(purpose="age check", age_over=16)).predicates[0].name == "age_over_16"


def test_issuer_refuses_an_age_scope_it_does_not_mint() -> None:
    from netid.issuance import RpRegistration, issue_rp_certificate

    w = make_world()
    registration = RpRegistration(
        rp_id="bar.example", name="Bar", sector="bar.example", allowed_predicates=["age_over_21"],
        purposes=["age check"], response_uris=["https://bar.example/cb"], request_jwk=public_jwk(w.rp_key),
    )  # fmt: skip
    with pytest.raises(UsageError) as exc:
        issue_rp_certificate(w.profile, registration, now=NOW)
    assert "14, 16, 18, 60" in str(exc.value)


def test_build_request_refuses_a_float_now() -> None:
    """Issue 8 item 5: ``now=time.time()`` was signed as a float and refused by every wallet later."""
    import time

    from netid.verifier import build_request

    w = make_world()
    with pytest.raises(UsageError):
        build_request(Query(purpose="age check", age_over=18), rp_key=w.rp_key, rp_certificate=w.rp_cert,
                      response_uri=RESPONSE_URI, now=time.time())  # type: ignore[arg-type]  # fmt: skip


# --- issue 8: names in one canonical form (item 5) ------------------------------------------------------


def test_query_canonicalises_the_name_it_compares() -> None:
    assert Query(purpose="p", name_equals="阿依古丽•买买提").predicates()[0].values == ("阿依古丽·买买提",)
    assert Query(purpose="p", name_equals=" 张 三丰").predicates()[0].values == ("张三丰",)


def test_wallet_refuses_a_name_value_not_in_canonical_form() -> None:
    q = build_dcql(Query(purpose="p", name_equals="张三丰").predicates())
    for cq in q["credentials"]:
        for claim in cq.get("claims", []):
            if claim["path"] == ["name"]:
                claim["values"] = ["张 三丰"]
    with pytest.raises(ParseError):
        parse_dcql(q)


# --- issue 8: OpenID4VP 1.0 as independent implementations read it (item 11) --------------------------


@pytest.mark.parametrize("query", [
    FULL,
    Query(purpose="age check", age_over=18),
    Query(purpose="age check", age_over=18, name_equals="张三丰", region_in=["44"]),
    Query(purpose="sign in", want_subject=True),
    Query(purpose="proof of a netcert"),
])  # fmt: skip
def test_dcql_is_standard(query: Query) -> None:
    """Issue 8 item 11: every anonymous request ended its claim_sets with [], which a standard DCQL parser
    refuses ("array must be non-empty")."""
    assert standard_dcql_errors(build_dcql(query.predicates())) == []


def test_a_standard_wallet_answers_no_to_a_value_that_does_not_match() -> None:
    """Issue 8 item 11: with the empty claim set refused, §6.4.1 made a standard wallet return nothing at
    all when one compared value did not match; each comparison must be answerable on its own."""
    person = {"age_over_18": True, "age_over_60": False, "name": "张三丰", "region_province": "44",
              "doc_valid": True}  # fmt: skip
    q = build_dcql(Query(purpose="p", age_over=18, name_equals="李四", region_in=["44"], doc_valid=True)
                   .predicates())  # fmt: skip
    assert standard_wallet_answers(q, person) == {"netcert", "age_over_18", "region_in", "doc_valid"}
    q = build_dcql(Query(purpose="p", age_over=60, name_equals="张三丰").predicates())
    assert standard_wallet_answers(q, person) == {"netcert", "name_equals"}
    q = build_dcql(Query(purpose="p", age_over=60).predicates())
    assert standard_wallet_answers(q, person) == {"netcert"}  # a presentation still comes: "no", not silence
    q = build_dcql(Query(purpose="p", age_over=18, want_subject=True).predicates())
    assert standard_wallet_answers(q, person) == set()  # no RP-scoped credential: nothing
    assert standard_wallet_answers(q, person | {"sub": "x"}) == {"netcert", "age_over_18"}


def test_rp_certificate_is_a_verifier_attestation_jwt() -> None:
    """Issue 8 item 11: OpenID4VP 1.0 §12 requires typ verifier-attestation+jwt for the attestation in the
    request object's jwt header; NetID used netid-rp+jwt."""
    w = make_world()
    header, payload, _, _ = decode_jws_unverified(w.rp_cert)
    assert header["typ"] == "verifier-attestation+jwt"
    assert "allowed_predicates" in payload and "cnf" in payload and payload["sub"] == "shop.example"


def test_request_carries_client_metadata() -> None:
    """Issue 8 item 11: vp_formats_supported is REQUIRED unless known otherwise (OpenID4VP 1.0 §5.1)."""
    w = make_world()
    _, claims, _, _ = decode_jws_unverified(w.request(FULL).request_object)
    formats = claims["client_metadata"]["vp_formats_supported"]
    assert formats == {"dc+sd-jwt": {"sd-jwt_alg_values": ["EdDSA", "ES256"],
                                     "kb-jwt_alg_values": ["EdDSA", "ES256"]}}  # fmt: skip


@pytest.mark.parametrize(
    "uri",
    ["http://shop.example/netid/response", "http://127.0.0.1:8000/cb", "ftp://shop.example/x",
     "https://user@shop.example/cb", "https://shop.example/cb#frag", "https:///cb", "shop.example/cb"],
)  # fmt: skip
def test_issuer_refuses_response_uris_that_are_not_https(uri: str) -> None:
    """Issue 8 item 11: an http:// response URI was accepted in RP certificates."""
    from netid.issuance import RpRegistration

    w = make_world()
    with pytest.raises(UsageError):
        RpRegistration(rp_id="x", name="x", sector="x", allowed_predicates=["age_over"], purposes=["p"],
                       response_uris=[uri], request_jwk=public_jwk(w.rp_key))  # fmt: skip


def test_loopback_http_only_in_development_mode() -> None:
    from netid.issuance import RpRegistration

    w = make_world()
    for uri in ("http://127.0.0.1:8000/cb", "http://[::1]/cb", "http://localhost:5000/netid"):
        reg = RpRegistration(rp_id="x", name="x", sector="x", allowed_predicates=["age_over"], purposes=["p"],
                             response_uris=[uri], request_jwk=public_jwk(w.rp_key),
                             allow_loopback_http=True)  # fmt: skip
        assert reg.response_uris == (uri,)
    with pytest.raises(UsageError):  # development mode is for loopback only
        RpRegistration(rp_id="x", name="x", sector="x", allowed_predicates=["age_over"], purposes=["p"],
                       response_uris=["http://shop.example/cb"], request_jwk=public_jwk(w.rp_key),
                       allow_loopback_http=True)  # fmt: skip
