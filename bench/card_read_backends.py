"""The same full eMRTD read (access control, every default file, active authentication) through each
reader backend: the in-process simulator, real nfcpy over its udp driver, real pcscd + vpcd + pyscard.

    .venv/bin/python bench/card_read_backends.py [--runs N] [--backends sim,nfc-udp,pcsc-vpcd]

The chip is the simulator with a test-kit card (DG2 portrait ~15 KB) in every case; only the transport
changes, so the differences are the transport's cost: nfcpy frames every APDU into 256-byte ISO-DEP
blocks over UDP (and asks for waiting time while the chip computes), pcscd adds its IPC and the vpcd
socket. Wall time is per complete read including connect; the chip's own cryptography runs in this process
too, so absolute figures bound the host cost, not a real chip's (a real chip at 106 kbit/s is far slower).

pcsc-vpcd needs root (a private pcscd in its own namespaces, see tests/integration/pcsc_env.py); it is
skipped with a note otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.integration.pcsc_env

from netid.card.backends.nfc import NfcReader
from netid.card.backends.pcsc import PcscReader
from netid.card.icao.access import AccessKey
from netid.card.icao.read_document import read_document
from netid.card.interface import CardReader
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.testing.cards import make_card
from netid.testing.servers.nfc_target import NfcTarget
from netid.testing.servers.vpcd import VpcdCard
from tests.integration.file_card import free_udp_port
from tests.integration.full_read import EXTENDED_HISTORICAL_BYTES
from tests.integration.pcsc_env import (
    PcscEnvUnavailable,
    PrivatePcscd,
    requirements_missing,
    wait_reader_empty,
)

CHALLENGE = bytes(8)


@contextmanager
def sim(app: SimulatedCard) -> Iterator[CardReader]:
    yield SimulatorReader(app)


@contextmanager
def nfc_udp(app: SimulatedCard) -> Iterator[CardReader]:

    target = NfcTarget(app, port=free_udp_port()).start()
    reader = NfcReader(target.reader_path)
    try:
        yield reader
    finally:
        reader.close()
        target.stop()


class _Pcscd:
    env: PrivatePcscd | None = None
    workdir: Path | None = None


@contextmanager
def pcsc_vpcd(app: SimulatedCard) -> Iterator[CardReader]:

    env = _Pcscd.env
    assert env is not None
    card = VpcdCard(app, connect=env.connector()).start()
    reader = PcscReader(env.reader_name)
    try:
        yield reader
    finally:
        reader.close()
        card.stop()
        wait_reader_empty(env.reader_name)


def start_pcscd() -> str | None:
    """Start the private pcscd; return why not when it cannot run here."""

    why = requirements_missing()
    if why:
        return why
    workdir = Path(tempfile.mkdtemp(prefix="netid-bench-pcscd-"))
    os.environ["PCSCLITE_CSOCK_NAME"] = str(workdir / "run" / "pcscd" / "pcscd.comm")
    env = PrivatePcscd(workdir)
    try:
        env.start()
    except PcscEnvUnavailable as exc:
        return str(exc)
    _Pcscd.env, _Pcscd.workdir = env, workdir
    return None


def stop_pcscd() -> None:

    if _Pcscd.env is not None:
        _Pcscd.env.stop()
    if _Pcscd.workdir is not None:
        shutil.rmtree(_Pcscd.workdir, ignore_errors=True)


BACKENDS = {"sim": sim, "nfc-udp": nfc_udp, "pcsc-vpcd": pcsc_vpcd}


def measure(backend: str, image: ChipImage, key: AccessKey, runs: int) -> tuple[int, list[float]]:
    app = SimulatedCard(image)
    times: list[float] = []
    apdus = 0
    with BACKENDS[backend](app) as reader:
        for _ in range(runs):
            start = time.perf_counter()
            with reader.connect(timeout=10) as conn:
                readout = read_document(conn, key, aa_challenge=CHALLENGE)
            times.append(time.perf_counter() - start)
            apdus = readout.apdu_count
    return apdus, times


def run(runs: int, backends: list[str]) -> None:
    pace = make_card(seed=1)
    bac = make_card(seed=1, pace_parameter_ids=())
    # no EF.CardAccess to probe with: a BAC-only chip announces extended length in its ATS / pseudo-ATR
    bac = dataclasses.replace(bac, image=bac.image.replace(historical_bytes=EXTENDED_HISTORICAL_BYTES))
    dg2 = len(pace.image.files.get(0x0102, b""))
    print(f"full read (all default files + AA), test-kit card, DG2 {dg2} bytes, {runs} runs each")
    header = f"{'backend':10} {'access':6} {'APDUs':>6} {'median ms':>10} {'min ms':>8}"
    print(header)
    print("-" * len(header))
    if "pcsc-vpcd" in backends:
        why = start_pcscd()
        if why:
            print(f"(pcsc-vpcd skipped: {why})")
            backends = [b for b in backends if b != "pcsc-vpcd"]
    try:
        for backend in backends:
            for protocol, card in (("PACE", pace), ("BAC", bac)):
                apdus, times = measure(backend, card.image, card.access_key, runs)
                print(
                    f"{backend:10} {protocol:6} {apdus:>6} {statistics.median(times) * 1000:>10.1f} "
                    f"{min(times) * 1000:>8.1f}"
                )
    finally:
        stop_pcscd()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    chosen = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(chosen) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backends {sorted(unknown)}; choose from {sorted(BACKENDS)}")
    run(args.runs, chosen)


if __name__ == "__main__":
    main()
