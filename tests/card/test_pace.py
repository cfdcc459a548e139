"""PACE ECDH-GM AES-128 against ICAO 9303-11 Appendix G.1 (both sides), and in memory on both curves."""

from __future__ import annotations

import contextlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec as crypto_ec
from hypothesis import given, settings
from hypothesis import strategies as st

from netid.card import tlv
from netid.card.apdu import CommandAPDU, ResponseAPDU
from netid.card.icao.ec import BRAINPOOL_P256R1, NIST_P256, PACE_CURVES, Curve
from netid.card.icao.kdf import pace_password_key
from netid.card.icao.pace import PaceChip, PaceTerminal, PasswordRef
from netid.card.icao.sm import aes_cbc
from netid.errors import AccessControlError, ParseError
from tests.card.simcards import counter_rng, sequence_rng
from tests.vectors import h, load_vectors

G1 = load_vectors("icao9303-11")["pace_ecdh_gm_brainpoolp256r1_aes128"]
MRZ = G1["mrz_information"].encode()


def _point(pair: list[str]) -> tuple[int, int]:
    return int(pair[0], 16), int(pair[1], 16)


def test_intermediate_values() -> None:
    k_pi = pace_password_key(MRZ, is_mrz=True)
    assert k_pi == h(G1["k_pi"])
    assert aes_cbc(k_pi, bytes(16), h(G1["encrypted_nonce"]), decrypt=True) == h(G1["nonce_s"])
    c = BRAINPOOL_P256R1
    assert c.mul(int(G1["terminal_mapping_private"], 16), c.g) == _point(G1["terminal_mapping_public"])
    shared = c.mul(int(G1["terminal_mapping_private"], 16), _point(G1["chip_mapping_public"]))
    assert shared == _point(G1["mapping_shared_point_h"])
    g_tilde = c.add(c.mul(int(G1["nonce_s"], 16), c.g), shared)
    assert g_tilde == _point(G1["mapped_generator"])
    assert c.mul(int(G1["chip_ephemeral_private"], 16), g_tilde) == _point(G1["chip_ephemeral_public"])


def test_terminal_reproduces_g1_transcript() -> None:
    rng = sequence_rng([h(G1["terminal_mapping_private"]), h(G1["terminal_ephemeral_private"])])
    terminal = PaceTerminal(MRZ, PasswordRef.MRZ, G1["parameter_id"], rng=rng)
    command: CommandAPDU | None = terminal.start()
    for step in G1["apdu_transcript"]:
        assert command is not None
        assert command.to_bytes().hex().upper() == step["command"]
        command = terminal.receive(ResponseAPDU.from_bytes(h(step["response"])))
    assert command is None
    assert (terminal.result.ks_enc, terminal.result.ks_mac) == (h(G1["ks_enc"]), h(G1["ks_mac"]))
    assert terminal.result.sm.ssc == bytes(16)


def test_chip_reproduces_g1_transcript() -> None:
    rng = sequence_rng([h(G1["nonce_s"]), h(G1["chip_mapping_private"]), h(G1["chip_ephemeral_private"])])
    chip = PaceChip({PasswordRef.MRZ: MRZ}, (13,), rng=rng)
    for step in G1["apdu_transcript"]:
        command = CommandAPDU.from_bytes(h(step["command"]))
        answer = chip.set_at(command) if command.ins == 0x22 else chip.general_authenticate(command)
        assert answer.to_bytes().hex().upper() == step["response"]
    assert chip.result is not None
    assert (chip.result.ks_enc, chip.result.ks_mac) == (h(G1["ks_enc"]), h(G1["ks_mac"]))


def _run(terminal: PaceTerminal, chip: PaceChip) -> None:
    command: CommandAPDU | None = terminal.start()
    while command is not None:
        answer = chip.set_at(command) if command.ins == 0x22 else chip.general_authenticate(command)
        command = terminal.receive(answer)


@pytest.mark.parametrize("parameter_id", [12, 13])
@pytest.mark.parametrize("ref", [PasswordRef.MRZ, PasswordRef.CAN])
def test_terminal_and_chip_agree(parameter_id: int, ref: PasswordRef) -> None:
    passwords = {PasswordRef.MRZ: MRZ, PasswordRef.CAN: b"123456"}
    chip = PaceChip(passwords, (12, 13), rng=counter_rng(parameter_id))
    terminal = PaceTerminal(passwords[ref], ref, parameter_id, rng=counter_rng(99))
    _run(terminal, chip)
    assert chip.result is not None and chip.result.ks_enc == terminal.result.ks_enc


@pytest.mark.parametrize("ref", [PasswordRef.MRZ, PasswordRef.CAN])
def test_wrong_password_is_access_control_error(ref: PasswordRef) -> None:
    chip = PaceChip({PasswordRef.MRZ: MRZ, PasswordRef.CAN: b"123456"}, (13,))
    terminal = PaceTerminal(b"654321" if ref == PasswordRef.CAN else MRZ[:-1] + b"0", ref, 13)
    with pytest.raises(AccessControlError, match="MRZ data or CAN"):
        _run(terminal, chip)
    assert chip.result is None


def test_chip_token_mismatch_is_access_control_error() -> None:
    rng = sequence_rng([h(G1["terminal_mapping_private"]), h(G1["terminal_ephemeral_private"])])
    terminal = PaceTerminal(MRZ, PasswordRef.MRZ, 13, rng=rng)
    terminal.start()
    for step in G1["apdu_transcript"][:-1]:
        terminal.receive(ResponseAPDU.from_bytes(h(step["response"])))
    with pytest.raises(AccessControlError, match="token"):
        terminal.receive(ResponseAPDU.from_bytes(bytes.fromhex("7C0A86080000000000000000" + "9000")))


def test_chip_refuses_out_of_order_and_unknown_parameters() -> None:
    chip = PaceChip({PasswordRef.MRZ: MRZ}, (13,))
    ga = CommandAPDU(0x10, 0x86, 0, 0, b"\x7c\x00", 256)
    assert chip.general_authenticate(ga).sw == 0x6985
    set_at_12 = CommandAPDU.from_bytes(h("0022C1A412800A04007F0007020204020283010184010C"))
    assert chip.set_at(set_at_12).sw == 0x6A88
    set_at_can = CommandAPDU.from_bytes(h("0022C1A412800A04007F0007020204020283010284010D"))
    assert chip.set_at(set_at_can).sw == 0x6A88  # chip has no CAN
    set_at = CommandAPDU.from_bytes(h(G1["apdu_transcript"][0]["command"]))
    assert chip.set_at(set_at).ok
    assert (
        chip.general_authenticate(CommandAPDU(0x00, 0x86, 0, 0, b"\x7c\x00", 256)).sw == 0x6985
    )  # unchained


def test_terminal_rejects_off_curve_point() -> None:
    terminal = PaceTerminal(MRZ, PasswordRef.MRZ, 13)
    terminal.start()
    terminal.receive(ResponseAPDU.status(0x9000))
    terminal.receive(ResponseAPDU.from_bytes(h(G1["apdu_transcript"][1]["response"])))
    bad = "7C43824104" + "01" * 64 + "9000"
    with pytest.raises(AccessControlError):
        terminal.receive(ResponseAPDU.from_bytes(h(bad)))


@settings(max_examples=60)
@given(st.binary(max_size=80))
def test_terminal_on_garbage_raises_only_access_control_error(raw: bytes) -> None:
    terminal = PaceTerminal(MRZ, PasswordRef.MRZ, 13)
    terminal.start()
    terminal.receive(ResponseAPDU.status(0x9000))
    with contextlib.suppress(AccessControlError, ParseError):
        terminal.receive(ResponseAPDU.from_bytes(raw + b"\x90\x00"))


@settings(max_examples=60)
@given(st.binary(max_size=80), st.integers(0, 2))
def test_chip_on_garbage_answers_a_status(raw: bytes, steps: int) -> None:
    chip = PaceChip({PasswordRef.MRZ: MRZ}, (13,))
    chip.set_at(CommandAPDU.from_bytes(h(G1["apdu_transcript"][0]["command"])))
    for _ in range(steps):
        chip.general_authenticate(CommandAPDU(0x10, 0x86, 0, 0, b"\x7c\x00", 256))
    answer = chip.general_authenticate(CommandAPDU(0x10, 0x86, 0, 0, raw, 256))
    assert isinstance(answer, ResponseAPDU)


@pytest.mark.parametrize("curve", list(PACE_CURVES.values()))
@settings(max_examples=10)
@given(k=st.integers(1, 2**256))
def test_scalar_mult_matches_cryptography(curve: Curve, k: int) -> None:
    c = curve
    k = k % (c.n - 1) + 1
    numbers = crypto_ec.derive_private_key(k, c.crypto_curve).public_key().public_numbers()
    assert c.mul(k, c.g) == (numbers.x, numbers.y)


def test_curve_sanity() -> None:
    for c in (BRAINPOOL_P256R1, NIST_P256):
        assert c.on_curve(c.g) and c.mul(c.n, c.g) is None
        assert c.add(c.g, c.mul(c.n - 1, c.g)) is None
        assert c.decode_point(c.encode_point(c.g)) == c.g


def _bad_points() -> dict[str, bytes]:
    c = BRAINPOOL_P256R1
    gx, gy = c.g
    return {
        "off-curve": b"\x04" + b"\x01" * 64,
        "non-canonical": b"\x04" + gx.to_bytes(32, "big") + (gy + c.p).to_bytes(32, "big"),
        "infinity-sec1": b"\x00",
        "infinity-zeros": b"\x04" + bytes(64),
        "compressed": b"\x02" + gx.to_bytes(32, "big"),
    }


@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("name", list(_bad_points()))
def test_chip_refuses_bad_terminal_points(step: int, name: str) -> None:
    """GA #2 (mapping key, 81) or GA #3 (ephemeral key, 83) with a point the chip must not use: 6A80."""
    rng = sequence_rng([h(G1["nonce_s"]), h(G1["chip_mapping_private"]), h(G1["chip_ephemeral_private"])])
    chip = PaceChip({PasswordRef.MRZ: MRZ}, (13,), rng=rng)
    for t in G1["apdu_transcript"][: step + 1]:
        command = CommandAPDU.from_bytes(h(t["command"]))
        assert (chip.set_at(command) if command.ins == 0x22 else chip.general_authenticate(command)).ok
    tag = 0x81 if step == 1 else 0x83
    bad = tlv.encode(0x7C, tlv.encode(tag, _bad_points()[name]))
    assert chip.general_authenticate(CommandAPDU(0x10, 0x86, 0, 0, bad, 256)).sw == 0x6A80
    assert chip.result is None


@pytest.mark.parametrize("step", [2, 3])
@pytest.mark.parametrize("name", list(_bad_points()))
def test_terminal_refuses_bad_chip_points(step: int, name: str) -> None:
    """The chip's mapping key (82) or ephemeral key (84) is not a point of the curve: AccessControlError."""
    rng = sequence_rng([h(G1["terminal_mapping_private"]), h(G1["terminal_ephemeral_private"])])
    terminal = PaceTerminal(MRZ, PasswordRef.MRZ, 13, rng=rng)
    terminal.start()
    for t in G1["apdu_transcript"][:step]:
        terminal.receive(ResponseAPDU.from_bytes(h(t["response"])))
    tag = 0x82 if step == 2 else 0x84
    bad = tlv.encode(0x7C, tlv.encode(tag, _bad_points()[name]))
    with pytest.raises(AccessControlError, match="malformed chip answer"):
        terminal.receive(ResponseAPDU(bad, 0x90, 0x00))
