"""verify_sd_jwt at its edges: each time boundary second on both sides, the order of its checks (each
test gives a presentation two faults and pins which one is reported), the size caps, the caller's
arguments. ``specs/protocol.md`` §7 step 3 is the order pinned here."""

import json
import time
from typing import Any

import pytest

from netid.credentials.jose import LocalSigner, generate_signing_key, public_jwk
from netid.credentials.sdjwt.codec import Disclosure, b64url_encode, sd_hash
from netid.credentials.sdjwt.issue import SD
from netid.credentials.sdjwt.verify import DEFAULT_MAX_DISCLOSURES, MAX_DEPTH
from netid.errors import VERIFICATION_CODES, UsageError, VerificationError
from tests.credentials._sdjwt_helpers import (
    AUD,
    FOREIGN,
    HOLDER,
    ISSUER,
    NONCE,
    NOW,
    build,
    claims,
    code_of,
    issue,
    present,
    verify,
    without_kb,
)

LEEWAY = 60
MAX_KB_AGE = 300


def jws(header: dict[str, Any], payload: dict[str, Any], key: Any) -> str:
    """A compact JWS with exactly this header (sign_jws refuses 'crit'), signed by ``key``."""
    si = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(json.dumps(payload).encode())}"
    return f"{si}.{b64url_encode(LocalSigner(key).sign(si.encode()))}"


def kb(base: str, header: dict[str, Any] | None = None, key: Any = HOLDER, **claims_over: Any) -> str:
    """``base`` (ending in '~') with a hand-made KB-JWT: correct unless overridden (None deletes)."""
    payload: dict[str, Any] = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(base)}
    for k, v in claims_over.items():
        if v is None:
            payload.pop(k, None)
        else:
            payload[k] = v
    return base + jws(header or {"alg": "ES256", "typ": "kb+jwt"}, payload, key)


def issuer_jwt(payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    body = {"iss": "https://issuer.netid.example", "cnf": {"jwk": public_jwk(HOLDER)}, **payload}
    return jws(header or {"alg": "EdDSA", "typ": "dc+sd-jwt"}, body, ISSUER)


def test_helpers_make_valid_presentations():  # the positive control of every test below
    base = without_kb(present(issue()))
    assert verify(kb(base)).kb_payload is not None
    assert verify(kb(issuer_jwt({"exp": NOW + 10}) + "~")).payload["exp"] == NOW + 10


# --- time boundaries, one second either side ----------------------------------------------------------


@pytest.mark.parametrize(("exp", "ok"), [(NOW - LEEWAY + 1, True), (NOW - LEEWAY, False)])
def test_exp_boundary(exp, ok):
    """Refused from ``now == exp + leeway`` on."""
    p = present(issue(claims(exp=exp)))
    assert verify(p).payload["exp"] == exp if ok else code_of(p) == "expired"


@pytest.mark.parametrize(("nbf", "ok"), [(NOW + LEEWAY, True), (NOW + LEEWAY + 1, False)])
def test_nbf_boundary(nbf, ok):
    """Accepted from ``now == nbf − leeway`` on."""
    p = present(issue(claims(nbf=nbf)))
    assert verify(p).payload["nbf"] == nbf if ok else code_of(p) == "not_yet_valid"


@pytest.mark.parametrize(("iat", "ok"), [(NOW + LEEWAY, True), (NOW + LEEWAY + 1, False)])
def test_iat_boundary(iat, ok):
    p = present(issue(claims(iat=iat)))
    assert verify(p).payload["iat"] == iat if ok else code_of(p) == "issued_in_future"


@pytest.mark.parametrize(("kb_iat", "ok"), [(NOW + LEEWAY, True), (NOW + LEEWAY + 1, False)])
def test_kb_iat_future_boundary(kb_iat, ok):
    p = present(issue(), iat=kb_iat)
    assert verify(p).kb_payload["iat"] == kb_iat if ok else code_of(p) == "kb_iat"


@pytest.mark.parametrize(
    ("kb_iat", "ok"), [(NOW - MAX_KB_AGE - LEEWAY, True), (NOW - MAX_KB_AGE - LEEWAY - 1, False)]
)
def test_kb_age_boundary(kb_iat, ok):
    """The KB-JWT may be ``max_kb_age + leeway`` seconds old, not one more."""
    p = present(issue(), iat=kb_iat)
    assert verify(p).kb_payload["iat"] == kb_iat if ok else code_of(p) == "kb_iat"


@pytest.mark.parametrize("max_kb_age", [0, 10, 3600])
def test_kb_age_follows_max_kb_age(max_kb_age):
    p = present(issue(), iat=NOW - max_kb_age - LEEWAY)
    assert verify(p, max_kb_age=max_kb_age).kb_payload
    assert code_of(present(issue(), iat=NOW - max_kb_age - LEEWAY - 1), max_kb_age=max_kb_age) == "kb_iat"


@pytest.mark.parametrize(
    ("kb_iat", "ok"), [(NOW - 30, True), (NOW + 30, True), (NOW - 31, False), (NOW + 31, False)]
)
def test_kb_window_is_closed(kb_iat, ok):
    window = (NOW - 30, NOW + 30)
    p = present(issue(), iat=kb_iat)
    assert verify(p, kb_window=window).kb_payload if ok else code_of(p, kb_window=window) == "window"


def test_leeway_zero_is_exact():
    assert verify(present(issue(claims(exp=NOW + 1))), leeway=0).payload
    assert code_of(present(issue(claims(exp=NOW))), leeway=0) == "expired"
    assert code_of(present(issue(claims(nbf=NOW + 1))), leeway=0) == "not_yet_valid"
    assert code_of(present(issue(), iat=NOW + 1), leeway=0) == "kb_iat"


def test_fractional_times_compare_as_numbers():
    assert verify(present(issue(claims(exp=NOW - LEEWAY + 0.5)))).payload
    assert code_of(present(issue(claims(exp=NOW - LEEWAY - 0.5)))) == "expired"
    assert code_of(present(issue(claims(iat=NOW + LEEWAY + 0.5)))) == "issued_in_future"


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("bad", ["soon", True, [NOW], {"t": NOW}])
def test_time_claims_must_be_json_numbers(claim, bad):
    assert code_of(present(issue(claims(**{claim: bad})))) == "malformed"


def test_future_iat_without_key_binding():
    """The time checks do not depend on key binding: an SD-JWT without KB-JWT is checked all the same."""
    p = without_kb(present(issue(claims(iat=NOW + LEEWAY + 1))))
    assert code_of(p, require_key_binding=False, audience=None, nonce=None) == "issued_in_future"
    assert code_of(p) == "issued_in_future"  # and it is reported before the missing KB-JWT
    ok = without_kb(present(issue(claims(iat=NOW + LEEWAY))))
    assert verify(ok, require_key_binding=False).kb_payload is None


# --- time claims that arrive through a disclosure ------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value", "code"),
    [("exp", NOW - LEEWAY, "expired"), ("nbf", NOW + LEEWAY + 1, "not_yet_valid"),
     ("iat", NOW + LEEWAY + 1, "issued_in_future"), ("exp", "soon", "malformed")],
)  # fmt: skip
def test_disclosed_time_claims_are_checked_after_processing(claim, value, code):
    c = claims()
    del c["iat"], c["exp"]
    p = present(issue(c | {claim: SD(value)}))
    assert code_of(p) == code
    fine = {"exp": NOW - LEEWAY + 1, "nbf": NOW + LEEWAY, "iat": NOW + LEEWAY}[claim]
    assert verify(present(issue(c | {claim: SD(fine)}))).payload[claim] == fine
    # withheld, it is not there to check
    assert claim not in verify(present(issue(c | {claim: SD(value)}), [("name",)])).payload


# --- KB-JWT headers -----------------------------------------------------------------------------------


def test_kb_jwt_with_crit_is_refused():
    base = without_kb(present(issue()))
    assert code_of(kb(base, {"alg": "ES256", "typ": "kb+jwt", "crit": ["x"], "x": 1})) == "malformed"
    assert code_of(kb(base, {"alg": "ES256", "typ": "kb+jwt", "crit": []})) == "malformed"


def test_kb_jwt_without_alg_or_with_an_unlisted_one():
    base = without_kb(present(issue()))
    assert code_of(kb(base, {"typ": "kb+jwt"})) == "algorithm"
    assert code_of(kb(base, {"alg": ["ES256"], "typ": "kb+jwt"})) == "algorithm"
    assert code_of(kb(base), algorithms=("EdDSA",)) == "algorithm"  # narrowed: ES256 is out


def test_kb_typ_is_a_media_type():
    base = without_kb(present(issue()))
    assert verify(kb(base, {"alg": "ES256", "typ": "application/KB+JWT"})).kb_header
    assert code_of(kb(base, {"alg": "ES256"})) == "kb_typ"
    assert code_of(kb(base, {"alg": "ES256", "typ": ["kb+jwt"]})) == "kb_typ"


def test_kb_claims_of_the_wrong_type():
    base = without_kb(present(issue()))
    assert code_of(kb(base, aud=[AUD])) == "aud"
    assert code_of(kb(base, nonce=[NONCE])) == "nonce"
    assert code_of(kb(base, iat=str(NOW))) == "kb_iat"
    assert code_of(kb(base, iat=True)) == "kb_iat"
    assert code_of(kb(base, sd_hash=[sd_hash(base)])) == "sd_hash"


def test_aud_and_nonce_are_not_checked_when_not_required_and_not_given():
    base = without_kb(present(issue()))
    p = kb(base, aud="someone else", nonce="another")
    assert verify(p, require_key_binding=False, audience=None, nonce=None).kb_payload["aud"] == "someone else"
    assert code_of(p, require_key_binding=False, audience=AUD, nonce=None) == "aud"
    assert code_of(p, require_key_binding=False, audience=None, nonce=NONCE) == "nonce"


# --- the order of the checks (specs/protocol.md §7 step 3) ---------------------------------------------


def test_order_alg_before_the_key_is_resolved():
    calls = []

    def resolver(h, p):
        calls.append(h)
        raise AssertionError("must not be asked")

    jwt = issuer_jwt({}, {"alg": "none", "typ": "dc+sd-jwt"})
    assert code_of(kb(jwt + "~"), issuer_key=resolver) == "algorithm" and not calls


def test_order_crit_before_the_key_is_resolved():
    def resolver(h, p):
        raise AssertionError("must not be asked")

    jwt = issuer_jwt({}, {"alg": "EdDSA", "typ": "dc+sd-jwt", "crit": ["b64"]})
    assert code_of(kb(jwt + "~"), issuer_key=resolver) == "malformed"


def test_order_issuer_signature_before_typ():
    """A wrong typ under a bad signature is a bad signature: typ is believed only once signed."""
    jwt = issuer_jwt({}, {"alg": "EdDSA", "typ": "jwt"})
    assert code_of(kb(jwt + "~")) == "typ"
    forged = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBA")
    assert code_of(kb(forged + "~")) == "issuer_signature"


def test_order_typ_before_sd_alg():
    jwt = issuer_jwt({"_sd_alg": "sha-512"}, {"alg": "EdDSA", "typ": "jwt"})
    assert code_of(kb(jwt + "~")) == "typ"


def test_order_sd_alg_before_times():
    assert code_of(kb(issuer_jwt({"_sd_alg": "sha-512", "exp": NOW - 3600}) + "~")) == "sd_alg"


def test_order_times_before_kb_missing():
    assert code_of(issuer_jwt({"exp": NOW - 3600}) + "~") == "expired"


def test_order_kb_missing_before_disclosures():
    bad = b64url_encode(b'["salt","_sd",1]')
    assert code_of(issuer_jwt({}) + "~" + bad + "~") == "kb_missing"


def test_order_times_before_disclosures():
    """Cheap refusals first: an expired credential is refused before any disclosure is decoded."""
    bad = b64url_encode(b'["salt","_sd",1]')
    assert code_of(kb(issuer_jwt({"exp": NOW - 3600}) + "~" + bad + "~")) == "expired"
    assert code_of(kb(issuer_jwt({"nbf": NOW + 3600}) + "~" + bad + "~")) == "not_yet_valid"


def test_order_disclosures_before_the_holder_key():
    bad = b64url_encode(b'["salt","_sd",1]')
    jwt = jws({"alg": "EdDSA", "typ": "dc+sd-jwt"}, {"iss": "x"}, ISSUER)  # no cnf
    assert code_of(kb(jwt + "~")) == "holder_key"
    assert code_of(kb(jwt + "~" + bad + "~")) == "disclosure_malformed"


def test_order_disclosed_times_before_key_binding():
    d = Disclosure.create("exp", NOW - 3600)
    jwt = jws({"alg": "EdDSA", "typ": "dc+sd-jwt"}, {"_sd": [d.digest]}, ISSUER)  # and no cnf
    assert code_of(kb(jwt + "~" + d.encoded + "~")) == "expired"


def test_order_holder_key_before_the_kb_jwt_is_read():
    jwt = jws({"alg": "EdDSA", "typ": "dc+sd-jwt"}, {"iss": "x"}, ISSUER)  # no cnf
    assert code_of(jwt + "~" + "not.a.jwt") == "holder_key"


def test_order_kb_alg_before_kb_crit_before_kb_signature():
    base = without_kb(present(issue()))
    assert code_of(kb(base, {"alg": "none", "typ": "kb+jwt", "crit": ["x"]})) == "algorithm"
    assert code_of(kb(base, {"alg": "ES256", "typ": "kb+jwt", "crit": ["x"]}, key=FOREIGN)) == "malformed"


def test_order_kb_signature_before_kb_typ():
    base = without_kb(present(issue()))
    assert code_of(kb(base, {"alg": "ES256", "typ": "jwt"})) == "kb_typ"
    assert code_of(kb(base, {"alg": "ES256", "typ": "jwt"}, key=FOREIGN)) == "kb_signature"


def test_order_kb_signature_before_aud():
    """aud is read only from a KB-JWT the holder signed (specs/protocol.md §7)."""
    base = without_kb(present(issue()))
    assert code_of(kb(base, aud="x509_san_dns:evil.example")) == "aud"
    assert code_of(kb(base, key=FOREIGN, aud="x509_san_dns:evil.example")) == "kb_signature"


def test_order_kb_typ_before_aud_before_nonce_before_iat_before_sd_hash():
    base = without_kb(present(issue()))
    stale = NOW - 3600
    assert code_of(kb(base, {"alg": "ES256", "typ": "jwt"}, aud="other")) == "kb_typ"
    assert code_of(kb(base, aud="other", nonce="other")) == "aud"
    assert code_of(kb(base, nonce="other", iat=stale)) == "nonce"
    assert code_of(kb(base, iat=stale, sd_hash="A" * 43)) == "kb_iat"
    assert code_of(kb(base, sd_hash="A" * 43)) == "sd_hash"


# --- size caps ----------------------------------------------------------------------------------------


def _padded(n: int, size: int = 60) -> str:
    """A valid presentation plus ``n`` distinct disclosures that nothing references."""
    p = present(issue(), [("name",)])
    extra = [Disclosure.create("padding", "x" * size).encoded for _ in range(n)]
    return kb(without_kb(p) + "~".join(extra) + "~")


def test_a_10_mb_presentation_is_refused_before_any_work():
    """Before the cap, 10 MB of unreferenced disclosures cost seconds of hashing, then
    ``disclosure_unreferenced``; now the size alone refuses it (the time is printed by bench/verify.py)."""
    p = present(issue(), [("name",)])
    junk = [Disclosure.create("padding", f"{i:08d}" + "x" * 900).encoded for i in range(8_000)]
    huge = without_kb(p) + "~".join(junk) + "~"
    assert len(huge) > 10_000_000
    with pytest.raises(VerificationError) as exc:
        verify(huge)
    assert exc.value.code == "malformed" and "larger" in str(exc.value)
    t0 = time.process_time()
    with pytest.raises(VerificationError):
        verify(huge)
    print(f"10 MB presentation refused in {1e3 * (time.process_time() - t0):.3f} ms")


def test_max_bytes_boundary():
    p = present(issue())
    assert verify(p, max_bytes=len(p)).payload
    assert code_of(p, max_bytes=len(p) - 1) == "malformed"


def test_max_disclosures_boundary():
    p = present(issue())  # all 9 disclosures
    assert verify(p, max_disclosures=9).payload
    assert code_of(p, max_disclosures=8) == "malformed"


def test_the_disclosure_cap_is_what_refuses_many_small_disclosures():
    p = _padded(DEFAULT_MAX_DISCLOSURES)  # 1 referenced + 100 unreferenced
    assert code_of(p, max_bytes=10**6) == "malformed"
    assert code_of(p, max_bytes=10**6, max_disclosures=1000) == "disclosure_unreferenced"
    assert code_of(_padded(DEFAULT_MAX_DISCLOSURES - 1), max_bytes=10**6) == "disclosure_unreferenced"


def test_nesting_deeper_than_max_depth_is_malformed():
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    d = Disclosure.create("deep", deep)
    assert code_of(build({"_sd": [d.digest]}, [d])) == "malformed"
    shallow: Any = "leaf"
    for _ in range(MAX_DEPTH):  # the innermost list exactly at MAX_DEPTH
        shallow = [shallow]
    ok = Disclosure.create("deep", shallow)
    assert verify(build({"_sd": [ok.digest]}, [ok])).payload["deep"] == shallow
    assert code_of(build({"a": {"b": deep}}, [])) == "malformed"  # in the signed payload too


# --- the caller's arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [{"now": "now"}, {"now": None}, {"now": True}, {"leeway": -1}, {"leeway": 1.5}, {"max_kb_age": -1},
     {"max_kb_age": None}, {"max_bytes": 0}, {"max_bytes": 1.5}, {"max_disclosures": -1},
     {"max_disclosures": None}, {"audience": 5}, {"nonce": b"n"}, {"kb_window": (1,)},
     {"kb_window": [1, 2]}, {"kb_window": (1, "2")}, {"kb_window": ("1", 2)}, {"audience": None},
     {"nonce": None}],
)  # fmt: skip
def test_caller_misuse_is_a_usage_error(kw):
    with pytest.raises(UsageError):
        verify(present(issue()), **kw)


def test_no_key_binding_needs_neither_audience_nor_nonce():
    p = without_kb(present(issue()))
    assert verify(p, require_key_binding=False, audience=None, nonce=None).kb_header is None


def test_every_code_pinned_here_is_documented():
    assert {"malformed", "expired", "not_yet_valid", "issued_in_future", "kb_iat", "window"} <= set(
        VERIFICATION_CODES
    )


def test_es256_issuer_key_of_the_other_algorithm():
    es = generate_signing_key("ES256")
    assert code_of(present(issue()), issuer_key=lambda h, p: es.public_key()) == "algorithm"


def test_depth_through_an_array_element_disclosure():
    """payload (0) → "a" (1) → the element's value (2) → …: the innermost of k lists is at depth 1 + k."""
    for k, ok in ((MAX_DEPTH - 1, True), (MAX_DEPTH, False)):
        value: Any = "leaf"
        for _ in range(k):
            value = [value]
        e = Disclosure.create(None, value)
        p = build({"a": [{"...": e.digest}]}, [e])
        assert verify(p).payload["a"] == [value] if ok else code_of(p) == "malformed"
