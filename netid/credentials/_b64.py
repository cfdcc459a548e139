"""Strict unpadded base64url (RFC 7515 §2, RFC 4648 §5) — shared by the JOSE and SD-JWT codecs.

Decoding is *canonical*: padding, characters outside the URL-safe alphabet, impossible lengths and
non-zero unused trailing bits are all rejected. Without the last rule two different strings decode to the
same bytes, so a one-character edit of a signature segment could leave a token "valid" while its string
(and every hash over that string) changed — a malleability the verifier should not have to reason about.
"""

from __future__ import annotations

import binascii
from typing import Final

from netid.errors import ParseError

_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_VALUE: Final = {c: i for i, c in enumerate(_ALPHABET)}
# url-safe -> standard alphabet; the standard-only characters '+', '/' and any '=' become '!', which
# a2b_base64's strict mode rejects, so one C-level translate + decode validates the whole input.
_TO_STD: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_TO_URL: Final = bytes.maketrans(b"+/", b"-_")
_PAD: Final = (b"", None, b"==", b"=")  # indexed by len % 4; None marks an impossible length


def b64url_encode(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url text."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, what: str = "base64url") -> bytes:
    """Decode unpadded, canonical base64url ``text``; raise :class:`ParseError` naming ``what`` otherwise."""
    if not isinstance(text, str):
        raise ParseError(what, "not a string")
    pad = _PAD[len(text) & 3]
    if pad is None:
        raise ParseError(what, "impossible base64url length")
    try:
        data = binascii.a2b_base64(text.encode("ascii").translate(_TO_STD) + pad, strict_mode=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ParseError(what, "not base64url (bad character or padding)") from exc
    # The last character carries 4 (len % 4 == 2) or 2 (len % 4 == 3) unused bits that a canonical
    # encoder zeroes; without this check two strings would decode to the same bytes.
    if pad and _VALUE[text[-1]] & (0x0F if len(pad) == 2 else 0x03):
        raise ParseError(what, "non-canonical base64url (unused bits set)")
    return data
