"""Minting network certificates (netcerts): batches of single-use SD-JWT VCs from verified card data.

The format is :mod:`netid.credentials.netcert`; ``specs/protocol.md`` §3 is the normative claim table.

Rules this module fixes (each one is a privacy invariant tested in ``tests/verifier/test_privacy.py``):

* **Coarse times.** ``iat`` is ``now`` rounded *down* to ``policy.granularity`` (a day by default) and
  ``exp = iat + validity_days`` days; both are multiples of the granularity. Neither is ever moved to a
  birthday or a document date, so no timestamp in a netcert is derived from personal data.
* **Ages hold for the whole window.** ``age_over_NN`` is evaluated once, for the earliest civil date
  anywhere on Earth at the instant the window opens (the UTC date of ``iat`` minus one day, i.e. UTC-12
  and beyond). Age never decreases, so a value true then is true for every instant of the window. A
  person who crosses a threshold *inside* the window gets ``false`` for that threshold in this batch
  (false means "not proven") and ``true`` in the next one; ``exp`` is **not** capped at the crossing,
  because a capped ``exp`` would reveal the birthday. Someone born on 29 February reaches a new age on
  1 March in common years.
* **Document validity** (``doc_valid``) is true only if the card stays valid through the latest civil
  date anywhere at ``exp`` (UTC date of ``exp`` plus one day); again ``exp`` is not capped.
* **Distinct device keys.** Each credential of a batch is bound to its *own* holder key. A shared
  ``cnf.jwk`` would be a correlation handle identical across every RP, defeating single-use batches;
  :func:`mint_netcert_batch` therefore refuses duplicate holder keys, as it refuses duplicate status
  indices. Salts and signatures differ per credential: each credential draws its own salts and is
  signed on its own (the batch path only shares the encoding of what the credentials have in common).
* **Subjects.** An anonymous netcert carries no subject at all. An RP-scoped netcert carries the
  pairwise ``sub`` for exactly one sector plus that ``sector`` (both always visible, never disclosable
  separately) so a verifier can refuse a subject minted for another sector.
* **Nothing always visible is person-specific** beyond what a batch needs per credential (``cnf``, the
  random status index, the pairwise ``sub``): ``assurance`` carries only ``chip_auth``;
  ``IdentityAttributes.enrollment_factors`` is the issuer's record and never enters a credential.
* The global ``netno`` is included (selectively disclosable) only in RP-scoped batches minted with
  ``include_netno=True`` for RPs authorised for real-name registration.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from netid.credentials.jose import PRIVATE_JWK_MEMBERS, jwk_thumbprint
from netid.credentials.netcert import CHIP_AUTH_VALUES, NETCERT_TYP, NETCERT_VCT, ChipAuth
from netid.credentials.netno import is_valid_netno, pairwise_subject
from netid.credentials.sdjwt.issue import SD, issue_sd_jwt_batch
from netid.errors import UsageError
from netid.issuance.status_lists import status_claim
from netid.names import canonical_name
from netid.personal_number import age_on, is_valid_personal_number

if TYPE_CHECKING:
    from netid.issuance.profile import IssuerProfile

__all__ = ["IdentityAttributes", "NetcertPolicy", "RpScope", "mint_netcert_batch"]

_CHIP_AUTH: Final = CHIP_AUTH_VALUES
_DAY: Final = 86_400


@dataclass(frozen=True, slots=True)
class IdentityAttributes:
    """Attributes verified from the ID card chip (after passive + chip authentication).

    ``repr`` never shows the personal values: these objects end up in tracebacks and logs.
    Region codes are the first 2/4/6 digits of the personal number (province/city/county).
    """

    full_name: str = field(repr=False)
    personal_number: str = field(repr=False)
    date_of_birth: _dt.date = field(repr=False)
    document_expiry: _dt.date = field(repr=False)
    chip_auth: ChipAuth = "aa"
    enrollment_factors: tuple[str, ...] = ("nfc_chip",)

    def __post_init__(self) -> None:
        if not is_valid_personal_number(self.personal_number):
            # Never echo the number itself: errors end up in logs.
            raise UsageError("personal_number is not a valid 18-character number with its check digit")
        if not self.full_name or not isinstance(self.full_name, str):
            raise UsageError("full_name must be a non-empty string")
        if self.chip_auth not in _CHIP_AUTH:
            raise UsageError(f"chip_auth must be one of {_CHIP_AUTH}")
        if not isinstance(self.enrollment_factors, tuple):
            object.__setattr__(self, "enrollment_factors", tuple(self.enrollment_factors))

    @property
    def region_province(self) -> str:
        return self.personal_number[:2]

    @property
    def region_city(self) -> str:
        return self.personal_number[:4]

    @property
    def region_county(self) -> str:
        return self.personal_number[:6]


@dataclass(frozen=True, slots=True)
class NetcertPolicy:
    """Issuer policy for netcert batches.

    ``granularity`` (seconds) is the unit ``iat``/``exp`` are rounded to; it must divide one day and the
    validity period. ``decoys`` adds up to that many decoy digests per credential. The default is 0:
    every netcert of one kind and policy has the same set of disclosable claims, so their count reveals
    nothing (the only variable one, ``netno``, depends on the RP sector's authorisation, which its RPs
    know anyway), while every digest adds parsing work to every verification.
    """

    age_thresholds: tuple[int, ...] = (14, 16, 18, 60)
    validity_days: int = 30
    granularity: int = _DAY
    decoys: int = 0

    def __post_init__(self) -> None:
        if not self.age_thresholds or any(not 0 < t < 150 for t in self.age_thresholds):
            raise UsageError("age_thresholds must be non-empty ages between 1 and 149")
        if len(set(self.age_thresholds)) != len(self.age_thresholds):
            raise UsageError("age_thresholds must be distinct")
        if self.validity_days < 1:
            raise UsageError("validity_days must be at least 1")
        if self.granularity < 1 or _DAY % self.granularity:
            raise UsageError("granularity must be a positive divisor of 86400 seconds")
        if self.decoys < 0:
            raise UsageError("decoys must be >= 0")

    def window(self, now: int) -> tuple[int, int]:
        """The coarse ``(iat, exp)`` of a credential minted at ``now``."""
        iat = now - now % self.granularity
        return iat, iat + self.validity_days * _DAY


def _utc_date(ts: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ts, tz=_dt.UTC).date()


def _person_claims(attrs: IdentityAttributes, netno: str | None) -> dict[str, Any]:
    """The disclosable claims that do not depend on the window: the same for every credential of a batch."""
    claims: dict[str, Any] = {"name": SD(canonical_name(attrs.full_name))}  # the form name_equals compares
    claims["id_number"] = SD(attrs.personal_number)
    claims["region_province"] = SD(attrs.region_province)
    claims["region_city"] = SD(attrs.region_city)
    claims["region_county"] = SD(attrs.region_county)
    if netno is not None:
        claims["netno"] = SD(netno)
    return claims


def _disclosable_claims(
    attrs: IdentityAttributes, policy: NetcertPolicy, iat: int, exp: int, person: Mapping[str, Any]
) -> dict[str, Any]:
    """A credential's disclosable claims: the predicates for its window (§3), then ``person``'s claims."""
    earliest_day = _utc_date(iat) - _dt.timedelta(days=1)
    latest_day = _utc_date(exp) + _dt.timedelta(days=1)
    age = age_on(attrs.date_of_birth, earliest_day)
    claims: dict[str, Any] = {f"age_over_{t}": SD(age >= t) for t in sorted(policy.age_thresholds)}
    claims["doc_valid"] = SD(attrs.document_expiry >= latest_day)
    claims.update(person)
    return claims


def _key_identity(jwk: Mapping[str, Any]) -> tuple[str, ...]:
    """What a JWK's RFC 7638 thumbprint is computed over: ``(kty, crv, x)``, and ``y`` for EC. Two holder
    JWKs are one key exactly when these are equal: :func:`jwk_thumbprint` without its JSON and hash, which
    cost a tenth of minting a netcert. A JWK it refuses goes to it, so the error is its own."""
    kty = jwk.get("kty")
    crv = jwk.get("crv")
    x = jwk.get("x")
    if type(crv) is str and type(x) is str:
        if kty == "OKP":
            return ("OKP", crv, x)
        y = jwk.get("y")
        if kty == "EC" and type(y) is str:
            return ("EC", crv, x, y)
    return (jwk_thumbprint(jwk),)  # raises ParseError: members missing, not strings, unknown kty


@dataclass(frozen=True, slots=True)
class RpScope:
    """What makes a batch RP-scoped: the RP's ``sector``, the person's ``netno`` and the issuer's
    ``pairwise_key`` (the pairwise subject is derived from them); ``include_netno`` adds the netno
    itself as a disclosable claim, for RPs authorised for real-name registration."""

    sector: str
    netno: str = field(repr=False)
    pairwise_key: bytes = field(repr=False)
    include_netno: bool = False

    def __post_init__(self) -> None:
        if not self.sector:
            raise UsageError("an RP-scoped batch needs a sector")
        if not is_valid_netno(self.netno):
            raise UsageError("netno is not a valid network number")
        if len(self.pairwise_key) < 16:
            raise UsageError("pairwise_key must be at least 16 bytes")


def mint_netcert_batch(
    attrs: IdentityAttributes,
    *,
    profile: IssuerProfile,
    holder_jwks: Sequence[Mapping[str, Any]],
    status: Sequence[tuple[str, int]],
    now: int,
    rng: Callable[[int], bytes],
    scope: RpScope | None = None,
    day_offsets: Sequence[int] | None = None,
) -> list[str]:
    """Mint one single-use netcert (issuer-signed SD-JWT, no key binding) per holder key.

    ``holder_jwks[i]`` (a public JWK, distinct per credential) becomes credential *i*'s ``cnf.jwk`` and
    ``status[i] = (list uri, index)`` its status-list entry — draw indices with
    :func:`netid.issuance.status_lists.allocate_indices` (uniformly random from a large list; never
    consecutive, which would link a batch's presentations). ``scope`` makes the batch RP-scoped (see
    :class:`RpScope`); without it the batch is anonymous. ``rng`` supplies the salts
    (``secrets.token_bytes`` in production, a seeded source in tests). Signed with the profile's netcert
    key under its policy.

    ``day_offsets[i]`` (whole days, ``>= 0``) moves credential *i*'s coarse window back by that many days:
    ``iat`` and ``exp`` both shift, the validity stays ``validity_days``, and the age and document
    predicates are evaluated for that credential's own window. An issuer draws them independently per
    credential so the dates do not link a batch's members (two credentials of one batch with the same
    ``iat`` would narrow a person down to that day's batch). ``None``: every window starts today.
    """
    if type(now) is not int:
        raise UsageError("now must be an int of Unix seconds")
    policy = profile.netcert_policy
    count = len(holder_jwks)
    if count < 1:
        raise UsageError("a batch needs at least one holder key")
    if len(status) != count:
        raise UsageError("holder_jwks and status need exactly one entry per credential")
    jwks = [dict(j) for j in holder_jwks]  # each credential's own copy, its cnf.jwk
    if len(set(map(_key_identity, jwks))) != count:
        raise UsageError("each credential needs its own holder key (a shared cnf.jwk links presentations)")
    if any(not PRIVATE_JWK_MEMBERS.isdisjoint(j) for j in jwks):
        raise UsageError("holder_jwks must be public keys")
    if len(set(status)) != count or any(type(i) is not int or i < 0 for _, i in status):
        raise UsageError("status entries must be distinct (list, non-negative index) pairs")
    offsets = [0] * count if day_offsets is None else list(day_offsets)
    if len(offsets) != count or any(type(d) is not int or d < 0 for d in offsets):
        raise UsageError("day_offsets needs one non-negative whole number of days per credential")

    subject = pairwise_subject(scope.netno, scope.sector, scope.pairwise_key) if scope is not None else None
    netno = scope.netno if scope is not None and scope.include_netno else None
    key = profile.keys.netcert
    base_iat, base_exp = policy.window(now)
    # Only the chip-authentication class (3 values) is always visible: the verifier needs nothing else for
    # the assurance level. Enrollment factors stay with the issuer: a list of them would partition
    # holders by enrollment path, an always-visible handle shared across every RP (protocol.md §3).
    assurance = {"chip_auth": attrs.chip_auth}
    # The disclosable claims depend only on the window: built once per day offset (SD markers are
    # immutable). Salts are not part of them: issue_sd_jwt_batch draws fresh ones for every credential.
    person = _person_claims(attrs, netno)
    disclosable: dict[int, dict[str, Any]] = {}
    claim_sets: list[dict[str, Any]] = []
    for jwk, (status_uri, status_idx), offset in zip(jwks, status, offsets, strict=True):
        iat, exp = base_iat - offset * _DAY, base_exp - offset * _DAY
        claims: dict[str, Any] = {
            "iss": profile.issuer,
            "vct": NETCERT_VCT,
            "iat": iat,
            "exp": exp,
            "status": status_claim(status_uri, status_idx),
            "cnf": {"jwk": jwk},
            "assurance": assurance,
        }
        if scope is not None:
            claims["sub"] = subject
            claims["sector"] = scope.sector
        sd = disclosable.get(offset)
        if sd is None:
            sd = disclosable[offset] = _disclosable_claims(attrs, policy, iat, exp, person)
        claims.update(sd)
        claim_sets.append(claims)
    return issue_sd_jwt_batch(
        claim_sets, key.signer, typ=NETCERT_TYP, kid=key.kid, decoys=policy.decoys, rng=rng
    )
