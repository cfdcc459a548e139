"""OpenID4VCI 1.0: the token endpoint, the nonce endpoint and the credential endpoint.

``specs/enrollment.md`` ("Issuance") is normative for what NetID adds; OpenID4VCI 1.0 and RFC 6749 for
the rest. Every bearer secret (pre-authorized code, access token, refresh token, ``c_nonce``) is stored
as its SHA-256 only. Refusals are :class:`~netid.errors.IssuanceError` with the standard's codes.

* **Token** (``POST /token``): the pre-authorized code (single use, ``offer_ttl``) or a refresh token
  (single use, rotated) buys an access token (``access_token_ttl``) and a new refresh token
  (``refresh_token_ttl``). Presenting a refresh token that was already used means it was copied: every
  token of that device is revoked (:class:`RefreshTokenReuse` — the caller must commit that before
  answering ``invalid_grant``).
* **Nonce** (``POST /nonce``): a fresh single-use ``c_nonce`` (``c_nonce_ttl``).
* **Credential** (``POST /credential``): the access token's device must not be revoked; the ``c_nonce``
  the proofs claim is consumed atomically; every key proof is verified (``aud`` = the credential
  issuer, distinct keys, at most ``batch_size``) — or, when the issuer requires key attestations
  (``key_attesters_path``), the one key attestation that carries the batch's keys
  (:mod:`netid.oid4vci.proofs`); then one netcert per key is minted from the person's
  decrypted attributes — age predicates re-derived now, so this is also *refresh* — each with its own
  status entry in an independently chosen list and its own whole-day jitter of ``iat``/``exp``.

No FastAPI imports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import (
    Device,
    IssuedCredential,
    Nonce,
    Person,
    PreAuthorizedCode,
    RelyingParty,
    Token,
)
from issuer_service.db.times import unix, utc
from issuer_service.services.audit import append_audit
from issuer_service.services.enrollment import token_hash
from issuer_service.services.persons import AttributesUnavailable, decrypt_attributes
from issuer_service.services.status import count_entries, list_uri, place_entries
from netid.credentials.jose import b64url_encode
from netid.errors import IssuanceError
from netid.issuance import IssuerProfile, NetcertPolicy, RpScope, mint_netcert_batch
from netid.oid4vci.offer import CONFIGURATION_IDS, PRE_AUTHORIZED_GRANT, RP_SCOPED
from netid.oid4vci.proofs import claimed_nonce, verify_proofs

__all__ = [
    "CredentialBatch",
    "CredentialRequest",
    "RefreshTokenReuse",
    "TokenGrant",
    "authenticate",
    "issue_credentials",
    "issue_nonce",
    "jitter_days",
    "parse_credential_request",
    "redeem_token",
    "revoke_device_tokens",
]

_DAY: Final = 86_400
_TOKEN_BYTES: Final = 32
_MAX_PARAM: Final = 512
_RP_ID_MAX: Final = 128


def _secret(context: IssuerContext) -> str:
    return b64url_encode(context.rng(_TOKEN_BYTES))


class RefreshTokenReuse(IssuanceError):  # noqa: N818 - a detected event, refused as invalid_grant
    """A used refresh token came back: the device's tokens were revoked in the session (commit it),
    and the request is refused with ``invalid_grant``."""

    def __init__(self) -> None:
        super().__init__(
            "invalid_grant", "the refresh token was already used; the device's tokens are revoked"
        )


# --- token --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    refresh_token: str
    expires_in: int

    def __repr__(self) -> str:
        return f"TokenGrant(expires_in={self.expires_in})"


def _param(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if not value or len(value) > _MAX_PARAM:
        raise IssuanceError("invalid_request", f"{name} is missing")
    return value


def _grant(session: Session, context: IssuerContext, device_id: str, now: int) -> TokenGrant:
    access, refresh = _secret(context), _secret(context)
    session.add_all(
        [
            Token(token_hash=token_hash(access), kind="access", device_id=device_id,
                  expires_at=utc(now + context.settings.access_token_ttl)),
            Token(token_hash=token_hash(refresh), kind="refresh", device_id=device_id,
                  expires_at=utc(now + context.settings.refresh_token_ttl)),
        ]
    )  # fmt: skip
    return TokenGrant(access, refresh, context.settings.access_token_ttl)


def _device_usable(session: Session, device_id: str) -> bool:
    device = session.get(Device, device_id)
    return device is not None and device.revoked_at is None


def revoke_device_tokens(session: Session, device_id: str, now: int) -> None:
    """End every token and unredeemed pre-authorized code of ``device_id`` now."""
    session.execute(
        update(Token)
        .where(Token.device_id == device_id, Token.expires_at > utc(now))
        .values(expires_at=utc(now))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(PreAuthorizedCode)
        .where(PreAuthorizedCode.device_id == device_id, PreAuthorizedCode.redeemed_at.is_(None))
        .values(redeemed_at=utc(now))
        .execution_options(synchronize_session=False)
    )


def redeem_token(session: Session, context: IssuerContext, form: Mapping[str, str]) -> TokenGrant:
    """The token endpoint (RFC 6749 §4/§6, OpenID4VCI 1.0 §6) over the parsed form parameters."""
    now = context.clock()
    grant_type = form.get("grant_type")
    if not grant_type:
        raise IssuanceError("invalid_request", "grant_type is missing")
    if grant_type == PRE_AUTHORIZED_GRANT:
        if "tx_code" in form:
            raise IssuanceError("invalid_request", "this issuer's offers carry no transaction code")
        digest = token_hash(_param(form, "pre-authorized_code"))
        code = session.scalars(
            select(PreAuthorizedCode).where(PreAuthorizedCode.code_hash == digest).with_for_update()
        ).first()
        if code is None or code.redeemed_at is not None or now >= unix(code.expires_at):
            raise IssuanceError("invalid_grant", "the pre-authorized code is unknown, used or expired")
        if not _device_usable(session, code.device_id):
            raise IssuanceError("invalid_grant", "the device's credentials were revoked")
        code.redeemed_at = utc(now)
        return _grant(session, context, code.device_id, now)
    if grant_type == "refresh_token":
        digest = token_hash(_param(form, "refresh_token"))
        token = session.scalars(
            select(Token).where(Token.token_hash == digest, Token.kind == "refresh").with_for_update()
        ).first()
        if token is None:
            raise IssuanceError("invalid_grant", "the refresh token is unknown, used or expired")
        if not _device_usable(session, token.device_id):
            raise IssuanceError("invalid_grant", "the device's credentials were revoked")
        if token.used_at is not None:
            revoke_device_tokens(session, token.device_id, now)
            raise RefreshTokenReuse
        if now >= unix(token.expires_at):
            raise IssuanceError("invalid_grant", "the refresh token is unknown, used or expired")
        token.used_at = utc(now)
        return _grant(session, context, token.device_id, now)
    raise IssuanceError("unsupported_grant_type", "use the pre-authorized code or refresh_token grant")


# --- nonce --------------------------------------------------------------------------------------------


def issue_nonce(session: Session, context: IssuerContext) -> str:
    """A fresh ``c_nonce``, valid for ``c_nonce_ttl`` seconds, single use."""
    nonce = _secret(context)
    session.add(
        Nonce(nonce_hash=token_hash(nonce), expires_at=utc(context.clock() + context.settings.c_nonce_ttl))
    )
    return nonce


def _consume_nonce(session: Session, nonce: str, now: int) -> bool:
    """Mark ``nonce`` used if it is current and unused; atomic (one conditional UPDATE)."""
    result = session.execute(
        update(Nonce)
        .where(Nonce.nonce_hash == token_hash(nonce), Nonce.used_at.is_(None), Nonce.expires_at > utc(now))
        .values(used_at=utc(now))
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# --- credential ---------------------------------------------------------------------------------------


def authenticate(session: Session, context: IssuerContext, authorization: str | None) -> Device:
    """The device an ``Authorization: Bearer`` access token was issued to (``invalid_token`` if none
    is current; ``device_revoked`` if that device was revoked)."""
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or len(value) > _MAX_PARAM:
        raise IssuanceError("invalid_token", "a Bearer access token is required")
    token = session.get(Token, token_hash(value))
    if token is None or token.kind != "access":
        raise IssuanceError("invalid_token", "the access token is unknown or expired")
    device = session.get(Device, token.device_id)
    if device is None:  # pragma: no cover - a foreign key
        raise IssuanceError("invalid_token", "the access token is unknown or expired")
    if device.revoked_at is not None:
        # said even when revocation has ended the token: the wallet learns to re-enroll, not to retry
        raise IssuanceError("device_revoked", "this device's credentials were revoked")
    if context.clock() >= unix(token.expires_at):
        raise IssuanceError("invalid_token", "the access token is unknown or expired")
    return device


@dataclass(frozen=True, slots=True)
class CredentialRequest:
    configuration_id: str
    proofs: list[object]
    rp_id: str | None
    #: the one member of the request's ``proofs`` object: ``jwt`` or ``attestation``
    proof_type: str = "jwt"


def parse_credential_request(body: object, *, proof_types: tuple[str, ...] = ("jwt",)) -> CredentialRequest:
    """OpenID4VCI 1.0 §8.2 with NetID's ``netid_rp``; ``proofs`` holds exactly one of ``proof_types`` (an
    array); ``invalid_credential_request`` or ``unknown_credential_configuration`` for anything else."""
    if not isinstance(body, dict):
        raise IssuanceError("invalid_credential_request", "the credential request is not a JSON object")
    unknown = set(body) - {"credential_configuration_id", "proofs", "netid_rp"}
    if unknown:
        raise IssuanceError("invalid_credential_request", "unsupported credential request parameters")
    configuration = body.get("credential_configuration_id")
    if not isinstance(configuration, str):
        raise IssuanceError("invalid_credential_request", "credential_configuration_id is required")
    if configuration not in CONFIGURATION_IDS:
        raise IssuanceError("unknown_credential_configuration", "no such credential configuration")
    proofs = body.get("proofs")
    # exactly one proof type (§8.2), one this issuer takes, with an array
    entries = list(proofs.items()) if isinstance(proofs, dict) else []
    if len(entries) != 1 or entries[0][0] not in proof_types or not isinstance(entries[0][1], list):
        shapes = " or ".join(f'{{"{t}": [...]}}' for t in proof_types)
        raise IssuanceError("invalid_credential_request", f"proofs must be {shapes}")
    proof_type, items = entries[0]
    rp_id = body.get("netid_rp")
    if configuration == RP_SCOPED:
        if not isinstance(rp_id, str) or not 0 < len(rp_id) <= _RP_ID_MAX:
            raise IssuanceError("invalid_credential_request", "netid_rp names the relying party")
    elif rp_id is not None:
        raise IssuanceError("invalid_credential_request", "netid_rp is only for netcert_rp")
    return CredentialRequest(configuration, items, rp_id if configuration == RP_SCOPED else None, proof_type)


def jitter_days(rng: Callable[[int], bytes], count: int, maximum: int) -> list[int]:
    """``count`` independent uniform whole numbers of days in ``[0, maximum]`` (rejection sampling)."""
    bound = maximum + 1
    limit = 256 - 256 % bound
    out: list[int] = []
    while len(out) < count:
        for byte in rng(count):
            if byte < limit and len(out) < count:
                out.append(byte % bound)
    return out


@dataclass(frozen=True, slots=True)
class CredentialBatch:
    credentials: list[str]

    def __repr__(self) -> str:
        return f"CredentialBatch({len(self.credentials)} credentials)"


def _scope(session: Session, context: IssuerContext, rp_id: str, person: Person) -> RpScope:
    rp = session.get(RelyingParty, rp_id)
    if rp is None or rp.state != "active":
        raise IssuanceError(
            "invalid_credential_request", "netid_rp is not an active registered relying party"
        )
    return RpScope(
        rp.sector, person.netno, context.keystore.secret("pairwise"), include_netno=rp.netno_allowed
    )


def issue_credentials(
    session: Session, context: IssuerContext, device: Device, body: object
) -> CredentialBatch:
    """The credential endpoint after :func:`authenticate`: check the request and its key proofs (or key
    attestation), then mint and record one netcert per proven key (``specs/enrollment.md`` "Credential").
    Every refusal raises before anything is written: the caller's transaction then rolls back, the
    ``c_nonce`` included."""
    now = context.clock()
    settings = context.settings
    attestation = context.key_attestation
    request = parse_credential_request(
        body, proof_types=("jwt", "attestation") if attestation is not None else ("jwt",)
    )
    proofs = request.proofs
    if not proofs:
        raise IssuanceError("invalid_credential_request", "proofs must be a non-empty array")
    if len(proofs) > settings.batch_size:
        raise IssuanceError("invalid_credential_request", f"at most {settings.batch_size} proofs per request")
    nonce = claimed_nonce(proofs, request.proof_type)
    if nonce is None:
        raise IssuanceError("invalid_proof", "the first proof carries no readable nonce")
    if not _consume_nonce(session, nonce, now):
        raise IssuanceError("invalid_nonce", "the proofs' nonce is not a current c_nonce: fetch a new one")
    proven = verify_proofs(
        request.proof_type, proofs, audience=settings.credential_issuer, nonce=nonce, now=now,
        max_count=settings.batch_size, attestation=attestation,
    )  # fmt: skip
    holder_jwks = list(proven.holder_jwks)
    person = session.get(Person, device.person_id)
    assert person is not None  # a foreign key
    try:
        attrs = decrypt_attributes(person, context)
    except AttributesUnavailable:
        raise IssuanceError(
            "invalid_credential_request", "this person's record needs a new enrollment"
        ) from None
    scope = _scope(session, context, request.rp_id, person) if request.rp_id is not None else None

    policy = NetcertPolicy(
        age_thresholds=settings.age_thresholds, validity_days=settings.netcert_validity_days
    )
    offsets = jitter_days(context.rng, len(holder_jwks), settings.validity_jitter_days)
    base_iat, base_exp = policy.window(now)
    rows = [
        IssuedCredential(
            status=0, device_id=device.id, configuration_id=request.configuration_id, rp_id=request.rp_id,
            iat=base_iat - d * _DAY, exp=base_exp - d * _DAY, issued_at=utc(now),
        )
        for d in offsets
    ]  # fmt: skip
    place_entries(session, context, "netcert", rows)  # each in an independently chosen list, random index
    profile = IssuerProfile(settings.issuer_url, context.keys.ring().issuer_keys, netcert_policy=policy)
    credentials = mint_netcert_batch(
        attrs, profile=profile, holder_jwks=holder_jwks,
        status=[(list_uri(context, row.list_id), row.idx) for row in rows],
        now=now, rng=context.rng, scope=scope, day_offsets=offsets,
    )  # fmt: skip
    # counted only now, after minting: on PostgreSQL this locks the lists' rows (shared by every batch)
    # until the commit, and the audit entry's lock follows
    count_entries(session, rows)
    details: dict[str, object] = {
        "device": device.id, "configuration": request.configuration_id, "rp": request.rp_id,
        "count": len(credentials),
    }  # fmt: skip
    if proven.attestation is not None:  # which attester vouched for the keys, and how well they are kept
        details["attester"] = proven.attestation.attester
        details["key_storage"] = list(proven.attestation.key_storage)
    append_audit(session, at=now, actor="wallet", action="issuance", subject=person.netno, details=details)
    return CredentialBatch(credentials)
