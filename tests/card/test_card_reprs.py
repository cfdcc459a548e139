"""specs/protocol.md §8: no repr in the card layer shows the personal number, birth date, document number,
CAN or a session key, so none of them can reach a log through a traceback or a debug print."""

from __future__ import annotations

from netid.card.apdu import CommandAPDU
from netid.card.icao.bac import BacChip, BacTerminal
from netid.card.icao.pace import PaceChip, PaceTerminal, PasswordRef
from netid.card.icao.read_document import _ReadState, read_document
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.testing.cards import TestCard, make_card

CHALLENGE = bytes(range(8))


def _secrets(seed: int) -> tuple[TestCard, list[str]]:
    card = make_card(seed)
    person = card.person
    birth = person.date_of_birth
    return card, [
        person.personal_number,
        birth.strftime("%y%m%d"),
        birth.isoformat(),
        person.document_number,
        card.access_key.document_number,
        card.can.can,
        card.access_key.mrz_information,
    ]


def _assert_clean(objects: list[object], secrets: list[str]) -> None:
    for obj in objects:
        text = repr(obj)
        for secret in secrets:
            assert secret.lower() not in text.lower(), (type(obj).__name__, secret)


def test_card_layer_reprs_hide_personal_data_and_keys() -> None:
    card, secrets = _secrets(31)
    key = card.access_key
    readout = read_document(
        SimulatorReader(SimulatedCard(card.image)).connect(),
        key,
        aa_challenge=CHALLENGE,
    )
    state = _ReadState(files=dict(readout.files), card_access_known=True, extended=True)

    bac_terminal = BacTerminal(key.mrz_information)
    bac_chip = BacChip(key.mrz_information)
    command: CommandAPDU | None = bac_terminal.receive(bac_chip.get_challenge(bac_terminal.start()))
    assert command is not None
    assert bac_terminal.receive(bac_chip.external_authenticate(command)) is None
    bac = bac_terminal.result

    pace_terminal = PaceTerminal(card.can.password, PasswordRef.CAN, 13)
    pace_chip = PaceChip({PasswordRef.CAN: card.can.password}, (13,))
    command = pace_terminal.start()
    while command is not None:
        answer = pace_chip.set_at(command) if command.ins == 0x22 else pace_chip.general_authenticate(command)
        command = pace_terminal.receive(answer)
    pace = pace_terminal.result

    keys = [k.hex() for result in (bac, pace) for k in (result.ks_enc, result.ks_mac)]
    objects: list[object] = [
        readout,
        state,
        key,
        card.can,
        bac,
        pace,
        bac.sm,
        pace.sm,
        bac_terminal,
        bac_chip,
        pace_terminal,
        pace_chip,
        card.image,
        card.person,
        card,
    ]
    _assert_clean(objects, secrets + keys)
    # what the reprs do show
    assert "DG11" in repr(readout) and "PACE" in repr(readout)
    assert repr(key) == f"MrzAccessKey(document_number='{key.document_number[:2]}***')"
    assert repr(bac) == "AccessResult(protocol='BAC')"
