"""Issuing SD-JWTs (RFC 9901 §4–6).

Mark what is selectively disclosable in an ordinary claims tree and sign it::

    issued = issue_sd_jwt(
        {"iss": "https://id.example", "cnf": {"jwk": holder_jwk},
         "age_over_18": SD(True),
         "address": SD({"province": SD("44"), "city": SD("4403")}),   # recursive disclosures
         "nationalities": [SDItem("CN"), "HK"]},                    # one array element disclosable
        issuer_key,
    )

Each :class:`SD` becomes an object-property disclosure referenced from its object's ``_sd`` array;
each :class:`SDItem` becomes an array-element disclosure referenced by a ``{"...": digest}`` placeholder.
Markers nest to any depth. ``_sd`` arrays are sorted (digests are uniformly random, so sorted order says
nothing about claim names or the order they were given in), optionally padded with decoy digests.

An issuer minting many credentials at once calls :func:`issue_sd_jwt_batch` with one claim set per
credential: what :func:`issue_sd_jwt` writes one at a time (byte for byte, given the same ``rng`` and an
Ed25519 key), each credential with its own salts and signature, three to four times faster for
netcert-like claim sets (see "batches" below).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import add as _concat
from typing import Any, Final, Generic, TypeVar

import orjson
import pybase64

from netid.credentials._b64 import b64url_encode
from netid.credentials.jose import (
    JwsSigner,
    LocalSigner,
    SigningKey,
    json_dumps,
    jws_header,
    sign_jws,
)
from netid.credentials.sdjwt.codec import SALT_BYTES, SD_ALG, Disclosure
from netid.errors import UsageError

__all__ = ["SD", "IssuedSdJwt", "SDItem", "issue_sd_jwt", "issue_sd_jwt_batch"]

T = TypeVar("T")

#: Claim names the issuer may not use: SD-JWT's own markers.
_RESERVED = frozenset({"_sd", "_sd_alg", "..."})


@dataclass(frozen=True, slots=True)
class SD(Generic[T]):
    """Marks an object property's value: the property becomes a selectively disclosable claim."""

    value: T


@dataclass(frozen=True, slots=True)
class SDItem(Generic[T]):
    """Marks an array element: the element becomes selectively disclosable (RFC 9901 §4.2.2)."""

    value: T


@dataclass(frozen=True, slots=True)
class IssuedSdJwt:
    """An issued SD-JWT: ``serialized`` is ``<jwt>~<d1>~...~<dn>~`` (every disclosure, no KB-JWT).

    ``payload`` is the issuer-signed JWT payload (with ``_sd`` digests, not the disclosed values);
    ``disclosures`` are in the order they appear in ``serialized``.
    """

    serialized: str
    disclosures: tuple[Disclosure, ...]
    payload: dict[str, Any]


def _randbelow(n: int, rng: Callable[[int], bytes]) -> int:
    """Uniform integer in [0, n) from ``rng`` by rejection sampling (no modulo bias)."""
    if n <= 1:
        return 0
    nbytes = (n.bit_length() + 7) // 8
    limit = (256**nbytes // n) * n
    while True:
        x = int.from_bytes(rng(nbytes), "big")
        if x < limit:
            return x % n


class _Issuer:
    def __init__(self, decoys: int, rng: Callable[[int], bytes]) -> None:
        self.decoys = decoys
        self.rng = rng
        self.disclosures: list[Disclosure] = []

    def _disclose(self, name: str | None, value: Any) -> Disclosure:
        d = Disclosure.create(name, self.value(value), rng=self.rng)
        self.disclosures.append(d)
        return d

    def decoy_hashes(self) -> list[bytes]:
        # RFC 9901 §4.2.5: a decoy is the digest of a random value, indistinguishable from a real one.
        count = _randbelow(self.decoys + 1, self.rng)
        return [hashlib.sha256(self.rng(SALT_BYTES)).digest() for _ in range(count)]

    def obj(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, value in claims.items():
            if not isinstance(name, str):
                raise UsageError(f"claim names must be strings, got {type(name).__name__}")
            if name in _RESERVED:
                raise UsageError(f"claim name {name!r} is reserved by SD-JWT")
            if isinstance(value, SD):
                digests.append(self._disclose(name, value.value).digest)
            elif isinstance(value, SDItem):
                raise UsageError(f"SDItem marks array elements; use SD for the property {name!r}")
            else:
                out[name] = self.value(value)
        if digests:
            # Decoys only pad existing _sd arrays: adding _sd to plain objects (e.g. cnf.jwk) would
            # change their shape for every consumer that does not process SD-JWT.
            digests.extend(map(b64url_encode, self.decoy_hashes()))
            out["_sd"] = sorted(digests)
        return out

    def array(self, items: list[Any] | tuple[Any, ...]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, SDItem):
                out.append({"...": self._disclose(None, item.value).digest})
            elif isinstance(item, SD):
                raise UsageError("SD marks object properties; use SDItem for array elements")
            else:
                out.append(self.value(item))
        return out

    def value(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return self.obj(value)
        if isinstance(value, list | tuple):
            return self.array(value)
        if isinstance(value, SD | SDItem):
            raise UsageError("SD/SDItem must be an object property value or an array element")
        return value


def issue_sd_jwt(
    claims: Mapping[str, Any],
    issuer_key: SigningKey | JwsSigner,
    *,
    typ: str = "dc+sd-jwt",
    kid: str | None = None,
    decoys: int = 0,
    rng: Callable[[int], bytes] = secrets.token_bytes,
    extra_headers: Mapping[str, Any] | None = None,
) -> IssuedSdJwt:
    """Issue an SD-JWT over ``claims`` (with :class:`SD` / :class:`SDItem` markers) signed by ``issuer_key``.

    ``decoys``: each ``_sd`` array gets a uniformly random number of decoy digests in ``[0, decoys]``,
    so the number of digests does not reveal the number of disclosable claims. ``rng`` supplies
    every random byte (salts, decoys), so issuance is reproducible in tests; signatures are as
    deterministic as the algorithm (Ed25519 is, ECDSA is not).

    Holder binding is the caller's: put ``"cnf": {"jwk": public_jwk(holder_key)}`` in ``claims``.
    """
    if not isinstance(claims, Mapping):
        raise UsageError("claims must be a mapping")
    if not isinstance(decoys, int) or isinstance(decoys, bool) or decoys < 0:
        raise UsageError("decoys must be a non-negative integer")
    issuer = _Issuer(decoys, rng)
    payload = issuer.obj(claims)
    payload["_sd_alg"] = SD_ALG
    jwt = sign_jws(payload, issuer_key, typ=typ, kid=kid, extra_headers=extra_headers)
    disclosures = tuple(issuer.disclosures)
    serialized = "~".join([jwt, *(d.encoded for d in disclosures), ""])
    return IssuedSdJwt(serialized, disclosures, payload)


# --- batches ------------------------------------------------------------------------------------------
#
# An issuer mints by the batch (a netcert batch is 30 SD-JWTs with the same ten disclosable claims), and
# per credential the Python around the signature cost several times the signature itself: a Disclosure
# dataclass, two JSON encodings, three base64 encodings and a digest per claim. The batch path writes the
# same bytes (for the same rng) with that work moved out of the per-credential loop:
#
# * A disclosure's JSON is ``["<salt>","<name>",<value>]`` and its salt is 22 base64url characters, so
#   ``["<salt>`` is 24 bytes, a whole number of base64 groups: the disclosure's base64url is the
#   base64url of those 24 bytes followed by the base64url of the rest, ``","<name>",<value>]``, which is
#   the same for every credential with that claim and value and is encoded once per batch (its "tail").
# * The salts and the 24-byte heads of all of a batch's disclosures are encoded by two base64 calls over
#   the whole batch (:func:`_heads`); struct cuts the results into fields in one C call.
# * The payload is serialized by orjson (C) only where it writes exactly what ``jose.json_dumps`` writes:
#   dicts, lists, tuples, strings, ints, booleans and None as exact types (:func:`_plain`). The ``_sd``
#   array and ``_sd_alg``, the payload's last two members, are appended as bytes.
# * The header is encoded, and the signer checked, once per batch.
#
# Left per credential is what is each credential's own: its salts (drawn from ``rng``), one SHA-256 per
# disclosure, its sorted ``_sd`` array, its payload and its signature. A claim set the fast path does not
# cover (nested or array disclosures, floats, mappings that are not dicts, misuse) is issued by
# :func:`issue_sd_jwt` in its turn, so ``rng`` is called in the same order either way.
#
# The helpers are local rather than ``_b64.b64url_encode``/``jose.sign_jws`` (which take and return
# ``str``, one token at a time): the serialization stays in ``bytes`` until its last step.

_encode = pybase64.b64encode  # padded base64 bytes; with altchars b"-_" base64url
_sha256 = hashlib.sha256
_dumps = orjson.dumps
#: orjson serializes dataclasses (an SD marker!), datetimes and subclasses of str/int/dict/list by itself;
#: with these options it refuses them instead, should a value change after :func:`_plain` checked it.
_STRICT: Final = (
    orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_PADDED: Final = SALT_BYTES + 2  # a salt and two zero bytes: six base64 groups
_HEAD_B64: Final = 32  # base64url characters of '["' + a 22-character salt (24 bytes, 8 groups)
_SD_ALG_MEMBER: Final = b'"_sd_alg":"' + SD_ALG.encode("ascii") + b'"}'
#: Byte sources whose output does not depend on how it is requested (the operating system's CSPRNG): a
#: batch draws all its salts from one of them with one call. Any other ``rng`` (a seeded test source) is
#: called once per salt, as :func:`issue_sd_jwt` calls it, so a batch reproduces one-by-one issuance.
_STREAM_RNGS: Final = (os.urandom, secrets.token_bytes)


def _plain(value: Any) -> bool:
    """Whether ``value`` is JSON that :class:`_Issuer` passes through unchanged (no markers, no reserved or
    non-string member names) and that orjson serializes byte for byte as ``jose.json_dumps`` does: dicts,
    lists, tuples, strings, ints, booleans and None, as exact types. Not floats: orjson writes ``1e16``
    where ``json`` writes ``1e+16``, and NaN as ``null`` where ``json_dumps`` refuses it."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return True
    if t is dict:
        for name, member in value.items():
            if type(name) is not str or name in _RESERVED:
                return False
            tm = type(member)
            if not (tm is str or tm is int or tm is bool or member is None) and not _plain(member):
                return False
        return True
    if t is list or t is tuple:
        return all(map(_plain, value))
    return False


def _tail(name: str, value: Any) -> bytes:
    """The base64url of a property disclosure's JSON after its 24-byte head: ``","<name>",<value>]``.

    ``value`` is :func:`_plain`, so orjson writes what ``json_dumps`` would; where orjson stops (ints
    beyond 64 bits, lone surrogates, deep nesting) ``json_dumps`` writes the same or raises."""
    array = ["", name, value]
    try:
        rest = _dumps(array, None, _STRICT)
    except orjson.JSONEncodeError:
        try:
            rest = json_dumps(array)
        except UsageError as exc:
            raise UsageError(f"claim value is not JSON-serializable: {exc}") from exc
    return _encode(rest[2:], b"-_").rstrip(b"=")  # the salt is base64url: nothing in it is escaped


def _split(
    claims: Mapping[str, Any], tails: dict[tuple[str, type, Any], bytes]
) -> tuple[dict[str, Any], list[bytes]] | None:
    """``(always-visible claims, the disclosures' tails in claim order)``; None if the claim set needs
    :func:`issue_sd_jwt` (which also raises every misuse error). ``tails`` caches them per batch."""
    if type(claims) is not dict:
        if not isinstance(claims, Mapping):
            raise UsageError("claims must be a mapping")
        return None
    visible: dict[str, Any] = {}
    out: list[bytes] = []
    for name, value in claims.items():
        if type(name) is not str or name in _RESERVED:
            return None
        t = type(value)
        if t is SD:
            v = value.value
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                key = (name, tv, v)  # the type too: True == 1, and they are different JSON
                tail = tails.get(key)
                if tail is None:
                    tail = tails[key] = _tail(name, v)
            elif _plain(v):
                tail = _tail(name, v)
            else:
                return None
            out.append(tail)
        elif t is str or t is int or t is bool or value is None or _plain(value):
            visible[name] = value
        else:
            return None
    return visible, out


def _heads(padded: bytearray, count: int) -> bytes:
    """The base64url of each disclosure's first 24 bytes, ``["`` and its salt: 32 characters each.

    ``padded`` holds each of the ``count`` salts' 16 bytes followed by two zero bytes: six base64 groups,
    whose 24 characters are the salt's base64url (the 22 that :func:`issue_sd_jwt` writes) and "AA".
    Overwriting every "AA" with ``["`` and shifting the text by those two characters makes each row
    ``["`` + salt: two strided assignments for a batch of any size, no call per salt."""
    if not count:
        return b""
    text = bytearray(_encode(padded, b"-_"))
    text[22::24] = b"[" * count
    text[23::24] = b'"' * count
    return _encode(b'["' + text[:-2], b"-_")


def _header_segment(
    signer: JwsSigner, typ: str, kid: str | None, extra_headers: Mapping[str, Any] | None
) -> bytes:
    """``base64url(header) + "."``: the header :func:`~netid.credentials.jose.sign_jws` writes, with its
    checks (``jose.py`` signs one token per call; the batch test compares the bytes)."""
    header = jws_header(signer.alg, typ=typ, kid=kid, extra_headers=extra_headers)
    return _encode(json_dumps(header), b"-_").rstrip(b"=") + b"."


def issue_sd_jwt_batch(
    claim_sets: Sequence[Mapping[str, Any]],
    issuer_key: SigningKey | JwsSigner,
    *,
    typ: str = "dc+sd-jwt",
    kid: str | None = None,
    decoys: int = 0,
    rng: Callable[[int], bytes] = secrets.token_bytes,
    extra_headers: Mapping[str, Any] | None = None,
) -> list[str]:
    """Issue one SD-JWT per claim set, as :func:`issue_sd_jwt` does, returning the serialized forms.

    Every credential gets its own salts, decoys and signature; the output is byte for byte
    ``[issue_sd_jwt(c, issuer_key, ..., rng=rng).serialized for c in claim_sets]`` for the same ``rng``
    (and a deterministic signature algorithm), only faster: what the claim sets share is encoded once
    (see the comment above). ``rng`` is called in the same order too, except that ``os.urandom`` and
    ``secrets.token_bytes``, whose output does not depend on how it is requested, are asked once for all
    of a batch's salts (18 bytes a salt, of which the first 16 are used). Misuse raises
    :class:`~netid.errors.UsageError`, and then no credential of the batch is returned.
    """
    if not isinstance(decoys, int) or isinstance(decoys, bool) or decoys < 0:
        raise UsageError("decoys must be a non-negative integer")
    signer: JwsSigner
    if type(issuer_key) is LocalSigner:  # no Protocol check: it costs as much as a signature
        signer = issuer_key
    else:
        signer = issuer_key if isinstance(issuer_key, JwsSigner) else LocalSigner(issuer_key)
    header = _header_segment(signer, typ, kid, extra_headers)
    claim_sets = tuple(claim_sets)  # read twice below
    cache: dict[tuple[str, type, Any], bytes] = {}
    plans = [_split(claims, cache) for claims in claim_sets]
    del cache  # it holds personal values: kept no longer than needed

    # Draw in issue_sd_jwt's order: each credential's salts, then its decoys. A claim set off the fast path
    # is issued whole in its turn.
    stream = any(rng is source for source in _STREAM_RNGS)  # by identity: an rng need not be hashable
    issuer = _Issuer(decoys, rng)
    jobs: list[str | tuple[dict[str, Any], int, list[bytes] | None]] = []
    tails: list[bytes] = []  # every fast-path disclosure's tail, in order
    salts: list[bytes] = []
    for claims, plan in zip(claim_sets, plans, strict=True):
        if plan is None:
            issued = issue_sd_jwt(
                claims, signer, typ=typ, kid=kid, decoys=decoys, rng=rng, extra_headers=extra_headers
            )
            jobs.append(issued.serialized)
            continue
        visible, own = plan
        n = len(own)
        tails += own
        if not stream:
            salts += map(rng, repeat(SALT_BYTES, n))
        # decoys as _Issuer.obj draws them: only an object with disclosures has an _sd array to pad
        jobs.append((visible, n, issuer.decoy_hashes() if n and decoys else None))
    count = len(tails)
    if stream:  # one call for the batch; of each 18 bytes the first 16 are a salt
        padded = bytearray(rng(_PADDED * count) if count else b"")
        if len(padded) != _PADDED * count:
            raise UsageError(f"rng returned {len(padded)} bytes for {_PADDED * count}")
        padded[SALT_BYTES::_PADDED] = bytes(count)
        padded[SALT_BYTES + 1 :: _PADDED] = bytes(count)
    else:
        if any(len(salt) != SALT_BYTES for salt in salts):
            raise UsageError(f"rng returned a salt of other than {SALT_BYTES} bytes")
        padded = bytearray(b"\0\0".join(salts) + b"\0\0")

    # The whole batch's disclosures and digests at once, cut into fixed-width fields by struct (one C call
    # each, not a slice per field). 32 digest bytes and a zero byte are 11 base64 groups: the digest's 43
    # characters, then "A".
    heads = struct.unpack(f"{_HEAD_B64}s" * count, _heads(padded, count))
    disclosures = list(map(_concat, heads, tails))
    hashes = b"\0".join([_sha256(d).digest() for d in disclosures])
    text = _encode(hashes + b"\0", b"-_") if count else b""
    digests: tuple[bytes, ...] = struct.unpack("43sx" * count, text)

    sign = signer.sign
    out: list[str] = []
    start = 0
    for job in jobs:
        if isinstance(job, str):
            out.append(job)
            continue
        visible, n, decoy_hashes = job
        end = start + n
        if n:
            sd = sorted(digests[start:end])
            if decoy_hashes:
                sd = sorted(sd + [_encode(h, b"-_")[:43] for h in decoy_hashes])
            sd_member = b'"_sd":["' + b'","'.join(sd) + b'"],'
        else:
            sd_member = b""
        try:
            body = _dumps(visible, None, _STRICT)
        except orjson.JSONEncodeError:  # ints beyond 64 bits, lone surrogates, deep nesting
            body = json_dumps(visible)  # writes the same bytes where orjson stops; raises UsageError else
        # the payload _Issuer builds: the visible claims, then "_sd" (if any) and "_sd_alg"
        payload = b"".join((body[:-1], b"," if len(body) > 2 else b"", sd_member, _SD_ALG_MEMBER))
        signing_input = header + _encode(payload, b"-_").rstrip(b"=")
        signature = _encode(sign(signing_input), b"-_").rstrip(b"=")
        jws = (signing_input, b".", signature, b"~")
        out.append(b"".join((*jws, b"~".join(disclosures[start:end]), b"~" if n else b"")).decode("ascii"))
        start = end
    return out
