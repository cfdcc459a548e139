"""Issuing SD-JWTs (RFC 9901 §4–6).

Mark what is selectively disclosable in an ordinary claims tree and sign it::

    issued = issue_sd_jwt(
        {"iss": "https://id.example", "cnf": {"jwk": holder_jwk},
         "age_over_18": SD(True),
         "address": SD({"province": SD("44"), "city": SD("4403")}),   # recursive disclosures
         "nationalities": [SDItem("CN"), "HK"]},                    # one array element disclosable
        issuer_key,
    )

Each :class:`SD` becomes an object-property disclosure referenced from its object's ``_sd`` array;
each :class:`SDItem` becomes an array-element disclosure referenced by a ``{"...": digest}`` placeholder.
Markers nest to any depth. ``_sd`` arrays are sorted (digests are uniformly random, so sorted order says
nothing about claim names or the order they were given in), optionally padded with decoy digests.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from netid.credentials._b64 import b64url_encode
from netid.credentials.jose import JwsSigner, SigningKey, sign_jws
from netid.credentials.sdjwt.codec import SALT_BYTES, SD_ALG, Disclosure
from netid.errors import UsageError

__all__ = ["SD", "IssuedSdJwt", "SDItem", "issue_sd_jwt"]

T = TypeVar("T")

#: Claim names the issuer may not use: SD-JWT's own markers.
_RESERVED = frozenset({"_sd", "_sd_alg", "..."})


@dataclass(frozen=True, slots=True)
class SD(Generic[T]):
    """Marks an object property's value: the property becomes a selectively disclosable claim."""

    value: T


@dataclass(frozen=True, slots=True)
class SDItem(Generic[T]):
    """Marks an array element: the element becomes selectively disclosable (RFC 9901 §4.2.2)."""

    value: T


@dataclass(frozen=True, slots=True)
class IssuedSdJwt:
    """An issued SD-JWT: ``serialized`` is ``<jwt>~<d1>~...~<dn>~`` (every disclosure, no KB-JWT).

    ``payload`` is the issuer-signed JWT payload (with ``_sd`` digests, not the disclosed values);
    ``disclosures`` are in the order they appear in ``serialized``.
    """

    serialized: str
    disclosures: tuple[Disclosure, ...]
    payload: dict[str, Any]


def _randbelow(n: int, rng: Callable[[int], bytes]) -> int:
    """Uniform integer in [0, n) from ``rng`` by rejection sampling (no modulo bias)."""
    if n <= 1:
        return 0
    nbytes = (n.bit_length() + 7) // 8
    limit = (256**nbytes // n) * n
    while True:
        x = int.from_bytes(rng(nbytes), "big")
        if x < limit:
            return x % n


class _Issuer:
    def __init__(self, decoys: int, rng: Callable[[int], bytes]) -> None:
        self.decoys = decoys
        self.rng = rng
        self.disclosures: list[Disclosure] = []

    def _disclose(self, name: str | None, value: Any) -> Disclosure:
        d = Disclosure.create(name, self.value(value), rng=self.rng)
        self.disclosures.append(d)
        return d

    def _decoy_digests(self) -> list[str]:
        # RFC 9901 §4.2.5: a decoy is the digest of a random value, indistinguishable from a real one.
        count = _randbelow(self.decoys + 1, self.rng)
        return [b64url_encode(hashlib.sha256(self.rng(SALT_BYTES)).digest()) for _ in range(count)]

    def obj(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in claims.items():
            if not isinstance(name, str):
                raise UsageError(f"claim names must be strings, got {type(name).__name__}")
            if name in _RESERVED:
                raise UsageError(f"claim name {name!r} is reserved by SD-JWT")
            if isinstance(value, SD):
                digests.append(self._disclose(name, value.value).digest)
            elif isinstance(value, SDItem):
                raise UsageError(f"SDItem marks array elements; use SD for the property {name!r}")
            else:
                out[name] = self.value(value)
        if digests:
            # Decoys only pad existing _sd arrays: adding _sd to plain objects (e.g. cnf.jwk) would
            # change their shape for every consumer that does not process SD-JWT.
            digests.extend(self._decoy_digests())
            out["_sd"] = sorted(digests)
        return out

    def array(self, items: list[Any] | tuple[Any, ...]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, SDItem):
                out.append({"...": self._disclose(None, item.value).digest})
            elif isinstance(item, SD):
                raise UsageError("SD marks object properties; use SDItem for array elements")
            else:
                out.append(self.value(item))
        return out

    def value(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return self.obj(value)
        if isinstance(value, list | tuple):
            return self.array(value)
        if isinstance(value, SD | SDItem):
            raise UsageError("SD/SDItem must be an object property value or an array element")
        return value


def issue_sd_jwt(
    claims: Mapping[str, Any],
    issuer_key: SigningKey | JwsSigner,
    *,
    typ: str = "dc+sd-jwt",
    kid: str | None = None,
    decoys: int = 0,
    rng: Callable[[int], bytes] = secrets.token_bytes,
    extra_headers: Mapping[str, Any] | None = None,
) -> IssuedSdJwt:
    """Issue an SD-JWT over ``claims`` (with :class:`SD` / :class:`SDItem` markers) signed by ``issuer_key``.

    ``decoys``: each ``_sd`` array gets a uniformly random number of decoy digests in ``[0, decoys]``,
    so the number of digests does not reveal the number of disclosable claims. ``rng`` supplies
    every random byte (salts, decoys), so issuance is reproducible in tests; signatures are as
    deterministic as the algorithm (Ed25519 is, ECDSA is not).

    Holder binding is the caller's: put ``"cnf": {"jwk": public_jwk(holder_key)}`` in ``claims``.
    """
    if not isinstance(claims, Mapping):
        raise UsageError("claims must be a mapping")
    if not isinstance(decoys, int) or isinstance(decoys, bool) or decoys < 0:
        raise UsageError("decoys must be a non-negative integer")
    issuer = _Issuer(decoys, rng)
    payload = issuer.obj(claims)
    payload["_sd_alg"] = SD_ALG
    jwt = sign_jws(payload, issuer_key, typ=typ, kid=kid, extra_headers=extra_headers)
    disclosures = tuple(issuer.disclosures)
    serialized = "~".join([jwt, *(d.encoded for d in disclosures), ""])
    return IssuedSdJwt(serialized, disclosures, payload)
