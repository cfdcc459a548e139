"""Enrollment evidence: what a wallet proves to the issuer about the ID card it just read.

After ``POST /enrollment/start`` the issuer hands the wallet a one-time challenge and its enrollment key.
The wallet reads the card with that challenge as the active-authentication challenge, and sends back
:class:`EnrollmentEvidence` sealed to the enrollment key (a JWE, :mod:`netid.credentials.jwe`):

* the data groups passive authentication needs — EF.SOD, DG1 (MRZ), DG11 (personal number, name),
  DG14 and DG15 when present, EF.COM — exactly as read from the chip;
* the chip's active-authentication signature over the challenge;
* the wallet's device key (a public JWK), which later authorises revoking this device's credentials;
* optionally a guardian's network number, for a person below the self-enrollment age.

**Never sent:** DG2 (the portrait) and the other biometric groups (DG3, DG4). Face matching runs on the
holder's device; the issuer verifies the chip without ever receiving a face. :meth:`from_readout`
drops them, and :func:`open_evidence` refuses evidence that carries them.

``specs/enrollment.md`` is the normative description.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography.hazmat.primitives.asymmetric import ec

from netid.card.icao.lds import FID_COM, FID_DG, FID_SOD
from netid.card.icao.read_document import CardReadout
from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.credentials.jose import PRIVATE_JWK_MEMBERS, load_public_jwk
from netid.credentials.jwe import decrypt_jwe, encrypt_jwe
from netid.errors import ParseError, UsageError

__all__ = ["EVIDENCE_CTY", "FILE_NAMES", "EnrollmentEvidence", "open_evidence"]

EVIDENCE_CTY: Final = "netid-enrollment-evidence+json"
#: the files evidence may carry, by name; biometric data groups (DG2-DG4) are deliberately absent
FILE_NAMES: Final[dict[str, int]] = {
    "EF.COM": FID_COM,
    "EF.SOD": FID_SOD,
    "DG1": FID_DG[1],
    "DG11": FID_DG[11],
    "DG14": FID_DG[14],
    "DG15": FID_DG[15],
}
_NAME_OF: Final = {fid: name for name, fid in FILE_NAMES.items()}
_REQUIRED: Final = ("EF.SOD", "DG1", "DG11")
_MAX_FILE: Final = 16 * 1024
_MAX_ID: Final = 128


@dataclass(frozen=True, slots=True)
class EnrollmentEvidence:
    """The wallet's proof of a card read for one enrollment (see the module docstring).

    ``repr`` shows file names and sizes only: DG1 and DG11 carry the personal number and name.
    """

    enrollment_id: str
    files: Mapping[str, bytes] = field(repr=False)
    aa_signature: bytes | None = field(repr=False)
    device_key: Mapping[str, Any] = field(repr=False)
    access_protocol: Literal["PACE", "BAC"] = "PACE"
    guardian_netno: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}={len(data)}B" for name, data in sorted(self.files.items()))
        return f"EnrollmentEvidence(enrollment_id={self.enrollment_id!r}, files=[{sizes}])"

    @classmethod
    def from_readout(
        cls,
        readout: CardReadout,
        *,
        enrollment_id: str,
        device_key: Mapping[str, Any],
        guardian_netno: str | None = None,
    ) -> EnrollmentEvidence:
        """Evidence from a card read whose AA challenge was the issuer's; biometric groups left out."""
        if not PRIVATE_JWK_MEMBERS.isdisjoint(device_key):
            raise UsageError("device_key must be a public key")
        files = {_NAME_OF[fid]: data for fid, data in readout.files.items() if fid in _NAME_OF}
        missing = [name for name in _REQUIRED if name not in files]
        if missing:
            raise UsageError(f"the card read lacks {', '.join(missing)}")
        return cls(
            enrollment_id=enrollment_id,
            files=files,
            aa_signature=readout.aa_signature,
            device_key=dict(device_key),
            access_protocol=readout.access_protocol,
            guardian_netno=guardian_netno,
        )

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "enrollment_id": self.enrollment_id,
            "access_protocol": self.access_protocol,
            "files": {name: b64url_encode(data) for name, data in sorted(self.files.items())},
            "device_key": dict(self.device_key),
        }
        if self.aa_signature is not None:
            body["aa_signature"] = b64url_encode(self.aa_signature)
        if self.guardian_netno is not None:
            body["guardian_netno"] = self.guardian_netno
        return json.dumps(body, separators=(",", ":")).encode()

    def seal(self, enrollment_key: Mapping[str, Any]) -> str:
        """This evidence as a compact JWE to the issuer's enrollment key (a public P-256 JWK)."""
        return encrypt_jwe(self.to_json(), enrollment_key, headers={"cty": EVIDENCE_CTY})

    def to_readout(self, challenge: bytes) -> CardReadout:
        """A :class:`CardReadout` for :func:`netid.card.icao.verify_document.verify_document`, whose AA
        challenge is ``challenge`` — the issuer's own record, never anything the wallet sent."""
        return CardReadout(
            files={FILE_NAMES[name]: data for name, data in self.files.items()},
            access_protocol=self.access_protocol,
            pace_parameter_id=None,
            extended_length=False,
            apdu_count=0,
            aa_challenge=challenge,
            aa_signature=self.aa_signature,
        )


def _b64(value: object, what: str, limit: int) -> bytes:
    if not isinstance(value, str) or len(value) > limit * 4 // 3 + 4:
        raise ParseError("enrollment evidence", f"{what} is not a base64url string of at most {limit} bytes")
    return b64url_decode(value, f"enrollment evidence {what}")


def parse_evidence(raw: bytes) -> EnrollmentEvidence:
    """Parse decrypted evidence JSON; :class:`ParseError` for anything malformed or not allowed."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ParseError("enrollment evidence", "not UTF-8 JSON") from exc
    if not isinstance(body, dict):
        raise ParseError("enrollment evidence", "not a JSON object")
    unknown = set(body) - {"enrollment_id", "access_protocol", "files", "device_key", "aa_signature",
                           "guardian_netno"}  # fmt: skip
    if unknown:
        raise ParseError("enrollment evidence", "unknown members")
    enrollment_id = body.get("enrollment_id")
    if not isinstance(enrollment_id, str) or not 0 < len(enrollment_id) <= _MAX_ID:
        raise ParseError("enrollment evidence", "enrollment_id missing")
    protocol = body.get("access_protocol")
    if protocol not in ("PACE", "BAC"):
        raise ParseError("enrollment evidence", "access_protocol must be PACE or BAC")
    raw_files = body.get("files")
    if not isinstance(raw_files, dict):
        raise ParseError("enrollment evidence", "files missing")
    for name in raw_files:
        if name not in FILE_NAMES:
            # DG2 (the portrait) and the other biometric groups are never accepted, nor unknown files
            raise ParseError("enrollment evidence", "a file outside the allowed set was sent")
    files = {name: _b64(data, name, _MAX_FILE) for name, data in raw_files.items()}
    for name in _REQUIRED:
        if name not in files:
            raise ParseError("enrollment evidence", f"{name} missing")
    device_key = body.get("device_key")
    if not isinstance(device_key, dict) or not PRIVATE_JWK_MEMBERS.isdisjoint(device_key):
        raise ParseError("enrollment evidence", "device_key must be a public JWK")
    load_public_jwk(device_key)  # ParseError if not a usable key
    signature = body.get("aa_signature")
    aa_signature = _b64(signature, "aa_signature", 1024) if signature is not None else None
    guardian = body.get("guardian_netno")
    if guardian is not None and (not isinstance(guardian, str) or len(guardian) > 32):
        raise ParseError("enrollment evidence", "guardian_netno must be a string")
    return EnrollmentEvidence(
        enrollment_id=enrollment_id,
        files=files,
        aa_signature=aa_signature,
        device_key=device_key,
        access_protocol=protocol,
        guardian_netno=guardian,
    )


def open_evidence(token: str, enrollment_key: ec.EllipticCurvePrivateKey) -> EnrollmentEvidence:
    """Decrypt and parse sealed evidence; :class:`ParseError` for anything wrong with it."""
    header, plaintext = decrypt_jwe(token, enrollment_key)
    if header.get("cty") != EVIDENCE_CTY:
        raise ParseError("enrollment evidence", f"cty must be {EVIDENCE_CTY}")
    return parse_evidence(plaintext)
