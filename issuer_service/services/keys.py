"""The issuer's keys as the rest of the service uses them: current signers per purpose, the published JWKS,
the enrollment key, and rotation.

Key records (public JWK, purpose, life cycle) are rows; private material is in the key store. A process
loads a :class:`KeyRing` from the rows and re-reads them every ``RELOAD_SECONDS``, so a key rotated by one
process (or by ``netid-issuer keys rotate``) is picked up by all. Rotation never unpublishes: the retired
key stays in the JWKS until the last token it signed has expired (``publish_until``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from issuer_service.core.config import Settings
from issuer_service.db.tables import IssuerKeyRecord
from issuer_service.db.times import aware
from issuer_service.keys.store import KeyStore, SigningAlg
from issuer_service.services.audit import append_audit
from netid.credentials.trust import PURPOSE_MEMBER, KeyPurpose
from netid.issuance import IssuerKey, IssuerKeys

__all__ = ["RP_CERTIFICATE_VALIDITY", "SIGNING_PURPOSES", "KeyRing", "KeyService", "Rotation", "publish_for"]

SIGNING_PURPOSES: Final[tuple[KeyPurpose, ...]] = ("netcert", "rp_certificate", "status_list")
RELOAD_SECONDS: Final = 30
#: how long an RP access certificate is valid (seconds); also how long a rotated RP-certificate key
#: stays published
RP_CERTIFICATE_VALIDITY: Final = 365 * 86_400


def publish_for(purpose: str, settings: Settings) -> dt.timedelta:
    """How long a retired key of ``purpose`` stays published: the longest validity of what it signed."""
    if purpose == "netcert":
        return dt.timedelta(days=settings.netcert_validity_days + settings.validity_jitter_days + 1)
    if purpose == "rp_certificate":
        return dt.timedelta(seconds=RP_CERTIFICATE_VALIDITY)
    if purpose == "status_list":
        return dt.timedelta(seconds=2 * settings.status_list_ttl)  # a status list token's exp
    return dt.timedelta(seconds=settings.enrollment_ttl)  # enrollment: a started enrollment's life


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did: the new kid, the kids it retired, and until when those stay published."""

    kid: str
    retired: tuple[str, ...]
    publish_until: int


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class KeyRing:
    """One consistent view of the keys: what signs now, what is published, the enrollment key."""

    issuer_keys: IssuerKeys
    published: tuple[dict[str, Any], ...]
    enrollment_kid: str
    enrollment_jwk: dict[str, str]

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [dict(k) for k in self.published]}

    def netcert_jwks(self) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [dict(k) for k in self.published if k.get(PURPOSE_MEMBER) == "netcert"]}


class KeyService:
    """Creates, loads and rotates keys; hands out the current :class:`KeyRing`."""

    def __init__(
        self,
        keystore: KeyStore,
        sessions: sessionmaker[Session],
        *,
        netcert_alg: SigningAlg,
        reader: sessionmaker[Session] | None = None,
    ) -> None:
        self._store = keystore
        self._sessions = sessions
        # Reloading the ring happens in the middle of requests whose own transaction may hold SQLite's
        # write lock: it reads through sessions that never ask for that lock.
        self._reader = reader or sessions
        self._netcert_alg = netcert_alg
        self._lock = threading.Lock()
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0

    def close(self) -> None:
        """Release the reader's connections (the request sessions' engine is the context's to close)."""
        if self._reader is not self._sessions:
            bind = self._reader.kw.get("bind")
            if bind is not None:
                bind.dispose()

    @property
    def keystore(self) -> KeyStore:
        return self._store

    def ensure_keys(self) -> None:
        """Create a key for every purpose that has none yet (``netid-issuer init`` and dev start-up)."""
        with self._sessions() as session, session.begin():
            existing = {
                r.purpose
                for r in session.scalars(select(IssuerKeyRecord).where(IssuerKeyRecord.retired_at.is_(None)))
            }
            for purpose in (*SIGNING_PURPOSES, "enrollment"):
                if purpose not in existing:
                    session.add(self._create(purpose))
        self._ring = None

    def _create(self, purpose: str, alg: SigningAlg | None = None) -> IssuerKeyRecord:
        kid = f"{purpose}-{_now():%Y%m%d}-{secrets.token_hex(3)}"
        if purpose == "enrollment":
            jwk = self._store.create_enrollment_key(kid)
            alg_name = "ECDH-ES"
            record_jwk = jwk | {"kid": kid, "use": "enc", "alg": alg_name}
        else:
            chosen: SigningAlg = alg or (self._netcert_alg if purpose == "netcert" else "EdDSA")
            jwk = self._store.create_signing_key(kid, chosen)
            alg_name = chosen
            record_jwk = jwk | {"kid": kid, "use": "sig", "alg": chosen, PURPOSE_MEMBER: purpose}
        return IssuerKeyRecord(
            kid=kid, purpose=purpose, alg=alg_name, backend=self._store.backend, public_jwk=record_jwk,
            created_at=_now(),
        )  # fmt: skip

    def rotate(
        self,
        purpose: str,
        *,
        publish_for: dt.timedelta,
        actor: str,
        at: int,
        alg: SigningAlg | None = None,
    ) -> Rotation:
        """Start signing ``purpose`` with a new key; keep the old one published for ``publish_for`` (the
        longest validity of anything it signed, :func:`publish_for`). The retirement, the new key's row
        and the ``key.rotate`` audit entry (``actor``, at ``at``) are one transaction: a failure leaves
        the old key signing and nothing audited. (The new key's private half may then stay in the key
        store, unused.)"""
        with self._sessions() as session, session.begin():
            now = _now()
            until = now + publish_for
            retired: list[str] = []
            for old in session.scalars(
                select(IssuerKeyRecord)
                .where(IssuerKeyRecord.purpose == purpose, IssuerKeyRecord.retired_at.is_(None))
                .with_for_update()  # two rotations at once: the second sees the first's new key
            ):
                old.retired_at = now
                old.publish_until = until
                retired.append(old.kid)
            record = self._create(purpose, alg)
            session.add(record)
            rotation = Rotation(record.kid, tuple(retired), int(until.timestamp()))
            append_audit(
                session, at=at, actor=actor, action="key.rotate", subject=rotation.kid,
                details={"purpose": purpose, "retired": retired, "publish_until": rotation.publish_until},
            )  # fmt: skip
        self._ring = None
        return rotation

    def ring(self) -> KeyRing:
        """The current key ring (re-read from the database every ``RELOAD_SECONDS``)."""
        with self._lock:
            if self._ring is None or time.monotonic() - self._loaded_at > RELOAD_SECONDS:
                self._ring = self._load()
                self._loaded_at = time.monotonic()
            return self._ring

    def _issuer_key(self, record: IssuerKeyRecord) -> IssuerKey:
        purpose: KeyPurpose = record.purpose  # type: ignore[assignment]  # a signing purpose, by construction
        return IssuerKey(record.kid, purpose, self._store.signer(record.kid))

    def _load(self) -> KeyRing:
        now = _now()
        with self._reader() as session:
            records = list(session.scalars(select(IssuerKeyRecord).order_by(IssuerKeyRecord.created_at)))
        current: dict[str, IssuerKeyRecord] = {}
        published: list[dict[str, Any]] = []
        for record in records:
            if record.retired_at is None:
                current[record.purpose] = record  # the newest active key of a purpose signs
            until = record.publish_until
            published_now = until is not None and aware(until) > now
            if record.purpose in SIGNING_PURPOSES and (record.retired_at is None or published_now):
                published.append(dict(record.public_jwk))
        missing = [p for p in (*SIGNING_PURPOSES, "enrollment") if p not in current]
        if missing:
            raise LookupError(f"no active key for {', '.join(missing)}: run `netid-issuer init`")
        signing = {p: current[p] for p in SIGNING_PURPOSES}
        keys = IssuerKeys(
            netcert=self._issuer_key(signing["netcert"]),
            rp_certificate=self._issuer_key(signing["rp_certificate"]),
            status_list=self._issuer_key(signing["status_list"]),
            retired=tuple(k for k in published if k["kid"] not in {r.kid for r in signing.values()}),
        )
        enrollment = current["enrollment"]
        return KeyRing(keys, tuple(published), enrollment.kid, dict(enrollment.public_jwk))
