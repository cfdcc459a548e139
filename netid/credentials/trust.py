"""Issuer trust: which keys may sign which kind of issuer token, from the issuer's JWKS.

An :class:`IssuerTrust` holds one issuer's JSON Web Key Set, either given once (offline verifiers, tests)
or obtained through an injected ``fetch`` callable (the app decides how to do HTTP; this module does no
I/O). Keys are parsed and loaded **once** per JWKS version and looked up by ``kid``. Both relying parties
(netcerts, status lists) and wallets (RP access certificates, status lists) use it.

**Key purposes** (``specs/protocol.md`` §4). The issuer signs netcerts, RP access certificates and status
lists with separate keys, and says which is which: every JWK in its set carries the NetID member
``netid_purpose`` (``"netcert"``, ``"rp_certificate"`` or ``"status_list"``). :meth:`IssuerTrust.key_for`
is always asked for one purpose and refuses a key published for another, or for none, so a key that
leaks from the online status-list signer cannot mint netcerts, and the offline RP-registration key is
never accepted on a netcert.

**Issuer identifier.** It is required: a token whose ``iss`` is not the trusted issuer is refused even
when its ``kid`` names a trusted key.

**Rotation.** The issuer publishes a new key in its JWKS before it signs with it. When a token names an
unknown ``kid`` the set is re-fetched — at most once per ``refetch_interval`` seconds, so a stream of
tokens with random ``kid`` values cannot turn the verifier into a load generator against the issuer.
When ``ttl`` has passed the set is re-fetched on the next lookup; if that fetch fails the previous set
stays in use (keys are removed only by a successful fetch that no longer lists them). When no set could
be fetched at all, lookups fail with ``jwks_unavailable`` — an outage, not a forgery.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from netid.credentials.jose import ALLOWED_ALGORITHMS, PRIVATE_JWK_MEMBERS, VerifyingKey, load_public_jwk
from netid.errors import ParseError, UsageError, VerificationError

__all__ = ["KEY_PURPOSES", "PURPOSE_MEMBER", "IssuerTrust", "KeyPurpose", "TrustedKey", "parse_jwks"]

KeyPurpose = Literal["netcert", "rp_certificate", "status_list"]
KEY_PURPOSES: Final[tuple[KeyPurpose, ...]] = get_args(KeyPurpose)
#: the JWK member naming what the key signs (NetID's own; other parties ignore unknown JWK members)
PURPOSE_MEMBER: Final = "netid_purpose"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A loaded issuer key, the ``alg`` its JWK pins (if any) and what it may sign."""

    key: VerifyingKey
    alg: str | None
    purpose: KeyPurpose | None


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, TrustedKey]:
    """Load every usable signature key of ``jwks`` into ``{kid: TrustedKey}``.

    Keys without a ``kid``, with ``use`` other than ``sig``, with an ``alg`` outside the allow-list or of
    a type/curve NetID does not accept are skipped. A JWKS with a private key member, two keys sharing one
    ``kid`` or an unknown ``netid_purpose`` is refused outright (:class:`ParseError`): those are
    publishing mistakes that must not be papered over.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise ParseError("JWKS", "no 'keys' array")
    out: dict[str, TrustedKey] = {}
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
        purpose = jwk.get(PURPOSE_MEMBER)
        if purpose is not None and purpose not in KEY_PURPOSES:
            raise ParseError("JWKS", f"unknown {PURPOSE_MEMBER}")
        if jwk.get("use", "sig") != "sig":
            continue
        alg = jwk.get("alg")
        if alg is not None and alg not in ALLOWED_ALGORITHMS:
            continue
        try:
            key = load_public_jwk(jwk)
        except ParseError:
            continue  # a key type NetID does not accept: not ours to use, not a reason to refuse the set
        out[kid] = TrustedKey(key, alg, purpose)
    return out


class IssuerTrust:
    """One issuer's keys as a verifier or wallet accepts them: kid lookup per purpose, TTL, rotation.

    Give ``issuer`` (its identifier, compared with ``iss``) and either ``jwks`` (a static set) or ``fetch``
    (returns the current JWKS as a dict; may raise). ``status_uri_prefix`` is where this issuer's status
    lists live (default ``issuer + "/"``); status sources refuse list URIs elsewhere, so a credential
    cannot make a verifier fetch an arbitrary URL.
    """

    def __init__(
        self,
        jwks: Mapping[str, Any] | None = None,
        *,
        issuer: str,
        fetch: Callable[[], Mapping[str, Any]] | None = None,
        clock: Callable[[], int] | None = None,
        ttl: int = 3600,
        refetch_interval: int = 60,
        status_uri_prefix: str | None = None,
    ) -> None:
        if (jwks is None) == (fetch is None):
            raise UsageError("give exactly one of jwks or fetch")
        if not isinstance(issuer, str) or not issuer:
            raise UsageError("issuer (the issuer identifier netcerts carry in 'iss') is required")
        if fetch is not None and clock is None:
            raise UsageError("a fetching IssuerTrust needs a clock")
        self.issuer = issuer
        self.status_uri_prefix = status_uri_prefix or issuer.rstrip("/") + "/"
        self._fetch = fetch
        self._clock = clock
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._keys: dict[str, TrustedKey] = {}
        self._fetched_at: int | None = None
        self._last_attempt: int | None = None
        self._last_error: str | None = None
        if jwks is not None:
            self._keys = parse_jwks(jwks)

    @classmethod
    def from_jwks(cls, jwks: Mapping[str, Any], *, issuer: str) -> IssuerTrust:
        """A static trust set (no fetching, no expiry)."""
        return cls(jwks, issuer=issuer)

    def _refresh(self, now: int) -> None:
        assert self._fetch is not None
        self._last_attempt = now
        try:
            document = self._fetch()
        except Exception as exc:  # the app's fetcher: any failure of it is an outage, whatever its type
            self._last_error = f"the issuer's JWKS could not be fetched ({type(exc).__name__})"
            return
        try:
            fresh = parse_jwks(document)
        except ParseError as exc:
            self._last_error = f"the issuer's JWKS is malformed ({exc.reason})"
            return
        self._keys = fresh
        self._fetched_at = now
        self._last_error = None

    def lookup(self, kid: str) -> TrustedKey | None:
        """The trusted key for ``kid``, or ``None``. Fetches (or re-fetches) the set when due."""
        if self._fetch is not None:
            assert self._clock is not None
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            may_retry = self._last_attempt is None or now - self._last_attempt >= self._refetch_interval
            if (stale or kid not in self._keys) and may_retry:
                self._refresh(now)
        return self._keys.get(kid)

    def key_for(
        self,
        header: Mapping[str, Any],
        payload: Mapping[str, Any] | None = None,
        *,
        purpose: KeyPurpose = "netcert",
    ) -> VerifyingKey:
        """Resolve the signing key of a token of kind ``purpose`` from its protected header.

        Order (``specs/protocol.md`` §7 step 3), raising :class:`VerificationError`: ``kid`` names a
        trusted key (``issuer_key``; ``jwks_unavailable`` if no key set could be obtained at all); the
        key is published for ``purpose`` (``issuer_key``); the header's ``alg`` equals the one the JWK
        pins, if any (``algorithm``); ``iss`` is this issuer when ``payload`` is given (``issuer_key``).
        """
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise VerificationError("issuer_key", "token header has no kid")
        entry = self.lookup(kid)
        if entry is None:
            if self._last_error is not None and not self._keys:
                raise VerificationError("jwks_unavailable", self._last_error)
            raise VerificationError("issuer_key", "no trusted issuer key with this kid")
        if entry.purpose != purpose:
            raise VerificationError("issuer_key", f"the issuer key is not published for {purpose} tokens")
        if entry.alg is not None and header.get("alg") != entry.alg:
            raise VerificationError("algorithm", "alg differs from the issuer key's pinned alg")
        if payload is not None and payload.get("iss") != self.issuer:
            raise VerificationError("issuer_key", "token is not from the trusted issuer")
        return entry.key

    def netcert_key(
        self, header: Mapping[str, Any], payload: Mapping[str, Any] | None = None
    ) -> VerifyingKey:
        """:meth:`key_for` with ``purpose="netcert"``: the key resolver SD-JWT verification takes."""
        return self.key_for(header, payload, purpose="netcert")
