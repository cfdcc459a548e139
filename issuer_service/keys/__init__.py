"""Key stores: an encrypted key file (default) and PKCS#11 hardware security modules."""

from __future__ import annotations

from pathlib import Path

from issuer_service.core.config import Settings
from issuer_service.keys.file import FileKeyStore
from issuer_service.keys.store import KeyStore, KeyStoreError

__all__ = ["FileKeyStore", "KeyStore", "KeyStoreError", "open_keystore"]


def open_keystore(settings: Settings) -> KeyStore:
    """The key store ``settings`` describe. The file store always holds the enrollment key and the
    symmetric secrets; with ``keystore = "pkcs11"`` the signing keys live in the HSM."""
    if settings.keystore_passphrase is None:
        raise KeyStoreError("set NETID_ISSUER_KEYSTORE_PASSPHRASE: the key file is encrypted with it")
    file_store = FileKeyStore(Path(settings.keystore_path), settings.keystore_passphrase.get_secret_value())
    if settings.keystore == "file":
        return file_store
    from issuer_service.keys.pkcs11 import Pkcs11KeyStore  # noqa: PLC0415 - optional dependency

    return Pkcs11KeyStore(settings, file_store)
