"""Signing keys in a PKCS#11 hardware security module (tested against SoftHSM2).

The netcert, RP-certificate and status-list keys are generated *on the token* — ``CKA_TOKEN``,
``CKA_PRIVATE``, ``CKA_SENSITIVE`` true and ``CKA_EXTRACTABLE`` false, so the private half never leaves it,
not even wrapped — and every signature is made by the token: ``CKM_EDDSA`` for Ed25519 (EdDSA), ``CKM_ECDSA``
over a SHA-256 digest for P-256 (ES256). Both give the raw 64-byte JWS signature (Ed25519 ``R||S``, ECDSA
``r||s``), so a :class:`Pkcs11Signer` is a :class:`~netid.credentials.jose.JwsSigner` like a local key.
Keys are found by ``CKA_LABEL`` (= the kid, also ``CKA_ID``); public JWKs come from ``CKA_EC_POINT``.

The enrollment key (ECDH, used for every enrollment) and the symmetric secrets (lookup, pairwise, codes,
key-encryption key) stay in the encrypted key file this store is given: a PKCS#11 token would serve them
only by handing them out, which gains nothing.

**One session, one thread at a time.** python-pkcs11 initialises the library with ``C_Initialize(NULL)``,
which tells it that the application will not call it from several threads at once — and SoftHSM2 then
takes no locks of its own (concurrent calls corrupted its heap in our tests). So every call into the
library is serialised by a lock per library path, and the store signs through one logged-in session. The
GIL is released inside the token's calls, so request threads still do their other work meanwhile.

Settings: ``pkcs11_module`` (the vendor's library, e.g. ``/usr/lib/softhsm/libsofthsm2.so``),
``pkcs11_token_label``, ``pkcs11_pin``. Install with the ``hsm`` extra (python-pkcs11).
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec

from issuer_service.core.config import Settings
from issuer_service.keys.file import FileKeyStore
from issuer_service.keys.store import KeyStoreError, SecretName, SigningAlg
from netid.credentials.jose import JwsSigner, b64url_encode

__all__ = ["ED25519_PARAMS", "P256_PARAMS", "Pkcs11KeyStore", "Pkcs11Signer"]

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11.exceptions import (
        MultipleObjectsReturned,
        NoSuchKey,
        NoSuchToken,
        PKCS11Error,
        UserAlreadyLoggedIn,
    )
except ImportError:  # pragma: no cover - the `hsm` extra is not installed
    pkcs11 = None  # type: ignore[assignment]

#: CKA_EC_PARAMS of the curves, DER: the named-curve OIDs 1.3.101.112 (Ed25519, RFC 8410) and
#: 1.2.840.10045.3.1.7 (P-256). Given raw: python-pkcs11's encode_named_curve_parameters cannot do Ed25519.
ED25519_PARAMS: Final = bytes.fromhex("06032b6570")
P256_PARAMS: Final = bytes.fromhex("06082a8648ce3d030107")
_P256_COORD: Final = 32
_SIG_LEN: Final = 64


def _der_octet_string(value: bytes) -> bytes:
    """The contents of a DER OCTET STRING (``CKA_EC_POINT`` is one; some tokens give the bare point)."""
    if len(value) >= 2 and value[0] == 0x04:
        length = value[1]
        if length < 0x80 and len(value) == 2 + length:
            return value[2:]
        if length == 0x81 and len(value) >= 3 and len(value) == 3 + value[2]:
            return value[3:]
    return value


def _public_jwk(alg: str, ec_point: bytes) -> dict[str, str]:
    point = _der_octet_string(ec_point)
    if alg == "EdDSA":
        if len(point) != 32:
            raise KeyStoreError("the token's Ed25519 public key is not 32 bytes")
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(point)}
    if len(point) != 1 + 2 * _P256_COORD or point[0] != 0x04:
        raise KeyStoreError("the token's P-256 public key is not an uncompressed point")
    # validate the point is on the curve before publishing it
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(point[1 : 1 + _P256_COORD]),
        "y": b64url_encode(point[1 + _P256_COORD :]),
    }


class _Session:
    """A session on the token and the private-key objects already looked up in it."""

    __slots__ = ("broken", "keys", "session")

    def __init__(self, session: Any) -> None:
        self.session = session
        self.keys: dict[str, Any] = {}
        #: set when an operation failed: the session is closed and replaced
        self.broken = False

    def private_key(self, kid: str) -> Any:
        key = self.keys.get(kid)
        if key is None:
            key = self.keys[kid] = self.session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=kid)
        return key


#: one lock per PKCS#11 library in this process (see the module docstring: calls are serialised)
_LIBRARY_LOCKS: dict[str, threading.RLock] = {}
_LIBRARY_LOCKS_GUARD = threading.Lock()


def _library_lock(module: str) -> threading.RLock:
    with _LIBRARY_LOCKS_GUARD:
        return _LIBRARY_LOCKS.setdefault(module, threading.RLock())


class _TokenSession:
    """The store's logged-in session on the token, entered by one thread at a time.

    A session whose operation failed is closed and replaced at the next use, logging in again if the
    process no longer is (after an HSM restart every old handle is invalid): the store recovers by itself.
    """

    def __init__(self, token: Any, pin: str, lock: threading.RLock) -> None:
        self._token = token
        self._pin = pin
        self._lock = lock
        with lock:
            self._current: _Session | None = self._open()

    def _open(self) -> _Session:
        try:
            return _Session(self._token.open(rw=True, user_pin=self._pin))
        except UserAlreadyLoggedIn:  # another store of this process is open on the token (tests)
            return _Session(self._token.open(rw=True))

    @contextlib.contextmanager
    def session(self) -> Iterator[_Session]:
        with self._lock:
            if self._current is None:
                self._current = self._open()
            lease = self._current
            try:
                yield lease
            finally:
                if lease.broken:
                    self._current = None
                    with contextlib.suppress(PKCS11Error):
                        lease.session.close()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                with contextlib.suppress(PKCS11Error):
                    self._current.session.close()
                self._current = None


class Pkcs11Signer:
    """A :class:`~netid.credentials.jose.JwsSigner` whose private key is an object on the token."""

    __slots__ = ("_jwk", "_kid", "_token_session", "alg")

    def __init__(self, token_session: _TokenSession, kid: str, alg: str, jwk: dict[str, str]) -> None:
        self._token_session = token_session
        self._kid = kid
        self.alg = alg
        self._jwk = jwk

    def __repr__(self) -> str:
        return f"<Pkcs11Signer {self.alg} {self._kid}>"

    def public_jwk(self) -> dict[str, str]:
        return dict(self._jwk)

    def sign(self, signing_input: bytes) -> bytes:
        with self._token_session.session() as lease:
            try:
                key = lease.private_key(self._kid)
                if self.alg == "EdDSA":
                    signature = bytes(key.sign(signing_input, mechanism=Mechanism.EDDSA))
                else:
                    digest = hashlib.sha256(signing_input).digest()
                    signature = bytes(key.sign(digest, mechanism=Mechanism.ECDSA))
            except PKCS11Error as exc:
                lease.broken = True
                raise KeyStoreError(
                    f"the HSM could not sign with {self._kid!r}: {type(exc).__name__}"
                ) from exc
        if len(signature) != _SIG_LEN:
            raise KeyStoreError(f"the HSM gave a {len(signature)}-byte {self.alg} signature")
        return signature


class Pkcs11KeyStore:
    """A :class:`~issuer_service.keys.store.KeyStore` with its signing keys in a PKCS#11 token and the
    rest in ``file_store`` (see the module docstring)."""

    backend = "pkcs11"

    def __init__(self, settings: Settings, file_store: FileKeyStore) -> None:
        if pkcs11 is None:
            raise KeyStoreError("keystore = pkcs11 needs python-pkcs11: pip install 'netid[hsm]'")
        if settings.pkcs11_module is None or settings.pkcs11_token_label is None:
            raise KeyStoreError("keystore = pkcs11 needs pkcs11_module and pkcs11_token_label")
        if settings.pkcs11_pin is None:
            raise KeyStoreError("keystore = pkcs11 needs pkcs11_pin (NETID_ISSUER_PKCS11_PIN)")
        self._file = file_store
        self._label = settings.pkcs11_token_label
        lock = _library_lock(str(settings.pkcs11_module))
        try:
            with lock:
                self._lib = pkcs11.lib(str(settings.pkcs11_module))
                token = self._lib.get_token(token_label=settings.pkcs11_token_label)
            self._token_session = _TokenSession(token, settings.pkcs11_pin.get_secret_value(), lock)
        except NoSuchToken as exc:
            raise KeyStoreError(f"no PKCS#11 token labelled {settings.pkcs11_token_label!r}") from exc
        except (PKCS11Error, RuntimeError, OSError) as exc:
            raise KeyStoreError(
                f"cannot open PKCS#11 token {settings.pkcs11_token_label!r} with "
                f"{settings.pkcs11_module}: {type(exc).__name__}"
            ) from exc
        self._signers: dict[str, Pkcs11Signer] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Pkcs11KeyStore token {self._label!r}, other keys in {self._file!r}>"

    def close(self) -> None:
        self._token_session.close()

    # --- signing keys: on the token -----------------------------------------------------------------

    def create_signing_key(self, kid: str, alg: SigningAlg) -> dict[str, str]:
        if alg == "EdDSA":
            key_type, params = KeyType.EC_EDWARDS, ED25519_PARAMS
            mechanism = Mechanism.EC_EDWARDS_KEY_PAIR_GEN
        elif alg == "ES256":
            key_type, params, mechanism = KeyType.EC, P256_PARAMS, Mechanism.EC_KEY_PAIR_GEN
        else:
            raise KeyStoreError(f"unsupported signing algorithm {alg!r}")
        with self._token_session.session() as lease:
            session = lease.session
            try:
                if list(session.get_objects({Attribute.LABEL: kid})):
                    raise KeyStoreError(f"the token already holds {kid!r}")
                domain = session.create_domain_parameters(key_type, {Attribute.EC_PARAMS: params}, local=True)
                public, _private = domain.generate_keypair(
                    store=True,
                    label=kid,
                    id=kid.encode(),
                    mechanism=mechanism,
                    capabilities=MechanismFlag.SIGN | MechanismFlag.VERIFY,
                    public_template={Attribute.TOKEN: True, Attribute.PRIVATE: False},
                    private_template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.SIGN: True,
                        Attribute.DERIVE: False,
                        Attribute.UNWRAP: False,
                        Attribute.DECRYPT: False,
                    },
                )
                return _public_jwk(alg, bytes(public[Attribute.EC_POINT]))
            except PKCS11Error as exc:
                raise KeyStoreError(f"the HSM could not create {kid!r}: {type(exc).__name__}") from exc

    def signer(self, kid: str) -> JwsSigner:
        with self._lock:
            cached = self._signers.get(kid)
        if cached is not None:
            return cached
        with self._token_session.session() as lease:
            session = lease.session
            try:
                private = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=kid)
                public = session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=kid)
                key_type = private.key_type
                point = bytes(public[Attribute.EC_POINT])
            except (NoSuchKey, MultipleObjectsReturned) as exc:
                raise KeyStoreError(f"the token has no single signing key {kid!r}") from exc
            except PKCS11Error as exc:
                raise KeyStoreError(f"the HSM could not read {kid!r}: {type(exc).__name__}") from exc
        if key_type == KeyType.EC_EDWARDS:
            alg = "EdDSA"
        elif key_type == KeyType.EC:
            alg = "ES256"
        else:
            raise KeyStoreError(f"{kid!r} on the token is not an EdDSA or ES256 key")
        signer = Pkcs11Signer(self._token_session, kid, alg, _public_jwk(alg, point))
        with self._lock:
            return self._signers.setdefault(kid, signer)

    # --- the rest: in the key file -------------------------------------------------------------------

    def create_enrollment_key(self, kid: str) -> dict[str, str]:
        return self._file.create_enrollment_key(kid)

    def enrollment_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        return self._file.enrollment_key(kid)

    def secret(self, name: SecretName) -> bytes:
        return self._file.secret(name)

    def secret_versions(self, name: SecretName) -> list[bytes]:
        return self._file.secret_versions(name)

    def new_secret_version(self, name: SecretName) -> bytes:
        return self._file.new_secret_version(name)

    def check(self) -> None:
        self._file.check()
        with self._token_session.session() as lease:
            try:
                list(lease.session.get_objects({Attribute.LABEL: "netid readiness probe"}))
            except PKCS11Error as exc:
                raise KeyStoreError(f"the PKCS#11 token is not usable: {type(exc).__name__}") from exc
