"""The issuer's tables. Separate from the API schemas (``issuer_service/schemas/``) on purpose: stored
identity data can never be returned by accident, because no route returns a table row.

What is stored about a person, and how (``specs/enrollment.md`` "Data protection"):

* the personal number only as ``lookup_hash`` = HMAC-SHA256(lookup key, number) — the one way to find
  a person again when a renewed card arrives; never in clear;
* name, personal number, birth date and document expiry together as ``attributes_ct``: AES-256-GCM under
  a per-person data key, which is itself stored wrapped by the key store's key-encryption key
  (envelope encryption); needed to re-derive age predicates at refresh and for lawful disclosure;
* never the portrait: it is not even sent (the wallet matches faces on the device).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from issuer_service.db.base import Base

__all__ = [
    "AuditEntry",
    "Device",
    "DisclosureRequest",
    "Enrollment",
    "IssuedCredential",
    "IssuerKeyRecord",
    "Nonce",
    "Person",
    "PreAuthorizedCode",
    "RelyingParty",
    "StatusListRecord",
    "Token",
]


#: every timestamp is timezone-aware UTC
_TS = DateTime(timezone=True)


class IssuerKeyRecord(Base):
    """A signing or encryption key's public half and life cycle; the private half is in the key store."""

    __tablename__ = "issuer_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(
        String(32), index=True
    )  # netcert | rp_certificate | status_list | enrollment
    alg: Mapped[str] = mapped_column(String(16))
    backend: Mapped[str] = mapped_column(String(16))  # file | pkcs11
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    #: no longer used to sign; still published until ``publish_until`` (its last token's expiry)
    retired_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)
    publish_until: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: HMAC-SHA256(lookup key, personal number), hex: unique, so two racing enrollments make one person
    lookup_hash: Mapped[str] = mapped_column(String(64), unique=True)
    netno: Mapped[str] = mapped_column(String(10), unique=True)
    attributes_ct: Mapped[bytes] = mapped_column(LargeBinary)
    attributes_dek: Mapped[bytes] = mapped_column(LargeBinary)  # the data key, wrapped by the KEK
    kek_id: Mapped[str] = mapped_column(String(64))
    chip_auth: Mapped[str] = mapped_column(String(8))
    guardian_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)


class Enrollment(Base):
    """One enrollment attempt: the one-time challenge, and once completed, what the retry must replay."""

    __tablename__ = "enrollments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    challenge: Mapped[bytes] = mapped_column(LargeBinary(16))
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    expires_at: Mapped[dt.datetime] = mapped_column(_TS, index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | completed
    #: SHA-256 of the sealed evidence that completed it: a retry with the same bytes gets the same answer
    evidence_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("persons.id"), default=None)
    device_id: Mapped[str | None] = mapped_column(ForeignKey("devices.id"), default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)


class Device(Base):
    """One wallet installation of one person: its credentials are revoked together (lost phone)."""

    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    #: RFC 7638 thumbprint of the wallet's device key, which signs revocation requests
    key_thumbprint: Mapped[str] = mapped_column(String(64), index=True)
    key_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class PreAuthorizedCode(Base):
    __tablename__ = "pre_authorized_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(_TS)
    redeemed_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)


class Token(Base):
    """Access and refresh tokens, stored as hashes only."""

    __tablename__ = "tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # access | refresh
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(_TS)
    #: a refresh token is single-use: set when it was exchanged (reuse of a used one revokes the family)
    used_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)


class Nonce(Base):
    """Single-use values, as hashes: OpenID4VCI ``c_nonce`` values and the ``jti`` of device-revocation
    requests (``SHA-256("netid-revoke" ‖ device key thumbprint ‖ jti)``, inserted already used)."""

    __tablename__ = "nonces"

    nonce_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(_TS, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)


class StatusListRecord(Base):
    __tablename__ = "status_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(16), index=True)  # netcert | rp
    bits: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(Integer, default=0)
    #: closed lists take no new entries (half full: the free indices would become guessable)
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: bumped on every status change: the cached, signed token is re-made when it moves
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)


class IssuedCredential(Base):
    """One issued netcert's status entry and issuance record — never its content."""

    __tablename__ = "issued_credentials"
    __table_args__ = (UniqueConstraint("list_id", "idx"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    idx: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer, default=0)  # 0 valid, 1 revoked, 2 suspended
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    configuration_id: Mapped[str] = mapped_column(String(32))
    rp_id: Mapped[str | None] = mapped_column(String(128), default=None)
    iat: Mapped[int] = mapped_column(BigInteger)
    exp: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[dt.datetime] = mapped_column(_TS)


class RelyingParty(Base):
    __tablename__ = "relying_parties"
    #: one RP per status entry, as one credential per entry (two issuer nodes registering at once)
    __table_args__ = (UniqueConstraint("status_list_id", "status_idx"),)

    rp_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    sector: Mapped[str] = mapped_column(String(256))
    allowed_predicates: Mapped[list[str]] = mapped_column(JSON)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    response_uris: Mapped[list[str]] = mapped_column(JSON)
    request_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: what PIPL Art. 17 requires an app to tell a person before processing
    processor: Mapped[str] = mapped_column(String(256))
    contact: Mapped[str] = mapped_column(String(256))
    retention: Mapped[str] = mapped_column(String(128))
    #: authorised for the global network number (real-name registration)
    netno_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended | revoked
    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"))
    status_idx: Mapped[int] = mapped_column(Integer)
    certificate: Mapped[str] = mapped_column(Text)
    certificate_exp: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(_TS)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)


class RetiredRpEntry(Base):
    """The status entry of an RP access certificate that an update replaced: revoked in its list, so that
    what the update took back (a predicate, a response URI, a key) is taken back at once, not at the old
    certificate's ``exp``. Never handed out again."""

    __tablename__ = "retired_rp_entries"

    status_list_id: Mapped[int] = mapped_column(ForeignKey("status_lists.id"), primary_key=True)
    status_idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    rp_id: Mapped[str] = mapped_column(ForeignKey("relying_parties.rp_id"), index=True)
    certificate_exp: Mapped[int] = mapped_column(BigInteger)
    retired_at: Mapped[dt.datetime] = mapped_column(_TS)


class AuditEntry(Base):
    """Append-only, hash-chained: ``hash = SHA-256(prev_hash ‖ canonical JSON of this entry)``."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_TS)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    #: a netno, an RP id, a kid — never personal data
    subject: Mapped[str | None] = mapped_column(String(128), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class DisclosureRequest(Base):
    """A lawful-disclosure request: needs a second, different approver before anything is revealed."""

    __tablename__ = "disclosure_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    netno: Mapped[str] = mapped_column(String(10))
    case_ref: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(512))
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[dt.datetime] = mapped_column(_TS)
    approved_by: Mapped[str | None] = mapped_column(String(128), default=None)
    approved_at: Mapped[dt.datetime | None] = mapped_column(_TS, default=None)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | disclosed | rejected
