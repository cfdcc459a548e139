"""The card layer: APDUs, BER-TLV, the reader interface and its backends, ICAO 9303 eMRTD reading."""
