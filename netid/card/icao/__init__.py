"""ICAO 9303 eMRTD protocols (BAC, PACE, secure messaging, active authentication) and LDS files."""
