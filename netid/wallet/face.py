"""Face verification on the holder's device: a live face against the portrait read from the ID card.

The national service lets a person confirm a presentation with their face (CTID's "刷脸"); NetID keeps
that, with the rules that make it acceptable (``specs/protocol.md`` §8; ``tests/wallet/test_face.py``):

- **Face data never leaves the device.** The portrait (DG2) is read from the card's chip and kept only in
  the wallet's encrypted store (:class:`FaceRecord`), and only when the person opts in
  (:meth:`netid.wallet.session.WalletSession.enable_face`). The enrollment evidence sent to the issuer
  never holds it (:mod:`netid.oid4vci.evidence` drops DG2 and the issuer refuses evidence carrying it), a
  presentation never holds it, the holder's log never mentions it. Live captures are compared in memory
  and dropped.
- **Opt-in and opt-out.** Face verification is off until enabled; :meth:`~netid.wallet.session.
  WalletSession.disable_face` deletes the portrait. **The PIN path always exists**: nothing in the
  wallet requires a face; a relying party that asks for ``min_mode="face"`` gets an answer only from a
  holder who chose face verification (otherwise ``mode_unavailable``).
- **Below 14, a guardian consents.** China's rules on face recognition (and PIPL Art. 28 and 31: a
  minor under 14's personal information — face data is sensitive — is processed only with a guardian's
  consent) are enforced when face verification is enabled: the birth date on the card decides, and a
  :class:`GuardianConsent` (the guardian's network number and when they consented) is then required
  and kept with the portrait.
- **A successful match is the only way to "face".** A KB-JWT says ``amr`` ``face`` (or ``pin`` and
  ``face``) only after :func:`require_match` succeeded for that presentation (:mod:`netid.wallet.http`).

The matching itself is the platform's: a phone app plugs in a :class:`FaceMatcher` (a certified
on-device face-comparison library with its liveness check) and a camera. This SDK ships
:class:`SimulatedFaceMatcher` and :class:`SimulatedCamera` — TEST ONLY stand-ins that compare nothing
but a fingerprint of the portrait, so tests can exercise every path (match, stranger, spoof) without a
camera. They are not face recognition.

The portrait is bound to the enrolled person: :func:`read_portrait` reads DG1, DG2, DG11 and EF.SOD
(no active authentication: the issuer already proved this chip genuine at enrollment), checks each data
group against its hash in EF.SOD — and, given the CSCA trust store, the SOD's signature chain too — and
requires the card's personal number to be the one in the netcerts the issuer minted for this wallet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol, runtime_checkable

from netid.card.icao.lds import FID_COM, FID_DG, FID_SOD
from netid.credentials._b64 import b64url_decode, b64url_encode
from netid.credentials.netno import parse_netno
from netid.errors import FaceError, NetIDError, NetnoError, ParseError, UsageError, WalletRefusal
from netid.personal_number import age_on

if TYPE_CHECKING:
    from netid.card.icao.document import EmrtdDocument
    from netid.card.icao.passive_auth import CscaTrustStore

__all__ = [
    "FACE_FILES",
    "GUARDIAN_AGE",
    "FaceCapture",
    "FaceCheck",
    "FaceError",
    "FaceMatch",
    "FaceMatcher",
    "FaceRecord",
    "GuardianConsent",
    "SimulatedCamera",
    "SimulatedFaceMatcher",
    "read_portrait",
    "require_match",
]

#: below this age (completed years) a guardian's consent is needed to enable face verification
GUARDIAN_AGE: Final = 14
#: what the wallet reads from the card to enable face verification (no active authentication)
FACE_FILES: Final = (FID_COM, FID_DG[1], FID_DG[2], FID_DG[11], FID_SOD)
_MAX_PORTRAIT: Final = 256 * 1024
_SIM_PREFIX: Final = b"netid-simulated-face/1|"


@dataclass(frozen=True, slots=True)
class FaceCapture:
    """One live capture from the device's camera, with the platform's liveness verdict (``live``: a real
    face in front of the camera, not a photo or a screen). Never stored, never sent."""

    image: bytes = field(repr=False)
    live: bool


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """A comparison's outcome: ``matched`` (same person, above the matcher's threshold, and live) and the
    similarity ``score`` in ``[0, 1]``."""

    matched: bool
    score: float


@runtime_checkable
class FaceMatcher(Protocol):
    """An on-device face comparison (a platform library). It must run locally and keep nothing."""

    def match(self, capture: FaceCapture, portrait: bytes) -> FaceMatch:
        """Compare a live ``capture`` with the card's ``portrait`` (DG2's image bytes)."""
        ...


@dataclass(frozen=True, slots=True)
class FaceCheck:
    """What a face verification needs from the platform: a ``camera`` (returns a live capture when called,
    after showing the person what is happening) and a ``matcher``."""

    matcher: FaceMatcher
    camera: Callable[[], FaceCapture]


@dataclass(frozen=True, slots=True)
class GuardianConsent:
    """A guardian's consent to face verification for a person under 14: the guardian's network number
    (checked for form and check character) and when they consented (Unix seconds)."""

    guardian_netno: str = field(repr=False)
    given_at: int

    def __post_init__(self) -> None:
        try:
            canonical = parse_netno(self.guardian_netno)
        except NetnoError as exc:
            raise UsageError(f"the guardian's network number is not valid: {exc}") from None
        object.__setattr__(self, "guardian_netno", canonical)
        if type(self.given_at) is not int or self.given_at < 0:
            raise UsageError("given_at is Unix seconds")

    def to_json(self) -> dict[str, Any]:
        return {"guardian_netno": self.guardian_netno, "given_at": self.given_at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GuardianConsent:
        return cls(data["guardian_netno"], int(data["given_at"]))


@dataclass(slots=True, eq=False)
class FaceRecord:
    """Face verification as enabled in the wallet store: the card's portrait (kept only in the encrypted
    store), its media type, when it was enabled and, for a person under 14, the guardian's consent."""

    portrait: bytes = field(repr=False)
    mime: str | None
    enabled_at: int
    guardian: GuardianConsent | None = None

    def __repr__(self) -> str:
        guardian = ", guardian consent" if self.guardian is not None else ""
        return f"FaceRecord(<{len(self.portrait)} bytes {self.mime}>, enabled_at={self.enabled_at}{guardian})"

    def to_json(self) -> dict[str, Any]:
        return {
            "portrait": b64url_encode(self.portrait),
            "mime": self.mime,
            "enabled_at": self.enabled_at,
            "guardian": self.guardian.to_json() if self.guardian is not None else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaceRecord:
        guardian = data.get("guardian")
        return cls(
            portrait=b64url_decode(data["portrait"], "portrait"),
            mime=data.get("mime"),
            enabled_at=int(data["enabled_at"]),
            guardian=GuardianConsent.from_json(guardian) if isinstance(guardian, Mapping) else None,
        )


def read_portrait(
    files: Mapping[int, bytes],
    *,
    id_numbers: Iterable[str],
    now: int,
    trust_store: CscaTrustStore | None = None,
) -> tuple[EmrtdDocument, int]:
    """Check the files read for face verification and return the document and the person's age on the day
    of ``now`` (Unix seconds, UTC).

    :class:`FaceError` ``card`` unless DG1, DG2 (with a portrait) and DG11 are present, each matching its
    hash in EF.SOD (a hash algorithm ICAO allows) — and, with ``trust_store``, unless passive
    authentication passes; ``not_bound`` unless the card's personal number is one of ``id_numbers`` (what
    the issuer put in this wallet's netcerts after its own passive and active authentication).
    """
    for number in (1, 2, 11):
        if FID_DG[number] not in files:
            raise FaceError("card", f"the card did not give DG{number}")
    # the card's parsers load only here: the wallet store imports this module for FaceRecord
    from netid.card.icao.document import EmrtdDocument  # noqa: PLC0415
    from netid.card.icao.lds.sod import hash_data_group, parse_sod  # noqa: PLC0415
    from netid.card.icao.passive_auth import ALLOWED_HASHES, verify_passive_authentication  # noqa: PLC0415

    at = dt.datetime.fromtimestamp(now, dt.UTC)
    today = at.date()
    try:
        if trust_store is not None:  # its parsed EF.SOD serves the checks below: the SOD is parsed once
            sod = verify_passive_authentication(
                files, trust_store, at=at, required_data_groups=(1, 2, 11)
            ).security_object
        else:
            sod = parse_sod(files[FID_SOD])
        if sod.hash_algorithm not in ALLOWED_HASHES:
            raise FaceError("card", "EF.SOD uses a hash algorithm ICAO does not allow")
        for number in (1, 2, 11):
            listed = sod.dg_hashes.get(number)
            actual = hash_data_group(files[FID_DG[number]], sod.hash_algorithm)
            if listed is None or not hmac.compare_digest(listed, actual):
                raise FaceError("card", f"DG{number} does not match its hash in EF.SOD")
        document = EmrtdDocument.from_files(files, today=today, sod=sod)
    except (ParseError, KeyError) as exc:
        raise FaceError("card", "the card's data could not be read as an ID card") from exc
    except NetIDError as exc:
        if isinstance(exc, FaceError):
            raise
        raise FaceError("card", f"the card's data is not authentic ({type(exc).__name__})") from exc
    if not document.portrait or len(document.portrait) > _MAX_PORTRAIT:
        raise FaceError("card", "the card holds no usable portrait")
    known = set(id_numbers)
    if not known:
        raise FaceError("not_bound", "the wallet holds no netcert to compare the card with: refresh first")
    card_number = document.personal_number or ""
    if not any(hmac.compare_digest(card_number.encode(), k.encode()) for k in known):
        raise FaceError("not_bound", "this card is not the one this wallet was enrolled with")
    return document, age_on(document.date_of_birth, today)


def require_match(record: FaceRecord | None, check: FaceCheck | None) -> FaceMatch:
    """One face verification for a presentation: a live capture that matches the stored portrait.

    :class:`~netid.errors.WalletRefusal` ``mode_unavailable`` if face verification is not enabled (or no
    ``check`` is given), ``face_mismatch`` if the capture is not live or does not match. The capture is
    dropped either way.
    """
    if record is None or check is None:
        raise WalletRefusal("mode_unavailable", "face verification is not enabled in this wallet")
    result = check.matcher.match(check.camera(), record.portrait)
    if not result.matched:
        raise WalletRefusal("face_mismatch", "the face did not match the ID card's portrait")
    return result


# --- TEST ONLY stand-ins ----------------------------------------------------------------------------------


def _fingerprint(portrait: bytes) -> bytes:
    return hashlib.sha256(b"netid-simulated-face/1\x00" + portrait).digest()


class SimulatedFaceMatcher:
    """TEST ONLY: a :class:`FaceMatcher` that "recognises" a face by a fingerprint of the portrait the
    :class:`SimulatedCamera` was pointed at. It is not face recognition; it lets tests drive every outcome
    (the holder, a stranger, a photo held up to the camera) deterministically."""

    def __init__(self, threshold: float = 0.8) -> None:
        if not 0 < threshold <= 1:
            raise UsageError("threshold is in (0, 1]")
        self.threshold = threshold
        #: how many comparisons were made (tests check that a refused request asked for no face)
        self.calls = 0

    def match(self, capture: FaceCapture, portrait: bytes) -> FaceMatch:
        self.calls += 1
        same = hmac.compare_digest(capture.image, _SIM_PREFIX + _fingerprint(portrait))
        score = 0.97 if same else 0.12
        return FaceMatch(matched=capture.live and score >= self.threshold, score=score)


class SimulatedCamera:
    """TEST ONLY: a camera that shows the simulator ``who``: the ``holder`` (whose card ``portrait`` it is
    given), a ``stranger``, or a ``photo`` of the holder (not live: the liveness check fails)."""

    def __init__(self, portrait: bytes, who: Literal["holder", "stranger", "photo"] = "holder") -> None:
        if who not in ("holder", "stranger", "photo"):
            raise UsageError("who is 'holder', 'stranger' or 'photo'")
        self._portrait = portrait
        self.who = who
        self.captures = 0

    def __repr__(self) -> str:
        return f"SimulatedCamera(who={self.who!r})"

    def __call__(self) -> FaceCapture:
        self.captures += 1
        if self.who == "stranger":
            return FaceCapture(_SIM_PREFIX + _fingerprint(b"someone else"), live=True)
        return FaceCapture(_SIM_PREFIX + _fingerprint(self._portrait), live=self.who == "holder")
