"""Yes/no predicates and their mapping onto a DCQL query (OpenID4VP 1.0 §6) over a netcert.

One credential query (id ``netcert``, format ``dc+sd-jwt``, ``vct_values = [urn:netid:netcert:1]``)
carries one claim query per predicate:

==================  =====================  ==================  ============================
predicate           claim path             values              RP-certificate scope name
==================  =====================  ==================  ============================
``age_over_NN``     ``age_over_NN``        ``[true]``          ``age_over`` or ``age_over_NN``
``doc_valid``       ``doc_valid``          ``[true]``          ``doc_valid``
``name_equals``     ``name``               ``[X]``             ``name_equals``
``id_number_equals````id_number``          ``[X]``             ``id_number_equals``
``region_in``       ``region_province`` /  the codes           ``region_in``
                    ``region_city`` /
                    ``region_county``
``subject``         ``sub``                (none)              ``subject``
``netno``           ``netno``              (none)              ``netno``
==================  =====================  ==================  ============================

``subject`` and ``netno`` are *required* (the wallet must present an RP-scoped credential that has
them); every value predicate is *optional*: the wallet discloses a claim only when its value is one of
the requested ``values``, and otherwise withholds it — so the RP learns nothing it did not already hold.
``claim_sets`` expresses this in standard DCQL: every subset of the optional claims (largest first,
down to the empty one) together with the required claims; the wallet uses the first it can satisfy.
"""

from __future__ import annotations

import hmac
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netid.credentials.netcert import NETCERT_TYP, NETCERT_VCT
from netid.errors import ParseError, UsageError

__all__ = [
    "CREDENTIAL_QUERY_ID",
    "REGION_CLAIMS",
    "Predicate",
    "build_dcql",
    "parse_dcql",
    "scope_allows",
    "strict_equal",
    "strict_in",
]

CREDENTIAL_QUERY_ID: Final = "netcert"
#: region claim by code length (province "44", city "4403", county "440305")
REGION_CLAIMS: Final = {2: "region_province", 4: "region_city", 6: "region_county"}
_REGION_CODE_RE: Final = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,2}")
_AGE_RE: Final = re.compile(r"age_over_([1-9][0-9]?|1[0-4][0-9])")
_MAX_VALUE_LEN: Final = 256
_MAX_REGION_CODES: Final = 64


def strict_equal(a: Any, b: Any) -> bool:
    """Strict JSON equality: same type (``True`` never equals ``1``), strings compared in constant time."""
    if type(a) is not type(b):
        return False
    if type(a) is str:
        return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
    return bool(a == b)


def strict_in(value: Any, wanted: Sequence[Any]) -> bool:
    """Whether ``value`` :func:`strict_equal` s one of ``wanted``.

    Every candidate is compared (no early exit), so timing does not reveal which one matched. The one
    comparison the wallet (what to disclose) and the verifier (what is proven) share.
    """
    hit = False
    for want in wanted:
        hit |= strict_equal(value, want)
    return hit


@dataclass(frozen=True, slots=True)
class Predicate:
    """One yes/no question: its answer key, the claim it reads and the accepted values.

    ``values`` is ``None`` for identifier requests (``subject``, ``netno``) that ask for the claim itself.
    ``repr`` hides the values: they can be the RP's copy of a name or personal number.
    """

    name: str
    claim: str
    values: tuple[Any, ...] | None
    scope: str

    def __repr__(self) -> str:
        return f"Predicate({self.name!r}, claim={self.claim!r})"

    @property
    def required(self) -> bool:
        """Identifier claims are required; value predicates are optional (withheld when not matching)."""
        return self.values is None

    def dcql_claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {"id": self.claim, "path": [self.claim]}
        if self.values is not None:
            claim["values"] = list(self.values)
        return claim


def age_predicate(age: int) -> Predicate:
    if not isinstance(age, int) or isinstance(age, bool) or not 0 < age < 150:
        raise UsageError("age_over must be an integer between 1 and 149")
    return Predicate(f"age_over_{age}", f"age_over_{age}", (True,), "age_over")


def doc_valid_predicate() -> Predicate:
    return Predicate("doc_valid", "doc_valid", (True,), "doc_valid")


def name_predicate(name: str) -> Predicate:
    if not isinstance(name, str) or not name or len(name) > _MAX_VALUE_LEN:
        raise UsageError("name_equals must be a non-empty string")
    return Predicate("name_equals", "name", (name,), "name_equals")


def id_number_predicate(number: str) -> Predicate:
    if not isinstance(number, str) or not number or len(number) > _MAX_VALUE_LEN:
        raise UsageError("id_number_equals must be a non-empty string")
    # The check character may be typed as a lower-case x; the card stores upper case.
    return Predicate("id_number_equals", "id_number", (number.strip().upper(),), "id_number_equals")


def region_predicate(codes: Sequence[str]) -> Predicate:
    if isinstance(codes, str) or not codes:
        raise UsageError("region_in must be a non-empty sequence of region codes")
    if len(codes) > _MAX_REGION_CODES:
        raise UsageError("region_in has too many codes")
    for code in codes:
        if not isinstance(code, str) or _REGION_CODE_RE.fullmatch(code) is None:
            raise UsageError("region codes are 2 (province), 4 (city) or 6 (county) digits")
    levels = {len(c) for c in codes}
    if len(levels) != 1:
        # One claim per predicate keeps "disclose the minimum" simple: mixing levels would force the
        # wallet to choose which precision to reveal.
        raise UsageError("all region_in codes must be of one level (province, city or county)")
    claim = REGION_CLAIMS[levels.pop()]
    return Predicate("region_in", claim, tuple(sorted(set(codes))), "region_in")


def subject_predicate() -> Predicate:
    return Predicate("subject", "sub", None, "subject")


def netno_predicate() -> Predicate:
    return Predicate("netno", "netno", None, "netno")


def scope_allows(allowed: Sequence[str], predicate: Predicate) -> bool:
    """True if an RP certificate's ``allowed_predicates`` covers ``predicate``.

    ``age_over`` allows every threshold; ``age_over_NN`` allows only that one.
    """
    return predicate.scope in allowed or predicate.name in allowed


def build_dcql(predicates: Sequence[Predicate]) -> dict[str, Any]:
    """The ``dcql_query`` object for ``predicates`` (see module docstring)."""
    names = [p.name for p in predicates]
    if len(set(names)) != len(names):
        raise UsageError("a predicate can be asked only once per request")
    query: dict[str, Any] = {
        "id": CREDENTIAL_QUERY_ID,
        "format": NETCERT_TYP,
        "meta": {"vct_values": [NETCERT_VCT]},
        "require_cryptographic_holder_binding": True,
    }
    if predicates:
        query["claims"] = [p.dcql_claim() for p in predicates]
        required = [p.claim for p in predicates if p.required]
        optional = [p.claim for p in predicates if not p.required]
        if optional:
            sets = [
                required + list(combo)
                for size in range(len(optional), -1, -1)
                for combo in itertools.combinations(optional, size)
            ]
            query["claim_sets"] = sets
    return {"credentials": [query]}


def _fail(reason: str) -> ParseError:
    return ParseError("dcql_query", reason)


def parse_dcql(dcql: object) -> tuple[Predicate, ...]:
    """Recover the predicates of a NetID ``dcql_query``; :class:`ParseError` for anything else.

    Strict on purpose (the wallet enforces RP scope on what it parses here): exactly one ``dc+sd-jwt``
    netcert query, no credential sets, every claim a known one with the values its predicate allows,
    and ``claim_sets`` — if present — exactly as :func:`build_dcql` produces them.
    """
    if not isinstance(dcql, Mapping) or set(dcql) != {"credentials"}:
        raise _fail("must contain exactly 'credentials'")
    creds = dcql["credentials"]
    if not isinstance(creds, list) or len(creds) != 1 or not isinstance(creds[0], Mapping):
        raise _fail("exactly one credential query is supported")
    cq = creds[0]
    allowed_keys = {"id", "format", "meta", "claims", "claim_sets", "require_cryptographic_holder_binding"}
    if set(cq) - allowed_keys:
        raise _fail("unsupported credential query member")
    if cq.get("id") != CREDENTIAL_QUERY_ID or cq.get("format") != NETCERT_TYP:
        raise _fail("not a netcert credential query")
    if cq.get("meta") != {"vct_values": [NETCERT_VCT]}:
        raise _fail("vct_values must be exactly the netcert type")
    if cq.get("require_cryptographic_holder_binding", True) is not True:
        raise _fail("holder binding cannot be switched off")
    claims = cq.get("claims", [])
    if not isinstance(claims, list) or ("claims" in cq and not claims):
        raise _fail("claims must be a non-empty array")
    predicates: list[Predicate] = []
    for claim in claims:
        predicates.append(_parse_claim(claim))
    rebuilt = build_dcql(predicates) if len({p.name for p in predicates}) == len(predicates) else None
    if rebuilt is None:
        raise _fail("duplicate claim")
    if rebuilt["credentials"][0].get("claim_sets") != cq.get("claim_sets"):
        raise _fail("claim_sets do not match the NetID profile")
    return tuple(predicates)


def _parse_claim(claim: object) -> Predicate:
    if not isinstance(claim, Mapping) or set(claim) - {"id", "path", "values"}:
        raise _fail("malformed claim query")
    path = claim.get("path")
    if not isinstance(path, list) or len(path) != 1 or not isinstance(path[0], str):
        raise _fail("claim path must be one top-level name")
    name = path[0]
    if claim.get("id") != name:
        raise _fail("claim id must equal the claim name")
    values = claim.get("values")
    if values is not None and (not isinstance(values, list) or not values):
        raise _fail("values must be a non-empty array")
    try:
        if _AGE_RE.fullmatch(name) and values == [True]:
            return age_predicate(int(name.removeprefix("age_over_")))
        if name == "doc_valid" and values == [True]:
            return doc_valid_predicate()
        if name == "name" and values is not None and len(values) == 1 and isinstance(values[0], str):
            return name_predicate(values[0])
        if name == "id_number" and values is not None and len(values) == 1 and isinstance(values[0], str):
            pred = id_number_predicate(values[0])
            if pred.values != tuple(values):
                raise _fail("id_number value not normalised")
            return pred
        if name in REGION_CLAIMS.values() and values is not None:
            if not all(isinstance(v, str) for v in values):
                raise _fail("region codes must be strings")
            pred = region_predicate(values)
            if pred.claim != name or list(pred.values or ()) != values:
                raise _fail("region codes do not match the claim level or are not sorted and unique")
            return pred
        if name == "sub" and values is None:
            return subject_predicate()
        if name == "netno" and values is None:
            return netno_predicate()
    except UsageError as exc:
        raise _fail(str(exc)) from exc
    raise _fail("unknown claim or values not allowed for it")
