"""Where the issuer's private keys live, behind one interface.

:class:`KeyStore` holds three kinds of secret:

* **signing keys** (netcerts, RP access certificates, status lists), used only through
  :class:`~netid.credentials.jose.JwsSigner` — a signer never hands out its private key, so an HSM key
  (PKCS#11, :mod:`issuer_service.keys.pkcs11`) and a key in the encrypted file
  (:mod:`issuer_service.keys.file`) are used identically;
* the **enrollment key** (P-256, ECDH-ES), which opens the wallets' sealed evidence;
* **symmetric secrets** by name: the personal-number lookup key, the pairwise-subject key, the key that
  derives pre-authorized codes, and the key-encryption key of the person records (envelope encryption).
  A secret may have several versions (``netid-issuer keys rotate-kek`` makes a new key-encryption key);
  the newest is current, the older stay readable.

Public halves and life cycles (created, retired, published until) are database rows
(:class:`~issuer_service.db.tables.IssuerKeyRecord`); the store only keeps and uses private material.
"""

from __future__ import annotations

from typing import Final, Literal, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ec

from netid.credentials.jose import JwsSigner

__all__ = ["RELOAD_SECONDS", "SECRET_NAMES", "KeyStore", "KeyStoreError", "SecretName", "SigningAlg"]

SigningAlg = Literal["EdDSA", "ES256"]
SecretName = Literal["lookup", "pairwise", "codes", "kek"]
SECRET_NAMES: Final[tuple[SecretName, ...]] = ("lookup", "pairwise", "codes", "kek")
#: how often a process re-reads which version of a secret is current
RELOAD_SECONDS: Final = 30


class KeyStoreError(Exception):
    """The key store cannot be opened or used (wrong passphrase, HSM unreachable, key missing)."""


@runtime_checkable
class KeyStore(Protocol):
    """The issuer's private keys (see the module docstring). Implementations must be thread-safe."""

    #: ``"file"`` or ``"pkcs11"``: recorded with each key
    backend: str

    def create_signing_key(self, kid: str, alg: SigningAlg) -> dict[str, str]:
        """Create a new signing key under ``kid``; return its public JWK (without ``kid``)."""
        ...

    def signer(self, kid: str) -> JwsSigner:
        """The signer for ``kid`` (:class:`KeyStoreError` if the store has no such key)."""
        ...

    def create_enrollment_key(self, kid: str) -> dict[str, str]:
        """Create a P-256 key for opening sealed evidence; return its public JWK."""
        ...

    def enrollment_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        """The private enrollment key ``kid``."""
        ...

    def secret(self, name: SecretName) -> bytes:
        """The current version of the 32-byte secret ``name``, created (and persisted) on first use. A
        version another process made becomes current here within :data:`RELOAD_SECONDS`."""
        ...

    def secret_versions(self, name: SecretName) -> list[bytes]:
        """Every version of secret ``name``, the current one first (what was wrapped or derived under an
        older version stays readable)."""
        ...

    def new_secret_version(self, name: SecretName) -> bytes:
        """Make a fresh random version of ``name`` the current one; the older versions stay. Returns it."""
        ...

    def check(self) -> None:
        """Raise :class:`KeyStoreError` if the store is not usable right now (readiness probe)."""
        ...
