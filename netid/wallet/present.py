"""The holder side of OpenID4VP: check a request, ask consent, disclose the minimum, bind, mark used.

:func:`present` (or :meth:`Wallet.present`) is the one entry point. In order it:

1. opens the request with :func:`netid.oid4vp.request.open_request` — signed request object, RP
   certificate issued by the trusted issuer, request signed by the certificate's key, ``client_id`` and
   an ``https`` ``response_uri`` registered, every claim inside the certificate and at most one age
   threshold (checked before the query is parsed further), purpose registered — and **refuses**
   (:class:`~netid.errors.WalletRefusal`, same code) if any of that fails; then refuses an RP whose
   certificate the issuer has revoked or suspended (``rp_certificate``), unless the wallet was
   explicitly made ``offline``;
2. refuses if the holder cannot meet ``min_mode`` (``mode_unavailable``);
3. picks an unused, unexpired credential of the right kind: an *anonymous* one unless a subject or the
   netno is asked, then an RP-scoped one for the certificate's sector, signed and bound with algorithms
   the request's ``client_metadata`` accepts (``no_credential`` otherwise). An RP-scoped credential is
   never used for an anonymous request: its subject and sector would be visible;
4. plans the minimum disclosure: ``age_over_NN``/``doc_valid`` only if asked *and* true; ``name`` /
   ``id_number`` only when equal to the value the RP sent; the region claim of the asked level only if
   it is one of the asked codes; ``netno`` only if asked. Non-matching claims are withheld (the RP sees
   "not proven", never the value);
5. asks for consent with a plain-language prompt (``consent_denied`` if refused);
6. builds the presentation with a KB-JWT (``aud`` = ``client_id``, ``nonce``, ``sd_hash``, ``iat``,
   ``amr``) signed by the credential's device key, marks the credential used and deletes its key;
7. answers with a ``vp_token`` listing that one presentation under ``netcert`` and under the id of
   every comparison it proves (:func:`netid.oid4vp.response.vp_token_for`) — encrypted to the RP's key
   when the request asks for ``direct_post.jwt`` (:meth:`PresentationResponse.form`).

``http`` response URIs (to a loopback host only) are accepted only by a wallet made with
``allow_loopback_http=True``, a development mode: never in production.

This module does no I/O. The whole exchange over HTTP for a wallet on disk — fetch the request, check the
RP's revocation at the issuer, consent, an RP-scoped batch on first contact, post, refresh — is
:func:`netid.wallet.http.present_uri`, built from :func:`check_rp_status` and :func:`disclose_and_bind`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

from netid.credentials.jose import decode_jws_unverified, json_dumps, jwk_thumbprint, load_public_jwk
from netid.credentials.netcert import NETCERT_VCT
from netid.credentials.sdjwt.codec import sd_hash, split_sd_jwt
from netid.credentials.sdjwt.present import disclosable_claims, present_sd_jwt
from netid.credentials.status_list import VALID
from netid.credentials.status_source import StatusListSource
from netid.credentials.trust import IssuerTrust
from netid.errors import NetIDError, ParseError, UsageError, VerificationError, WalletRefusal
from netid.oid4vp.certificate import RpCertificate
from netid.oid4vp.dcql import Predicate, strict_in
from netid.oid4vp.modes import MODES, AuthMode, amr_for_mode, mode_rank
from netid.oid4vp.request import (
    PresentationRequest,
    RequestTerms,
    ResponseEncryption,
    VpFormats,
    open_request,
)
from netid.oid4vp.response import encrypt_response, vp_token_for
from netid.policy import DEFAULT_POLICY, Policy
from netid.wallet.consent import ConsentPrompt, build_consent_prompt
from netid.wallet.keystore import DeviceKeyStore

__all__ = [
    "OFFLINE",
    "PresentationLog",
    "PresentationResponse",
    "Wallet",
    "WalletCredential",
    "check_rp_status",
    "present",
]

#: a credential is not offered when it expires within this many seconds (the RP checks with leeway)
_EXPIRY_MARGIN = 120

#: the holder's-log hook (:mod:`netid.wallet.log`): ``(checked terms or None, disclosed claim names or None,
#: None or the refusal)``, called after a presentation is made and before a refusal is raised
PresentationLog = Callable[[RequestTerms | None, frozenset[str] | None, WalletRefusal | None], None]


TermsT = TypeVar("TermsT", bound=RequestTerms)


def answer_logged(
    open_terms: Callable[[], TermsT],
    answer: Callable[[TermsT], tuple[str, frozenset[str]]],
    log: PresentationLog | None,
) -> tuple[TermsT, str, frozenset[str]]:
    """Open a request (``open_terms``), then answer it (``answer``: the presentation and the claims it
    discloses), telling ``log`` of the answer or of the refusal before it is raised. The one skeleton of
    the online and the in-person paths, so that neither can answer without the holder's log knowing.

    A :class:`~netid.errors.VerificationError` from ``open_terms`` becomes a
    :class:`~netid.errors.WalletRefusal` with the same code, logged without terms: a request that did
    not check out names no RP the log could trust."""
    try:
        opened = open_terms()
    except VerificationError as exc:
        refusal = WalletRefusal.from_error(exc)
        if log is not None:
            log(None, None, refusal)
        raise refusal from exc
    try:
        presentation, disclosed = answer(opened)
    except WalletRefusal as refused:
        if log is not None:
            log(opened, None, refused)
        raise
    if log is not None:
        log(opened, disclosed, None)
    return opened, presentation, disclosed


@dataclass(slots=True)
class WalletCredential:
    """One single-use netcert held by the wallet. ``serialized`` is the issued SD-JWT (all disclosures);
    ``issuer_alg`` and ``holder_alg`` are its issuer signature's and its device key's algorithms."""

    serialized: str = field(repr=False)
    key_id: str
    kind: Literal["anonymous", "rp"]
    sector: str | None
    issuer: str
    exp: int
    used: bool = False
    issuer_alg: str = ""
    holder_alg: str = ""

    @classmethod
    def from_issued(cls, serialized: str) -> WalletCredential:
        """Read the wallet's bookkeeping from an issued netcert (its own data, so no signature check)."""
        try:
            header, payload, _, _ = decode_jws_unverified(split_sd_jwt(serialized).issuer_jwt)
            jwk = payload["cnf"]["jwk"]
            key_id = jwk_thumbprint(jwk)
            holder_alg = load_public_jwk(jwk).alg
            exp = payload["exp"]
            issuer = payload["iss"]
        except (ParseError, KeyError, TypeError) as exc:
            raise UsageError("not an issued netcert") from exc
        if payload.get("vct") != NETCERT_VCT or not isinstance(exp, int) or not isinstance(issuer, str):
            raise UsageError("not an issued netcert")
        alg = header.get("alg")
        issuer_alg = alg if isinstance(alg, str) else ""
        sub, sector = payload.get("sub"), payload.get("sector")
        if sub is not None and not isinstance(sector, str):
            raise UsageError("RP-scoped netcert without a sector")
        kind: Literal["anonymous", "rp"] = "rp" if sub is not None else "anonymous"
        return cls(
            serialized,
            key_id,
            kind,
            sector if sub is not None else None,
            issuer,
            exp,
            issuer_alg=issuer_alg,
            holder_alg=holder_alg,
        )


@dataclass(frozen=True, slots=True)
class PresentationResponse:
    """What the wallet sends: POST ``form()`` (``application/x-www-form-urlencoded``) to ``response_uri``.

    ``encryption`` is set when the request asked for ``direct_post.jwt``: :meth:`form` then encrypts the
    response to the RP's key, so nothing between the wallet and the RP can read it.
    """

    response_uri: str
    vp_token: Mapping[str, list[str]] = field(repr=False)
    state: str
    encryption: ResponseEncryption | None = field(default=None, repr=False)

    def form(self) -> dict[str, str]:
        """The form parameters to post: ``vp_token`` and ``state`` for ``direct_post`` (OpenID4VP 1.0
        §8.2), or ``response`` (a JWE of both) for ``direct_post.jwt`` (§8.3.1). Each call of the latter
        encrypts afresh (a new ephemeral key)."""
        if self.encryption is not None:
            return encrypt_response({"vp_token": dict(self.vp_token), "state": self.state}, self.encryption)
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
    credentials: Iterable[WalletCredential], request: RequestTerms, now: int, formats: VpFormats
) -> tuple[WalletCredential, dict[str, str]]:
    """The first eligible credential that can answer every required claim, and its disclosure plan.

    Eligible: unused, not about to expire, from the certificate's issuer, of the right kind (and sector),
    with an issuer and a holder-key algorithm the verifier accepts (``formats``).
    A candidate that lacks a claim the request *requires* (e.g. ``netno`` from a sign-in batch minted
    without it) is skipped, not fatal: another credential held for the same sector may carry it.
    """
    names = {p.name for p in request.predicates}
    needs_rp = bool(names & {"subject", "netno"})
    issuer = request.certificate.issuer
    for cred in credentials:
        if cred.used or cred.exp <= now + _EXPIRY_MARGIN or cred.issuer != issuer:
            continue
        if not formats.accepts(cred.issuer_alg, cred.holder_alg):
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


def _plan(cred: WalletCredential, predicates: Sequence[Predicate]) -> dict[str, str] | None:
    """The disclosures to present, digest → claim name: only claims that prove an asked predicate.

    ``None`` if the credential cannot disclose a claim the request requires (``values`` absent).
    """
    top_level = {c.path[0]: c.disclosure for c in disclosable_claims(cred.serialized) if len(c.path) == 1}
    chosen: dict[str, str] = {}
    for pred in predicates:
        if pred.claim == "sub":
            continue  # always visible in an RP-scoped credential; nothing to disclose
        disclosure = top_level.get(pred.claim)
        if pred.values is None:
            if disclosure is None:
                return None
            chosen[disclosure.digest] = pred.claim
        elif disclosure is not None and strict_in(disclosure.value, pred.values):
            chosen[disclosure.digest] = pred.claim
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
    allow_loopback_http: bool = False,
    log: PresentationLog | None = None,
) -> PresentationResponse:
    """Answer the request ``request`` (an ``openid4vp://`` URI or a request object JWT).

    ``trust`` holds the issuer's keys; ``rp_status`` (e.g. a
    :class:`~netid.credentials.status_source.CachedStatusLists`) checks the RP certificate's ``status``
    claim (:func:`check_rp_status`), or is :data:`OFFLINE` to skip that check knowingly. ``amr`` is how
    the holder unlocked the device key for this presentation. ``fetch`` retrieves a ``request_uri`` (the
    app does the HTTP). ``allow_loopback_http`` is a development mode that accepts an ``http`` response
    URI to a loopback host. Raises :class:`~netid.errors.WalletRefusal` (see the module docstring); on
    success the chosen credential is marked used and its key deleted. ``log`` (the holder's own log,
    :mod:`netid.wallet.log`) is told of every answer and every refusal: ``(terms, disclosed, None)`` once
    the presentation is made, ``(terms or None, None, refusal)`` before a refusal is raised (``terms`` is
    ``None`` when the request itself did not check out).
    """
    if amr not in MODES:
        raise UsageError(f"amr must be one of {MODES}")

    def answer(opened: PresentationRequest) -> tuple[str, frozenset[str]]:
        check_rp_status(opened.certificate, rp_status)
        return disclose_and_bind(
            opened,
            credentials,
            keystore=keystore,
            now=now,
            consent=consent,
            amr=amr,
            nonce=opened.nonce,
            formats=opened.vp_formats,
        )

    opened, presentation, disclosed = answer_logged(
        lambda: open_request(
            request, trust=trust, now=now, fetch=fetch, policy=policy, allow_loopback_http=allow_loopback_http
        ),
        answer,
        log,
    )
    return PresentationResponse(
        response_uri=opened.response_uri,
        vp_token=vp_token_for(presentation, opened, disclosed),
        state=opened.state,
        encryption=opened.response_encryption,
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
    formats: VpFormats = VpFormats(),  # noqa: B008 - immutable
) -> tuple[str, frozenset[str]]:
    """Steps 2-6 of the module docstring for request terms the caller has already checked.

    Shared by :func:`present` and the in-person mode (:mod:`netid.wallet.in_person`), which differ only
    in how the request arrives and where ``nonce`` comes from. ``fits`` may reject the finished
    presentation (e.g. too large for a QR code; ``no_credential``) before the credential is used up;
    ``formats`` is what the verifier accepts. Returns the presentation
    ``<issuer-jwt>~<disclosure>~…~<kb-jwt>`` and the names of the claims it discloses.
    """
    if terms.min_mode is not None and mode_rank(amr) < mode_rank(terms.min_mode):
        raise _refuse("mode_unavailable", "the request needs a stronger authentication mode")
    cred, chosen = _choose(credentials, terms, now, formats)
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
    return presentation, frozenset(chosen.values())


class Wallet:
    """A holder's wallet: a device key store plus the netcerts bound to its keys.

    ``trust`` holds the issuer's keys; ``rp_status`` is where RP certificates' statuses are looked up, or
    :data:`OFFLINE` to skip that check knowingly. ``allow_loopback_http=True`` is a development mode
    (an ``http`` response URI to a loopback host is accepted); never set it in a wallet people use.
    ``log`` is told of every answer and refusal (see :func:`present`; :mod:`netid.wallet.log`).
    """

    def __init__(
        self,
        keystore: DeviceKeyStore,
        trust: IssuerTrust,
        *,
        rp_status: StatusListSource | Literal["offline"],
        policy: Policy = DEFAULT_POLICY,
        allow_loopback_http: bool = False,
        log: PresentationLog | None = None,
    ) -> None:
        if not isinstance(trust, IssuerTrust):
            raise UsageError("trust must be an IssuerTrust (it pins the issuer identifier)")
        self.keystore = keystore
        self.trust = trust
        self.rp_status = rp_status
        self.policy = policy
        self.allow_loopback_http = allow_loopback_http
        self.log = log
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
            allow_loopback_http=self.allow_loopback_http,
            log=self.log,
        )
