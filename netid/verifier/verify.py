"""The relying party's verifiers: one presentation in, yes/no :class:`Answers` out (or a precise error).

:class:`Verifier` (online, OpenID4VP ``direct_post``) and :class:`CounterVerifier` (in person, a dynamic QR)
run one skeleton, :meth:`PresentationVerifier.verify`; each mode states only what differs — when its
request stops being answerable, where the presentation comes from, how fresh the holder's KB-JWT must be
(an age bound online, a window around the counter's clock in person) and what single use is keyed on.
Both check everything themselves and never trust the wallet's filtering. The order is fixed
(``specs/protocol.md`` §7 and §9 are normative); the first failing step raises
:class:`~netid.errors.VerificationError` with the code in brackets:

1.  The request is within the RP's certificate: every predicate allowed (``rp_scope``), and still
    answerable (``request``): online, strictly before ``request.exp + max_presentation_age`` (which is
    also the last second the replay cache is asked to remember the nonce — step 9); in person, until
    the counter request's ``exp`` (plus leeway).
2.  The presentation: online, ``vp_token`` is a JSON object (or its text) with ``netcert`` and otherwise
    only ids of the request's value queries, each an array of the one same presentation string of at most
    ``policy.max_presentation_bytes`` (:func:`~netid.oid4vp.response.presentation_from_vp_token`); in
    person, ``NETIDP1:<presentation>`` or the bare presentation of at most a QR code's capacity
    (``malformed``).
3.  The SD-JWT itself (:func:`~netid.credentials.sdjwt.verify.verify_sd_jwt`, whose docstring has the
    order of its checks and why): size caps (``malformed``), ``alg`` allow-list (``algorithm``), issuer
    key by ``kid`` from the trusted JWKS, published for netcerts (``issuer_key``), issuer signature
    (``issuer_signature``), ``typ`` = ``dc+sd-jwt`` (``typ``), ``_sd_alg`` (``sd_alg``), ``exp``/``nbf``/
    ``iat`` with bounded skew (``expired``, ``not_yet_valid``, ``issued_in_future``), a KB-JWT
    (``kb_missing``), each disclosure well-formed and referenced exactly once (``disclosure_*``,
    ``digest_duplicate``, ``array_element``, ``claim_conflict``), holder binding via ``cnf.jwk``
    (``holder_key``, ``kb_signature``, ``kb_typ``), ``aud`` = ``client_id`` (``aud``), ``nonce`` = the
    request's (``nonce``; in person a hash of the counter request), the KB-JWT's freshness (``kb_iat``
    online, ``window`` in person) and ``sd_hash`` (``sd_hash``).
4.  ``vct`` is ``urn:netid:netcert:1`` (``vct``); numeric ``iat`` and ``exp`` and, when a status source
    is configured, a well-formed ``status.status_list`` reference (``claim_missing``).
5.  Status list entry is valid (``status_revoked`` / ``status_unavailable``): after every cryptographic
    check, since looking it up may mean fetching the list from the issuer.
6.  No disclosure of a claim the request did not ask for (``disclosure_unrequested``): a wallet that
    over-shares is rejected rather than silently tolerated, and nothing unrequested reaches Answers.
7.  If a subject was asked: the credential is RP-scoped *for this RP's sector* (``subject``).
8.  Holder authentication mode at least ``min_mode`` (``assurance``).
9.  Single use (``nonce_reused``): online the request's nonce; in person the KB-JWT's signed part. Last,
    so only a presentation that passed every other check can use up a request.

Then the answers: each value predicate is ``True`` only if its claim was disclosed with exactly one of the
requested values (strict JSON types; strings compared in constant time); anything else — withheld,
different value, wrong type — is ``False``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from netid.credentials.jose import ALLOWED_ALGORITHMS
from netid.credentials.netcert import NETCERT_TYP, NETCERT_VCT
from netid.credentials.sdjwt.verify import VerifiedSdJwt, verify_sd_jwt
from netid.credentials.status_list import VALID
from netid.credentials.status_source import StatusListSource
from netid.credentials.trust import IssuerTrust
from netid.errors import UsageError, VerificationError
from netid.oid4vp.dcql import strict_in
from netid.oid4vp.in_person import CounterRequest, presentation_from_qr
from netid.oid4vp.modes import MODES, AuthMode, mode_from_amr, mode_rank
from netid.oid4vp.request import PresentationRequest, RequestTerms
from netid.oid4vp.response import presentation_from_vp_token
from netid.policy import DEFAULT_POLICY, Policy
from netid.verifier.answers import Answers, Assurance, CredentialKind, assurance_level
from netid.verifier.replay import InMemoryReplayCache, ReplayCache

__all__ = ["CounterVerifier", "PresentationVerifier", "Verifier", "check_presentation"]

TermsT = TypeVar("TermsT", bound=RequestTerms)
ResponseT = TypeVar("ResponseT")


_new_object = object.__new__
_set_predicates, _set_subject, _set_assurance, _set_kind, _set_netno = (
    Answers.__dict__[f].__set__ for f in ("predicates", "subject", "assurance", "credential_kind", "netno")
)


def _answers(
    predicates: MappingProxyType[str, bool],
    subject: str | None,
    assurance: Assurance,
    kind: CredentialKind,
    netno: str | None,
) -> Answers:
    """``Answers(...)`` through the slot descriptors: a frozen dataclass's ``__init__`` (and this one's
    ``__post_init__``, which wraps a plain mapping) cost twice as much on the verifier's hot path."""
    answers = _new_object(Answers)
    _set_predicates(answers, predicates)
    _set_subject(answers, subject)
    _set_assurance(answers, assurance)
    _set_kind(answers, kind)
    _set_netno(answers, netno)
    return answers


def _system_clock() -> int:
    return int(time.time())


class PresentationVerifier(Generic[ResponseT, TermsT]):
    """The skeleton both verifiers share (steps 1-9 of the module docstring).

    ``trust`` holds the issuer keys; ``status`` the status-list source (``None`` skips the status check —
    only for offline tests and in-person counters that accept the risk); ``replay_cache`` enforces single
    use (default: a process-local one); ``clock`` returns Unix seconds; ``policy`` bounds clock skew, the
    KB-JWT's age or window and the presentation's size.
    """

    def __init__(
        self,
        trust: IssuerTrust,
        *,
        status: StatusListSource | None,
        replay_cache: ReplayCache | None = None,
        clock: Callable[[], int] = _system_clock,
        policy: Policy = DEFAULT_POLICY,
    ) -> None:
        if not isinstance(trust, IssuerTrust):
            raise UsageError("trust must be an IssuerTrust (it pins the issuer identifier)")
        self._trust = trust
        self._status = status
        self._replay = replay_cache if replay_cache is not None else InMemoryReplayCache(clock)
        self._clock = clock
        self.policy = policy

    def verify(self, response: ResponseT, request: TermsT) -> Answers:
        """Verify ``response`` against ``request``. Returns :class:`Answers`; raises
        :class:`VerificationError` (order and codes in the module docstring)."""
        now = self._clock()
        if not request.in_scope:
            raise VerificationError("rp_scope", "the request asks more than the RP certificate allows")
        self._check_answerable(request, now)
        presentation = self._presentation(response, request)
        nonce, max_age, kb_window = self._kb_binding(request, now)
        answers, verified = check_presentation(
            presentation,
            request,
            trust=self._trust,
            status=self._status,
            nonce=nonce,
            now=now,
            leeway=self.policy.leeway,
            max_age=max_age,
            kb_window=kb_window,
            max_bytes=self.policy.max_presentation_bytes,
        )
        key, expires_at = self._single_use(request, presentation, verified, now)
        if not self._replay.consume(key, expires_at):
            raise VerificationError("nonce_reused", "this request was already answered")
        return answers

    # --- what each mode states -------------------------------------------------------------------

    def _check_answerable(self, request: TermsT, now: int) -> None:
        raise NotImplementedError

    def _presentation(self, response: ResponseT, request: TermsT) -> str:
        raise NotImplementedError

    def _kb_binding(self, request: TermsT, now: int) -> tuple[str, int, tuple[int, int] | None]:
        """The KB-JWT's expected ``nonce`` and its freshness rule: ``(nonce, max_age, kb_window)``, where a
        ``kb_window`` replaces the ``max_age`` rule."""
        raise NotImplementedError

    def _single_use(
        self, request: TermsT, presentation: str, verified: VerifiedSdJwt, now: int
    ) -> tuple[str, int]:
        raise NotImplementedError


class Verifier(PresentationVerifier["Mapping[str, Any] | str", PresentationRequest]):
    """Verifies OpenID4VP ``vp_token`` responses to requests this RP built (:func:`build_request`).

    A KB-JWT older than ``policy.max_presentation_age`` seconds is refused, and a response is taken
    until ``request.exp + policy.max_presentation_age``.

    >>> from netid.testing import TestWorld
    >>> from netid.verifier import Query
    >>> world = TestWorld.create()
    >>> request = world.request(Query(purpose="age check", age_over=18))
    >>> world.verifier.verify(world.present(request), request)["age_over_18"]
    True
    """

    def _deadline(self, request: PresentationRequest) -> int:
        # Accepted strictly before request.exp + max_age; the replay cache keeps the nonce through that
        # second (inclusive expiry), so no instant exists at which a spent nonce is forgotten but the
        # request is still accepted.
        return request.exp + self.policy.max_presentation_age

    def _check_answerable(self, request: PresentationRequest, now: int) -> None:
        if now >= self._deadline(request):
            raise VerificationError("request", "the request has expired")

    def _presentation(self, response: Mapping[str, Any] | str, request: PresentationRequest) -> str:
        return presentation_from_vp_token(response, request, max_bytes=self.policy.max_presentation_bytes)

    def _kb_binding(self, request: PresentationRequest, now: int) -> tuple[str, int, tuple[int, int] | None]:
        return request.nonce, self.policy.max_presentation_age, None

    def _single_use(
        self, request: PresentationRequest, presentation: str, verified: VerifiedSdJwt, now: int
    ) -> tuple[str, int]:
        return f"{request.client_id}\x00{request.nonce}", self._deadline(request)


class CounterVerifier(PresentationVerifier[str, CounterRequest]):
    """The counter's verifier: dynamic QRs in, :class:`Answers` out (or a precise error).

    A counter that is offline can serve a recently fetched status list. The KB-JWT's ``iat`` must lie
    within ``policy.in_person_window`` seconds of the counter's clock (either side), and a replay cache
    remembers each accepted KB-JWT until that window has passed.
    """

    @property
    def window(self) -> int:
        return self.policy.in_person_window

    def _check_answerable(self, request: CounterRequest, now: int) -> None:
        if now > request.exp + self.policy.leeway:
            raise VerificationError("request", "the counter request has expired; show a new one")

    def _presentation(self, response: str, request: CounterRequest) -> str:
        return presentation_from_qr(response)

    def _kb_binding(self, request: CounterRequest, now: int) -> tuple[str, int, tuple[int, int] | None]:
        return request.nonce, self.policy.max_presentation_age, (now - self.window, now + self.window)

    def _single_use(
        self, request: CounterRequest, presentation: str, verified: VerifiedSdJwt, now: int
    ) -> tuple[str, int]:
        # The key is the KB-JWT's signing input (header.payload), not its bytes: an ECDSA signature can
        # be re-encoded as a second valid one (s -> n - s), the signed part cannot.
        kb_signing_input = presentation[presentation.rindex("~") + 1 :].rpartition(".")[0]
        key = hmac.new(
            request.nonce.encode("ascii"), kb_signing_input.encode("ascii"), hashlib.sha256
        ).hexdigest()
        kb_iat = (verified.kb_payload or {}).get("iat", now)
        # The window accepts while now <= iat + window (inclusive); the replay cache's expiry is inclusive
        # too, so the key is remembered through exactly the last second the window would accept it.
        return f"counter\x00{request.client_id}\x00{key}", math.ceil(kb_iat) + self.window


def check_presentation(
    presentation: str,
    terms: RequestTerms,
    *,
    trust: IssuerTrust,
    status: StatusListSource | None,
    nonce: str,
    now: int,
    leeway: int,
    max_age: int = DEFAULT_POLICY.max_presentation_age,
    kb_window: tuple[int, int] | None = None,
    max_bytes: int = DEFAULT_POLICY.max_presentation_bytes,
) -> tuple[Answers, VerifiedSdJwt]:
    """Steps 3-8 of the module docstring: one presentation string against a request's ``terms``.

    Shared by :class:`Verifier` (online; the KB-JWT must be at most ``max_age`` old) and
    :class:`CounterVerifier` (``kb_window`` replaces the age rule). Single use is the caller's last step.
    Returns the answers and the verified SD-JWT.
    """
    # 3. SD-JWT and key binding
    verified = verify_sd_jwt(
        presentation,
        issuer_key=trust.netcert_key,
        algorithms=ALLOWED_ALGORITHMS,
        expected_typ=NETCERT_TYP,
        require_key_binding=True,
        audience=terms.client_id,
        nonce=nonce,
        now=now,
        leeway=leeway,
        max_kb_age=max_age,
        kb_window=kb_window,
        max_bytes=max_bytes,
    )
    payload = verified.payload

    # 4. credential type and the claims the netcert profile requires (the SD-JWT layer is generic and
    # treats exp/iat as optional; cnf.jwk was already required by key binding in step 3)
    if payload.get("vct") != NETCERT_VCT:
        raise VerificationError("vct", "not a netcert")
    iat = payload.get("iat")
    if type(iat) is not int and type(iat) is not float:
        raise VerificationError("claim_missing", "a netcert must carry a numeric 'iat'")
    exp = payload.get("exp")
    if type(exp) is not int and type(exp) is not float:
        raise VerificationError("claim_missing", "a netcert must carry a numeric 'exp'")
    if status is not None:
        uri, idx = _status_ref(payload)
        # 5. status
        if status.status(uri, idx) != VALID:
            raise VerificationError("status_revoked", "credential is revoked or suspended")

    # 6. nothing unrequested
    asked = terms.asked_claims
    for d in verified.disclosures:
        if d.name not in asked:  # array-element disclosures (name None) are never asked
            raise VerificationError("disclosure_unrequested", "a claim was disclosed that was not asked for")

    # 7. subject
    subject = None
    if terms.wants_subject:
        sub, sector = payload.get("sub"), payload.get("sector")
        if not isinstance(sub, str) or not isinstance(sector, str) or sector != terms.certificate.sector:
            raise VerificationError("subject", "no pairwise subject for this RP's sector")
        subject = sub

    # 8. assurance
    assurance = _assurance(payload, verified.kb_payload)
    if terms.min_mode is not None and mode_rank(assurance.mode or "") < mode_rank(terms.min_mode):
        raise VerificationError("assurance", "holder authentication is weaker than required")

    netno = None
    if terms.wants_netno:
        value = payload.get("netno")
        netno = value if isinstance(value, str) else None
    # each value predicate is proven only by its claim disclosed with one of the values (strict JSON
    # types, strings in constant time); anything else — withheld, other value, other type — is False
    predicates = {}
    for p in terms.value_predicates:
        claim = p.claim
        predicates[p.name] = claim in payload and strict_in(payload[claim], p.values)  # type: ignore[arg-type]
    answers = _answers(
        MappingProxyType(predicates), subject, assurance, "rp" if "sub" in payload else "anonymous", netno
    )
    return answers, verified


def _status_ref(payload: Mapping[str, Any]) -> tuple[str, int]:
    status = payload.get("status")
    ref = status.get("status_list") if type(status) is dict else None
    if type(ref) is dict:
        uri = ref.get("uri")
        idx = ref.get("idx")
        if type(uri) is str and type(idx) is int and idx >= 0:
            return uri, idx
    raise VerificationError("claim_missing", "credential has no usable status reference")


#: Every assurance there is: the card authentication (or "unknown") with each holder mode (or none), made
#: once. A lookup, not a cache that fills as presentations arrive: what a presentation is answered does not
#: depend on what came before it (nor can a test's verdict depend on which tests ran first).
_ASSURANCES: Final[Mapping[tuple[str, AuthMode | None], Assurance]] = MappingProxyType(
    {
        (chip, mode): Assurance(chip, mode, assurance_level(chip, mode))
        for chip in ("aa", "ca", "pa-only", "unknown")
        for mode in (*MODES, None)
    }
)


def _assurance(payload: Mapping[str, Any], kb_payload: Mapping[str, Any] | None) -> Assurance:
    claim = payload.get("assurance")
    chip = claim.get("chip_auth") if isinstance(claim, dict) else None
    chip_auth = chip if chip in ("aa", "ca", "pa-only") else "unknown"
    return _ASSURANCES[chip_auth, mode_from_amr((kb_payload or {}).get("amr"))]
