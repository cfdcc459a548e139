"""Network numbers (netno; `specs/protocol.md` §2) and pairwise subjects.

A netno is 10 characters: 9 random characters and a check character, all from a 31-character alphabet
of digits and uppercase letters without look-alikes. It carries no personal information.

Alphabet. Of the 36 digits and letters, ``O`` (looks like ``0``), ``I`` and ``L`` (``1``), ``Z`` (``2``)
and ``S`` (``5``) are dropped, leaving 31 symbols::

    0123456789ABCDEFGHJKMNPQRTUVWXY

On input the dropped letters are read as the digit they are mistaken for, case is folded, and spaces and
hyphens are ignored, so ``"abcde-fghjk"``, ``"ABCDEFGHJK"`` and ``"ABCDE FGHJK"`` are the same netno.

Check character. With values v_0..v_9 (v_9 the check character) and weights w_i = i + 1, a netno is valid
iff  S = Σ w_i·v_i ≡ 0 (mod 31). Because 31 is prime, Z/31 is a field, and:

* Single substitution at position i (v_i → v_i' ≠ v_i): S changes by w_i·(v_i' − v_i). Here
  1 ≤ w_i ≤ 10 < 31 and 0 < |v_i' − v_i| ≤ 30 < 31, so both factors are non-zero mod 31 and, a field
  having no zero divisors, so is their product: the check fails. Every single substitution is caught.
* Adjacent transposition of positions i, i+1 (v_i ≠ v_{i+1}): S changes by
  w_i·v_{i+1} + w_{i+1}·v_i − w_i·v_i − w_{i+1}·v_{i+1} = (w_{i+1} − w_i)(v_i − v_{i+1}) = v_i − v_{i+1},
  non-zero mod 31. Every adjacent transposition is caught — including one with the check character,
  since it is weighted like the rest. (Any transposition of positions i < j is caught too: the change is
  (j − i)(v_i − v_j) with 0 < j − i ≤ 9.)

Neither holds for a composite modulus (e.g. 32: w·Δ ≡ 0 mod 32 for w = 16, Δ = 2), which is why the
alphabet size is prime. Both properties are tested exhaustively over random samples.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Callable
from typing import Final

from netid.credentials._b64 import b64url_encode
from netid.errors import NetnoError, UsageError

__all__ = [
    "ALPHABET",
    "NETNO_LENGTH",
    "check_char",
    "format_netno",
    "generate_netno",
    "is_valid_netno",
    "pairwise_subject",
    "parse_netno",
]

#: The 31 symbols of a netno, in value order.
ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRTUVWXY"
#: Characters in a netno, the check character included.
NETNO_LENGTH: Final = 10
_P: Final = len(ALPHABET)  # 31, prime
assert _P == 31

_VALUE: Final[dict[str, int]] = {c: i for i, c in enumerate(ALPHABET)}
# Look-alikes read as the symbol they are mistaken for (after upper-casing).
_FOLD: Final[dict[str, int]] = {**_VALUE, "O": 0, "I": 1, "L": 1, "Z": 2, "S": 5}
_IGNORED: Final = frozenset(" -\t")
# The largest multiple of 31 that fits a byte: bytes at or above it are rejected, so b % 31 is uniform.
_BYTE_LIMIT: Final = 256 - 256 % _P  # 248
_INV_W9: Final = pow(NETNO_LENGTH, -1, _P)  # inverse of the check character's weight (10) mod 31


def _weighted_sum(values: list[int]) -> int:
    return sum((i + 1) * v for i, v in enumerate(values)) % _P


def check_char(body: str) -> str:
    """The check character for 9 canonical body characters."""
    if len(body) != NETNO_LENGTH - 1 or any(c not in _VALUE for c in body):
        raise UsageError("check_char needs 9 canonical netno characters")
    s = _weighted_sum([_VALUE[c] for c in body])
    # Solve s + 10·v ≡ 0 (mod 31) for v.
    return ALPHABET[(-s * _INV_W9) % _P]


def generate_netno(rng: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """A fresh random netno (canonical form): 9 uniform symbols by rejection sampling, plus the check."""
    body: list[str] = []
    while len(body) < NETNO_LENGTH - 1:
        for b in rng(16):
            if b < _BYTE_LIMIT:
                body.append(ALPHABET[b % _P])
                if len(body) == NETNO_LENGTH - 1:
                    break
    text = "".join(body)
    return text + check_char(text)


def parse_netno(text: str) -> str:
    """Parse user input into a canonical netno; :class:`NetnoError` says precisely what is wrong.

    Folds full-width forms and case, drops spaces and hyphens, reads ``O``→``0``, ``I``/``L``→``1``,
    ``Z``→``2``, ``S``→``5``, then checks the length and the check character.
    """
    if not isinstance(text, str):
        raise NetnoError("a netno must be a string")
    # NFKC folds full-width input (ＡＢＣ１２３, common with CJK input methods) to ASCII.
    folded = unicodedata.normalize("NFKC", text)
    values: list[int] = []
    for pos, ch in enumerate(folded):
        if ch in _IGNORED:
            continue
        # Upper-case ASCII only: str.upper maps e.g. 'ß' to 'SS' and 'ı' to 'I', which must not pass.
        v = _FOLD.get(ch.upper()) if ch.isascii() else None
        if v is None:
            raise NetnoError(f"character at position {pos + 1} is not allowed in a netno")
        values.append(v)
    if len(values) != NETNO_LENGTH:
        raise NetnoError(f"a netno has {NETNO_LENGTH} characters, got {len(values)}")
    if _weighted_sum(values) != 0:
        raise NetnoError("check character does not match (mistyped netno)")
    return "".join(ALPHABET[v] for v in values)


def is_valid_netno(text: str) -> bool:
    """True iff :func:`parse_netno` accepts ``text``."""
    try:
        parse_netno(text)
    except NetnoError:
        return False
    return True


def format_netno(n: str) -> str:
    """Display form, grouped in fives: ``"ABCDE-FGHJK"``."""
    canonical = parse_netno(n)
    return f"{canonical[:5]}-{canonical[5:]}"


_PAIRWISE_DOMAIN: Final = b"netid/pairwise-subject/v1\x00"
_MIN_KEY_BYTES: Final = 16


def pairwise_subject(netno: str, sector: str, key: bytes) -> str:
    """The pairwise subject of ``netno`` at RP ``sector``: base64url(HMAC-SHA256(key, netno | sector)).

    The concatenation is unambiguous — a domain label, then each field as a 4-byte big-endian length and
    its UTF-8 bytes — so no (netno, sector) pair can collide with another by shifting bytes across the
    boundary. The full 256-bit MAC is kept (43 characters). ``netno`` is canonicalized first, so any
    accepted spelling gives the same subject.
    """
    canonical = parse_netno(netno)
    if not isinstance(sector, str) or not sector:
        raise UsageError("sector must be a non-empty string")
    if not isinstance(key, bytes | bytearray) or len(key) < _MIN_KEY_BYTES:
        raise UsageError(f"pairwise key must be at least {_MIN_KEY_BYTES} bytes")
    msg = bytearray(_PAIRWISE_DOMAIN)
    for part in (canonical.encode("ascii"), sector.encode("utf-8")):
        msg += len(part).to_bytes(4, "big")
        msg += part
    return b64url_encode(hmac.new(bytes(key), bytes(msg), hashlib.sha256).digest())
