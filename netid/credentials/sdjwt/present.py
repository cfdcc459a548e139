"""Presenting SD-JWTs (RFC 9901 §4.3, holder side): pick disclosures, add a Key Binding JWT.

Selection is by claim path (the DCQL claims-path form of OpenID4VP 1.0: a string selects an object
property, an int an array index, ``None`` every element of an array) or by a predicate over
:class:`~netid.credentials.sdjwt.codec.Disclosure`. Either way the parent disclosures needed to reach a
selected claim are included automatically; a path also brings everything nested inside the claim it
selects (asking for ``("address",)`` discloses the whole address).

The holder processes its own credential without verifying the issuer's signature: it is the holder's
own data, and the verifier checks everything anyway.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from netid.credentials.jose import (
    SigningKey,
    decode_jws_unverified,
    jwk_thumbprint,
    public_jwk,
    sign_jws,
)
from netid.credentials.sdjwt.codec import Disclosure, sd_hash, split_sd_jwt
from netid.errors import CredentialError, ParseError, UsageError

__all__ = ["ClaimPath", "DisclosableClaim", "disclosable_claims", "present_sd_jwt"]

#: A claims path: str = object property, int = array index, None = every array element.
ClaimPath: TypeAlias = tuple[str | int | None, ...]
_ConcretePath: TypeAlias = tuple[str | int, ...]

_KB_RESERVED = frozenset({"iat", "aud", "nonce", "sd_hash"})


@dataclass(frozen=True, slots=True)
class DisclosableClaim:
    """A disclosure, the claim path it fills (``path``), and the disclosure it is nested in (``parent``)."""

    path: _ConcretePath
    disclosure: Disclosure
    parent: Disclosure | None


@dataclass(frozen=True, slots=True)
class _Node:
    path: _ConcretePath
    carrier: Disclosure | None  # innermost disclosure the node is inside of (None: always disclosed)


def _walk(
    value: Any,
    path: _ConcretePath,
    carrier: Disclosure | None,
    *,
    by_digest: Mapping[str, Disclosure],
    claims: list[DisclosableClaim],
    nodes: list[_Node],
) -> None:
    if isinstance(value, dict):
        for name, sub in value.items():
            if name == "_sd" and isinstance(sub, list):
                for dig in sub:
                    d = by_digest.get(dig) if isinstance(dig, str) else None
                    if d is not None and d.name is not None:
                        p = (*path, d.name)
                        claims.append(DisclosableClaim(p, d, carrier))
                        nodes.append(_Node(p, d))
                        _walk(d.value, p, d, by_digest=by_digest, claims=claims, nodes=nodes)
            elif name != "_sd_alg" or path:
                p = (*path, name)
                nodes.append(_Node(p, carrier))
                _walk(sub, p, carrier, by_digest=by_digest, claims=claims, nodes=nodes)
    elif isinstance(value, list):
        index = 0
        for item in value:
            if isinstance(item, dict) and len(item) == 1 and "..." in item:
                dig = item["..."]
                d = by_digest.get(dig) if isinstance(dig, str) else None
                if d is None or d.name is not None:
                    continue  # a decoy (or foreign) placeholder: absent from the processed array
                p = (*path, index)
                claims.append(DisclosableClaim(p, d, carrier))
                nodes.append(_Node(p, d))
                _walk(d.value, p, d, by_digest=by_digest, claims=claims, nodes=nodes)
            else:
                p = (*path, index)
                nodes.append(_Node(p, carrier))
                _walk(item, p, carrier, by_digest=by_digest, claims=claims, nodes=nodes)
            index += 1


_Analysis: TypeAlias = tuple[str, list[Disclosure], list[DisclosableClaim], list[_Node], dict[str, Any]]


def _analyse(serialized: str) -> _Analysis:
    try:
        parts = split_sd_jwt(serialized)
        _, payload, _, _ = decode_jws_unverified(parts.issuer_jwt)
        disclosures = [Disclosure.parse(s) for s in parts.disclosures]
    except ParseError as exc:
        raise CredentialError(f"not a well-formed SD-JWT: {exc}") from exc
    by_digest = {d.digest: d for d in disclosures}
    claims: list[DisclosableClaim] = []
    nodes: list[_Node] = []
    _walk(payload, (), None, by_digest=by_digest, claims=claims, nodes=nodes)
    return parts.issuer_jwt, disclosures, claims, nodes, payload


def disclosable_claims(serialized: str) -> list[DisclosableClaim]:
    """Every disclosure the holder's SD-JWT carries, with its claim path (for consent screens, DCQL)."""
    return _analyse(serialized)[2]


def _matches(pattern: ClaimPath, path: _ConcretePath) -> bool:
    """True if ``path`` starts with a concrete instance of ``pattern``."""
    if len(path) < len(pattern):
        return False
    for want, got in zip(pattern, path, strict=False):
        if want is None:
            if not isinstance(got, int):
                return False
        elif type(want) is not type(got) or want != got:
            return False
    return True


def present_sd_jwt(
    serialized: str,
    *,
    disclose: Callable[[Disclosure], bool] | Iterable[Sequence[str | int | None]],
    holder_key: SigningKey | None = None,
    aud: str | None = None,
    nonce: str | None = None,
    iat: int | None = None,
    extra_kb_claims: Mapping[str, Any] | None = None,
) -> str:
    """Build a presentation ``<jwt>~<d1>~...~<dk>~<kb-jwt>`` from the holder's SD-JWT ``serialized``.

    ``disclose`` is either a predicate over disclosures or an iterable of claim paths (see module doc).
    Paths that match nothing select nothing (check :func:`disclosable_claims` first if that matters).

    With ``holder_key`` a KB-JWT (``typ: kb+jwt``; ``iat``, ``aud``, ``nonce``, ``sd_hash`` and
    ``extra_kb_claims``) is appended; ``aud`` and ``nonce`` are then required and the key must be the
    one in the credential's ``cnf.jwk``. ``iat`` defaults to the current time — pass it to stay pure.
    Without ``holder_key`` the result ends in ``~`` (no key binding).
    """
    issuer_jwt, disclosures, claims, nodes, payload = _analyse(serialized)
    parent_of = {c.disclosure.digest: c.parent for c in claims}
    selected: set[str] = set()
    if callable(disclose):
        for c in claims:
            if disclose(c.disclosure):
                selected.add(c.disclosure.digest)
    else:
        patterns: list[ClaimPath] = []
        for raw in disclose:
            if isinstance(raw, str | bytes) or not all(
                x is None or (isinstance(x, str | int) and not isinstance(x, bool)) for x in raw
            ):
                raise UsageError("a claim path is a sequence of str, int or None")
            patterns.append(tuple(raw))
        for pattern in patterns:
            for node in nodes:
                carrier = node.carrier
                if carrier is not None and len(node.path) == len(pattern) and _matches(pattern, node.path):
                    selected.add(carrier.digest)
            for c in claims:  # everything nested inside a selected claim
                if len(c.path) > len(pattern) and _matches(pattern, c.path):
                    selected.add(c.disclosure.digest)
    # Close over parents: a nested disclosure is useless (and rejected) without the one that references it.
    for dig in list(selected):
        parent = parent_of.get(dig)
        while parent is not None and parent.digest not in selected:
            selected.add(parent.digest)
            parent = parent_of.get(parent.digest)
    chosen = [d.encoded for d in disclosures if d.digest in selected]
    without_kb = "~".join([issuer_jwt, *chosen, ""])
    if holder_key is None:
        return without_kb

    if not isinstance(aud, str) or not isinstance(nonce, str):
        raise UsageError("key binding needs aud and nonce")
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    try:
        bound = isinstance(jwk, dict) and jwk_thumbprint(jwk) == jwk_thumbprint(public_jwk(holder_key))
    except ParseError:
        bound = False
    if not bound:
        raise CredentialError("holder_key is not the key this credential is bound to (cnf.jwk)")
    kb_payload: dict[str, Any] = {
        "iat": int(time.time()) if iat is None else iat,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": sd_hash(without_kb),
    }
    if extra_kb_claims:
        for name, value in extra_kb_claims.items():
            if name in _KB_RESERVED:
                raise UsageError(f"KB-JWT claim {name!r} is set by present_sd_jwt")
            kb_payload[name] = value
    return without_kb + sign_jws(kb_payload, holder_key, typ="kb+jwt")
