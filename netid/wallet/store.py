"""The wallet's local store: device keys, netcerts, enrollments and the holder's log in one file,
encrypted under the user's PIN.

**This is a SOFTWARE store.** On a phone, the device keys would live in the secure element (StrongBox,
Secure Enclave) and the PIN would be checked *inside* it: the hardware counts wrong tries, locks itself,
and never lets the keys out. A file cannot do that. What this store does instead, and what it cannot do:

- Everything is encrypted with AES-256-GCM under a random data key; that key is wrapped under a key derived
  from the PIN with **Argon2id** (argon2-cffi), whose parameters (memory and time cost, parallelism, salt)
  are recorded in the file header and checked against :data:`MINIMUM_KDF` when the file is read.
- Like a card's PIN there is a **retry counter**: after ``max_tries`` (default 5) wrong PINs the store is
  locked and only the **recovery code** (a PUK, shown once at creation) unlocks it and sets a new PIN. The
  counter lives in the header, outside the ciphertext, and is written to disk (atomically) **before** the
  PIN is checked: killing the process right after a wrong guess cannot give the try back.
- **What a software store cannot do**: an attacker who copies the file can reset the counter in their copy
  and guess PINs offline, each guess costing one Argon2id derivation (see ``bench/wallet.py`` for its
  time) — a 6-digit PIN falls in days on one machine. That offline attack is exactly what a secure element
  prevents. The keys are also in this process's memory while the store is open. Use this store for tests,
  development and desktop tools; a phone wallet plugs its platform key store in (below).
- The device keys are still single-use per credential and never leave the store through its interface;
  KB-JWTs it signs say ``amr: ["swk", …]`` (software key), never ``hwk``.
- The card's **portrait** is in the store only while the holder has face verification enabled
  (:mod:`netid.wallet.face`), encrypted with everything else; opting out deletes it from the file.

The recovery code wraps the data key too, through an X25519 key derived from it with Argon2id: only its
*public* half is kept, so a PIN change can re-encrypt everything under a fresh data key without asking for
the recovery code, and the recovery code still opens the result.

**Writes are atomic**: a new version is written to a temporary file in the same folder, flushed with
``fsync``, renamed over the old one, and the folder is ``fsync``-ed. A crash at any point leaves either the
previous store or the new one, never a mixture. One process at a time holds a store open (an advisory
lock file next to it), so two commands cannot both spend the same single-use credential.

**A platform key store** (Android Keystore/StrongBox, iOS Secure Enclave, a PKCS#11 token) plugs in as a
:class:`~netid.wallet.keystore.DeviceKeyStore`: ``create_key`` makes a non-exportable P-256 key and returns
its JWK thumbprint, ``sign_jwt`` signs after the platform's user-presence check (the platform's PIN or
biometric then replaces this file's PIN for the keys), ``delete_key`` destroys it, ``hardware_backed`` is
``True`` (so the KB-JWT says ``hwk``). :class:`netid.wallet.present.Wallet` and
:mod:`netid.wallet.enroll` take any ``DeviceKeyStore``; only the credentials, enrollments and log would
then stay in a file like this one (with the data key kept by the platform instead of derived from a PIN).

>>> default_wallet_path(env={"XDG_DATA_HOME": "/data"}, platform="linux").as_posix()
'/data/netid/wallet.json'
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from argon2.low_level import ARGON2_VERSION, Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.credentials.jose import SigningKey
from netid.credentials.netno import ALPHABET
from netid.errors import (
    NetIDError,
    ParseError,
    UsageError,
    WalletError,
    WalletFileError,
    WalletInUseError,
    WalletLockedError,
    WalletNotFoundError,
    WrongPinError,
)
from netid.wallet.face import FaceRecord
from netid.wallet.keystore import SoftwareKeys
from netid.wallet.log import LogEntry
from netid.wallet.present import WalletCredential

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl

__all__ = [
    "DEFAULT_KDF",
    "MAX_ANSWERED",
    "MAX_LOG_ENTRIES",
    "MINIMUM_KDF",
    "CredentialRecord",
    "IssuerRecord",
    "KdfParams",
    "StoreInfo",
    "WalletFileError",
    "WalletInUseError",
    "WalletLockedError",
    "WalletNotFoundError",
    "WalletStore",
    "WrongPinError",
    "default_wallet_path",
    "wipe_wallet",
]

FORMAT: Final = "netid-wallet"
VERSION: Final = 1
_KEY_BYTES: Final = 32
_SALT_BYTES: Final = 16
_NONCE_BYTES: Final = 12
_PIN_MIN: Final = 6
_PIN_MAX: Final = 128
_RECOVERY_SYMBOLS: Final = 20  # 20 symbols of 31: 99 bits
# look-alikes read as the symbol they are mistaken for, as in a network number
_RECOVERY_FOLD: Final[dict[str, str]] = {c: c for c in ALPHABET} | {
    "O": "0",
    "I": "1",
    "L": "1",
    "Z": "2",
    "S": "5",
}
_BYTE_LIMIT: Final = 256 - 256 % len(ALPHABET)
_HKDF_INFO: Final = b"netid-wallet/1 recovery wrap"
#: the holder's log keeps this many entries (years of use; a flood of refused requests cannot grow the file)
MAX_LOG_ENTRIES: Final = 10_000
#: requests remembered as answered (until they expire): more than any person answers within an hour
MAX_ANSWERED: Final = 1_000


# --- errors ---------------------------------------------------------------------------------------------


# --- the key derivation ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id parameters (RFC 9106): ``memory_kib`` KiB, ``time_cost`` passes, ``parallelism`` lanes."""

    memory_kib: int
    time_cost: int
    parallelism: int

    def check(self) -> None:
        """Refuse parameters below :data:`MINIMUM_KDF` (or absurdly high: a damaged or hostile header)."""
        values = (self.memory_kib, self.time_cost, self.parallelism)
        if not all(type(v) is int for v in values):
            raise WalletFileError("the wallet's key-derivation parameters are malformed")
        if (
            self.memory_kib < MINIMUM_KDF.memory_kib
            or self.time_cost < MINIMUM_KDF.time_cost
            or self.parallelism < MINIMUM_KDF.parallelism
        ):
            raise WalletFileError(
                f"the wallet's Argon2id parameters are below the minimum (memory {MINIMUM_KDF.memory_kib} "
                f"KiB, time cost {MINIMUM_KDF.time_cost})"
            )
        if self.memory_kib > 4 * 1024 * 1024 or self.time_cost > 64 or self.parallelism > 64:
            raise WalletFileError("the wallet's Argon2id parameters are out of range")

    def to_json(self) -> dict[str, Any]:
        return {"alg": "argon2id", "version": ARGON2_VERSION, "memory_kib": self.memory_kib,
                "time_cost": self.time_cost, "parallelism": self.parallelism}  # fmt: skip

    @classmethod
    def from_json(cls, data: object) -> KdfParams:
        if not isinstance(data, Mapping) or data.get("alg") != "argon2id":
            raise WalletFileError("the wallet's key derivation is not Argon2id")
        if data.get("version") != ARGON2_VERSION:
            raise WalletFileError("the wallet's Argon2 version is not supported")
        params = cls(data.get("memory_kib"), data.get("time_cost"), data.get("parallelism"))  # type: ignore[arg-type]
        params.check()
        return params


#: OWASP's minimum for Argon2id (19 MiB, 2 passes, 1 lane): no store is read or written below it
MINIMUM_KDF: Final = KdfParams(memory_kib=19 * 1024, time_cost=2, parallelism=1)
#: RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes): what new stores use
DEFAULT_KDF: Final = KdfParams(memory_kib=64 * 1024, time_cost=3, parallelism=4)


def _derive(secret: bytes, salt: bytes, kdf: KdfParams) -> bytes:
    """Argon2id(secret, salt) → 32 bytes. (Module-level so the crash tests can stop a process here.)"""
    return hash_secret_raw(
        secret, salt, time_cost=kdf.time_cost, memory_cost=kdf.memory_kib, parallelism=kdf.parallelism,
        hash_len=_KEY_BYTES, type=Type.ID, version=ARGON2_VERSION,
    )  # fmt: skip


def _pin_bytes(pin: str, what: str = "PIN") -> bytes:
    if not isinstance(pin, str):
        raise UsageError(f"the {what} is a string")
    text = unicodedata.normalize("NFKC", pin)  # full-width digits from a CJK input method are digits
    if not _PIN_MIN <= len(text) <= _PIN_MAX:
        raise UsageError(f"the {what} must be {_PIN_MIN} to {_PIN_MAX} characters long")
    return text.encode("utf-8")


def _recovery_bytes(code: str) -> bytes:
    if not isinstance(code, str):
        raise UsageError("the recovery code is a string")
    symbols = [_RECOVERY_FOLD.get(c.upper()) for c in unicodedata.normalize("NFKC", code) if c not in " -\t"]
    if len(symbols) != _RECOVERY_SYMBOLS or None in symbols:
        raise UsageError(f"a recovery code has {_RECOVERY_SYMBOLS} letters and digits, e.g. XXXXX-XXXXX-…")
    return "".join(s for s in symbols if s).encode("ascii")


def _new_recovery_code(rng: Callable[[int], bytes]) -> str:
    symbols: list[str] = []
    while len(symbols) < _RECOVERY_SYMBOLS:
        symbols += [ALPHABET[b % len(ALPHABET)] for b in rng(32) if b < _BYTE_LIMIT]
    text = "".join(symbols[:_RECOVERY_SYMBOLS])
    return "-".join(text[i : i + 5] for i in range(0, _RECOVERY_SYMBOLS, 5))


def _seal(key: bytes, plaintext: bytes, aad: bytes, rng: Callable[[int], bytes]) -> bytes:
    nonce = rng(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        return None


def _recovery_kek(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(hashes.SHA256(), _KEY_BYTES, salt=ephemeral + recipient, info=_HKDF_INFO).derive(shared)


# --- the file header ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Header:
    """Everything in the file but the payload's ciphertext. The try counters are not authenticated (they
    change without the key); everything else is bound to the payload as associated data."""

    pin_kdf: KdfParams
    pin_salt: bytes
    pin_wrap: bytes
    tries_left: int
    max_tries: int
    rec_kdf: KdfParams
    rec_salt: bytes
    rec_public: bytes
    rec_ephemeral: bytes
    rec_wrap: bytes
    rec_tries_left: int
    rec_max_tries: int

    def pin_aad(self) -> bytes:
        return b"netid-wallet/1 pin|" + _canonical({"kdf": self.pin_kdf.to_json(), "salt": _b(self.pin_salt)})

    def rec_aad(self) -> bytes:
        return b"netid-wallet/1 recovery|" + self.rec_public + self.rec_ephemeral

    def payload_aad(self) -> bytes:
        bound = self.to_json()
        for part in ("pin", "recovery"):  # the counters change without the key: not authenticated
            bound[part] = {k: v for k, v in bound[part].items() if k not in ("tries_left", "max_tries")}
        return b"netid-wallet/1 payload|" + _canonical(bound)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "store": "software",  # not a secure element: see the module docstring
            "pin": {
                "kdf": self.pin_kdf.to_json(),
                "salt": _b(self.pin_salt),
                "wrapped_key": _b(self.pin_wrap),
                "tries_left": self.tries_left,
                "max_tries": self.max_tries,
            },
            "recovery": {
                "kdf": self.rec_kdf.to_json(),
                "salt": _b(self.rec_salt),
                "public_key": _b(self.rec_public),
                "ephemeral_key": _b(self.rec_ephemeral),
                "wrapped_key": _b(self.rec_wrap),
                "tries_left": self.rec_tries_left,
                "max_tries": self.rec_max_tries,
            },
        }

    @classmethod
    def from_json(cls, doc: object) -> _Header:
        if not isinstance(doc, Mapping) or doc.get("format") != FORMAT:
            raise WalletFileError("the file is not a NetID wallet store")
        if doc.get("version") != VERSION:
            raise WalletFileError(f"the wallet store's version {doc.get('version')!r} is not supported")
        if not isinstance(doc.get("payload"), Mapping):
            raise WalletFileError("the wallet store has no contents")
        try:
            pin, rec = doc["pin"], doc["recovery"]
            header = cls(
                KdfParams.from_json(pin["kdf"]), _unb(pin["salt"]), _unb(pin["wrapped_key"]),
                _count(pin["tries_left"]), _count(pin["max_tries"]),
                KdfParams.from_json(rec["kdf"]), _unb(rec["salt"]), _unb(rec["public_key"]),
                _unb(rec["ephemeral_key"]), _unb(rec["wrapped_key"]), _count(rec["tries_left"]),
                _count(rec["max_tries"]),
            )  # fmt: skip
        except (KeyError, TypeError, ParseError) as exc:
            raise WalletFileError("the wallet store's header is damaged") from exc
        if len(header.pin_salt) < _SALT_BYTES or len(header.rec_salt) < _SALT_BYTES:
            raise WalletFileError("the wallet store's salts are too short")
        if header.tries_left > header.max_tries or header.rec_tries_left > header.rec_max_tries:
            raise WalletFileError("the wallet store's try counters are damaged")
        return header


def _b(data: bytes) -> str:
    return b64url_encode(data)


def _unb(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("not base64url text")
    return b64url_decode(text, "wallet store")


def _count(value: object) -> int:
    if type(value) is not int or not 0 <= value <= 1000:
        raise TypeError("not a try count")
    return value


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# --- atomic files ---------------------------------------------------------------------------------------
# Each step is a module-level function so the crash tests can end a child process between any two.


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _replace(source: Path, target: Path) -> None:
    os.replace(source, target)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover - Windows cannot open a folder; its rename is durable
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: temporary file, fsync, rename, fsync the folder."""
    temp = path.with_name(_temp_prefix(path) + secrets.token_hex(6))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        try:
            _write_all(fd, data)
            _fsync(fd)
        finally:
            os.close(fd)
        _replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


class _FileLock:
    """An exclusive advisory lock on ``<store>.lock`` for as long as a store is open."""

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if sys.platform == "win32":  # pragma: no cover
                msvcrt.locking(self._fd, msvcrt.LK_NBLCK, 1)
            else:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._fd)
            self._fd = None
            raise WalletInUseError(
                "another program has this wallet open; try again when it is done"
            ) from None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def _read_document(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WalletNotFoundError(f"there is no wallet at {path}") from None
    except OSError as exc:
        raise WalletFileError(f"cannot read the wallet at {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise WalletFileError(f"{path} is not a NetID wallet store (damaged?)") from None
    if not isinstance(doc, dict):
        raise WalletFileError(f"{path} is not a NetID wallet store")
    return doc


# --- what the store holds ---------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class CredentialRecord:
    """One netcert the wallet received, and what became of it.

    ``credential`` is the usable :class:`~netid.wallet.present.WalletCredential` while the netcert is unused
    and not revoked. Once it is used or revoked, its key is deleted and only this bookkeeping is kept (kind,
    sector, expiry, dates): the SD-JWT with its personal claims is not written to disk again.
    """

    kind: Literal["anonymous", "rp"]
    sector: str | None
    issuer: str
    exp: int
    added_at: int
    credential: WalletCredential | None = field(default=None, repr=False)
    rp_id: str | None = None
    used_at: int | None = None
    revoked_at: int | None = None

    @property
    def used(self) -> bool:
        return self.used_at is not None or (self.credential is not None and self.credential.used)

    @property
    def usable(self) -> bool:
        """Held, unused and not revoked (it may still have expired: compare :attr:`exp` with the clock)."""
        return self.credential is not None and not self.used and self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind, "sector": self.sector, "issuer": self.issuer, "exp": self.exp,
            "added_at": self.added_at, "rp_id": self.rp_id, "used_at": self.used_at,
            "revoked_at": self.revoked_at,
        }  # fmt: skip
        if self.usable and self.credential is not None:
            data["sd_jwt"] = self.credential.serialized
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CredentialRecord:
        sd_jwt = data.get("sd_jwt")
        credential = WalletCredential.from_issued(sd_jwt) if isinstance(sd_jwt, str) else None
        return cls(
            kind=data["kind"], sector=data.get("sector"), issuer=data["issuer"], exp=int(data["exp"]),
            added_at=int(data["added_at"]), credential=credential, rp_id=data.get("rp_id"),
            used_at=data.get("used_at"), revoked_at=data.get("revoked_at"),
        )  # fmt: skip


@dataclass(slots=True, eq=False)
class IssuerRecord:
    """An issuer this wallet enrolled with. ``refresh_token`` is a bearer secret (single use, rotated) and
    ``device_key_id`` names the key that can revoke this device there; ``jwks`` is the issuer's key set as
    last fetched (the wallet checks RP certificates against it offline)."""

    issuer_url: str
    netno: str
    device_key_id: str
    refresh_token: str | None = field(repr=False)
    jwks: Mapping[str, Any] = field(repr=False)
    enrolled_at: int
    refreshed_at: int | None = None
    revoked_at: int | None = None
    rp_ids: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "issuer_url": self.issuer_url, "netno": self.netno, "device_key_id": self.device_key_id,
            "refresh_token": self.refresh_token, "jwks": dict(self.jwks), "enrolled_at": self.enrolled_at,
            "refreshed_at": self.refreshed_at, "revoked_at": self.revoked_at, "rp_ids": list(self.rp_ids),
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssuerRecord:
        return cls(
            issuer_url=data["issuer_url"], netno=data["netno"], device_key_id=data["device_key_id"],
            refresh_token=data.get("refresh_token"), jwks=data["jwks"], enrolled_at=int(data["enrolled_at"]),
            refreshed_at=data.get("refreshed_at"), revoked_at=data.get("revoked_at"),
            rp_ids=list(data.get("rp_ids") or []),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What the header says, readable without the PIN."""

    path: Path
    tries_left: int
    max_tries: int
    recovery_tries_left: int
    kdf: KdfParams

    @property
    def locked(self) -> bool:
        return self.tries_left == 0


def _system_clock() -> int:
    return int(time.time())


def _key_to_text(key: SigningKey) -> str:
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return b64url_encode(der)


def _key_from_text(text: str) -> SigningKey:
    key = serialization.load_der_private_key(b64url_decode(text, "device key"), password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise WalletFileError("the wallet holds an unsupported key type")
    return key


# --- the store ------------------------------------------------------------------------------------------


class WalletStore(SoftwareKeys):
    """An open wallet store: a :class:`~netid.wallet.keystore.DeviceKeyStore` (SOFTWARE keys: see the module
    docstring) plus the netcerts, the issuers enrolled with, and the holder's log.

    Get one with :meth:`create`, :meth:`open` or :meth:`recover`; :meth:`close` it (or use ``with``) so
    another process can open it. Every change is written at once (atomically) unless made inside
    :meth:`deferred`, which writes once at the end.
    """

    #: the keys are in this file, not in a secure element: KB-JWTs say ``amr: ["swk", …]``
    hardware_backed: bool = False

    def __init__(
        self,
        path: Path,
        header: _Header,
        data_key: bytes,
        payload: Mapping[str, Any],
        lock: _FileLock,
        *,
        clock: Callable[[], int],
        rng: Callable[[int], bytes],
    ) -> None:
        self.path = path
        self._header = header
        self._data_key: bytes | None = data_key
        self._lock = lock
        self._clock = clock
        self._rng = rng
        self._deferred = 0
        self._dirty = False
        try:
            self._keys: dict[str, SigningKey] = {
                kid: _key_from_text(text) for kid, text in (payload.get("keys") or {}).items()
            }
            self.issuers: list[IssuerRecord] = [
                IssuerRecord.from_json(i) for i in payload.get("issuers") or []
            ]
            self.credentials: list[CredentialRecord] = [
                CredentialRecord.from_json(c) for c in payload.get("credentials") or []
            ]
            self.log: list[LogEntry] = [LogEntry.from_json(e) for e in payload.get("log") or []]
            self.created_at = int(payload.get("created_at", 0))
            face = payload.get("face")
            #: face verification, when the holder opted in: the card's portrait lives only here
            #: (:mod:`netid.wallet.face`)
            self.face: FaceRecord | None = FaceRecord.from_json(face) if face is not None else None
            #: requests this wallet answered (:func:`netid.wallet.http.answered_key`), until they expire:
            #: the same request is never answered twice (:mod:`netid.wallet.http`)
            self.answered: dict[str, int] = {
                str(k): int(v) for k, v in (payload.get("answered") or {}).items()
            }
        except (KeyError, TypeError, ValueError, NetIDError) as exc:
            lock.release()
            raise WalletFileError("the wallet store's contents are damaged") from exc

    def __repr__(self) -> str:
        state = (
            "closed"
            if self._data_key is None
            else f"{len(self._keys)} keys, {len(self.credentials)} credentials"
        )
        return f"WalletStore({str(self.path)!r}, {state})"

    def __enter__(self) -> WalletStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- lifecycle ----------------------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        pin: str,
        *,
        kdf: KdfParams = DEFAULT_KDF,
        max_tries: int = 5,
        recovery_tries: int = 10,
        clock: Callable[[], int] = _system_clock,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> tuple[WalletStore, str]:
        """A new, empty store at ``path`` and its recovery code — show that to the person **once**; it is
        stored nowhere. Refuses to overwrite an existing store."""
        kdf.check()
        if not 1 <= max_tries <= 20 or not 1 <= recovery_tries <= 20:
            raise UsageError("max_tries and recovery_tries are between 1 and 20")
        secret = _pin_bytes(pin)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = _FileLock(target)
        try:
            if target.exists():
                raise WalletError(f"a wallet already exists at {target}")
            code = _new_recovery_code(rng)
            data_key = rng(_KEY_BYTES)
            header = _Header(kdf, b"", b"", max_tries, max_tries, kdf, rng(_SALT_BYTES), b"", b"", b"",
                             recovery_tries, recovery_tries)  # fmt: skip
            private = x25519.X25519PrivateKey.from_private_bytes(
                _derive(_recovery_bytes(code), header.rec_salt, kdf)
            )
            header.rec_public = private.public_key().public_bytes_raw()
            store = cls(target, header, data_key, {"created_at": clock()}, lock, clock=clock, rng=rng)
            store._rekey(secret, data_key)
        except BaseException:
            lock.release()
            raise
        return store, code

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        pin: str,
        *,
        clock: Callable[[], int] = _system_clock,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> WalletStore:
        """Open the store with ``pin``. A wrong PIN costs one try (written before the PIN is checked):
        :class:`WrongPinError`, then :class:`WalletLockedError` once none is left."""
        secret = _pin_bytes(pin)
        target = Path(path)
        if not target.exists():  # before the lock: no lock file is left next to nothing
            raise WalletNotFoundError(f"there is no wallet at {target}")
        lock = _FileLock(target)
        try:
            _remove_temporaries(target)  # left by a writer that crashed: we hold the lock, so nobody writes
            doc = _read_document(target)
            header = _Header.from_json(doc)
            if header.tries_left == 0:
                raise WalletLockedError(header.rec_tries_left)
            header.tries_left -= 1
            _atomic_write(target, _dump(header, doc["payload"]))  # the try is spent before the PIN is checked
            data_key = _open(
                _derive(secret, header.pin_salt, header.pin_kdf), header.pin_wrap, header.pin_aad()
            )
            if data_key is None:
                if header.tries_left == 0:
                    raise WalletLockedError(header.rec_tries_left)
                raise WrongPinError(header.tries_left)
            payload = _decrypt_payload(header, data_key, doc)
            header.tries_left = header.max_tries
            _atomic_write(target, _dump(header, doc["payload"]))
            return cls(target, header, data_key, payload, lock, clock=clock, rng=rng)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def recover(
        cls,
        path: str | os.PathLike[str],
        recovery_code: str,
        new_pin: str,
        *,
        clock: Callable[[], int] = _system_clock,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> WalletStore:
        """Open a (locked or not) store with its recovery code and set ``new_pin``; resets both counters
        and re-encrypts everything under a fresh data key. Wrong codes are counted like PINs."""
        code = _recovery_bytes(recovery_code)
        secret = _pin_bytes(new_pin, "new PIN")
        target = Path(path)
        if not target.exists():  # before the lock: no lock file is left next to nothing
            raise WalletNotFoundError(f"there is no wallet at {target}")
        lock = _FileLock(target)
        try:
            _remove_temporaries(target)
            doc = _read_document(target)
            header = _Header.from_json(doc)
            if header.rec_tries_left == 0:
                raise WalletLockedError(0)
            header.rec_tries_left -= 1
            _atomic_write(target, _dump(header, doc["payload"]))
            private = x25519.X25519PrivateKey.from_private_bytes(
                _derive(code, header.rec_salt, header.rec_kdf)
            )
            data_key = None
            if private.public_key().public_bytes_raw() == header.rec_public:
                shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(header.rec_ephemeral))
                kek = _recovery_kek(shared, header.rec_ephemeral, header.rec_public)
                data_key = _open(kek, header.rec_wrap, header.rec_aad())
            if data_key is None:
                if header.rec_tries_left == 0:
                    raise WalletLockedError(0)
                raise WrongPinError(header.rec_tries_left, what="recovery code")
            payload = _decrypt_payload(header, data_key, doc)
            header.tries_left, header.rec_tries_left = header.max_tries, header.rec_max_tries
            store = cls(target, header, data_key, payload, lock, clock=clock, rng=rng)
            store._rekey(secret, rng(_KEY_BYTES))
        except BaseException:
            lock.release()
            raise
        return store

    @staticmethod
    def info(path: str | os.PathLike[str]) -> StoreInfo:
        """The header's counters and parameters (no PIN needed, nothing changed)."""
        target = Path(path)
        header = _Header.from_json(_read_document(target))
        return StoreInfo(target, header.tries_left, header.max_tries, header.rec_tries_left, header.pin_kdf)

    def change_pin(self, new_pin: str, *, kdf: KdfParams | None = None) -> None:
        """Set ``new_pin`` (the store is open, so the current PIN was given) and re-encrypt everything under
        a fresh data key; the recovery code keeps working. ``kdf`` may raise the Argon2id cost."""
        self._require_open()
        secret = _pin_bytes(new_pin, "new PIN")
        if kdf is not None:
            kdf.check()
            self._header.pin_kdf = kdf
        self._rekey(secret, self._rng(_KEY_BYTES))

    def close(self) -> None:
        """Write pending changes, forget the data key and release the lock (idempotent)."""
        if self._data_key is None:
            return
        try:
            if self._dirty:
                self.save()
        finally:
            self._data_key = None
            self._keys.clear()
            self.face = None  # the portrait leaves memory with the key
            self._lock.release()

    def wipe(self) -> list[Path]:
        """Destroy this store: close it, then remove the file, temporaries and the lock file."""
        self._data_key = None
        self._keys.clear()
        self.face = None
        removed = _destroy(self.path)
        self._lock.release()
        with contextlib.suppress(OSError):
            self._lock.path.unlink()
            removed.append(self._lock.path)
        return removed

    # --- writing --------------------------------------------------------------------------------------------

    def _require_open(self) -> bytes:
        if self._data_key is None:
            raise UsageError("the wallet store is closed")
        return self._data_key

    def _rekey(self, pin: bytes, data_key: bytes) -> None:
        """Wrap ``data_key`` under ``pin`` (fresh salt) and to the recovery key, then save under it."""
        header = self._header
        header.pin_salt = self._rng(_SALT_BYTES)
        header.pin_wrap = _seal(
            _derive(pin, header.pin_salt, header.pin_kdf), data_key, header.pin_aad(), self._rng
        )
        ephemeral = x25519.X25519PrivateKey.from_private_bytes(self._rng(_KEY_BYTES))
        header.rec_ephemeral = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(x25519.X25519PublicKey.from_public_bytes(header.rec_public))
        kek = _recovery_kek(shared, header.rec_ephemeral, header.rec_public)
        header.rec_wrap = _seal(kek, data_key, header.rec_aad(), self._rng)
        self._data_key = data_key
        self.save()

    def _payload(self) -> dict[str, Any]:
        now = self._clock()
        for record in self.credentials:  # marked used by a presentation since the last write
            if record.used and record.used_at is None:
                record.used_at = now
        payload: dict[str, Any] = {
            "created_at": self.created_at,
            "keys": {kid: _key_to_text(key) for kid, key in self._keys.items()},
            "issuers": [i.to_json() for i in self.issuers],
            "credentials": [c.to_json() for c in self.credentials],
            "log": [e.to_json() for e in self.log],
        }
        if self.face is not None:  # only when the holder opted in to face verification
            payload["face"] = self.face.to_json()
        if self.answered:
            payload["answered"] = dict(self.answered)
        return payload

    def save(self) -> None:
        """Write the store now (atomically), even inside :meth:`deferred`."""
        data_key = self._require_open()
        plaintext = json.dumps(self._payload(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        sealed = _seal(data_key, plaintext, self._header.payload_aad(), self._rng)
        _atomic_write(self.path, _dump(self._header, {"ciphertext": _b(sealed)}))
        self._dirty = False

    def changed(self) -> None:
        """Record a change: written now, or at the end of the outermost :meth:`deferred` block."""
        self._require_open()
        if self._deferred:
            self._dirty = True
        else:
            self.save()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[WalletStore]:
        """Make many changes with one write at the end (also when the block raises: what is in memory is
        what happened, e.g. keys created for credentials that did arrive)."""
        self._deferred += 1
        try:
            yield self
        finally:
            self._deferred -= 1
            if not self._deferred and self._dirty and self._data_key is not None:
                self.save()

    # --- the DeviceKeyStore protocol ------------------------------------------------------------------

    def _before_use(self) -> None:
        self._require_open()

    def _after_change(self) -> None:
        self.changed()

    def key_ids(self) -> frozenset[str]:
        """The ids of the keys held."""
        self._require_open()
        return frozenset(self._keys)

    # --- credentials, issuers, log ----------------------------------------------------------------------

    def add_credentials(
        self, serialized: Iterable[str], *, rp_id: str | None = None
    ) -> list[CredentialRecord]:
        """Store issued netcerts; each must be bound to a key this store holds."""
        self._require_open()
        now = self._clock()
        added = []
        for text in serialized:
            credential = WalletCredential.from_issued(text)
            if credential.key_id not in self._keys:
                raise UsageError("credential is bound to a key this wallet does not hold")
            added.append(
                CredentialRecord(
                    credential.kind,
                    credential.sector,
                    credential.issuer,
                    credential.exp,
                    now,
                    credential,
                    rp_id=rp_id,
                )
            )
        self.credentials += added
        self.changed()
        return added

    def issuer(self, issuer_url: str) -> IssuerRecord | None:
        """The record of ``issuer_url`` (the latest enrollment with it), if any."""
        found = [i for i in self.issuers if i.issuer_url == issuer_url.rstrip("/")]
        return found[-1] if found else None

    def remember_answered(self, key: str, until: int, *, now: int) -> None:
        """Remember that the request ``key`` (:func:`netid.wallet.http.answered_key`) was answered, until
        ``until`` (Unix seconds); forget what has expired (and the oldest, beyond :data:`MAX_ANSWERED`)."""
        self._require_open()
        self.answered = {k: t for k, t in self.answered.items() if t > now}
        self.answered[key] = until
        if len(self.answered) > MAX_ANSWERED:
            newest = sorted(self.answered.items(), key=lambda item: item[1])[-MAX_ANSWERED:]
            self.answered = dict(newest)
        self.changed()

    def append_log(self, entry: LogEntry) -> None:
        """Add ``entry`` to the holder's log (the oldest entries go beyond :data:`MAX_LOG_ENTRIES`)."""
        self._require_open()
        self.log.append(entry)
        del self.log[:-MAX_LOG_ENTRIES]
        self.changed()

    def prune(self, now: int) -> int:
        """Forget what can never be used again: expired credentials (with their keys) and keys that no
        usable credential or enrollment needs (left by an interrupted enrollment). Returns how many
        credentials were dropped."""
        self._require_open()
        before = len(self.credentials)
        self.credentials = [c for c in self.credentials if c.exp > now]
        needed = {c.credential.key_id for c in self.credentials if c.usable and c.credential is not None}
        needed |= {i.device_key_id for i in self.issuers if i.active}
        orphans = set(self._keys) - needed
        for key_id in orphans:
            del self._keys[key_id]
        if orphans or len(self.credentials) != before:
            self.changed()
        return before - len(self.credentials)


def _dump(header: _Header, payload: Mapping[str, Any]) -> bytes:
    return (json.dumps(header.to_json() | {"payload": dict(payload)}, indent=1) + "\n").encode("ascii")


def _decrypt_payload(header: _Header, data_key: bytes, doc: Mapping[str, Any]) -> dict[str, Any]:
    try:
        sealed = _unb(doc["payload"]["ciphertext"])
    except (KeyError, TypeError, ParseError) as exc:
        raise WalletFileError("the wallet store's contents are damaged") from exc
    plaintext = _open(data_key, sealed, header.payload_aad())
    if plaintext is None:
        raise WalletFileError("the wallet store's contents are damaged or were tampered with")
    payload = json.loads(plaintext)
    if not isinstance(payload, dict):
        raise WalletFileError("the wallet store's contents are damaged")
    return payload


def _remove_temporaries(path: Path) -> list[Path]:
    removed = []
    for temp in path.parent.glob(_temp_prefix(path) + "*"):
        with contextlib.suppress(OSError):
            temp.unlink()
            removed.append(temp)
    return removed


def _destroy(path: Path) -> list[Path]:
    """Overwrite the store with random bytes (best effort: flash storage and copy-on-write file systems may
    keep old blocks), then remove it and any temporaries."""
    removed = _remove_temporaries(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return removed
    with contextlib.suppress(OSError), open(path, "r+b") as fh:
        fh.write(secrets.token_bytes(size))
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
    removed.append(path)
    with contextlib.suppress(OSError):
        _fsync_dir(path.parent)
    return removed


def wipe_wallet(path: str | os.PathLike[str]) -> list[Path]:
    """Destroy the store at ``path`` without its PIN (a locked wallet can always be wiped; a person may
    delete their own file anyway): the store, its temporaries and its lock file. Returns what was removed.
    Refuses while another process has it open (:class:`WalletInUseError`)."""
    target = Path(path)
    if not target.exists() and not list(target.parent.glob(_temp_prefix(target) + "*")):
        return []
    lock = _FileLock(target)
    try:
        removed = _destroy(target)
    finally:
        lock.release()
    with contextlib.suppress(OSError):
        lock.path.unlink()
        removed.append(lock.path)
    return removed


def default_wallet_path(
    env: Mapping[str, str] | None = None, platform: str | None = None, home: Path | None = None
) -> Path:
    """Where a person's wallet lives by default: the platform's user data folder.

    Linux and other Unix: ``$XDG_DATA_HOME/netid/wallet.json`` (``~/.local/share`` when unset); macOS:
    ``~/Library/Application Support/netid/wallet.json``; Windows: ``%APPDATA%\\netid\\wallet.json``.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    if platform == "win32":
        base = Path(env["APPDATA"]) if env.get("APPDATA") else home / "AppData" / "Roaming"
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = env.get("XDG_DATA_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "netid" / "wallet.json"
