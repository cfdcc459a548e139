"""What the shop's pages stand on: its relying party (online checks) and its counter (in person).

:func:`build_services` makes both from the settings and the registration file: a
:class:`~netid.verifier.http.RelyingParty` whose verifier trusts the issuer the shop registered with
(JWKS and status lists fetched over HTTP and cached, :func:`netid.verifier.verifier_for_issuer`), with
its transactions in memory or in the database at ``NETID_SHOP_DATABASE_URL``; and a :class:`Counter` for
the in-person desk. Tests build :class:`ShopServices` themselves, over a test world's issuer and clock.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from netid.credentials.jose import SigningKey
from netid.credentials.status_source import CachedStatusLists
from netid.credentials.trust import IssuerTrust
from netid.errors import VerificationError
from netid.oid4vp.in_person import CounterRequest
from netid.verifier import Answers, CounterVerifier, Query, build_counter_request
from netid.verifier.http import RelyingParty, TransactionStore
from netid.verifier.remote import HttpCache, HttpJwksFetcher, HttpStatusFetcher, verifier_for_issuer
from relying_party_example.register import PURPOSES, ShopRegistration
from relying_party_example.settings import ShopSettings

__all__ = ["COUNTER_QUERY", "Counter", "ShopServices", "build_services"]

#: what the in-person desk asks: over 18
COUNTER_QUERY: Final = Query(purpose=PURPOSES["age"], age_over=18)
#: how long one counter QR is shown before the desk signs a new one (the previous one stays accepted)
COUNTER_QR_TTL: Final = 8 * 3600


def _system_clock() -> int:
    return int(time.time())


class Counter:
    """The in-person desk (``specs/protocol.md`` §9): the signed counter QR it shows, and the check of a
    holder's dynamic QR against it.

    The desk signs a counter QR for :data:`COUNTER_QUERY` with the shop's key and certificate, valid for
    ``ttl`` seconds, and signs a new one once three quarters of that have passed; a dynamic QR made for
    the previous one is still accepted while that one is valid. ``verifier`` enforces the 30-second window
    and single use.
    """

    def __init__(
        self,
        *,
        signing_key: SigningKey,
        certificate: str,
        verifier: CounterVerifier,
        counter_id: str,
        clock: Callable[[], int] = _system_clock,
        ttl: int = COUNTER_QR_TTL,
        rng: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._key = signing_key
        self._certificate = certificate
        self.verifier = verifier
        self.counter_id = counter_id
        self._clock = clock
        self._ttl = ttl
        self._rng = rng
        self._current: CounterRequest | None = None
        self._previous: CounterRequest | None = None

    def current(self) -> CounterRequest:
        """The counter QR to show now (signed anew when the last one is three quarters through)."""
        now = self._clock()
        current = self._current
        if current is None or now >= current.exp - self._ttl // 4:
            self._previous = current
            current = build_counter_request(
                COUNTER_QUERY,
                rp_key=self._key,
                rp_certificate=self._certificate,
                counter_id=self.counter_id,
                now=now,
                ttl=self._ttl,
                rng=self._rng,
            )
            self._current = current
        return current

    def check(self, dynamic_qr: str) -> Answers:
        """Verify a holder's dynamic QR text; :class:`VerificationError` if it does not verify (a
        ``nonce`` error when it was made for neither of the desk's counter QRs)."""
        current = self.current()
        try:
            return self.verifier.verify(dynamic_qr, current)
        except VerificationError as exc:
            previous = self._previous
            if exc.code != "nonce" or previous is None or self._clock() > previous.exp:
                raise
        return self.verifier.verify(dynamic_qr, previous)


@dataclass(frozen=True, slots=True)
class ShopServices:
    """The shop's relying party, its counter, its id at the issuer and its clock."""

    rp: RelyingParty
    counter: Counter
    rp_id: str
    issuer_url: str
    clock: Callable[[], int] = _system_clock


def build_services(
    settings: ShopSettings,
    *,
    store: TransactionStore | None = None,
    clock: Callable[[], int] = _system_clock,
) -> ShopServices:
    """The services of a shop configured by ``settings`` (reads ``settings.rp_file``; :class:`ValueError`
    if it is not a registration file). ``store`` overrides the transaction store the settings choose."""
    registration = ShopRegistration.load(settings.rp_file)
    if store is None and settings.database_url:
        from netid.verifier.http.sql import SqlTransactionStore  # noqa: PLC0415 - SQLAlchemy on use

        store = SqlTransactionStore(settings.database_url)
    rp = RelyingParty(
        base_url=settings.base_url or registration.base_url,
        signing_key=registration.signing_key,
        certificate=registration.certificate,
        encryption_key=registration.encryption_key,
        verifier=verifier_for_issuer(registration.issuer_url, clock=clock),
        store=store,
        clock=clock,
        request_ttl=settings.request_ttl,
    )
    cache = HttpCache(clock=clock)
    trust = IssuerTrust(
        issuer=registration.issuer_url,
        fetch=HttpJwksFetcher(registration.issuer_url, cache),
        clock=clock,
        ttl=300,
    )
    status = CachedStatusLists(HttpStatusFetcher(cache), trust, clock=clock)
    counter = Counter(
        signing_key=registration.signing_key,
        certificate=registration.certificate,
        verifier=CounterVerifier(trust, status=status, clock=clock),
        counter_id=settings.counter_id,
        clock=clock,
    )
    return ShopServices(
        rp=rp, counter=counter, rp_id=registration.rp_id, issuer_url=registration.issuer_url, clock=clock
    )
