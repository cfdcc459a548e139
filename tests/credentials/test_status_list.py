"""Token Status List: packing, lst encoding (draft vectors), zip-bomb limits, the signed token."""

import zlib
from collections.abc import Callable

import pytest

from netid.credentials.jose import generate_signing_key, sign_jws, verifying_key
from netid.credentials.sdjwt.codec import b64url_encode
from netid.credentials.status_list import (
    INVALID,
    SUSPENDED,
    VALID,
    StatusList,
    parse_status_list_token,
)
from netid.errors import ParseError, UsageError, VerificationError
from netid.issuance import IssuerKey, allocate_indices, status_claim, status_list_token
from tests.vectors import load_vectors

VECTORS = load_vectors("status-list")["lists"]
KEY = generate_signing_key("EdDSA")
STATUS_KEY = IssuerKey("s1", "status_list", KEY)
URI = "https://issuer.netid.example/status/1"
NOW = 1_800_000_000


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"bits{v['bits']}")
def test_draft_vectors_decode(vector):
    lst = StatusList.decode(vector["lst"], vector["bits"])
    assert lst.packed().hex() == vector["bytes_hex"]
    assert lst.statuses()[: len(vector["statuses"])] == vector["statuses"]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: f"bits{v['bits']}")
def test_draft_vectors_encode_round_trip(vector):
    lst = StatusList(vector["bits"], vector["statuses"])
    assert lst.packed().hex() == vector["bytes_hex"]
    again = StatusList.decode(lst.encode_lst(), vector["bits"])
    assert again == lst


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_get_set(bits):
    lst = StatusList(bits, 100)
    assert len(lst) >= 100 and all(s == VALID for s in lst.statuses())
    top = (1 << bits) - 1
    lst.set(0, INVALID)
    lst.set(37, top)
    lst.set(38, SUSPENDED if bits > 1 else INVALID)
    assert lst.get(0) == INVALID and lst.get(37) == top
    assert lst.get(36) == VALID and lst.get(39) == VALID
    lst.set(37, VALID)
    assert lst.get(37) == VALID
    with pytest.raises(UsageError):
        lst.set(1, top + 1)
    with pytest.raises(UsageError):
        lst.set(1, -1)
    with pytest.raises(IndexError):
        lst.get(len(lst))
    with pytest.raises(IndexError):
        lst.get(-1)
    assert StatusList.decode(lst.encode_lst(), bits) == lst


def test_constructor_checks():
    for bits in (0, 3, 16):
        with pytest.raises(UsageError):
            StatusList(bits)
    with pytest.raises(UsageError):
        StatusList(1, -1)
    assert StatusList(8, [1, 2, 255]).statuses() == [1, 2, 255]


def test_decode_stops_zip_bombs():
    bomb = b64url_encode(zlib.compress(bytes(50_000_000), 9))  # 50 MB of zeros in ~50 kB
    assert len(bomb) < 100_000
    with pytest.raises(ParseError, match="larger"):
        StatusList.decode(bomb, 1, max_size=1000)
    with pytest.raises(ParseError, match="larger"):
        StatusList.decode(bomb, 1)  # default limit: 2^24 entries = 2 MiB at 1 bit
    ok = b64url_encode(zlib.compress(bytes(125), 9))
    assert len(StatusList.decode(ok, 1, max_size=1000)) == 1000


@pytest.mark.parametrize(
    "lst",
    [
        "not base64!",
        b64url_encode(b"not zlib"),
        b64url_encode(zlib.compress(b"abc")[:-3]),  # truncated
        b64url_encode(zlib.compress(b"abc") + b"junk"),  # trailing bytes
        b64url_encode(zlib.compress(b"abc")) + "=",
    ],
)
def test_decode_rejects(lst):
    with pytest.raises(ParseError):
        StatusList.decode(lst, 1)


def test_decode_rejects_bad_bits():
    with pytest.raises(ParseError):
        StatusList.decode(VECTORS[0]["lst"], 3)


def test_status_list_token_needs_the_status_list_key():
    with pytest.raises(UsageError):
        status_list_token(StatusList(1, 8), IssuerKey("n1", "netcert", KEY), sub=URI, iat=NOW)


def test_status_claim():
    assert status_claim(URI, 7) == {"status_list": {"idx": 7, "uri": URI}}
    with pytest.raises(UsageError):
        status_claim(URI, -1)


def _token(**kw):
    lst = StatusList(2, [VALID, INVALID, SUSPENDED])
    args = {"sub": URI, "iat": NOW - 10, "exp": NOW + 3600, "ttl": 300}
    args.update(kw)
    return lst, status_list_token(lst, STATUS_KEY, **args)


@pytest.mark.parametrize("key", [KEY.public_key(), verifying_key(KEY)])
def test_token_round_trip(key):
    lst, token = _token()
    got = parse_status_list_token(token, key, now=NOW, expected_sub=URI)
    assert got == lst
    assert got.get(1) == INVALID and got.get(2) == SUSPENDED


def _unavailable(token, key=None, **kw):
    args = {"now": NOW, "expected_sub": URI}
    args.update(kw)
    with pytest.raises(VerificationError) as exc:
        parse_status_list_token(token, key or KEY.public_key(), **args)
    assert exc.value.code == "status_unavailable"


def test_token_failures():
    _, token = _token()
    _unavailable(token, key=generate_signing_key("EdDSA").public_key())  # wrong key
    _unavailable(token, key=generate_signing_key("ES256").public_key())  # other algorithm
    _unavailable(token, expected_sub=URI + "x")  # another list
    _unavailable(token, now=NOW + 3600 + 60)  # expired
    _unavailable(_token(iat=NOW + 600)[1])  # issued in the future
    _unavailable(token[:-4] + "AAAA")  # bad signature
    _unavailable("garbage")
    payload = {"sub": URI, "iat": NOW, "status_list": {"bits": 1, "lst": VECTORS[0]["lst"]}}
    _unavailable(sign_jws(payload, KEY, typ="jwt"))  # wrong typ
    bad_bits = {**payload, "status_list": {"bits": 3, "lst": VECTORS[0]["lst"]}}
    _unavailable(sign_jws(bad_bits, KEY, typ="statuslist+jwt"))
    no_list = {"sub": URI, "iat": NOW}
    _unavailable(sign_jws(no_list, KEY, typ="statuslist+jwt"))
    bomb = b64url_encode(zlib.compress(bytes(10_000_000), 9))
    _unavailable(sign_jws({**payload, "status_list": {"bits": 1, "lst": bomb}}, KEY, typ="statuslist+jwt"))
    h = b64url_encode(b'{"alg":"none","typ":"statuslist+jwt"}')
    p = b64url_encode(b'{"sub":"' + URI.encode() + b'","iat":1}')
    _unavailable(f"{h}.{p}.")
    # Without exp the token is accepted (ttl/caching is the caller's policy).
    assert parse_status_list_token(_token(exp=None)[1], KEY.public_key(), now=NOW, expected_sub=URI)


# --- random index allocation (review finding A3) ------------------------------------------------------


def _det_rng(seed: int) -> Callable[[int], bytes]:
    import random

    return random.Random(seed).randbytes


def test_allocate_indices_random_distinct_unused() -> None:
    used = {0, 1, 2, 3}
    out = allocate_indices(2**16, used, 50, _det_rng(1))
    assert len(set(out)) == 50 and not used & set(out)
    assert all(0 <= i < 2**16 for i in out)
    assert out != sorted(out)  # not handed out in order
    assert max(out) - min(out) > 2**14  # spread over the list, not a contiguous run
    assert allocate_indices(2**16, used, 50, _det_rng(1)) == out  # deterministic for a seeded rng
    assert allocate_indices(16, set(), 0, _det_rng(1)) == []


def test_allocate_indices_is_uniform_enough() -> None:
    rng = _det_rng(2)
    counts = [0] * 8
    for _ in range(4000):
        counts[allocate_indices(8, set(), 1, rng)[0]] += 1
    assert all(400 < c < 600 for c in counts), counts


def test_allocate_indices_refuses_a_full_list() -> None:
    assert len(allocate_indices(100, set(range(40)), 10, _det_rng(3))) == 10  # exactly half: fine
    with pytest.raises(UsageError):
        allocate_indices(100, set(range(41)), 10, _det_rng(3))
    for size, count in [(0, 1), (2**32 + 1, 1), (10, -1)]:
        with pytest.raises(UsageError):
            allocate_indices(size, set(), count, _det_rng(3))
