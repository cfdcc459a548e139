"""SD-JWT codec: base64url, disclosures (RFC 9901 vectors), digests, the ~ serialization."""

import base64
import hashlib
import json

import pytest

from netid.credentials.sdjwt.codec import (
    Disclosure,
    SdJwtParts,
    b64url_decode,
    b64url_encode,
    digest,
    join_sd_jwt,
    sd_hash,
    split_sd_jwt,
)
from netid.errors import ParseError, UsageError
from tests.vectors import load_vectors

RFC9901 = load_vectors("rfc9901")


@pytest.mark.parametrize("vector", RFC9901["disclosures"], ids=lambda v: v["sha256_digest"][:8])
def test_rfc9901_disclosures(vector):
    d = Disclosure.parse(vector["disclosure"])
    decoded = vector["decoded"]
    if len(decoded) == 3:
        assert (d.salt, d.name, d.value) == tuple(decoded)
        assert not d.is_array_element
    else:
        assert (d.salt, d.name, d.value) == (decoded[0], None, decoded[1])
        assert d.is_array_element
    assert d.encoded == vector["disclosure"]
    assert d.digest == digest(vector["disclosure"]) == vector["sha256_digest"]


def test_rfc9901_reserialisations_hash_differently():
    # Same claim, other JSON: a verifier hashes what it received, never a re-encoding.
    same = [v for v in RFC9901["disclosures"] if v["decoded"][1:] == ["family_name", "Möbius"]]
    assert len(same) == 3
    assert len({digest(v["disclosure"]) for v in same}) == 3


@pytest.mark.parametrize("data", [b"", b"\x00", b"ab", b"abc", bytes(range(256))])
def test_b64url_round_trip(data):
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert b64url_decode(text) == data


@pytest.mark.parametrize("text", ["YQ==", "YQ=", "a+b/", "a b", "Y", "YWJjZ", "YR", "YWK", "ä", "YQ\n"])
def test_b64url_decode_rejects(text):
    with pytest.raises(ParseError):
        b64url_decode(text)


def test_disclosure_create():
    d = Disclosure.create("age_over_18", True, rng=bytes)
    assert d.salt == b64url_encode(bytes(16))
    assert json.loads(b64url_decode(d.encoded)) == [d.salt, "age_over_18", True]
    assert d.digest == b64url_encode(hashlib.sha256(d.encoded.encode()).digest())
    assert Disclosure.parse(d.encoded) == d
    e = Disclosure.create(None, {"a": [1, 2]})
    assert e.is_array_element and len(b64url_decode(e.salt)) == 16
    assert Disclosure.parse(e.encoded) == e
    assert (
        Disclosure.create("n", "名字", salt="s").encoded == Disclosure.create("n", "名字", salt="s").encoded
    )
    for name in ("_sd", "..."):
        with pytest.raises(UsageError):
            Disclosure.create(name, 1)
    with pytest.raises(UsageError):
        Disclosure.create("x", object())


def _enc(value: object) -> str:
    return b64url_encode(json.dumps(value).encode())


@pytest.mark.parametrize(
    "encoded",
    [
        "not base64!",
        "WyJhIiwiYiJd=",
        b64url_encode(b"not json"),
        b64url_encode(b"\xff\xfe"),
        _enc({"salt": "s"}),
        _enc("string"),
        _enc([]),
        _enc(["salt"]),
        _enc(["salt", "name", "value", "extra"]),
        _enc([1, "name", "value"]),
        _enc([None, "value"]),
        _enc(["salt", 5, "value"]),
        _enc(["salt", None, "value"]),
        _enc(["salt", "_sd", "value"]),
        _enc(["salt", "...", "value"]),
    ],
)
def test_disclosure_parse_rejects(encoded):
    with pytest.raises(ParseError):
        Disclosure.parse(encoded)


def test_split_and_join():
    assert split_sd_jwt("a.b.c~") == SdJwtParts("a.b.c", (), None)
    assert split_sd_jwt("a.b.c~d1~d2~") == SdJwtParts("a.b.c", ("d1", "d2"), None)
    assert split_sd_jwt("a.b.c~d1~k.b.j") == SdJwtParts("a.b.c", ("d1",), "k.b.j")
    assert split_sd_jwt("a.b.c~k.b.j") == SdJwtParts("a.b.c", (), "k.b.j")
    for s in ("a.b.c~", "a.b.c~d1~d2~", "a.b.c~d1~k.b.j"):
        assert join_sd_jwt(split_sd_jwt(s)) == s


@pytest.mark.parametrize("bad", ["", "a.b.c", "~", "~d~", "a.b.c~~", "a.b.c~d1~~k", "a.b.c~é~"])
def test_split_rejects(bad):
    with pytest.raises(ParseError):
        split_sd_jwt(bad)


def test_sd_hash():
    s = "a.b.c~d1~"
    assert sd_hash(s) == b64url_encode(hashlib.sha256(s.encode()).digest())
    with pytest.raises(ParseError):
        sd_hash("é~")
