"""The RP registry: who may ask wallets what, and the access certificates that say so.

An RP is registered by an administrator (``POST /admin/rps``, or ``netid-issuer rp register``); it gets
an entry in an RP status list and an **RP access certificate** (``specs/protocol.md`` §4) signed with the
issuer's RP-certificate key, listing exactly what it may ask — and the PIPL Art. 17 notice a wallet
shows at consent (processor, contact, purposes, retention). An update issues a new certificate; a
suspension, reinstatement or revocation changes only the certificate's status entry (every certificate
the RP holds carries that entry), so wallets refuse a suspended or revoked RP before its certificate
expires. Revocation is final.

Every change is appended to the audit log in the same transaction (actions ``rp.register``,
``rp.update``, ``rp.renew``, ``rp.suspend``, ``rp.reinstate``, ``rp.revoke``; subject the RP id). The
details say what changed without copying free text: the full content is bound by the certificate's
SHA-256 (``certificate_sha256``), which the registry keeps.

Service functions over a session and the process context; no FastAPI imports. Errors are
:class:`~issuer_service.core.problems.Problem` ``validation``, ``conflict`` or ``not_found``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.core.problems import Problem
from issuer_service.db.tables import RelyingParty
from issuer_service.db.times import unix, utc
from issuer_service.services.audit import append_audit
from issuer_service.services.keys import RP_CERTIFICATE_VALIDITY
from issuer_service.services.status import claim_entries, list_uri, retire_rp_entry, status_changed
from netid.credentials.jose import jwk_thumbprint
from netid.errors import ParseError, UsageError
from netid.issuance import IssuerProfile, NetcertPolicy, RpRegistration, issue_rp_certificate

__all__ = [
    "RP_CERTIFICATE_VALIDITY",
    "RP_ID_PATTERN",
    "RpAction",
    "RpRecord",
    "RpSpec",
    "change_rp_state",
    "get_rp",
    "list_rps",
    "register_rp",
    "spec_values",
    "update_rp",
]

#: an RP id appears in URLs (``/admin/rps/{rp_id}``) and in the ``client_id`` ``verifier_attestation:<id>``
RP_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
#: maximum lengths (characters) of the free-text members, as the table stores them
TEXT_LIMITS: Final = {"name": 256, "sector": 256, "processor": 256, "contact": 256, "retention": 128}
#: at most this many predicates, purposes and response URIs; a purpose is at most PURPOSE_LIMIT long
LIST_LIMIT: Final = 16
PURPOSE_LIMIT: Final = 256
#: a suspension's or revocation's reason, as the audit log keeps it
REASON_LIMIT: Final = 256

RpAction = Literal["suspend", "reinstate", "revoke"]
#: action -> (states it may leave, state it enters). Revocation is final: nothing leaves "revoked".
_TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "suspend": (frozenset({"active"}), "suspended"),
    "reinstate": (frozenset({"suspended"}), "active"),
    "revoke": (frozenset({"active", "suspended"}), "revoked"),
}
#: what an update may change (never the RP id, nor the sector: every pairwise subject depends on it)
UPDATABLE: Final = (
    "name",
    "allowed_predicates",
    "purposes",
    "response_uris",
    "request_jwk",
    "processor",
    "contact",
    "retention",
    "netno_allowed",
)
_REGISTRY_LOCK: Final = 0x6E65_7469_6472  # "netidr": serialises registrations on PostgreSQL


@dataclass(frozen=True, slots=True)
class RpSpec:
    """What an administrator registers: the RP, what it may ask, and its PIPL Art. 17 notice."""

    rp_id: str
    name: str
    sector: str
    allowed_predicates: Sequence[str]
    purposes: Sequence[str]
    response_uris: Sequence[str]
    request_jwk: Mapping[str, Any] = field(repr=False)
    #: the personal-information processor's legal name, its contact, how long the RP keeps what it learns
    processor: str
    contact: str
    retention: str
    #: authorised for the global network number (where law requires real-name registration)
    netno_allowed: bool = False


@dataclass(frozen=True, slots=True)
class RpRecord:
    """A registered RP as the admin API shows it (times in Unix seconds)."""

    spec: RpSpec
    state: str
    status_uri: str
    status_idx: int
    certificate: str = field(repr=False)
    certificate_exp: int
    created_at: int
    updated_at: int


def _record(context: IssuerContext, row: RelyingParty) -> RpRecord:
    return RpRecord(
        spec=_spec_of(row),
        state=row.state,
        status_uri=list_uri(context, row.status_list_id),
        status_idx=row.status_idx,
        certificate=row.certificate,
        certificate_exp=row.certificate_exp,
        created_at=unix(row.created_at),
        updated_at=unix(row.updated_at),
    )


def spec_values(spec: RpSpec) -> dict[str, Any]:
    """``spec``'s members as JSON-ready values (lists, dicts): a row's columns, the admin API's fields."""
    return {f.name: _canon(getattr(spec, f.name)) for f in fields(RpSpec)}


def _spec_of(row: RelyingParty) -> RpSpec:
    values: dict[str, Any] = {}
    for f in fields(RpSpec):
        value = getattr(row, f.name)
        values[f.name] = tuple(value) if isinstance(value, list) else value
    return RpSpec(**values)


def _profile(context: IssuerContext) -> IssuerProfile:
    """The issuer's profile with its current keys. Call it before the transaction's first statement:
    reloading the key ring opens a transaction of its own, which on SQLite would wait for the write lock
    ours holds from its first statement on."""
    settings = context.settings
    return IssuerProfile(
        settings.issuer_url,
        context.keys.ring().issuer_keys,
        netcert_policy=NetcertPolicy(
            age_thresholds=settings.age_thresholds, validity_days=settings.netcert_validity_days
        ),
        rp_certificate_validity=RP_CERTIFICATE_VALIDITY,
    )


def _check(spec: RpSpec, context: IssuerContext) -> RpRegistration:
    """Refuse what no certificate may say (``validation``); the netid registration it certifies."""
    if not re.fullmatch(RP_ID_PATTERN, spec.rp_id):
        raise Problem("validation", "rp_id must be 1-128 letters, digits, '.', '_', ':' or '-'")
    for name, limit in TEXT_LIMITS.items():
        value = getattr(spec, name)
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise Problem("validation", f"{name} must be a non-empty text of at most {limit} characters")
    for name in ("allowed_predicates", "purposes", "response_uris"):
        values = getattr(spec, name)
        if isinstance(values, str) or len(values) > LIST_LIMIT or len(set(values)) != len(values):
            raise Problem("validation", f"{name} must be a list of at most {LIST_LIMIT} distinct strings")
    if any(not isinstance(p, str) or not p.strip() or len(p) > PURPOSE_LIMIT for p in spec.purposes):
        raise Problem(
            "validation", f"each purpose must be a non-empty text of at most {PURPOSE_LIMIT} characters"
        )
    if "netno" in spec.allowed_predicates and not spec.netno_allowed:
        raise Problem(
            "validation", "the netno scope needs netno_allowed (authorised for real-name registration)"
        )
    try:
        registration = RpRegistration(
            rp_id=spec.rp_id, name=spec.name, sector=spec.sector, allowed_predicates=spec.allowed_predicates,
            purposes=spec.purposes, response_uris=spec.response_uris, request_jwk=spec.request_jwk,
            allow_loopback_http=context.settings.dev_mode, processor=spec.processor, contact=spec.contact,
            retention=spec.retention,
        )  # fmt: skip
        jwk_thumbprint(spec.request_jwk)
    except (UsageError, ParseError) as exc:
        raise Problem("validation", str(exc).removeprefix("JWK: ")) from exc
    return registration


def _certify(
    profile: IssuerProfile, context: IssuerContext, registration: RpRegistration, row: RelyingParty, now: int
) -> dict[str, Any]:
    """Sign ``row``'s certificate (status entry already claimed); the audit details that bind it."""
    try:
        token = issue_rp_certificate(
            profile, registration, now=now, status=(list_uri(context, row.status_list_id), row.status_idx)
        )
    except UsageError as exc:  # an age_over_NN this issuer does not mint
        raise Problem("validation", str(exc)) from exc
    row.certificate = token
    row.certificate_exp = now + profile.rp_certificate_validity
    return {
        "kid": profile.keys.rp_certificate.kid,
        "certificate_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "certificate_exp": row.certificate_exp,
    }


def register_rp(session: Session, context: IssuerContext, spec: RpSpec, *, actor: str) -> RpRecord:
    """Register ``spec``: a status entry, a signed access certificate, an ``rp.register`` audit entry.

    ``validation`` for anything a certificate may not say; ``conflict`` if the RP id is taken.
    """
    registration = _check(spec, context)
    profile = _profile(context)  # before the first query: see _profile
    if session.get_bind().dialect.name == "postgresql":
        # two administrators registering one RP id at once: the second waits, then sees the first
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REGISTRY_LOCK})
    if session.get(RelyingParty, spec.rp_id) is not None:
        raise Problem("conflict", "an RP with this rp_id is already registered")
    now = context.clock()
    when = utc(now)
    row = RelyingParty(
        **spec_values(spec),
        state="active",
        certificate="",
        certificate_exp=0,
        created_at=when,
        updated_at=when,
    )
    claim_entries(session, context, "rp", [row])
    bound = _certify(profile, context, registration, row, now)
    append_audit(
        session, at=now, actor=actor, action="rp.register", subject=spec.rp_id,
        details={
            "sector": spec.sector,
            "allowed_predicates": list(spec.allowed_predicates),
            "response_uris": list(spec.response_uris),
            "netno_allowed": spec.netno_allowed,
            "request_jwk_thumbprint": jwk_thumbprint(spec.request_jwk),
            "status": {"list": row.status_list_id, "idx": row.status_idx},
            **bound,
        },
    )  # fmt: skip
    return _record(context, row)


def _load(session: Session, rp_id: str, *, for_update: bool = False) -> RelyingParty:
    row = session.get(RelyingParty, rp_id, with_for_update=for_update)
    if row is None:
        raise Problem("not_found", "no RP with this rp_id")
    return row


def get_rp(session: Session, context: IssuerContext, rp_id: str) -> RpRecord:
    return _record(context, _load(session, rp_id))


def list_rps(session: Session, context: IssuerContext, *, state: str | None = None) -> list[RpRecord]:
    """Every registered RP (or those in ``state``), by RP id."""
    query = select(RelyingParty).order_by(RelyingParty.rp_id)
    if state is not None:
        query = query.where(RelyingParty.state == state)
    return [_record(context, row) for row in session.scalars(query)]


def update_rp(
    session: Session, context: IssuerContext, rp_id: str, changes: Mapping[str, Any], *, actor: str
) -> RpRecord:
    """Change the members in ``changes`` (a subset of :data:`UPDATABLE`) and issue a new certificate.

    With no change at all this renews the certificate (audited as ``rp.renew``). ``conflict`` for a
    revoked RP; ``validation`` for a member that may not change or a value a certificate may not say.

    A change takes effect at once: the RP gets a fresh status entry for the new certificate and the
    certificate it replaces is revoked (:func:`~issuer_service.services.status.retire_rp_entry`), so a
    predicate, response URI or key taken back cannot be used with the old one. A renewal without change
    keeps the entry: both certificates say the same, and both follow the RP's state.
    """
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise Problem("validation", f"cannot change {', '.join(sorted(unknown))}")
    profile = _profile(context)  # before the first query: see _profile
    row = _load(session, rp_id, for_update=True)
    if row.state == "revoked":
        raise Problem("conflict", "this RP is revoked; revocation is final")
    before = _spec_of(row)
    values = {f.name: getattr(before, f.name) for f in fields(RpSpec)}
    for name, value in changes.items():
        if value is None:
            raise Problem("validation", f"{name} cannot be removed")
        values[name] = tuple(value) if isinstance(value, list) else value
    after = RpSpec(**values)
    registration = _check(after, context)
    changed = sorted(
        name for name in UPDATABLE if _canon(getattr(after, name)) != _canon(getattr(before, name))
    )
    now = context.clock()
    for name in changed:
        setattr(row, name, _canon(getattr(after, name)))
    row.updated_at = utc(now)
    details: dict[str, Any] = {"changed": changed}
    if changed:
        if session.get_bind().dialect.name == "postgresql":  # RP entries are claimed one at a time
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REGISTRY_LOCK})
        old_list, old_idx = retire_rp_entry(session, context, row)
        details["status"] = {"list": row.status_list_id, "idx": row.status_idx}
        details["retired_status"] = {"list": old_list, "idx": old_idx}
    bound = _certify(profile, context, registration, row, now)
    for name in ("allowed_predicates", "response_uris", "netno_allowed"):
        if name in changed:
            details[name] = _canon(getattr(after, name))
    if "request_jwk" in changed:
        details["request_jwk_thumbprint"] = jwk_thumbprint(after.request_jwk)
    append_audit(
        session, at=now, actor=actor, action="rp.update" if changed else "rp.renew", subject=rp_id,
        details=details | bound,
    )  # fmt: skip
    return _record(context, row)


def _canon(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def change_rp_state(
    session: Session,
    context: IssuerContext,
    rp_id: str,
    action: RpAction,
    *,
    actor: str,
    reason: str | None = None,
) -> RpRecord:
    """Suspend, reinstate or revoke an RP: its status entry changes (the status list is re-signed on the
    next fetch) and the change is audited. ``conflict`` if the RP is not in a state ``action`` leaves."""
    sources, target = _TRANSITIONS[action]
    if reason is not None and len(reason) > REASON_LIMIT:
        raise Problem("validation", f"reason must be at most {REASON_LIMIT} characters")
    row = _load(session, rp_id, for_update=True)
    if row.state not in sources:
        raise Problem("conflict", f"cannot {action} an RP that is {row.state}")
    previous = row.state
    now = context.clock()
    row.state = target
    row.updated_at = utc(now)
    session.flush()
    status_changed(session, row.status_list_id)
    details: dict[str, Any] = {"from": previous, "to": target}
    if reason:
        details["reason"] = reason
    append_audit(session, at=now, actor=actor, action=f"rp.{action}", subject=rp_id, details=details)
    return _record(context, row)
