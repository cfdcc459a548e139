"""The read driver against the simulator: full reads, access failures, tag loss, sizes, garbage."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import example, given, settings
from hypothesis import strategies as st

from netid.card import tlv
from netid.card.apdu import WarningEndOfFile
from netid.card.icao.aa import verify_active_authentication
from netid.card.icao.access import CanAccessKey, MrzAccessKey
from netid.card.icao.lds import FID_CARD_ACCESS, FID_DG, SFI
from netid.card.icao.read_document import (
    DEFAULT_FILES,
    ReadProgress,
    _ats_extended_capability,
    read_document,
    read_document_with_retry,
)
from netid.card.interface import CardApplication
from netid.card.simulator import Faults, SimulatedCard, SimulatorConnection, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.errors import AccessControlError, CardStatusError, NetIDError, TagLostError, UsageError
from netid.testing.cards import make_card
from tests.card.simcards import CAN, MRZ_KEY, build_image, rsa_key

CHALLENGE = bytes.fromhex("A1A2A3A4A5A6A7A8")


def read(image: ChipImage, key: MrzAccessKey | CanAccessKey = MRZ_KEY, **options: object):  # type: ignore[no-untyped-def]
    return read_document(SimulatorReader(SimulatedCard(image)).connect(), key, **options)  # type: ignore[arg-type]


def assert_complete(readout, image: ChipImage) -> None:  # type: ignore[no-untyped-def]
    for fid in (*DEFAULT_FILES, FID_CARD_ACCESS):
        assert readout.files.get(fid) == image.files.get(fid), hex(fid)


@pytest.mark.parametrize("parameter_id", [12, 13])
@pytest.mark.parametrize("use_can", [False, True])
@pytest.mark.parametrize("extended", [True, False])
def test_full_read_with_pace(parameter_id: int, use_can: bool, extended: bool) -> None:
    image = build_image(pace=(parameter_id,), extended=extended)
    readout = read(image, CanAccessKey(CAN) if use_can else MRZ_KEY, aa_challenge=CHALLENGE)
    assert readout.access_protocol == "PACE" and readout.pace_parameter_id == parameter_id
    assert readout.extended_length is extended
    assert_complete(readout, image)
    dg15 = tlv.decode_single(readout.files[FID_DG[15]], 0x6F).value
    assert readout.aa_signature is not None
    verify_active_authentication(dg15, CHALLENGE, readout.aa_signature)


def test_prefers_brainpool_when_both_offered() -> None:
    assert read(build_image(pace=(12, 13))).pace_parameter_id == 13


# ISO 7816-4 compact TLV: card capabilities (tag 7) announcing extended Lc/Le, then the status indicator
EXTENDED_HISTORICAL_BYTES = bytes.fromhex("80" + "73" + "0000C0" + "829000")


@pytest.mark.parametrize("extended", [True, False])
def test_full_read_with_bac_and_rsa_aa(extended: bool) -> None:
    # no EF.CardAccess to probe with: a BAC-only chip gets extended APDUs only when its ATS says so
    image = build_image(
        pace=(),
        extended=extended,
        aa_key=rsa_key(),
        historical_bytes=EXTENDED_HISTORICAL_BYTES if extended else None,
    )
    readout = read(image, aa_challenge=CHALLENGE)
    assert readout.access_protocol == "BAC" and readout.pace_parameter_id is None
    assert readout.extended_length is extended
    assert FID_CARD_ACCESS not in readout.files
    assert_complete(readout, image)
    assert readout.aa_signature is not None
    verify_active_authentication(
        tlv.decode_single(readout.files[FID_DG[15]]).value, CHALLENGE, readout.aa_signature
    )


def test_prefer_extended_false_uses_short_reads() -> None:
    image = build_image(dg2_size=5000)
    short = read(image, prefer_extended=False)
    extended = read(image)
    assert not short.extended_length and extended.extended_length
    assert short.apdu_count > extended.apdu_count
    assert_complete(short, image)


def test_ats_card_capabilities_decide_without_probe() -> None:
    no_ext = bytes.fromhex("80" + "73" + "000000" + "829000")
    ext = bytes.fromhex("80" + "73" + "0000C0" + "829000")
    assert _ats_extended_capability(bytes([len(no_ext) + 2, 0x00]) + no_ext) is False
    assert _ats_extended_capability(bytes([len(ext) + 2, 0x00]) + ext) is True
    image = build_image(historical_bytes=no_ext)
    assert read(image).extended_length is False


def _pseudo_atr(historical_bytes: bytes) -> bytes:
    """What a PC/SC reader reports for a contactless card (PC/SC part 3): 3B 8n 80 01 <hist> TCK."""
    body = bytes((0x80 | len(historical_bytes), 0x80, 0x01)) + historical_bytes
    tck = 0
    for byte in body:
        tck ^= byte
    return b"\x3b" + body + bytes((tck,))


def test_pcsc_pseudo_atr_card_capabilities_are_honoured() -> None:
    no_ext = bytes.fromhex("80" + "73" + "000000" + "829000")
    assert _ats_extended_capability(_pseudo_atr(EXTENDED_HISTORICAL_BYTES)) is True
    assert _ats_extended_capability(_pseudo_atr(no_ext)) is False
    assert _ats_extended_capability(_pseudo_atr(bytes.fromhex("8031806573"))) is None  # no tag 7
    bad_tck = bytearray(_pseudo_atr(EXTENDED_HISTORICAL_BYTES))
    bad_tck[-1] ^= 1
    assert _ats_extended_capability(bytes(bad_tck)) is None
    assert _ats_extended_capability(_pseudo_atr(EXTENDED_HISTORICAL_BYTES)[:-1]) is None  # no TCK

    class PcscLikeConnection(SimulatorConnection):
        @property
        def ats(self) -> bytes:
            return _pseudo_atr(EXTENDED_HISTORICAL_BYTES)

    # BAC only: no EF.CardAccess to probe with, so only the capability byte can turn extended length on
    card = SimulatedCard(build_image(pace=(), dg2_size=5000, historical_bytes=EXTENDED_HISTORICAL_BYTES))
    card.reset()
    readout = read_document(PcscLikeConnection(card), MRZ_KEY)
    assert readout.extended_length is True
    assert_complete(readout, card.image)


class LooksUpBeforeLengthCard(SimulatedCard):
    """A BAC-only chip without EF.CardAccess or extended length that, like some real ones, looks a file up
    before it checks Lc/Le: 6A82 for a READ BINARY of a missing file even in extended form, 6700 for every
    other extended APDU (the simulator's own rule). Every command is recorded."""

    def __init__(self, image: ChipImage) -> None:
        super().__init__(image)
        self.commands: list[bytes] = []

    def process(self, command: bytes) -> bytes:
        self.commands.append(bytes(command))
        extended = len(command) > 5 and command[4] == 0
        if extended and command[1] == 0xB0 and command[2] & 0x80:
            fid = next((f for f, sfi in SFI.items() if sfi == command[2] & 0x1F), None)
            if fid not in self.image.files:
                return b"\x6a\x82"
        return super().process(command)


def test_file_not_found_probe_does_not_switch_on_extended_length() -> None:
    image = build_image(pace=(), extended=False, aa_key=rsa_key())
    card = LooksUpBeforeLengthCard(image)
    readout = read_document(SimulatorReader(card).connect(), MRZ_KEY, aa_challenge=CHALLENGE)
    assert readout.extended_length is False
    assert_complete(readout, image)
    assert readout.aa_signature is not None
    # the one extended APDU is the probe, answered 6A82; everything after it is short
    extended = [c for c in card.commands if len(c) > 5 and c[4] == 0]
    assert extended == card.commands[:1]


@pytest.mark.parametrize("key", [MrzAccessKey("L898902C", "690806", "940624"), CanAccessKey("000000")])
def test_wrong_key_with_pace_is_access_control_error(key: MrzAccessKey | CanAccessKey) -> None:
    with pytest.raises(AccessControlError, match="MRZ data or CAN"):
        read(build_image(), key)


def test_wrong_mrz_with_bac_and_can_on_bac_chip() -> None:
    with pytest.raises(AccessControlError, match="date of birth"):
        read(build_image(pace=()), MrzAccessKey("L898902C", "690807", "940623"))
    with pytest.raises(AccessControlError, match="only BAC"):
        read(build_image(pace=()), CanAccessKey(CAN))


def test_progress_reports() -> None:
    events: list[ReadProgress] = []
    read(build_image(), progress=events.append)
    steps = [e.step for e in events]
    assert steps[0] == "card_access" and steps[-1] == "done" and "access_control" in steps
    dg2 = [e for e in events if e.file == "DG2"]
    assert dg2[-1].done == dg2[-1].total


@pytest.mark.parametrize("lost_after", [3, 9, 15])
def test_tag_lost_then_retry_reads_only_the_rest(lost_after: int) -> None:
    image = build_image(dg2_size=8000, extended=False)
    card = SimulatedCard(image, faults=Faults(tag_lost_after=lost_after))
    with pytest.raises(TagLostError):
        read_document(SimulatorReader(card).connect(), MRZ_KEY)
    card2 = SimulatedCard(image, faults=Faults(tag_lost_after=lost_after + 20))
    readout = read_document_with_retry(SimulatorReader(card2), MRZ_KEY, aa_challenge=CHALLENGE)
    assert_complete(readout, image)
    clean = read(image, aa_challenge=CHALLENGE)
    # the first connection carried lost_after + 20 + 1 APDUs; the second one re-authenticates but skips what
    # was complete (at least EF.CardAccess), so it needs fewer APDUs than a clean read
    second_connection = readout.apdu_count - (lost_after + 20 + 1)
    assert second_connection < clean.apdu_count


def test_second_tag_loss_propagates() -> None:
    class TwiceLost(SimulatedCard):
        def reset(self) -> None:
            super().reset()
            self._tag_lost_fired = False
            self._commands_seen = 0

    # 5: every connection is lost right after PACE, before any file completes
    card = TwiceLost(build_image(), faults=Faults(tag_lost_after=5))
    with pytest.raises(TagLostError):
        read_document_with_retry(SimulatorReader(card), MRZ_KEY, retries=1)


def test_slow_chip_delay_is_applied() -> None:
    reader = SimulatorReader(SimulatedCard(build_image(), faults=Faults(delay_seconds=0.001)))
    connection = reader.connect()
    assert isinstance(connection, SimulatorConnection)
    readout = read_document(connection, MRZ_KEY)
    assert readout.apdu_count == connection.apdu_count


SIZES = st.one_of(
    st.sampled_from(
        [0, 1, 2, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xE1, 255, 256, 257, 0x7FFF - 4, 0x7FFF + 2]
    ),
    st.integers(0, 20000),
)


@settings(max_examples=25)
@given(size=SIZES, extended=st.booleans(), max_read=st.sampled_from([0xE0, 0xDF, 0x80, 0xFF]))
@example(size=32800, extended=True, max_read=0xE0)
@example(size=32800, extended=False, max_read=0xE0)
def test_reader_and_simulator_agree_on_any_file_size(size: int, extended: bool, max_read: int) -> None:
    image = build_image(dg2_size=size, extended=extended, max_read_length=max_read, aa_key=None)
    readout = read(image, files=(FID_DG[2],))
    assert readout.files[FID_DG[2]] == image.files[FID_DG[2]]
    assert readout.extended_length is extended


class GarbageCard:
    """A card that answers a real chip's first N commands, then random bytes."""

    def __init__(self, inner: CardApplication, honest: int, seed: int) -> None:
        self.inner = inner
        self.honest = honest
        self.rnd = random.Random(seed)
        self.historical_bytes = inner.historical_bytes
        self.seen = 0

    def reset(self) -> None:
        self.inner.reset()

    def process(self, command: bytes) -> bytes:
        self.seen += 1
        real = self.inner.process(command)
        if self.seen <= self.honest:
            return real
        mode = self.rnd.randrange(3)
        if mode == 0:
            return self.rnd.randbytes(self.rnd.randrange(0, 40))
        if mode == 1:  # flip one byte of the real answer
            flipped = bytearray(real)
            flipped[self.rnd.randrange(len(flipped))] ^= 1 << self.rnd.randrange(8)
            return bytes(flipped)
        return real[: self.rnd.randrange(len(real) + 1)]


IMAGE_FOR_GARBAGE = build_image(dg2_size=600, aa_key=ec.generate_private_key(ec.SECP256R1()))


@settings(max_examples=60)
@given(honest=st.integers(0, 30), seed=st.integers(0, 2**32), pace=st.booleans())
def test_card_garbage_raises_only_netid_errors(honest: int, seed: int, pace: bool) -> None:
    image = (
        IMAGE_FOR_GARBAGE
        if pace
        else IMAGE_FOR_GARBAGE.replace(
            files={k: v for k, v in IMAGE_FOR_GARBAGE.files.items() if k != FID_CARD_ACCESS}
        )
    )
    card = GarbageCard(SimulatedCard(image), honest, seed)
    try:
        read_document(SimulatorReader(card).connect(), MRZ_KEY, aa_challenge=CHALLENGE)
    except UsageError:  # a UsageError would mean the driver misused its own API on odd input
        raise
    except NetIDError:
        pass


def test_card_status_error_surfaces() -> None:
    image = build_image()
    broken = image.with_file(FID_DG[1], b"\x61\x82\x7f\xff")  # declares 32767 bytes, holds none
    with pytest.raises(WarningEndOfFile) as caught:  # the chip's 6282 past the real end, surfaced as is
        read(broken)
    assert isinstance(caught.value, CardStatusError) and caught.value.sw == 0x6282


def test_with_testkit_card() -> None:
    test_card = make_card(seed=7)
    readout = read_document_with_retry(
        SimulatorReader(SimulatedCard(test_card.image)), test_card.access_key, aa_challenge=CHALLENGE
    )
    assert readout.files[FID_DG[1]] == test_card.image.files[FID_DG[1]]
    can = test_card.can if isinstance(test_card.can, CanAccessKey) else CanAccessKey(test_card.can)
    can_readout = read(test_card.image, can)
    assert can_readout.files == readout.files
