"""Shared keys, claims and builders for the SD-JWT tests."""

from typing import Any

import pytest

from netid.credentials.jose import generate_signing_key, public_jwk, sign_jws, verifying_key
from netid.credentials.sdjwt.codec import Disclosure, sd_hash
from netid.credentials.sdjwt.issue import SD, SDItem, issue_sd_jwt
from netid.credentials.sdjwt.present import present_sd_jwt
from netid.credentials.sdjwt.verify import VerifiedSdJwt, verify_sd_jwt
from netid.errors import VERIFICATION_CODES, ParseError, VerificationError

ISSUER = generate_signing_key("EdDSA")
ISSUER_VK = verifying_key(ISSUER)
HOLDER = generate_signing_key("ES256")
FOREIGN = generate_signing_key("ES256")
NOW = 1_800_000_000
AUD = "x509_san_dns:shop.example"
NONCE = "n-0S6_WzA2Mj"


def claims(**extra: Any) -> dict[str, Any]:
    """A netcert-like claim set: 9 disclosures, one nested three deep, two array elements."""
    base: dict[str, Any] = {
        "iss": "https://issuer.netid.example",
        "vct": "urn:netid:netcert:1",
        "iat": NOW - 3600,
        "exp": NOW + 86400,
        "cnf": {"jwk": public_jwk(HOLDER)},
        "age_over_18": SD(True),
        "age_over_60": SD(False),
        "name": SD("张三"),
        "region": SD({"province": SD("44"), "city": SD("4403"), "county": SD("440305")}),
        "nationalities": [SDItem("CN"), "XX", SDItem("HK")],
    }
    base.update(extra)
    return base


def issue(c: dict[str, Any] | None = None, **kw: Any) -> str:
    return issue_sd_jwt(claims() if c is None else c, ISSUER, **kw).serialized


def present(serialized: str, disclose: Any = lambda d: True, **kw: Any) -> str:
    args: dict[str, Any] = {"holder_key": HOLDER, "aud": AUD, "nonce": NONCE, "iat": NOW}
    args.update(kw)
    return present_sd_jwt(serialized, disclose=disclose, **args)


def verify(presentation: str, **kw: Any) -> VerifiedSdJwt:
    args: dict[str, Any] = {"issuer_key": lambda h, p: ISSUER_VK, "audience": AUD, "nonce": NONCE, "now": NOW}
    args.update(kw)
    return verify_sd_jwt(presentation, **args)


def bind(without_kb: str, *, key: Any = HOLDER, typ: str = "kb+jwt", **claims_over: Any) -> str:
    """Append a hand-made KB-JWT (defaults correct; override any claim, None deletes it)."""
    payload: dict[str, Any] = {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash(without_kb)}
    for k, v in claims_over.items():
        if v is None:
            payload.pop(k, None)
        else:
            payload[k] = v
    return without_kb + sign_jws(payload, key, typ=typ)


def build(payload: dict[str, Any], disclosures: list[Disclosure], *, typ: str = "dc+sd-jwt") -> str:
    """A hand-made issuer-signed SD-JWT with KB: for structures issue_sd_jwt refuses to make."""
    body = {"iss": "https://issuer.netid.example", "cnf": {"jwk": public_jwk(HOLDER)}, **payload}
    jwt = sign_jws(body, ISSUER, typ=typ)
    return bind("~".join([jwt, *(d.encoded for d in disclosures), ""]))


#: Exception types that only a bug raises. A VerificationError translated from one of them means a
#: catch-all fired somewhere: the oracle below fails the property tests on it.
BUG_TYPES = (TypeError, KeyError, IndexError, AttributeError, AssertionError, NameError, RecursionError,
             ZeroDivisionError, NotImplementedError)  # fmt: skip


def assert_deliberate(exc: VerificationError) -> None:
    """The property tests' oracle: ``exc`` was raised on purpose, not by a fallback around a crash.

    Its code is a documented one; what it was raised from (``__cause__``) or while handling
    (``__context__``) is nothing, or a :class:`ParseError` — the one type NetID's parsers of untrusted
    text raise, itself translated only from the third-party parsers' own ``ValueError`` family (binascii,
    pybase64, orjson, codecs). A bare ``TypeError``, ``KeyError``, … anywhere in that chain is a bug that
    some ``except`` turned into a code. (Only for callers whose key resolver does not raise: what a
    resolver raises is the caller's business and is kept as the cause of ``issuer_key``.)
    """
    assert exc.code in VERIFICATION_CODES, exc.code
    for link in {id(e): e for e in (exc.__cause__, exc.__context__) if e is not None}.values():
        assert isinstance(link, ParseError), (
            f"{exc.code!r} was translated from {type(link).__name__}: {link!r} — a fallback fired"
        )
        for inner in (link.__cause__, link.__context__):
            assert inner is None or (isinstance(inner, ValueError) and not isinstance(inner, BUG_TYPES)), (
                f"a ParseError was translated from {type(inner).__name__}: {inner!r}"
            )


def code_of(presentation: str, **kw: Any) -> str:
    """The code :func:`verify` refuses ``presentation`` with (checked to be raised on purpose)."""
    with pytest.raises(VerificationError) as exc:
        verify(presentation, **kw)
    assert_deliberate(exc.value)
    return exc.value.code


def without_kb(presentation: str) -> str:
    """``presentation`` with its KB-JWT cut off (the trailing ``~`` kept)."""
    return presentation[: presentation.rindex("~") + 1]
