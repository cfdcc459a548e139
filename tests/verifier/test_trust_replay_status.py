"""The verifier's supporting state: JWKS trust, the replay cache and the status-list cache."""

from __future__ import annotations

from typing import Any

import pytest

from netid.credentials.jose import public_jwk
from netid.credentials.status_list import StatusList, status_list_token
from netid.errors import ParseError, VerificationError
from netid.verifier import CachedStatusLists, InMemoryReplayCache, IssuerTrust
from netid.verifier.trust import parse_jwks
from tests.verifier.kit import STATUS_URI, fixed_key

KEY = fixed_key("EdDSA", "trust")
JWK = public_jwk(KEY) | {"kid": "k1"}


def test_parse_jwks_refuses_publishing_mistakes() -> None:
    assert set(parse_jwks({"keys": [JWK]})) == {"k1"}
    with pytest.raises(ParseError):
        parse_jwks({"keys": [JWK | {"d": "AAAA"}]})
    with pytest.raises(ParseError):
        parse_jwks({"keys": [JWK, JWK]})
    with pytest.raises(ParseError):
        parse_jwks({"nokeys": []})
    # unusable keys are skipped, not fatal
    skipped = [
        JWK | {"kid": "enc", "use": "enc"},
        JWK | {"kid": "hs", "alg": "HS256"},
        {"kty": "RSA", "kid": "r"},
    ]
    assert set(parse_jwks({"keys": [JWK, *skipped]})) == {"k1"}


def test_trust_pins_issuer_and_alg() -> None:
    trust = IssuerTrust({"keys": [JWK | {"alg": "EdDSA"}]}, clock=lambda: 0, issuer="https://a")
    assert trust.key_for({"kid": "k1", "alg": "EdDSA"}, {"iss": "https://a"}).alg == "EdDSA"
    for header, payload, code in [
        ({"kid": "k1", "alg": "EdDSA"}, {"iss": "https://b"}, "issuer_key"),
        ({"kid": "k2", "alg": "EdDSA"}, {"iss": "https://a"}, "issuer_key"),
        ({"alg": "EdDSA"}, {"iss": "https://a"}, "issuer_key"),
        ({"kid": "k1", "alg": "ES256"}, {"iss": "https://a"}, "algorithm"),
    ]:
        with pytest.raises(VerificationError) as exc:
            trust.key_for(header, payload)
        assert exc.value.code == code


def test_trust_ttl_and_failing_fetch_keeps_old_set() -> None:
    now = [0]
    responses: list[Any] = [{"keys": [JWK]}]

    def fetch() -> Any:
        r = responses.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    trust = IssuerTrust(fetch=fetch, clock=lambda: now[0], ttl=100, refetch_interval=10)
    assert trust.lookup("k1") is not None
    now[0] = 150
    responses.append(OSError("down"))
    assert trust.lookup("k1") is not None  # stale but kept: the refetch failed
    now[0] = 200
    responses.append({"keys": []})  # the issuer withdrew the key
    assert trust.lookup("k1") is None


def test_replay_cache_expiry_and_bound() -> None:
    now = [1000]
    cache = InMemoryReplayCache(lambda: now[0], max_entries=2)
    assert cache.consume("a", 1010) and not cache.consume("a", 1010)
    assert cache.consume("b", 1005)
    assert not cache.consume("c", 1100)  # full: refuse rather than forget a live nonce
    now[0] = 1006
    assert cache.consume("c", 1100) and len(cache) == 2  # "b" expired
    now[0] = 1011
    assert cache.consume("a", 1020)  # expired entries may be reused


def test_status_cache_ttl_stale_and_prefix() -> None:
    now = [10_000]
    lst = StatusList(2, [0] * 16)
    lst.set(3, 1)
    calls: list[str] = []
    fail = [False]

    def fetch(uri: str) -> str:
        calls.append(uri)
        if fail[0]:
            raise OSError("down")
        return status_list_token(lst, KEY, sub=uri, iat=now[0], exp=now[0] + 1000, ttl=50, kid="k1")

    trust = IssuerTrust({"keys": [JWK]}, clock=lambda: now[0])
    src = CachedStatusLists(fetch, trust, clock=lambda: now[0], ttl=300, max_stale=100)
    assert src.status(STATUS_URI, 0) == 0 and src.status(STATUS_URI, 3) == 1 and len(calls) == 1
    now[0] += 60  # past the token's ttl claim (50 s): refetched
    src.status(STATUS_URI, 0)
    assert len(calls) == 2
    fail[0] = True
    now[0] += 60  # fetch fails, but within max_stale: the old list serves
    assert src.status(STATUS_URI, 3) == 1
    now[0] += 200  # beyond max_stale: fail closed
    with pytest.raises(VerificationError) as exc:
        src.status(STATUS_URI, 0)
    assert exc.value.code == "status_unavailable"
    fenced = CachedStatusLists(fetch, trust, clock=lambda: now[0], allowed_uri_prefixes=("https://other/",))
    with pytest.raises(VerificationError):
        fenced.status(STATUS_URI, 0)
    fail[0] = False
    with pytest.raises(VerificationError):
        src.status(STATUS_URI, 10_000)  # index outside the list
