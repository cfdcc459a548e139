"""What a relying party wants to know, in its own terms: a :class:`Query` of yes/no predicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from netid.errors import UsageError
from netid.oid4vp.dcql import (
    Predicate,
    age_predicate,
    doc_valid_predicate,
    id_number_predicate,
    name_predicate,
    netno_predicate,
    region_predicate,
    subject_predicate,
)
from netid.oid4vp.modes import MODES, AuthMode

__all__ = ["Query"]


@dataclass(frozen=True, slots=True)
class Query:
    """What an RP wants to know, in its own terms.

    Every field left at its default is not asked. ``name_equals``/``id_number_equals`` are values the RP
    already holds (e.g. typed by the user); the answer says whether they match the card. A name is
    compared in its canonical form (:func:`netid.names.canonical_name`: NFKC, one middle dot, no spaces),
    the form the issuer mints it in, so "阿依古丽•买买提" matches a card's "阿依古丽·买买提". ``age_over``
    must be a threshold the issuer mints (the RP certificate's ``age_thresholds``; checked when the
    request is built). ``region_in``
    takes codes of one level (2, 4 or 6 digits). ``min_mode`` is the weakest holder-authentication mode
    accepted (``device`` < ``pin`` < ``face`` < ``pin+face``). ``purpose`` must be one of the purposes in
    the RP's certificate; wallets show it to the user.

    >>> [p.name for p in Query(purpose="age check", age_over=18, want_subject=True).predicates()]
    ['age_over_18', 'subject']
    """

    purpose: str
    age_over: int | None = None
    name_equals: str | None = field(default=None, repr=False)
    id_number_equals: str | None = field(default=None, repr=False)
    region_in: Sequence[str] | None = None
    doc_valid: bool = False
    min_mode: AuthMode | None = None
    want_subject: bool = False
    want_netno: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.purpose, str) or not self.purpose:
            raise UsageError("purpose is required")
        if self.min_mode is not None and self.min_mode not in MODES:
            raise UsageError(f"min_mode must be one of {MODES}")
        if self.region_in is not None:
            object.__setattr__(self, "region_in", tuple(self.region_in))
        self.predicates()  # validates every value now, not at build time

    def predicates(self) -> tuple[Predicate, ...]:
        """The predicates this query asks, in a fixed order."""
        out: list[Predicate] = []
        if self.age_over is not None:
            out.append(age_predicate(self.age_over))
        if self.doc_valid:
            out.append(doc_valid_predicate())
        if self.name_equals is not None:
            out.append(name_predicate(self.name_equals))
        if self.id_number_equals is not None:
            out.append(id_number_predicate(self.id_number_equals))
        if self.region_in is not None:
            out.append(region_predicate(self.region_in))
        if self.want_subject:
            out.append(subject_predicate())
        if self.want_netno:
            out.append(netno_predicate())
        return tuple(out)
