"""Issuer trust: which keys may sign netcerts and status lists, from a JWKS.

An :class:`IssuerTrust` holds the issuer's JSON Web Key Set, either given once (offline verifiers, tests)
or obtained through an injected ``fetch`` callable (the app decides how to do HTTP; this module does no
I/O). Keys are parsed and loaded **once** per JWKS version and looked up by ``kid``.

Rotation: the issuer publishes a new key in its JWKS before it signs with it. When a token names an
unknown ``kid`` the set is re-fetched — but at most once per ``refetch_interval`` seconds, so a stream of
tokens with random ``kid`` values cannot turn the verifier into a load generator against the issuer.
When ``ttl`` has passed the set is re-fetched on the next lookup; if that fetch fails the previous set
stays in use (keys are removed only by a successful fetch that no longer lists them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netid.credentials.jose import ALLOWED_ALGORITHMS, PRIVATE_JWK_MEMBERS, VerifyingKey, load_public_jwk
from netid.errors import NetIDError, ParseError, UsageError, VerificationError

__all__ = ["IssuerTrust", "parse_jwks"]


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, tuple[VerifyingKey, str | None]]:
    """Load every usable signature key of ``jwks`` into ``{kid: (key, alg or None)}``.

    Keys without a ``kid``, with ``use`` other than ``sig``, or of a type/curve NetID does not accept
    are skipped. A JWKS with a private key member or two keys sharing one ``kid`` is refused outright
    (:class:`ParseError`): both are publishing mistakes that must not be papered over.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ParseError("JWKS", "no 'keys' array")
    out: dict[str, tuple[VerifyingKey, str | None]] = {}
    for jwk in keys:
        if not isinstance(jwk, dict):
            raise ParseError("JWKS", "key is not an object")
        if PRIVATE_JWK_MEMBERS & jwk.keys():
            raise ParseError("JWKS", "contains private key material")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            continue
        if kid in out:
            raise ParseError("JWKS", "duplicate kid")
        if jwk.get("use", "sig") != "sig":
            continue
        alg = jwk.get("alg")
        if alg is not None and alg not in ALLOWED_ALGORITHMS:
            continue
        try:
            key = load_public_jwk(jwk)
        except (NetIDError, ValueError, TypeError):
            continue
        out[kid] = (key, alg)
    return out


class IssuerTrust:
    """The issuer keys a verifier accepts, with kid lookup, TTL and rotation-aware refetching.

    Give either ``jwks`` (a static set) or ``fetch`` (returns the current JWKS as a dict; may raise).
    ``issuer``, when set, is the only ``iss`` value accepted in netcerts.
    """

    def __init__(
        self,
        jwks: Mapping[str, Any] | None = None,
        *,
        fetch: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], int],
        issuer: str | None = None,
        ttl: int = 3600,
        refetch_interval: int = 60,
    ) -> None:
        if (jwks is None) == (fetch is None):
            raise UsageError("give exactly one of jwks or fetch")
        self._fetch = fetch
        self._clock = clock
        self.issuer = issuer
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._keys: dict[str, tuple[VerifyingKey, str | None]] = {}
        self._fetched_at: int | None = None
        self._last_attempt: int | None = None
        if jwks is not None:
            self._keys = parse_jwks(jwks)
            self._fetched_at = None  # static sets never expire

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, issuer: str | None = None) -> IssuerTrust:
        """A static trust set (no fetching, no expiry)."""
        return cls(jwks, clock=lambda: 0, issuer=issuer)

    def _refresh(self, now: int) -> None:
        assert self._fetch is not None
        self._last_attempt = now
        try:
            fresh = parse_jwks(self._fetch())
        except Exception:
            return
        self._keys = fresh
        self._fetched_at = now

    def lookup(self, kid: str) -> tuple[VerifyingKey, str | None] | None:
        """The loaded key and its pinned ``alg`` (if the JWK names one) for ``kid``, or ``None``."""
        if self._fetch is not None:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            may_retry = self._last_attempt is None or now - self._last_attempt >= self._refetch_interval
            if (stale or kid not in self._keys) and may_retry:
                self._refresh(now)
        return self._keys.get(kid)

    def key_for(self, header: Mapping[str, Any], payload: Mapping[str, Any] | None = None) -> VerifyingKey:
        """Resolve the signing key of a token from its protected header (and ``iss``, if pinned).

        Order (``specs/protocol.md`` §7 step 3): ``kid`` names a trusted key (``issuer_key``); the
        header's ``alg`` equals the one that JWK is pinned to, if any (``algorithm``); ``iss`` is the
        pinned issuer, if configured (``issuer_key``). A token failing both of the last two is an
        ``algorithm`` failure.
        """
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise VerificationError("issuer_key", "token header has no kid")
        entry = self.lookup(kid)
        if entry is None:
            raise VerificationError("issuer_key", "no trusted issuer key with this kid")
        key, pinned_alg = entry
        if pinned_alg is not None and header.get("alg") != pinned_alg:
            raise VerificationError("algorithm", "alg differs from the issuer key's pinned alg")
        if self.issuer is not None and payload is not None and payload.get("iss") != self.issuer:
            raise VerificationError("issuer_key", "token is not from the trusted issuer")
        return key

    __call__ = key_for
