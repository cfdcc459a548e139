"""The relying party's verifier: one presentation in, yes/no :class:`Answers` out (or a precise error).

:meth:`Verifier.verify` checks everything itself and never trusts the wallet's filtering. The order is
fixed (``specs/protocol.md`` §7 is normative); the first failing step raises
:class:`~netid.errors.VerificationError` with the code in brackets:

1.  The request is within the RP's certificate: every predicate allowed (``rp_scope``), and the response
    arrives before ``request.exp + max_presentation_age`` (``request``; refused from that second on,
    which is also the last second the replay cache is asked to remember the nonce — step 9).
2.  ``vp_token`` is a JSON object (or its text) with exactly one key, the credential query id, mapping to
    an array of exactly one presentation string (``malformed``).
3.  The SD-JWT itself (:func:`~netid.credentials.sdjwt.verify.verify_sd_jwt`): split, ``alg`` allow-list
    (``algorithm``), issuer key by ``kid`` from the trusted JWKS (``issuer_key``), issuer signature
    (``issuer_signature``), ``typ`` = ``dc+sd-jwt`` (``typ``), ``_sd_alg`` (``sd_alg``), each disclosure
    well-formed and referenced exactly once (``disclosure_*``, ``digest_duplicate``, ``array_element``,
    ``claim_conflict``), ``exp``/``nbf``/``iat`` with bounded skew (``expired``, ``not_yet_valid``,
    ``issued_in_future``), holder binding via ``cnf.jwk`` (``kb_missing``, ``kb_typ``, ``holder_key``,
    ``kb_signature``), ``aud`` = ``client_id`` (``aud``), ``nonce`` = the request's (``nonce``), KB-JWT
    age (``kb_iat``) and ``sd_hash`` (``sd_hash``).
4.  ``vct`` is ``urn:netid:netcert:1`` (``vct``); numeric ``iat`` and ``exp`` and, when a status source
    is configured, a well-formed ``status.status_list`` reference (``claim_missing``). ``cnf.jwk`` is
    already required by step 3 (``holder_key``).
5.  Status list entry is valid (``status_revoked`` / ``status_unavailable``).
6.  No disclosure of a claim the request did not ask for (``disclosure_unrequested``): a wallet that
    over-shares is rejected rather than silently tolerated, and nothing unrequested reaches Answers.
7.  If a subject was asked: the credential is RP-scoped *for this RP's sector* (``subject``).
8.  Holder authentication mode at least ``min_mode`` (``assurance``).
9.  Single use: the nonce is consumed in the replay cache (``nonce_reused``). Last, so only a presentation
    that passed every other check can use up a request.

Then the answers: each value predicate is ``True`` only if its claim was disclosed with exactly one of the
requested values (strict JSON types; strings compared in constant time); anything else — withheld,
different value, wrong type — is ``False``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from netid.credentials.jose import ALLOWED_ALGORITHMS, json_loads
from netid.credentials.netcert import NETCERT_TYP, NETCERT_VCT
from netid.credentials.sdjwt.verify import VerifiedSdJwt, verify_sd_jwt
from netid.credentials.status_list import VALID
from netid.errors import VerificationError
from netid.verifier.answers import Answers, Assurance, assurance_level, mode_from_amr, mode_rank
from netid.verifier.dcql import CREDENTIAL_QUERY_ID, Predicate, strict_in
from netid.verifier.replay import ReplayCache
from netid.verifier.request import PresentationRequest, RequestTerms
from netid.verifier.status import StatusListSource
from netid.verifier.trust import IssuerTrust

__all__ = ["Verifier"]


def _proven(pred: Predicate, payload: Mapping[str, Any]) -> bool:
    if pred.values is None or pred.claim not in payload:
        return False
    return strict_in(payload[pred.claim], pred.values)


class Verifier:
    """Verifies OpenID4VP ``vp_token`` responses to requests this RP built.

    ``trust`` holds the issuer keys; ``status`` the status-list source (``None`` skips the status check —
    only for offline tests and in-person modes that accept the risk); ``replay_cache`` enforces single
    use; ``clock`` returns Unix seconds. ``leeway`` bounds clock skew; a KB-JWT older than
    ``max_presentation_age`` seconds is refused.
    """

    def __init__(
        self,
        trust: IssuerTrust,
        *,
        status: StatusListSource | None,
        replay_cache: ReplayCache,
        clock: Callable[[], int] = lambda: int(time.time()),
        leeway: int = 60,
        max_presentation_age: int = 300,
    ) -> None:
        self._trust = trust
        self._status = status
        self._replay = replay_cache
        self._clock = clock
        self._leeway = leeway
        self._max_age = max_presentation_age

    def verify(self, vp_token: Mapping[str, Any] | str, request: PresentationRequest) -> Answers:
        """Verify ``vp_token`` (the ``vp_token`` response parameter) against ``request``.

        Returns :class:`Answers`; raises :class:`VerificationError` (see the module docstring for the
        order and codes).
        """
        now = self._clock()
        # 1. the request itself
        if not request.in_scope:
            raise VerificationError("rp_scope", "the request asks more than the RP certificate allows")
        # Accepted strictly before request.exp + max_age; the replay cache keeps the nonce through that
        # second (inclusive expiry), so no instant exists at which a spent nonce is forgotten but the
        # request is still accepted.
        deadline = request.exp + self._max_age
        if now >= deadline:
            raise VerificationError("request", "the request has expired")

        # 2. response shape
        presentation = _single_presentation(vp_token)

        # 3.-8. the presentation against the request's terms
        answers, _ = check_presentation(
            presentation,
            request,
            trust=self._trust,
            status=self._status,
            nonce=request.nonce,
            now=now,
            leeway=self._leeway,
            max_age=self._max_age,
        )

        # 9. single use, last: only a presentation that passed every check consumes the request
        if not self._replay.consume(f"{request.client_id}\x00{request.nonce}", deadline):
            raise VerificationError("nonce_reused", "this request was already answered")

        return answers


def check_presentation(
    presentation: str,
    terms: RequestTerms,
    *,
    trust: IssuerTrust,
    status: StatusListSource | None,
    nonce: str,
    now: int,
    leeway: int,
    max_age: int = 300,
    kb_window: tuple[int, int] | None = None,
) -> tuple[Answers, VerifiedSdJwt]:
    """Steps 3-8 of the module docstring: one presentation string against a request's ``terms``.

    Shared by :class:`Verifier` (online; the KB-JWT must be at most ``max_age`` old) and
    :class:`netid.verifier.in_person.CounterVerifier` (``kb_window`` replaces the age rule). Single use
    is the caller's last step. Returns the answers and the verified SD-JWT.
    """
    # 3. SD-JWT and key binding
    verified = verify_sd_jwt(
        presentation,
        issuer_key=trust.key_for,
        algorithms=ALLOWED_ALGORITHMS,
        expected_typ=NETCERT_TYP,
        require_key_binding=True,
        audience=terms.client_id,
        nonce=nonce,
        now=now,
        leeway=leeway,
        max_kb_age=max_age,
        kb_window=kb_window,
    )
    payload = verified.payload

    # 4. credential type and the claims the netcert profile requires (the SD-JWT layer is generic and
    # treats exp/iat as optional; cnf.jwk was already required by key binding in step 3)
    if payload.get("vct") != NETCERT_VCT:
        raise VerificationError("vct", "not a netcert")
    for name in ("iat", "exp"):
        value = payload.get(name)
        if type(value) is not int and type(value) is not float:
            raise VerificationError("claim_missing", f"a netcert must carry a numeric '{name}'")
    ref = _status_ref(payload) if status is not None else None

    # 5. status
    if status is not None and ref is not None and status.status(ref[0], ref[1]) != VALID:
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
    answers = Answers(
        predicates={p.name: _proven(p, payload) for p in terms.value_predicates},
        subject=subject,
        assurance=assurance,
        credential_kind="rp" if "sub" in payload else "anonymous",
        netno=netno,
    )
    return answers, verified


def _status_ref(payload: Mapping[str, Any]) -> tuple[str, int]:
    status = payload.get("status")
    ref = status.get("status_list") if type(status) is dict else None
    uri = ref.get("uri") if type(ref) is dict else None
    idx = ref.get("idx") if type(ref) is dict else None
    if type(uri) is not str or type(idx) is not int or idx < 0:
        raise VerificationError("claim_missing", "credential has no usable status reference")
    return uri, idx


def _single_presentation(vp_token: Mapping[str, Any] | str) -> str:
    if type(vp_token) is dict and len(vp_token) == 1:  # the common case, without ABC isinstance checks
        items = vp_token.get(CREDENTIAL_QUERY_ID)
        if type(items) is list and len(items) == 1 and type(items[0]) is str:
            return items[0]
    if isinstance(vp_token, str):
        try:
            vp_token = json_loads(vp_token)
        except (ValueError, RecursionError) as exc:
            raise VerificationError("malformed", "vp_token is not JSON") from exc
    if not isinstance(vp_token, Mapping) or set(vp_token) != {CREDENTIAL_QUERY_ID}:
        raise VerificationError("malformed", "vp_token must map the netcert query id to presentations")
    items = vp_token[CREDENTIAL_QUERY_ID]
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], str):
        raise VerificationError("malformed", "exactly one presentation string is expected")
    return items[0]


_ASSURANCE_CACHE: dict[tuple[str, str | None], Assurance] = {}


def _assurance(payload: Mapping[str, Any], kb_payload: Mapping[str, Any] | None) -> Assurance:
    claim = payload.get("assurance")
    chip = claim.get("chip_auth") if isinstance(claim, dict) else None
    chip_auth = chip if chip in ("aa", "ca", "pa-only") else "unknown"
    mode = mode_from_amr((kb_payload or {}).get("amr"))
    key = (chip_auth, mode)
    cached = _ASSURANCE_CACHE.get(key)  # at most 4 x 5 distinct (immutable) values
    if cached is None:
        cached = _ASSURANCE_CACHE[key] = Assurance(chip_auth, mode, assurance_level(chip_auth, mode))
    return cached
