"""Put a :class:`~netid.card.interface.CardApplication` onto a real reader stack, for tests and demos.

- :mod:`netid.testing.servers.nfc_target`: an ISO-DEP Type 4A card on nfcpy's ``udp`` driver, so an
  :class:`~netid.card.backends.nfc.NfcReader` on ``udp:127.0.0.1:PORT`` reads it through real nfcpy.
- :mod:`netid.testing.servers.vpcd`: a virtual card for the vsmartcard ``vpcd`` driver of pcscd, so a
  :class:`~netid.card.backends.pcsc.PcscReader` reads it through real pcscd and pyscard.

Both are transports only: they frame bytes and model the card leaving the field; every answer comes from
the application. Both bind or connect on the loopback interface only.
"""
