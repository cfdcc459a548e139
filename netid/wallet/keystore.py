"""Device keys that netcerts are bound to (``cnf.jwk``) and that sign key-binding JWTs.

On a phone these keys live in the secure element / StrongBox / Secure Enclave: non-exportable, usable
only after the user unlocks them. That hardware boundary is the one thing this SDK cannot have in a
test process, so :class:`SoftwareKeyStore` stands in for it — the single allowed mock. It keeps the same
interface (create a key, get its public JWK, sign with it, delete it; the private key never leaves the
store) so a platform key store can replace it without touching :mod:`netid.wallet.present`.

Keys are P-256 (``ES256``) by default, as phone hardware provides; Ed25519 is available for tests.
Every netcert of a batch gets its own key (see :mod:`netid.issuance.netcerts`), and the wallet deletes
a key once its single-use credential has been presented.

A key store may also be able to have its keys **attested** (:class:`AttestingKeyStore`, an optional
capability): on a phone, the secure element's platform attestation goes to the wallet provider's backend,
which answers with an OpenID4VCI key attestation (:mod:`netid.oid4vci.key_attestation`) an issuer can
trust. An issuer that requires one refuses keys from a store that cannot give it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from netid.credentials.jose import SigningKey, generate_signing_key, jwk_thumbprint, public_jwk, sign_jws
from netid.errors import UsageError, WalletError

__all__ = ["AttestingKeyStore", "DeviceKeyStore", "SoftwareKeyStore"]


@runtime_checkable
class DeviceKeyStore(Protocol):
    """A store of non-exportable signing keys, addressed by ``key_id`` (the JWK thumbprint)."""

    #: True if keys live in tamper-resistant hardware (reported as ``hwk`` vs ``swk`` in ``amr``).
    hardware_backed: bool

    def create_key(self, alg: str = "ES256") -> str:
        """Create a new key; return its id (the RFC 7638 thumbprint of its public JWK)."""
        ...

    def public_jwk(self, key_id: str) -> dict[str, str]:
        """The public JWK of ``key_id``."""
        ...

    def sign_jwt(
        self, key_id: str, payload: Mapping[str, object], *, typ: str, include_jwk: bool = False
    ) -> str:
        """Sign ``payload`` as a compact JWS with ``key_id`` (after the platform's user-presence check).

        ``include_jwk`` puts the public key in the header (``jwk``), as OpenID4VCI key proofs and NetID's
        device-revocation requests need."""
        ...

    def delete_key(self, key_id: str) -> None:
        """Destroy ``key_id`` (idempotent)."""
        ...


@runtime_checkable
class AttestingKeyStore(DeviceKeyStore, Protocol):
    """A :class:`DeviceKeyStore` whose keys can be attested: the wallet then sends the batch's keys as an
    OpenID4VCI ``attestation`` proof (:func:`netid.wallet.enroll.enroll`). ``isinstance(store,
    AttestingKeyStore)`` is how the wallet asks whether a store has the capability."""

    def attest_keys(self, key_ids: Sequence[str], *, nonce: str | None, now: int) -> str:
        """A key attestation (``key-attestation+jwt``) for ``key_ids``, in that order, carrying the
        credential issuer's ``nonce`` (its ``c_nonce``) — signed by whoever the platform trusts to vouch
        for this store (the wallet provider's backend, the secure element itself)."""
        ...


class SoftwareKeys:
    """Device keys held in this process: the :class:`DeviceKeyStore` operations every SOFTWARE store
    shares (:class:`SoftwareKeyStore`, :class:`netid.wallet.store.WalletStore`). A store says where the
    keys are kept by overriding two hooks: :meth:`_before_use` (e.g. "the store must be open") and
    :meth:`_after_change` (persist)."""

    hardware_backed = False
    _keys: dict[str, SigningKey]

    def _before_use(self) -> None:
        """Called before any key is read or changed."""

    def _after_change(self) -> None:
        """Called after a key was added or destroyed."""

    def create_key(self, alg: str = "ES256") -> str:
        self._before_use()
        key = generate_signing_key(alg)
        key_id = jwk_thumbprint(public_jwk(key))
        self._keys[key_id] = key
        self._after_change()
        return key_id

    def _key(self, key_id: str) -> SigningKey:
        self._before_use()
        try:
            return self._keys[key_id]
        except KeyError:
            raise UsageError("no such device key") from None

    def public_jwk(self, key_id: str) -> dict[str, str]:
        return public_jwk(self._key(key_id))

    def sign_jwt(
        self, key_id: str, payload: Mapping[str, object], *, typ: str, include_jwk: bool = False
    ) -> str:
        key = self._key(key_id)
        headers = {"jwk": public_jwk(key)} if include_jwk else None
        return sign_jws(payload, key, typ=typ, extra_headers=headers)

    def delete_key(self, key_id: str) -> None:
        self._before_use()
        if self._keys.pop(key_id, None) is not None:
            self._after_change()


class SoftwareKeyStore(SoftwareKeys):
    """A :class:`DeviceKeyStore` in process memory, optionally persisted to a file.

    With ``path`` the keys are saved as PKCS#8 PEM in one JSON file (mode 0600), encrypted with
    ``passphrase`` when given. This is a development/test stand-in for a hardware key store.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, passphrase: bytes | None = None
    ) -> None:
        self._path = Path(path) if path is not None else None
        self._passphrase = passphrase
        self._keys: dict[str, SigningKey] = {}
        if self._path is not None and self._path.exists():
            self._load()

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def _load(self) -> None:
        assert self._path is not None
        data = json.loads(self._path.read_text("utf-8"))
        for key_id, pem in data.items():
            key = serialization.load_pem_private_key(pem.encode("ascii"), password=self._passphrase)
            if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
                raise WalletError("key store holds an unsupported key type")
            self._keys[key_id] = key

    def _after_change(self) -> None:
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        data = {
            kid: key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc
            ).decode()
            for kid, key in self._keys.items()
        }
        tmp = self._path.with_suffix(self._path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        tmp.replace(self._path)

    def import_key(self, key: SigningKey) -> str:
        """Add an existing private key (deterministic tests and spec examples only)."""
        key_id = jwk_thumbprint(public_jwk(key))
        self._keys[key_id] = key
        self._save()
        return key_id
