"""Token Status List lookups, with a TTL cache (no I/O: fetching is injected).

A verifier (for netcerts) and a wallet (for RP access certificates) ask
:meth:`StatusListSource.status` for ``(uri, idx)`` taken from a token's
``status.status_list`` claim. :class:`CachedStatusLists` fetches the Status List Token through the app's
``fetch(uri) -> token`` callable, verifies it against the issuer's keys (:class:`IssuerTrust`) and caches
the decoded list until the earliest of: its own ``ttl``, the token's ``exp`` and the token's ``ttl``
claim. Verifying thousands of presentations per second therefore costs one bit lookup each.

A fetch or verification failure is ``status_unavailable`` — the verifier fails closed.

Freshness and rollback (``specs/protocol.md`` §7 step 5):

* a token older than ``Policy.max_status_token_age`` (``iat < now − max age``, default one day) is refused,
  whether or not it has an ``exp`` (:func:`~netid.credentials.status_list.parse_status_list_token`);
* the highest ``iat`` accepted per URI is remembered, and a token with a *lower* ``iat`` is refused
  (``status_unavailable``): an attacker on the fetch path cannot roll the verifier back to a list from
  before a revocation it has already seen;
* a cached list is never served at or past the token's ``exp`` (integer or fractional) nor past
  ``iat + max_token_age``;
* only list URIs under the issuer's prefix (:attr:`IssuerTrust.status_uri_prefix`, or the
  ``allowed_uri_prefixes`` given) are fetched: a credential cannot point the verifier at an arbitrary
  URL (a cloud metadata endpoint, an internal service).

A previously verified list may be served for up to ``max_stale`` seconds past its cache expiry while the
issuer is unreachable (default 0: never), still bounded by ``exp`` and ``iat + max_token_age``. While
serving stale, a failed refresh is retried at most every ``retry_interval`` seconds, so an unreachable
issuer is not hammered with one fetch per verification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from netid.credentials.jose import decode_jws_unverified
from netid.credentials.status_list import StatusList, parse_status_list_token
from netid.credentials.trust import IssuerTrust
from netid.errors import ParseError, UsageError, VerificationError
from netid.policy import DEFAULT_POLICY, Policy

__all__ = ["CachedStatusLists", "StatusListSource"]


@runtime_checkable
class StatusListSource(Protocol):
    """Where the verifier gets credential statuses from."""

    def status(self, uri: str, idx: int) -> int:
        """The status value (0 valid, 1 invalid, 2 suspended, …) of entry ``idx`` of the list at ``uri``.

        Raises :class:`VerificationError` ``status_unavailable`` when it cannot be determined.
        """
        ...


@dataclass(slots=True)
class _Entry:
    lst: StatusList
    fresh_until: int | float  # refetch from here on
    hard_until: int | float  # never served at or beyond: min(exp, iat + max_token_age)
    retry_at: int | float = 0  # while serving stale: no refetch attempt before this


def _number(value: object) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


class CachedStatusLists:
    """A :class:`StatusListSource` over an injected fetcher, verified with the issuer's keys, cached.

    ``ttl`` caps how long a list is cached (the token's own ``ttl``/``exp`` may shorten it);
    ``policy.max_status_token_age`` is the oldest ``iat`` accepted and ``policy.leeway`` the clock skew;
    ``allowed_uri_prefixes`` defaults to the issuer's own (``trust.status_uri_prefix``); ``max_stale``
    lets an already verified list serve
    past its cache expiry while refreshes fail (never past ``exp`` or ``iat + max_token_age``), retrying
    at most every ``retry_interval`` seconds.
    """

    def __init__(
        self,
        fetch: Callable[[str], str],
        trust: IssuerTrust,
        *,
        clock: Callable[[], int],
        ttl: int = 300,
        max_stale: int = 0,
        allowed_uri_prefixes: tuple[str, ...] | None = None,
        policy: Policy = DEFAULT_POLICY,
        retry_interval: int = 10,
    ) -> None:
        if max_stale < 0 or retry_interval < 0 or ttl <= 0:
            raise UsageError("ttl must be positive, max_stale and retry_interval >= 0")
        self._fetch = fetch
        self._trust = trust
        self._clock = clock
        self._ttl = ttl
        self._max_stale = max_stale
        self._prefixes = (
            allowed_uri_prefixes if allowed_uri_prefixes is not None else (trust.status_uri_prefix,)
        )
        self._leeway = policy.leeway
        self._max_token_age = policy.max_status_token_age
        self._retry_interval = retry_interval
        self._cache: dict[str, _Entry] = {}
        self._newest_iat: dict[str, int | float] = {}  # rollback fence, per URI

    def _load(self, uri: str, now: int) -> _Entry:
        try:
            token = self._fetch(uri)
        except Exception as exc:  # the app's fetcher: any failure of it is an outage, whatever its type
            raise VerificationError("status_unavailable", "status list could not be fetched") from exc
        try:
            header, payload, _, _ = decode_jws_unverified(token)
        except ParseError as exc:
            raise VerificationError("status_unavailable", "status list token is malformed") from exc
        try:
            key = self._trust.key_for(header, purpose="status_list")
        except VerificationError as exc:
            raise VerificationError(
                "status_unavailable", "status list token not signed by a trusted key"
            ) from exc
        lst = parse_status_list_token(
            token, key, now=now, expected_sub=uri, leeway=self._leeway, max_age=self._max_token_age
        )
        iat = payload["iat"]  # a number: parse_status_list_token checked it
        newest = self._newest_iat.get(uri)
        if newest is not None and iat < newest:
            raise VerificationError(
                "status_unavailable", "status list token is older than one already seen (rollback)"
            )
        self._newest_iat[uri] = iat
        hard_until: int | float = iat + self._max_token_age
        exp = _number(payload.get("exp"))
        if exp is not None:
            hard_until = min(hard_until, exp)
        fresh_until: int | float = now + self._ttl
        token_ttl = _number(payload.get("ttl"))
        if token_ttl is not None and token_ttl > 0:
            fresh_until = min(fresh_until, now + token_ttl)
        return _Entry(lst, min(fresh_until, hard_until), hard_until)

    def status(self, uri: str, idx: int) -> int:
        if not uri.startswith(self._prefixes):
            raise VerificationError("status_unavailable", "status list URI is not an allowed location")
        now = self._clock()
        entry = self._cache.get(uri)
        if entry is None or now >= entry.fresh_until:
            stale_ok = (
                entry is not None and now < entry.fresh_until + self._max_stale and now < entry.hard_until
            )
            if stale_ok and entry is not None and now < entry.retry_at:
                pass  # backing off: serve the stale list without asking the issuer again yet
            else:
                try:
                    entry = self._load(uri, now)
                    self._cache[uri] = entry
                except VerificationError:  # an outage or a bad token; anything else is a bug: let it out
                    if not stale_ok or entry is None:
                        self._cache.pop(uri, None)
                        raise
                    entry.retry_at = now + self._retry_interval
        try:
            return entry.lst.get(idx)
        except IndexError as exc:
            raise VerificationError("status_unavailable", "status index outside the list") from exc
