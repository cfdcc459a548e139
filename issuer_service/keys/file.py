"""The default key store: one JSON file, each key encrypted under a key derived from a passphrase.

Format (``netid-issuer-keystore/1``)::

    {"format": …, "kdf": {"name": "scrypt", "salt": b64, "n": 32768, "r": 8, "p": 1},
     "entries": {"<kid or secret name>": {"kind": "signing" | "enrollment" | "secret",
                                           "alg": …, "nonce": b64, "ct": b64}}}

Every entry is AES-256-GCM under the scrypt-derived key with the entry's name and kind as associated
data, so entries cannot be swapped or relabelled. Writes are atomic (temporary file, fsync, rename) and
serialised across processes with an exclusive lock on a sidecar ``.lock`` file: several issuer processes
may share one key file, and the first to need a key creates it while the others wait and then read it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from issuer_service.keys.store import RELOAD_SECONDS, KeyStoreError, SecretName, SigningAlg
from netid.credentials.jose import JwsSigner, LocalSigner, SigningKey, generate_signing_key, public_jwk

__all__ = ["FileKeyStore"]

FORMAT: Final = "netid-issuer-keystore/1"
_SCRYPT_N: Final = 2**15


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class FileKeyStore:
    """A :class:`~issuer_service.keys.store.KeyStore` in an encrypted JSON file (see the module docs)."""

    backend = "file"

    def __init__(self, path: Path, passphrase: str) -> None:
        if not passphrase:
            raise KeyStoreError("the key file needs a passphrase (NETID_ISSUER_KEYSTORE_PASSPHRASE)")
        self._path = Path(path)
        self._passphrase = passphrase.encode()
        self._lock = threading.Lock()
        self._aead: AESGCM | None = None
        self._entries: dict[str, dict[str, str]] = {}
        self._signers: dict[str, JwsSigner] = {}
        self._enrollment_keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._loaded_at = 0.0
        self._load_or_create()

    def __repr__(self) -> str:
        return f"<FileKeyStore {self._path} ({len(self._entries)} entries)>"

    # --- file handling ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self._path.with_name(self._path.name + ".lock")
        with self._lock, open(lock_path, "a+b") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _derive(self, kdf: dict[str, Any]) -> AESGCM:
        if kdf.get("name") != "scrypt":
            raise KeyStoreError("unsupported key-file KDF")
        key = Scrypt(salt=_b64d(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
            self._passphrase
        )
        return AESGCM(key)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"cannot read the key file {self._path}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise KeyStoreError(f"{self._path} is not a NetID issuer key file")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _load_or_create(self) -> None:
        with self._exclusive():
            if self._path.exists():
                data = self._read()
            else:
                kdf = {
                    "name": "scrypt",
                    "salt": _b64e(secrets.token_bytes(16)),
                    "n": _SCRYPT_N,
                    "r": 8,
                    "p": 1,
                }
                data = {"format": FORMAT, "kdf": kdf, "entries": {}}
                self._write(data)
            self._aead = self._derive(data["kdf"])
            self._entries = dict(data["entries"])
            self._loaded_at = time.monotonic()
            self._verify_passphrase()

    def _verify_passphrase(self) -> None:
        for name, entry in self._entries.items():
            self._decrypt(name, entry)  # a wrong passphrase fails here, at start-up, not at first use
            break

    def _reload(self) -> dict[str, Any]:
        data = self._read()
        self._entries = dict(data["entries"])
        self._loaded_at = time.monotonic()
        return data

    def _decrypt(self, name: str, entry: dict[str, str]) -> bytes:
        assert self._aead is not None
        try:
            return self._aead.decrypt(
                _b64d(entry["nonce"]), _b64d(entry["ct"]), f"{name}\0{entry['kind']}".encode()
            )
        except (InvalidTag, KeyError, ValueError) as exc:
            raise KeyStoreError("the key file does not open with this passphrase (or was altered)") from exc

    def _add(self, name: str, kind: str, alg: str, material: bytes) -> None:
        """Store a new entry; refuses to overwrite (a key, once published, never changes)."""
        assert self._aead is not None
        with self._exclusive():
            data = self._reload()
            if name in data["entries"]:
                raise KeyStoreError(f"the key file already holds {name!r}")
            nonce = secrets.token_bytes(12)
            ct = self._aead.encrypt(nonce, material, f"{name}\0{kind}".encode())
            data["entries"][name] = {"kind": kind, "alg": alg, "nonce": _b64e(nonce), "ct": _b64e(ct)}
            self._write(data)
            self._entries = dict(data["entries"])

    def _entry(self, name: str, kind: str) -> dict[str, str]:
        entry = self._entries.get(name)
        if entry is None:
            with self._exclusive():
                self._reload()  # another process may have created it since we loaded
            entry = self._entries.get(name)
        if entry is None or entry.get("kind") != kind:
            raise KeyStoreError(f"the key store has no {kind} key {name!r}")
        return entry

    # --- KeyStore ------------------------------------------------------------------------------------

    def create_signing_key(self, kid: str, alg: SigningAlg) -> dict[str, str]:
        key = generate_signing_key(alg)
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        self._add(kid, "signing", alg, der)
        return public_jwk(key)

    def signer(self, kid: str) -> JwsSigner:
        cached = self._signers.get(kid)
        if cached is None:
            material = self._decrypt(kid, self._entry(kid, "signing"))
            key = serialization.load_der_private_key(material, password=None)
            if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
                raise KeyStoreError(f"key {kid!r} is not a signing key")
            signing_key: SigningKey = key
            cached = self._signers[kid] = LocalSigner(signing_key)
        return cached

    def create_enrollment_key(self, kid: str) -> dict[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        self._add(kid, "enrollment", "ECDH-ES", der)
        return public_jwk(key)

    def enrollment_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        cached = self._enrollment_keys.get(kid)
        if cached is None:
            material = self._decrypt(kid, self._entry(kid, "enrollment"))
            key = serialization.load_der_private_key(material, password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise KeyStoreError(f"key {kid!r} is not an enrollment key")
            cached = self._enrollment_keys[kid] = key  # held as long as this store, like the signers
        return cached

    def _versions(self, name: SecretName) -> list[str]:
        """The entry names of ``name``'s versions, newest first: ``secret:NAME#N`` … ``secret:NAME``."""
        base = f"secret:{name}"
        found = [(1, base)] if base in self._entries else []
        for entry in self._entries:
            number = entry.removeprefix(base + "#")
            if number != entry and number.isdigit():
                found.append((int(number), entry))
        return [entry for _, entry in sorted(found, reverse=True)]

    def secret(self, name: SecretName) -> bytes:
        if time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            with self._exclusive():
                self._reload()  # a version another process made becomes current here too
        versions = self._versions(name)
        if not versions:
            with self._exclusive():
                self._reload()
            versions = self._versions(name)
        if not versions:
            with contextlib.suppress(KeyStoreError):  # lost a race with another process: read theirs
                self._add(f"secret:{name}", "secret", "raw", secrets.token_bytes(32))
            versions = self._versions(name)
        return self._decrypt(versions[0], self._entry(versions[0], "secret"))

    def secret_versions(self, name: SecretName) -> list[bytes]:
        self.secret(name)  # the first version exists
        with self._exclusive():
            self._reload()
        return [self._decrypt(entry, self._entry(entry, "secret")) for entry in self._versions(name)]

    def new_secret_version(self, name: SecretName) -> bytes:
        self.secret(name)
        for _ in range(8):  # another process making one at the same moment: take the next number
            with self._exclusive():
                self._reload()
            newest = self._versions(name)[0]
            number = int(newest.rsplit("#", 1)[1]) + 1 if "#" in newest else 2
            try:
                self._add(f"secret:{name}#{number}", "secret", "raw", secrets.token_bytes(32))
            except KeyStoreError:
                continue
            return self.secret(name)
        raise KeyStoreError(f"could not add a version of {name!r}")  # pragma: no cover

    def check(self) -> None:
        if not self._path.exists():
            raise KeyStoreError("the key file is gone")
