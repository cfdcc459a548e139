"""The in-process card simulator: a software eMRTD chip and a reader that talks to it in memory.

``SimulatorReader(SimulatedCard(image))`` is a :class:`~netid.card.interface.CardReader` like the nfcpy and
PC/SC ones, so the read driver cannot tell it from hardware.
"""

from __future__ import annotations

from netid.card.simulator.card import Faults, SimulatedCard
from netid.card.simulator.connection import SimulatorConnection, SimulatorReader

__all__ = ["Faults", "SimulatedCard", "SimulatorConnection", "SimulatorReader"]
