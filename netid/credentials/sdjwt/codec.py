"""SD-JWT encoding (RFC 9901 §4–5): base64url, disclosures, digests and the ``~`` serialization.

Everything here is pure and strict. Parsers of untrusted text raise only :class:`~netid.errors.ParseError`.
Digests are always computed over the disclosure string *exactly as received* (RFC 9901 §4.2.3): the same
claim serialized with other JSON whitespace or escapes has another digest, and that is intended.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from orjson import loads as _loads

from netid.credentials._b64 import b64url_decode as _b64url_decode
from netid.credentials._b64 import b64url_encode, b64url_sha256
from netid.credentials.jose import json_dumps
from netid.errors import ParseError, UsageError

__all__ = [
    "FORBIDDEN_CLAIM_NAMES",
    "SALT_BYTES",
    "SD_ALG",
    "Disclosure",
    "SdJwtParts",
    "b64url_decode",
    "b64url_encode",
    "digest",
    "join_sd_jwt",
    "sd_hash",
    "split_sd_jwt",
    "split_segments",
]

#: The only ``_sd_alg`` NetID issues and accepts (RFC 9901 §4.1.1; sha-256 is the default).
SD_ALG: Final = "sha-256"
#: Salt length: 128 bits, as RFC 9901 §4.2.1 recommends.
SALT_BYTES: Final = 16
#: Claim names a disclosure may never carry (RFC 9901 §4.2.1): they are SD-JWT's own markers.
FORBIDDEN_CLAIM_NAMES: Final = frozenset({"_sd", "..."})


def b64url_decode(text: str) -> bytes:
    """Decode unpadded canonical base64url; :class:`ParseError` on padding, bad characters or bad length."""
    return _b64url_decode(text)


def digest(encoded: str) -> str:
    """The digest of a disclosure: ``base64url(SHA-256(ASCII(encoded)))`` over the string as received."""
    if not isinstance(encoded, str) or not encoded.isascii():
        raise ParseError("disclosure", "not an ASCII string")
    return b64url_sha256(encoded.encode("ascii"))


def sd_hash(serialized_without_kb: str) -> str:
    """The KB-JWT ``sd_hash`` (RFC 9901 §4.3.1): SHA-256 over the presentation up to its last ``~``."""
    if not isinstance(serialized_without_kb, str) or not serialized_without_kb.isascii():
        raise ParseError("SD-JWT", "not an ASCII string")
    return b64url_sha256(serialized_without_kb.encode("ascii"))


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One disclosure: ``[salt, name, value]`` for an object property, ``[salt, value]`` for an array element.

    ``name`` is ``None`` for an array element. ``encoded`` is the base64url string and ``digest`` its
    SHA-256 digest (what the issuer-signed payload references).
    """

    salt: str
    name: str | None
    value: Any
    encoded: str
    digest: str

    @property
    def is_array_element(self) -> bool:
        """True for an array-element disclosure (two members, no claim name)."""
        return self.name is None

    @classmethod
    def create(
        cls,
        name: str | None,
        value: Any,
        salt: str | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> Disclosure:
        """Create a disclosure for claim ``name`` (``None``: an array element) with a fresh 128-bit salt.

        Pass ``salt`` only to reproduce a known disclosure (tests, vectors).
        """
        if name is not None and (not isinstance(name, str) or name in FORBIDDEN_CLAIM_NAMES):
            raise UsageError(f"claim name {name!r} cannot be selectively disclosed")
        if salt is None:
            salt = b64url_encode(rng(SALT_BYTES))
        elif not isinstance(salt, str):
            raise UsageError("salt must be a string")
        array = [salt, value] if name is None else [salt, name, value]
        try:
            encoded = b64url_encode(json_dumps(array))
        except (TypeError, ValueError) as exc:
            raise UsageError(f"claim value is not JSON-serializable: {exc}") from exc
        return cls(salt, name, value, encoded, digest(encoded))

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        """Parse a disclosure as received; :class:`ParseError` if it is not a well-formed disclosure."""
        raw = _b64url_decode(encoded, "disclosure")  # it decoded, so ``encoded`` is ASCII
        try:
            array = _loads(raw)  # what jose.json_loads calls (orjson), without the extra Python frame
        except ValueError as exc:  # invalid UTF-8 or JSON, nesting deeper than 1024
            raise ParseError("disclosure", "not UTF-8 JSON") from exc
        if type(array) is not list or not 2 <= len(array) <= 3:
            raise ParseError("disclosure", "not a JSON array of 2 or 3 elements")
        salt = array[0]
        if type(salt) is not str:
            raise ParseError("disclosure", "salt is not a string")
        if len(array) == 2:
            name = None
        else:
            name = array[1]
            if type(name) is not str:
                raise ParseError("disclosure", "claim name is not a string")
            if name in FORBIDDEN_CLAIM_NAMES:
                raise ParseError("disclosure", "claim name is reserved ('_sd' or '...')")
        # built through the slot descriptors: a frozen dataclass's __init__ goes through
        # object.__setattr__ per field, twice the cost, and a verifier parses every disclosure it gets
        self = _new_object(cls)
        _set_salt(self, salt)
        _set_name(self, name)
        _set_value(self, array[-1])
        _set_encoded(self, encoded)
        _set_digest(self, b64url_sha256(encoded.encode("ascii")))
        return self


_new_object = object.__new__
_set_salt, _set_name, _set_value, _set_encoded, _set_digest = (
    Disclosure.__dict__[f].__set__ for f in ("salt", "name", "value", "encoded", "digest")
)


@dataclass(frozen=True, slots=True)
class SdJwtParts:
    """An SD-JWT split at ``~``: the issuer-signed JWT, the disclosures as strings, the KB-JWT if any."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None


def split_segments(serialized: str) -> tuple[str, list[str], str]:
    """The rules of :func:`split_sd_jwt`, returning ``(issuer_jwt, disclosures, kb_jwt or "")``.

    The verifier's form of the split (no result object); :class:`ParseError` on the same inputs.
    """
    if not isinstance(serialized, str) or not serialized.isascii():
        raise ParseError("SD-JWT", "not an ASCII string")
    # str.find/rfind scan with memchr; only the disclosures between the first and the last '~' (a few
    # hundred characters) are split, so str.split's character-by-character loop stays short
    first = serialized.find("~")
    if first < 0:
        raise ParseError("SD-JWT", "no '~' separator")
    if first == 0:
        raise ParseError("SD-JWT", "empty issuer-signed JWT")
    last = serialized.rfind("~")
    disclosures = serialized[first + 1 : last].split("~") if last > first else []
    if "" in disclosures:
        raise ParseError("SD-JWT", "empty disclosure segment")
    return serialized[:first], disclosures, serialized[last + 1 :]


def split_sd_jwt(serialized: str) -> SdJwtParts:
    """Split ``<jwt>~<d1>~...~<dn>~[<kb-jwt>]`` (RFC 9901 §4).

    Strict: there must be at least one ``~``; an empty segment between ``~`` is an error; a trailing
    ``~`` means there is no KB-JWT. Segments are not decoded here.
    """
    issuer_jwt, disclosures, kb_jwt = split_segments(serialized)
    return SdJwtParts(issuer_jwt, tuple(disclosures), kb_jwt or None)


def join_sd_jwt(parts: SdJwtParts) -> str:
    """Serialize :class:`SdJwtParts` back to the ``~`` form (inverse of :func:`split_sd_jwt`)."""
    pieces = [parts.issuer_jwt, *parts.disclosures, parts.kb_jwt or ""]
    return "~".join(pieces)
