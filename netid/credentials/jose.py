"""JOSE for NetID: the one module that binds JWS algorithms to crypto providers.

Only two algorithms exist here — ``EdDSA`` (Ed25519) and ``ES256`` (ECDSA P-256 / SHA-256); ``none``,
every HMAC algorithm and everything else is refused. Keys are ``cryptography`` key objects on the way
in; signature *verification* is done through :class:`VerifyingKey`, a small immutable, hashable wrapper
that pre-computes what each check needs (the raw Ed25519 key for libsodium, the P-256 key object), so a
verifier can cache it per issuer/holder key and pay almost nothing per token above the signature check.

Ed25519 runs on libsodium (PyNaCl): on this machine kind it verifies ~1.9x and signs ~1.6x faster than
OpenSSL through ``cryptography``. Signing goes through a :class:`JwsSigner`, so a key held in an HSM or
a phone's secure element signs exactly like a local one. Callers who want PyJWT's API get these two
algorithms, and no others, from :mod:`netid.credentials.pyjwt_algorithms` (PyJWT is imported only there).

Everything here is pure: no I/O, randomness only in :func:`generate_signing_key`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Final, Protocol, TypeAlias, final, runtime_checkable

import nacl.bindings
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl._sodium import ffi as _sodium_ffi
from nacl._sodium import lib as _sodium

from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.errors import ParseError, UsageError, VerificationError

__all__ = [
    "ALLOWED_ALGORITHMS",
    "PRIVATE_JWK_MEMBERS",
    "JwsSigner",
    "LocalSigner",
    "PublicKey",
    "SigningKey",
    "VerifyingKey",
    "alg_for_key",
    "b64url_decode",
    "b64url_encode",
    "check_algorithm",
    "decode_jws_unverified",
    "generate_signing_key",
    "json_dumps",
    "json_loads",
    "jwk_thumbprint",
    "load_public_jwk",
    "public_jwk",
    "sign_jws",
    "typ_matches",
    "verify_jws_signature",
    "verifying_key",
]

#: The JWS algorithms NetID signs and accepts. Order is preference order.
ALLOWED_ALGORITHMS: Final[tuple[str, ...]] = ("EdDSA", "ES256")

#: JWK members that carry private key material (RFC 7518 §6.2.2 EC/OKP ``d``, §6.3.2 RSA, §6.4 ``k``).
#: A JWK with any of them is never accepted where a public key is expected.
PRIVATE_JWK_MEMBERS: Final[frozenset[str]] = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def typ_matches(typ: object, expected: str) -> bool:
    """Whether a JOSE ``typ`` header names the media type ``expected`` (e.g. ``"dc+sd-jwt"``).

    RFC 7515 §4.1.9: media types compare case-insensitively and the ``application/`` prefix may be
    omitted, so ``"application/KB+JWT"`` matches ``"kb+jwt"``. Anything but a string never matches. The
    one ``typ`` comparison every NetID token check uses.
    """
    if type(typ) is not str:
        return False
    t = typ.lower()
    if t.startswith("application/"):
        t = t[12:]
    return t == expected.lower()


#: A private key NetID can sign with.
SigningKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
#: A public key as ``cryptography`` gives it.
PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_P256_LEN: Final = 32
_ED25519_LEN: Final = 32
_SIG_LEN: Final = 64  # both algorithms: Ed25519 R||S and ES256 raw r||s (RFC 7518 §3.4)
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())
_JSON_SEPARATORS: Final = (",", ":")


def json_loads(data: bytes | str) -> Any:
    """Parse strict RFC 8259 JSON; raise ``ValueError`` on anything else.

    orjson, because this is the verifier's hottest parse (six documents per presentation) and it is
    about 4x faster than the standard library here. It is also stricter in ways that suit untrusted
    input: NaN/Infinity, lone surrogates, invalid UTF-8 and nesting deeper than 1024 are rejected, and
    integers beyond 64 bits become floats (so an out-of-range ``idx`` or ``iat`` fails every type check
    rather than meaning something). Duplicate member names keep the last value, as ``json`` does.
    """
    return _loads(data)


_loads: Final = orjson.loads


def json_dumps(value: Any) -> bytes:
    """Serialize compactly (no whitespace), UTF-8. :class:`UsageError` if ``value`` is not JSON."""
    try:
        return json.dumps(value, separators=_JSON_SEPARATORS, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # unserializable objects, NaN, lone surrogates, cycles
        raise UsageError(f"value is not JSON-serializable: {exc}") from exc


# --- verifying keys -----------------------------------------------------------------------------------


@final
class VerifyingKey:
    """An immutable, hashable public key bound to exactly one JWS algorithm.

    Build one with :func:`load_public_jwk` (from a JWK) or :func:`verifying_key` (from a ``cryptography``
    public or private key). Two instances for the same key compare and hash equal, so they make good
    cache keys.
    """

    __slots__ = ("_ec", "_raw", "alg")

    alg: str
    _raw: bytes  # Ed25519: the 32-byte key; P-256: the uncompressed point 04||x||y
    _ec: ec.EllipticCurvePublicKey | None

    def __init__(self, public_key: PublicKey) -> None:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            object.__setattr__(self, "alg", "EdDSA")
            object.__setattr__(self, "_raw", public_key.public_bytes_raw())
            object.__setattr__(self, "_ec", None)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            if not isinstance(public_key.curve, ec.SECP256R1):
                raise UsageError(f"unsupported curve {public_key.curve.name}; only P-256 is allowed")
            object.__setattr__(self, "alg", "ES256")
            object.__setattr__(
                self, "_raw", public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
            )
            object.__setattr__(self, "_ec", public_key)
        else:
            raise UsageError(f"unsupported public key type {type(public_key).__name__}")

    @classmethod
    def _from_validated(cls, alg: str, raw: bytes, ec_key: ec.EllipticCurvePublicKey | None) -> VerifyingKey:
        """Build from bytes :func:`load_public_jwk` has already validated. It skips the ABC
        ``isinstance`` checks and the point re-encoding of ``__init__``, which cost more than the cache
        miss itself on the per-presentation holder-key path (every KB-JWT brings a fresh ``cnf.jwk``),
        and sets the slots through their descriptors (half the cost of ``object.__setattr__``)."""
        self = _new_object(cls)
        _set_alg(self, alg)
        _set_raw(self, raw)
        _set_ec(self, ec_key)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("VerifyingKey is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VerifyingKey):
            return NotImplemented
        return self.alg == other.alg and self._raw == other._raw

    def __hash__(self) -> int:
        return hash((self.alg, self._raw))

    def __repr__(self) -> str:
        return f"<VerifyingKey {self.alg} {jwk_thumbprint(self.jwk())[:12]}…>"

    @property
    def public_key(self) -> PublicKey:
        """The ``cryptography`` public key object."""
        if self._ec is not None:
            return self._ec
        return ed25519.Ed25519PublicKey.from_public_bytes(self._raw)

    def jwk(self) -> dict[str, str]:
        """The public JWK (a fresh dict each call)."""
        if self.alg == "EdDSA":
            return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(self._raw)}
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(self._raw[1 : 1 + _P256_LEN]),
            "y": b64url_encode(self._raw[1 + _P256_LEN :]),
        }

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is a valid JWS signature of ``signing_input`` under this key."""
        if len(signature) != _SIG_LEN:
            return False
        if self._ec is None:
            # libsodium's crypto_sign_open, called directly: it also rejects non-canonical S and
            # small-order keys, and with NULL outputs it copies nothing (PyNaCl's wrapper allocates and
            # copies a buffer the size of the message). ``_raw`` is 32 bytes: load_public_jwk and
            # __init__ make sure of it.
            signed = signature + signing_input
            rc: int = _sodium.crypto_sign_open(_NULL, _NULL, signed, len(signed), self._raw)
            return rc == 0
        try:
            self._ec.verify(_der_signature(signature), signing_input, _ECDSA_SHA256)
        except InvalidSignature:
            return False
        return True


_new_object = object.__new__
_set_alg = VerifyingKey.__dict__["alg"].__set__
_set_raw = VerifyingKey.__dict__["_raw"].__set__
_set_ec = VerifyingKey.__dict__["_ec"].__set__
_NULL: Final = _sodium_ffi.NULL
#: DER length octets 0..127 (an ES256 signature's SEQUENCE is at most 70 bytes: short form only).
_DER_LEN: Final = tuple(bytes((i,)) for i in range(128))


def _der_signature(signature: bytes) -> bytes:
    """The DER ``ECDSA-Sig-Value`` of a 64-byte JWS ES256 signature ``r||s`` (RFC 7518 §3.4).

    What ``encode_dss_signature(int(r), int(s))`` returns, built from the bytes (half its cost): each
    INTEGER minimal, with a 0x00 in front when its high bit is set; zero is the one byte 0x00.
    """
    r = signature[:_P256_LEN].lstrip(b"\x00")
    s = signature[_P256_LEN:].lstrip(b"\x00")
    if not r or r[0] > 0x7F:
        r = b"\x00" + r
    if not s or s[0] > 0x7F:
        s = b"\x00" + s
    n_r = len(r)
    n_s = len(s)
    return b"".join((b"\x30", _DER_LEN[n_r + n_s + 4], b"\x02", _DER_LEN[n_r], r, b"\x02", _DER_LEN[n_s], s))


def verifying_key(key: VerifyingKey | PublicKey | SigningKey) -> VerifyingKey:
    """Return a :class:`VerifyingKey` for a public key, a private key (its public half) or itself."""
    if isinstance(key, VerifyingKey):
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return VerifyingKey(key.public_key())
    return VerifyingKey(key)


def alg_for_key(key: VerifyingKey | PublicKey | SigningKey) -> str:
    """The JWS ``alg`` a key signs/verifies with: ``"EdDSA"`` or ``"ES256"``. UsageError otherwise."""
    if isinstance(key, VerifyingKey):
        return key.alg
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return "ES256"
        raise UsageError(f"unsupported curve {key.curve.name}; only P-256 is allowed")
    raise UsageError(f"unsupported key type {type(key).__name__}")


def generate_signing_key(alg: str = "EdDSA") -> SigningKey:
    """Generate a fresh private key for ``alg`` (``"EdDSA"`` → Ed25519, ``"ES256"`` → P-256)."""
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise UsageError(f"unsupported algorithm {alg!r}; allowed: {', '.join(ALLOWED_ALGORITHMS)}")


# --- JWKs ---------------------------------------------------------------------------------------------


def public_jwk(key: VerifyingKey | PublicKey | SigningKey) -> dict[str, str]:
    """The public JWK (RFC 8037 OKP for Ed25519, RFC 7518 EC for P-256) of a public or private key."""
    return verifying_key(key).jwk()


def _jwk_str(jwk: Mapping[str, Any], member: str) -> str:
    value = jwk.get(member)
    if type(value) is not str:
        raise ParseError("JWK", f"member {member!r} missing or not a string")
    return value


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint (base64url) of an OKP/Ed25519 or EC/P-256 public JWK."""
    if not isinstance(jwk, Mapping):
        raise ParseError("JWK", "not a JSON object")
    kty = _jwk_str(jwk, "kty")
    if kty == "OKP":
        members = {"crv": _jwk_str(jwk, "crv"), "kty": kty, "x": _jwk_str(jwk, "x")}
    elif kty == "EC":
        members = {"crv": _jwk_str(jwk, "crv"), "kty": kty, "x": _jwk_str(jwk, "x"), "y": _jwk_str(jwk, "y")}
    else:
        raise ParseError("JWK", f"unsupported kty {kty!r}")
    # RFC 7638 §3.3: required members only, lexicographic order (the literals above), no whitespace.
    canonical = json.dumps(members, separators=_JSON_SEPARATORS, ensure_ascii=False).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


_SECP256R1: Final = ec.SECP256R1()
_JWK_CACHE_MAX: Final = 4096
_jwk_cache: dict[tuple[str, str, str, str], VerifyingKey] = {}


def load_public_jwk(jwk: Mapping[str, Any], *, cache: bool = True) -> VerifyingKey:
    """Load a public JWK: only ``OKP``/``Ed25519`` and ``EC``/``P-256`` are accepted.

    Raises :class:`ParseError` for anything else: wrong types, wrong lengths, a point not on the curve, a
    private member ``d`` (a JWK carrying a private key is a bug somewhere upstream, never accept it), or
    an ``alg`` member that does not match the key. With ``cache`` (issuer and RP keys, met again and
    again) results are cached, so loading the same JWK again costs a dict lookup; pass ``cache=False`` for
    a key seen once — a holder key of a single-use credential — which a cache would only keep alive.
    """
    if type(jwk) is not dict and not isinstance(jwk, Mapping):
        raise ParseError("JWK", "not a JSON object")
    get = jwk.get
    kty = get("kty")
    crv = get("crv")
    x = get("x")
    y = get("y", "")
    if type(kty) is not str or type(crv) is not str or type(x) is not str:
        member = "kty" if type(kty) is not str else "crv" if type(crv) is not str else "x"
        raise ParseError("JWK", f"member {member!r} missing or not a string")
    if type(y) is not str:
        raise ParseError("JWK", "member 'y' not a string")
    if not PRIVATE_JWK_MEMBERS.isdisjoint(jwk):
        raise ParseError("JWK", "contains a private key")
    if cache:
        cache_key = (kty, crv, x, y)
        loaded = _jwk_cache.get(cache_key)
        if loaded is None:
            loaded = _load_public_jwk_uncached(kty, crv, x, y)
            if len(_jwk_cache) >= _JWK_CACHE_MAX:
                _jwk_cache.clear()  # crude but bounded; a verifier sees few distinct issuer keys
            _jwk_cache[cache_key] = loaded
    else:
        loaded = _load_public_jwk_uncached(kty, crv, x, y)
    alg = jwk.get("alg")
    if alg is not None and alg != loaded.alg:
        raise ParseError("JWK", f"'alg' {alg!r} does not match a {crv} key")
    return loaded


_from_encoded_point = ec.EllipticCurvePublicKey.from_encoded_point


def _load_public_jwk_uncached(kty: str, crv: str, x: str, y: str) -> VerifyingKey:
    if kty == "EC":  # first: the holder keys of every presentation are P-256
        if crv != "P-256":
            raise ParseError("JWK", f"unsupported EC curve {crv!r}")
        xb = b64url_decode(x, "JWK x")
        yb = b64url_decode(y, "JWK y")
        # RFC 7518 §6.2.1.2: coordinates are the full field-size octet strings, no shorter.
        if len(xb) != _P256_LEN or len(yb) != _P256_LEN:
            raise ParseError("JWK", "P-256 'x' and 'y' must be 32 bytes each")
        point = b"\x04" + xb + yb
        try:
            pub = _from_encoded_point(_SECP256R1, point)
        except ValueError as exc:
            raise ParseError("JWK", "point is not on P-256") from exc
        return VerifyingKey._from_validated("ES256", point, pub)
    if kty == "OKP":
        if crv != "Ed25519":
            raise ParseError("JWK", f"unsupported OKP curve {crv!r}")
        if y:
            raise ParseError("JWK", "OKP key has a 'y' member")
        raw = b64url_decode(x, "JWK x")
        if len(raw) != _ED25519_LEN:
            raise ParseError("JWK", "Ed25519 'x' must be 32 bytes")
        # libsodium validates the point (and rejects small-order keys) when it verifies
        return VerifyingKey._from_validated("EdDSA", raw, None)
    raise ParseError("JWK", f"unsupported kty {kty!r}")


# --- signers --------------------------------------------------------------------------------------


@runtime_checkable
class JwsSigner(Protocol):
    """Anything that signs JWS signing input with one key: a local key (:class:`LocalSigner`), an HSM key
    (``issuer_service.keys``), a phone's secure element. ``sign`` returns the raw JWS signature (Ed25519
    ``R||S`` or ES256 ``r||s``, 64 bytes)."""

    @property
    def alg(self) -> str: ...

    def public_jwk(self) -> dict[str, str]: ...

    def sign(self, signing_input: bytes) -> bytes: ...


@final
class LocalSigner:
    """A :class:`JwsSigner` over a ``cryptography`` private key held in this process.

    For Ed25519 the libsodium secret key is derived once here (a scalar multiplication), so an issuer that
    keeps its signer signs at libsodium's full rate. The derived key lives exactly as long as this object:
    nothing is cached in module state, so dropping the signer (or the wallet's key) drops the secret.
    """

    __slots__ = ("_ec", "_nacl_sk", "_public", "alg")

    def __init__(self, key: SigningKey) -> None:
        self.alg = alg_for_key(key)
        self._public = verifying_key(key)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            self._nacl_sk: bytes | None = nacl.bindings.crypto_sign_seed_keypair(key.private_bytes_raw())[1]
            self._ec: ec.EllipticCurvePrivateKey | None = None
        else:
            self._nacl_sk = None
            self._ec = key

    def __repr__(self) -> str:
        return f"<LocalSigner {self._public!r}>"

    def public_jwk(self) -> dict[str, str]:
        return self._public.jwk()

    def sign(self, signing_input: bytes) -> bytes:
        if self._nacl_sk is not None:
            signed: bytes = nacl.bindings.crypto_sign(signing_input, self._nacl_sk)
            return signed[:_SIG_LEN]
        assert self._ec is not None
        r, s = decode_dss_signature(self._ec.sign(signing_input, _ECDSA_SHA256))
        return r.to_bytes(_P256_LEN, "big") + s.to_bytes(_P256_LEN, "big")


# --- compact JWS --------------------------------------------------------------------------------------


def jws_header(
    alg: str, *, typ: str, kid: str | None = None, extra_headers: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The protected header :func:`sign_jws` writes: ``{"alg", "typ", "kid"?, **extra_headers}``.
    :class:`UsageError` for an algorithm outside the allow-list, or ``extra_headers`` that set ``alg``,
    ``typ``, ``kid``, ``crit`` or ``b64``."""
    if alg not in ALLOWED_ALGORITHMS:
        raise UsageError(f"unsupported algorithm {alg!r}")
    header: dict[str, Any] = {"alg": alg, "typ": typ}
    if kid is not None:
        header["kid"] = kid
    if extra_headers:
        for name, value in extra_headers.items():
            if name in ("alg", "typ", "kid", "crit", "b64"):
                raise UsageError(f"header {name!r} cannot be set through extra_headers")
            header[name] = value
    return header


def sign_jws(
    payload: Mapping[str, Any],
    key: SigningKey | JwsSigner,
    *,
    typ: str,
    kid: str | None = None,
    extra_headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign ``payload`` as a compact JWS with header ``{"alg", "typ", "kid"?, **extra_headers}``.

    ``key`` is a private key or a :class:`JwsSigner` (keep a :class:`LocalSigner` to sign many tokens
    with one Ed25519 key at full speed). ``alg`` follows the key; ``extra_headers`` may not set ``alg``,
    ``typ`` or ``kid`` (pass those as arguments) nor ``crit``/``b64`` (unsupported here).
    """
    signer = key if isinstance(key, JwsSigner) else LocalSigner(key)
    header = jws_header(signer.alg, typ=typ, kid=kid, extra_headers=extra_headers)
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(json_dumps(dict(payload)))}"
    sig = signer.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(sig)}"


def decode_jws_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Split a compact JWS into ``(header, payload, signing_input, signature)`` WITHOUT verifying it.

    Header and payload must be JSON objects. Raises :class:`ParseError` for anything malformed. The
    caller must check ``header["alg"]`` (:func:`check_algorithm`) and the signature
    (:func:`verify_jws_signature`) before trusting a byte of the payload.
    """
    if not isinstance(token, str) or not token.isascii():
        raise ParseError("JWS", "not an ASCII string")
    first = token.find(".")  # str.find scans with memchr; str.split compares character by character
    second = token.find(".", first + 1) if first >= 0 else -1
    if second < 0 or token.find(".", second + 1) >= 0:
        raise ParseError("JWS", "compact serialization needs exactly three segments")
    header_json = b64url_decode(token[:first], "JWS header")
    payload_json = b64url_decode(token[first + 1 : second], "JWS payload")
    try:
        header = _loads(header_json)  # json_loads without its Python frame: six parses per presentation
        payload = _loads(payload_json)
    except ValueError as exc:  # orjson: invalid UTF-8 or JSON, nesting deeper than 1024
        raise ParseError("JWS", "header or payload is not valid UTF-8 JSON") from exc
    if type(header) is not dict or type(payload) is not dict:
        raise ParseError("JWS", "header and payload must be JSON objects")
    signature = b64url_decode(token[second + 1 :], "JWS signature")
    return header, payload, token[:second].encode("ascii"), signature


def check_algorithm(alg: object, algorithms: tuple[str, ...] | frozenset[str] = ALLOWED_ALGORITHMS) -> str:
    """Return ``alg`` if it is allowed; else raise ``VerificationError("algorithm")``.

    ``algorithms`` can narrow :data:`ALLOWED_ALGORITHMS` but never widen it: ``none``, ``HS256`` and the
    like are refused whatever the caller passes.
    """
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS or alg not in algorithms:
        raise VerificationError("algorithm", "JWS algorithm is not allowed")
    return alg


def verify_jws_signature(
    signing_input: bytes, signature: bytes, alg: str, key: VerifyingKey | PublicKey
) -> bool:
    """True iff ``signature`` over ``signing_input`` verifies under ``key`` with ``alg``.

    False — never an exception — for a bad signature, an algorithm outside :data:`ALLOWED_ALGORITHMS`
    (``none``, ``HS256``, …) or a key of the other type (an Ed25519 key with ``ES256`` etc.). Pass a
    cached :class:`VerifyingKey` for the fast path; a ``cryptography`` public key is wrapped per call.
    """
    if alg not in ALLOWED_ALGORITHMS:
        return False
    if not isinstance(key, VerifyingKey):
        try:
            key = VerifyingKey(key)
        except UsageError:
            return False
    if key.alg != alg:
        return False
    return key.verify(signing_input, signature)
