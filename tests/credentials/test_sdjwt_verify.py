"""verify_sd_jwt: one positive path, then one negative test per check, each flipping exactly one thing."""

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from netid.credentials.jose import (
    generate_signing_key,
    public_jwk,
    sign_jws,
    verifying_key,
)
from netid.credentials.sdjwt.codec import Disclosure, b64url_encode, split_sd_jwt
from netid.credentials.sdjwt.issue import SD, SDItem
from netid.errors import VERIFICATION_CODES, UsageError, VerificationError
from tests.credentials._sdjwt_helpers import (
    AUD,
    FOREIGN,
    HOLDER,
    ISSUER,
    NONCE,
    NOW,
    bind,
    build,
    claims,
    code_of,
    issue,
    present,
    verify,
    without_kb,
)

# --- positive -----------------------------------------------------------------------------------------


def test_full_presentation_verifies_to_the_original_claims():
    result = verify(present(issue()))
    assert result.header["alg"] == "EdDSA"
    assert result.payload == {
        "iss": "https://issuer.netid.example",
        "vct": "urn:netid:netcert:1",
        "iat": NOW - 3600,
        "exp": NOW + 86400,
        "cnf": {"jwk": public_jwk(HOLDER)},
        "age_over_18": True,
        "age_over_60": False,
        "name": "张三",
        "region": {"province": "44", "city": "4403", "county": "440305"},
        "nationalities": ["CN", "XX", "HK"],
    }
    assert len(result.disclosures) == 9
    assert result.kb_header == {"alg": "ES256", "typ": "kb+jwt"}


def test_partial_presentation_reveals_only_the_selection():
    result = verify(present(issue(), [("age_over_18",), ("region", "province")]))
    p = result.payload
    assert p["age_over_18"] is True
    assert p["region"] == {"province": "44"}
    assert p["nationalities"] == ["XX"]
    for hidden in ("name", "age_over_60"):
        assert hidden not in p
    assert "_sd" not in json.dumps(p) and "_sd_alg" not in p and "..." not in json.dumps(p)


def test_es256_issuer_and_eddsa_holder():
    issuer = generate_signing_key("ES256")
    holder = generate_signing_key("EdDSA")
    from netid.credentials.sdjwt.issue import issue_sd_jwt

    s = issue_sd_jwt(claims(cnf={"jwk": public_jwk(holder)}), issuer).serialized
    p = present(s, holder_key=holder)
    assert verify(p, issuer_key=lambda h, pl: issuer.public_key()).payload["name"] == "张三"


def test_typ_with_application_prefix_is_accepted():
    s = issue(typ="application/dc+sd-jwt")
    assert verify(present(s)).header["typ"] == "application/dc+sd-jwt"
    assert verify(present(issue(typ="vc+sd-jwt")), expected_typ="vc+sd-jwt")
    assert verify(present(issue(typ="anything")), expected_typ=None)


def test_resolver_receives_header_and_payload():
    seen = []

    def resolver(header, payload):
        seen.append((header["kid"], payload["iss"]))
        return verifying_key(ISSUER)

    verify(present(issue(kid="2026-1")), issuer_key=resolver)
    assert seen == [("2026-1", "https://issuer.netid.example")]


def test_verification_codes_are_listed():
    assert len(set(VERIFICATION_CODES)) == len(VERIFICATION_CODES)
    for c in ("malformed", "algorithm", "kb_missing", "claim_conflict", "vct", "value_mismatch"):
        assert c in VERIFICATION_CODES


def test_usage_errors():
    with pytest.raises(UsageError):
        verify(present(issue()), audience=None)
    with pytest.raises(UsageError):
        verify(present(issue()), now="now")


# --- malformed ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "abc", "a.b.c", "~", "a~b", "a.b.c~", "é~", None, b"x~"])
def test_malformed(bad):
    assert code_of(bad) == "malformed"


def test_header_without_alg():
    assert code_of("e30.e30.~") == "algorithm"


def test_malformed_kb_jwt():
    assert code_of(without_kb(present(issue())) + "not.a.jwt") == "malformed"


def test_crit_header_is_refused():
    header = {"alg": "EdDSA", "typ": "dc+sd-jwt", "crit": ["exp_crit"], "exp_crit": 1}
    payload = {"_sd_alg": "sha-256", "cnf": {"jwk": public_jwk(HOLDER)}}
    si = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(payload).encode())}"
    jwt = f"{si}.{b64url_encode(ISSUER.sign(si.encode()))}"  # a valid signature: only 'crit' is wrong
    assert code_of(bind(jwt + "~")) == "malformed"


# --- issuer JWT: algorithm, key, signature, typ, _sd_alg ----------------------------------------------


def _forge(header: dict, payload: dict, signature: bytes = b"") -> str:
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(payload).encode())
    return f"{h}.{p}.{b64url_encode(signature)}"


def test_alg_none():
    jwt = _forge({"alg": "none", "typ": "dc+sd-jwt"}, {"cnf": {"jwk": public_jwk(FOREIGN)}})
    assert code_of(bind(jwt + "~")) == "algorithm"


def test_hs256_with_public_key_as_hmac_secret():
    header = {"alg": "HS256", "typ": "dc+sd-jwt"}
    payload = {"iss": "https://issuer.netid.example", "cnf": {"jwk": public_jwk(FOREIGN)}}
    h = b64url_encode(json.dumps(header).encode())
    p = b64url_encode(json.dumps(payload).encode())
    for secret in (json.dumps(public_jwk(ISSUER)).encode(), verifying_key(ISSUER).jwk()["x"].encode()):
        sig = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
        assert code_of(bind(f"{h}.{p}.{b64url_encode(sig)}~")) == "algorithm"
    # Even if the caller lists it, HS256 stays refused.
    assert code_of(bind(f"{h}.{p}.{b64url_encode(sig)}~"), algorithms=("HS256", "EdDSA")) == "algorithm"


def test_algorithm_outside_narrowed_list():
    assert code_of(present(issue()), algorithms=("ES256",)) == "algorithm"


def test_alg_key_mismatch():
    es_key = generate_signing_key("ES256")
    assert code_of(present(issue()), issuer_key=lambda h, p: es_key.public_key()) == "algorithm"


def test_wrong_issuer_key():
    other = generate_signing_key("EdDSA")
    assert code_of(present(issue()), issuer_key=lambda h, p: verifying_key(other)) == "issuer_signature"


def test_tampered_issuer_payload():
    p = present(issue())
    jwt = split_sd_jwt(p).issuer_jwt
    h, pl, s = jwt.split(".")
    body = json.loads(base64.urlsafe_b64decode(pl + "==="))
    body["vct"] = "urn:evil"
    forged = f"{h}.{b64url_encode(json.dumps(body).encode())}.{s}"
    assert code_of(bind(forged + p[len(jwt) : p.rindex("~") + 1])) == "issuer_signature"


@pytest.mark.parametrize(
    "resolver",
    [lambda h, p: None, lambda h, p: {}[h["kid"]], lambda h, p: "not a key", lambda h, p: 1 / 0],
)
def test_issuer_key_unresolvable(resolver):
    # not code_of: what a resolver raises is kept as the cause of issuer_key, which its oracle refuses
    with pytest.raises(VerificationError) as exc:
        verify(present(issue()), issuer_key=resolver)
    assert exc.value.code == "issuer_key"


def test_resolver_verification_error_passes_through():
    def resolver(h, p):
        raise VerificationError("issuer_key", "unknown issuer")

    assert code_of(present(issue()), issuer_key=resolver) == "issuer_key"


def test_unknown_typ():
    assert code_of(present(issue(typ="jwt"))) == "typ"


def test_missing_typ():
    jwt = sign_jws({"cnf": {"jwk": public_jwk(FOREIGN)}}, ISSUER, typ="x")
    assert code_of(bind(jwt + "~"), expected_typ="dc+sd-jwt") == "typ"


def test_sd_alg():
    assert code_of(build({"_sd_alg": "sha-512"}, [])) == "sd_alg"
    assert verify(build({}, [])).payload["iss"]  # absent: sha-256 by default


# --- times --------------------------------------------------------------------------------------------


def test_expired():
    p = present(issue(claims(exp=NOW - 61)))
    assert code_of(p) == "expired"
    assert verify(present(issue(claims(exp=NOW - 59)))).payload  # within leeway


def test_not_yet_valid():
    assert code_of(present(issue(claims(nbf=NOW + 61)))) == "not_yet_valid"
    assert verify(present(issue(claims(nbf=NOW + 59)))).payload


def test_issued_in_future():
    assert code_of(present(issue(claims(iat=NOW + 61)))) == "issued_in_future"


def test_non_numeric_time_is_malformed():
    assert code_of(present(issue(claims(exp="tomorrow")))) == "malformed"
    assert code_of(present(issue(claims(exp=True)))) == "malformed"


# --- key binding --------------------------------------------------------------------------------------


def test_kb_missing():
    p = without_kb(present(issue()))
    assert code_of(p) == "kb_missing"
    assert verify(p, require_key_binding=False).kb_payload is None


def test_kb_present_but_not_required_is_still_checked():
    p = present(issue())
    assert verify(p, require_key_binding=False, audience=None, nonce=None).kb_payload["aud"] == AUD
    assert code_of(bind(without_kb(p), key=FOREIGN), require_key_binding=False) == "kb_signature"


def test_kb_typ():
    assert code_of(bind(without_kb(present(issue())), typ="jwt")) == "kb_typ"


def test_kb_alg_none():
    base = without_kb(present(issue()))
    kb = _forge({"alg": "none", "typ": "kb+jwt"}, {"iat": NOW, "aud": AUD, "nonce": NONCE})
    assert code_of(base + kb) == "algorithm"


def test_kb_signed_by_foreign_key():
    assert code_of(bind(without_kb(present(issue())), key=FOREIGN)) == "kb_signature"


def test_kb_alg_mismatch_with_cnf_key():
    eddsa = generate_signing_key("EdDSA")
    assert code_of(bind(without_kb(present(issue())), key=eddsa)) == "kb_signature"


def test_holder_key_missing_or_invalid():
    no_cnf = issue(claims(cnf=None) | {"cnf": SD(1)})  # cnf withheld: selectively disclosable
    assert code_of(bind(present(no_cnf, [], holder_key=None))) == "holder_key"
    bad = issue(claims(cnf={"jwk": {"kty": "RSA", "n": "x", "e": "AQAB"}}))
    assert code_of(bind(bad)) == "holder_key"
    assert code_of(bind(issue(claims(cnf={"kid": "x"})))) == "holder_key"


def test_wrong_aud():
    assert code_of(present(issue(), aud="x509_san_dns:evil.example")) == "aud"


def test_wrong_nonce():
    assert code_of(present(issue(), nonce="other")) == "nonce"
    assert code_of(bind(without_kb(present(issue())), nonce=5)) == "nonce"


def test_stale_kb_iat():
    assert code_of(present(issue(), iat=NOW - 300 - 61)) == "kb_iat"
    assert verify(present(issue(), iat=NOW - 300 - 59)).payload


def test_future_kb_iat():
    assert code_of(present(issue(), iat=NOW + 61)) == "kb_iat"


def test_missing_kb_iat():
    assert code_of(bind(without_kb(present(issue())), iat=None)) == "kb_iat"


def test_wrong_sd_hash():
    assert code_of(bind(without_kb(present(issue())), sd_hash="A" * 43)) == "sd_hash"
    assert code_of(bind(without_kb(present(issue())), sd_hash=None)) == "sd_hash"


def test_dropped_disclosure_breaks_sd_hash():
    p = present(issue(), [("age_over_18",), ("name",)])
    parts = split_sd_jwt(p)
    dropped = "~".join([parts.issuer_jwt, parts.disclosures[0], parts.kb_jwt])
    assert code_of(dropped) == "sd_hash"


def test_kb_replayed_with_other_disclosures():
    s = issue()
    p1 = present(s, [("age_over_18",)])
    p2 = present(s, [("name",)])
    swapped = without_kb(p2) + split_sd_jwt(p1).kb_jwt
    assert code_of(swapped) == "sd_hash"


# --- disclosures --------------------------------------------------------------------------------------


def _rebuild(presentation: str, disclosures: list[str]) -> str:
    parts = split_sd_jwt(presentation)
    return bind("~".join([parts.issuer_jwt, *disclosures, ""]))


def test_tampered_disclosure():
    p = present(issue(), [("age_over_18",)])
    d = Disclosure.parse(split_sd_jwt(p).disclosures[0])
    forged = Disclosure.create(d.name, False, salt=d.salt)  # same salt and name, other value
    assert code_of(_rebuild(p, [forged.encoded])) == "disclosure_unreferenced"
    assert code_of(_rebuild(p, [d.encoded[:-2] + "!!"])) == "disclosure_malformed"


@pytest.mark.parametrize(
    "encoded",
    [
        b64url_encode(b'["salt","_sd",1]'),
        b64url_encode(b'["salt","...",1]'),
        b64url_encode(b'{"salt":1}'),
        b64url_encode(b'["salt"]'),
        b64url_encode(b'[1,"a",1]'),
        "WyJhIiwxXQ=",
    ],
)
def test_malformed_disclosure(encoded):
    assert code_of(_rebuild(present(issue()), [encoded])) == "disclosure_malformed"


def test_duplicated_disclosure():
    p = present(issue(), [("age_over_18",)])
    d = split_sd_jwt(p).disclosures[0]
    assert code_of(_rebuild(p, [d, d])) == "disclosure_duplicate"


def test_extra_disclosure():
    p = present(issue(), [("age_over_18",)])
    extra = Disclosure.create("age_over_21", True).encoded
    assert code_of(_rebuild(p, [*split_sd_jwt(p).disclosures, extra])) == "disclosure_unreferenced"


def test_child_without_parent_is_unreferenced():
    issued_s = issue()
    full = present(issued_s)
    city = next(x for x in split_sd_jwt(full).disclosures if Disclosure.parse(x).name == "city")
    assert code_of(_rebuild(full, [city])) == "disclosure_unreferenced"


def test_digest_referenced_twice():
    d = Disclosure.create("name", "x")
    assert code_of(build({"_sd": [d.digest], "a": {"_sd": [d.digest]}}, [d])) == "digest_duplicate"
    assert code_of(build({"_sd": [d.digest, d.digest]}, [d])) == "digest_duplicate"
    # Even an undisclosed (unknown) digest may not appear twice.
    assert code_of(build({"_sd": ["A" * 43], "b": {"_sd": ["A" * 43]}}, [])) == "digest_duplicate"
    e = Disclosure.create(None, "CN")
    assert code_of(build({"a": [{"...": e.digest}, {"...": e.digest}]}, [e])) == "digest_duplicate"


def test_digest_referenced_from_inside_its_own_parent_and_payload():
    inner = Disclosure.create("city", "4403")
    outer = Disclosure.create("region", {"_sd": [inner.digest]})
    assert code_of(build({"_sd": [outer.digest, inner.digest]}, [outer, inner])) == "digest_duplicate"


def test_array_element_placeholder_misuse():
    obj = Disclosure.create("name", "x")
    elem = Disclosure.create(None, "CN")
    # an object-property disclosure referenced by '...'
    assert code_of(build({"a": [{"...": obj.digest}]}, [obj])) == "array_element"
    # an array-element disclosure referenced from _sd
    assert code_of(build({"_sd": [elem.digest]}, [elem])) == "array_element"
    # a placeholder with extra members
    assert code_of(build({"a": [{"...": elem.digest, "x": 1}]}, [elem])) == "array_element"
    # '...' outside an array
    assert code_of(build({"a": {"...": elem.digest}}, [elem])) == "array_element"


def test_bad_sd_types():
    assert code_of(build({"_sd": "digest"}, [])) == "malformed"
    assert code_of(build({"_sd": [5]}, [])) == "malformed"
    assert code_of(build({"a": [{"...": 5}]}, [])) == "malformed"


def test_claim_name_collision():
    d = Disclosure.create("name", "forged")
    assert code_of(build({"name": "real", "_sd": [d.digest]}, [d])) == "claim_conflict"
    d2 = Disclosure.create("name", "other")
    assert code_of(build({"_sd": [d.digest, d2.digest]}, [d, d2])) == "claim_conflict"


def test_unreferenced_undisclosed_digests_and_decoys_are_fine():
    d = Disclosure.create("name", "x")
    result = verify(build({"_sd": [d.digest, "A" * 43], "a": [{"...": "B" * 43}, 1]}, [d]))
    assert result.payload["name"] == "x" and result.payload["a"] == [1]


def test_recursive_disclosure_in_array_element():
    s = issue(claims(items=[SDItem({"k": SD("v"), "j": 1})]))
    result = verify(present(s, [("items", 0, "k")]))
    assert result.payload["items"] == [{"k": "v", "j": 1}]
    result = verify(present(s, [("items", 0, "j")]))
    assert result.payload["items"] == [{"j": 1}]


def test_deeply_nested_disclosure_chain():
    chain = [Disclosure.create("n", "leaf")]
    for _ in range(5000):  # each disclosure small, the chain deeper than Python's recursion limit
        chain.append(Disclosure.create("n", {"_sd": [chain[-1].digest]}))
    big = {"max_bytes": 10**7, "max_disclosures": 10**4}  # past the size caps: the depth limit refuses
    assert code_of(build({"_sd": [chain[-1].digest]}, chain), **big) == "malformed"
    assert code_of(build({"_sd": [chain[150].digest]}, chain[:151]), **big) == "malformed"
    assert code_of(build({"_sd": [chain[-1].digest]}, chain)) == "malformed"  # the size caps alone
    short = chain[:50]
    assert verify(build({"_sd": [short[-1].digest]}, short)).payload["n"]["n"]


def test_lone_surrogates_in_kb_claims():
    base = without_kb(present(issue()))
    for claim in ("nonce", "sd_hash"):
        payload = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": "x"}
        payload[claim] = "\ud800"
        header = {"alg": "ES256", "typ": "kb+jwt"}
        si = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(payload).encode())}"
        # json.dumps escapes the surrogate as \ud800; our strict parser refuses a lone surrogate outright,
        # so the KB-JWT is malformed before any claim comparison could trip over it
        r, s = decode_dss_signature(HOLDER.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert code_of(base + si + "." + b64url_encode(sig)) == "malformed", claim


def test_sign_jws_rejects_non_json():
    with pytest.raises(UsageError):
        sign_jws({"a": "\ud800"}, ISSUER, typ="t")
    with pytest.raises(UsageError):
        sign_jws({"a": float("nan")}, ISSUER, typ="t")
