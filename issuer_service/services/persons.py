"""Persons: the issuer's only mapping from a personal number to a network number, and their attributes.

``specs/enrollment.md`` ("Data protection", "The lifelong network number") is normative. In short:

* **Lookup.** A person is found by ``lookup_hash = HMAC-SHA256(lookup key, personal number)`` (hex),
  unique in the table; the personal number itself is never stored in clear. A renewed card carries the
  same personal number, so it finds the same person and the same netno (lifelong).
* **Network number.** Minted once, at random (:func:`netid.credentials.netno.generate_netno` over the
  context's randomness), unique; a collision draws again.
* **Attributes at rest** (name, personal number, birth date, document expiry, chip authentication):
  JSON, AES-256-GCM under a fresh per-person data key (DEK); the DEK is stored wrapped by the key
  store's key-encryption key (KEK, AES-256-GCM), whose id is recorded (``kek_id``). Both ciphertexts
  are bound to the person's row id (associated data), so rows cannot be swapped. The portrait never
  reaches the issuer. A new KEK (``netid-issuer keys rotate-kek``) becomes current for new records;
  :func:`rewrap_persons` re-seals the older ones under it, and until then they open with the older KEK,
  which the key store keeps.
* **Races.** Two issuer nodes enrolling the same person at once: the unique ``lookup_hash`` lets exactly
  one insert win; the loser's insert fails inside a savepoint and it reads the winner's row instead.

No FastAPI imports: routes and other services call these functions inside their transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from issuer_service.core.context import IssuerContext
from issuer_service.db.tables import Person
from issuer_service.db.times import utc
from netid.credentials.netno import generate_netno
from netid.issuance import IdentityAttributes

__all__ = [
    "AttributesUnavailable",
    "PersonRecord",
    "decrypt_attributes",
    "find_by_lookup",
    "find_by_netno",
    "get_or_create_person",
    "kek_id",
    "lookup_hash",
    "rewrap_persons",
]

_FORMAT: Final = 1
_NONCE: Final = 12
_MAX_NETNO_DRAWS: Final = 16


class AttributesUnavailable(Exception):  # noqa: N818 - a state, like pyca's InvalidTag
    """A person's attributes cannot be opened: the KEK they were wrapped with is not in this key store,
    or the record was altered. Never carries any of the data."""


def lookup_hash(context: IssuerContext, personal_number: str) -> str:
    """``HMAC-SHA256(lookup key, personal number)`` as hex: how a person is found again."""
    key = context.keystore.secret("lookup")
    return hmac.new(key, personal_number.upper().encode("ascii"), hashlib.sha256).hexdigest()


def kek_id(kek: bytes) -> str:
    """A public name for a key-encryption key (a hash of it: names the key, reveals nothing of it)."""
    return "kek-" + hashlib.sha256(b"netid issuer kek id\x00" + kek).hexdigest()[:16]


def _aad(what: str, person_id: str, kek_name: str) -> bytes:
    return f"netid person {what}/{_FORMAT}\x00{person_id}\x00{kek_name}".encode()


def _encode(attrs: IdentityAttributes) -> bytes:
    body = {
        "v": _FORMAT,
        "full_name": attrs.full_name,
        "personal_number": attrs.personal_number,
        "date_of_birth": attrs.date_of_birth.isoformat(),
        "document_expiry": attrs.document_expiry.isoformat(),
        "chip_auth": attrs.chip_auth,
        "enrollment_factors": list(attrs.enrollment_factors),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _decode(data: bytes) -> IdentityAttributes:
    body: dict[str, Any] = json.loads(data)
    if body.get("v") != _FORMAT:
        raise AttributesUnavailable("unknown attribute record format")
    return IdentityAttributes(
        full_name=body["full_name"],
        personal_number=body["personal_number"],
        date_of_birth=dt.date.fromisoformat(body["date_of_birth"]),
        document_expiry=dt.date.fromisoformat(body["document_expiry"]),
        chip_auth=body["chip_auth"],
        enrollment_factors=tuple(body["enrollment_factors"]),
    )


def _seal(context: IssuerContext, person_id: str, attrs: IdentityAttributes) -> tuple[bytes, bytes, str]:
    """``(attributes_ct, attributes_dek, kek_id)`` for ``attrs``: a fresh data key every time."""
    kek = context.keystore.secret("kek")
    name = kek_id(kek)
    dek = context.rng(32)
    nonce = context.rng(_NONCE)
    ciphertext = nonce + AESGCM(dek).encrypt(nonce, _encode(attrs), _aad("attributes", person_id, name))
    wrap_nonce = context.rng(_NONCE)
    wrapped = wrap_nonce + AESGCM(kek).encrypt(wrap_nonce, dek, _aad("dek", person_id, name))
    return ciphertext, wrapped, name


def _kek_named(context: IssuerContext, name: str) -> bytes:
    """The KEK whose id is ``name``: the current one, else an older version the key store keeps."""
    current = context.keystore.secret("kek")
    if hmac.compare_digest(kek_id(current), name):
        return current
    for version in context.keystore.secret_versions("kek"):
        if hmac.compare_digest(kek_id(version), name):
            return version
    raise AttributesUnavailable("the person record is wrapped with a key-encryption key this store lacks")


def rewrap_persons(session: Session, context: IssuerContext, *, limit: int = 500) -> tuple[int, int]:
    """Re-seal up to ``limit`` persons whose attributes are wrapped under an older KEK under the current
    one (a fresh data key each, as at enrollment), in the caller's transaction; return ``(re-sealed,
    still to do)``. Rows another transaction holds are skipped (PostgreSQL) and left for the next call."""
    current = kek_id(context.keystore.secret("kek"))
    stale = select(Person).where(Person.kek_id != current)
    rows = session.scalars(stale.order_by(Person.id).limit(limit).with_for_update(skip_locked=True)).all()
    for person in rows:
        attrs = decrypt_attributes(person, context)
        person.attributes_ct, person.attributes_dek, person.kek_id = _seal(context, person.id, attrs)
    session.flush()
    remaining = session.scalar(select(func.count()).select_from(Person).where(Person.kek_id != current))
    return len(rows), int(remaining or 0)


def decrypt_attributes(person: Person, context: IssuerContext) -> IdentityAttributes:
    """Open ``person``'s attributes (re-deriving predicates at issuance, lawful disclosure).

    Raises :class:`AttributesUnavailable` if the record was wrapped with a KEK the key store does not
    have, or was altered.
    """
    kek = _kek_named(context, person.kek_id)
    wrapped, ciphertext = bytes(person.attributes_dek), bytes(person.attributes_ct)
    try:
        dek = AESGCM(kek).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _aad("dek", person.id, person.kek_id))
        plaintext = AESGCM(dek).decrypt(
            ciphertext[:_NONCE], ciphertext[_NONCE:], _aad("attributes", person.id, person.kek_id)
        )
    except (InvalidTag, ValueError) as exc:
        raise AttributesUnavailable("the person record does not decrypt (altered?)") from exc
    return _decode(plaintext)


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """The outcome of :func:`get_or_create_person`: the row, and whether this call created it."""

    person: Person
    created: bool
    #: the stored attributes were replaced by the card just read (a renewed card)
    updated: bool


def find_by_lookup(session: Session, digest: str, *, lock: bool = False) -> Person | None:
    query = select(Person).where(Person.lookup_hash == digest)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def find_by_netno(session: Session, netno: str) -> Person | None:
    return session.scalars(select(Person).where(Person.netno == netno)).first()


def _refresh_attributes(
    person: Person, attrs: IdentityAttributes, context: IssuerContext, now: int, guardian_id: str | None
) -> bool:
    """A renewed card (same personal number): keep the netno, take the card's data if it is not older
    than what is stored (the later document expiry wins, so re-reading an old card changes nothing)."""
    if guardian_id is not None:
        person.guardian_id = guardian_id
    try:
        stored = decrypt_attributes(person, context)
    except AttributesUnavailable:
        stored = None  # unreadable (an old KEK): the verified card is the better record
    if stored is not None and stored == attrs:
        return False
    if stored is not None and attrs.document_expiry < stored.document_expiry:
        return False
    person.attributes_ct, person.attributes_dek, person.kek_id = _seal(context, person.id, attrs)
    person.chip_auth = attrs.chip_auth
    person.updated_at = utc(now)
    return True


def get_or_create_person(
    session: Session,
    context: IssuerContext,
    attrs: IdentityAttributes,
    *,
    guardian_id: str | None = None,
) -> PersonRecord:
    """The person with ``attrs.personal_number``, created with a fresh random netno if there is none.

    Safe against a concurrent enrollment of the same person on another node (see the module docstring).
    """
    now = context.clock()
    digest = lookup_hash(context, attrs.personal_number)
    existing = find_by_lookup(session, digest, lock=True)
    if existing is not None:
        updated = _refresh_attributes(existing, attrs, context, now, guardian_id)
        return PersonRecord(existing, created=False, updated=updated)
    for _ in range(_MAX_NETNO_DRAWS):
        person_id = context.rng(16).hex()
        ciphertext, wrapped, kek_name = _seal(context, person_id, attrs)
        person = Person(
            id=person_id, lookup_hash=digest, netno=generate_netno(context.rng), attributes_ct=ciphertext,
            attributes_dek=wrapped, kek_id=kek_name, chip_auth=attrs.chip_auth, guardian_id=guardian_id,
            created_at=utc(now), updated_at=utc(now),
        )  # fmt: skip
        try:
            with session.begin_nested():
                session.add(person)
                session.flush()
        except IntegrityError:
            # Either another node created this person since we looked (unique lookup_hash: use theirs),
            # or the random netno is taken (unique netno: draw again).
            winner = find_by_lookup(session, digest, lock=True)
            if winner is not None:
                updated = _refresh_attributes(winner, attrs, context, now, guardian_id)
                return PersonRecord(winner, created=False, updated=updated)
            continue
        return PersonRecord(person, created=True, updated=False)
    raise RuntimeError("could not draw an unused network number")  # pragma: no cover - 31^9 values
