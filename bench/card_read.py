"""Full eMRTD read: APDU count and wall time per backend and access protocol, next to the protocol minimum.

    .venv/bin/python bench/card_read.py [--runs N] [--backends sim,nfc-udp,pcsc-vpcd]

The first table is the simulator against the protocol minimum; the second is the same read through each
transport (bench/card_read_backends.py): in-process, real nfcpy over its udp driver, real pcscd + vpcd.

The card comes from ``netid.testing.cards`` (DG2 portrait ~15 KB). Wall time on the simulator includes
both sides' cryptography (the chip's PACE/BAC and AA run in the same Python process), so it bounds the
host cost, not a real chip's.

Minimum APDU count for reading files F with chunk size c (what any reader must send):
    access control  PACE: 5 (MSE:Set AT + 4 GENERAL AUTHENTICATE) + 1 SELECT eMRTD application
                    BAC:  1 SELECT eMRTD application + GET CHALLENGE + EXTERNAL AUTHENTICATE = 3
    EF.CardAccess   ceil(size / c) plain reads (PACE chips; BAC-only chips: 1 refused read)
    each file       ceil(size / c) READ BINARY (the first one by short file identifier also selects it)
    AA              1 INTERNAL AUTHENTICATE
with c = 223 (0xDF, largest short read whose AES-wrapped answer fits 256 bytes) or, with extended
length, the whole file in one APDU. NetID's driver asks for a full chunk in its first READ BINARY and
learns the file's length from the TLV header inside it, so it sends exactly the minimum, plus one refused
extended-length probe on chips that neither advertise their capability nor support extended length
(shown as "ours (formula)").
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from netid.card.icao.access import AccessKey
from netid.card.icao.lds import FID_CARD_ACCESS, FID_DG
from netid.card.icao.read_document import DEFAULT_FILES, SHORT_READ, read_document
from netid.card.interface import CardReader
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.testing.cards import make_card

CHALLENGE = bytes(8)
#: ISO 7816-4 compact TLV: card capabilities (tag 7) announcing extended Lc/Le, then the status indicator
EXTENDED_HISTORICAL_BYTES = bytes.fromhex("80" + "730000C0" + "829000")


@dataclass(frozen=True)
class Backend:
    """A way to put a chip image in front of the reader code. The lead adds nfc/pcsc entries."""

    name: str
    reader_for: Callable[[ChipImage], CardReader]


BACKENDS: list[Backend] = [
    Backend("sim", lambda image: SimulatorReader(SimulatedCard(image))),
]


def make_images() -> tuple[ChipImage, ChipImage, AccessKey]:
    """(PACE image, BAC-only image, access key) from the test kit: one person, DG2 portrait ~15 KB."""
    pace = make_card(seed=1)
    bac = make_card(seed=1, pace_parameter_ids=())
    return pace.image, bac.image, pace.access_key


def _files_to_read(image: ChipImage) -> list[bytes]:
    present = [image.files[f] for f in DEFAULT_FILES if f in image.files]
    if FID_CARD_ACCESS in image.files:
        present.append(image.files[FID_CARD_ACCESS])
    return present


def minimum_apdus(image: ChipImage, protocol: str, extended: bool) -> tuple[int, int]:
    """(protocol minimum, what NetID's driver should send) for a full read with AA."""
    access = 6 if protocol == "PACE" else 3
    if protocol == "BAC":
        access += 1  # the refused EF.CardAccess read that tells a BAC-only chip apart
    aa = 1 if FID_DG[15] in image.files else 0
    minimum = ours = access + aa
    if not extended:
        ours += 1  # the extended-length probe on EF.CardAccess, refused (no ATS capability byte)
    for content in _files_to_read(image):
        size = len(content)
        chunk = size if extended else SHORT_READ
        minimum += max(1, math.ceil(size / chunk))
        ours += max(1, math.ceil(size / chunk))
    return minimum, ours


def run(runs: int) -> None:
    pace_image, bac_image, key = make_images()
    dg2 = len(pace_image.files.get(FID_DG[2], b""))
    print(f"card: test kit image, DG2 {dg2} bytes, {runs} runs each (median wall time)")
    header = (
        f"{'backend':8} {'access':6} {'ext':4} {'APDUs':>6} {'ours (formula)':>15} {'minimum':>8} {'ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for backend in BACKENDS:
        for protocol, base in (("PACE", pace_image), ("BAC", bac_image)):
            for extended in (True, False):
                image = base.replace(extended_length=extended)
                if protocol == "BAC" and extended:
                    # no EF.CardAccess to probe with: a BAC-only chip announces extended length in its ATS
                    image = image.replace(historical_bytes=EXTENDED_HISTORICAL_BYTES)
                times: list[float] = []
                count = 0
                for _ in range(runs):
                    reader = backend.reader_for(image)
                    start = time.perf_counter()
                    readout = read_document(reader.connect(), key, aa_challenge=CHALLENGE)
                    times.append(time.perf_counter() - start)
                    count = readout.apdu_count
                    assert readout.access_protocol == protocol
                    assert readout.extended_length is extended
                minimum, ours = minimum_apdus(image, protocol, extended)
                ms = statistics.median(times) * 1000
                print(
                    f"{backend.name:8} {protocol:6} {'yes' if extended else 'no':4} {count:>6} {ours:>15} "
                    f"{minimum:>8} {ms:>8.1f}"
                )
    print(
        "minimum = access control (PACE 5 + SELECT app; BAC SELECT app + 2 + 1 refused EF.CardAccess read)"
        " + sum over files of ceil(size/chunk) + 1 AA; chunk = 223 short, whole file extended."
    )
    print("ours = minimum + 1 on chips without extended length (the refused extended-length probe).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--backends",
        default="sim,nfc-udp,pcsc-vpcd",
        help="transports for the second table (see bench/card_read_backends.py); empty to skip it",
    )
    args = parser.parse_args()
    run(args.runs)
    chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
    if chosen:
        # the same read through the real stacks: what each transport adds over the in-process simulator
        import card_read_backends  # noqa: PLC0415 - sibling script; imports nfcpy/pyscard only when asked

        print()
        card_read_backends.run(args.runs, chosen)


if __name__ == "__main__":
    main()
