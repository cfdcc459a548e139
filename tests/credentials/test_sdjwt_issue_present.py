"""Issuing and presenting SD-JWTs."""

import json
import random

import pytest

from netid.credentials.jose import decode_jws_unverified, generate_signing_key
from netid.credentials.sdjwt.codec import Disclosure, b64url_decode, sd_hash, split_sd_jwt
from netid.credentials.sdjwt.issue import SD, SDItem, issue_sd_jwt
from netid.credentials.sdjwt.present import disclosable_claims, present_sd_jwt
from netid.errors import CredentialError, UsageError
from tests.credentials._sdjwt_helpers import (
    AUD,
    FOREIGN,
    HOLDER,
    ISSUER,
    NONCE,
    NOW,
    claims,
    issue,
    present,
    verify,
)


def test_issue_structure():
    issued = issue_sd_jwt(claims(), ISSUER, kid="k1")
    header, payload, _, _ = decode_jws_unverified(split_sd_jwt(issued.serialized).issuer_jwt)
    assert header == {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": "k1"}
    assert payload == issued.payload
    assert payload["_sd_alg"] == "sha-256"
    assert payload["_sd"] == sorted(payload["_sd"])
    assert len(payload["_sd"]) == 4  # age_over_18, age_over_60, name, region
    assert {"iss", "vct", "iat", "exp", "cnf"} <= payload.keys()
    assert "name" not in payload and "age_over_18" not in payload
    assert payload["nationalities"][1] == "XX"
    assert all(set(x) == {"..."} for x in payload["nationalities"][::2])
    assert len(issued.disclosures) == 9
    assert issued.serialized.endswith("~")
    assert split_sd_jwt(issued.serialized).disclosures == tuple(d.encoded for d in issued.disclosures)
    for d in issued.disclosures:
        assert len(b64url_decode(d.salt)) == 16  # 128-bit salts
    assert len({d.salt for d in issued.disclosures}) == 9
    region = next(d for d in issued.disclosures if d.name == "region")
    assert set(region.value) == {"_sd"} and len(region.value["_sd"]) == 3  # recursive disclosures


def test_issue_es256_and_custom_typ():
    key = generate_signing_key("ES256")
    issued = issue_sd_jwt({"a": SD(1)}, key, typ="vc+sd-jwt")
    header, _, _, _ = decode_jws_unverified(split_sd_jwt(issued.serialized).issuer_jwt)
    assert header == {"alg": "ES256", "typ": "vc+sd-jwt"}


def test_issue_is_reproducible_with_injected_rng():
    a = issue_sd_jwt(claims(), ISSUER, decoys=4, rng=random.Random(1).randbytes)
    b = issue_sd_jwt(claims(), ISSUER, decoys=4, rng=random.Random(1).randbytes)
    c = issue_sd_jwt(claims(), ISSUER, decoys=4, rng=random.Random(2).randbytes)
    assert a.serialized == b.serialized  # Ed25519 is deterministic
    assert a.serialized != c.serialized


def test_decoys():
    counts = set()
    for seed in range(40):
        issued = issue_sd_jwt(
            {"a": SD(1), "b": {"c": SD(2)}, "plain": {"x": 1}},
            ISSUER,
            decoys=3,
            rng=random.Random(seed).randbytes,
        )
        counts.add(len(issued.payload["_sd"]) - 1)
        assert "_sd" not in issued.payload["plain"]  # decoys only pad existing _sd arrays
        assert len(issued.payload["_sd"]) <= 4 and len(issued.payload["b"]["_sd"]) <= 4
        assert issued.payload["_sd"] == sorted(issued.payload["_sd"])
    assert counts == {0, 1, 2, 3}
    p = present(issue_sd_jwt(claims(), ISSUER, decoys=5).serialized)
    assert verify(p).payload["name"] == "张三"


def test_no_sd_claims():
    issued = issue_sd_jwt({"a": 1, "b": [1, {"c": 2}]}, ISSUER)
    assert issued.payload == {"a": 1, "b": [1, {"c": 2}], "_sd_alg": "sha-256"}
    assert issued.disclosures == ()


@pytest.mark.parametrize(
    "bad",
    [
        {"_sd": 1},
        {"_sd_alg": "sha-256"},
        {"...": 1},
        {"a": {"_sd": SD(1)}},
        {"a": SDItem(1)},
        {"a": [SD(1)]},
        {"a": SD(SD(1))},
        {1: "x"},
    ],
)
def test_issue_rejects_misuse(bad):
    with pytest.raises(UsageError):
        issue_sd_jwt(bad, ISSUER)


def test_issue_argument_checks():
    with pytest.raises(UsageError):
        issue_sd_jwt([], ISSUER)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        issue_sd_jwt({}, ISSUER, decoys=-1)
    with pytest.raises(UsageError):
        issue_sd_jwt({"a": SD(object())}, ISSUER)


def _names(presentation: str) -> set:
    return {
        Disclosure.parse(s).name or Disclosure.parse(s).value for s in split_sd_jwt(presentation).disclosures
    }


def test_present_by_paths_includes_parents_and_children():
    s = issue()
    assert _names(present(s, [("age_over_18",)])) == {"age_over_18"}
    assert _names(present(s, [("region", "city")])) == {"region", "city"}  # parent added
    assert _names(present(s, [("region",)])) == {"region", "province", "city", "county"}  # whole claim
    assert _names(present(s, [("nationalities", 0)])) == {"CN"}
    assert _names(present(s, [("nationalities", 2)])) == {"HK"}
    assert _names(present(s, [("nationalities", 1)])) == set()  # "XX" is always disclosed
    assert _names(present(s, [("nationalities", None)])) == {"CN", "HK"}
    assert _names(present(s, [("nationalities",)])) == {"CN", "HK"}
    assert _names(present(s, [("iss",), ("nope",), ("region", "street")])) == set()
    assert _names(present(s, [])) == set()
    with pytest.raises(UsageError):
        present(s, ["age_over_18"])


def test_present_by_predicate_adds_parents():
    s = issue()
    assert _names(present(s, lambda d: d.name == "county")) == {"region", "county"}
    assert _names(present(s, lambda d: False)) == set()


def test_present_key_binding():
    s = issue()
    p = present(s, [("age_over_18",)], extra_kb_claims={"amr": ["hwk", "pin"]})
    parts = split_sd_jwt(p)
    header, payload, _, _ = decode_jws_unverified(parts.kb_jwt)
    assert header == {"alg": "ES256", "typ": "kb+jwt"}
    assert payload == {
        "iat": NOW,
        "aud": AUD,
        "nonce": NONCE,
        "sd_hash": sd_hash(p[: p.rindex("~") + 1]),
        "amr": ["hwk", "pin"],
    }
    assert verify(p).kb_payload == payload


def test_present_without_key_binding():
    p = present_sd_jwt(issue(), disclose=[("name",)])
    assert p.endswith("~") and split_sd_jwt(p).kb_jwt is None
    assert verify(p, require_key_binding=False).payload["name"] == "张三"


def test_present_misuse():
    s = issue()
    with pytest.raises(CredentialError):
        present(s, holder_key=FOREIGN)
    with pytest.raises(UsageError):
        present(s, aud=None)
    with pytest.raises(UsageError):
        present(s, extra_kb_claims={"nonce": "x"})
    with pytest.raises(CredentialError):
        present("not an sd-jwt")
    no_cnf = issue_sd_jwt({"a": SD(1)}, ISSUER).serialized
    with pytest.raises(CredentialError):
        present(no_cnf)
    assert present_sd_jwt(no_cnf, disclose=lambda d: True).count("~") == 2


def test_present_iat_defaults_to_now():
    p = present_sd_jwt(issue(), disclose=[], holder_key=HOLDER, aud=AUD, nonce=NONCE)
    _, payload, _, _ = decode_jws_unverified(split_sd_jwt(p).kb_jwt)
    assert isinstance(payload["iat"], int) and payload["iat"] > 1_700_000_000


def test_disclosable_claims():
    found = {c.path: c for c in disclosable_claims(issue())}
    assert set(found) == {
        ("age_over_18",),
        ("age_over_60",),
        ("name",),
        ("region",),
        ("region", "province"),
        ("region", "city"),
        ("region", "county"),
        ("nationalities", 0),
        ("nationalities", 2),
    }
    assert found[("region", "city")].parent is found[("region",)].disclosure
    assert found[("name",)].parent is None


def test_issuer_payload_is_plain_json():
    issued = issue_sd_jwt(claims(), ISSUER)
    json.dumps(issued.payload)
