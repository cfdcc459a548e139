"""Reader backends: nfcpy (USB NFC) and PC/SC (pyscard)."""
