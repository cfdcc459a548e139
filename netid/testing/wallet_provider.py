"""A TEST wallet provider that attests software device keys: the one mocked boundary of key attestation.

**TEST ONLY.** On a phone, device keys are made in the secure element (StrongBox, Secure Enclave), which
signs a platform attestation of them; the wallet provider's backend checks that attestation against the
platform vendor's roots and only then signs an OpenID4VCI key attestation (Appendix D) the credential
issuer trusts. Neither the secure element nor that backend can exist in a test process, so
:class:`TestWalletProvider` stands in for both: it signs, with a key generated when it is made (never one
committed to the repository), whatever keys an :class:`AttestedSoftwareKeyStore` hands it, claiming the
``key_storage`` and ``user_authentication`` values it was told to claim. Everything on either side of it —
the wallet choosing the ``attestation`` proof type, the issuer checking the attestation — is the real code.

Give the issuer its public key set (:meth:`TestWalletProvider.jwks`, or :meth:`~TestWalletProvider.write_jwks`
for the ``key_attesters_path`` setting) and enroll with :meth:`TestWalletProvider.keystore`::

    >>> from netid.testing.wallet_provider import TestWalletProvider
    >>> provider = TestWalletProvider()
    >>> store = provider.keystore()
    >>> key_id = store.create_key()
    >>> attestation = store.attest_keys([key_id], nonce="c-nonce", now=1_750_000_000)
    >>> [key["kid"] for key in provider.jwks()["keys"]]
    ['netid-test-wallet-provider']
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from netid.credentials.jose import LocalSigner, SigningKey, generate_signing_key, sign_jws
from netid.errors import UsageError
from netid.oid4vci.key_attestation import (
    ISO_18045_HIGH,
    ISO_18045_MODERATE,
    KEY_ATTESTATION_TYP,
    build_key_attestation,
)
from netid.wallet.keystore import SoftwareKeyStore

__all__ = ["TEST_PROVIDER_KID", "AttestedSoftwareKeyStore", "TestWalletProvider"]

#: the ``kid`` of the TEST provider's attestation key unless another is given
TEST_PROVIDER_KID: Final = "netid-test-wallet-provider"
#: how long the TEST provider's attestations are valid (``exp - iat``)
_LIFETIME: Final = 300


class TestWalletProvider:
    """TEST ONLY: a wallet provider's backend reduced to a signing key, attesting any key it is shown.

    ``key_storage`` and ``user_authentication`` are what its attestations claim (by default what a
    phone's secure element with a PIN would: ``iso_18045_high`` and ``iso_18045_moderate``); ``key`` lets a
    test use a chosen key, ``issuer`` sets the attestations' ``iss``.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        *,
        kid: str = TEST_PROVIDER_KID,
        alg: str = "ES256",
        key: SigningKey | None = None,
        key_storage: Sequence[str] = (ISO_18045_HIGH,),
        user_authentication: Sequence[str] = (ISO_18045_MODERATE,),
        issuer: str | None = "https://wallet-provider.test.netid.invalid",
        lifetime: int = _LIFETIME,
    ) -> None:
        if lifetime < 1:
            raise UsageError("lifetime must be at least one second")
        self.kid = kid
        self.key_storage = tuple(key_storage)
        self.user_authentication = tuple(user_authentication)
        self.issuer = issuer
        self.lifetime = lifetime
        self._signer = LocalSigner(key if key is not None else generate_signing_key(alg))

    def __repr__(self) -> str:
        return f"<TestWalletProvider {self.kid!r} (TEST ONLY)>"

    def jwks(self) -> dict[str, Any]:
        """The public key set an issuer trusts this provider with (its ``key_attesters_path`` file)."""
        jwk: dict[str, Any] = {**self._signer.public_jwk(), "kid": self.kid, "alg": self._signer.alg}
        return {"keys": [jwk]}

    def write_jwks(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`jwks` to ``path`` (JSON) and return it."""
        target = Path(path)
        target.write_text(json.dumps(self.jwks(), indent=2), encoding="utf-8")
        return target

    def attest(self, public_jwks: Sequence[Mapping[str, Any]], *, nonce: str | None, now: int) -> str:
        """A key attestation of ``public_jwks`` (in order) for ``nonce``, issued at ``now``. A real
        provider checks the platform's attestation of the keys first; this one cannot, and does not."""
        return build_key_attestation(
            self._signer, public_jwks, kid=self.kid, iat=now, exp=now + self.lifetime, nonce=nonce,
            key_storage=self.key_storage, user_authentication=self.user_authentication, issuer=self.issuer,
        )  # fmt: skip

    def sign_claims(self, claims: Mapping[str, Any]) -> str:
        """Sign any ``claims`` as a key attestation of this provider: what a misbehaving or compromised
        provider could send (negative tests of an issuer's checks)."""
        return sign_jws(claims, self._signer, typ=KEY_ATTESTATION_TYP, kid=self.kid)

    def keystore(
        self, path: str | os.PathLike[str] | None = None, *, passphrase: bytes | None = None
    ) -> AttestedSoftwareKeyStore:
        """A software key store whose keys this provider attests."""
        return AttestedSoftwareKeyStore(self, path, passphrase=passphrase)


class AttestedSoftwareKeyStore(SoftwareKeyStore):
    """TEST ONLY: a :class:`~netid.wallet.keystore.SoftwareKeyStore` with the
    :class:`~netid.wallet.keystore.AttestingKeyStore` capability, through a :class:`TestWalletProvider`.
    Its keys are still software keys (``hardware_backed`` stays false); only the provider says otherwise."""

    def __init__(
        self,
        provider: TestWalletProvider,
        path: str | os.PathLike[str] | None = None,
        *,
        passphrase: bytes | None = None,
    ) -> None:
        super().__init__(path, passphrase=passphrase)
        self._provider = provider

    def attest_keys(self, key_ids: Sequence[str], *, nonce: str | None, now: int) -> str:
        return self._provider.attest([self.public_jwk(key_id) for key_id in key_ids], nonce=nonce, now=now)
