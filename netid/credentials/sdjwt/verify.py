"""Verifying SD-JWT presentations (RFC 9901 §7.1–7.3).

:func:`verify_sd_jwt` runs every check itself and fails closed: each failure is a
:class:`~netid.errors.VerificationError` whose ``code`` is one of :data:`netid.errors.VERIFICATION_CODES`.
No other exception escapes for any input string; caller misuse of the arguments is a ``UsageError``.
Exceptions are translated only where they are expected — around the caller's key resolver and around the
parsers of untrusted text (base64url, JSON, JWK: each raises only :class:`~netid.errors.ParseError`,
translated at the call). There is no catch-all: a bug in this module surfaces as itself, so the property
tests see it (``tests/credentials/test_sdjwt_properties.py`` checks every error's cause).

Order (``specs/protocol.md`` §7 step 3 is normative; the code in brackets):

1.  size: at most ``max_bytes`` characters and ``max_disclosures`` disclosures, refused before any
    decoding or hashing; split [``malformed``];
2.  issuer JWT decoded [``malformed``]; header ``alg`` on the allow-list, before any key is touched
    [``algorithm``]; no ``crit`` [``malformed``];
3.  issuer key from the caller's resolver [``issuer_key``], of the header's ``alg`` [``algorithm``];
    signature [``issuer_signature``];
4.  ``typ`` [``typ``]; ``_sd_alg`` [``sd_alg``];
5.  ``exp``/``nbf``/``iat`` of the signed payload [``expired``, ``not_yet_valid``,
    ``issued_in_future``; ``malformed`` if not a number];
6.  a KB-JWT is present when key binding is required [``kb_missing``];
7.  disclosures: each parsed [``disclosure_malformed``], distinct [``disclosure_duplicate``], each digest
    met once [``digest_duplicate``], placeholders in their places [``array_element``], no name
    collisions [``claim_conflict``], every disclosure referenced [``disclosure_unreferenced``], nesting
    at most 100 deep [``malformed``]; then ``exp``/``nbf``/``iat`` that arrived through a disclosure;
8.  key binding: ``cnf.jwk`` [``holder_key``]; KB-JWT decoded [``malformed``], ``alg`` on the allow-list
    [``algorithm``], no ``crit`` [``malformed``], signature under ``cnf.jwk`` [``kb_signature``], ``typ``
    [``kb_typ``], ``aud`` [``aud``], ``nonce`` [``nonce``], ``iat`` [``kb_iat``, or ``window``],
    ``sd_hash`` [``sd_hash``].

Where this differs from the order in which RFC 9901 lists its steps, and why (the RFC lets a verifier
follow its steps "or equivalent": the same presentations are refused either way, only the reported code
of a presentation with several faults depends on the order):

* Steps 1, 5 and 6 come before the disclosures (RFC §7.1 step 3) — cheap refusals first: a presentation
  that is too large, expired, not yet valid or lacks its KB-JWT costs no disclosure decoding or hashing.
  The RFC checks the times "in the processed payload" (§7.1 step 6); step 5 reads only the issuer-signed
  payload, which is exactly what the RFC's step would read for every time claim that is not selectively
  disclosed (SD-JWT VC forbids disclosing ``exp`` and ``nbf``), and a time claim that does arrive through
  a disclosure is checked in step 7, so nothing the RFC checks is skipped. RFC §7.3 step 2 (no KB-JWT
  when one is required) already precedes processing there.
* What the order must keep, and keeps: ``alg`` before any key is used (RFC 8725 §3.1); nothing in a
  payload is believed before its signature verified (checks on unverified data only ever refuse); the
  holder key comes from the verified issuer payload (RFC §7.3 step 5.1).
* In the KB-JWT, ``aud`` and ``nonce`` (RFC §7.3 step 5.6) come before ``iat`` (step 5.5): a KB-JWT made
  for another verifier or transaction is reported as that rather than as stale.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from netid.credentials._b64 import b64url_sha256
from netid.credentials.jose import (
    ALLOWED_ALGORITHMS,
    PublicKey,
    VerifyingKey,
    decode_jws_unverified,
    load_public_jwk,
    typ_matches,
    verifying_key,
)
from netid.credentials.sdjwt.codec import SD_ALG, Disclosure, split_segments
from netid.errors import ParseError, UsageError, VerificationError
from netid.policy import DEFAULT_POLICY

__all__ = ["DEFAULT_MAX_DISCLOSURES", "MAX_DEPTH", "IssuerKeyResolver", "VerifiedSdJwt", "verify_sd_jwt"]

#: Returns the issuer's key for an (unverified) issuer JWT header and payload, e.g. by ``iss`` + ``kid``
#: from a JWKS. May raise :class:`VerificationError` (e.g. ``"issuer_key"``) itself; anything else it
#: raises is taken to mean "no key" (``issuer_key``).
IssuerKeyResolver = Callable[[dict[str, Any], dict[str, Any]], VerifyingKey | PublicKey | None]

KB_JWT_TYP: Final = "kb+jwt"
#: Default ceiling on the disclosures of one presentation. A netcert has 12; a presentation that answers
#: a request discloses a handful. Each disclosure costs a decode, a parse and a hash.
DEFAULT_MAX_DISCLOSURES: Final = 100
#: Deepest nesting of objects, arrays and disclosures inside them that the processing follows.
MAX_DEPTH: Final = 100

_ALL_ALGORITHMS: Final = frozenset(ALLOWED_ALGORITHMS)
_STR: Final = frozenset({str})
_ABSENT: Final = object()
_TIME_CLAIMS: Final = ("exp", "nbf", "iat")
_new_object = object.__new__
_compare = hmac.compare_digest


@dataclass(frozen=True, slots=True)
class VerifiedSdJwt:
    """A verified presentation.

    ``payload`` is the processed payload: disclosed claims substituted in place, ``_sd``, ``_sd_alg`` and
    undisclosed array placeholders removed. ``disclosures`` are those presented, in presentation order.
    ``kb_header``/``kb_payload`` are ``None`` when no KB-JWT was presented (and none was required).
    """

    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: tuple[Disclosure, ...]
    kb_header: dict[str, Any] | None
    kb_payload: dict[str, Any] | None


_set_header, _set_payload, _set_disclosures, _set_kb_header, _set_kb_payload = (
    VerifiedSdJwt.__dict__[f].__set__ for f in ("header", "payload", "disclosures", "kb_header", "kb_payload")
)


def _verified(
    header: dict[str, Any],
    payload: dict[str, Any],
    disclosures: tuple[Disclosure, ...],
    kb_header: dict[str, Any] | None,
    kb_payload: dict[str, Any] | None,
) -> VerifiedSdJwt:
    """``VerifiedSdJwt(...)`` through the slot descriptors (a frozen dataclass's ``__init__`` costs twice
    as much: it goes through ``object.__setattr__`` per field)."""
    result = _new_object(VerifiedSdJwt)
    _set_header(result, header)
    _set_payload(result, payload)
    _set_disclosures(result, disclosures)
    _set_kb_header(result, kb_header)
    _set_kb_payload(result, kb_payload)
    return result


def _fail(code: str, message: str) -> VerificationError:
    return VerificationError(code, message)


class _Processor:
    """RFC 9901 §7.1 steps 3–5: substitute disclosures into the payload, enforcing every structural rule.

    Written for the interpreter: copies and membership tests are C-level dict and set operations, and the
    Python loops run only over what can hold disclosures (containers, and the digests of an ``_sd``).
    """

    __slots__ = ("by_digest", "seen", "used")

    def __init__(self, by_digest: dict[str, Disclosure]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()  # every digest met in the payload or in disclosed values
        self.used = 0  # disclosures referenced (each at most once: a digest met twice is refused)

    def _digests(self, digests: list[Any]) -> None:
        """Record the digests of one ``_sd`` array: strings, none met before (here or anywhere else)."""
        if not _STR.issuperset(map(type, digests)):
            raise _fail("malformed", "digest is not a string")
        seen = self.seen
        before = len(seen)
        seen.update(digests)  # one C call: a repeat within the array or of an earlier digest adds less
        if len(seen) - before != len(digests):
            raise _fail("digest_duplicate", "a digest is referenced more than once")

    def obj(self, obj: dict[str, Any], depth: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _fail("malformed", "claims nested too deeply")
        if "..." in obj:
            raise _fail("array_element", "'...' used outside an array-element placeholder")
        out = obj.copy()
        sd = out.pop("_sd", _ABSENT)
        if depth == 0:
            out.pop("_sd_alg", None)
        for name, value in out.items():  # replacing values while iterating is fine: the keys stay
            t = type(value)
            if t is dict:
                out[name] = self.obj(value, depth + 1)
            elif t is list:
                out[name] = self.array(value, depth + 1)
        if sd is _ABSENT:
            return out
        if type(sd) is not list:
            raise _fail("malformed", "'_sd' is not an array")
        self._digests(sd)
        by_digest = self.by_digest
        for dig in sd:  # in _sd order; a dict lookup, not a constant-time compare: digests are public
            d = by_digest.get(dig)
            if d is None:
                continue  # undisclosed claim or decoy
            self.used += 1
            claim = d.name
            if claim is None:
                raise _fail("array_element", "an array-element disclosure is referenced from '_sd'")
            if claim in out:
                raise _fail("claim_conflict", "a disclosed claim name already exists in its object")
            out[claim] = self.value(d.value, depth + 1)
        return out

    def array(self, arr: list[Any], depth: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise _fail("malformed", "claims nested too deeply")
        out: list[Any] = []
        for item in arr:
            if type(item) is dict and "..." in item:
                if len(item) != 1:
                    raise _fail("array_element", "an array-element placeholder must have '...' only")
                dig = item["..."]
                if type(dig) is not str:
                    raise _fail("malformed", "digest is not a string")
                if dig in self.seen:
                    raise _fail("digest_duplicate", "a digest is referenced more than once")
                self.seen.add(dig)
                d = self.by_digest.get(dig)
                if d is None:
                    continue  # undisclosed element or decoy: removed from the array
                self.used += 1
                if d.name is not None:
                    raise _fail("array_element", "an object-property disclosure is referenced by '...'")
                out.append(self.value(d.value, depth + 1))
            else:
                out.append(self.value(item, depth + 1))
        return out

    def value(self, value: Any, depth: int) -> Any:
        if type(value) is dict:
            return self.obj(value, depth)
        if type(value) is list:
            return self.array(value, depth)
        return value


def _not_a_number(claim: str) -> VerificationError:
    return _fail("malformed", f"'{claim}' is not a number")


def _check_times(claims: Mapping[str, Any], now: int | float, leeway: int) -> None:
    """``exp``/``nbf``/``iat`` against ``now`` with ``leeway`` seconds of skew either way (absent: fine).

    Refused when ``now >= exp + leeway``, ``now + leeway < nbf`` or ``now + leeway < iat``: a credential is
    good through the second before ``exp + leeway`` and from the second ``nbf − leeway`` on. A present
    time claim that is not a JSON number (``true``, a string) is ``malformed``.
    """
    exp = claims.get("exp")
    if exp is not None:
        if type(exp) is not int and type(exp) is not float:
            raise _not_a_number("exp")
        if now >= exp + leeway:
            raise _fail("expired", "credential has expired")
    nbf = claims.get("nbf")
    if nbf is not None:
        if type(nbf) is not int and type(nbf) is not float:
            raise _not_a_number("nbf")
        if now + leeway < nbf:
            raise _fail("not_yet_valid", "credential is not yet valid")
    iat = claims.get("iat")
    if iat is not None:
        if type(iat) is not int and type(iat) is not float:
            raise _not_a_number("iat")
        if now + leeway < iat:
            raise _fail("issued_in_future", "credential is issued in the future")


def _is_seconds(value: object) -> TypeGuard[int | float]:
    return type(value) is int or type(value) is float


def verify_sd_jwt(
    presentation: str,
    *,
    issuer_key: IssuerKeyResolver,
    algorithms: tuple[str, ...] | frozenset[str] = ALLOWED_ALGORITHMS,
    expected_typ: str | None = "dc+sd-jwt",
    require_key_binding: bool = True,
    audience: str | None,
    nonce: str | None,
    now: int | float,
    leeway: int = DEFAULT_POLICY.leeway,
    max_kb_age: int = DEFAULT_POLICY.max_presentation_age,
    kb_window: tuple[int | float, int | float] | None = None,
    max_bytes: int = DEFAULT_POLICY.max_presentation_bytes,
    max_disclosures: int = DEFAULT_MAX_DISCLOSURES,
) -> VerifiedSdJwt:
    """Verify an SD-JWT presentation; return its processed payload or raise :class:`VerificationError`.

    ``issuer_key(header, payload)`` resolves the issuer's key from the unverified token (it runs only
    after the header's ``alg`` passed the allow-list). ``algorithms`` may narrow
    :data:`~netid.credentials.jose.ALLOWED_ALGORITHMS`, never widen it. ``now`` is the current time in
    seconds (injected so verification is pure and testable); ``leeway`` bounds clock skew for ``exp``,
    ``nbf`` and both ``iat`` claims; a KB-JWT older than ``max_kb_age`` seconds is refused.

    With ``require_key_binding`` a KB-JWT must be present and ``audience`` and ``nonce`` must be given.
    Without it a KB-JWT that is present is still fully checked (``aud``/``nonce`` only if given).

    ``kb_window = (earliest, latest)`` replaces the ``max_kb_age``/``leeway`` rule for the KB-JWT
    ``iat``: it must lie in the closed interval, else ``window`` (the in-person mode, where a time window
    stands in for a server nonce; see :mod:`netid.oid4vp.in_person`).

    A presentation longer than ``max_bytes`` characters or with more than ``max_disclosures``
    disclosures is refused (``malformed``) before anything in it is decoded or hashed.
    """
    if require_key_binding and (audience is None or nonce is None):
        raise UsageError("key binding is required: pass audience and nonce")
    if type(now) is not int and type(now) is not float:
        raise UsageError("now must be a number of seconds")
    if type(leeway) is not int or leeway < 0 or type(max_kb_age) is not int or max_kb_age < 0:
        raise UsageError("leeway and max_kb_age must be non-negative integers")
    if type(max_bytes) is not int or max_bytes < 1 or type(max_disclosures) is not int or max_disclosures < 0:
        raise UsageError("max_bytes must be a positive and max_disclosures a non-negative integer")
    if (audience is not None and type(audience) is not str) or (nonce is not None and type(nonce) is not str):
        raise UsageError("audience and nonce must be strings")
    if kb_window is not None and (
        type(kb_window) is not tuple
        or len(kb_window) != 2
        or not _is_seconds(kb_window[0])
        or not _is_seconds(kb_window[1])
    ):
        raise UsageError("kb_window must be a pair of numbers (earliest, latest)")
    if algorithms is ALLOWED_ALGORITHMS:
        allowed = _ALL_ALGORITHMS
    else:
        allowed = frozenset(a for a in algorithms if a in _ALL_ALGORITHMS)

    # 1. Size first, then split (RFC 9901 §4: <issuer JWT>~<disclosure>~...~<KB-JWT or nothing>).
    if type(presentation) is not str:
        raise _fail("malformed", "the presentation is not a string")
    if len(presentation) > max_bytes:
        raise _fail("malformed", "the presentation is larger than allowed")
    try:
        issuer_jwt, encoded_disclosures, kb_jwt = split_segments(presentation)
    except ParseError as exc:
        raise _fail("malformed", str(exc)) from exc
    if len(encoded_disclosures) > max_disclosures:
        raise _fail("malformed", "the presentation has more disclosures than allowed")

    # 2. The issuer-signed JWT; its algorithm before any key is looked up or used: 'none', HS*, anything
    # unlisted is refused here.
    try:
        header, payload, signing_input, signature = decode_jws_unverified(issuer_jwt)
    except ParseError as exc:
        raise _fail("malformed", str(exc)) from exc
    alg = header.get("alg")
    if type(alg) is not str or alg not in allowed:
        raise _fail("algorithm", "issuer JWT algorithm is not allowed")
    if "crit" in header:
        raise _fail("malformed", "issuer JWT has critical header parameters NetID does not understand")

    # 3. Issuer key and signature.
    try:
        resolved = issuer_key(header, payload)
    except VerificationError:
        raise
    except Exception as exc:  # the resolver is caller code; whatever else it raises means "no key"
        raise _fail("issuer_key", "issuer key could not be resolved") from exc
    if type(resolved) is VerifyingKey:
        key = resolved
    elif resolved is None:
        raise _fail("issuer_key", "no issuer key")
    else:
        try:
            key = verifying_key(resolved)
        except UsageError as exc:
            raise _fail("issuer_key", "issuer key type is not supported") from exc
    if key.alg != alg:
        raise _fail("algorithm", "issuer JWT algorithm does not match the issuer key")
    if not key.verify(signing_input, signature):
        raise _fail("issuer_signature", "issuer signature does not verify")

    # 4. typ and _sd_alg.
    if expected_typ is not None and not typ_matches(header.get("typ"), expected_typ):
        raise _fail("typ", "issuer JWT typ is not the expected one")
    if payload.get("_sd_alg", SD_ALG) != SD_ALG:
        raise _fail("sd_alg", "unsupported _sd_alg")

    # 5. Validity times of the signed payload (cheap: before any disclosure is decoded or hashed).
    _check_times(payload, now, leeway)

    # 6. A KB-JWT when one is required (RFC 9901 §7.3 step 2).
    if not kb_jwt and require_key_binding:
        raise _fail("kb_missing", "no key binding JWT")

    # 7. Disclosures. In a dict, insertion order is presentation order; a repeat is refused.
    by_digest: dict[str, Disclosure] = {}
    time_disclosed = False
    for encoded in encoded_disclosures:
        try:
            d = Disclosure.parse(encoded)
        except ParseError as exc:
            raise _fail("disclosure_malformed", str(exc)) from exc
        if d.digest in by_digest:
            raise _fail("disclosure_duplicate", "the same disclosure is presented twice")
        by_digest[d.digest] = d
        if d.name in _TIME_CLAIMS:
            time_disclosed = True
    processor = _Processor(by_digest)
    processed = processor.obj(payload, 0)
    if processor.used != len(by_digest):
        raise _fail("disclosure_unreferenced", "a disclosure is not referenced by the credential")
    if time_disclosed:  # only a disclosure named exp/nbf/iat can add one (at the top level: checked here)
        disclosed_times: dict[str, Any] = {
            c: processed[c] for c in _TIME_CLAIMS if c in processed and c not in payload
        }
        if disclosed_times:
            _check_times(disclosed_times, now, leeway)
    disclosures = tuple(by_digest.values())

    # 8. Key binding.
    if not kb_jwt:
        return _verified(header, processed, disclosures, None, None)
    cnf = processed.get("cnf")
    jwk = cnf.get("jwk") if type(cnf) is dict else None
    if type(jwk) is not dict:
        raise _fail("holder_key", "credential has no cnf.jwk")
    try:
        holder = load_public_jwk(jwk, cache=False)  # every holder key is new: single-use credentials
    except ParseError as exc:
        raise _fail("holder_key", "cnf.jwk is not a supported public key") from exc
    try:
        kb_header, kb_payload, kb_input, kb_sig = decode_jws_unverified(kb_jwt)
    except ParseError as exc:
        raise _fail("malformed", f"KB-JWT: {exc}") from exc
    kb_alg = kb_header.get("alg")
    if type(kb_alg) is not str or kb_alg not in allowed:
        raise _fail("algorithm", "KB-JWT algorithm is not allowed")
    if "crit" in kb_header:
        raise _fail("malformed", "KB-JWT has critical header parameters NetID does not understand")
    if holder.alg != kb_alg or not holder.verify(kb_input, kb_sig):
        raise _fail("kb_signature", "KB-JWT signature does not verify under cnf.jwk")
    if not typ_matches(kb_header.get("typ"), KB_JWT_TYP):
        raise _fail("kb_typ", "KB-JWT typ is not kb+jwt")
    if audience is not None and kb_payload.get("aud") != audience:
        raise _fail("aud", "KB-JWT aud is not this verifier")
    if nonce is not None:
        got = kb_payload.get("nonce")
        if type(got) is not str or not _compare(
            got.encode("utf-8", "surrogatepass"), nonce.encode("utf-8", "surrogatepass")
        ):
            raise _fail("nonce", "KB-JWT nonce does not match")
    kb_iat = kb_payload.get("iat")
    if type(kb_iat) is not int and type(kb_iat) is not float:
        raise _fail("kb_iat", "KB-JWT has no numeric iat")
    if kb_window is not None:
        if not kb_window[0] <= kb_iat <= kb_window[1]:
            raise _fail("window", "KB-JWT iat is outside the accepted time window")
    elif kb_iat > now + leeway:
        raise _fail("kb_iat", "KB-JWT is issued in the future")
    elif kb_iat < now - max_kb_age - leeway:
        raise _fail("kb_iat", "KB-JWT is too old")
    # sd_hash (RFC 9901 §4.3.1) over everything up to the last '~', exactly as received (ASCII: checked)
    got_hash = kb_payload.get("sd_hash")
    # compare_digest takes ASCII strings as they are; a non-ASCII sd_hash cannot match a base64url one
    if (
        type(got_hash) is not str
        or not got_hash.isascii()
        or not _compare(got_hash, b64url_sha256(presentation[: -len(kb_jwt)].encode("ascii")))
    ):
        raise _fail("sd_hash", "KB-JWT sd_hash does not match the presentation")
    return _verified(header, processed, disclosures, kb_header, kb_payload)
