"""A verifier from the issuer's URL: its JWKS and status lists fetched over HTTP, cached by their headers.

The verification code itself does no I/O (:class:`~netid.credentials.trust.IssuerTrust` and
:class:`~netid.credentials.status_source.CachedStatusLists` take fetch callables); this module is the
HTTP edge for a relying party that talks to a real issuer::

    verifier = verifier_for_issuer("https://issuer.example")          # one httpx.Client inside
    answers = verifier.verify(vp_token, request)

What it fetches, and how:

- ``{issuer}/jwks.json`` (:class:`HttpJwksFetcher`): re-validated with ``If-None-Match`` (a ``304`` costs
  no download and no key parsing) whenever :class:`IssuerTrust` asks — every ``jwks_ttl`` seconds (the
  issuer's ``Cache-Control: max-age``, 300 s by default) and when a token names a ``kid`` it does not
  know (a key rotation), at most once per minute (IssuerTrust's ``refetch_interval``);
- status lists (:class:`HttpStatusFetcher`): only URIs under the issuer's prefix (CachedStatusLists
  refuses others before any request), served from this cache while the last response's ``max-age`` is
  fresh, then re-validated with ``If-None-Match``; the token's own ``ttl``/``exp`` still bound how long
  CachedStatusLists uses it.

Every request has a timeout, follows no redirect, and is refused past a size cap (``Content-Length``
first, then counted while streaming). ``http`` to an issuer is accepted only on a loopback host
(development); anything else must be ``https``. A failed fetch is an outage to the verifier
(``jwks_unavailable`` / ``status_unavailable``), never a silent pass.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from netid.credentials.jose import json_loads
from netid.credentials.status_source import CachedStatusLists
from netid.credentials.trust import IssuerTrust
from netid.errors import NetIDError, UsageError
from netid.http import HttpError, bounded_request, is_loopback_host
from netid.policy import DEFAULT_POLICY, Policy
from netid.verifier.replay import ReplayCache
from netid.verifier.verify import Verifier

__all__ = [
    "DEFAULT_MAX_FETCH_BYTES",
    "DEFAULT_TIMEOUT",
    "FetchError",
    "HttpCache",
    "HttpJwksFetcher",
    "HttpStatusFetcher",
    "verifier_for_issuer",
]

#: seconds for connecting, reading, writing and waiting for a pooled connection, per request
DEFAULT_TIMEOUT: Final = 5.0
#: the largest JWKS or status list accepted (a status list of 2^20 two-bit entries, compressed, is tiny)
DEFAULT_MAX_FETCH_BYTES: Final = 1024 * 1024
_MAX_CACHED_URLS: Final = 256
_MAX_AGE_RE: Final = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,9})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE_RE: Final = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|=|$)", re.IGNORECASE)


class FetchError(NetIDError):
    """An HTTP fetch failed: transport error, timeout, an unexpected status, too large or not usable.
    The verifier treats it as an outage of the issuer (``jwks_unavailable``, ``status_unavailable``)."""


def _system_clock() -> int:
    return int(time.time())


def _check_issuer_url(url: str) -> str:
    if not isinstance(url, str):
        raise UsageError("issuer_url must be a string")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.query or parts.fragment or parts.username or not host:
        raise UsageError("issuer_url must be an absolute URL without user info, query or fragment")
    if parts.scheme == "https":
        return url.rstrip("/")
    if parts.scheme == "http" and is_loopback_host(host):
        return url.rstrip("/")
    raise UsageError("issuer_url must be https (http only to a loopback host, in development)")


def _max_age(cache_control: str | None) -> int:
    if not cache_control or _NO_CACHE_RE.search(cache_control):
        return 0
    match = _MAX_AGE_RE.search(cache_control)
    return int(match.group(1)) if match else 0


@dataclass(slots=True)
class _Cached:
    body: bytes
    etag: str | None
    fresh_until: int


class HttpCache:
    """GETs over one ``httpx.Client`` with an HTTP cache: ``ETag`` → ``If-None-Match``/``304`` and
    ``Cache-Control: max-age`` (``no-store``/``no-cache`` → always re-validate). At most 256 URLs are
    remembered (least recently used forgotten first). Thread-safe.

    ``http`` defaults to a new client; ``timeout`` (seconds) and ``max_bytes`` bound every request;
    ``clock`` gives Unix seconds for ``max-age``.
    """

    def __init__(
        self,
        http: httpx.Client | None = None,
        *,
        clock: Callable[[], int] = _system_clock,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_FETCH_BYTES,
    ) -> None:
        if timeout <= 0 or max_bytes <= 0:
            raise UsageError("timeout and max_bytes must be positive")
        self.http = http if http is not None else httpx.Client(headers={"User-Agent": "netid-verifier"})
        self._clock = clock
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()
        #: requests sent and how many were answered ``304`` (for tests and operators)
        self.requests = 0
        self.not_modified = 0

    def get(self, url: str, *, revalidate: bool = False) -> bytes:
        """The body at ``url``: from the cache while its ``max-age`` is fresh (unless ``revalidate``),
        else by a conditional GET. :class:`FetchError` for any failure."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(url)
            if cached is not None:
                self._cache.move_to_end(url)
                if not revalidate and now < cached.fresh_until:
                    return cached.body
        headers = {"Accept": "*/*"}
        if cached is not None and cached.etag is not None:
            headers["If-None-Match"] = cached.etag
        status, body, response_headers = self._request(url, headers)
        max_age = _max_age(response_headers.get("cache-control"))
        if status == 304 and cached is not None:
            self.not_modified += 1
            entry = _Cached(cached.body, response_headers.get("etag", cached.etag), now + max_age)
        elif status == 200:
            entry = _Cached(body, response_headers.get("etag"), now + max_age)
        else:
            raise FetchError(f"GET {url}: HTTP {status}")
        with self._lock:
            self._cache[url] = entry
            self._cache.move_to_end(url)
            while len(self._cache) > _MAX_CACHED_URLS:
                self._cache.popitem(last=False)
        return entry.body

    def _request(self, url: str, headers: Mapping[str, str]) -> tuple[int, bytes, httpx.Headers]:
        self.requests += 1
        try:
            # the issuer URL was checked when this fetcher was made: http only to loopback, in development
            reply = bounded_request(
                self.http, "GET", url, max_bytes=self._max_bytes, timeout=self._timeout, headers=headers,
                allow_loopback_http=True,
            )  # fmt: skip
        except HttpError as exc:  # a refused URL, a broken exchange, a body over the cap: an outage
            raise FetchError(f"GET {url}: {exc.message}") from exc
        return reply.status, reply.body, reply.headers


class HttpJwksFetcher:
    """``IssuerTrust(fetch=HttpJwksFetcher(issuer_url))``: the issuer's ``{issuer_url}/jwks.json``,
    re-validated (``If-None-Match``) on every call — IssuerTrust calls it only when its TTL has passed or
    a ``kid`` is unknown, and rate-limits the latter."""

    def __init__(self, issuer_url: str, cache: HttpCache | None = None) -> None:
        self.url = _check_issuer_url(issuer_url) + "/jwks.json"
        self.cache = cache if cache is not None else HttpCache()

    def __call__(self) -> Mapping[str, Any]:
        try:
            document = json_loads(self.cache.get(self.url, revalidate=True))
        except ValueError as exc:
            raise FetchError(f"GET {self.url}: not JSON") from exc
        if type(document) is not dict:
            raise FetchError(f"GET {self.url}: not a JSON object")
        return document


class HttpStatusFetcher:
    """``CachedStatusLists(HttpStatusFetcher(), trust, …)``: a Status List Token by its URI (``http(s)``
    only; CachedStatusLists has already checked that the URI is under the issuer's prefix), served from
    the HTTP cache while its ``max-age`` is fresh."""

    def __init__(self, cache: HttpCache | None = None) -> None:
        self.cache = cache if cache is not None else HttpCache()

    def __call__(self, uri: str) -> str:
        if not uri.startswith(("https://", "http://")):
            raise FetchError("a status list URI must be http(s)")
        body = self.cache.get(uri)
        try:
            return body.decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise FetchError(f"GET {uri}: a status list token is ASCII") from exc


def verifier_for_issuer(
    issuer_url: str,
    *,
    http: httpx.Client | None = None,
    policy: Policy = DEFAULT_POLICY,
    replay_cache: ReplayCache | None = None,
    clock: Callable[[], int] = _system_clock,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_FETCH_BYTES,
    jwks_ttl: int = 300,
    status_ttl: int = 300,
    max_stale: int = 0,
) -> Verifier:
    """A :class:`~netid.verifier.Verifier` that trusts the issuer at ``issuer_url`` (its identifier, as
    netcerts carry it in ``iss``; ``https``, or ``http`` to a loopback host in development).

    Nothing is fetched until the first verification. ``http`` is the client to use (default: a new one);
    ``timeout`` and ``max_bytes`` bound every fetch; ``jwks_ttl`` is how often the JWKS is re-validated
    and ``status_ttl``/``max_stale`` are :class:`CachedStatusLists`' (see the module docstring).
    ``policy``, ``replay_cache`` (default: a process-local one; give a shared one to several workers)
    and ``clock`` are the verifier's. :class:`UsageError` for a bad ``issuer_url``.
    """
    issuer = _check_issuer_url(issuer_url)
    cache = HttpCache(http, clock=clock, timeout=timeout, max_bytes=max_bytes)
    trust = IssuerTrust(issuer=issuer, fetch=HttpJwksFetcher(issuer, cache), clock=clock, ttl=jwks_ttl)
    status = CachedStatusLists(
        HttpStatusFetcher(cache), trust, clock=clock, ttl=status_ttl, max_stale=max_stale, policy=policy
    )
    return Verifier(trust, status=status, replay_cache=replay_cache, clock=clock, policy=policy)
