"""Signing keys in a PKCS#11 hardware security module (tested against SoftHSM2).

Being built: see the issuer-service issue. Until then opening a PKCS#11 key store fails clearly.
"""

from __future__ import annotations

from issuer_service.core.config import Settings
from issuer_service.keys.file import FileKeyStore
from issuer_service.keys.store import KeyStoreError

__all__ = ["Pkcs11KeyStore"]


class Pkcs11KeyStore(FileKeyStore):
    backend = "pkcs11"

    def __init__(self, settings: Settings, file_store: FileKeyStore) -> None:
        raise KeyStoreError("the PKCS#11 key store is not available in this build")
