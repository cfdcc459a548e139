"""What a relying party can observe in one presentation, for the unlinkability tests: two RPs' views of
one holder must share nothing but what every holder minted that day shares."""

from __future__ import annotations

import json
from typing import Any

from netid.credentials.jose import decode_jws_unverified
from netid.credentials.sdjwt.codec import Disclosure, split_sd_jwt


def _leaves(value: Any, out: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _leaves(v, out)
            out.add(f"key:{k}")
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    else:
        out.add(json.dumps(value, ensure_ascii=False))


def observables(presentation: str) -> tuple[set[str], set[str]]:
    """(every JSON leaf value — payloads, disclosed values, salts, digests, signatures — and every raw
    segment) an RP sees in one presentation. Headers are left out: they are the same for every holder."""
    parts = split_sd_jwt(presentation)
    leaves: set[str] = set()
    _header, payload, _, sig = decode_jws_unverified(parts.issuer_jwt)
    _leaves(payload, leaves)
    for d in map(Disclosure.parse, parts.disclosures):
        leaves.update({d.salt, d.digest})
        _leaves(d.value, leaves)
    assert parts.kb_jwt is not None
    _, kb, _, kb_sig = decode_jws_unverified(parts.kb_jwt)
    _leaves(kb, leaves)
    segments = (
        set(parts.issuer_jwt.split(".")[1:]) | set(parts.disclosures) | set(parts.kb_jwt.split(".")[1:])
    )
    leaves.update({sig.hex(), kb_sig.hex()})
    return leaves, segments
