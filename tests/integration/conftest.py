"""Fixtures that put card applications onto the real reader stacks.

- nfcpy: a :class:`~netid.testing.servers.nfc_target.NfcTarget` on ``udp:127.0.0.1:<free port>`` and a reader
  path for :class:`~netid.card.backends.nfc.NfcReader`.
- PC/SC: one private pcscd per session (``pcsc_env.PrivatePcscd``) and a per-test virtual card in its
  vpcd reader.

Every server is started and stopped here; nothing survives the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from netid.card.interface import CardApplication
from tests.integration.file_card import free_udp_port
from tests.integration.pcsc_env import (
    PcscEnvUnavailable,
    PrivatePcscd,
    requirements_missing,
    wait_reader_empty,
)

# libpcsclite reads PCSCLITE_CSOCK_NAME once, at the first PC/SC call of the process, so the private
# pcscd's socket path is fixed here, at collection time, before any test runs.
_PCSC_WORKDIR = Path(tempfile.mkdtemp(prefix="netid-pcscd-"))
os.environ["PCSCLITE_CSOCK_NAME"] = str(_PCSC_WORKDIR / "run" / "pcscd" / "pcscd.comm")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_PCSC_WORKDIR, ignore_errors=True)


# --- PC/SC ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pcscd() -> Iterator[PrivatePcscd]:
    why = requirements_missing()
    if why:
        if os.environ.get("CI"):
            # CI runs as root on Debian with the packages ensured: a missing stack there is a failure
            pytest.fail(f"private pcscd unavailable in CI: {why}")
        pytest.skip(f"private pcscd unavailable: {why}")
    env = PrivatePcscd(_PCSC_WORKDIR)
    try:
        env.start()
    except PcscEnvUnavailable as exc:
        pytest.fail(f"private pcscd failed to start: {exc}")
    yield env
    env.stop()


@pytest.fixture
def vpcd_slot(pcscd: PrivatePcscd) -> Iterator[Callable[..., object]]:
    """``vpcd_slot(app, **kwargs)`` puts ``app`` (or an empty slot for ``None``) in the private pcscd's
    reader; stopped, and the reader seen empty again, at teardown."""
    from netid.testing.servers.vpcd import VpcdCard

    cards: list[VpcdCard] = []

    def present(app: CardApplication | None, **kwargs: object) -> VpcdCard:
        card = VpcdCard(app, connect=pcscd.connector(), **kwargs)  # type: ignore[arg-type]
        cards.append(card.start())
        return card

    yield present
    for card in cards:
        card.stop()
    wait_reader_empty(pcscd.reader_name)


# --- nfcpy ----------------------------------------------------------------------------------------


@pytest.fixture
def nfc_target() -> Iterator[Callable[..., object]]:
    """``nfc_target(app, **kwargs)`` serves ``app`` as an ISO-DEP Type 4A card on a free loopback UDP port
    and returns the started target (its ``reader_path`` is what NfcReader opens)."""
    pytest.importorskip("nfc")
    from netid.testing.servers.nfc_target import NfcTarget

    targets: list[NfcTarget] = []

    def serve(app: CardApplication, **kwargs: object) -> NfcTarget:
        target = NfcTarget(app, port=free_udp_port(), **kwargs)  # type: ignore[arg-type]
        targets.append(target.start())
        return target

    yield serve
    for target in targets:
        target.stop()
