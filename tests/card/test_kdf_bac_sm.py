"""KDF, BAC and 3DES/AES secure messaging against ICAO 9303-11 Appendix D, plus hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netid.card import tlv
from netid.card.apdu import CommandAPDU, ResponseAPDU
from netid.card.icao.bac import BacChip, BacTerminal
from netid.card.icao.kdf import adjust_des_parity, bac_key_seed, bac_keys, kdf
from netid.card.icao.sm import SecureMessaging, pad, retail_mac, tdes_cbc, unpad
from netid.errors import AccessControlError, ParseError, SecureMessagingError
from tests.card.simcards import sequence_rng
from tests.vectors import h, load_vectors

V = load_vectors("icao9303-11")
BAC = V["bac"]
SM3 = V["secure_messaging_3des"]


def test_bac_key_derivation_vector() -> None:
    assert bac_key_seed(BAC["mrz_information"]) == h(BAC["k_seed"])
    assert bac_keys(BAC["mrz_information"]) == (h(BAC["k_enc"]), h(BAC["k_mac"]))


def test_session_keys_from_vector_seed() -> None:
    seed = bytes(a ^ b for a, b in zip(h(BAC["k_ifd"]), h(BAC["k_ic"]), strict=True))
    assert kdf(seed, 1, "3DES") == h(BAC["ks_enc"])
    assert kdf(seed, 2, "3DES") == h(BAC["ks_mac"])


@given(st.binary(min_size=1, max_size=32))
def test_parity_adjust_gives_odd_parity_and_keeps_high_bits(key: bytes) -> None:
    adjusted = adjust_des_parity(key)
    assert all(bin(b).count("1") % 2 == 1 for b in adjusted)
    assert [b & 0xFE for b in adjusted] == [b & 0xFE for b in key]


def test_bac_terminal_reproduces_appendix_d() -> None:
    terminal = BacTerminal(BAC["mrz_information"], rng=sequence_rng([h(BAC["rnd_ifd"]), h(BAC["k_ifd"])]))
    assert terminal.start().to_bytes() == bytes.fromhex("0084000008")
    ext_auth = terminal.receive(ResponseAPDU(h(BAC["rnd_ic"]), 0x90, 0x00))
    assert ext_auth is not None
    assert ext_auth.data == h(BAC["e_ifd"]) + h(BAC["m_ifd"])
    assert terminal.receive(ResponseAPDU(h(BAC["external_authenticate_response"]), 0x90, 0x00)) is None
    result = terminal.result
    assert (result.ks_enc, result.ks_mac, result.sm.ssc) == (
        h(BAC["ks_enc"]),
        h(BAC["ks_mac"]),
        h(BAC["ssc"]),
    )


def test_bac_chip_reproduces_appendix_d() -> None:
    chip = BacChip(BAC["mrz_information"], rng=sequence_rng([h(BAC["rnd_ic"]), h(BAC["k_ic"])]))
    assert chip.get_challenge(CommandAPDU(0, 0x84, 0, 0, ne=8)).data == h(BAC["rnd_ic"])
    answer = chip.external_authenticate(CommandAPDU(0, 0x82, 0, 0, h(BAC["e_ifd"]) + h(BAC["m_ifd"]), 40))
    assert answer.ok and answer.data == h(BAC["external_authenticate_response"])
    assert chip.result is not None and chip.result.sm.ssc == h(BAC["ssc"])


def test_bac_wrong_key_is_access_control_error() -> None:
    chip = BacChip(BAC["mrz_information"])
    terminal = BacTerminal("L898902C<369080619406230")  # wrong expiry check digit data
    command = terminal.start()
    response = chip.get_challenge(command)
    ext_auth = terminal.receive(response)
    assert ext_auth is not None
    refusal = chip.external_authenticate(ext_auth)
    assert refusal.sw == 0x6300
    with pytest.raises(AccessControlError, match="document number"):
        terminal.receive(refusal)


def _sm_pair() -> tuple[SecureMessaging, SecureMessaging]:
    args = (h(SM3["ks_enc"]), h(SM3["ks_mac"]), h(SM3["initial_ssc"]))
    return SecureMessaging.for_bac(*args), SecureMessaging.for_bac(*args)


def test_3des_secure_messaging_reproduces_d4_both_sides() -> None:
    terminal, chip = _sm_pair()
    for ex in SM3["exchanges"]:
        plain = CommandAPDU.from_bytes(h(ex["command"]))
        protected = terminal.wrap_command(plain)
        assert protected.to_bytes() == h(ex["protected_command"])
        assert chip.unwrap_command(protected.to_bytes()) == plain
        answer = ResponseAPDU.status(int(ex["sw"], 16), h(ex["response_data"]))
        assert chip.wrap_response(answer) == h(ex["protected_response"])
        assert terminal.unwrap_response(h(ex["protected_response"])) == answer


def test_tampered_response_mac_is_rejected() -> None:
    terminal, _ = _sm_pair()
    first = SM3["exchanges"][0]
    terminal.wrap_command(CommandAPDU.from_bytes(h(first["command"])))
    bad = bytearray(h(first["protected_response"]))
    bad[-3] ^= 1
    with pytest.raises(SecureMessagingError, match="MAC"):
        terminal.unwrap_response(bytes(bad))


def test_bare_success_status_is_refused_and_bare_error_passes() -> None:
    terminal, _ = _sm_pair()
    with pytest.raises(SecureMessagingError):
        terminal.unwrap_response(b"\x90\x00")
    assert terminal.unwrap_response(b"\x69\x88").sw == 0x6988


@pytest.mark.parametrize("ne", [None, 1, 0xDF, 256, 257, 4000, 65536])
@pytest.mark.parametrize("data_len", [0, 1, 15, 16, 255, 256, 3000])
@pytest.mark.parametrize("ins", [0xB0, 0xB1])
def test_aes_round_trip_short_and_extended(ne: int | None, data_len: int, ins: int) -> None:
    key_enc, key_mac = bytes(range(16)), bytes(range(16, 32))
    terminal, chip = SecureMessaging.for_pace(key_enc, key_mac), SecureMessaging.for_pace(key_enc, key_mac)
    command = CommandAPDU(0x00, ins, 0x01, 0x02, bytes(data_len), ne)
    protected = terminal.wrap_command(command)
    assert protected.needs_extended == (command.needs_extended or len(protected.data) > 255)
    assert chip.unwrap_command(protected.to_bytes()) == command
    answer = ResponseAPDU(b"\xab" * data_len, 0x62, 0x82)
    assert terminal.unwrap_response(chip.wrap_response(answer)) == answer


def test_padding_round_trip_and_rejection() -> None:
    for block in (8, 16):
        for n in range(40):
            assert unpad(pad(bytes(n), block), block) == bytes(n)
        with pytest.raises(SecureMessagingError):
            unpad(bytes(16), block)


def test_3des_padding_has_at_most_7_zeros() -> None:
    too_long = b"\x01\x80" + bytes(14)  # 80 then 14 zeros: possible only with 16-byte blocks
    assert unpad(too_long, 16) == b"\x01"
    with pytest.raises(SecureMessagingError):
        unpad(too_long, 8)
    # through a BAC session: a correctly MACed cryptogram whose plaintext carries that padding
    ks_enc, ks_mac, ssc = bytes(range(16)), bytes(range(16, 32)), 7
    terminal = SecureMessaging(ks_enc, ks_mac, ssc, "3DES")
    do87 = tlv.encode(0x87, b"\x01" + tdes_cbc(ks_enc, too_long))
    do99 = tlv.encode(0x99, b"\x90\x00")
    mac = retail_mac(ks_mac, pad((ssc + 1).to_bytes(8, "big") + do87 + do99, 8))
    with pytest.raises(SecureMessagingError, match="padding"):
        terminal.unwrap_response(do87 + do99 + tlv.encode(0x8E, mac) + b"\x90\x00")


@settings(max_examples=120)
@given(st.binary(max_size=300))
def test_unwrap_response_on_random_bytes_raises_only_sm_or_parse_errors(raw: bytes) -> None:
    terminal, _ = _sm_pair()
    with contextlib.suppress(SecureMessagingError, ParseError):
        terminal.unwrap_response(raw)


@settings(max_examples=120)
@given(st.binary(max_size=300))
def test_unwrap_command_on_random_bytes_raises_only_sm_or_parse_errors(raw: bytes) -> None:
    _, chip = _sm_pair()
    with contextlib.suppress(SecureMessagingError, ParseError):
        chip.unwrap_command(raw)


@settings(max_examples=80)
@given(st.data())
def test_unwrap_response_on_mutated_valid_answers(data: st.DataObject) -> None:
    """Structurally plausible garbage: valid SM answers with bytes flipped, cut or appended."""
    key_enc, key_mac = bytes(16), bytes(range(16))
    terminal, chip = SecureMessaging.for_pace(key_enc, key_mac), SecureMessaging.for_pace(key_enc, key_mac)
    chip.unwrap_command(terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=20)).to_bytes())
    raw = bytearray(chip.wrap_response(ResponseAPDU(bytes(20), 0x90, 0x00)))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(raw)))
    with contextlib.suppress(SecureMessagingError, ParseError):
        terminal.unwrap_response(bytes(raw[:cut]))


# --- AES secure messaging against an independent implementation (OpenPACE) -------------------------------

AES_SM = load_vectors("icao9303-11-aes-sm")


def test_aes_sm_terminal_matches_openpace() -> None:
    terminal = SecureMessaging.for_pace(h(AES_SM["ks_enc"]), h(AES_SM["ks_mac"]))
    for ex in AES_SM["exchanges"]:
        wrapped = terminal.wrap_command(CommandAPDU.from_bytes(h(ex["command"])))
        assert wrapped.to_bytes() == h(ex["protected_command"])
        answer = terminal.unwrap_response(h(ex["protected_response"]))
        assert answer.data == h(ex["response_data"]) and answer.sw == int(ex["sw"], 16)


def test_aes_sm_chip_matches_openpace() -> None:
    chip = SecureMessaging.for_pace(h(AES_SM["ks_enc"]), h(AES_SM["ks_mac"]))
    for ex in AES_SM["exchanges"]:
        assert chip.unwrap_command(h(ex["protected_command"])).to_bytes() == h(ex["command"])
        response = ResponseAPDU(h(ex["response_data"]), *h(ex["sw"]))
        assert chip.wrap_response(response) == h(ex["protected_response"])


def test_aes_sm_rejects_a_response_replayed_out_of_sequence() -> None:
    # the SSC is in every MAC: the second exchange's response is not valid in place of the first's
    terminal = SecureMessaging.for_pace(h(AES_SM["ks_enc"]), h(AES_SM["ks_mac"]))
    first, second = AES_SM["exchanges"][:2]
    terminal.wrap_command(CommandAPDU.from_bytes(h(first["command"])))
    with pytest.raises(SecureMessagingError):
        terminal.unwrap_response(h(second["protected_response"]))
