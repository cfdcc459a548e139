"""Every parser of untrusted input on the relying-party and wallet side raises only its documented error.

Random text, random JSON shapes, and one-character mutations of valid tokens are thrown at: the wallet's
request intake (``open_request``: URI or JWT), RP access certificates, DCQL queries, status lists and
JWKs. Any other exception (KeyError, TypeError, IndexError, …) is a bug and fails the test.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netid.credentials.jose import load_public_jwk
from netid.credentials.status_list import StatusList, parse_status_list_token
from netid.errors import VERIFICATION_CODES, ParseError, VerificationError
from netid.oid4vp import open_request, parse_rp_certificate
from netid.oid4vp.dcql import MAX_CREDENTIAL_QUERIES, build_dcql, parse_dcql, requested_scopes
from netid.verifier import Query
from tests.strategies import mutated
from tests.verifier.kit import STATUS_URI, World, make_world, standard_dcql_errors

WORLD: World = make_world("EdDSA")
REQUEST = WORLD.request(Query(purpose="age check", age_over=18, name_equals="张三丰"))
URI = REQUEST.to_uri()
STATUS_TOKEN = WORLD.fetch_status(STATUS_URI)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _open(text: str) -> None:
    try:
        opened = open_request(text, trust=WORLD.trust, now=WORLD.clock())
    except VerificationError as exc:
        assert exc.code in VERIFICATION_CODES
        return
    # a mutation that still opens must not have changed what is asked
    assert opened.nonce == REQUEST.nonce and opened.predicates == REQUEST.predicates


def test_valid_request_opens() -> None:
    assert open_request(URI, trust=WORLD.trust, now=WORLD.clock()).nonce == REQUEST.nonce


@given(st.text(max_size=300))
def test_open_request_random_text(text: str) -> None:
    _open(text)


@given(mutated(URI))
def test_open_request_mutated_uri(text: str) -> None:
    _open(text)


@given(mutated(REQUEST.request_object))
def test_open_request_mutated_request_object(text: str) -> None:
    _open(text)


@given(mutated(WORLD.rp_cert))
def test_rp_certificate_mutations(token: str) -> None:
    try:
        cert = parse_rp_certificate(token, WORLD.trust, WORLD.clock())
    except VerificationError as exc:
        assert exc.code in {"rp_certificate", "algorithm"}  # the two documented codes
        return
    assert cert.token == token  # only a mutation the signature still covers identically can pass


@given(json_values)
def test_dcql_random_shapes(value: Any) -> None:
    with pytest.raises(ParseError):
        parse_dcql(value)


@given(
    st.dictionaries(st.sampled_from(["credentials", "credential_sets", "claims"]), json_values, max_size=3)
)
def test_dcql_near_shapes(value: Any) -> None:
    try:
        predicates = parse_dcql(value)
    except ParseError:
        return
    assert parse_dcql(build_dcql(list(predicates))) == predicates  # whatever parses means one thing


queries = st.builds(
    Query,
    purpose=st.just("p"),
    age_over=st.none() | st.sampled_from([14, 16, 18, 60]),
    name_equals=st.none() | st.sampled_from(["张三丰", "阿依古丽•买买提", "ZHANG SAN"]),
    id_number_equals=st.none() | st.just("11010519491231002x"),
    region_in=st.none() | st.sampled_from([["44"], ["4403", "1101"], ["440305"]]),
    doc_valid=st.booleans(),
    want_subject=st.booleans(),
    want_netno=st.booleans(),
)


@given(queries)
def test_every_query_is_standard_dcql_and_round_trips(query: Query) -> None:
    """Whatever NetID builds, an independent DCQL parser accepts and NetID's parser reads back as is."""
    dcql = build_dcql(query.predicates())
    assert standard_dcql_errors(dcql) == []
    assert parse_dcql(dcql) == query.predicates()
    assert [name for name, _ in requested_scopes(dcql)] == [p.name for p in query.predicates()]


@given(st.lists(json_values, max_size=3 * MAX_CREDENTIAL_QUERIES), st.lists(json_values, max_size=60))
def test_dcql_work_is_bounded_by_its_shape(creds: list[Any], claims: list[Any]) -> None:
    """Any number of credential queries or claims: refused or parsed, with only ParseError."""
    for value in (
        {"credentials": creds},
        {"credentials": [{"id": "netcert", "format": "dc+sd-jwt", "claims": claims}]},
    ):
        for parse in (parse_dcql, requested_scopes):
            try:
                parse(value)
            except ParseError:
                continue


@given(st.text(max_size=200), st.sampled_from([1, 2, 4, 8, 3]))
def test_status_list_decode_random(lst: str, bits: int) -> None:
    try:
        decoded = StatusList.decode(lst, bits)
    except ParseError:
        return
    assert StatusList.decode(decoded.encode_lst(), bits).statuses() == decoded.statuses()


@given(mutated(STATUS_TOKEN))
def test_status_list_token_mutations(token: str) -> None:
    header = {"kid": WORLD.profile.keys.status_list.kid, "alg": "EdDSA"}
    key = WORLD.trust.key_for(header, purpose="status_list")
    try:
        parse_status_list_token(token, key, now=WORLD.clock(), expected_sub=STATUS_URI)
    except VerificationError as exc:
        assert exc.code == "status_unavailable"


@given(st.dictionaries(st.sampled_from(["kty", "crv", "x", "y", "d", "alg"]), json_values, max_size=6))
def test_jwk_random(jwk: dict[str, Any]) -> None:
    with pytest.raises(ParseError):
        load_public_jwk(jwk)
