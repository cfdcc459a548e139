"""What a relying party learns from a verified presentation: yes/no answers, never attribute values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from netid.oid4vp.modes import AuthMode

__all__ = ["Answers", "Assurance", "CredentialKind", "assurance_level"]

CredentialKind = Literal["anonymous", "rp"]


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
