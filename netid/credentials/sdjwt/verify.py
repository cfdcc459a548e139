"""Verifying SD-JWT presentations (RFC 9901 §7.1–7.3).

:func:`verify_sd_jwt` runs every check itself, in the RFC's order, and fails closed: each failure is a
:class:`~netid.errors.VerificationError` whose ``code`` is one of :data:`netid.errors.VERIFICATION_CODES`.
No other exception escapes for any input string (caller misuse of the arguments is a ``UsageError``).

Order: split → issuer JWT header ``alg`` against the allow-list (before any key is touched) → issuer key
→ signature → ``typ`` → ``_sd_alg`` → disclosures (each parsed, each digest referenced exactly once,
placeholders only where they belong, no name collisions, recursive) → ``exp``/``nbf``/``iat`` → key
binding (``cnf.jwk`` → KB-JWT ``typ``, ``alg``, signature, ``aud``, ``nonce``, ``iat``, ``sd_hash``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from netid.credentials.jose import (
    ALLOWED_ALGORITHMS,
    PublicKey,
    VerifyingKey,
    decode_jws_unverified,
    load_public_jwk,
    typ_matches,
    verifying_key,
)
from netid.credentials.sdjwt.codec import SD_ALG, Disclosure, sd_hash, split_sd_jwt
from netid.errors import NetIDError, ParseError, UsageError, VerificationError

__all__ = ["IssuerKeyResolver", "VerifiedSdJwt", "verify_sd_jwt"]

#: Returns the issuer's key for an (unverified) issuer JWT header and payload, e.g. by ``iss`` + ``kid``
#: from a JWKS. May raise :class:`VerificationError` (e.g. ``"issuer_key"``) itself.
IssuerKeyResolver = Callable[[dict[str, Any], dict[str, Any]], VerifyingKey | PublicKey | None]

KB_JWT_TYP = "kb+jwt"


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


def _fail(code: str, message: str) -> VerificationError:
    return VerificationError(code, message)


class _Processor:
    """RFC 9901 §7.1 step 3–5: substitute disclosures into the payload, enforcing every structural rule."""

    __slots__ = ("by_digest", "seen", "used")

    def __init__(self, by_digest: dict[str, Disclosure]) -> None:
        self.by_digest = by_digest
        self.seen: set[str] = set()  # every digest met in the payload or in disclosed values
        self.used: set[str] = set()

    def _reference(self, dig: object) -> Disclosure | None:
        if not isinstance(dig, str):
            raise _fail("malformed", "digest is not a string")
        if dig in self.seen:
            raise _fail("digest_duplicate", "a digest is referenced more than once")
        self.seen.add(dig)
        # A dict lookup, not a constant-time compare: digests are public (they are in the signed payload),
        # so timing reveals nothing an observer does not already have.
        d = self.by_digest.get(dig)
        if d is not None:
            self.used.add(dig)
        return d

    def obj(self, obj: dict[str, Any], top: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        sd = None
        for name, value in obj.items():
            if name == "_sd":
                sd = value
            elif name == "_sd_alg" and top:
                continue
            elif name == "...":
                raise _fail("array_element", "'...' used outside an array-element placeholder")
            elif type(value) is dict:  # inlined self.value(): this loop is the verifier's hot path
                out[name] = self.obj(value, False)
            elif type(value) is list:
                out[name] = self.array(value)
            else:
                out[name] = value
        if sd is None:
            return out
        if not isinstance(sd, list):
            raise _fail("malformed", "'_sd' is not an array")
        for dig in sd:
            d = self._reference(dig)
            if d is None:
                continue  # undisclosed claim or decoy
            if d.name is None:
                raise _fail("array_element", "an array-element disclosure is referenced from '_sd'")
            if d.name in out:
                raise _fail("claim_conflict", "a disclosed claim name already exists in its object")
            out[d.name] = self.value(d.value)
        return out

    def array(self, arr: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in arr:
            if isinstance(item, dict) and "..." in item:
                if len(item) != 1:
                    raise _fail("array_element", "an array-element placeholder must have '...' only")
                d = self._reference(item["..."])
                if d is None:
                    continue  # undisclosed element or decoy: removed from the array
                if d.name is not None:
                    raise _fail("array_element", "an object-property disclosure is referenced by '...'")
                out.append(self.value(d.value))
            else:
                out.append(self.value(item))
        return out

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.obj(value, False)
        if isinstance(value, list):
            return self.array(value)
        return value


def _number(payload: Mapping[str, Any], claim: str, code: str) -> int | float | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(code, f"'{claim}' is not a number")
    return value


def verify_sd_jwt(
    presentation: str,
    *,
    issuer_key: IssuerKeyResolver,
    algorithms: tuple[str, ...] | frozenset[str] = ALLOWED_ALGORITHMS,
    expected_typ: str | None = "dc+sd-jwt",
    require_key_binding: bool = True,
    audience: str | None,
    nonce: str | None,
    now: int,
    leeway: int = 60,
    max_kb_age: int = 300,
    kb_window: tuple[int | float, int | float] | None = None,
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
    stands in for a server nonce; see :mod:`netid.verifier.in_person`).
    """
    if require_key_binding and (audience is None or nonce is None):
        raise UsageError("key binding is required: pass audience and nonce")
    if isinstance(now, bool) or not isinstance(now, int | float):
        raise UsageError("now must be a number of seconds")
    allowed = frozenset(a for a in algorithms if a in ALLOWED_ALGORITHMS)
    try:
        return _verify(
            presentation,
            issuer_key=issuer_key,
            allowed=allowed,
            expected_typ=expected_typ,
            require_key_binding=require_key_binding,
            audience=audience,
            nonce=nonce,
            now=now,
            leeway=leeway,
            max_kb_age=max_kb_age,
            kb_window=kb_window,
        )
    except VerificationError:
        raise
    except RecursionError as exc:  # absurdly deep JSON or disclosure chains
        raise _fail("malformed", "structure nested too deeply") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, NetIDError) as exc:
        # Belt and braces: every path above raises VerificationError on purpose; if a check was missed,
        # fail closed with a stable code rather than leak a bare exception.
        raise _fail("malformed", "presentation could not be processed") from exc


def _verify(
    presentation: str,
    *,
    issuer_key: IssuerKeyResolver,
    allowed: frozenset[str],
    expected_typ: str | None,
    require_key_binding: bool,
    audience: str | None,
    nonce: str | None,
    now: int | float,
    leeway: int,
    max_kb_age: int,
    kb_window: tuple[int | float, int | float] | None,
) -> VerifiedSdJwt:
    # 1. Split and decode the issuer-signed JWT.
    try:
        parts = split_sd_jwt(presentation)
        header, payload, signing_input, signature = decode_jws_unverified(parts.issuer_jwt)
    except ParseError as exc:
        raise _fail("malformed", str(exc)) from exc

    # 2. Algorithm, before any key is looked up or used: 'none', HS*, anything unlisted is refused here.
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise _fail("algorithm", "issuer JWT algorithm is not allowed")
    if "crit" in header:
        raise _fail("malformed", "issuer JWT has critical header parameters NetID does not understand")

    # 3. Issuer key and signature.
    try:
        resolved = issuer_key(header, payload)
    except VerificationError:
        raise
    except Exception as exc:  # the resolver is caller code; whatever it raises means "no key"
        raise _fail("issuer_key", "issuer key could not be resolved") from exc
    if resolved is None:
        raise _fail("issuer_key", "no issuer key")
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

    # 5. Disclosures.
    by_digest: dict[str, Disclosure] = {}
    disclosures: list[Disclosure] = []
    for encoded in parts.disclosures:
        try:
            d = Disclosure.parse(encoded)
        except ParseError as exc:
            raise _fail("disclosure_malformed", str(exc)) from exc
        if d.digest in by_digest:
            raise _fail("disclosure_duplicate", "the same disclosure is presented twice")
        by_digest[d.digest] = d
        disclosures.append(d)
    processor = _Processor(by_digest)
    processed = processor.obj(payload, True)
    if len(processor.used) != len(by_digest):
        raise _fail("disclosure_unreferenced", "a disclosure is not referenced by the credential")

    # 6. Validity times (seconds since the epoch; leeway for clock skew).
    exp = _number(processed, "exp", "malformed")
    if exp is not None and now >= exp + leeway:
        raise _fail("expired", "credential has expired")
    nbf = _number(processed, "nbf", "malformed")
    if nbf is not None and now + leeway < nbf:
        raise _fail("not_yet_valid", "credential is not yet valid")
    iat = _number(processed, "iat", "malformed")
    if iat is not None and now + leeway < iat:
        raise _fail("issued_in_future", "credential is issued in the future")

    # 7. Key binding.
    if parts.kb_jwt is None:
        if require_key_binding:
            raise _fail("kb_missing", "no key binding JWT")
        return VerifiedSdJwt(header, processed, tuple(disclosures), None, None)

    cnf = processed.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise _fail("holder_key", "credential has no cnf.jwk")
    try:
        holder = load_public_jwk(jwk)
    except ParseError as exc:
        raise _fail("holder_key", "cnf.jwk is not a supported public key") from exc
    try:
        kb_header, kb_payload, kb_input, kb_sig = decode_jws_unverified(parts.kb_jwt)
    except ParseError as exc:
        raise _fail("malformed", f"KB-JWT: {exc}") from exc
    if not typ_matches(kb_header.get("typ"), KB_JWT_TYP):
        raise _fail("kb_typ", "KB-JWT typ is not kb+jwt")
    kb_alg = kb_header.get("alg")
    if not isinstance(kb_alg, str) or kb_alg not in allowed:
        raise _fail("algorithm", "KB-JWT algorithm is not allowed")
    if "crit" in kb_header:
        raise _fail("malformed", "KB-JWT has critical header parameters NetID does not understand")
    if holder.alg != kb_alg or not holder.verify(kb_input, kb_sig):
        raise _fail("kb_signature", "KB-JWT signature does not verify under cnf.jwk")
    if audience is not None and kb_payload.get("aud") != audience:
        raise _fail("aud", "KB-JWT aud is not this verifier")
    if nonce is not None:
        got = kb_payload.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(
            got.encode("utf-8", "surrogatepass"), nonce.encode("utf-8", "surrogatepass")
        ):
            raise _fail("nonce", "KB-JWT nonce does not match")
    kb_iat = kb_payload.get("iat")
    if isinstance(kb_iat, bool) or not isinstance(kb_iat, int | float):
        raise _fail("kb_iat", "KB-JWT has no numeric iat")
    if kb_window is not None:
        if not kb_window[0] <= kb_iat <= kb_window[1]:
            raise _fail("window", "KB-JWT iat is outside the accepted time window")
    elif kb_iat > now + leeway:
        raise _fail("kb_iat", "KB-JWT is issued in the future")
    elif kb_iat < now - max_kb_age - leeway:
        raise _fail("kb_iat", "KB-JWT is too old")
    got_hash = kb_payload.get("sd_hash")
    expected_hash = sd_hash(presentation[: presentation.rindex("~") + 1])
    if not isinstance(got_hash, str) or not hmac.compare_digest(
        got_hash.encode("utf-8", "surrogatepass"), expected_hash.encode()
    ):
        raise _fail("sd_hash", "KB-JWT sd_hash does not match the presentation")
    return VerifiedSdJwt(header, processed, tuple(disclosures), kb_header, kb_payload)
