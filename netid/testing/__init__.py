"""NetID's test kit: a product for integration testers, not only for NetID's own suite.

**TEST ONLY.** Everything here uses keys derived from public seeds or generated without protection, and
every certificate says ``O=NetID TEST ONLY``. Never trust any of it outside tests.

- :mod:`netid.testing.cards` — realistic simulated ID cards: persons with Chinese names and valid
  personal numbers, a test CSCA/DS PKI, complete chip images, and faults (tampered files, cloned chips).
  ``open_reader("sim:SEED")`` gives a simulator reader holding ``make_card(SEED)``.
- :mod:`netid.testing.servers` — put a simulated card on a real reader stack: an ISO-DEP card on nfcpy's
  ``udp`` driver, a virtual card for pcscd's ``vpcd`` driver.
- :mod:`netid.testing.world` — a whole NetID world in memory (issuer, registered RP, wallet, verifier,
  a controllable clock) so that a first test of "over 18?" takes a few lines.
- :mod:`netid.testing.leaks` — find personal values in what a party received, however encoded.
- :mod:`netid.testing.wallet_provider` — a TEST wallet provider that attests a software key store's keys
  (OpenID4VCI key attestations), for issuers that require them: the one mocked boundary there.

>>> from netid.testing import TestWorld
>>> from netid import Query
>>> world = TestWorld.create(age=19)
>>> request = world.request(Query(purpose="age check", age_over=18))
>>> world.verifier.verify(world.present(request), request)["age_over_18"]
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netid._lazy import lazy_exports

# Loaded on first use: opening a "sim:" reader imports netid.testing.cards only, not the verifier,
# wallet and issuer that the test world needs.
_LAZY = {
    "TestCard": "netid.testing.cards",
    "make_card": "netid.testing.cards",
    "expand": "netid.testing.leaks",
    "find_values": "netid.testing.leaks",
    "personal_value_forms": "netid.testing.leaks",
    "DetRng": "netid.testing.world",
    "TestClock": "netid.testing.world",
    "TestWorld": "netid.testing.world",
    "fixed_key": "netid.testing.world",
    "test_person": "netid.testing.world",
    "AttestedSoftwareKeyStore": "netid.testing.wallet_provider",
    "TestWalletProvider": "netid.testing.wallet_provider",
}

__all__ = [
    "AttestedSoftwareKeyStore",
    "DetRng",
    "TestCard",
    "TestClock",
    "TestWalletProvider",
    "TestWorld",
    "expand",
    "find_values",
    "fixed_key",
    "make_card",
    "personal_value_forms",
    "test_person",
]

if TYPE_CHECKING:
    from netid.testing.cards import TestCard, make_card
    from netid.testing.leaks import expand, find_values, personal_value_forms
    from netid.testing.wallet_provider import AttestedSoftwareKeyStore, TestWalletProvider
    from netid.testing.world import DetRng, TestClock, TestWorld, fixed_key, test_person


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
