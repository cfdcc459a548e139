"""The holder side of the in-person mode: scan a counter QR, answer with a dynamic QR.

:func:`answer_counter` is the whole flow (see :mod:`netid.verifier.in_person` for the protocol):

1. opens the counter QR with :func:`netid.verifier.in_person.open_counter_request` — signed by a
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

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from netid.errors import UsageError, VerificationError, WalletRefusal
from netid.verifier.answers import MODES, AuthMode
from netid.verifier.in_person import (
    QR_MAX_BYTES,
    open_counter_request,
    presentation_qr_text,
)
from netid.verifier.status import StatusListSource
from netid.verifier.trust import IssuerTrust
from netid.wallet.consent import ConsentPrompt
from netid.wallet.keystore import DeviceKeyStore
from netid.wallet.present import Wallet, WalletCredential, check_rp_status, disclose_and_bind

__all__ = ["answer_counter"]


def _fits_qr(presentation: str) -> bool:
    return len(presentation_qr_text(presentation).encode("ascii")) <= QR_MAX_BYTES


def answer_counter(
    qr_text: str,
    wallet: Wallet | Iterable[WalletCredential],
    *,
    keystore: DeviceKeyStore | None = None,
    trusted_issuer_jwks: Mapping[str, Any] | IssuerTrust | None = None,
    now: int,
    consent: Callable[[ConsentPrompt], bool],
    amr: AuthMode,
    rp_status: StatusListSource | None = None,
) -> str:
    """Answer a scanned counter QR; return the dynamic QR text.

    ``wallet`` is a :class:`~netid.wallet.present.Wallet` (its key store and trusted JWKS are used unless
    given) or the credentials themselves (then ``keystore`` and ``trusted_issuer_jwks`` are required).
    ``amr`` is how the holder unlocked the device key. Raises :class:`~netid.errors.WalletRefusal` (see
    the module docstring); on success the chosen credential is marked used and its key deleted.
    """
    if isinstance(wallet, Wallet):
        credentials: Iterable[WalletCredential] = wallet.credentials
        keystore = keystore if keystore is not None else wallet.keystore
        if trusted_issuer_jwks is None:
            trusted_issuer_jwks = wallet.trusted_issuer_jwks
        if rp_status is None:
            rp_status = wallet.rp_status
    else:
        credentials = wallet
    if keystore is None or trusted_issuer_jwks is None:
        raise UsageError("keystore and trusted_issuer_jwks are required with bare credentials")
    if amr not in MODES:
        raise UsageError(f"amr must be one of {MODES}")
    try:
        opened = open_counter_request(qr_text, issuer_jwks=trusted_issuer_jwks, now=now)
    except VerificationError as exc:
        raise WalletRefusal(exc.code, str(exc)) from exc
    check_rp_status(opened.certificate, rp_status)
    presentation = disclose_and_bind(
        opened,
        credentials,
        keystore=keystore,
        now=now,
        consent=consent,
        amr=amr,
        nonce=opened.nonce,
        fits=_fits_qr,
    )
    return presentation_qr_text(presentation)
