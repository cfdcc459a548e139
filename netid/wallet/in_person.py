"""The holder side of the in-person mode: scan a counter QR, answer with a dynamic QR.

:func:`answer_counter` is the whole flow (see :mod:`netid.oid4vp.in_person` for the protocol):

1. opens the counter QR with :func:`netid.oid4vp.in_person.open_counter_request` — signed by a
   registered RP, certificate from the trusted issuer, counter request signed by the certificate's key,
   current, purpose registered, every predicate inside the certificate — and **refuses**
   (:class:`~netid.errors.WalletRefusal`, same code) if any of that fails;
2. then exactly as online (:func:`netid.wallet.present.disclose_and_bind`): ``min_mode``
   (``mode_unavailable``), an unused credential of the right kind (``no_credential``), the minimum
   disclosure, the same consent prompt (``consent_denied``), a KB-JWT with ``aud`` = the counter's
   ``client_id``, ``nonce`` = the hash of the counter request and ``iat`` = ``now``; the credential is
   used up and its key deleted;
3. returns the dynamic QR text ``NETIDP1:<presentation>``, to be shown at once: the counter accepts it
   only within its window (30 s by default) and only once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from netid.credentials.status_source import StatusListSource
from netid.credentials.trust import IssuerTrust
from netid.errors import UsageError
from netid.oid4vp.in_person import QR_MAX_BYTES, CounterRequest, open_counter_request, presentation_qr_text
from netid.oid4vp.modes import MODES, AuthMode
from netid.policy import DEFAULT_POLICY, Policy
from netid.wallet.consent import ConsentPrompt
from netid.wallet.keystore import DeviceKeyStore
from netid.wallet.present import (
    PresentationLog,
    Wallet,
    WalletCredential,
    answer_logged,
    check_rp_status,
    disclose_and_bind,
)

__all__ = ["answer_counter"]


def _fits_qr(presentation: str) -> bool:
    return len(presentation_qr_text(presentation).encode("ascii")) <= QR_MAX_BYTES


def answer_counter(
    qr_text: str,
    wallet: Wallet | Iterable[WalletCredential],
    *,
    keystore: DeviceKeyStore | None = None,
    trust: IssuerTrust | None = None,
    rp_status: StatusListSource | Literal["offline"] | None = None,
    now: int,
    consent: Callable[[ConsentPrompt], bool],
    amr: AuthMode,
    policy: Policy = DEFAULT_POLICY,
    log: PresentationLog | None = None,
) -> str:
    """Answer a scanned counter QR; return the dynamic QR text.

    ``wallet`` is a :class:`~netid.wallet.present.Wallet` (its key store, trust, RP-status source and
    policy are used unless given) or the credentials themselves (then ``keystore``, ``trust`` and
    ``rp_status`` are required). ``amr`` is how the holder unlocked the device key. Raises
    :class:`~netid.errors.WalletRefusal` (see the module docstring); on success the chosen credential is
    marked used and its key deleted.
    """
    if isinstance(wallet, Wallet):
        credentials: Iterable[WalletCredential] = wallet.credentials
        keystore = keystore if keystore is not None else wallet.keystore
        trust = trust if trust is not None else wallet.trust
        rp_status = rp_status if rp_status is not None else wallet.rp_status
        policy = wallet.policy if policy is DEFAULT_POLICY else policy
        log = log if log is not None else wallet.log
    else:
        credentials = wallet
    if keystore is None or trust is None or rp_status is None:
        raise UsageError("keystore, trust and rp_status are required with bare credentials")
    if amr not in MODES:
        raise UsageError(f"amr must be one of {MODES}")

    def answer(opened: CounterRequest) -> tuple[str, frozenset[str]]:
        assert rp_status is not None and keystore is not None  # checked above
        check_rp_status(opened.certificate, rp_status)
        return disclose_and_bind(
            opened,
            credentials,
            keystore=keystore,
            now=now,
            consent=consent,
            amr=amr,
            nonce=opened.nonce,
            fits=_fits_qr,
        )

    _opened, presentation, _disclosed = answer_logged(
        lambda: open_counter_request(qr_text, trust=trust, now=now, policy=policy), answer, log
    )
    return presentation_qr_text(presentation)
