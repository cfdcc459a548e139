"""The front door (``import netid``): every public error, the relying party's and the holder's entry
points, typed calls, and a cheap import."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import netid
import netid.errors
from netid.card.icao.read_document import read_document_with_retry


def test_every_error_is_exported() -> None:
    errors = {
        name
        for name, value in vars(netid.errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == "netid.errors"
    }
    assert errors <= set(netid.__all__), sorted(errors - set(netid.__all__))
    assert {"VERIFICATION_CODES", "ISSUANCE_CODES"} <= set(netid.__all__)


def test_every_exported_name_resolves() -> None:
    for name in netid.__all__:
        assert getattr(netid, name) is not None, name
    assert netid.__version__.count(".") >= 1


def test_what_a_verifier_needs_is_at_the_front_door() -> None:
    needed = {
        "Query", "build_request", "Verifier", "IssuerTrust", "CachedStatusLists", "InMemoryReplayCache",
        "PresentationRequest", "Answers", "Policy", "CounterVerifier", "build_counter_request",
    }  # fmt: skip
    assert needed <= set(netid.__all__), sorted(needed - set(netid.__all__))


def test_read_document_with_retry_takes_typed_keywords() -> None:
    parameters = inspect.signature(read_document_with_retry).parameters
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    hints = typing.get_type_hints(read_document_with_retry)
    assert {"files", "aa_challenge", "prefer_extended", "progress", "rng"} <= set(hints)


def test_import_netid_verifier_pulls_in_no_web_or_pyjwt_stack() -> None:
    code = (
        "import sys, netid.verifier, netid.wallet; "
        "print(sorted(m for m in ('jwt', 'fastapi', 'sqlalchemy', 'httpx', 'jwcrypto', 'argon2', 'rich') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
