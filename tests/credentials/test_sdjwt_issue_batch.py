"""Batch issuance: ``issue_sd_jwt_batch`` writes what ``issue_sd_jwt`` writes, one credential at a time.

The batch path encodes what a batch's credentials share once; these tests hold it to the one-by-one path
byte for byte (same seeded rng, deterministic Ed25519), to fresh salts per credential from the production
rng, and to an SD-JWT reading done without NetID's codec (stdlib base64/json/hashlib, jwcrypto for JWS).
"""

import base64
import hashlib
import json
import os
import random
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwcrypto import jwk, jws

import netid.credentials.sdjwt.issue as issue_module
from netid.credentials.jose import LocalSigner, decode_jws_unverified, generate_signing_key, public_jwk
from netid.credentials.sdjwt.codec import Disclosure, b64url_decode, split_sd_jwt
from netid.credentials.sdjwt.issue import SD, SDItem, issue_sd_jwt, issue_sd_jwt_batch
from netid.errors import UsageError
from netid.testing import DetRng
from tests.credentials._sdjwt_helpers import HOLDER, ISSUER, claims, present, verify
from tests.credentials.test_sdjwt_properties import claim_sets as marked_claim_sets


def flat(i: int = 0, **extra: Any) -> dict[str, Any]:
    """A netcert-shaped claim set: plain visible claims, top-level disclosures (the fast path)."""
    base: dict[str, Any] = {
        "iss": "https://issuer.netid.example",
        "vct": "urn:netid:netcert:1",
        "iat": 1_800_000_000 - i * 86_400,
        "exp": 1_802_592_000 - i * 86_400,
        "status": {"status_list": {"idx": 1000 + 7 * i, "uri": "https://issuer.netid.example/status/1"}},
        "cnf": {"jwk": public_jwk(HOLDER)},
        "assurance": {"chip_auth": "aa"},
        "age_over_18": SD(i % 2 == 0),
        "age_over_60": SD(False),
        "doc_valid": SD(True),
        "name": SD("张三丰"),
        "id_number": SD("11010519491231002X"),
        "region_city": SD("4403"),
        "count": SD(i),
        "nothing": SD(None),
    }
    base.update(extra)
    return base


#: Claim sets on and off the fast path: nested and array disclosures, floats, tuples, ints beyond 64 bits,
#: a mapping that is not a dict, True next to 1 under one name, escapes, no disclosures at all.
MIXED: list[Mapping[str, Any]] = [
    flat(0),
    claims(),
    flat(1, weight=SD(61.5), ratio=0.25),
    {"big": 2**70, "bigsd": SD(-(2**65)), "t": (1, [2, {"x": None}]), "s": SD(["a", ("b", 3)])},
    {"a": SD(True)},
    {"a": SD(1)},
    {"a": SD({"x": [1, "y"]}), "e": SD([1, 2]), "ctl": SD('quote " back \\ nl \n \x00 \u2028 😀')},
    MappingProxyType({"a": SD(1), "b": 2}),
    {},
    {"only": "visible", "nested": {"deep": [1, {"k": "v"}]}},
    flat(2),
]


def one_by_one(claim_sets: list[Mapping[str, Any]], key: Any, **kw: Any) -> list[str]:
    return [issue_sd_jwt(c, key, **kw).serialized for c in claim_sets]


@pytest.mark.parametrize("decoys", [0, 3])
@pytest.mark.parametrize("make_rng", [lambda: random.Random(5).randbytes, lambda: DetRng("batch")])
def test_batch_equals_one_by_one(decoys: int, make_rng: Callable[[], Callable[[int], bytes]]) -> None:
    kw: dict[str, Any] = {"kid": "k1", "typ": "dc+sd-jwt", "decoys": decoys, "extra_headers": {"x5c": ["a"]}}
    rng_a, rng_b = make_rng(), make_rng()
    assert issue_sd_jwt_batch(MIXED, ISSUER, rng=rng_b, **kw) == one_by_one(MIXED, ISSUER, rng=rng_a, **kw)
    assert rng_a(32) == rng_b(32)  # and both drew exactly as much


def test_batch_calls_rng_as_one_by_one_does() -> None:
    def recording(calls: list[int]) -> Callable[[int], bytes]:
        source = random.Random(9).randbytes

        def rng(n: int) -> bytes:
            calls.append(n)
            return source(n)

        return rng

    a: list[int] = []
    b: list[int] = []
    one_by_one(MIXED, ISSUER, rng=recording(a), decoys=2)
    issue_sd_jwt_batch(MIXED, ISSUER, rng=recording(b), decoys=2)
    assert a == b


def test_es256_batch_has_the_same_payloads_and_disclosures() -> None:
    key = generate_signing_key("ES256")
    batch = issue_sd_jwt_batch(MIXED, key, rng=DetRng("es"))
    single = one_by_one(MIXED, key, rng=DetRng("es"))
    for b, s in zip(batch, single, strict=True):
        bp, sp = split_sd_jwt(b), split_sd_jwt(s)
        assert bp.disclosures == sp.disclosures
        assert decode_jws_unverified(bp.issuer_jwt)[:3] == decode_jws_unverified(sp.issuer_jwt)[:3]
        assert bp.issuer_jwt != sp.issuer_jwt  # ECDSA signatures are randomized


def test_a_signer_or_a_key() -> None:
    sets = [flat(i) for i in range(3)]
    by_signer = issue_sd_jwt_batch(sets, LocalSigner(ISSUER), rng=DetRng("s"))
    assert by_signer == issue_sd_jwt_batch(sets, ISSUER, rng=DetRng("s"))


@settings(max_examples=60, deadline=None)
@given(st.lists(marked_claim_sets, min_size=1, max_size=4), st.integers(0, 2), st.integers(0, 2**32))
def test_batch_equals_one_by_one_for_any_claims(sets: list[dict[str, Any]], decoys: int, seed: int) -> None:
    single = one_by_one(sets, ISSUER, decoys=decoys, rng=random.Random(seed).randbytes)
    assert issue_sd_jwt_batch(sets, ISSUER, decoys=decoys, rng=random.Random(seed).randbytes) == single


def _read_independently(serialized: str, issuer_key: Any) -> tuple[dict[str, Any], list[list[Any]]]:
    """Verify and decode an SD-JWT with jwcrypto and the standard library only (RFC 9901 §4, §7)."""
    issuer_jwt, *disclosures, last = serialized.split("~")
    assert last == ""
    token = jws.JWS()
    token.deserialize(issuer_jwt)
    token.verify(jwk.JWK(**public_jwk(issuer_key)))
    payload = json.loads(token.payload)
    digests = []
    decoded = []
    for d in disclosures:
        decoded.append(json.loads(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4))))
        digests.append(base64.urlsafe_b64encode(hashlib.sha256(d.encode("ascii")).digest()).rstrip(b"="))
    assert sorted(x.decode() for x in digests) == payload["_sd"]  # sorted, and exactly these
    return payload, decoded


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_fresh_salts_per_credential_from_the_production_rng(alg: str) -> None:
    key = generate_signing_key(alg)
    sets = [flat(0) for _ in range(30)]  # identical claims: only salts tell the credentials apart
    batch = issue_sd_jwt_batch(sets, key, kid="k", rng=os.urandom)
    assert len(set(batch)) == 30
    salts = []
    for serialized in batch:
        payload, decoded = _read_independently(serialized, key)
        assert [d[1:] for d in decoded] == [[n, v.value] for n, v in flat(0).items() if isinstance(v, SD)]
        assert payload["_sd_alg"] == "sha-256" and "name" not in payload
        salts += [d[0] for d in decoded]
        for salt in (d[0] for d in decoded):
            assert len(b64url_decode(salt)) == 16
    assert len(set(salts)) == 30 * 8  # 128-bit salts, none shared within or across credentials


def test_fresh_salts_with_secrets_token_bytes_verify_with_netid() -> None:
    holder_bound = [flat(i) for i in range(4)]
    for serialized in issue_sd_jwt_batch(holder_bound, ISSUER):  # default rng: secrets.token_bytes
        v = verify(present(serialized, [("age_over_60",), ("name",)]))
        assert v.payload["name"] == "张三丰" and v.payload["age_over_60"] is False


def test_one_draw_per_batch_from_a_stream_rng(monkeypatch: pytest.MonkeyPatch) -> None:
    """os.urandom and secrets.token_bytes are asked once for all salts: 18 bytes a salt, the first 16 used."""
    calls: list[bytes] = []

    def stream(n: int) -> bytes:
        calls.append(os.urandom(n))
        return calls[-1]

    monkeypatch.setattr(issue_module, "_STREAM_RNGS", (stream,))
    sets = [flat(i) for i in range(5)]
    batch = issue_sd_jwt_batch(sets, ISSUER, rng=stream)
    assert [len(c) for c in calls] == [18 * 8 * 5]
    rows = [calls[0][i : i + 16] for i in range(0, len(calls[0]), 18)]
    salts = [d.salt for s in batch for d in map(Disclosure.parse, split_sd_jwt(s).disclosures)]
    assert salts == [base64.urlsafe_b64encode(r).rstrip(b"=").decode() for r in rows]
    for s in batch:
        _read_independently(s, ISSUER)


@pytest.mark.parametrize(
    "bad",
    [
        {"_sd": 1},
        {"_sd_alg": "sha-256"},
        {"...": 1},
        {"a": {"_sd": SD(1)}},
        {"a": {"_sd": 1}},
        {"a": SDItem(1)},
        {"a": [SD(1)]},
        {"a": SD(SD(1))},
        {1: "x"},
        {"a": SD(object())},
        {"a": SD("lone \ud800 surrogate")},
        {"a": "lone \ud800 surrogate"},
        {"a": float("nan")},
        {"a": SD(float("inf"))},
    ],
)
def test_batch_refuses_what_issue_sd_jwt_refuses(bad: dict[Any, Any]) -> None:
    with pytest.raises(UsageError):
        issue_sd_jwt(bad, ISSUER)
    with pytest.raises(UsageError):
        issue_sd_jwt_batch([flat(0), bad], ISSUER)


def test_batch_argument_checks() -> None:
    with pytest.raises(UsageError):
        issue_sd_jwt_batch([[]], ISSUER)  # type: ignore[list-item]
    with pytest.raises(UsageError):
        issue_sd_jwt_batch([{}], ISSUER, decoys=-1)
    with pytest.raises(UsageError):
        issue_sd_jwt_batch([{}], ISSUER, extra_headers={"alg": "none"})
    assert issue_sd_jwt_batch([], ISSUER) == []


@pytest.mark.parametrize("stream", [False, True])
def test_short_rng_is_refused(stream: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    def short(n: int) -> bytes:
        return bytes(n - 1)

    if stream:
        monkeypatch.setattr(issue_module, "_STREAM_RNGS", (short,))
    with pytest.raises(UsageError):
        issue_sd_jwt_batch([flat(0)], ISSUER, rng=short)
