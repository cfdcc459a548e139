"""Property tests: SD-JWT round trips, selective disclosure, robustness to mutation; netno checks.

Every refusal the properties meet goes through the oracle :func:`assert_deliberate`: a
``VerificationError`` translated from a ``TypeError`` (or any other exception only a bug raises) fails the
test, so a crash in verify_sd_jwt cannot hide behind a stable code. The last tests here show that the
oracle does fail on such a mutant.
"""

import base64
import binascii
import itertools
from typing import Any

import pybase64
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import netid.credentials.sdjwt.verify as verify_module
import tests.credentials._sdjwt_helpers as helpers
from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.credentials.jose import public_jwk
from netid.credentials.netno import ALPHABET, format_netno, generate_netno, is_valid_netno, parse_netno
from netid.credentials.sdjwt.issue import SD, SDItem, issue_sd_jwt
from netid.errors import ParseError, VerificationError
from tests.credentials._sdjwt_helpers import HOLDER, ISSUER, NOW, assert_deliberate, present, verify

RESERVED = {"_sd", "_sd_alg", "...", "cnf", "iat", "exp", "nbf"}
keys = st.text(alphabet="abxyz_.é名", min_size=1, max_size=5).filter(lambda k: k not in RESERVED)
leaves = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=6)


def _marked_list(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(st.tuples(st.booleans(), children), max_size=4).map(
        lambda xs: [SDItem(v) if m else v for m, v in xs]
    )


def _marked_dict(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.dictionaries(keys, st.tuples(st.booleans(), children), max_size=4).map(
        lambda d: {k: SD(v) if m else v for k, (m, v) in d.items()}
    )


trees = st.recursive(leaves, lambda c: _marked_list(c) | _marked_dict(c), max_leaves=10)
claim_sets = st.dictionaries(keys, st.tuples(st.booleans(), trees), min_size=1, max_size=6).map(
    lambda d: {k: SD(v) if m else v for k, (m, v) in d.items()}
)


def unmark(v: Any) -> Any:
    if isinstance(v, SD | SDItem):
        return unmark(v.value)
    if isinstance(v, dict):
        return {k: unmark(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unmark(x) for x in v]
    return v


def post_order(v: Any, out: list[int]) -> list[int]:
    """Marker ids in the order the issuer creates their disclosures (inner before outer)."""
    if isinstance(v, dict):
        for x in v.values():
            post_order(x, out)
    elif isinstance(v, list):
        for x in v:
            post_order(x, out)
    elif isinstance(v, SD | SDItem):
        post_order(v.value, out)
        out.append(id(v))
    return out


def reveal(v: Any, chosen: set[int]) -> Any:
    """Reference model: what a verifier sees when the markers in ``chosen`` (and parents) are disclosed."""

    def needed(m: Any) -> bool:
        return id(m) in chosen or any(i in chosen for i in post_order(m.value, []))

    if isinstance(v, dict):
        return {
            k: reveal(x.value if isinstance(x, SD) else x, chosen)
            for k, x in v.items()
            if not isinstance(x, SD) or needed(x)
        }
    if isinstance(v, list):
        return [
            reveal(x.value if isinstance(x, SDItem) else x, chosen)
            for x in v
            if not isinstance(x, SDItem) or needed(x)
        ]
    return v


def counter_rng() -> Any:
    counter = itertools.count()

    def rng(n: int) -> bytes:
        return next(counter).to_bytes(n, "big")

    return rng


def _issue(claims: dict[str, Any]) -> tuple[str, list[int], dict[str, int]]:
    """Issue with salts from a counter; return the marker ids in creation order and salt -> position."""
    full = {**claims, "cnf": {"jwk": public_jwk(HOLDER)}}
    issued = issue_sd_jwt(full, ISSUER, rng=counter_rng())
    order = post_order(claims, [])
    assert len(order) == len(issued.disclosures)
    return issued.serialized, order, {d.salt: i for i, d in enumerate(issued.disclosures)}


def _present_subset(claims: dict[str, Any], data: Any) -> tuple[str, set[int]]:
    serialized, order, position = _issue(claims)
    picked = set(data.draw(st.sets(st.integers(0, len(order) - 1))) if order else ())
    p = present(serialized, lambda d: position[d.salt] in picked)
    return p, {order[i] for i in picked}


def _without_cnf(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if k != "cnf"}


@given(claim_sets)
def test_issue_present_all_verify_round_trips(claims):
    serialized, _, _ = _issue(claims)
    result = verify(present(serialized))
    assert _without_cnf(result.payload) == unmark(claims)


@given(claim_sets, st.data())
def test_present_subset_reveals_exactly_the_subset(claims, data):
    p, chosen = _present_subset(claims, data)
    assert _without_cnf(verify(p).payload) == reveal(claims, chosen)


MUTATION_CHARS = "AQgw_-09az~."


@given(claim_sets, st.data())
def test_mutated_presentations_never_verify(claims, data):
    p, chosen = _present_subset(claims, data)
    kind = data.draw(st.sampled_from(["flip", "delete", "insert", "swap"]))
    if kind == "swap":
        segments = p.split("~")
        i, j = data.draw(st.tuples(*[st.integers(0, len(segments) - 1)] * 2))
        segments[i], segments[j] = segments[j], segments[i]
        mutated = "~".join(segments)
    else:
        pos = data.draw(st.integers(0, len(p) - (0 if kind == "insert" else 1)))
        ch = data.draw(st.sampled_from(MUTATION_CHARS))
        if kind == "flip":
            mutated = p[:pos] + ch + p[pos + 1 :]
        elif kind == "delete":
            mutated = p[:pos] + p[pos + 1 :]
        else:
            mutated = p[:pos] + ch + p[pos:]
    assume(mutated != p)
    try:
        result = verify(mutated)
    except VerificationError as exc:
        assert_deliberate(exc)
        return
    # Should be unreachable; if it ever verifies it must still reveal nothing beyond the selection.
    assert _without_cnf(result.payload) == reveal(claims, chosen)
    raise AssertionError(f"mutated presentation verified ({kind})")


def refused_on_purpose(presentation: str) -> None:
    try:
        verify(presentation)
    except VerificationError as exc:
        assert_deliberate(exc)
        return
    raise AssertionError("garbage verified")


@given(st.text(max_size=300))
def test_arbitrary_strings_raise_only_verification_error(text):
    refused_on_purpose(text)


@given(st.lists(st.text(alphabet="AQgw_-09az.~=+/", max_size=60), min_size=1, max_size=5))
def test_arbitrary_tilde_strings_raise_only_verification_error(segments):
    refused_on_purpose("~".join(segments))


JUNK = [{"_sd": 5}, {"_sd": [1]}, {"...": "x"}, [{"...": None}], {"_sd": None}, [{"...": "A" * 43, "x": 1}],
        {"exp": "soon"}, {"nbf": True}]  # fmt: skip


@settings(max_examples=60)
@given(claim_sets, st.data())
def test_resigned_garbage_structures_are_refused_on_purpose(claims, data):
    """Issuer-signed payloads with SD constructs in the wrong places: every refusal is deliberate."""
    serialized, _, _ = _issue(claims)
    p = present(serialized)
    junk = data.draw(st.sampled_from(JUNK))
    name = data.draw(keys)
    try:
        verify(helpers.build({name: junk, "exp": NOW + 10}, []))
    except VerificationError as exc:
        assert_deliberate(exc)
    assert verify(p)  # the untouched presentation still verifies


# --- the oracle can fail ------------------------------------------------------------------------------


def _type_error(*args: Any, **kwargs: Any) -> Any:
    raise TypeError("a type guard replaced by code that crashes")


def test_a_type_error_inside_verify_sd_jwt_fails_the_properties(monkeypatch):
    """A mutant of verify_sd_jwt that raises TypeError (here: its time check) makes the round-trip
    property fail: no catch-all turns it into ``malformed`` any more."""
    monkeypatch.setattr(verify_module, "_check_times", _type_error)
    with pytest.raises(TypeError, match="type guard"):
        test_issue_present_all_verify_round_trips()


def test_a_catch_all_around_a_type_error_fails_the_oracle(monkeypatch):
    """The same mutant behind the old catch-all (every TypeError becomes ``malformed``): the mutation
    property still fails, because the oracle sees what the code was translated from."""
    real = helpers.verify_sd_jwt

    def with_catch_all(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        except TypeError as exc:  # the fallback that verify_sd_jwt no longer has
            raise VerificationError("malformed", "presentation could not be processed") from exc

    monkeypatch.setattr(verify_module, "split_segments", _type_error)
    monkeypatch.setattr(helpers, "verify_sd_jwt", with_catch_all)
    with pytest.raises(AssertionError, match="fallback fired"):
        test_arbitrary_strings_raise_only_verification_error()


# --- base64url: pybase64 decodes exactly what the standard library's strict decoder does ----------------

B64ISH = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=! \n.é"


@given(st.text(alphabet=B64ISH, max_size=200) | st.binary(max_size=150).map(b64url_encode))
def test_b64url_decode_matches_the_standard_library(text):
    try:
        expected = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        canonical = b64url_encode(expected) == text and "=" not in text
    except (binascii.Error, ValueError):
        canonical = False
    try:
        got = b64url_decode(text)
    except ParseError:
        assert not canonical, text
        return
    assert canonical and got == expected, text


@given(st.binary(max_size=300))
def test_pybase64_and_binascii_agree(data):
    std = base64.b64encode(data)
    assert pybase64.b64decode(std, validate=True) == binascii.a2b_base64(std, strict_mode=True) == data
    assert b64url_encode(data) == base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- netno --------------------------------------------------------------------------------------------


def _netno_from_seed(seed: bytes) -> str:
    stream = iter(seed * 8)
    return generate_netno(lambda n: bytes(next(stream) for _ in range(n)))


netnos = st.binary(min_size=64, max_size=64).map(_netno_from_seed)


@given(netnos)
def test_netno_round_trips(n):
    assert parse_netno(n) == n
    assert parse_netno(format_netno(n).lower()) == n
    assert parse_netno(" ".join(n)) == n


@given(netnos, st.integers(0, 9), st.sampled_from(ALPHABET))
def test_netno_single_substitution_is_detected(n, i, ch):
    assume(ch != n[i])
    assert not is_valid_netno(n[:i] + ch + n[i + 1 :])


@given(netnos, st.integers(0, 8))
def test_netno_adjacent_transposition_is_detected(n, i):
    assume(n[i] != n[i + 1])
    assert not is_valid_netno(n[:i] + n[i + 1] + n[i] + n[i + 2 :])
