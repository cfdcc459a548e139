"""Yes/no predicates and their mapping onto a DCQL query (OpenID4VP 1.0 §6) over a netcert.

==================  =====================  ==================  ============================
predicate           claim path             values              RP-certificate scope name
==================  =====================  ==================  ============================
``age_over_NN``     ``age_over_NN``        ``[true]``          ``age_over`` or ``age_over_NN``
``doc_valid``       ``doc_valid``          ``[true]``          ``doc_valid``
``name_equals``     ``name``               ``[X]`` (canonical) ``name_equals``
``id_number_equals````id_number``          ``[X]``             ``id_number_equals``
``region_in``       ``region_province`` /  the codes           ``region_in``
                    ``region_city`` /
                    ``region_county``
``subject``         ``sub``                (none)              ``subject``
``netno``           ``netno``              (none)              ``netno``
==================  =====================  ==================  ============================

``subject`` and ``netno`` are *identifier* claims the wallet must present; every other predicate is a
*value* predicate: the wallet discloses its claim only when the value is one of the requested ``values``
and otherwise withholds it, so the RP learns nothing it did not already hold. In standard DCQL:

* one **base** credential query, id ``netcert`` (format ``dc+sd-jwt``, ``vct_values`` the netcert
  type), carrying the identifier claims if any are asked and no claims otherwise ("prove you hold a
  valid netcert"); it is required;
* one credential query **per value predicate**, its id the predicate's name (``age_over_18``,
  ``name_equals``, …), with the one claim query and its ``values``, each alone in an *optional*
  credential set (``"required": false``). A standard wallet treats a credential whose claim does not
  match as absent for that query (§6.4.1), so the query goes unanswered — the answer is *no* — while the
  base query and every other comparison are still answered.

The NetID wallet answers every query it can with **one presentation of one credential**, listed under
the id of each query it answers (:mod:`netid.oid4vp.response`). The work is linear in the request and
bounded (:data:`MAX_CREDENTIAL_QUERIES`): no combination of claims is ever enumerated. A request asks at
most one age threshold — several would reveal an age bracket.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from netid.credentials.netcert import NETCERT_TYP, NETCERT_VCT
from netid.errors import ParseError, UsageError
from netid.names import canonical_name

__all__ = [
    "CREDENTIAL_QUERY_ID",
    "MAX_CREDENTIAL_QUERIES",
    "REGION_CLAIMS",
    "Predicate",
    "age_threshold",
    "build_dcql",
    "parse_dcql",
    "requested_scopes",
    "scope_allows",
    "strict_equal",
    "strict_in",
]

#: the id of the base credential query (and the only one answered when no value predicate is asked)
CREDENTIAL_QUERY_ID: Final = "netcert"
#: region claim by code length (province "44", city "4403", county "440305")
REGION_CLAIMS: Final = {2: "region_province", 4: "region_city", 6: "region_county"}
_REGION_CODE_RE: Final = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,2}")
_AGE_RE: Final = re.compile(r"age_over_([1-9][0-9]?|1[0-4][0-9])")
_MAX_VALUE_LEN: Final = 256
_MAX_REGION_CODES: Final = 64
#: claim name -> (predicate name, scope name), for every claim but the age thresholds
_CLAIM_SCOPES: Final = {
    "doc_valid": ("doc_valid", "doc_valid"),
    "name": ("name_equals", "name_equals"),
    "id_number": ("id_number_equals", "id_number_equals"),
    **{claim: ("region_in", "region_in") for claim in REGION_CLAIMS.values()},
    "sub": ("subject", "subject"),
    "netno": ("netno", "netno"),
}
_IDENTIFIER_CLAIMS: Final = frozenset({"sub", "netno"})
#: one base query and one per kind of value predicate (age, doc_valid, name, id_number, region)
MAX_CREDENTIAL_QUERIES: Final = 6
_META: Final = {"vct_values": [NETCERT_VCT]}
_CREDENTIAL_QUERY_KEYS: Final = frozenset(
    {"id", "format", "meta", "claims", "multiple", "require_cryptographic_holder_binding"}
)


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


def _json_equal(a: Any, b: Any) -> bool:
    """Structural JSON equality with types compared too (Python's ``False == 0`` does not hold here)."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


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
        claim: dict[str, Any] = {"path": [self.claim]}
        if self.values is not None:
            claim["values"] = list(self.values)
        return claim


def age_predicate(age: int) -> Predicate:
    if not isinstance(age, int) or isinstance(age, bool) or not 0 < age < 150:
        raise UsageError("age_over must be an integer between 1 and 149")
    return Predicate(f"age_over_{age}", f"age_over_{age}", (True,), "age_over")


def age_threshold(predicate_name: str) -> int | None:
    """The threshold of an ``age_over_NN`` predicate or scope name; ``None`` for any other name."""
    m = _AGE_RE.fullmatch(predicate_name)
    return int(m.group(1)) if m else None


def doc_valid_predicate() -> Predicate:
    return Predicate("doc_valid", "doc_valid", (True,), "doc_valid")


def name_predicate(name: str) -> Predicate:
    """``name_equals``: the name in its canonical form (:func:`netid.names.canonical_name`), the form the
    issuer mints the ``name`` claim in."""
    return Predicate("name_equals", "name", (canonical_name(name),), "name_equals")


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


def scope_allows(
    allowed: Sequence[str], name: str, scope: str, age_thresholds: Sequence[int] | None = None
) -> bool:
    """True if an RP certificate's ``allowed_predicates`` covers the predicate ``name`` of ``scope``.

    ``age_over`` allows every threshold the issuer mints (``age_thresholds``, when the certificate names
    them); ``age_over_NN`` allows only that one.
    """
    if scope == "age_over" and age_thresholds is not None and age_threshold(name) not in age_thresholds:
        return False
    return scope in allowed or name in allowed


def build_dcql(predicates: Sequence[Predicate]) -> dict[str, Any]:
    """The ``dcql_query`` object for ``predicates`` (see the module docstring).

    :class:`UsageError` if a predicate is asked twice or more than one age threshold is asked.
    """
    names = [p.name for p in predicates]
    if len(set(names)) != len(names):
        raise UsageError("a predicate can be asked only once per request")
    if sum(1 for p in predicates if p.scope == "age_over") > 1:
        raise UsageError("a request may ask one age threshold (several would reveal an age bracket)")
    values = [p for p in predicates if p.values is not None]
    identifiers = [p.dcql_claim() for p in predicates if p.values is None]
    credentials = [_credential_query(p.name, [p.dcql_claim()]) for p in values]
    credentials.append(_credential_query(CREDENTIAL_QUERY_ID, identifiers))
    query: dict[str, Any] = {"credentials": credentials}
    if values:
        query["credential_sets"] = _credential_sets([p.name for p in values])
    return query


def _credential_query(query_id: str, claims: list[dict[str, Any]]) -> dict[str, Any]:
    # require_cryptographic_holder_binding is left at its default, true (OpenID4VP 1.0 §6.1)
    query: dict[str, Any] = {"id": query_id, "format": NETCERT_TYP, "meta": {"vct_values": [NETCERT_VCT]}}
    if claims:
        query["claims"] = claims
    return query


def _credential_sets(value_ids: Sequence[str]) -> list[dict[str, Any]]:
    return [
        *({"options": [[i]], "required": False} for i in value_ids),
        {"options": [[CREDENTIAL_QUERY_ID]]},
    ]


def _fail(reason: str) -> ParseError:
    return ParseError("dcql_query", reason)


def _claim_queries(dcql: object) -> list[tuple[Mapping[str, Any], list[Any]]]:
    """The bounded shape every later step relies on: ``(credential query, its claims)`` pairs.

    At most :data:`MAX_CREDENTIAL_QUERIES` credential queries; the base query (id ``netcert``) has at
    most two claims, every other exactly one. Constant work whatever the input's size.
    """
    if not isinstance(dcql, Mapping) or "credentials" not in dcql:
        raise _fail("must contain 'credentials'")
    if set(dcql) - {"credentials", "credential_sets"}:
        raise _fail("unsupported member")
    creds = dcql["credentials"]
    if not isinstance(creds, list) or not creds:
        raise _fail("credentials must be a non-empty array")
    if len(creds) > MAX_CREDENTIAL_QUERIES:
        raise _fail(f"at most {MAX_CREDENTIAL_QUERIES} credential queries")
    out: list[tuple[Mapping[str, Any], list[Any]]] = []
    for cq in creds:
        if not isinstance(cq, Mapping):
            raise _fail("a credential query must be an object")
        claims = cq.get("claims", [])
        if not isinstance(claims, list) or ("claims" in cq and not claims):
            raise _fail("claims must be a non-empty array")
        base = cq.get("id") == CREDENTIAL_QUERY_ID
        if (base and len(claims) > len(_IDENTIFIER_CLAIMS)) or (not base and len(claims) != 1):
            raise _fail("the base query has at most two claims and every other query exactly one")
        out.append((cq, claims))
    return out


def _claim_name(claim: object) -> tuple[Mapping[str, Any], str]:
    if not isinstance(claim, Mapping):
        raise _fail("malformed claim query")
    path = claim.get("path")
    if not isinstance(path, list) or len(path) != 1 or not isinstance(path[0], str):
        raise _fail("claim path must be one top-level name")
    return claim, path[0]


def _scope_of(claim_name: str) -> tuple[str, str]:
    if _AGE_RE.fullmatch(claim_name):
        return claim_name, "age_over"
    try:
        return _CLAIM_SCOPES[claim_name]
    except KeyError:
        raise _fail("unknown claim") from None


def requested_scopes(dcql: object) -> tuple[tuple[str, str], ...]:
    """``(predicate name, scope name)`` of every claim a DCQL query names, from the claim paths alone.

    What the wallet checks against the RP certificate *before* parsing the query further (scope first):
    bounded by :func:`_claim_queries`, so a request costs the same whatever it tries. :class:`ParseError`
    if the query's shape is not NetID's or a claim is unknown.
    """
    return tuple(_scope_of(_claim_name(claim)[1]) for _, claims in _claim_queries(dcql) for claim in claims)


def parse_dcql(dcql: object) -> tuple[Predicate, ...]:
    """Recover the predicates of a NetID ``dcql_query``; :class:`ParseError` for anything else.

    Strict on purpose (the wallet enforces RP scope on what it parses here): the shape of
    :func:`build_dcql` exactly — one base query, one optional query per value predicate named after it,
    the credential sets that say so — every claim a known one with the values its predicate allows
    (compared with their JSON types: ``1`` is not ``true``), names in canonical form, at most one age
    threshold. Linear in the (bounded) query.
    """
    queries = _claim_queries(dcql)
    credential_sets = dcql.get("credential_sets") if isinstance(dcql, Mapping) else None
    values: list[Predicate] = []
    identifiers: list[Predicate] = []
    bases = 0
    for cq, claims in queries:
        if set(cq) - _CREDENTIAL_QUERY_KEYS:
            raise _fail("unsupported credential query member")
        if cq.get("format") != NETCERT_TYP or not _json_equal(cq.get("meta"), _META):
            raise _fail("not a netcert credential query")
        if cq.get("require_cryptographic_holder_binding", True) is not True:
            raise _fail("holder binding cannot be switched off")
        if cq.get("multiple", False) is not False:  # the default, false, may be stated
            raise _fail("one presentation per credential query")
        if cq.get("id") == CREDENTIAL_QUERY_ID:
            bases += 1
            for claim in claims:
                pred = _parse_claim(claim)
                if pred.values is not None:
                    raise _fail("the base query carries identifier claims only")
                identifiers.append(pred)
        else:
            pred = _parse_claim(claims[0])
            if pred.values is None or cq.get("id") != pred.name:
                raise _fail("a value query is named after its predicate and carries its values")
            values.append(pred)
    if bases != 1:
        raise _fail("exactly one base credential query")
    predicates = (*values, *identifiers)
    if len({p.name for p in predicates}) != len(predicates):
        raise _fail("duplicate claim")
    if sum(1 for p in values if p.scope == "age_over") > 1:
        raise _fail("a request may ask one age threshold")
    has_sets = isinstance(dcql, Mapping) and "credential_sets" in dcql
    if has_sets != bool(values) or (
        values and not _json_equal(credential_sets, _credential_sets([p.name for p in values]))
    ):
        raise _fail("credential_sets do not match the NetID profile")
    return predicates


def _is_true_list(values: object) -> bool:
    return type(values) is list and len(values) == 1 and values[0] is True


def _one_string(values: object) -> str | None:
    if type(values) is list and len(values) == 1 and type(values[0]) is str:
        return values[0]
    return None


def _parse_claim(query: object) -> Predicate:
    claim, name = _claim_name(query)
    if set(claim) - {"id", "path", "values"} or ("id" in claim and claim["id"] != name):
        raise _fail("malformed claim query (an 'id', if any, equals the claim name)")
    values = claim.get("values")
    if "values" in claim and (type(values) is not list or not values):
        raise _fail("values must be a non-empty array")
    try:
        if _AGE_RE.fullmatch(name) and _is_true_list(values):
            return age_predicate(int(name.removeprefix("age_over_")))
        if name == "doc_valid" and _is_true_list(values):
            return doc_valid_predicate()
        if name == "name" and (value := _one_string(values)) is not None:
            pred = name_predicate(value)
            if pred.values != (value,):
                raise _fail("name value not in canonical form")
            return pred
        if name == "id_number" and (value := _one_string(values)) is not None:
            pred = id_number_predicate(value)
            if pred.values != (value,):
                raise _fail("id_number value not normalised")
            return pred
        if name in REGION_CLAIMS.values() and type(values) is list:
            if not all(type(v) is str for v in values):
                raise _fail("region codes must be strings")
            pred = region_predicate(values)
            if pred.claim != name or list(pred.values or ()) != values:
                raise _fail("region codes do not match the claim level or are not sorted and unique")
            return pred
        if name == "sub" and "values" not in claim:
            return subject_predicate()
        if name == "netno" and "values" not in claim:
            return netno_predicate()
    except UsageError as exc:
        raise _fail(str(exc)) from exc
    raise _fail("unknown claim or values not allowed for it")
