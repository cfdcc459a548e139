"""The holder side of OpenID4VP: check a request, ask consent, disclose the minimum, bind, mark used.

:func:`present` (or :meth:`Wallet.present`) is the one entry point. In order it:

1. opens the request with :func:`netid.oid4vp.request.open_request` — signed request object, RP
   certificate issued by the trusted issuer, request signed by the certificate's key, ``client_id`` and
   ``response_uri`` registered, purpose registered, every predicate inside the certificate — and
   **refuses** (:class:`~netid.errors.WalletRefusal`, same code) if any of that fails; then refuses an
   RP whose certificate the issuer has revoked or suspended (``rp_certificate``), unless the wallet was
   explicitly made ``offline``;
2. refuses if the holder cannot meet ``min_mode`` (``mode_unavailable``);
3. picks an unused, unexpired credential of the right kind: an *anonymous* one unless a subject or the
   netno is asked, then an RP-scoped one for the certificate's sector (``no_credential`` otherwise). An
   RP-scoped credential is never used for an anonymous request: its subject and sector would be visible;
4. plans the minimum disclosure: ``age_over_NN``/``doc_valid`` only if asked *and* true; ``name`` /
   ``id_number`` only when equal to the value the RP sent; the region claim of the asked level only if
   it is one of the asked codes; ``netno`` only if asked. Non-matching claims are withheld (the RP sees
   "not proven", never the value);
5. asks for consent with a plain-language prompt (``consent_denied`` if refused);
6. builds the presentation with a KB-JWT (``aud`` = ``client_id``, ``nonce``, ``sd_hash``, ``iat``,
   ``amr``) signed by the credential's device key, marks the credential used and deletes its key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from netid.credentials.jose import decode_jws_unverified, json_dumps, jwk_thumbprint
from netid.credentials.netcert import NETCERT_VCT
from netid.credentials.sdjwt.codec import sd_hash, split_sd_jwt
from netid.credentials.sdjwt.present import disclosable_claims, present_sd_jwt
from netid.credentials.status_list import VALID
from netid.credentials.status_source import StatusListSource
from netid.credentials.trust import IssuerTrust
from netid.errors import NetIDError, ParseError, UsageError, VerificationError, WalletRefusal
from netid.oid4vp.certificate import RpCertificate
from netid.oid4vp.dcql import CREDENTIAL_QUERY_ID, Predicate, strict_in
from netid.oid4vp.modes import MODES, AuthMode, amr_for_mode, mode_rank
from netid.oid4vp.request import RequestTerms, open_request
from netid.policy import DEFAULT_POLICY, Policy
from netid.wallet.consent import ConsentPrompt, build_consent_prompt
from netid.wallet.keystore import DeviceKeyStore

__all__ = ["OFFLINE", "PresentationResponse", "Wallet", "WalletCredential", "check_rp_status", "present"]

#: a credential is not offered when it expires within this many seconds (the RP checks with leeway)
_EXPIRY_MARGIN = 120


@dataclass(slots=True)
class WalletCredential:
    """One single-use netcert held by the wallet. ``serialized`` is the issued SD-JWT (all disclosures)."""

    serialized: str = field(repr=False)
    key_id: str
    kind: Literal["anonymous", "rp"]
    sector: str | None
    issuer: str
    exp: int
    used: bool = False

    @classmethod
    def from_issued(cls, serialized: str) -> WalletCredential:
        """Read the wallet's bookkeeping from an issued netcert (its own data, so no signature check)."""
        try:
            _, payload, _, _ = decode_jws_unverified(split_sd_jwt(serialized).issuer_jwt)
            jwk = payload["cnf"]["jwk"]
            key_id = jwk_thumbprint(jwk)
            exp = payload["exp"]
            issuer = payload["iss"]
        except (ParseError, KeyError, TypeError) as exc:
            raise UsageError("not an issued netcert") from exc
        if payload.get("vct") != NETCERT_VCT or not isinstance(exp, int) or not isinstance(issuer, str):
            raise UsageError("not an issued netcert")
        sub, sector = payload.get("sub"), payload.get("sector")
        if sub is not None:
            if not isinstance(sector, str):
                raise UsageError("RP-scoped netcert without a sector")
            return cls(serialized, key_id, "rp", sector, issuer, exp)
        return cls(serialized, key_id, "anonymous", None, issuer, exp)


@dataclass(frozen=True, slots=True)
class PresentationResponse:
    """What the wallet sends: POST ``form()`` (``application/x-www-form-urlencoded``) to ``response_uri``."""

    response_uri: str
    vp_token: Mapping[str, list[str]] = field(repr=False)
    state: str

    def form(self) -> dict[str, str]:
        """The ``direct_post`` form parameters (OpenID4VP 1.0 §8.2)."""
        return {"vp_token": json_dumps(dict(self.vp_token)).decode("utf-8"), "state": self.state}


def _refuse(code: str, message: str) -> WalletRefusal:
    return WalletRefusal(code, message)


#: pass as ``rp_status`` to skip the RP-revocation check: a wallet with no network, explicitly
OFFLINE: Final = "offline"


def check_rp_status(certificate: RpCertificate, rp_status: StatusListSource | Literal["offline"]) -> None:
    """Refuse an RP whose access certificate the issuer has revoked or suspended
    (``specs/protocol.md`` §6 step 3).

    Whenever the certificate carries a ``status`` claim, unless ``rp_status`` is :data:`OFFLINE`. A status
    that cannot be determined is a refusal too (fail closed): ``rp_certificate`` either way.
    """
    if rp_status == OFFLINE or certificate.status is None:
        return
    if not isinstance(rp_status, StatusListSource):
        raise UsageError("rp_status must be a status list source or netid.wallet.OFFLINE")
    uri, idx = certificate.status
    try:
        value = rp_status.status(uri, idx)
    except (VerificationError, NetIDError) as exc:
        raise _refuse("rp_certificate", "the RP certificate's status cannot be determined") from exc
    if value != VALID:
        raise _refuse("rp_certificate", "the RP certificate is revoked or suspended")


def _choose(
    credentials: Iterable[WalletCredential], request: RequestTerms, now: int
) -> tuple[WalletCredential, set[str]]:
    """The first eligible credential that can answer every required claim, and its disclosure plan.

    Eligible: unused, not about to expire, from the certificate's issuer, of the right kind (and sector).
    A candidate that lacks a claim the request *requires* (e.g. ``netno`` from a sign-in batch minted
    without it) is skipped, not fatal: another credential held for the same sector may carry it.
    """
    names = {p.name for p in request.predicates}
    needs_rp = bool(names & {"subject", "netno"})
    issuer = request.certificate.issuer
    for cred in credentials:
        if cred.used or cred.exp <= now + _EXPIRY_MARGIN or cred.issuer != issuer:
            continue
        if needs_rp:
            if cred.kind != "rp" or cred.sector != request.certificate.sector:
                continue
        elif cred.kind != "anonymous":
            continue
        plan = _plan(cred, request.predicates)
        if plan is not None:
            return cred, plan
    raise _refuse("no_credential", "no unused credential can answer this request")


def _plan(cred: WalletCredential, predicates: Sequence[Predicate]) -> set[str] | None:
    """Digests of the disclosures to present: only claims that prove an asked predicate.

    ``None`` if the credential cannot disclose a claim the request requires (``values`` absent).
    """
    top_level = {c.path[0]: c.disclosure for c in disclosable_claims(cred.serialized) if len(c.path) == 1}
    chosen: set[str] = set()
    for pred in predicates:
        if pred.claim == "sub":
            continue  # always visible in an RP-scoped credential; nothing to disclose
        disclosure = top_level.get(pred.claim)
        if pred.values is None:
            if disclosure is None:
                return None
            chosen.add(disclosure.digest)
        elif disclosure is not None and strict_in(disclosure.value, pred.values):
            chosen.add(disclosure.digest)
    return chosen


def present(
    request: str,
    credentials: Iterable[WalletCredential],
    *,
    keystore: DeviceKeyStore,
    trust: IssuerTrust,
    rp_status: StatusListSource | Literal["offline"],
    now: int,
    consent: Callable[[ConsentPrompt], bool],
    amr: AuthMode,
    fetch: Callable[[str], str] | None = None,
    policy: Policy = DEFAULT_POLICY,
) -> PresentationResponse:
    """Answer the request ``request`` (an ``openid4vp://`` URI or a request object JWT).

    ``trust`` holds the issuer's keys; ``rp_status`` (e.g. a
    :class:`~netid.credentials.status_source.CachedStatusLists`) checks the RP certificate's ``status``
    claim (:func:`check_rp_status`), or is :data:`OFFLINE` to skip that check knowingly. ``amr`` is how
    the holder unlocked the device key for this presentation. ``fetch`` retrieves a ``request_uri`` (the
    app does the HTTP). Raises :class:`~netid.errors.WalletRefusal` (see the module docstring); on
    success the chosen credential is marked used and its key deleted.
    """
    if amr not in MODES:
        raise UsageError(f"amr must be one of {MODES}")
    try:
        opened = open_request(request, trust=trust, now=now, fetch=fetch, policy=policy)
    except VerificationError as exc:
        raise _refuse(exc.code, str(exc)) from exc
    check_rp_status(opened.certificate, rp_status)
    presentation = disclose_and_bind(
        opened, credentials, keystore=keystore, now=now, consent=consent, amr=amr, nonce=opened.nonce
    )
    return PresentationResponse(
        response_uri=opened.response_uri,
        vp_token={CREDENTIAL_QUERY_ID: [presentation]},
        state=opened.state,
    )


def disclose_and_bind(
    terms: RequestTerms,
    credentials: Iterable[WalletCredential],
    *,
    keystore: DeviceKeyStore,
    now: int,
    consent: Callable[[ConsentPrompt], bool],
    amr: AuthMode,
    nonce: str,
    fits: Callable[[str], bool] | None = None,
) -> str:
    """Steps 2-6 of the module docstring for request terms the caller has already checked.

    Shared by :func:`present` and the in-person mode (:mod:`netid.wallet.in_person`), which differ only
    in how the request arrives and where ``nonce`` comes from. ``fits`` may reject the finished
    presentation (e.g. too large for a QR code; ``no_credential``) before the credential is used up.
    Returns the presentation ``<issuer-jwt>~<disclosure>~…~<kb-jwt>``.
    """
    if terms.min_mode is not None and mode_rank(amr) < mode_rank(terms.min_mode):
        raise _refuse("mode_unavailable", "the request needs a stronger authentication mode")
    cred, chosen = _choose(credentials, terms, now)
    if not consent(build_consent_prompt(terms)):
        raise _refuse("consent_denied", "the holder declined")
    try:
        without_kb = present_sd_jwt(cred.serialized, disclose=lambda d: d.digest in chosen)
        kb_payload = {
            "iat": now,
            "aud": terms.client_id,
            "nonce": nonce,
            "sd_hash": sd_hash(without_kb),
            "amr": amr_for_mode(amr, hardware_key=keystore.hardware_backed),
        }
        kb_jwt = keystore.sign_jwt(cred.key_id, kb_payload, typ="kb+jwt")
    except NetIDError as exc:
        raise _refuse("no_credential", "the credential could not be presented") from exc
    presentation = without_kb + kb_jwt
    if fits is not None and not fits(presentation):
        raise _refuse("no_credential", "the presentation does not fit the channel")
    cred.used = True
    keystore.delete_key(cred.key_id)
    return presentation


class Wallet:
    """A holder's wallet: a device key store plus the netcerts bound to its keys.

    ``trust`` holds the issuer's keys; ``rp_status`` is where RP certificates' statuses are looked up, or
    :data:`OFFLINE` to skip that check knowingly.
    """

    def __init__(
        self,
        keystore: DeviceKeyStore,
        trust: IssuerTrust,
        *,
        rp_status: StatusListSource | Literal["offline"],
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        if not isinstance(trust, IssuerTrust):
            raise UsageError("trust must be an IssuerTrust (it pins the issuer identifier)")
        self.keystore = keystore
        self.trust = trust
        self.rp_status = rp_status
        self.policy = policy
        self.credentials: list[WalletCredential] = []

    def new_holder_keys(self, count: int, alg: str = "ES256") -> list[dict[str, str]]:
        """Create ``count`` fresh device keys (one per credential) and return their public JWKs."""
        return [self.keystore.public_jwk(self.keystore.create_key(alg)) for _ in range(count)]

    def add_credentials(self, serialized: Iterable[str]) -> None:
        """Store issued netcerts; each must be bound to a key in this wallet's key store."""
        for s in serialized:
            cred = WalletCredential.from_issued(s)
            try:
                self.keystore.public_jwk(cred.key_id)
            except UsageError as exc:
                raise UsageError("credential is bound to a key this wallet does not hold") from exc
            self.credentials.append(cred)

    def unused(self, kind: Literal["anonymous", "rp"] | None = None) -> list[WalletCredential]:
        return [c for c in self.credentials if not c.used and (kind is None or c.kind == kind)]

    def present(
        self,
        request: str,
        *,
        now: int,
        consent: Callable[[ConsentPrompt], bool],
        amr: AuthMode,
        fetch: Callable[[str], str] | None = None,
    ) -> PresentationResponse:
        """:func:`present` over this wallet's credentials."""
        return present(
            request,
            self.credentials,
            keystore=self.keystore,
            trust=self.trust,
            rp_status=self.rp_status,
            now=now,
            consent=consent,
            amr=amr,
            fetch=fetch,
            policy=self.policy,
        )
