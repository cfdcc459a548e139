"""A verifier from the issuer's URL (netid.verifier.remote): the JWKS and status lists over HTTP (an
httpx MockTransport standing in for the issuer), cached by their headers, refreshed on an unknown kid,
bounded in time and size."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from netid.errors import UsageError, VerificationError
from netid.testing.world import ISSUER, STATUS_URI, TestWorld
from netid.verifier import Query
from netid.verifier.remote import (
    FetchError,
    HttpCache,
    HttpJwksFetcher,
    HttpStatusFetcher,
    verifier_for_issuer,
)

AGE = Query(purpose="age check", age_over=18)


class FakeIssuer:
    """The world's issuer behind an httpx MockTransport: /jwks.json and /status/1 with Cache-Control and
    ETag (a ``304`` for a matching If-None-Match), counting what it serves."""

    def __init__(self, world: TestWorld, *, jwks_max_age: int = 300, status_max_age: int = 60) -> None:
        self.world = world
        self.jwks: dict[str, Any] = world.jwks
        self.jwks_max_age = jwks_max_age
        self.status_max_age = status_max_age
        self.served: Counter[tuple[str, int]] = Counter()
        self.status_token: str | None = None
        self.fail: int | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if self.fail is not None:
            self.served[(path, self.fail)] += 1
            return httpx.Response(self.fail)
        if path == "/jwks.json":
            body, max_age = json.dumps(self.jwks).encode(), self.jwks_max_age
        elif path == "/status/1":
            if self.status_token is None:  # the issuer signs a list once and serves it until it changes
                self.status_token = self.world.fetch_status(STATUS_URI)
            body, max_age = self.status_token.encode(), self.status_max_age
        else:
            self.served[(path, 404)] += 1
            return httpx.Response(404)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            self.served[(path, 304)] += 1
            return httpx.Response(304, headers=headers)
        self.served[(path, 200)] += 1
        return httpx.Response(200, content=body, headers=headers)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle), base_url=ISSUER)


@pytest.fixture
def world() -> TestWorld:
    return TestWorld.create(credentials=8)


def _verify(world: TestWorld, verifier: Any) -> bool:
    request = world.request(AGE)
    return bool(verifier.verify(world.present(request), request)["age_over_18"])


def test_a_verifier_from_the_issuers_url(world: TestWorld) -> None:
    issuer = FakeIssuer(world)
    verifier = verifier_for_issuer(ISSUER, http=issuer.client(), clock=world.clock)
    assert not issuer.served  # nothing is fetched before the first verification
    assert _verify(world, verifier)
    assert issuer.served == {("/jwks.json", 200): 1, ("/status/1", 200): 1}
    assert _verify(world, verifier)  # both cached
    assert issuer.served == {("/jwks.json", 200): 1, ("/status/1", 200): 1}

    world.clock.advance(300)  # the JWKS TTL and the status cache's: both re-validated, 304, no download
    assert _verify(world, verifier)
    assert issuer.served == {
        ("/jwks.json", 200): 1,
        ("/status/1", 200): 1,
        ("/jwks.json", 304): 1,
        ("/status/1", 304): 1,
    }


def test_a_revocation_arrives_with_the_next_list(world: TestWorld) -> None:
    issuer = FakeIssuer(world, status_max_age=10)
    verifier = verifier_for_issuer(ISSUER, http=issuer.client(), clock=world.clock, status_ttl=10)
    assert _verify(world, verifier)
    for idx in world.used_indices:
        world.status.set(idx, 1)
    issuer.status_token = None  # the issuer signs the changed list
    world.clock.advance(11)
    request = world.request(AGE)
    with pytest.raises(VerificationError) as caught:
        verifier.verify(world.present(request), request)
    assert caught.value.code == "status_revoked"


def test_an_unknown_kid_refreshes_the_jwks(world: TestWorld) -> None:
    """A key rotation: the issuer signs with a key the cached JWKS lacks; the verifier re-fetches at
    once (not after the TTL), and at most once a minute."""
    issuer = FakeIssuer(world)
    published = world.jwks
    issuer.jwks = {"keys": [k for k in published["keys"] if k.get("netid_purpose") != "netcert"]}
    verifier = verifier_for_issuer(ISSUER, http=issuer.client(), clock=world.clock)
    request = world.request(AGE)
    with pytest.raises(VerificationError) as caught:
        verifier.verify(world.present(request), request)
    assert caught.value.code == "issuer_key"
    issuer.jwks = published  # the new key is published
    request = world.request(AGE)
    with pytest.raises(VerificationError):  # within the minute: no second fetch
        verifier.verify(world.present(request), request)
    assert issuer.served[("/jwks.json", 200)] == 1
    world.clock.advance(60)
    assert _verify(world, verifier)  # long before the 300 s TTL
    assert issuer.served[("/jwks.json", 200)] == 2


def test_an_unreachable_issuer_is_an_outage(world: TestWorld) -> None:
    issuer = FakeIssuer(world)
    issuer.fail = 503
    verifier = verifier_for_issuer(ISSUER, http=issuer.client(), clock=world.clock)
    request = world.request(AGE)
    with pytest.raises(VerificationError) as caught:
        verifier.verify(world.present(request), request)
    assert caught.value.code == "jwks_unavailable"
    issuer.fail = None
    world.clock.advance(60)
    verifier.verify(world.present(request := world.request(AGE)), request)
    issuer.fail = 500
    world.clock.advance(400)  # everything due again: the JWKS stays (keys go only with a good fetch)
    with pytest.raises(VerificationError) as caught:
        verifier.verify(world.present(request := world.request(AGE)), request)
    assert caught.value.code == "status_unavailable"


def _cache(handler: Any, **kw: Any) -> HttpCache:
    return HttpCache(httpx.Client(transport=httpx.MockTransport(handler)), clock=lambda: 1000, **kw)


def test_responses_are_capped_in_size() -> None:
    cache = _cache(lambda r: httpx.Response(200, content=b"x" * 2048), max_bytes=1024)
    with pytest.raises(FetchError, match="larger than 1024"):
        cache.get("https://issuer.example/jwks.json")

    def chunked(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            for _ in range(10):
                yield b"x" * 200

        return httpx.Response(200, content=body())  # no Content-Length

    with pytest.raises(FetchError, match="larger than 1024"):
        _cache(chunked, max_bytes=1024).get("https://issuer.example/jwks.json")
    assert _cache(chunked, max_bytes=2000).get("https://issuer.example/x") == b"x" * 2000


def test_timeouts_redirects_and_errors_are_fetch_errors() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("too slow", request=request)

    with pytest.raises(FetchError, match="ReadTimeout"):
        _cache(slow).get("https://issuer.example/jwks.json")
    moved = _cache(lambda r: httpx.Response(302, headers={"Location": "https://evil.example/jwks.json"}))
    with pytest.raises(FetchError, match="HTTP 302"):
        moved.get("https://issuer.example/jwks.json")
    with pytest.raises(FetchError, match="not JSON"):
        HttpJwksFetcher("https://issuer.example", _cache(lambda r: httpx.Response(200, content=b"<html>")))()
    with pytest.raises(FetchError, match="not a JSON object"):
        HttpJwksFetcher("https://issuer.example", _cache(lambda r: httpx.Response(200, json=[1])))()
    with pytest.raises(FetchError, match="http"):
        HttpStatusFetcher(_cache(lambda r: httpx.Response(200)))("file:///etc/passwd")
    with pytest.raises(FetchError, match="ASCII"):
        HttpStatusFetcher(_cache(lambda r: httpx.Response(200, content="令牌".encode())))(
            "https://i.example/s"
        )


def test_every_request_has_a_timeout() -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, content=b"{}")

    HttpCache(httpx.Client(transport=httpx.MockTransport(handler), timeout=None), timeout=2.5).get(
        "https://i.x/"
    )
    assert seen == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]


@pytest.mark.parametrize(
    ("cache_control", "requests_after_10s"),
    [("max-age=60", 1), ("public, max-age=5", 2), ("no-store", 2), ("no-cache, max-age=60", 2), (None, 2)],
)
def test_max_age_decides_freshness(cache_control: str | None, requests_after_10s: int) -> None:
    now = [1000]
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("if-none-match"))
        headers = {"ETag": '"v1"'} | ({"Cache-Control": cache_control} if cache_control else {})
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, content=b"token", headers=headers)

    cache = HttpCache(httpx.Client(transport=httpx.MockTransport(handler)), clock=lambda: now[0])
    assert cache.get("https://i.x/status/1") == b"token"
    now[0] += 10
    assert cache.get("https://i.x/status/1") == b"token"
    assert len(calls) == requests_after_10s
    assert calls[1:] == ['"v1"'] * (requests_after_10s - 1)  # re-validated, not downloaded
    assert cache.get("https://i.x/status/1", revalidate=True) == b"token"
    assert cache.not_modified == requests_after_10s


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example",
        "ftp://issuer.example",
        "https://u:p@issuer.example",
        "https://i.example/?x",
        "",
    ],
)
def test_the_issuer_url_is_https(url: str) -> None:
    with pytest.raises(UsageError):
        verifier_for_issuer(url)


def test_loopback_http_is_development() -> None:
    fetcher = HttpJwksFetcher(
        "http://127.0.0.1:8000/", _cache(lambda r: httpx.Response(200, json={"keys": []}))
    )
    assert fetcher.url == "http://127.0.0.1:8000/jwks.json" and fetcher() == {"keys": []}
    HttpJwksFetcher("http://localhost:8000")
    HttpJwksFetcher("http://[::1]:8000")
