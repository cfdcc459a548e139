"""What a relying party learns from a verified presentation: yes/no answers, never attribute values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

__all__ = [
    "MODES",
    "Answers",
    "Assurance",
    "AuthMode",
    "CredentialKind",
    "amr_for_mode",
    "assurance_level",
    "mode_from_amr",
    "mode_rank",
]

AuthMode = Literal["device", "pin", "face", "pin+face"]
CredentialKind = Literal["anonymous", "rp"]

#: CTID-style holder authentication modes, weakest first. ``face`` ranks above ``pin`` because it binds
#: the presentation to the enrolled person rather than to a shared secret.
MODES: Final[tuple[AuthMode, ...]] = ("device", "pin", "face", "pin+face")

_RANK: Final[dict[str, int]] = {m: i for i, m in enumerate(MODES)}

# RFC 8176 authentication method reference values carried in the KB-JWT ``amr`` claim.
_AMR_DEVICE_HW: Final = "hwk"
_AMR_DEVICE_SW: Final = "swk"


def mode_rank(mode: str) -> int:
    """Position of ``mode`` in :data:`MODES` (higher is stronger); ``-1`` if unknown."""
    return _RANK.get(mode, -1)


def amr_for_mode(mode: AuthMode, *, hardware_key: bool) -> list[str]:
    """The RFC 8176 ``amr`` list a wallet puts in its KB-JWT for ``mode``."""
    amr = [_AMR_DEVICE_HW if hardware_key else _AMR_DEVICE_SW]
    if mode in ("pin", "pin+face"):
        amr.append("pin")
    if mode in ("face", "pin+face"):
        amr.append("face")
    return amr


def mode_from_amr(amr: object) -> AuthMode | None:
    """Map a KB-JWT ``amr`` value back to a mode; ``None`` if absent or not understood."""
    if type(amr) is list and len(amr) <= 3 and all(type(a) is str for a in amr):
        cached = _AMR_CACHE.get(tuple(amr))
        if cached is not None:
            return cached
    return _mode_from_amr(amr)


def _mode_from_amr(amr: object) -> AuthMode | None:
    if not isinstance(amr, list) or not all(isinstance(a, str) for a in amr) or len(set(amr)) != len(amr):
        return None
    methods = set(amr)
    if not methods & {_AMR_DEVICE_HW, _AMR_DEVICE_SW}:
        return None
    extra = methods - {_AMR_DEVICE_HW, _AMR_DEVICE_SW}
    if extra - {"pin", "face"}:
        return None
    if extra == {"pin", "face"}:
        return "pin+face"
    if extra == {"face"}:
        return "face"
    if extra == {"pin"}:
        return "pin"
    return "device"


#: the amr lists wallets send, pre-mapped (the verifier's hot path looks them up instead of parsing)
_AMR_CACHE: Final[dict[tuple[str, ...], AuthMode]] = {
    tuple(amr_for_mode(m, hardware_key=hw)): m for m in MODES for hw in (True, False)
}


def assurance_level(chip_auth: str, mode: AuthMode | None) -> Literal["low", "substantial", "high"]:
    """eIDAS-style level from how the card was authenticated and how the holder unlocked the key.

    ``high``: a chip-authenticated card (AA/CA, so not a clone) and a biometric unlock;
    ``substantial``: chip-authenticated with PIN, or a passive-only card with a biometric unlock;
    ``low``: everything else (device possession only, or unknown mode).
    """
    chip = chip_auth in ("aa", "ca")
    if mode in ("face", "pin+face"):
        return "high" if chip else "substantial"
    if mode == "pin" and chip:
        return "substantial"
    return "low"


@dataclass(frozen=True, slots=True)
class Assurance:
    """How much trust the answers deserve: card authentication, holder unlock mode and the level."""

    chip_auth: str
    mode: AuthMode | None
    level: Literal["low", "substantial", "high"]


@dataclass(frozen=True, slots=True)
class Answers:
    """The outcome of a successful verification.

    ``predicates`` has one entry per asked predicate (``True`` = proven, ``False`` = not proven; the
    two are indistinguishable from "the holder declined"). ``subject`` is the pairwise subject for the
    RP's sector when it asked for one; ``netno`` the network number when asked and authorised. Neither
    is a personal attribute. No attribute value (name, personal number, birth date, region) ever
    appears here, in ``repr`` or otherwise.
    """

    predicates: Mapping[str, bool]
    subject: str | None
    assurance: Assurance
    credential_kind: CredentialKind
    netno: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.predicates, MappingProxyType):
            object.__setattr__(self, "predicates", MappingProxyType(dict(self.predicates)))

    def __getitem__(self, predicate: str) -> bool:
        """``answers["age_over_18"]``: the answer for one predicate (``KeyError`` if not asked)."""
        return self.predicates[predicate]

    def all(self, names: Sequence[str] | None = None) -> bool:
        """True if every predicate (or every one in ``names``) was proven."""
        keys = self.predicates.keys() if names is None else names
        return all(self.predicates[k] for k in keys)
