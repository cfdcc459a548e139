"""A wallet kept on disk: open it with the PIN, enroll, present, keep the batch topped up, revoke.

:class:`WalletSession` joins the pieces a wallet app needs around one open
:class:`~netid.wallet.store.WalletStore`:

- **enroll** with an issuer (:func:`netid.wallet.enroll.enroll`): the device keys are created in the store,
  the network number, the device key that can revoke this device and the refresh token are written as soon
  as the issuer grants the enrollment, and the batch follows;
- **present** through :meth:`WalletSession.wallet`, a :class:`~netid.wallet.present.Wallet` over the stored
  credentials: each credential is used once — the presentation marks it used and deletes its key, and that
  is on disk before the presentation is returned to be sent — and every answer and refusal goes to the
  holder's log (:mod:`netid.wallet.log`);
- **refresh** before the batch runs low or expires (:class:`RefreshPolicy`): fewer than ``low_water``
  unused anonymous credentials that stay valid for ``expiry_days`` more days. The refresh token is
  single-use, and presenting a spent one makes the issuer revoke the device's tokens, so the new token is
  written the moment the old one is spent (before the batch request);
- fetch an **RP-scoped** batch for one relying party (``fetch_rp_credentials``);
- **revoke this device** at the issuer (:func:`netid.wallet.enroll.revoke_device`) and mark everything
  revoked locally: their keys and personal claims are deleted;
- **face verification**, when the holder opts in (:meth:`WalletSession.enable_face`, or ``face=`` at
  enrollment): the card's portrait is read once more and kept only in the encrypted store; a person under
  14 needs a guardian's consent; :meth:`WalletSession.disable_face` deletes it (:mod:`netid.wallet.face`).
  Presenting over HTTP — fetch the request, consent, RP-scoped batch on first contact, post, refresh — is
  :func:`netid.wallet.http.present_uri`.

Network errors are :class:`~netid.errors.EnrollmentError` (``transport`` when the issuer cannot be reached,
otherwise the issuer's problem code); nothing is marked locally when the issuer did not answer.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import httpx

from netid.card.icao.access import AccessKey
from netid.card.icao.read_document import ReadProgress, read_document_with_retry
from netid.card.interface import CardReader
from netid.credentials.sdjwt.present import disclosable_claims
from netid.credentials.status_source import StatusListSource
from netid.credentials.trust import IssuerTrust
from netid.errors import EnrollmentError, FaceError, NotEnrolledError, UsageError, WalletError, WalletRefusal
from netid.oid4vci.offer import ANONYMOUS, RP_SCOPED
from netid.oid4vp.request import RequestTerms
from netid.policy import DEFAULT_POLICY, Policy
from netid.wallet import enroll as enrollment
from netid.wallet.face import FACE_FILES, GUARDIAN_AGE, FaceCheck, FaceRecord, GuardianConsent
from netid.wallet.face import read_portrait as _read_portrait
from netid.wallet.face import require_match as _require_match
from netid.wallet.log import LogEntry, presentation_entry
from netid.wallet.present import Wallet, WalletCredential
from netid.wallet.store import DEFAULT_KDF, CredentialRecord, IssuerRecord, KdfParams, WalletStore

if TYPE_CHECKING:
    from netid.card.icao.passive_auth import CscaTrustStore

__all__ = ["NotEnrolledError", "RefreshPolicy", "WalletSession"]

_DAY: Final = 86_400


def _system_clock() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class RefreshPolicy:
    """When to fetch more credentials, and how many.

    A refresh is due when fewer than ``low_water`` unused anonymous credentials remain that are still
    valid ``expiry_days`` days from now; it fetches ``batch_size``. For each relying party whose
    RP-scoped batch was fetched before, more (``rp_batch_size``) are fetched when fewer than
    ``rp_low_water`` such credentials remain.
    """

    low_water: int = 5
    expiry_days: int = 3
    batch_size: int = 30
    rp_low_water: int = 1
    rp_batch_size: int = 5

    def __post_init__(self) -> None:
        if min(self.batch_size, self.rp_batch_size) < 1 or min(self.low_water, self.expiry_days) < 0:
            raise UsageError("batch sizes are at least 1; thresholds are not negative")
        if self.rp_low_water < 0:
            raise UsageError("rp_low_water is not negative (0: never top up RP-scoped batches)")


def _fetch_jwks(http: httpx.Client, issuer_url: str) -> dict[str, Any]:
    """The issuer's key set (``GET /jwks.json``), with the enrollment client's error codes."""
    try:
        response = http.get(f"{issuer_url}/jwks.json", headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise EnrollmentError("transport", f"the issuer could not be reached ({type(exc).__name__})") from exc
    if response.status_code >= 500:
        raise EnrollmentError("transport", "the issuer failed; try again later", status=response.status_code)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("keys"), list):
        raise EnrollmentError(
            "protocol", "the issuer's key set (/jwks.json) is not a JWKS", status=response.status_code
        )
    try:
        IssuerTrust(body, issuer=issuer_url)
    except (UsageError, ValueError) as exc:
        raise EnrollmentError("protocol", "the issuer's key set (/jwks.json) is unusable") from exc
    return body


class WalletSession:
    """An open wallet on disk (see the module docstring). Make one with :meth:`create` or :meth:`open`,
    and :meth:`close` it (or use ``with``). ``clock`` is the wallet's time (Unix seconds)."""

    def __init__(
        self,
        store: WalletStore,
        *,
        clock: Callable[[], int] = _system_clock,
        refresh_policy: RefreshPolicy = RefreshPolicy(),
    ) -> None:
        self.store = store
        self.clock = clock
        self.refresh_policy = refresh_policy

    def __repr__(self) -> str:
        return f"WalletSession({self.store!r})"

    def __enter__(self) -> WalletSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        pin: str,
        *,
        kdf: KdfParams = DEFAULT_KDF,
        clock: Callable[[], int] = _system_clock,
        refresh_policy: RefreshPolicy = RefreshPolicy(),
    ) -> tuple[WalletSession, str]:
        """A new wallet at ``path`` and its recovery code (show it once: it is stored nowhere)."""
        store, code = WalletStore.create(path, pin, kdf=kdf, clock=clock)
        return cls(store, clock=clock, refresh_policy=refresh_policy), code

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        pin: str,
        *,
        clock: Callable[[], int] = _system_clock,
        refresh_policy: RefreshPolicy = RefreshPolicy(),
    ) -> WalletSession:
        """Open the wallet at ``path`` with ``pin`` (see :meth:`WalletStore.open` for the counter) and drop
        what can never be used again (expired credentials, keys left by an interrupted enrollment)."""
        store = WalletStore.open(path, pin, clock=clock)
        try:
            store.prune(clock())
        except BaseException:
            store.close()
            raise
        return cls(store, clock=clock, refresh_policy=refresh_policy)

    def close(self) -> None:
        self.store.close()

    # --- issuers ----------------------------------------------------------------------------------------

    def issuer(self, issuer_url: str | None = None) -> IssuerRecord:
        """The active enrollment with ``issuer_url``, or the only active one when ``None``."""
        active = [i for i in self.store.issuers if i.active]
        if issuer_url is not None:
            active = [i for i in active if i.issuer_url == issuer_url.rstrip("/")]
        if not active:
            where = f" with {issuer_url}" if issuer_url else ""
            raise NotEnrolledError(f"this wallet is not enrolled{where} (or this device was revoked)")
        if len(active) > 1:
            raise UsageError("this wallet is enrolled with several issuers: name one")
        return active[0]

    def enroll(
        self,
        reader: CardReader,
        access_key: AccessKey,
        issuer_url: str,
        *,
        http: httpx.Client,
        batch_size: int | None = None,
        guardian_netno: str | None = None,
        progress: Callable[[str], None] | None = None,
        read_progress: Callable[[ReadProgress], None] | None = None,
        connect_timeout: float | None = None,
        face: FaceCheck | None = None,
        face_guardian: GuardianConsent | None = None,
        csca: CscaTrustStore | None = None,
    ) -> IssuerRecord:
        """Enroll the card in ``reader`` with ``issuer_url`` and store the first batch.

        Refuses (:class:`~netid.errors.WalletError`) when this wallet is already enrolled there and not
        revoked: fetch more with :meth:`refresh`, or revoke first to enroll anew.

        ``face`` opts in to face verification (:meth:`enable_face`, with ``face_guardian`` and ``csca``)
        right after the enrollment, while the card is still on the reader: the enrollment stands even if
        that step fails (:class:`~netid.wallet.face.FaceError`; try :meth:`enable_face` again). The
        portrait goes to this wallet's store only, never to the issuer.
        """
        url = issuer_url.rstrip("/")
        existing = self.store.issuer(url)
        if existing is not None and existing.active:
            raise WalletError(f"this wallet is already enrolled with {url}")
        jwks = _fetch_jwks(http, url)
        count = batch_size or self.refresh_policy.batch_size
        record: IssuerRecord | None = None

        def granted(netno: str, device_key_id: str, refresh_token: str) -> None:
            nonlocal record
            record = IssuerRecord(url, netno, device_key_id, refresh_token, jwks, enrolled_at=self.clock())
            self.store.issuers.append(record)
            self.store.save()  # enrolled, even if the batch request fails now

        with self.store.deferred():  # one write for the batch's keys and credentials
            result = enrollment.enroll(
                reader, access_key, url, keystore=self.store, http=http, batch_size=count,
                guardian_netno=guardian_netno, progress=progress, clock=self.clock,
                read_progress=read_progress, connect_timeout=connect_timeout, on_enrolled=granted,
            )  # fmt: skip
            assert record is not None
            self.store.add_credentials(result.credentials)
            self.store.append_log(
                LogEntry(event="enrolled", at=self.clock(), issuer=url, credentials=len(result.credentials))
            )
        if face is not None:
            self.enable_face(
                reader, access_key, face, guardian=face_guardian, csca=csca, connect_timeout=connect_timeout
            )
        return record

    # --- face verification (netid.wallet.face) -----------------------------------------------------------

    @property
    def face(self) -> FaceRecord | None:
        """Face verification as enabled (``None``: the holder has not opted in; the PIN path is all)."""
        return self.store.face

    def enable_face(
        self,
        reader: CardReader,
        access_key: AccessKey,
        check: FaceCheck,
        *,
        guardian: GuardianConsent | None = None,
        csca: CscaTrustStore | None = None,
        connect_timeout: float | None = None,
    ) -> FaceRecord:
        """Opt in to face verification: read the card's portrait and keep it in this wallet's store only.

        In order, raising :class:`~netid.wallet.face.FaceError`: the wallet is enrolled and holds a netcert
        (``not_enrolled`` / ``not_bound``); the card (DG1, DG2, DG11, EF.SOD; no active authentication)
        matches its EF.SOD — and, with ``csca``, passes passive authentication — and is the enrolled
        person's: its personal number is the one in this wallet's netcerts (``card`` / ``not_bound``); a
        person under 14 needs ``guardian`` (``guardian_required``); the person in front of the camera is the
        portrait's (``face_mismatch``: a live capture through ``check``). Only then is the portrait stored,
        replacing any earlier one.
        """
        active = [i for i in self.store.issuers if i.active]
        if not active:
            raise FaceError("not_enrolled", "enroll this wallet before enabling face verification")
        numbers = set()
        for record in self.store.credentials:
            if record.credential is None:
                continue
            for claim in disclosable_claims(record.credential.serialized):
                if claim.path == ("id_number",) and isinstance(claim.disclosure.value, str):
                    numbers.add(claim.disclosure.value)
        if not numbers:
            raise FaceError("not_bound", "the wallet holds no netcert to compare the card with: refresh")
        readout = read_document_with_retry(
            reader, access_key, files=FACE_FILES, connect_timeout=connect_timeout
        )
        now = self.clock()
        document, age = _read_portrait(readout.files, id_numbers=numbers, now=now, trust_store=csca)
        if age < GUARDIAN_AGE and guardian is None:
            raise FaceError(
                "guardian_required",
                f"face verification for a person under {GUARDIAN_AGE} needs a guardian's consent",
            )
        assert document.portrait is not None  # read_portrait refuses a card without one
        candidate = FaceRecord(
            document.portrait, document.portrait_mime, now, guardian if age < GUARDIAN_AGE else None
        )
        try:
            _require_match(candidate, check)
        except WalletRefusal as exc:
            raise FaceError("face_mismatch", "the face in front of the camera is not the card's") from exc
        self.store.face = candidate
        self.store.changed()
        return candidate

    def disable_face(self) -> bool:
        """Opt out of face verification: delete the portrait (and any guardian consent) from the store.
        Returns whether it was enabled. The PIN path is unaffected."""
        if self.store.face is None:
            return False
        self.store.face = None
        self.store.changed()
        return True

    # --- presenting ---------------------------------------------------------------------------------------

    def wallet(
        self,
        *,
        rp_status: StatusListSource | Literal["offline"],
        issuer_url: str | None = None,
        policy: Policy = DEFAULT_POLICY,
        allow_loopback_http: bool = False,
    ) -> Wallet:
        """A :class:`~netid.wallet.present.Wallet` over this wallet's usable credentials from the active
        issuer (``issuer_url`` when there are several). A presentation through it is on disk (credential
        used, key deleted, log entry) before it is returned; so is every refusal's log entry."""
        record = self.issuer(issuer_url)
        wallet = Wallet(
            self.store,
            IssuerTrust(record.jwks, issuer=record.issuer_url),
            rp_status=rp_status,
            policy=policy,
            allow_loopback_http=allow_loopback_http,
            log=self.record_presentation,
        )
        wallet.credentials = self.usable_credentials(record.issuer_url)
        return wallet

    def usable_credentials(self, issuer_url: str | None = None) -> list[WalletCredential]:
        """The credentials a presentation may use: held, unused, not revoked, not expired."""
        now = self.clock()
        return [
            r.credential
            for r in self.store.credentials
            if r.usable and r.credential is not None and r.exp > now
            and (issuer_url is None or r.issuer == issuer_url)
        ]  # fmt: skip

    def record_presentation(
        self, terms: RequestTerms | None, disclosed: frozenset[str] | None, refusal: WalletRefusal | None
    ) -> None:
        """The ``log`` hook of the wallets this session makes (:data:`netid.wallet.present.PresentationLog`):
        append the entry and write the store — with it, the used credential and its deleted key."""
        self.store.append_log(presentation_entry(terms, disclosed, refusal, at=self.clock()))

    # --- keeping the batch topped up ----------------------------------------------------------------------

    def _fresh(self, record: CredentialRecord, now: int) -> bool:
        return record.usable and record.exp > now + self.refresh_policy.expiry_days * _DAY

    def refresh_due(self, issuer_url: str | None = None) -> list[str]:
        """Why a refresh is due now (empty: it is not): ``"anonymous"`` and/or ``"rp:<rp_id>"``."""
        record = self.issuer(issuer_url)
        now, policy = self.clock(), self.refresh_policy
        mine = [c for c in self.store.credentials if c.issuer == record.issuer_url]
        due = []
        if sum(1 for c in mine if c.kind == "anonymous" and self._fresh(c, now)) < policy.low_water:
            due.append("anonymous")
        for rp_id in record.rp_ids:
            fresh = sum(1 for c in mine if c.kind == "rp" and c.rp_id == rp_id and self._fresh(c, now))
            if fresh < policy.rp_low_water:
                due.append(f"rp:{rp_id}")
        return due

    def refresh(
        self,
        *,
        http: httpx.Client,
        issuer_url: str | None = None,
        count: int | None = None,
        rp_id: str | None = None,
    ) -> int:
        """Fetch a batch now (``rp_id``: an RP-scoped one for that relying party) with the refresh token,
        and the issuer's current key set; returns how many credentials arrived."""
        record = self.issuer(issuer_url)
        if record.refresh_token is None:
            raise WalletError("this wallet has no refresh token for the issuer: enroll again")
        size = count or (self.refresh_policy.rp_batch_size if rp_id else self.refresh_policy.batch_size)
        refresh_token = record.refresh_token
        # the issuer's current keys (it rotates them), fetched before the single-use token is spent
        record.jwks = _fetch_jwks(http, record.issuer_url)

        def rotated(new_token: str) -> None:
            record.refresh_token = new_token
            self.store.save()  # the old token is spent: keep the new one whatever happens next

        with self.store.deferred():
            batch = enrollment.refresh(
                record.issuer_url, refresh_token, keystore=self.store, http=http, batch_size=size,
                configuration_id=RP_SCOPED if rp_id else ANONYMOUS, rp_id=rp_id, clock=self.clock,
                on_refresh_token=rotated,
            )  # fmt: skip
            record.refresh_token = batch.refresh_token
            record.refreshed_at = self.clock()
            if rp_id is not None and rp_id not in record.rp_ids:
                record.rp_ids.append(rp_id)
            self.store.add_credentials(batch.credentials, rp_id=rp_id)
            self.store.append_log(
                LogEntry(
                    event="refreshed",
                    at=self.clock(),
                    issuer=record.issuer_url,
                    rp_id=rp_id,
                    credentials=len(batch.credentials),
                )
            )
        return len(batch.credentials)

    def fetch_rp_credentials(
        self, rp_id: str, *, http: httpx.Client, count: int | None = None, issuer_url: str | None = None
    ) -> int:
        """An RP-scoped batch for ``rp_id`` (its pairwise subject), e.g. on first contact with an RP that
        asks for a subject; later refreshes keep it topped up."""
        return self.refresh(http=http, issuer_url=issuer_url, count=count, rp_id=rp_id)

    def refresh_if_needed(self, *, http: httpx.Client, issuer_url: str | None = None) -> int:
        """:meth:`refresh` for each reason :meth:`refresh_due` gives; returns how many arrived."""
        arrived = 0
        for reason in self.refresh_due(issuer_url):
            rp_id = reason.removeprefix("rp:") if reason.startswith("rp:") else None
            arrived += self.refresh(http=http, issuer_url=issuer_url, rp_id=rp_id)
        return arrived

    # --- revocation ---------------------------------------------------------------------------------------

    def revoke_device(
        self,
        *,
        http: httpx.Client,
        issuer_url: str | None = None,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> int:
        """Ask the issuer to revoke every credential of this device (signed with the device key), then
        mark this wallet's credentials from it revoked and delete their keys, the device key and the
        refresh token. Returns how many credentials the issuer revoked."""
        record = self.issuer(issuer_url)
        revoked = enrollment.revoke_device(
            record.issuer_url, record.device_key_id, keystore=self.store, http=http, clock=self.clock, rng=rng
        )
        now = self.clock()
        with self.store.deferred():
            for credential in self.store.credentials:
                if credential.issuer != record.issuer_url or credential.revoked_at is not None:
                    continue
                credential.revoked_at = now
                if credential.credential is not None:
                    self.store.delete_key(credential.credential.key_id)
            record.revoked_at = now
            record.refresh_token = None
            self.store.delete_key(record.device_key_id)
            self.store.append_log(
                LogEntry(event="revoked", at=now, issuer=record.issuer_url, credentials=revoked)
            )
        return revoked

    # --- the PIN, and what the person sees -----------------------------------------------------------------

    def change_pin(self, new_pin: str) -> None:
        """Set a new PIN (re-encrypts the store; the recovery code keeps working)."""
        self.store.change_pin(new_pin)

    def summary(self) -> dict[str, Any]:
        """What ``netid credentials`` shows: per issuer, credentials by kind and RP sector, expiry, and
        whether a refresh is due (JSON-ready; no personal claim and no secret)."""
        now = self.clock()
        issuers = []
        for record in self.store.issuers:
            mine = [c for c in self.store.credentials if c.issuer == record.issuer_url]
            usable = [c for c in mine if c.usable and c.exp > now]
            by_sector: Counter[str] = Counter(c.sector for c in usable if c.kind == "rp" and c.sector)
            issuers.append(
                {
                    "issuer": record.issuer_url,
                    "netno": record.netno,
                    "enrolled_at": record.enrolled_at,
                    "refreshed_at": record.refreshed_at,
                    "revoked_at": record.revoked_at,
                    "unused": {
                        "anonymous": sum(1 for c in usable if c.kind == "anonymous"),
                        "rp": sum(1 for c in usable if c.kind == "rp"),
                    },
                    "unused_by_sector": dict(sorted(by_sector.items())),
                    "used": sum(1 for c in mine if c.used),
                    "revoked": sum(1 for c in mine if c.revoked_at is not None and not c.used),
                    "next_expiry": min((c.exp for c in usable), default=None),
                    "last_expiry": max((c.exp for c in usable), default=None),
                    "expiring_soon": sum(
                        1 for c in usable if c.exp <= now + self.refresh_policy.expiry_days * _DAY
                    ),
                    "refresh_due": self.refresh_due(record.issuer_url) if record.active else [],
                }
            )
        return {"issuers": issuers, "log_entries": len(self.store.log)}

    def log(self) -> list[LogEntry]:
        """The holder's log, oldest first."""
        return list(self.store.log)
