"""Secure messaging at its edges: missing and misplaced data objects, padding that fills a whole block,
the short/extended length boundary (Nc 255/256, Ne 256/257 and 65535/65536), the SSC wrapping round.

Found by the mutation run (docs/mutation.md): each test here pins a check that no other test depended on.
"""

from __future__ import annotations

import pytest

from netid.card import tlv
from netid.card.apdu import CommandAPDU, ResponseAPDU
from netid.card.icao.sm import (
    MAC_LENGTH,
    SecureMessaging,
    SmDataIncorrectError,
    SmDataMissingError,
    _decode_le,
    _encode_le,
    aes_cbc,
    pad,
    retail_mac,
    tdes_cbc,
    unpad,
)
from netid.errors import SecureMessagingError, UsageError

KS_ENC, KS_MAC = bytes(range(16)), bytes(range(16, 32))


def _pair(cipher: str = "AES128", ssc: int = 0) -> tuple[SecureMessaging, SecureMessaging]:
    return (
        SecureMessaging(KS_ENC, KS_MAC, ssc, cipher),  # type: ignore[arg-type]
        SecureMessaging(KS_ENC, KS_MAC, ssc, cipher),  # type: ignore[arg-type]
    )


def _mac(session: SecureMessaging, data: bytes) -> bytes:
    """The MAC the session's *next* message needs (SSC + 1), without stepping the session."""
    probe = SecureMessaging(KS_ENC, KS_MAC, int.from_bytes(session.ssc, "big") + 1, session.cipher)
    return probe._mac(data)


def _response(terminal: SecureMessaging, *dos: bytes, sw: bytes = b"\x90\x00") -> bytes:
    return b"".join(dos) + sw


# --- responses: which data objects, in which order ------------------------------------------------------


@pytest.mark.parametrize("with_cryptogram", [False, True])
def test_response_with_mac_but_no_status_word_object(with_cryptogram: bool) -> None:
    """DO'8E' without DO'99': the module's own error, never an AttributeError on the absent DO."""
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    do87 = tlv.encode(0x87, b"\x01" + bytes(16)) if with_cryptogram else b""
    do8e = tlv.encode(0x8E, _mac(terminal, do87))
    with pytest.raises(SmDataMissingError, match="DO'99'"):
        terminal.unwrap_response(_response(terminal, do87, do8e))


def test_response_with_status_word_but_no_mac() -> None:
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    with pytest.raises(SmDataMissingError):
        terminal.unwrap_response(tlv.encode(0x99, b"\x90\x00") + b"\x90\x00")


@pytest.mark.parametrize(
    "order",
    [
        ("99", "87", "8E"),  # cryptogram after the status word
        ("87", "8E", "99"),  # status word after the MAC
        ("87", "87", "99", "8E"),  # two cryptograms
        ("87", "99", "99", "8E"),  # two status words
        ("87", "99", "8E", "8E"),  # two MACs
        ("87", "97", "99", "8E"),  # an Le object in a response
    ],
)
def test_response_objects_out_of_order_or_repeated(order: tuple[str, ...]) -> None:
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    values = {"87": b"\x01" + bytes(16), "99": b"\x90\x00", "8E": bytes(8), "97": b"\x04"}
    dos = [tlv.encode(int(tag, 16), values[tag]) for tag in order]
    with pytest.raises(SmDataIncorrectError, match="unexpected or repeated"):
        terminal.unwrap_response(_response(terminal, *dos))


@pytest.mark.parametrize(
    ("sw_value", "mac_length"), [(b"\x90", 8), (b"\x90\x00\x00", 8), (b"\x90\x00", 7), (b"\x90\x00", 16)]
)
def test_response_status_word_and_mac_lengths(sw_value: bytes, mac_length: int) -> None:
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    do99 = tlv.encode(0x99, sw_value)
    with pytest.raises(SmDataIncorrectError, match="malformed DO'99'/DO'8E'"):
        terminal.unwrap_response(_response(terminal, do99, tlv.encode(0x8E, bytes(mac_length))))


def test_response_without_cryptogram_carries_the_status_word_of_do99() -> None:
    """The answer's status is DO'99''s (MACed), not the trailer's (which is not)."""
    terminal, chip = _pair()
    chip.unwrap_command(terminal.wrap_command(CommandAPDU(0, 0xA4, 2, 0x0C, b"\x01\x1e")).to_bytes())
    wrapped = chip.wrap_response(ResponseAPDU(b"", 0x62, 0x82))
    forged_trailer = wrapped[:-2] + b"\x90\x00"
    answer = terminal.unwrap_response(forged_trailer)
    assert (answer.sw, answer.data) == (0x6282, b"")


def test_response_cryptogram_needs_the_padding_indicator() -> None:
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    for do87 in (tlv.encode(0x87, b"\x02" + bytes(16)), tlv.encode(0x87, b"")):
        session = SecureMessaging(KS_ENC, KS_MAC, int.from_bytes(terminal.ssc, "big"), "AES128")
        do99 = tlv.encode(0x99, b"\x90\x00")
        mac = tlv.encode(0x8E, _mac(session, do87 + do99))
        with pytest.raises(SmDataIncorrectError, match="indicator 01"):
            session.unwrap_response(_response(session, do87, do99, mac))


def test_bare_error_status_leaves_the_ssc_alone() -> None:
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    before = terminal.ssc
    assert terminal.unwrap_response(b"\x69\x87").sw == 0x6987
    assert terminal.ssc == before


# --- commands (chip side) ---------------------------------------------------------------------------------


def test_command_without_mac_object() -> None:
    _, chip = _pair()
    with pytest.raises(SmDataMissingError, match="DO'8E'"):
        chip.unwrap_command(bytes.fromhex("0CB0000003970104") + b"\x00")


def test_command_with_plain_class_byte() -> None:
    _, chip = _pair()
    with pytest.raises(SmDataMissingError, match="not secure-messaging protected"):
        chip.unwrap_command(CommandAPDU(0x08, 0xB0, 0, 0, tlv.encode(0x8E, bytes(8)), 256))


def test_command_mac_not_last_or_wrong_length() -> None:
    _, chip = _pair()
    for body in (
        tlv.encode(0x8E, bytes(8)) + tlv.encode(0x87, b"\x01" + bytes(16)),  # MAC before the cryptogram
        tlv.encode(0x8E, bytes(7)),
    ):
        with pytest.raises(SmDataIncorrectError, match="malformed DO'8E'"):
            chip.unwrap_command(CommandAPDU(0x0C, 0xB0, 0, 0, body, 256))


@pytest.mark.parametrize(("ins", "tag"), [(0xB0, 0x85), (0xB1, 0x87)])
def test_odd_ins_uses_do85_and_even_ins_do87(ins: int, tag: int) -> None:
    _, chip = _pair()
    body = tlv.encode(tag, b"\x01" + bytes(16)) + tlv.encode(0x8E, bytes(8))
    with pytest.raises(SmDataIncorrectError, match="DO'85'"):
        chip.unwrap_command(CommandAPDU(0x0C, ins, 0, 0, body, 256))


def test_command_objects_out_of_order() -> None:
    _, chip = _pair()
    le, mac, crypto = (
        tlv.encode(0x97, b"\x04"),
        tlv.encode(0x8E, bytes(8)),
        tlv.encode(0x87, b"\x01" + bytes(16)),
    )
    for body in (le + crypto + mac, mac + le, le + le + mac, tlv.encode(0x99, b"\x90\x00") + mac):
        with pytest.raises(SmDataIncorrectError, match="unexpected or repeated"):
            chip.unwrap_command(CommandAPDU(0x0C, 0xB0, 0, 0, body, 256))


def test_unwrapped_command_keeps_header_and_drops_the_sm_bits() -> None:
    terminal, chip = _pair()
    plain = CommandAPDU(0x10, 0xB1, 0x01, 0x1E, bytes.fromhex("540100"), 100)  # chaining bit kept
    protected = terminal.wrap_command(plain)
    assert protected.cla == 0x1C
    assert chip.unwrap_command(protected) == plain  # a CommandAPDU is accepted as well as bytes


@pytest.mark.parametrize("cla", [0x01, 0x03, 0x11])
def test_logical_channel_and_chaining_bits_survive_protection(cla: int) -> None:
    """Only the SM bits (0x0C) are set and cleared: a logical channel (b2-b1) and chaining (b5) are kept."""
    terminal, chip = _pair()
    plain = CommandAPDU(cla, 0xB0, 0, 0, ne=4)
    protected = terminal.wrap_command(plain)
    assert protected.cla == cla | 0x0C
    assert chip.unwrap_command(protected.to_bytes()).cla == cla


def test_chip_answers_even_ins_with_do87_before_any_command() -> None:
    _, chip = _pair()
    assert chip.wrap_response(ResponseAPDU(b"ab", 0x90, 0x00))[0] == 0x87


def test_chip_answers_odd_ins_with_do85() -> None:
    terminal, chip = _pair()
    for command, tag in ((CommandAPDU(0, 0xB1, 0, 0, bytes.fromhex("540100"), 20), 0x85),
                         (CommandAPDU(0, 0xB0, 0, 0, ne=20), 0x87)):  # fmt: skip
        chip.unwrap_command(terminal.wrap_command(command))
        wrapped = chip.wrap_response(ResponseAPDU(b"\x53\x02ab", 0x90, 0x00))
        assert wrapped[0] == tag
        assert terminal.unwrap_response(wrapped).data == b"\x53\x02ab"


# --- padding: at most block - 1 zeros ----------------------------------------------------------------------


@pytest.mark.parametrize("block", [8, 16])
def test_a_full_block_of_padding_zeros_is_refused(block: int) -> None:
    """ISO/IEC 9797-1 method 2 adds 80 and *fewer than a block* of zeros: a whole block of zeros after
    80 is not padding this side produced, so it is refused (the boundary itself, not just beyond)."""
    assert unpad(b"\x01\x80" + bytes(block - 2), block) == b"\x01"  # the most zeros pad() writes
    assert unpad(b"\x80" + bytes(block - 1), block) == b""
    with pytest.raises(SmDataIncorrectError, match="padding"):
        unpad(b"\x01\x80" + bytes(block - 2) + bytes(block), block)
    with pytest.raises(SmDataIncorrectError, match="padding"):
        unpad(b"\x80" + bytes(block), block)
    for bad in (bytes(block), b"\x01" * block, b""):  # no 80 at all
        with pytest.raises(SmDataIncorrectError):
            unpad(bad, block)


def test_only_zeros_may_follow_the_80() -> None:
    for block in (8, 16):
        for tail in (b"X", b"\x01", b"\xff"):
            padded = b"\x01\x80" + tail + bytes(block - 3)
            with pytest.raises(SmDataIncorrectError, match="padding"):
                unpad(padded, block)


def test_a_full_block_of_padding_zeros_through_a_3des_session() -> None:
    terminal = SecureMessaging(KS_ENC, KS_MAC, 7, "3DES")
    cryptogram = tdes_cbc(KS_ENC, b"\x01\x80" + bytes(6) + bytes(8))
    do87, do99 = tlv.encode(0x87, b"\x01" + cryptogram), tlv.encode(0x99, b"\x90\x00")
    mac = retail_mac(KS_MAC, pad((8).to_bytes(8, "big") + do87 + do99, 8))
    with pytest.raises(SecureMessagingError, match="padding"):
        terminal.unwrap_response(do87 + do99 + tlv.encode(0x8E, mac) + b"\x90\x00")


def test_cryptogram_not_whole_blocks() -> None:
    terminal, _ = _pair()
    terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    for cryptogram in (bytes(15), bytes(17)):
        session = SecureMessaging(KS_ENC, KS_MAC, int.from_bytes(terminal.ssc, "big"), "AES128")
        do87, do99 = tlv.encode(0x87, b"\x01" + cryptogram), tlv.encode(0x99, b"\x90\x00")
        mac = tlv.encode(0x8E, _mac(session, do87 + do99))
        with pytest.raises(SmDataIncorrectError, match="whole cipher blocks"):
            session.unwrap_response(do87 + do99 + mac + b"\x90\x00")


def test_padding_fills_to_the_block() -> None:
    assert pad(b"", 8) == b"\x80" + bytes(7)
    assert pad(bytes(7), 8) == bytes(7) + b"\x80"
    assert pad(bytes(8), 8) == bytes(8) + b"\x80" + bytes(7)
    assert pad(bytes(15), 16) == bytes(15) + b"\x80"


# --- short and extended length --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ne", "extended", "encoded"),
    [
        (1, False, b"\x01"),
        (255, False, b"\xff"),
        (256, False, b"\x00"),
        (256, True, b"\x01\x00"),
        (257, True, b"\x01\x01"),
        (65535, True, b"\xff\xff"),
        (65536, True, b"\x00\x00"),
    ],
)
def test_le_object_encoding(ne: int, extended: bool, encoded: bytes) -> None:
    assert _encode_le(ne, extended) == encoded
    assert _decode_le(encoded) == ne


def test_le_object_of_three_bytes_is_refused() -> None:
    for value in (b"", b"\x00\x01\x00"):
        with pytest.raises(SmDataIncorrectError, match="1 or 2 bytes"):
            _decode_le(value)


@pytest.mark.parametrize(
    ("ne", "do97", "protected_ne"),
    [
        (255, b"\xff", 256),
        (256, b"\x00", 256),  # short Le 00 means 256
        (257, b"\x01\x01", 65536),  # the plain command is extended: so is its protected form
        (65535, b"\xff\xff", 65536),
        (65536, b"\x00\x00", 65536),
    ],
)
def test_le_around_the_short_extended_boundary(ne: int, do97: bytes, protected_ne: int) -> None:
    terminal, chip = _pair()
    protected = terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=ne))
    objects = tlv.decode_all(protected.data)
    assert [o.tag for o in objects] == [0x97, 0x8E] and objects[0].value == do97
    assert protected.ne == protected_ne
    assert protected.needs_extended == (protected_ne > 256)
    raw = protected.to_bytes()
    assert (raw[4] == 0) == (protected_ne > 256)  # extended: Lc is 00 xx xx
    assert chip.unwrap_command(raw).ne == ne


@pytest.mark.parametrize("cipher", ["3DES", "AES128"])
def test_protected_data_around_255_bytes(cipher: str) -> None:
    """The boundary that matters is the *protected* command's Nc: up to 255 it is a short APDU. With whole
    cipher blocks the protected data next to it are 254 bytes (DO'87' with 240 cryptogram bytes, no Le)
    and 256 (DO'85' of 240 and a DO'97'); 255 cannot occur."""
    seen = set()
    for ins in (0xD6, 0xB1):  # DO'87' (with its indicator byte) and DO'85'
        for ne in (None, 1):
            for nc in range(200, 256):
                terminal, chip = _pair(cipher)
                plain = CommandAPDU(0, ins, 0, 0, bytes(nc), ne)
                protected = terminal.wrap_command(plain)
                length = len(protected.data)
                seen.add(length)
                raw = protected.to_bytes()
                if length <= 255:
                    assert protected.ne == 256 and raw[4] == length and len(raw) == 4 + 1 + length + 1
                else:
                    assert protected.ne == 65536 and raw[4:7] == b"\x00" + length.to_bytes(2, "big")
                    assert len(raw) == 4 + 3 + length + 2
                assert chip.unwrap_command(raw) == plain
    assert {254, 256} <= seen and 255 not in seen


@pytest.mark.parametrize("nc", [255, 256])
def test_plain_nc_around_255(nc: int) -> None:
    """A plain Nc of 256 makes the plain command extended: its Le object then has two bytes."""
    terminal, chip = _pair()
    plain = CommandAPDU(0, 0xD6, 0, 0, bytes(nc), 256)
    protected = terminal.wrap_command(plain)
    do97 = next(o for o in tlv.decode_all(protected.data) if o.tag == 0x97)
    assert do97.value == (b"\x00" if nc == 255 else b"\x01\x00")
    assert protected.ne == 65536  # the protected data is longer than 255 either way
    assert chip.unwrap_command(protected.to_bytes()) == plain


def test_extended_response_round_trip_at_65536() -> None:
    terminal, chip = _pair()
    chip.unwrap_command(terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=65536)).to_bytes())
    answer = ResponseAPDU(bytes(range(256)) * 255, 0x90, 0x00)
    assert terminal.unwrap_response(chip.wrap_response(answer)) == answer


# --- the session ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cipher", "block"), [("3DES", 8), ("AES128", 16)])
def test_ssc_wraps_round_at_its_width(cipher: str, block: int) -> None:
    top = (1 << (8 * block)) - 1
    terminal, chip = _pair(cipher, ssc=top)
    assert terminal.ssc == b"\xff" * block
    protected = terminal.wrap_command(CommandAPDU(0, 0xB0, 0, 0, ne=4))
    assert terminal.ssc == bytes(block)
    chip.unwrap_command(protected.to_bytes())
    assert terminal.unwrap_response(chip.wrap_response(ResponseAPDU(b"abcd", 0x90, 0x00))).data == b"abcd"
    assert terminal.ssc == chip.ssc == (1).to_bytes(block, "big")
    assert SecureMessaging(KS_ENC, KS_MAC, top + 1, cipher).ssc == bytes(block)  # type: ignore[arg-type]


def test_constructors() -> None:
    assert SecureMessaging.for_bac(KS_ENC, KS_MAC, bytes(range(8))).ssc == bytes(range(8))
    assert SecureMessaging.for_bac(KS_ENC, KS_MAC, bytes(8)).cipher == "3DES"
    pace = SecureMessaging.for_pace(KS_ENC, KS_MAC)
    assert (pace.cipher, pace.ssc) == ("AES128", bytes(16))
    for args in (
        (KS_ENC[:8], KS_MAC, "AES128"),
        (KS_ENC, KS_MAC + b"\x00", "3DES"),
        (KS_ENC, KS_MAC, "AES256"),
    ):
        with pytest.raises(UsageError):
            SecureMessaging(args[0], args[1], 0, args[2])  # type: ignore[arg-type]


def test_wrap_refuses_an_already_protected_command() -> None:
    terminal, _ = _pair()
    for cla in (0x04, 0x08, 0x0C):
        with pytest.raises(UsageError, match="already"):
            terminal.wrap_command(CommandAPDU(cla, 0xB0, 0, 0, ne=4))


def test_mac_length_and_primitives() -> None:
    assert MAC_LENGTH == 8
    terminal, _ = _pair("3DES")
    assert len(terminal._mac(b"x")) == MAC_LENGTH
    aes, _ = _pair()
    assert len(aes._mac(b"x")) == MAC_LENGTH
    with pytest.raises(UsageError):
        retail_mac(KS_MAC, bytes(7))
    with pytest.raises(UsageError):
        retail_mac(KS_MAC[:8], bytes(8))
    with pytest.raises(UsageError):
        retail_mac(KS_MAC, b"")
    with pytest.raises(UsageError):
        tdes_cbc(KS_ENC[:8], bytes(8))
    # single-block retail MAC is exactly two-key 3DES-CBC of that block
    assert retail_mac(KS_MAC, bytes(8)) == tdes_cbc(KS_MAC, bytes(8))
    assert aes_cbc(KS_ENC, bytes(16), aes_cbc(KS_ENC, bytes(16), bytes(32)), decrypt=True) == bytes(32)
