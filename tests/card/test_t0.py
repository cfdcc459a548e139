"""The T=0 status-word exchange (netid.card.backends.t0) in memory: 61xx GET RESPONSE chains, the 6Cxx
re-send, secure-messaging commands left alone, misuse vs a misbehaving card — and, as a property, the same
APDUs and answers as the transmit loop PcscConnection had before the logic moved out of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.card.apdu import CommandAPDU
from netid.card.backends.t0 import (
    MAX_GET_RESPONSE,
    Complete,
    T0Error,
    T0Exchange,
    T0LocalError,
    T0RemoteError,
    T0State,
    Transmit,
)
from netid.errors import ParseError, ReaderError, UsageError

READ_PLAIN = CommandAPDU(0x00, 0xB0, 0x00, 0x00, ne=0x20).to_bytes()
#: a protected READ BINARY as secure messaging sends it: CLA 0C, DO'97' and DO'8E' inside, Le 00
READ_SM = bytes.fromhex("0CB000000D" + "970120" + "8E08" + "0102030405060708" + "00")
OK = b"\x90\x00"


def run(command: bytes, responses: list[bytes], **kwargs: int) -> tuple[bytes, list[bytes]]:
    """Drive one exchange against scripted card responses: (full response, APDUs sent)."""
    exchange = T0Exchange(command, **kwargs)
    answers = iter(responses)
    sent: list[bytes] = []
    step: Transmit | Complete = exchange.start()
    while isinstance(step, Transmit):
        sent.append(step.apdu)
        step = exchange.receive(next(answers))
    assert exchange.state is T0State.DONE
    assert exchange.transmitted == len(sent)
    return step.response, sent


# --- plain commands ----------------------------------------------------------------------------------


def test_a_final_status_is_the_answer() -> None:
    assert run(READ_PLAIN, [b"\xaa" * 32 + OK]) == (b"\xaa" * 32 + OK, [READ_PLAIN])
    assert run(READ_PLAIN, [b"\x6a\x82"]) == (b"\x6a\x82", [READ_PLAIN])


def test_61xx_chain_is_fetched_with_get_response() -> None:
    exchange = T0Exchange(READ_PLAIN)
    assert exchange.start() == Transmit(READ_PLAIN)
    assert exchange.state is T0State.COMMAND_SENT
    assert exchange.receive(b"\x61\x10") == Transmit(bytes.fromhex("00C0000010"))
    assert exchange.state is T0State.FETCHING
    assert exchange.receive(b"\x01" * 16 + b"\x61\x08") == Transmit(bytes.fromhex("00C0000008"))
    assert exchange.receive(b"\x02" * 8 + OK) == Complete(b"\x01" * 16 + b"\x02" * 8 + OK)
    assert exchange.state is T0State.DONE
    assert exchange.transmitted == 3


def test_61xx_keeps_data_sent_with_it_and_the_last_status() -> None:
    response, sent = run(READ_PLAIN, [b"\x0a\x0b\x61\x02", b"\x0c\x0d\x62\x82"])
    assert response == b"\x0a\x0b\x0c\x0d\x62\x82"
    assert sent[1] == bytes.fromhex("00C0000002")


@pytest.mark.parametrize(
    ("cla", "get_response_cla"), [(0x00, 0x00), (0x03, 0x03), (0x81, 0x01), (0x12, 0x02)]
)
def test_get_response_keeps_the_logical_channel_only(cla: int, get_response_cla: int) -> None:
    command = bytes((cla,)) + READ_PLAIN[1:]
    _, sent = run(command, [b"\x61\x04", b"\x00" * 4 + OK])
    assert sent[1] == bytes((get_response_cla, 0xC0, 0x00, 0x00, 0x04))


def test_6cxx_resends_the_command_with_the_exact_le() -> None:
    exchange = T0Exchange(READ_PLAIN)
    exchange.start()
    assert exchange.receive(b"\x6c\x10") == Transmit(bytes.fromhex("00B0000010"))
    assert exchange.state is T0State.RESENT
    assert exchange.receive(b"\xaa" * 16 + OK) == Complete(b"\xaa" * 16 + OK)


def test_6c00_asks_for_256_bytes() -> None:
    _, sent = run(READ_PLAIN, [b"\x6c\x00", bytes(256) + OK])
    assert sent[1] == bytes.fromhex("00B0000000")


def test_6cxx_resend_keeps_the_command_data_and_goes_short() -> None:
    command = CommandAPDU(0x00, 0x88, 0x00, 0x00, b"\x01\x02\x03", ne=0x20).to_bytes(extended=True)
    _, sent = run(command, [b"\x6c\x08", bytes(8) + OK])
    assert sent[1] == CommandAPDU(0x00, 0x88, 0x00, 0x00, b"\x01\x02\x03", ne=8).to_bytes()


def test_6cxx_then_61xx_fetches_the_rest() -> None:
    response, sent = run(READ_PLAIN, [b"\x6c\x10", b"\x61\x10", b"\x05" * 16 + OK])
    assert response == b"\x05" * 16 + OK
    assert sent == [READ_PLAIN, bytes.fromhex("00B0000010"), bytes.fromhex("00C0000010")]


def test_6cxx_is_resent_once_only() -> None:
    assert run(READ_PLAIN, [b"\x6c\x10", b"\x6c\x08"]) == (
        b"\x6c\x08",
        [READ_PLAIN, READ_PLAIN[:4] + b"\x10"],
    )


@pytest.mark.parametrize(
    "command",
    [
        bytes.fromhex("00A4040C02011E"),  # case 3: no Le to correct
        bytes.fromhex("00B00000"),  # case 1
        CommandAPDU(0x00, 0xB0, 0x00, 0x00, ne=1024).to_bytes(),  # extended Le
        bytes.fromhex("00B0000005AA"),  # not an APDU
    ],
)
def test_6cxx_without_a_short_le_is_the_answer(command: bytes) -> None:
    assert run(command, [b"\x6c\x10"]) == (b"\x6c\x10", [command])


# --- secure messaging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [b"\x6c\x10", b"\x61\x04", b"\x61\x00", b"\x6c\x00"])
@pytest.mark.parametrize("cla", [0x0C, 0x08, 0x04, 0x8C, 0x0D])
def test_sm_protected_commands_are_never_resent_nor_fetched(status: bytes, cla: int) -> None:
    command = bytes((cla,)) + READ_SM[1:]
    exchange = T0Exchange(command)
    exchange.start()
    assert exchange.receive(status) == Complete(status)
    assert exchange.transmitted == 1
    assert exchange.state is T0State.DONE


# --- a misbehaving card, a misusing transport ----------------------------------------------------------


def test_endless_61xx_is_a_remote_error() -> None:
    exchange = T0Exchange(READ_PLAIN, max_get_response=3)
    exchange.start()
    for _ in range(3):
        assert isinstance(exchange.receive(b"\x61\x01"), Transmit)
    with pytest.raises(T0RemoteError, match="kept answering 61xx"):
        exchange.receive(b"\x00\x61\x01")
    assert exchange.state is T0State.FAILED
    with pytest.raises(T0LocalError):
        exchange.receive(OK)


def test_default_allows_256_get_responses() -> None:
    response, sent = run(READ_PLAIN, [b"\x61\x01"] * (MAX_GET_RESPONSE) + [b"\x01" + OK])
    assert len(sent) == 1 + MAX_GET_RESPONSE
    assert response == b"\x01" + OK
    with pytest.raises(T0RemoteError):
        run(READ_PLAIN, [b"\x61\x01"] * (MAX_GET_RESPONSE + 1))


@pytest.mark.parametrize("response", [b"", b"\x90"])
@pytest.mark.parametrize("before", [[], [b"\x61\x02"], [b"\x6c\x02"]])
def test_a_response_without_status_bytes_is_a_remote_error(response: bytes, before: list[bytes]) -> None:
    exchange = T0Exchange(READ_PLAIN)
    exchange.start()
    for answer in before:
        exchange.receive(answer)
    with pytest.raises(T0RemoteError, match="status bytes"):
        exchange.receive(response)
    assert exchange.state is T0State.FAILED


def test_misuse_is_a_local_error() -> None:
    with pytest.raises(T0LocalError):
        T0Exchange(b"")
    with pytest.raises(T0LocalError):
        T0Exchange(READ_PLAIN, max_get_response=0)
    exchange = T0Exchange(READ_PLAIN)
    with pytest.raises(T0LocalError, match="NEW"):
        exchange.receive(OK)  # nothing sent yet
    exchange.start()
    with pytest.raises(T0LocalError):
        exchange.start()
    exchange.receive(OK)
    with pytest.raises(T0LocalError, match="DONE"):
        exchange.receive(OK)


def test_error_types() -> None:
    assert issubclass(T0RemoteError, ReaderError) and issubclass(T0RemoteError, T0Error)
    assert issubclass(T0LocalError, UsageError) and issubclass(T0LocalError, T0Error)
    assert not issubclass(T0LocalError, ReaderError)
    assert not issubclass(T0RemoteError, UsageError)


def test_reprs_show_sizes_not_bytes() -> None:
    secret = b"ANNA890101"
    assert "ANNA" not in repr(Transmit(secret)) and "10-byte" in repr(Transmit(secret))
    assert "ANNA" not in repr(Complete(secret + OK)) and "SW 9000" in repr(Complete(secret + OK))
    assert repr(T0Exchange(secret)) == "T0Exchange(state=NEW, transmitted=0)"


# --- properties ---------------------------------------------------------------------------------------


def _legacy_transceive(command: bytes, transmit: Callable[[bytes], bytes]) -> bytes:
    """PcscConnection.transceive as it was before T0Exchange (the oracle for the refactoring)."""
    response = transmit(bytes(command))
    if command[0] & 0x0C:
        return response
    sw1, sw2 = response[-2], response[-1]
    if sw1 == 0x6C:
        try:
            apdu = CommandAPDU.from_bytes(command)
        except ParseError:
            return response
        if apdu.ne is not None and not apdu.needs_extended:
            fixed = CommandAPDU(apdu.cla, apdu.ins, apdu.p1, apdu.p2, apdu.data, sw2 or 256)
            response = transmit(fixed.to_bytes())
            sw1, sw2 = response[-2], response[-1]
    if sw1 == 0x61:
        data = bytearray(response[:-2])
        for _ in range(MAX_GET_RESPONSE):
            cla = command[0] & 0x03
            response = transmit(bytes((cla, 0xC0, 0x00, 0x00, sw2)))
            data += response[:-2]
            sw1, sw2 = response[-2], response[-1]
            if sw1 != 0x61:
                break
        else:
            raise ReaderError("the card kept answering 61xx to GET RESPONSE")
        response = bytes(data) + bytes((sw1, sw2))
    return response


statuses = st.one_of(
    st.tuples(st.sampled_from([0x61, 0x6C]), st.integers(0, 255)).map(bytes),
    st.sampled_from([OK, b"\x62\x82", b"\x6a\x82", b"\x67\x00"]),
    st.binary(min_size=2, max_size=2),
)
#: card responses: data (often none) and a status biased towards 61xx / 6Cxx
responses = st.tuples(st.binary(max_size=8), statuses).map(lambda t: t[0] + t[1])
commands = st.one_of(
    st.builds(
        lambda cla, ins, data, ne: CommandAPDU(cla, ins, 0, 0, data, ne).to_bytes(),
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(max_size=300),
        st.none() | st.integers(1, 65536),
    ),
    st.binary(min_size=1, max_size=20),
)


def _script(answers: list[bytes]) -> tuple[list[bytes], Callable[[bytes], bytes]]:
    sent: list[bytes] = []
    source: Iterator[bytes] = iter(answers)

    def transmit(apdu: bytes) -> bytes:
        sent.append(apdu)
        return next(source, OK)

    return sent, transmit


@given(command=commands, answers=st.lists(responses, max_size=12))
def test_same_apdus_and_answers_as_the_old_transmit_loop(command: bytes, answers: list[bytes]) -> None:
    old_sent, old_transmit = _script(answers)
    new_sent, new_transmit = _script(answers)
    expected = _legacy_transceive(command, old_transmit)
    exchange = T0Exchange(command)
    step: Transmit | Complete = exchange.start()
    while isinstance(step, Transmit):
        step = exchange.receive(new_transmit(step.apdu))
    assert step.response == expected
    assert new_sent == old_sent


@given(
    command=commands,
    answers=st.lists(st.one_of(responses, st.binary(max_size=3)), max_size=12),
    limit=st.integers(1, 4),
)
def test_any_answers_raise_only_the_remote_error(command: bytes, answers: list[bytes], limit: int) -> None:
    exchange = T0Exchange(command, max_get_response=limit)
    sent = [exchange.start().apdu]
    try:
        for answer in answers:
            step = exchange.receive(answer)
            if isinstance(step, Complete):
                assert exchange.state is T0State.DONE
                assert step.response[-2:] == answer[-2:]
                break
            sent.append(step.apdu)
    except T0RemoteError:
        assert exchange.state is T0State.FAILED
    assert sent[0] == command
    assert len(sent) <= 2 + limit  # the command, at most one re-send, at most `limit` GET RESPONSEs
    if command[0] & 0x0C:
        assert len(sent) == 1  # secure messaging: never a second APDU
    for apdu in sent[1:]:
        assert apdu[:4] == command[:4] or apdu[1:4] == b"\xc0\x00\x00"
