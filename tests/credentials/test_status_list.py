"""Token Status List: packing, lst encoding (draft vectors), zip-bomb limits, the signed token."""

import json
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


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_a_list_without_a_size_is_empty(bits):
    lst = StatusList(bits)
    assert len(lst) == 0 and lst.packed() == b"" and lst == StatusList(bits, 0)
    with pytest.raises(IndexError):
        lst.get(0)


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
    assert status_claim(URI, 0) == {"status_list": {"idx": 0, "uri": URI}}
    for idx in (-1, True, 1.0, "7"):
        with pytest.raises(UsageError):
            status_claim(URI, idx)


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


# --- JSON types and headers ---------------------------------------------------------------------------


def _signed(payload, **header):
    """A status list token signed by KEY with the header given (typ statuslist+jwt unless overridden)."""
    h = {"alg": "EdDSA", "typ": "statuslist+jwt", **header}
    si = f"{b64url_encode(json.dumps(h).encode())}.{b64url_encode(json.dumps(payload).encode())}"
    return f"{si}.{b64url_encode(KEY.sign(si.encode()))}"


def _body(**over):
    payload = {"sub": URI, "iat": NOW, "status_list": {"bits": 1, "lst": VECTORS[0]["lst"]}}
    payload.update(over)
    return payload


def test_token_as_signed_here_parses():  # the positive control of the tests below
    assert parse_status_list_token(_signed(_body()), KEY.public_key(), now=NOW, expected_sub=URI)


@pytest.mark.parametrize("bits", [1.0, True, "1", None, [1]])
def test_bits_must_be_a_json_integer(bits):
    """``1.0 in {1, 2, 4, 8}`` is true in Python: the float once reached zlib and raised TypeError."""
    _unavailable(_signed(_body(status_list={"bits": bits, "lst": VECTORS[0]["lst"]})))
    with pytest.raises(ParseError):
        StatusList.decode(VECTORS[0]["lst"], bits)
    with pytest.raises(UsageError):
        StatusList(bits, 8)


def test_lst_must_be_a_string():
    _unavailable(_signed(_body(status_list={"bits": 1, "lst": [VECTORS[0]["lst"]]})))
    _unavailable(_signed(_body(status_list=[1, VECTORS[0]["lst"]])))


def test_crit_header_is_refused():
    _unavailable(_signed(_body(), crit=["exp"]))
    _unavailable(_signed(_body(), crit=[]))


@pytest.mark.parametrize("iat", [None, "1800000000", True, [NOW], {"t": NOW}])
def test_token_needs_a_numeric_iat(iat):
    payload = _body()
    if iat is None:
        del payload["iat"]
    else:
        payload["iat"] = iat
    _unavailable(_signed(payload))


def test_fractional_iat_and_exp_are_numbers():
    assert parse_status_list_token(_signed(_body(iat=NOW - 0.5, exp=NOW + 0.5)), KEY.public_key(), now=NOW,
                                   expected_sub=URI)  # fmt: skip
    _unavailable(_signed(_body(exp="tomorrow")))
    _unavailable(_signed(_body(exp=False)))


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (NOW - 60, True),  # iat = now + leeway: the last second a future iat is tolerated
        (NOW - 61, False),
        (NOW + 86_400, True),  # now - iat = max_age: the oldest accepted
        (NOW + 86_401, False),
    ],
)
def test_iat_boundaries(now, ok):
    token = _signed(_body())
    if ok:
        assert parse_status_list_token(token, KEY.public_key(), now=now, expected_sub=URI)
    else:
        _unavailable(token, now=now)


@pytest.mark.parametrize(("now", "ok"), [(NOW + 100 + 59, True), (NOW + 100 + 60, False)])
def test_exp_boundary(now, ok):
    token = _signed(_body(exp=NOW + 100))
    if ok:
        assert parse_status_list_token(token, KEY.public_key(), now=now, expected_sub=URI)
    else:
        _unavailable(token, now=now)


def test_caller_misuse_is_a_usage_error():
    token = _signed(_body())
    for kw in ({"now": "now"}, {"now": None}, {"leeway": -1}, {"leeway": 1.5}, {"max_size": None},
               {"max_size": 0}, {"expected_sub": None}, {"max_age": 0}, {"max_age": True}):  # fmt: skip
        args = {"now": NOW, "expected_sub": URI, **kw}
        with pytest.raises(UsageError):
            parse_status_list_token(token, KEY.public_key(), **args)


def test_the_smallest_sensible_arguments_are_accepted():
    token = _signed(_body())
    assert parse_status_list_token(token, KEY.public_key(), now=NOW + 0.5, expected_sub=URI)  # a float now
    assert parse_status_list_token(token, KEY.public_key(), now=NOW + 1, expected_sub=URI, max_age=1)
    _unavailable(token, now=NOW + 2, max_age=1)
    assert parse_status_list_token(token, KEY.public_key(), now=NOW, expected_sub=URI, leeway=0)
    assert len(parse_status_list_token(token, KEY.public_key(), now=NOW, expected_sub=URI, max_size=16)) == 16
    _unavailable(token, max_size=8)  # (the limit is in whole bytes: 9..16 entries all allow two)
    _unavailable(token, max_size=1)  # a list of 16 entries is larger than 1: refused, not misuse


# --- allocate_indices: its duplicate and rejection paths ----------------------------------------------


def _scripted_rng(draws: list[int]) -> Callable[[int], bytes]:
    """An rng that returns the given 32-bit draws in order (and fails the test if asked for more)."""
    it = iter(draws)

    def rng(n: int) -> bytes:
        assert n == 4
        return next(it).to_bytes(4, "big")

    return rng


def test_allocate_indices_never_hands_out_one_index_twice():
    # draws 5, 5, 7 (size 100): the second 5 must be skipped, not handed out again
    assert allocate_indices(100, set(), 2, _scripted_rng([5, 5, 7])) == [5, 7]
    # a draw equal to a used index is skipped too
    assert allocate_indices(100, {5}, 1, _scripted_rng([5, 105, 9])) == [9]


def test_allocate_indices_rejects_draws_that_would_bias_the_result():
    # size 3: 2^32 = 3 * 1431655765 + 1, so the one draw 2^32 - 1 (which is 0 mod 3) is refused and
    # redrawn; taking it would make index 0 a little likelier than 1 and 2
    limit = (2**32 // 3) * 3
    assert limit == 2**32 - 1
    assert allocate_indices(3, set(), 1, _scripted_rng([2**32 - 1, 1])) == [1]
    assert allocate_indices(3, set(), 1, _scripted_rng([limit - 1])) == [(limit - 1) % 3]


# --- edges mutation testing found untested -------------------------------------------------------------


def test_equality_needs_both_bits_and_entries():
    assert StatusList(1, [1, 0]) == StatusList(1, [1, 0])
    assert StatusList(1, [1, 0]) != StatusList(1, [0, 1])  # same bits, other entries
    assert StatusList(1, 8) != StatusList(2, 8)
    assert StatusList(1, 8) != "StatusList(bits=1, size=8)"


def test_booleans_are_not_indices_or_statuses():
    lst = StatusList(2, 8)
    with pytest.raises(IndexError):
        lst.get(True)
    with pytest.raises(UsageError):
        lst.set(1, True)
    with pytest.raises(IndexError):
        lst.set(False, 1)


def test_decode_inflates_at_most_the_limit():
    """A zip bomb costs at most max_size entries of memory, not what the stream would inflate to."""
    import tracemalloc

    bomb = b64url_encode(zlib.compress(bytes(20_000_000), 9))
    tracemalloc.start()
    try:
        with pytest.raises(ParseError):
            StatusList.decode(bomb, 1, max_size=8 * 1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, peak


def test_decode_refuses_one_byte_over_the_limit():
    exact = b64url_encode(zlib.compress(bytes(2)))
    assert len(StatusList.decode(exact, 8, max_size=2)) == 2
    with pytest.raises(ParseError):
        StatusList.decode(exact, 8, max_size=1)


def test_allocate_indices_size_and_count_boundaries():
    assert allocate_indices(1, set(), 0, _scripted_rng([])) == []  # the smallest list
    assert allocate_indices(2, set(), 1, _scripted_rng([3])) == [1]
    assert allocate_indices(2**32, set(), 1, _scripted_rng([7])) == [7]  # the largest: 32-bit draws
    for size, count in [(0, 0), (2**32 + 1, 0), (True, 0), (8.0, 1), (8, True), (8, 1.0), (8, -1)]:
        with pytest.raises(UsageError):
            allocate_indices(size, set(), count, _scripted_rng([]))
