"""OpenID4VCI 1.0 key attestations (Appendix D): who vouches that the device keys live in secure hardware.

A key proof (:mod:`netid.oid4vci.proofs`) shows that the wallet holds a private key, not *where* it holds
it: a key copied out of a rooted phone proves possession just as well. A **key attestation** is a JWT
(header ``typ: key-attestation+jwt``) signed by a party the credential issuer trusts — the wallet provider's
backend after it checked the phone's platform attestation, or the key storage component itself — saying:
these public keys (``attested_keys``) live in a key store that resists attack potential ``key_storage``
and is unlocked by a user authentication that resists ``user_authentication`` (values of Appendix D.2,
e.g. ``iso_18045_high``). ``iat`` is required, ``exp`` optional (required when the attestation rides in a
``jwt`` proof's ``key_attestation`` header), ``nonce`` is the issuer's ``c_nonce`` when the issuer has a
nonce endpoint, ``certification`` and ``status`` are optional.

:func:`build_key_attestation` is the attester's side (in NetID only the TEST wallet provider of
:mod:`netid.testing.wallet_provider` calls it). :func:`verify_key_attestation` is the issuer's: it checks,
in this order, and raises :class:`~netid.errors.IssuanceError` ``invalid_proof`` (``invalid_nonce`` for
a nonce that is not the current ``c_nonce``) — never anything else, whatever the input:

1. a compact JWS of at most :data:`MAX_ATTESTATION_LENGTH` characters;
2. ``alg`` in NetID's allow-list (:data:`~netid.credentials.jose.ALLOWED_ALGORITHMS`: no ``none``, no MAC);
3. ``typ`` ``key-attestation+jwt``, no ``crit``;
4. the attester named by ``kid`` alone (``x5c`` chains and federation ``trust_chain`` are not accepted:
   NetID's issuer trusts a configured set of attester keys) and that ``kid`` one of the trusted keys;
5. the signature, under that key and with its algorithm;
6. ``iat`` an integer, not after ``now`` + leeway and at most ``max_age`` (+ leeway) old; ``exp``, when
   present (and it must be when ``require_exp``), an integer after ``iat`` and not past (leeway);
7. ``nonce`` present and equal (constant time) to the issuer's ``c_nonce``, when the issuer gave one;
8. ``attested_keys`` a non-empty array of at most ``max_keys`` public JWKs (no private member), each a
   key NetID supports, pairwise distinct;
9. ``key_storage`` / ``user_authentication``, when present, non-empty arrays of strings; each one the
   issuer requires (:class:`KeyAttestationRequirement`) present and sharing a value with the accepted ones.

The answer is a :class:`KeyAttestation`: the attested keys in order, the two assurance arrays, the kid.
Attestation revocation (the ``status`` claim) is not checked: NetID's issuer trusts an attester key until
its operator removes it from the configured set.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from netid.credentials.jose import (
    ALLOWED_ALGORITHMS,
    PRIVATE_JWK_MEMBERS,
    JwsSigner,
    SigningKey,
    VerifyingKey,
    load_public_jwk,
    sign_jws,
)
from netid.errors import IssuanceError, ParseError, UsageError
from netid.oid4vci._jwt import invalid_proof as _invalid
from netid.oid4vci._jwt import open_jwt
from netid.policy import DEFAULT_POLICY, Policy

__all__ = [
    "ATTACK_POTENTIAL_VALUES",
    "ISO_18045_BASIC",
    "ISO_18045_ENHANCED_BASIC",
    "ISO_18045_HIGH",
    "ISO_18045_MODERATE",
    "KEY_ATTESTATION_TYP",
    "MAX_ATTESTATION_AGE",
    "MAX_ATTESTATION_LENGTH",
    "KeyAttestation",
    "KeyAttestationPolicy",
    "KeyAttestationRequirement",
    "build_key_attestation",
    "load_attester_keys",
    "verify_key_attestation",
]

KEY_ATTESTATION_TYP: Final = "key-attestation+jwt"

#: Appendix D.2's attack potential resistance values (ISO/IEC 18045 VAN.5 down to VAN.2)
ISO_18045_HIGH: Final = "iso_18045_high"
ISO_18045_MODERATE: Final = "iso_18045_moderate"
ISO_18045_ENHANCED_BASIC: Final = "iso_18045_enhanced-basic"
ISO_18045_BASIC: Final = "iso_18045_basic"
ATTACK_POTENTIAL_VALUES: Final = (
    ISO_18045_HIGH,
    ISO_18045_MODERATE,
    ISO_18045_ENHANCED_BASIC,
    ISO_18045_BASIC,
)

#: how old an attestation's ``iat`` may be. The c_nonce already makes it fresh; this bounds an attestation
#: an issuer without a nonce would otherwise take for ever (the same bound as a key proof's).
MAX_ATTESTATION_AGE: Final = 300
#: the longest attestation read: 100 attested P-256 keys (NetID's largest batch) fit in about 24 000
#: characters; anything much longer is refused before it is decoded
MAX_ATTESTATION_LENGTH: Final = 48 * 1024
#: at most this many values in ``key_storage`` / ``user_authentication``, each at most this long
_MAX_VALUES: Final = 16
_MAX_VALUE_LENGTH: Final = 256
#: header members that name a signing key some other way than a trusted ``kid``
_OTHER_KEY_HEADERS: Final = frozenset({"jwk", "x5c", "x5u", "jku", "trust_chain"})


def _values(value: object) -> tuple[str, ...] | None:
    """An assurance array as a tuple, or ``None`` when it is not a non-empty array of short strings."""
    if type(value) is not list or not 0 < len(value) <= _MAX_VALUES:
        return None
    if not all(type(v) is str and 0 < len(v) <= _MAX_VALUE_LENGTH for v in value):
        return None
    return tuple(value)


@dataclass(frozen=True, slots=True)
class KeyAttestationRequirement:
    """What an issuer requires of an attestation: ``key_storage`` and ``user_authentication`` values it
    accepts (the metadata's ``key_attestations_required``). An attestation meets a non-empty list when its
    own array holds at least one of its values; an empty list asks nothing. The values are compared as
    strings (Appendix D.2 defines no order between them): an issuer that takes "moderate or better" lists
    both ``iso_18045_moderate`` and ``iso_18045_high``."""

    key_storage: tuple[str, ...] = ()
    user_authentication: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("key_storage", "user_authentication"):
            values = getattr(self, name)
            if values and _values(list(values)) is None:
                raise UsageError(f"{name} must be at most {_MAX_VALUES} non-empty strings")

    def to_metadata(self) -> dict[str, list[str]]:
        """The ``key_attestations_required`` object (empty when nothing beyond an attestation is asked)."""
        out: dict[str, list[str]] = {}
        if self.key_storage:
            out["key_storage"] = list(self.key_storage)
        if self.user_authentication:
            out["user_authentication"] = list(self.user_authentication)
        return out

    @classmethod
    def from_metadata(cls, value: object) -> KeyAttestationRequirement:
        """Read a ``key_attestations_required`` object (a wallet reading issuer metadata).
        :class:`ParseError` when it is not one."""
        if not isinstance(value, Mapping):
            raise ParseError("key_attestations_required", "not a JSON object")
        found: dict[str, tuple[str, ...]] = {}
        for name in ("key_storage", "user_authentication"):
            if name in value:
                values = _values(value[name])
                if values is None:
                    raise ParseError("key_attestations_required", f"{name} is not a non-empty string array")
                found[name] = values
        return cls(**found)


@dataclass(frozen=True, slots=True)
class KeyAttestationPolicy:
    """What an issuer that requires key attestations trusts and asks: the attester keys by ``kid``
    (:func:`load_attester_keys`), the :class:`KeyAttestationRequirement`, and the oldest ``iat`` taken."""

    attesters: Mapping[str, VerifyingKey] = field(repr=False)
    requirement: KeyAttestationRequirement = KeyAttestationRequirement()
    max_age: int = MAX_ATTESTATION_AGE

    def __post_init__(self) -> None:
        if not self.attesters:
            raise UsageError("a key attestation policy needs at least one trusted attester key")
        if not all(type(k) is str and isinstance(v, VerifyingKey) for k, v in self.attesters.items()):
            raise UsageError("attesters maps a kid to a VerifyingKey")
        if type(self.max_age) is not int or self.max_age < 1:
            raise UsageError("max_age must be a positive integer")
        # a copy the caller cannot change under a running issuer
        object.__setattr__(self, "attesters", MappingProxyType(dict(self.attesters)))

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The algorithms the trusted attesters sign with, in NetID's preference order."""
        used = {key.alg for key in self.attesters.values()}
        return tuple(alg for alg in ALLOWED_ALGORITHMS if alg in used)


@dataclass(frozen=True, slots=True)
class KeyAttestation:
    """A verified key attestation: the keys it vouches for (in its order) and how well they are kept."""

    attested_keys: tuple[VerifyingKey, ...]
    key_storage: tuple[str, ...]
    user_authentication: tuple[str, ...]
    #: the ``kid`` of the trusted attester key that signed it
    attester: str

    def public_jwks(self) -> list[dict[str, str]]:
        """The attested keys as public JWKs (fresh dicts), in order: what the credentials are bound to."""
        return [key.jwk() for key in self.attested_keys]


def load_attester_keys(jwks: object) -> dict[str, VerifyingKey]:
    """The trusted attester keys of a JWKS (``{"keys": [...]}``), by ``kid``.

    Every key needs a distinct string ``kid`` and must be a public key NetID supports. :class:`ParseError`
    otherwise: the file is the operator's, and a mistake in it must stop the issuer, not weaken it.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise ParseError("attester JWKS", 'not {"keys": [one or more JWKs]}')
    out: dict[str, VerifyingKey] = {}
    for jwk in keys:
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        if not isinstance(kid, str) or not kid:
            raise ParseError("attester JWKS", "every key needs a kid")
        if kid in out:
            raise ParseError("attester JWKS", f"kid {kid!r} appears twice")
        out[kid] = load_public_jwk(jwk)  # ParseError for private or unsupported keys
    return out


def build_key_attestation(
    key: SigningKey | JwsSigner,
    attested_keys: Sequence[Mapping[str, Any]],
    *,
    kid: str,
    iat: int,
    exp: int | None = None,
    nonce: str | None = None,
    key_storage: Sequence[str] = (),
    user_authentication: Sequence[str] = (),
    certification: str | None = None,
    issuer: str | None = None,
) -> str:
    """A key attestation for ``attested_keys`` (public JWKs), signed by the attester ``key`` named ``kid``.

    ``nonce`` is the credential issuer's ``c_nonce``; ``exp`` is needed when the attestation goes in a
    ``jwt`` proof's header. :class:`UsageError` for no keys, a private or unsupported key, an ``exp`` not
    after ``iat``, or empty assurance values.
    """
    if not attested_keys:
        raise UsageError("a key attestation attests at least one key")
    jwks: list[dict[str, str]] = []
    for jwk in attested_keys:
        if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
            raise UsageError("attested keys must be public keys")
        try:
            jwks.append(load_public_jwk(jwk, cache=False).jwk())
        except ParseError as exc:
            raise UsageError(f"an attested key is not a supported public key: {exc.reason}") from exc
    if exp is not None and exp <= iat:
        raise UsageError("exp must be after iat")
    claims: dict[str, Any] = {"iat": iat}
    if issuer is not None:
        claims["iss"] = issuer
    if exp is not None:
        claims["exp"] = exp
    if nonce is not None:
        claims["nonce"] = nonce
    claims["attested_keys"] = jwks
    for name, values in (("key_storage", key_storage), ("user_authentication", user_authentication)):
        if values:
            if _values(list(values)) is None:
                raise UsageError(f"{name} must be at most {_MAX_VALUES} non-empty strings")
            claims[name] = list(values)
    if certification is not None:
        claims["certification"] = certification
    return sign_jws(claims, key, typ=KEY_ATTESTATION_TYP, kid=kid)


def verify_key_attestation(
    token: object,
    *,
    attesters: Mapping[str, VerifyingKey],
    now: int,
    nonce: str | None,
    max_keys: int,
    requirement: KeyAttestationRequirement = KeyAttestationRequirement(),
    require_exp: bool = False,
    max_age: int = MAX_ATTESTATION_AGE,
    policy: Policy = DEFAULT_POLICY,
) -> KeyAttestation:
    """Check a key attestation (the module docstring lists the checks, in order) and return what it says.

    ``attesters`` are the trusted attester keys by ``kid``; ``nonce`` is the ``c_nonce`` the request must
    carry (``None``: the issuer has no nonce endpoint and the claim is not checked); ``max_keys`` bounds
    ``attested_keys`` (the issuer's batch size); ``require_exp`` is set for an attestation carried in a
    ``jwt`` proof (Appendix D.1: ``exp`` MUST be present there).
    """
    if type(max_keys) is not int or max_keys < 1:
        raise UsageError("max_keys must be a positive integer")
    header, claims, signing_input, signature, alg = open_jwt(
        token, typ=KEY_ATTESTATION_TYP, max_length=MAX_ATTESTATION_LENGTH, what="key attestation"
    )
    kid = header.get("kid")
    if not _OTHER_KEY_HEADERS.isdisjoint(header) or type(kid) is not str:
        raise _invalid("a key attestation names its attester by kid only")
    attester = attesters.get(kid)
    if attester is None:
        raise _invalid("the key attestation is not from a trusted key attester")
    if attester.alg != alg or not attester.verify(signing_input, signature):
        raise _invalid("key attestation signature does not verify under the attester's key")
    _check_times(claims, now=now, require_exp=require_exp, max_age=max_age, leeway=policy.leeway)
    if nonce is not None:
        got = claims.get("nonce")
        if type(got) is not str:
            raise _invalid("the key attestation carries no nonce")
        if not hmac.compare_digest(got.encode(), nonce.encode()):
            raise IssuanceError("invalid_nonce", "key attestation nonce is not the current c_nonce")
    keys = _attested_keys(claims.get("attested_keys"), max_keys)
    key_storage = _assurance(claims, "key_storage", requirement.key_storage)
    user_authentication = _assurance(claims, "user_authentication", requirement.user_authentication)
    if "certification" in claims and type(claims["certification"]) is not str:
        raise _invalid("key attestation certification is not a string")
    if "status" in claims and type(claims["status"]) is not dict:
        raise _invalid("key attestation status is not an object")
    return KeyAttestation(keys, key_storage, user_authentication, kid)


def _check_times(
    claims: Mapping[str, Any], *, now: int, require_exp: bool, max_age: int, leeway: int
) -> None:
    iat = claims.get("iat")
    if type(iat) is not int or iat > now + leeway or iat < now - max_age - leeway:
        raise _invalid("key attestation iat is missing, in the future or too old")
    if "exp" not in claims:
        if require_exp:
            raise _invalid("a key attestation in a jwt proof must carry exp")
        return
    exp = claims["exp"]
    if type(exp) is not int or exp <= iat:
        raise _invalid("key attestation exp is not a time after iat")
    if now >= exp + leeway:
        raise _invalid("the key attestation has expired")


def _attested_keys(value: object, max_keys: int) -> tuple[VerifyingKey, ...]:
    # the count is checked before any key is loaded: an attacker's array costs no more than its JSON did
    if type(value) is not list or not value:
        raise _invalid("attested_keys must be a non-empty array of JWKs")
    if len(value) > max_keys:
        raise _invalid(f"a key attestation may attest at most {max_keys} keys")
    keys: list[VerifyingKey] = []
    seen: set[VerifyingKey] = set()
    for jwk in value:
        if type(jwk) is not dict:
            raise _invalid("an attested key is not a JWK")
        if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
            raise _invalid("an attested key carries private key material")
        try:
            key = load_public_jwk(jwk, cache=False)  # single-use holder keys: not worth caching
        except ParseError as exc:
            raise _invalid("an attested key is not a supported public key") from exc
        if key in seen:
            # one key for two credentials would link their presentations
            raise _invalid("a key is attested twice: every credential needs its own key")
        seen.add(key)
        keys.append(key)
    return tuple(keys)


def _assurance(claims: Mapping[str, Any], name: str, accepted: tuple[str, ...]) -> tuple[str, ...]:
    if name not in claims:
        if accepted:
            raise _invalid(f"the key attestation does not state {name}")
        return ()
    values = _values(claims[name])
    if values is None:
        raise _invalid(f"key attestation {name} is not a non-empty array of strings")
    if accepted and not set(values) & set(accepted):
        raise _invalid(f"the attested {name} is not one this issuer accepts")
    return values
