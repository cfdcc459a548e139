"""Network certificates (netcerts): minting batches of single-use SD-JWT VCs from verified card data.

A netcert is an SD-JWT VC (``typ: dc+sd-jwt``, ``vct: urn:netid:netcert:1``) signed by the issuer and
bound to one device key (``cnf.jwk``). See ``specs/protocol.md`` §3 for the normative claim table.

Rules this module fixes (each one is a privacy invariant of DESIGN §7):

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
  indices. Salts and signatures differ per credential because every credential is issued separately.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from netid.credentials.jose import PRIVATE_JWK_MEMBERS, SigningKey, jwk_thumbprint
from netid.credentials.netno import is_valid_netno, pairwise_subject
from netid.credentials.sdjwt.issue import SD, issue_sd_jwt
from netid.credentials.status_list import status_claim
from netid.errors import UsageError
from netid.personal_number import age_on, is_valid_personal_number

__all__ = [
    "NETCERT_TYP",
    "NETCERT_VCT",
    "ChipAuth",
    "IdentityAttributes",
    "NetcertKind",
    "NetcertPolicy",
    "mint_netcert_batch",
]

NETCERT_VCT: Final = "urn:netid:netcert:1"
NETCERT_TYP: Final = "dc+sd-jwt"

ChipAuth = Literal["aa", "ca", "pa-only"]
NetcertKind = Literal["anonymous", "rp"]

_CHIP_AUTH: Final = ("aa", "ca", "pa-only")
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
            # Never echo the number itself (DESIGN §7.4).
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


def _disclosable_claims(
    attrs: IdentityAttributes, policy: NetcertPolicy, iat: int, exp: int, netno: str | None
) -> dict[str, Any]:
    earliest_day = _utc_date(iat) - _dt.timedelta(days=1)
    latest_day = _utc_date(exp) + _dt.timedelta(days=1)
    age = age_on(attrs.date_of_birth, earliest_day)
    claims: dict[str, Any] = {f"age_over_{t}": SD(age >= t) for t in sorted(policy.age_thresholds)}
    claims["doc_valid"] = SD(attrs.document_expiry >= latest_day)
    claims["name"] = SD(attrs.full_name)
    claims["id_number"] = SD(attrs.personal_number)
    claims["region_province"] = SD(attrs.region_province)
    claims["region_city"] = SD(attrs.region_city)
    claims["region_county"] = SD(attrs.region_county)
    if netno is not None:
        claims["netno"] = SD(netno)
    return claims


def mint_netcert_batch(
    attrs: IdentityAttributes,
    *,
    issuer: str,
    issuer_key: SigningKey,
    kid: str,
    holder_jwks: Sequence[dict[str, Any]],
    count: int,
    kind: NetcertKind,
    sector: str | None,
    netno: str | None,
    pairwise_key: bytes | None,
    status_uri: str,
    status_indices: Sequence[int],
    now: int,
    policy: NetcertPolicy | None = None,
    rng: Callable[[int], bytes],
    include_netno: bool = False,
) -> list[str]:
    """Mint ``count`` single-use netcerts (issuer-signed SD-JWTs without key binding).

    ``holder_jwks[i]`` (a public JWK, distinct per credential) becomes credential *i*'s ``cnf.jwk`` and
    ``status_indices[i]`` its status-list index — draw them with
    :func:`netid.credentials.status_list.allocate_indices` (uniformly random from a large list; never
    consecutive, which would link a batch's presentations). ``kind="rp"`` needs ``sector``, ``netno`` and
    ``pairwise_key`` (the pairwise subject is derived here; the netno itself is included only with
    ``include_netno=True``); ``kind="anonymous"`` must not name a sector or include the netno.
    ``rng`` supplies the salts (``secrets.token_bytes`` in production, a seeded source in tests).
    """
    policy = policy or NetcertPolicy()
    if count < 1:
        raise UsageError("count must be at least 1")
    if len(holder_jwks) != count or len(status_indices) != count:
        raise UsageError("holder_jwks and status_indices need exactly one entry per credential")
    thumbprints = {jwk_thumbprint(dict(j)) for j in holder_jwks}
    if len(thumbprints) != count:
        raise UsageError("each credential needs its own holder key (a shared cnf.jwk links presentations)")
    if any(not PRIVATE_JWK_MEMBERS.isdisjoint(j) for j in holder_jwks):
        raise UsageError("holder_jwks must be public keys")
    if len(set(status_indices)) != count or any(i < 0 for i in status_indices):
        raise UsageError("status_indices must be distinct non-negative integers")
    if not issuer:
        raise UsageError("issuer must be non-empty")

    subject: str | None = None
    if kind == "rp":
        if not sector or netno is None or pairwise_key is None:
            raise UsageError("an RP-scoped batch needs sector, netno and pairwise_key")
        if not is_valid_netno(netno):
            raise UsageError("netno is not a valid network number")
        subject = pairwise_subject(netno, sector, pairwise_key)
    elif kind == "anonymous":
        if sector is not None or include_netno:
            raise UsageError("an anonymous batch carries no sector and no netno")
    else:
        raise UsageError("kind must be 'anonymous' or 'rp'")

    iat, exp = policy.window(now)
    # Only the chip-authentication class (3 values) is always visible: the verifier needs nothing else for
    # the assurance level. Enrollment factors stay with the issuer: a list of them would partition
    # holders by enrollment path, an always-visible handle shared across every RP (protocol.md §3).
    assurance = {"chip_auth": attrs.chip_auth}
    out: list[str] = []
    for holder_jwk, status_idx in zip(holder_jwks, status_indices, strict=True):
        claims: dict[str, Any] = {
            "iss": issuer,
            "vct": NETCERT_VCT,
            "iat": iat,
            "exp": exp,
            "status": status_claim(status_uri, status_idx),
            "cnf": {"jwk": dict(holder_jwk)},
            "assurance": assurance,
        }
        if subject is not None:
            claims["sub"] = subject
            claims["sector"] = sector
        # Build the disclosable claims per credential so each one gets fresh salts from rng.
        claims.update(_disclosable_claims(attrs, policy, iat, exp, netno if include_netno else None))
        issued = issue_sd_jwt(claims, issuer_key, typ=NETCERT_TYP, kid=kid, decoys=policy.decoys, rng=rng)
        out.append(issued.serialized)
    return out
