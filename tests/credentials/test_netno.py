"""Network numbers: alphabet, check character, parsing, generation, pairwise subjects."""

import itertools
import random

import pytest

from netid.credentials._b64 import b64url_decode
from netid.credentials.netno import (
    ALPHABET,
    NETNO_LENGTH,
    check_char,
    format_netno,
    generate_netno,
    is_valid_netno,
    pairwise_subject,
    parse_netno,
)
from netid.errors import NetnoError, UsageError

KEY = bytes(range(32))


def _sample(n: int, seed: int = 1) -> list[str]:
    r = random.Random(seed)
    return [generate_netno(r.randbytes) for _ in range(n)]


def test_alphabet_has_no_look_alikes_and_prime_size():
    assert len(ALPHABET) == len(set(ALPHABET)) == 31
    assert all(p % d for d in range(2, 31) for p in [len(ALPHABET)] if d < p)
    for ch in "OILZS":
        assert ch not in ALPHABET
    assert "".join(sorted(ALPHABET)) == ALPHABET


def test_generate_is_canonical_and_valid():
    for n in _sample(200):
        assert len(n) == NETNO_LENGTH
        assert set(n) <= set(ALPHABET)
        assert parse_netno(n) == n
        assert n[-1] == check_char(n[:-1])


def test_generate_rejection_sampling_skips_biased_bytes():
    # Bytes >= 248 would bias b % 31 towards small values; they must be skipped, not reduced.
    stream = iter([255, 248, 250] + list(range(9)) + [0] * 100)

    def rng(n: int) -> bytes:
        return bytes(next(stream) for _ in range(n))

    assert generate_netno(rng)[:9] == ALPHABET[:9]


def test_generate_is_roughly_uniform():
    counts = dict.fromkeys(ALPHABET, 0)
    for n in _sample(2000, seed=7):
        for ch in n[:-1]:
            counts[ch] += 1
    expected = 2000 * 9 / 31
    assert all(abs(c - expected) < 0.3 * expected for c in counts.values())


def test_parse_folds_case_separators_and_look_alikes():
    n = _sample(1)[0]
    assert parse_netno(n.lower()) == n
    assert parse_netno(format_netno(n)) == n
    assert parse_netno(" " + n[:3] + " - " + n[3:] + "\t") == n
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in n)
    assert parse_netno(fullwidth) == n
    # Build a netno containing 0, 1, 2, 5 and type it with O, I/L, Z, S.
    body = "0125ABCD0"
    canonical = body + check_char(body)
    assert parse_netno("OIZSabcdo" + canonical[-1]) == canonical
    assert parse_netno("olzsABCDO" + canonical[-1].lower()) == canonical


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "got 0"),
        ("ABCDE", "got 5"),
        ("ABCDEFGHJKM", "got 11"),
        ("ABCDE!GHJK", "position 6"),
        ("ABCDEFGHJ\u00df", "position 10"),  # 'ß'.upper() == 'SS' must not sneak in
        ("ABCDEFGHJ\u0131", "position 10"),  # dotless i
    ],
)
def test_parse_errors_are_precise(text, reason):
    with pytest.raises(NetnoError, match=reason):
        parse_netno(text)
    assert not is_valid_netno(text)


def test_parse_rejects_check_mismatch():
    n = _sample(1)[0]
    wrong = n[:-1] + next(c for c in ALPHABET if c != n[-1])
    with pytest.raises(NetnoError, match="check character"):
        parse_netno(wrong)
    with pytest.raises(NetnoError):
        parse_netno(None)  # type: ignore[arg-type]


def test_every_single_substitution_is_detected():
    for n in _sample(150, seed=3):
        for i, other in itertools.product(range(NETNO_LENGTH), ALPHABET):
            if other != n[i]:
                assert not is_valid_netno(n[:i] + other + n[i + 1 :]), (n, i, other)


def test_every_adjacent_transposition_is_detected():
    for n in _sample(1000, seed=4):
        for i in range(NETNO_LENGTH - 1):
            if n[i] != n[i + 1]:
                assert not is_valid_netno(n[:i] + n[i + 1] + n[i] + n[i + 2 :]), (n, i)


def test_every_transposition_is_detected():
    for n in _sample(300, seed=5):
        for i, j in itertools.combinations(range(NETNO_LENGTH), 2):
            if n[i] != n[j]:
                chars = list(n)
                chars[i], chars[j] = chars[j], chars[i]
                assert not is_valid_netno("".join(chars))


def test_check_char_argument_checks():
    for bad in ("ABC", "ABCDEFGHO", "abcdefghj"):
        with pytest.raises(UsageError):
            check_char(bad)


def test_format():
    n = _sample(1)[0]
    assert format_netno(n) == f"{n[:5]}-{n[5:]}"
    assert format_netno(n.lower()) == format_netno(n)


def test_pairwise_subject():
    a, b = _sample(2)
    sub = pairwise_subject(a, "shop.example", KEY)
    assert len(b64url_decode(sub)) == 32  # full 256-bit HMAC, >= 128 bits required
    assert pairwise_subject(a.lower(), "shop.example", KEY) == sub  # canonicalized first
    assert pairwise_subject(format_netno(a), "shop.example", KEY) == sub
    assert pairwise_subject(a, "bank.example", KEY) != sub
    assert pairwise_subject(b, "shop.example", KEY) != sub
    assert pairwise_subject(a, "shop.example", bytes(32)) != sub
    assert pairwise_subject(a, "银行", KEY) != pairwise_subject(a, "银", KEY)


def test_pairwise_subject_argument_checks():
    n = _sample(1)[0]
    with pytest.raises(UsageError):
        pairwise_subject(n, "", KEY)
    with pytest.raises(UsageError):
        pairwise_subject(n, "s", b"short")
    with pytest.raises(NetnoError):
        pairwise_subject("ABCDEFGHJK0", "s", KEY)
