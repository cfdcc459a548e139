"""Netcert batches go through the batch issuance path: the same bytes as minting one credential at a time,
fresh salts for every credential, and holder keys told apart exactly as RFC 7638 thumbprints tell them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import pytest
from jwcrypto import jwk, jws

from netid.credentials.jose import jwk_thumbprint, public_jwk
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt
from netid.credentials.sdjwt.issue import issue_sd_jwt
from netid.errors import ParseError, UsageError
from netid.issuance import (
    IssuerKey,
    IssuerKeys,
    IssuerProfile,
    NetcertPolicy,
    RpScope,
    mint_netcert_batch,
    netcerts,
)
from netid.testing import DetRng
from tests.issuance.test_netcerts import HOLDERS, KEYS, NETNO
from tests.verifier.kit import ISSUER, NOW, PERSON, STATUS_URI, fixed_key

BATCH_HOLDERS = [public_jwk(fixed_key("ES256", f"batch-holder-{i}")) for i in range(6)]


def _one_by_one(claim_sets: list[dict[str, Any]], key: Any, **kw: Any) -> list[str]:
    return [issue_sd_jwt(c, key, **kw).serialized for c in claim_sets]


def _mint(profile: IssuerProfile, seed: str, **kw: Any) -> list[str]:
    count = len(BATCH_HOLDERS)
    status = [(STATUS_URI, 50 + 3 * i) for i in range(count)]
    return mint_netcert_batch(
        PERSON, profile=profile, holder_jwks=BATCH_HOLDERS, status=status, now=NOW, rng=DetRng(seed),
        day_offsets=[i % 3 for i in range(count)], **kw,
    )  # fmt: skip


@pytest.mark.parametrize("decoys", [0, 4])
@pytest.mark.parametrize("scoped", [False, True])
def test_batch_equals_minting_one_by_one(decoys: int, scoped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = IssuerProfile(ISSUER, KEYS, netcert_policy=NetcertPolicy(decoys=decoys))
    scope = RpScope("shop.example", NETNO, b"k" * 32, include_netno=True) if scoped else None
    batch = _mint(profile, "batch-vs-single", scope=scope)
    monkeypatch.setattr(netcerts, "issue_sd_jwt_batch", _one_by_one)
    assert batch == _mint(profile, "batch-vs-single", scope=scope)


def test_es256_issuer_batch_verifies() -> None:
    keys = IssuerKeys(
        netcert=IssuerKey("k1", "netcert", fixed_key("ES256", "batch-issuer")),
        rp_certificate=KEYS.rp_certificate,
        status_list=KEYS.status_list,
    )
    for serialized in _mint(IssuerProfile(ISSUER, keys), "es256"):
        _read_independently(serialized, public_jwk(keys.netcert.key))


def _read_independently(serialized: str, issuer_jwk: dict[str, str]) -> tuple[dict[str, Any], list[Any]]:
    """Verify the issuer JWT with jwcrypto; decode and hash the disclosures with the standard library."""
    issuer_jwt, *disclosures, last = serialized.split("~")
    assert last == ""
    token = jws.JWS()
    token.deserialize(issuer_jwt)
    token.verify(jwk.JWK(**issuer_jwk))
    payload = json.loads(token.payload)
    digests = sorted(
        base64.urlsafe_b64encode(hashlib.sha256(d.encode("ascii")).digest()).rstrip(b"=").decode()
        for d in disclosures
    )
    assert payload["_sd"] == digests  # sorted (RFC 9901 §4.2.4.1 allows it), and exactly these
    return payload, [json.loads(base64.urlsafe_b64decode(d + "=" * (-len(d) % 4))) for d in disclosures]


def test_production_rng_gives_every_credential_its_own_salts() -> None:
    keys = [public_jwk(fixed_key("EdDSA", f"batch-30-{i}")) for i in range(30)]
    batch = mint_netcert_batch(
        PERSON, profile=IssuerProfile(ISSUER, KEYS), holder_jwks=keys,
        status=[(STATUS_URI, 7 + 11 * i) for i in range(30)], now=NOW, rng=os.urandom,
    )  # fmt: skip
    salts = []
    for i, serialized in enumerate(batch):
        payload, decoded = _read_independently(serialized, public_jwk(KEYS.netcert.key))
        assert payload["cnf"]["jwk"] == keys[i]
        assert payload["status"]["status_list"]["idx"] == 7 + 11 * i
        assert len(decoded) == 10
        salts += [d[0] for d in decoded]
    assert len(set(salts)) == 300  # none repeated within a credential or across the batch
    assert len({split_sd_jwt(s).issuer_jwt.rsplit(".", 1)[1] for s in batch}) == 30


def test_salts_are_drawn_per_credential_from_the_injected_rng() -> None:
    drawn: list[bytes] = []
    seeded = DetRng("drawn")

    def rng(n: int) -> bytes:
        drawn.append(seeded(n))
        return drawn[-1]

    batch = mint_netcert_batch(
        PERSON, profile=IssuerProfile(ISSUER, KEYS), holder_jwks=BATCH_HOLDERS[:3],
        status=[(STATUS_URI, i) for i in range(3)], now=NOW, rng=rng,
    )  # fmt: skip
    assert [len(d) for d in drawn] == [16] * 30
    salts = [Disclosure.parse(d).salt for s in batch for d in split_sd_jwt(s).disclosures]
    assert salts == [base64.urlsafe_b64encode(d).rstrip(b"=").decode() for d in drawn]


def test_holder_keys_are_told_apart_as_thumbprints_tell_them() -> None:
    ec = public_jwk(HOLDERS[0])
    okp = public_jwk(fixed_key("EdDSA", "okp-holder"))
    same_keys = [
        [ec, ec | {"kid": "other", "use": "sig"}],  # extra members: the same key
        [okp, okp | {"y": "ignored for OKP"}],
    ]
    for pair in same_keys:
        assert jwk_thumbprint(pair[0]) == jwk_thumbprint(pair[1])
        with pytest.raises(UsageError):
            mint_netcert_batch(
                PERSON, profile=IssuerProfile(ISSUER, KEYS), holder_jwks=pair,
                status=[(STATUS_URI, 1), (STATUS_URI, 2)], now=NOW, rng=os.urandom,
            )  # fmt: skip
    no_y = {k: v for k, v in ec.items() if k != "y"}
    for bad in ({**ec, "kty": "RSA"}, no_y, {**okp, "x": 5}, {"kty": "OKP"}):
        with pytest.raises(ParseError):
            jwk_thumbprint(bad)
        with pytest.raises(ParseError):
            mint_netcert_batch(
                PERSON, profile=IssuerProfile(ISSUER, KEYS), holder_jwks=[bad, okp],
                status=[(STATUS_URI, 1), (STATUS_URI, 2)], now=NOW, rng=os.urandom,
            )  # fmt: skip
