"""Token Status List lookups for the verifier, with a TTL cache (no I/O: fetching is injected).

The verifier asks :meth:`StatusListSource.status` for ``(uri, idx)`` taken from a netcert's
``status.status_list`` claim. :class:`CachedStatusLists` fetches the Status List Token through the app's
``fetch(uri) -> token`` callable, verifies it against the issuer's keys (:class:`IssuerTrust`) and caches
the decoded list until the earliest of: its own ``ttl``, the token's ``exp`` and the token's ``ttl``
claim. Verifying thousands of presentations per second therefore costs one bit lookup each.

A fetch or verification failure is ``status_unavailable`` — the verifier fails closed. A previously
verified list may be served for up to ``max_stale`` seconds past its cache expiry while the issuer is
unreachable (default 0: never), bounded by the token's own ``exp``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from netid.credentials.jose import decode_jws_unverified
from netid.credentials.status_list import StatusList, parse_status_list_token
from netid.errors import NetIDError, VerificationError
from netid.verifier.trust import IssuerTrust

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
    fresh_until: int
    hard_until: int | None  # the token's exp: never served beyond it


class CachedStatusLists:
    """A :class:`StatusListSource` over an injected fetcher, verified with the issuer's keys, cached."""

    def __init__(
        self,
        fetch: Callable[[str], str],
        trust: IssuerTrust,
        *,
        clock: Callable[[], int],
        ttl: int = 300,
        max_stale: int = 0,
        allowed_uri_prefixes: tuple[str, ...] | None = None,
        leeway: int = 60,
    ) -> None:
        self._fetch = fetch
        self._trust = trust
        self._clock = clock
        self._ttl = ttl
        self._max_stale = max_stale
        self._prefixes = allowed_uri_prefixes
        self._leeway = leeway
        self._cache: dict[str, _Entry] = {}

    def _load(self, uri: str, now: int) -> _Entry:
        try:
            token = self._fetch(uri)
            header, payload, _, _ = decode_jws_unverified(token)
        except Exception as exc:
            raise VerificationError("status_unavailable", "status list could not be fetched") from exc
        try:
            key = self._trust.key_for(header)
        except VerificationError as exc:
            raise VerificationError(
                "status_unavailable", "status list token not signed by a trusted key"
            ) from exc
        lst = parse_status_list_token(token, key, now=now, expected_sub=uri, leeway=self._leeway)
        fresh_until = now + self._ttl
        token_ttl, exp = payload.get("ttl"), payload.get("exp")
        if isinstance(token_ttl, int) and not isinstance(token_ttl, bool) and token_ttl > 0:
            fresh_until = min(fresh_until, now + token_ttl)
        hard_until = exp if isinstance(exp, int) and not isinstance(exp, bool) else None
        if hard_until is not None:
            fresh_until = min(fresh_until, hard_until)
        return _Entry(lst, fresh_until, hard_until)

    def status(self, uri: str, idx: int) -> int:
        if self._prefixes is not None and not uri.startswith(self._prefixes):
            raise VerificationError("status_unavailable", "status list URI is not an allowed location")
        now = self._clock()
        entry = self._cache.get(uri)
        if entry is None or now >= entry.fresh_until:
            try:
                entry = self._load(uri, now)
                self._cache[uri] = entry
            except (VerificationError, NetIDError):
                if (
                    entry is None
                    or now >= entry.fresh_until + self._max_stale
                    or (entry.hard_until is not None and now >= entry.hard_until)
                ):
                    raise
        try:
            return entry.lst.get(idx)
        except (NetIDError, IndexError, ValueError) as exc:
            raise VerificationError("status_unavailable", "status index outside the list") from exc
