"""verify_sd_jwt where a mutation run found no test that cared (docs/mutation.md): objects nested right
up to the depth limit, fractional times, the smallest caps and a narrowed allow-list accepted, what a
presentation without key binding returns, holder keys kept out of the JWK cache, a nonce that is not
UTF-8."""

from typing import Any

import pytest

from netid.credentials import jose
from netid.credentials.jose import public_jwk
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.credentials.sdjwt.issue import issue_sd_jwt
from netid.credentials.sdjwt.verify import MAX_DEPTH
from tests.credentials._sdjwt_helpers import (
    HOLDER,
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


def chain(objects: int) -> Any:
    """``{"n": {"n": … "leaf"}}``: ``objects`` objects, each inside the one before."""
    value: Any = "leaf"
    for _ in range(objects):
        value = {"n": value}
    return value


@pytest.mark.parametrize("where", ["signed", "disclosed"])
def test_objects_nested_right_up_to_max_depth(where):
    """payload (depth 0) → "a" → …: the innermost of k objects is at depth k; MAX_DEPTH is allowed."""
    for k, ok in ((MAX_DEPTH, True), (MAX_DEPTH + 1, False)):
        if where == "signed":
            p = build({"a": chain(k)}, [])
        else:
            d = Disclosure.create("a", chain(k))
            p = build({"_sd": [d.digest]}, [d])
        assert verify(p).payload["a"] == chain(k) if ok else code_of(p) == "malformed"


def test_fractional_times_are_numbers_everywhere():
    """nbf, the caller's now, the KB-JWT's iat and the window's bounds may all be fractional."""
    assert verify(present(issue(claims(nbf=NOW - 0.5)))).payload
    assert verify(present(issue()), now=NOW + 0.5).payload
    assert verify(bind(without_kb(present(issue())), iat=NOW - 0.5)).kb_payload["iat"] == NOW - 0.5
    assert verify(present(issue()), kb_window=(NOW - 0.5, NOW + 0.5)).kb_payload


def test_the_smallest_caps_are_accepted():
    p = present(issue())
    assert code_of(p, max_bytes=1) == "malformed"  # allowed, and nothing fits
    none_disclosed = present(issue(), disclose=lambda d: False)
    assert len(split_sd_jwt(none_disclosed).disclosures) == 0
    assert verify(none_disclosed, max_disclosures=0).disclosures == ()
    assert code_of(p, max_disclosures=0) == "malformed"


@pytest.mark.parametrize(
    "algorithms", [("EdDSA", "ES256"), ["ES256", "EdDSA"], frozenset({"EdDSA", "ES256", "none"})]
)
def test_an_allow_list_of_its_own_accepts_what_it_lists(algorithms):
    """Not the module's own tuple (that one takes a shortcut): a list the caller made is filtered, and
    what it lists that NetID allows is accepted (issuer EdDSA, holder ES256)."""
    assert verify(present(issue()), algorithms=algorithms).payload


def test_a_narrowed_allow_list_accepts_only_what_it_lists():
    es_issuer = jose.generate_signing_key("ES256")
    p = present(issue_sd_jwt(claims(), es_issuer).serialized)
    assert verify(p, issuer_key=lambda h, pl: jose.verifying_key(es_issuer), algorithms=("ES256",)).payload
    assert code_of(present(issue()), algorithms=("ES256",)) == "algorithm"


def test_without_key_binding_the_result_has_the_header_and_the_disclosures():
    p = without_kb(present(issue()))
    result = verify(p, require_key_binding=False, audience=None, nonce=None)
    assert result.header == {"alg": "EdDSA", "typ": "dc+sd-jwt"}
    assert result.disclosures == tuple(Disclosure.parse(d) for d in split_sd_jwt(p).disclosures)
    assert len(result.disclosures) == 9
    assert result.kb_header is None and result.kb_payload is None


def test_holder_keys_stay_out_of_the_jwk_cache():
    """Every holder key is new (single-use credentials): caching them would only keep them alive."""
    jose._jwk_cache.clear()
    assert verify(present(issue())).kb_payload
    holder_x = public_jwk(HOLDER)["x"]
    assert not any(key[2] == holder_x for key in jose._jwk_cache)


def test_a_nonce_that_is_not_utf_8_only_fails_to_match():
    """A caller's nonce with a lone surrogate cannot equal the KB-JWT's (JSON has none): ``nonce``, not a
    UnicodeEncodeError."""
    assert code_of(present(issue()), nonce="\ud800") == "nonce"
