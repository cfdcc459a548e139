"""The issuer's signing keys, one per purpose, and the JWKS it publishes.

An issuer signs three kinds of token, each with its own key (``specs/protocol.md`` §4): netcerts, RP
access certificates and status lists. :class:`IssuerKeys` holds the three current keys plus retired ones
whose tokens may still be live; :meth:`IssuerKeys.jwks` publishes every public key with its ``kid``,
``alg`` and ``netid_purpose``, which is what :class:`~netid.credentials.trust.IssuerTrust` enforces.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from netid.credentials.jose import JwsSigner, LocalSigner, SigningKey, generate_signing_key
from netid.credentials.trust import KEY_PURPOSES, PURPOSE_MEMBER, KeyPurpose
from netid.errors import UsageError

__all__ = ["IssuerKey", "IssuerKeys"]


@dataclass(frozen=True, slots=True)
class IssuerKey:
    """One signing key of the issuer: its ``kid``, what it signs, and the key itself — a private key held
    in this process or a :class:`~netid.credentials.jose.JwsSigner` (a key in an HSM)."""

    kid: str
    purpose: KeyPurpose
    key: SigningKey | JwsSigner = field(repr=False)
    #: what signs: the key itself if it is a signer, else a :class:`LocalSigner` made once here
    signer: JwsSigner = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.purpose not in KEY_PURPOSES:
            raise UsageError(f"purpose must be one of {KEY_PURPOSES}")
        signer = self.key if isinstance(self.key, JwsSigner) else LocalSigner(self.key)
        object.__setattr__(self, "signer", signer)

    @property
    def alg(self) -> str:
        return self.signer.alg

    def public_jwk(self) -> dict[str, str]:
        """The published JWK: public key, ``kid``, ``use``, ``alg`` and ``netid_purpose``."""
        return self.signer.public_jwk() | {
            "kid": self.kid,
            "use": "sig",
            "alg": self.alg,
            PURPOSE_MEMBER: self.purpose,
        }


@dataclass(frozen=True, slots=True)
class IssuerKeys:
    """The issuer's current key per purpose, and ``retired`` public JWKs still published.

    A retired key stays in the JWKS until the last token it signed has expired (a netcert's validity, an
    RP certificate's), so rotation never breaks a credential already issued.
    """

    netcert: IssuerKey
    rp_certificate: IssuerKey
    status_list: IssuerKey
    retired: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for purpose in ("netcert", "rp_certificate", "status_list"):
            if getattr(self, purpose).purpose != purpose:
                raise UsageError(f"the {purpose} key must be an IssuerKey with purpose {purpose!r}")
        kids: list[object] = [k.kid for k in (self.netcert, self.rp_certificate, self.status_list)]
        kids += [jwk.get("kid") for jwk in self.retired]
        if len(set(kids)) != len(kids):
            raise UsageError("every issuer key needs its own kid")

    @classmethod
    def generate(cls, netcert_alg: str = "EdDSA", *, kid_prefix: str | None = None) -> IssuerKeys:
        """Fresh keys: netcerts with ``netcert_alg``, RP certificates and status lists with Ed25519."""
        prefix = kid_prefix if kid_prefix is not None else secrets.token_hex(4)
        return cls(
            netcert=IssuerKey(f"{prefix}-netcert", "netcert", generate_signing_key(netcert_alg)),
            rp_certificate=IssuerKey(f"{prefix}-rp", "rp_certificate", generate_signing_key("EdDSA")),
            status_list=IssuerKey(f"{prefix}-status", "status_list", generate_signing_key("EdDSA")),
        )

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS to publish: the current keys first, then the retired ones."""
        current = [k.public_jwk() for k in (self.netcert, self.rp_certificate, self.status_list)]
        return {"keys": current + [dict(jwk) for jwk in self.retired]}

    def netcert_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """Only the netcert keys (for ``/.well-known/jwt-vc-issuer``, read by any SD-JWT VC verifier)."""
        return {"keys": [k for k in self.jwks()["keys"] if k.get(PURPOSE_MEMBER) == "netcert"]}
