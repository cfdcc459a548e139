"""The verifier's supporting state: JWKS trust, the replay cache and the status-list cache."""

from __future__ import annotations

from typing import Any

import pytest

from netid.credentials.jose import public_jwk
from netid.credentials.status_list import StatusList
from netid.credentials.trust import parse_jwks
from netid.errors import ParseError, UsageError, VerificationError
from netid.issuance import IssuerKey, status_list_token
from netid.policy import Policy
from netid.verifier import CachedStatusLists, InMemoryReplayCache, IssuerTrust
from tests.verifier.kit import ISSUER, STATUS_URI, fixed_key

KEY = fixed_key("EdDSA", "trust")
STATUS_KEY = IssuerKey("k1", "status_list", KEY)
JWK = public_jwk(KEY) | {"kid": "k1", "netid_purpose": "status_list"}


def _trust(*jwks: dict[str, Any]) -> IssuerTrust:
    return IssuerTrust({"keys": list(jwks) or [JWK]}, issuer=ISSUER)


def test_parse_jwks_refuses_publishing_mistakes() -> None:
    assert set(parse_jwks({"keys": [JWK]})) == {"k1"}
    for member in ("d", "p", "q", "dp", "dq", "qi", "oth", "k"):
        with pytest.raises(ParseError):
            parse_jwks({"keys": [JWK | {member: "AAAA"}]})
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
    trust = IssuerTrust({"keys": [JWK | {"alg": "EdDSA", "netid_purpose": "netcert"}]}, issuer="https://a")
    assert trust.key_for({"kid": "k1", "alg": "EdDSA"}, {"iss": "https://a"}).alg == "EdDSA"
    for header, payload, code in [
        ({"kid": "k1", "alg": "EdDSA"}, {"iss": "https://b"}, "issuer_key"),
        ({"kid": "k2", "alg": "EdDSA"}, {"iss": "https://a"}, "issuer_key"),
        ({"alg": "EdDSA"}, {"iss": "https://a"}, "issuer_key"),
        ({"kid": "k1", "alg": "ES256"}, {"iss": "https://a"}, "algorithm"),
        # protocol.md §7 step 3 orders [algorithm] before the iss pin [issuer_key]
        ({"kid": "k1", "alg": "ES256"}, {"iss": "https://b"}, "algorithm"),
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

    trust = IssuerTrust(issuer=ISSUER, fetch=fetch, clock=lambda: now[0], ttl=100, refetch_interval=10)
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
        return status_list_token(lst, STATUS_KEY, sub=uri, iat=now[0], exp=now[0] + 1000, ttl=50)

    trust = _trust()
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


# --- boundary seconds and status-token freshness (review findings A1, A2) -----------------------------


def test_replay_cache_expiry_is_inclusive() -> None:
    now = [1000]
    cache = InMemoryReplayCache(lambda: now[0])
    assert cache.consume("k", 1010)
    now[0] = 1010  # the expiry second itself: still remembered
    assert not cache.consume("k", 1010)
    now[0] = 1011  # strictly after: may be forgotten
    assert cache.consume("k", 1020)
    # an expiry already in the past still covers the current second
    assert cache.consume("p", 900) and not cache.consume("p", 900)


def test_online_replay_refused_at_every_boundary_second() -> None:
    from netid.verifier import Query
    from tests.verifier.kit import make_world

    w = make_world()
    w.mint(1)
    req = w.request(Query(purpose="age check", age_over=18))
    w.clock.now = req.exp - 30
    vp = w.present(req)
    w.verifier.verify(vp, req)
    deadline = req.exp + 300  # max_presentation_age
    for t, code in [(deadline - 1, "nonce_reused"), (deadline, "request"), (deadline + 1, "request")]:
        w.clock.now = t
        with pytest.raises(VerificationError) as exc:
            w.verifier.verify(vp, req)
        assert exc.value.code == code, t


def test_online_first_use_accepted_until_the_second_before_the_deadline() -> None:
    from netid.verifier import Query
    from tests.verifier.kit import make_world

    w = make_world()
    w.mint(2)
    reqs = [w.request(Query(purpose="age check", age_over=18)) for _ in range(2)]
    w.clock.now = reqs[0].exp  # answered at the request's own exp (within leeway)
    vps = [w.present(r) for r in reqs]
    w.clock.now = reqs[0].exp + 299
    assert w.verifier.verify(vps[0], reqs[0]).predicates["age_over_18"] is True
    w.clock.now = reqs[1].exp + 300
    with pytest.raises(VerificationError) as exc:
        w.verifier.verify(vps[1], reqs[1])
    assert exc.value.code == "request"


def _status_source(tokens: list[str], now: list[int], **kw: Any) -> tuple[CachedStatusLists, IssuerTrust]:
    trust = _trust()
    return CachedStatusLists(lambda uri: tokens[0], trust, clock=lambda: now[0], **kw), trust


def _token(lst: StatusList, *, iat: int, exp: float | None = None, ttl: int | None = None) -> str:
    return status_list_token(lst, STATUS_KEY, sub=STATUS_URI, iat=iat, exp=exp, ttl=ttl)  # type: ignore[arg-type]


def _unavailable(src: CachedStatusLists, idx: int = 0) -> None:
    with pytest.raises(VerificationError) as exc:
        src.status(STATUS_URI, idx)
    assert exc.value.code == "status_unavailable"


def test_status_token_without_exp_is_bounded_by_max_age() -> None:
    from netid.credentials.status_list import parse_status_list_token

    now = [2_000_000]
    lst = StatusList(1, 8)
    token = _token(lst, iat=now[0] - 86_400)  # no exp: exactly one day old is still accepted
    assert parse_status_list_token(token, KEY, now=now[0], expected_sub=STATUS_URI) == lst
    old = _token(lst, iat=now[0] - 86_401)
    with pytest.raises(VerificationError) as exc:
        parse_status_list_token(old, KEY, now=now[0], expected_sub=STATUS_URI)
    assert exc.value.code == "status_unavailable"
    assert parse_status_list_token(old, KEY, now=now[0], expected_sub=STATUS_URI, max_age=2 * 86_400) == lst
    # a 25-day-old token with a far exp is refused too: the age bound does not depend on exp
    src, _ = _status_source([_token(lst, iat=now[0] - 25 * 86_400, exp=now[0] + 86_400)], now)
    _unavailable(src)
    # a cached token without exp is not served past iat + max_token_age
    src, _ = _status_source([_token(lst, iat=now[0])], now, ttl=10**9)
    assert src.status(STATUS_URI, 0) == 0
    now[0] += 86_401
    _unavailable(src)  # refetch gets the same (now too old) token


def test_status_rollback_to_an_older_token_is_refused() -> None:
    now = [2_000_000]
    valid, revoked = StatusList(1, 8), StatusList(1, 8)
    revoked.set(0, 1)
    tokens = [_token(revoked, iat=now[0] - 10, exp=now[0] + 3600, ttl=60)]
    src, _ = _status_source(tokens, now)
    assert src.status(STATUS_URI, 0) == 1
    now[0] += 61
    tokens[0] = _token(valid, iat=now[0] - 3600, exp=now[0] + 3600)  # genuine, older, pre-revocation
    _unavailable(src)
    tokens[0] = _token(revoked, iat=now[0], exp=now[0] + 3600)  # the same iat again, or newer, is fine
    assert src.status(STATUS_URI, 0) == 1


def test_status_float_exp_bounds_cache_and_stale_serving() -> None:
    now = [2_000_000]
    lst = StatusList(1, 8)
    fail = [False]
    calls = [0]
    token = _token(lst, iat=now[0], exp=now[0] + 100.5)
    trust = _trust()

    def fetch(uri: str) -> str:
        calls[0] += 1
        if fail[0]:
            raise OSError("down")
        return token

    no_skew = Policy(leeway=0)
    src = CachedStatusLists(fetch, trust, clock=lambda: now[0], ttl=1000, max_stale=10_000, policy=no_skew)
    assert src.status(STATUS_URI, 0) == 0 and calls[0] == 1
    now[0] += 100  # before exp (100.5): cached, no fetch
    assert src.status(STATUS_URI, 0) == 0 and calls[0] == 1
    fail[0] = True
    now[0] += 1  # past the float exp: refetch fails and the stale list must not serve (exp bounds it)
    _unavailable(src)


def test_status_stale_serving_backs_off() -> None:
    now = [2_000_000]
    lst = StatusList(1, 8)
    calls = [0]
    fail = [False]
    trust = _trust()

    def fetch(uri: str) -> str:
        calls[0] += 1
        if fail[0]:
            raise OSError("down")
        return _token(lst, iat=now[0], exp=now[0] + 3600, ttl=60)

    src = CachedStatusLists(fetch, trust, clock=lambda: now[0], max_stale=300, retry_interval=30)
    src.status(STATUS_URI, 0)
    fail[0] = True
    now[0] += 61
    for _ in range(5):
        assert src.status(STATUS_URI, 0) == 0  # stale, one failed fetch only
    assert calls[0] == 2
    now[0] += 30
    assert src.status(STATUS_URI, 0) == 0 and calls[0] == 3
    now[0] += 300  # beyond max_stale
    _unavailable(src)


# --- key purposes, the issuer pin and outages (specs/protocol.md §4, §7 step 3) ----------------------


def test_each_key_signs_only_its_purpose() -> None:
    keys = {p: public_jwk(fixed_key("EdDSA", p)) | {"kid": p, "netid_purpose": p} for p in
            ("netcert", "rp_certificate", "status_list")}  # fmt: skip
    trust = _trust(*keys.values(), JWK | {"kid": "untagged", "netid_purpose": None})
    for kid in keys:
        for purpose in keys:
            if kid == purpose:
                assert trust.key_for({"kid": kid, "alg": "EdDSA"}, purpose=purpose)  # type: ignore[arg-type]
                continue
            with pytest.raises(VerificationError) as exc:
                trust.key_for({"kid": kid, "alg": "EdDSA"}, purpose=purpose)  # type: ignore[arg-type]
            assert exc.value.code == "issuer_key"
    with pytest.raises(VerificationError) as exc:  # a key published without a purpose signs nothing
        trust.key_for({"kid": "untagged", "alg": "EdDSA"}, purpose="netcert")
    assert exc.value.code == "issuer_key"
    with pytest.raises(ParseError):
        parse_jwks({"keys": [JWK | {"netid_purpose": "everything"}]})


def test_status_list_signed_with_the_netcert_key_is_unavailable() -> None:
    now = [2_000_000]
    netcert_key = IssuerKey("k1", "status_list", KEY)  # the right key bytes, published as a netcert key
    token = status_list_token(StatusList(1, 8), netcert_key, sub=STATUS_URI, iat=now[0])
    trust = _trust(JWK | {"netid_purpose": "netcert"})
    src = CachedStatusLists(lambda uri: token, trust, clock=lambda: now[0])
    _unavailable(src)


def test_issuer_identifier_is_required() -> None:
    with pytest.raises(UsageError):
        IssuerTrust({"keys": [JWK]}, issuer="")
    with pytest.raises(TypeError):
        IssuerTrust({"keys": [JWK]})  # type: ignore[call-arg]


def test_jwks_outage_has_its_own_code() -> None:
    now = [0]

    def down() -> Any:
        raise OSError("issuer unreachable")

    trust = IssuerTrust(issuer=ISSUER, fetch=down, clock=lambda: now[0])
    with pytest.raises(VerificationError) as exc:
        trust.key_for({"kid": "k1", "alg": "EdDSA"}, purpose="status_list")
    assert exc.value.code == "jwks_unavailable"
    answers = iter([{"keys": [JWK]}])
    trust = IssuerTrust(issuer=ISSUER, fetch=lambda: next(answers), clock=lambda: now[0])
    with pytest.raises(VerificationError) as exc:  # fetched fine, the kid is simply unknown
        trust.key_for({"kid": "k9", "alg": "EdDSA"}, purpose="status_list")
    assert exc.value.code == "issuer_key"


def test_status_lists_are_fetched_only_under_the_issuers_prefix() -> None:
    fetched: list[str] = []

    def fetch(uri: str) -> str:
        fetched.append(uri)
        return _token(StatusList(1, 8), iat=0)

    src = CachedStatusLists(fetch, _trust(), clock=lambda: 0)
    for uri in ("http://169.254.169.254/latest/meta-data", "https://issuer.netid.test.evil/status/1",
                "https://evil.example/https://issuer.netid.test/"):  # fmt: skip
        with pytest.raises(VerificationError) as exc:
            src.status(uri, 0)
        assert exc.value.code == "status_unavailable"
    assert fetched == []


# --- CachedStatusLists at its boundaries (mutation testing: each test kills a mutant that survived) -----


def _counting(tokens: list[str], now: list[int], **kw: Any) -> tuple[CachedStatusLists, list[int]]:
    calls = [0]

    def fetch(uri: str) -> str:
        calls[0] += 1
        if tokens[0] == "down":
            raise OSError("issuer unreachable")
        return tokens[0]

    return CachedStatusLists(fetch, _trust(), clock=lambda: now[0], **kw), calls


def test_status_token_with_the_same_iat_again_is_no_rollback() -> None:
    now = [2_000_000]
    token = _token(StatusList(1, 8), iat=now[0], exp=now[0] + 3600, ttl=10)
    src, calls = _counting([token], now)
    assert src.status(STATUS_URI, 0) == 0
    now[0] += 10  # past the token's ttl: refetched, the same token (same iat) is served again
    assert src.status(STATUS_URI, 0) == 0 and calls[0] == 2


@pytest.mark.parametrize(("ttl", "refetch_at"), [(1, 1), (0, 300), (True, 300)])
def test_status_token_ttl(ttl: Any, refetch_at: int) -> None:
    """A positive token ``ttl`` shortens the cache time; 0 or a non-number (``true``) is ignored."""
    now = [2_000_000]
    lst = StatusList(1, 8)
    key = STATUS_KEY
    payload = {"sub": STATUS_URI, "iat": now[0], "exp": now[0] + 3600, "ttl": ttl,
               "status_list": {"bits": 1, "lst": lst.encode_lst()}}  # fmt: skip
    from netid.credentials.jose import sign_jws

    token = sign_jws(payload, key.signer, typ="statuslist+jwt", kid=key.kid)
    src, calls = _counting([token], now, ttl=300)
    src.status(STATUS_URI, 0)
    now[0] += refetch_at - 1
    src.status(STATUS_URI, 0)
    assert calls[0] == 1  # still cached the second before
    now[0] += 1
    src.status(STATUS_URI, 0)
    assert calls[0] == 2  # refetched at exactly fetch time + ttl


def test_status_stale_serving_ends_exactly_at_max_stale_and_at_exp() -> None:
    now = [2_000_000]
    tokens = [_token(StatusList(1, 8), iat=now[0], exp=now[0] + 1000)]
    src, _ = _counting(tokens, now, ttl=100, max_stale=50, retry_interval=0)
    assert src.status(STATUS_URI, 0) == 0
    tokens[0] = "down"
    now[0] += 149  # fresh until +100, stale allowed while now < 100 + 50
    assert src.status(STATUS_URI, 0) == 0
    now[0] += 1
    _unavailable(src)
    # bounded by exp as well: a list whose exp comes before the end of max_stale stops at exp
    now = [3_000_000]
    tokens = [_token(StatusList(1, 8), iat=now[0], exp=now[0] + 120)]
    src, _ = _counting(tokens, now, ttl=100, max_stale=500, retry_interval=0, policy=Policy(leeway=0))
    assert src.status(STATUS_URI, 0) == 0
    tokens[0] = "down"
    now[0] += 119
    assert src.status(STATUS_URI, 0) == 0
    now[0] += 1  # at exp: never served
    _unavailable(src)


def test_status_source_passes_the_policy_to_the_token_check() -> None:
    now = [2_000_000]
    ahead = _token(StatusList(1, 8), iat=now[0] + 30)  # the issuer's clock 30 s ahead
    src, _ = _counting([ahead], now)
    assert src.status(STATUS_URI, 0) == 0  # default leeway 60
    src, _ = _counting([ahead], now, policy=Policy(leeway=10))
    _unavailable(src)
    aged = _token(StatusList(1, 8), iat=now[0] - 200)
    src, _ = _counting([aged], now)
    assert src.status(STATUS_URI, 0) == 0  # default max age one day
    src, _ = _counting([aged], now, policy=Policy(max_status_token_age=100))
    _unavailable(src)


def test_status_source_refuses_a_malformed_or_foreign_token() -> None:
    now = [2_000_000]
    for token in ("garbage", "a.b.c", 5):
        src, _ = _counting([token], now)  # type: ignore[list-item]
        _unavailable(src)


def test_status_source_lets_a_bug_out_instead_of_serving_stale() -> None:
    """Only a VerificationError (an outage, a bad token) may fall back to a stale list; anything else is a
    bug in NetID and must surface."""
    now = [2_000_000]
    tokens = [_token(StatusList(1, 8), iat=now[0], exp=now[0] + 1000)]
    src, _ = _counting(tokens, now, ttl=10, max_stale=500, retry_interval=0)
    assert src.status(STATUS_URI, 0) == 0
    now[0] += 20

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise UsageError("a bug")

    src._load = broken  # type: ignore[method-assign]
    with pytest.raises(UsageError):
        src.status(STATUS_URI, 0)


def test_status_index_outside_the_list_and_index_zero() -> None:
    now = [2_000_000]
    lst = StatusList(1, 8)
    lst.set(0, 1)
    src, _ = _counting([_token(lst, iat=now[0])], now)
    assert src.status(STATUS_URI, 0) == 1 and src.status(STATUS_URI, 7) == 0
    _unavailable(src, idx=8)


def test_status_source_arguments_and_defaults() -> None:
    trust = _trust()
    for kw in ({"ttl": 0}, {"ttl": -1}, {"max_stale": -1}, {"retry_interval": -1}):
        with pytest.raises(UsageError):
            CachedStatusLists(lambda uri: "", trust, clock=lambda: 0, **kw)
    CachedStatusLists(lambda uri: "", trust, clock=lambda: 0, ttl=1, max_stale=0, retry_interval=0)
    now = [2_000_000]
    tokens = [_token(StatusList(1, 8), iat=now[0], exp=now[0] + 3600)]
    src, calls = _counting(tokens, now)  # defaults: ttl 300, no stale serving
    src.status(STATUS_URI, 0)
    now[0] += 299
    src.status(STATUS_URI, 0)
    assert calls[0] == 1
    now[0] += 1
    src.status(STATUS_URI, 0)
    assert calls[0] == 2
    tokens[0] = "down"
    now[0] += 300
    _unavailable(src)  # max_stale 0 by default: never served stale


def test_status_source_default_retry_interval_is_ten_seconds() -> None:
    now = [2_000_000]
    tokens = [_token(StatusList(1, 8), iat=now[0], exp=now[0] + 3600)]
    src, calls = _counting(tokens, now, ttl=10, max_stale=1000)
    src.status(STATUS_URI, 0)
    tokens[0] = "down"
    now[0] += 10
    src.status(STATUS_URI, 0)  # refetch fails, stale served, next try in 10 s
    now[0] += 9
    src.status(STATUS_URI, 0)
    assert calls[0] == 2
    now[0] += 1
    src.status(STATUS_URI, 0)
    assert calls[0] == 3


def test_status_source_allowed_prefixes_given_replace_the_issuers() -> None:
    now = [2_000_000]
    token = _token(StatusList(1, 8), iat=now[0])
    src, _ = _counting([token], now, allowed_uri_prefixes=("https://mirror.example/",))
    with pytest.raises(VerificationError) as exc:
        src.status(STATUS_URI, 0)  # under the issuer's prefix, but not an allowed one any more
    assert exc.value.code == "status_unavailable"
