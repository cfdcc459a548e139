"""Credential primitives: JOSE, network numbers, SD-JWT, token status lists — pure functions, no I/O.

- :mod:`netid.credentials.jose` — the only place JWS algorithms are bound (EdDSA on libsodium, ES256).
- :mod:`netid.credentials.netno` — network numbers and pairwise subjects.
- :mod:`netid.credentials.sdjwt` — RFC 9901 SD-JWT: codec, issue, present, verify.
- :mod:`netid.credentials.status_list` — IETF Token Status List (JWT form).
"""
